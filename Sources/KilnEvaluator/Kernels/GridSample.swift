import KilnIR

/// GridSample (opset 16 on; N-D from 20): samples X `[N, C, D1..Dk]` at the normalized coordinates of
/// grid `[N, O1..Ok, k]` (last axis in x, y, z order, i.e. reversed against X's axes).
///
/// 1. Denormalize each coordinate: `align_corners` `(v + 1) / 2 (d - 1)`, else `((v + 1) d - 1) / 2`
///    (held as float32, as the reference); `nearest` rounds half to even.
/// 2. A coordinate outside `[-0.5, d - 0.5]` (`align_corners`: `[0, d - 1]`) is clamped to
///    `[0, d - 1]` (`padding_mode` border) or reflected at those bounds (reflection).
/// 3. nearest reads one pixel; linear 2 and cubic 4 per axis (`floor(x)` onwards, Keys cubic
///    with a = -0.75), tensor-product weights. Taps outside X read 0 (zeros), the clamped pixel
///    (border) or the reflected one (reflection).
enum GridSampleKernels {
    static func register(into r: inout KernelRegistry) {
        // AffineGrid (20): theta `[N, k, k + 1]` applied to the normalized base grid of `size`
        // `[N, C, (D,) H, W]`: point (x, y[, z], 1) with x running over W (`align_corners`: -1 ... 1
        // at the end pixels; otherwise pixel centres `-1 + (2i + 1) / W`). Output `[N, (D,) H, W, k]`.
        r.register("AffineGrid", since: 20) { ctx in
            let theta = try ctx.tensor(0)
            guard let size = try ctx.integers(1), size.count == 4 || size.count == 5 else { throw ctx.error("size must have 4 or 5 entries") }
            let spatial = Array(size[2...]), k = spatial.count
            guard theta.shape == [size[0], k, k + 1] else { throw ctx.error("theta must be [\(size[0]), \(k), \(k + 1)], got \(theta.shape)") }
            let align = try ctx.int("align_corners", default: 0) != 0
            func coordinate(_ i: Int, _ n: Int) -> Double {
                align ? (n > 1 ? -1 + Double(i) * 2 / Double(n - 1) : -1) : -1 + Double(2 * i + 1) / Double(n)
            }
            let t = theta.doubles, count = shapeCount(spatial)
            var out = [Double](repeating: 0, count: size[0] * count * k)
            for b in 0..<size[0] {
                forEachMultiIndex(spatial) { o, idx in
                    // Homogeneous base point in x, y(, z) order: the reversed spatial indices.
                    let base = (0..<k).map { coordinate(idx[k - 1 - $0], spatial[k - 1 - $0]) } + [1]
                    for row in 0..<k {
                        var v = 0.0
                        for j in 0...k { v += t[(b * k + row) * (k + 1) + j] * base[j] }
                        out[(b * count + o) * k + row] = v
                    }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: [size[0]] + spatial + [k], out), to: theta.dataType))
        }
        r.register("GridSample", since: 16) { ctx in
            let x = try ctx.tensor(0), grid = try ctx.tensor(1)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            let k = x.rank - 2
            guard k >= 1, grid.rank == k + 2, grid.shape[0] == x.shape[0], grid.shape.last == k else {
                throw ctx.error("grid must be [N, spatial..., \(k)] for X of shape \(x.shape), got \(grid.shape)")
            }
            var mode = try ctx.string("mode", default: "linear")
            if mode == "bilinear" { mode = "linear" } else if mode == "bicubic" { mode = "cubic" }
            guard ["nearest", "linear", "cubic"].contains(mode) else { throw ctx.error("unknown mode '\(mode)'") }
            let padding = try ctx.string("padding_mode", default: "zeros")
            guard ["zeros", "border", "reflection"].contains(padding) else { throw ctx.error("unknown padding_mode '\(padding)'") }
            let alignCorners = try ctx.int("align_corners", default: 0) != 0
            let dims = Array(x.shape[2...])
            let lo = dims.map { _ in alignCorners ? 0.0 : -0.5 }
            let hi = dims.map { Double($0) - (alignCorners ? 1 : 0.5) }
            let (n, c) = (x.shape[0], x.shape[1])
            let outSpatial = Array(grid.shape[1..<(grid.rank - 1)])
            let outCount = shapeCount(outSpatial), inCount = shapeCount(dims)
            let xs = x.doubles, g = grid.doubles
            let inStrides = rowMajorStrides(dims)

            func reflect(_ v: Double, _ a: Double, _ b: Double) -> Double {
                let range = b - a
                if v < a {
                    let dx = a - v, m = Int(dx / range), rem = dx - Double(m) * range
                    return m % 2 == 0 ? a + rem : b - rem
                }
                if v > b {
                    let dx = v - b, m = Int(dx / range), rem = dx - Double(m) * range
                    return m % 2 == 0 ? b - rem : a + rem
                }
                return v
            }
            /// The source index along axis `d` for integer position `i`, or nil (reads 0).
            func source(_ i: Int, _ d: Int) -> Int? {
                switch padding {
                case "zeros": return i >= 0 && i < dims[d] ? i : nil
                case "border": return min(max(i, 0), dims[d] - 1)
                default: return min(max(Int(reflect(Double(i), lo[d], hi[d])), 0), dims[d] - 1)
                }
            }
            func cubic(_ t: Double) -> [Double] {
                let a = -0.75
                return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                        ((a + 2) * t - (a + 3)) * t * t + 1,
                        ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                        ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
            }

            var y = [Double](repeating: 0, count: n * c * outCount)
            for b in 0..<n {
                for o in 0..<outCount {
                    // Steps 1-2: source coordinates in X's axis order.
                    var coords = [Double](repeating: 0, count: k)
                    for d in 0..<k {
                        let v = g[(b * outCount + o) * k + (k - 1 - d)]
                        var p = alignCorners ? (v + 1) / 2 * Double(dims[d] - 1) : ((v + 1) * Double(dims[d]) - 1) / 2
                        p = Double(Float(p))
                        if mode == "nearest" { p = p.rounded(.toNearestOrEven) }
                        if p < lo[d] || p > hi[d] {
                            if padding == "border" { p = min(max(p, 0), Double(dims[d] - 1)) }
                            else if padding == "reflection" { p = Double(Float(reflect(p, lo[d], hi[d]))) }
                        }
                        coords[d] = p
                    }
                    // Step 3: taps per axis (source index or nil, weight).
                    var taps: [[(Int?, Double)]] = []
                    for d in 0..<k {
                        let p = coords[d]
                        switch mode {
                        case "nearest": taps.append([(source(Int(p), d), 1)])
                        case "linear":
                            let f = p.rounded(.down), t = p - f
                            taps.append([(source(Int(f), d), 1 - t), (source(Int(f) + 1, d), t)])
                        default:
                            let f = p.rounded(.down), w = cubic(p - f)
                            taps.append((0..<4).map { (source(Int(f) - 1 + $0, d), w[$0]) })
                        }
                    }
                    // Tensor product of the taps.
                    var combos: [(Int, Double)] = [(0, 1)]
                    for d in 0..<k {
                        var next: [(Int, Double)] = []
                        for (off, w) in combos {
                            for (i, tw) in taps[d] { if let i { next.append((off + i * inStrides[d], w * tw)) } }
                        }
                        combos = next
                    }
                    for ch in 0..<c {
                        let base = (b * c + ch) * inCount
                        var acc = 0.0
                        for (off, w) in combos { acc += w * xs[base + off] }
                        y[(b * c + ch) * outCount + o] = acc
                    }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: [n, c] + outSpatial, y), to: x.dataType))
        }
    }
}
