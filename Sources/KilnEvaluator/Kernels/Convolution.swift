import CBLAS
import KilnIR

/// Conv (im2col + GEMM), MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, over any number
/// of spatial axes. Window geometry (pads, auto_pad, strides, dilations, ceil_mode) is computed
/// once in `WindowGeometry` for all of them. Values are computed in Double and converted back.
enum ConvolutionKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Conv", since: 1) { ctx in
            let x = try ctx.tensor(0), w = try ctx.tensor(1), b = try ctx.optionalTensor(2)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, "Conv") }
            guard x.rank >= 3, w.rank == x.rank else { throw ctx.error("X and W must have the same rank (3 or more), got \(x.shape) and \(w.shape)") }
            let group = try ctx.int("group", default: 1)
            let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0])
            guard group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
                throw ctx.error("W of shape \(w.shape) does not match \(c) input channels in \(group) groups")
            }
            let kernel = Array(w.shape[2...])
            if let ks = try ctx.ints("kernel_shape"), ks != kernel { throw ctx.error("kernel_shape \(ks) differs from W's \(kernel)") }
            let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel)
            let xs = x.doubles, ws = w.doubles, bias = b?.doubles
            let cg = c / group, mg = m / group
            let rows = cg * geo.kernelCount, cols = geo.outputCount
            let inCount = geo.inputCount
            var out = [Double](repeating: 0, count: n * m * cols)
            var col = [Double](repeating: 0, count: rows * cols)
            let taps = geo.taps()
            for img in 0..<n {
                for g in 0..<group {
                    // im2col: row (channel, tap), column output position.
                    for ch in 0..<cg {
                        let base = (img * c + g * cg + ch) * inCount
                        for t in 0..<geo.kernelCount {
                            let row = (ch * geo.kernelCount + t) * cols
                            for o in 0..<cols {
                                let i = taps[t * cols + o]
                                col[row + o] = i >= 0 ? xs[base + i] : 0
                            }
                        }
                    }
                    ws.withUnsafeBufferPointer { pw in
                        col.withUnsafeBufferPointer { pc in
                            out.withUnsafeMutableBufferPointer { po in
                                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(cols), Int32(rows), 1,
                                            pw.baseAddress! + g * mg * rows, Int32(rows), pc.baseAddress!, Int32(cols), 0,
                                            po.baseAddress! + (img * m + g * mg) * cols, Int32(cols))
                            }
                        }
                    }
                }
                if let bias {
                    for oc in 0..<m { for o in 0..<cols { out[(img * m + oc) * cols + o] += bias[oc] } }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: [n, m] + geo.output, out), to: x.dataType))
        }
        r.register("MaxPool", since: 1) { ctx in try pool(ctx, max: true) }
        r.register("AveragePool", since: 1) { ctx in try pool(ctx, max: false) }
        r.register("GlobalAveragePool", since: 1) { ctx in try globalPool(ctx, max: false) }
        r.register("GlobalMaxPool", since: 1) { ctx in try globalPool(ctx, max: true) }
    }

    static func pool(_ ctx: KernelContext, max isMax: Bool) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.rank >= 3 else { throw ctx.error("X must have rank 3 or more, got \(x.shape)") }
        guard let kernel = try ctx.ints("kernel_shape"), kernel.count == x.rank - 2 else {
            throw ctx.error("kernel_shape must have one entry per spatial axis")
        }
        if try isMax && ctx.int("storage_order", default: 0) != 0 {
            throw ctx.unsupported("storage_order=1 is not supported")
        }
        let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel, ceil: ctx.int("ceil_mode", default: 0) != 0)
        let countPads = try ctx.int("count_include_pad", default: 0) != 0
        let planes = x.shape[0] * x.shape[1]
        let cols = geo.outputCount, inCount = geo.inputCount
        let xs = x.doubles
        let taps = geo.taps()
        let inside = countPads ? geo.paddedCounts() : []
        var out = [Double](repeating: 0, count: planes * cols), arg = [Int64](repeating: 0, count: planes * cols)
        for p in 0..<planes {
            let base = p * inCount
            for o in 0..<cols {
                var acc = isMax ? -Double.infinity : 0, count = 0, best = -1
                for t in 0..<geo.kernelCount {
                    let i = taps[t * cols + o]
                    guard i >= 0 else { continue }
                    let v = xs[base + i]
                    count += 1
                    if isMax { if v > acc || best < 0 { acc = v; best = base + i } } else { acc += v }
                }
                out[p * cols + o] = isMax ? acc : acc / Double(countPads ? inside[o] : Swift.max(count, 1))
                arg[p * cols + o] = Int64(best)
            }
        }
        let shape = Array(x.shape[..<2]) + geo.output
        var results: [RuntimeValue?] = [.tensor(try castTensor(TensorValue(shape: shape, out), to: x.dataType))]
        if isMax && ctx.outputCount > 1 { results.append(.tensor(TensorValue(shape: shape, arg))) }
        return results
    }

    static func globalPool(_ ctx: KernelContext, max isMax: Bool) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.rank >= 2 else { throw ctx.error("X must have rank 2 or more") }
        let inner = x.shape[2...].reduce(1, *), planes = x.shape[0] * x.shape[1]
        let xs = x.doubles
        let out = (0..<planes).map { p -> Double in
            let s = xs[(p * inner)..<((p + 1) * inner)]
            return isMax ? (s.max() ?? 0) : s.reduce(0, +) / Double(Swift.max(inner, 1))
        }
        let shape = Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2)
        return KernelContext.one(try castTensor(TensorValue(shape: shape, out), to: x.dataType))
    }
}

/// Sliding-window geometry over the spatial axes: output sizes and the input position each
/// (kernel tap, output position) pair reads (-1 in padding).
struct WindowGeometry {
    let input: [Int], kernel: [Int], strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int], output: [Int]

    init(_ ctx: KernelContext, input: [Int], kernel: [Int], ceil: Bool = false) throws {
        let r = input.count
        self.input = input
        self.kernel = kernel
        strides = try ctx.ints("strides") ?? [Int](repeating: 1, count: r)
        dilations = try ctx.ints("dilations") ?? [Int](repeating: 1, count: r)
        guard strides.count == r, dilations.count == r, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw ctx.error("strides and dilations must have \(r) positive entries")
        }
        let autoPad = try ctx.string("auto_pad", default: "NOTSET")
        var begin = [Int](repeating: 0, count: r), end = begin, out = begin
        for i in 0..<r {
            let span = (kernel[i] - 1) * dilations[i] + 1
            switch autoPad {
            case "NOTSET":
                let pads = try ctx.ints("pads") ?? [Int](repeating: 0, count: 2 * r)
                guard pads.count == 2 * r else { throw ctx.error("pads must have \(2 * r) entries") }
                begin[i] = pads[i]; end[i] = pads[i + r]
                let room = input[i] + begin[i] + end[i] - span
                out[i] = (ceil ? (room + strides[i] - 1) / strides[i] : room / strides[i]) + 1
                // A window may not start in the end padding (ceil mode).
                if ceil && (out[i] - 1) * strides[i] >= input[i] + begin[i] { out[i] -= 1 }
            case "VALID":
                out[i] = (input[i] - span) / strides[i] + 1
            case "SAME_UPPER", "SAME_LOWER":
                out[i] = (input[i] + strides[i] - 1) / strides[i]
                let total = Swift.max(0, (out[i] - 1) * strides[i] + span - input[i])
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                end[i] = total - begin[i]
            default:
                throw ctx.unsupported("auto_pad '\(autoPad)' is not supported")
            }
            guard out[i] >= 0 else { throw ctx.error("the window is larger than the padded input") }
        }
        padBegin = begin; padEnd = end; output = out
    }

    var kernelCount: Int { kernel.reduce(1, *) }
    var outputCount: Int { output.reduce(1, *) }
    var inputCount: Int { input.reduce(1, *) }

    /// taps[t * outputCount + o]: the input offset read by kernel tap t at output position o.
    func taps() -> [Int] {
        let r = input.count
        let inStrides = rowMajorStrides(input)
        var result = [Int](repeating: -1, count: kernelCount * outputCount)
        forEachMultiIndex(kernel) { t, k in
            forEachMultiIndex(output) { o, pos in
                var off = 0
                for d in 0..<r {
                    let i = pos[d] * strides[d] - padBegin[d] + k[d] * dilations[d]
                    if i < 0 || i >= input[d] { return }
                    off += i * inStrides[d]
                }
                result[t * outputCount + o] = off
            }
        }
        return result
    }

    /// Per output position: the window taps inside the explicitly padded input.
    func paddedCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: outputCount)
        forEachMultiIndex(output) { o, pos in
            var n = 1
            for d in 0..<input.count {
                var c = 0
                for k in 0..<kernel[d] {
                    let i = pos[d] * strides[d] - padBegin[d] + k * dilations[d]
                    if i >= -padBegin[d] && i < input[d] + padEnd[d] { c += 1 }
                }
                n *= c
            }
            counts[o] = n
        }
        return counts
    }
}
