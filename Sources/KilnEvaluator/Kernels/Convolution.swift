import CBLAS
import KilnIR
import Foundation

/// Conv (im2col + GEMM), ConvTranspose, MaxPool, AveragePool, LpPool, GlobalAveragePool,
/// GlobalMaxPool, GlobalLpPool, over any number
/// of spatial axes. Window geometry (pads, auto_pad, strides, dilations, ceil_mode) is computed
/// once in `WindowGeometry` for all of them. Values are computed in Double and converted back.
enum ConvolutionKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Conv", since: 1, prepare: prepareConv) { ctx in
            let x = try ctx.tensor(0), w = try ctx.tensor(1), b = try ctx.optionalTensor(2)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, "Conv") }
            if let prepared = ctx.prepared as? WinogradWeights, let y = try winogradConv(x, w, b, prepared, ctx) {
                return KernelContext.one(y)
            }
            if let y = try floatConv(x, w, b, ctx) { return KernelContext.one(y) }
            return KernelContext.one(try castTensor(conv(x, w, b?.doubles, ctx), to: x.dataType))
        }
        // ConvInteger: Conv of (x - x_zero_point) and (w - w_zero_point, per output channel) in int32.
        r.register("ConvInteger", since: 10) { ctx in
            let x = try centered(ctx.tensor(0), ctx.optionalTensor(2), channelAxis: 1)
            let w = try centered(ctx.tensor(1), ctx.optionalTensor(3), channelAxis: 0)
            return KernelContext.one(try castTensor(conv(x, w, nil, ctx), to: .int32))
        }
        // QLinearConv: (conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale + y_zp, rounded
        // half to even and saturated; w_scale and w_zp per tensor or per output channel.
        r.register("QLinearConv", since: 10) { ctx in
            let x = try centered(ctx.tensor(0), ctx.optionalTensor(2), channelAxis: 1)
            let w = try centered(ctx.tensor(3), ctx.optionalTensor(5), channelAxis: 0)
            let xScale = try ctx.tensor(1).doubles[0], wScale = try ctx.tensor(4).doubles, yScale = try ctx.tensor(6).doubles[0]
            let yZero = try ctx.optionalTensor(7)
            let type = try yZero?.dataType ?? ctx.tensor(0).dataType
            guard let range = QuantizationKernels.ranges[type] else { throw unsupportedType(type, ctx.node.opType) }
            let y = try conv(x, w, ctx.optionalTensor(8)?.doubles, ctx)
            let m = y.shape[1], inner = y.count / max(y.shape[0] * m, 1), zp = yZero?.doubles.first ?? 0
            guard wScale.count == 1 || wScale.count == m else { throw ctx.error("w_scale must have 1 or \(m) elements") }
            let v = y.doubles.enumerated().map { i, acc in
                let s = wScale.count == 1 ? wScale[0] : wScale[(i / inner) % m]
                return min(max((acc * (xScale * s / yScale) + zp).rounded(.toNearestOrEven), range.lowerBound), range.upperBound)
            }
            return KernelContext.one(try castTensor(TensorValue(shape: y.shape, v), to: type))
        }
        r.register("ConvTranspose", since: 1) { ctx in try convTranspose(ctx) }
        // Col2Im (18): input `[N, C * prod(block), L]`, each column a block placed at its sliding
        // position in `image_shape` (strides, dilations, pads as Conv); overlaps add up.
        r.register("Col2Im", since: 18) { ctx in
            let x = try ctx.tensor(0)
            guard let image = try ctx.integers(1), let block = try ctx.integers(2), x.rank == 3 else {
                throw ctx.error("input must be [N, C * prod(block_shape), L] with image_shape and block_shape")
            }
            let blockCount = block.reduce(1, *)
            guard blockCount > 0, x.shape[1] % blockCount == 0 else { throw ctx.error("channels \(x.shape[1]) are not a multiple of the block size \(blockCount)") }
            let geo = try WindowGeometry(ctx, input: image, kernel: block)
            guard geo.outputCount == x.shape[2] else { throw ctx.error("\(x.shape[2]) blocks given, the geometry makes \(geo.outputCount)") }
            let (n, c) = (x.shape[0], x.shape[1] / blockCount)
            let taps = geo.taps(), cols = geo.outputCount, imageCount = geo.inputCount, v = x.doubles
            var out = [Double](repeating: 0, count: n * c * imageCount)
            for b in 0..<n {
                for ch in 0..<c {
                    for t in 0..<blockCount {
                        let row = ((b * c + ch) * blockCount + t) * cols
                        for o in 0..<cols where taps[t * cols + o] >= 0 {
                            out[(b * c + ch) * imageCount + taps[t * cols + o]] += v[row + o]
                        }
                    }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: [n, c] + image, out), to: x.dataType))
        }
        // LpPool: (sum over the window of |x|^p)^(1/p), padding contributing zeros.
        r.register("LpPool", since: 2) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 3, let kernel = try ctx.ints("kernel_shape"), kernel.count == x.rank - 2 else {
                throw ctx.error("X must have rank 3 or more and kernel_shape one entry per spatial axis")
            }
            let p = Double(try ctx.int("p", default: 2))
            let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel, ceil: ctx.int("ceil_mode", default: 0) != 0)
            let planes = x.shape[0] * x.shape[1], cols = geo.outputCount, taps = geo.taps(), xs = x.doubles
            var out = [Double](repeating: 0, count: planes * cols)
            for plane in 0..<planes {
                for o in 0..<cols {
                    var acc = 0.0
                    for t in 0..<geo.kernelCount where taps[t * cols + o] >= 0 {
                        acc += Foundation.pow(Swift.abs(xs[plane * geo.inputCount + taps[t * cols + o]]), p)
                    }
                    out[plane * cols + o] = Foundation.pow(acc, 1 / p)
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: Array(x.shape[..<2]) + geo.output, out), to: x.dataType))
        }
        r.register("GlobalLpPool", since: 2) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("X must have rank 2 or more") }
            let p = Double(try ctx.int("p", default: 2))
            let inner = x.shape[2...].reduce(1, *), xs = x.doubles
            let out = (0..<(x.shape[0] * x.shape[1])).map { plane in
                Foundation.pow(xs[(plane * inner)..<((plane + 1) * inner)].reduce(0) { $0 + Foundation.pow(Swift.abs($1), p) }, 1 / p)
            }
            return KernelContext.one(try castTensor(TensorValue(shape: Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2), out), to: x.dataType))
        }
        r.register("MaxPool", since: 1) { ctx in try floatPool(ctx, max: true) ?? pool(ctx, max: true) }
        r.register("AveragePool", since: 1) { ctx in try floatPool(ctx, max: false) ?? pool(ctx, max: false) }
        r.register("GlobalAveragePool", since: 1) { ctx in try globalPool(ctx, max: false) }
        r.register("GlobalMaxPool", since: 1) { ctx in try globalPool(ctx, max: true) }
    }

    /// `x - zeroPoint` as Doubles; a 1-D zero point applies along `channelAxis`.
    static func centered(_ x: TensorValue, _ zeroPoint: TensorValue?, channelAxis: Int) throws -> TensorValue {
        var v = x.doubles
        if let z = zeroPoint?.doubles {
            let inner = x.shape[(channelAxis + 1)...].reduce(1, *), channels = x.shape[channelAxis]
            for i in 0..<v.count { v[i] -= z.count == 1 ? z[0] : z[(i / inner) % channels] }
        }
        return TensorValue(shape: x.shape, v)
    }

    /// Conv in Double (im2col + dgemm); the result is a double tensor `[N, M, out...]`.
    static func conv(_ x: TensorValue, _ w: TensorValue, _ bias: [Double]?, _ ctx: KernelContext) throws -> TensorValue {
            let shape = try ConvShape(x, w, ctx)
            let (n, c, m, group, geo) = (shape.n, shape.c, shape.m, shape.group, shape.geo)
            let xs = x.doubles, ws = w.doubles
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
                                kiln_dgemm(Int32(mg), Int32(cols), Int32(rows), 1,
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
            return TensorValue(shape: [n, m] + geo.output, out)
    }

    static func pool(_ ctx: KernelContext, max isMax: Bool) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.rank >= 3 else { throw ctx.error("X must have rank 3 or more, got \(x.shape)") }
        guard let kernel = try ctx.ints("kernel_shape"), kernel.count == x.rank - 2 else {
            throw ctx.error("kernel_shape must have one entry per spatial axis")
        }
        let columnMajor = try isMax && ctx.int("storage_order", default: 0) != 0
        let spatial = Array(x.shape[2...]), spatialStrides = rowMajorStrides(spatial)
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
                if columnMajor && best >= 0 {
                    // storage_order=1: the spatial offset counted in column-major order.
                    var rest = best - base, index = 0, columnStride = 1
                    for d in 0..<spatial.count {
                        index += rest / spatialStrides[d] * columnStride
                        rest %= spatialStrides[d]
                        columnStride *= spatial[d]
                    }
                    arg[p * cols + o] = Int64(base + index)
                } else {
                    arg[p * cols + o] = Int64(best)
                }
            }
        }
        let shape = Array(x.shape[..<2]) + geo.output
        var results: [RuntimeValue?] = [.tensor(try castTensor(TensorValue(shape: shape, out), to: x.dataType))]
        if isMax && ctx.outputCount > 1 { results.append(.tensor(TensorValue(shape: shape, arg))) }
        return results
    }

    /// ConvTranspose: each input position scatters `x * W[c, m]` to output `pos * stride + k *
    /// dilation - pad_begin`. Output size `stride (in - 1) + output_padding + (k - 1) dilation + 1 -
    /// pads`. With SAME auto_pad the output is `output_shape` (default `in * stride`) and the total
    /// padding is derived from it (SAME_UPPER: the smaller half first); an `output_shape` without
    /// SAME padding keeps the pads and cuts or zero-extends the result, as the reference does.
    static func convTranspose(_ ctx: KernelContext) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0), w = try ctx.tensor(1), b = try ctx.optionalTensor(2)
        guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, "ConvTranspose") }
        guard x.rank >= 3, w.rank == x.rank else { throw ctx.error("X and W must have the same rank (3 or more), got \(x.shape) and \(w.shape)") }
        let group = try ctx.int("group", default: 1)
        let (n, c) = (x.shape[0], x.shape[1])
        guard group > 0, c % group == 0, w.shape[0] == c else { throw ctx.error("W of shape \(w.shape) does not match \(c) input channels") }
        let mg = w.shape[1], m = mg * group, cg = c / group
        let r = x.rank - 2
        let input = Array(x.shape[2...]), kernel = Array(w.shape[2...])
        let strides = try ctx.ints("strides") ?? [Int](repeating: 1, count: r)
        let dilations = try ctx.ints("dilations") ?? [Int](repeating: 1, count: r)
        let outputPadding = try ctx.ints("output_padding") ?? [Int](repeating: 0, count: r)
        var pads = try ctx.ints("pads") ?? [Int](repeating: 0, count: 2 * r)
        guard strides.count == r, dilations.count == r, outputPadding.count == r, pads.count == 2 * r else {
            throw ctx.error("strides, dilations, output_padding and pads must match \(r) spatial axes")
        }
        let autoPad = try ctx.string("auto_pad", default: "NOTSET")
        var outputShape = try ctx.ints("output_shape")
        if outputShape == nil && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
            outputShape = (0..<r).map { input[$0] * strides[$0] }
        }
        var out = [Int](repeating: 0, count: r)
        for i in 0..<r {
            let full = strides[i] * (input[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1
            let same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"
            if let os = outputShape, !same {
                // Explicit output_shape without SAME padding: pads as given; the result is cut or
                // zero-extended to output_shape (the reference's behaviour).
                out[i] = os.count == r ? os[i] : os[os.count - r + i]
            } else if let os = outputShape {
                let target = os.count == r ? os[i] : os[os.count - r + i]
                let total = full - target
                if autoPad == "SAME_UPPER" { pads[i] = total / 2; pads[i + r] = total - total / 2 }
                else { pads[i] = total - total / 2; pads[i + r] = total / 2 }
                out[i] = target
            } else {
                if autoPad == "VALID" { pads[i] = 0; pads[i + r] = 0 }
                out[i] = full - pads[i] - pads[i + r]
            }
        }
        let xs = x.doubles, ws = w.doubles, bias = b?.doubles
        let inCount = input.reduce(1, *), outCount = out.reduce(1, *), kCount = kernel.reduce(1, *)
        let outStrides = rowMajorStrides(out)
        // For each (input position, tap): the output offset, or -1 outside.
        var target = [Int](repeating: -1, count: inCount * kCount)
        forEachMultiIndex(input) { ip, pos in
            forEachMultiIndex(kernel) { t, k in
                var off = 0
                for d in 0..<r {
                    let o = pos[d] * strides[d] + k[d] * dilations[d] - pads[d]
                    if o < 0 || o >= out[d] { return }
                    off += o * outStrides[d]
                }
                target[ip * kCount + t] = off
            }
        }
        var y = [Double](repeating: 0, count: n * m * outCount)
        for img in 0..<n {
            for g in 0..<group {
                for ci in 0..<cg {
                    let ch = g * cg + ci
                    let xBase = (img * c + ch) * inCount
                    for mo in 0..<mg {
                        let yBase = (img * m + g * mg + mo) * outCount
                        let wBase = (ch * mg + mo) * kCount
                        for ip in 0..<inCount {
                            let xv = xs[xBase + ip]
                            if xv == 0 { continue }
                            for t in 0..<kCount {
                                let o = target[ip * kCount + t]
                                if o >= 0 { y[yBase + o] += xv * ws[wBase + t] }
                            }
                        }
                    }
                }
            }
            if let bias {
                for oc in 0..<m { for o in 0..<outCount { y[(img * m + oc) * outCount + o] += bias[oc] } }
            }
        }
        return KernelContext.one(try castTensor(TensorValue(shape: [n, m] + out, y), to: x.dataType))
    }

    static func globalPool(_ ctx: KernelContext, max isMax: Bool) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.rank >= 2 else { throw ctx.error("X must have rank 2 or more") }
        if let y = floatGlobalPool(x, max: isMax, threads: ctx.threads) { return KernelContext.one(y) }
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

/// Conv's operands checked (ranks, groups, kernel_shape) and its window geometry.
struct ConvShape {
    let n: Int, c: Int, m: Int, group: Int, geo: WindowGeometry

    init(_ x: TensorValue, _ w: TensorValue, _ ctx: KernelContext) throws {
        guard x.rank >= 3, w.rank == x.rank else { throw ctx.error("X and W must have the same rank (3 or more), got \(x.shape) and \(w.shape)") }
        group = try ctx.int("group", default: 1)
        (n, c, m) = (x.shape[0], x.shape[1], w.shape[0])
        guard group > 0, c % group == 0, m % group == 0, w.shape[1] == c / group else {
            throw ctx.error("W of shape \(w.shape) does not match \(c) input channels in \(group) groups")
        }
        let kernel = Array(w.shape[2...])
        if let ks = try ctx.ints("kernel_shape"), ks != kernel { throw ctx.error("kernel_shape \(ks) differs from W's \(kernel)") }
        geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel)
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
