import KilnIR

/// Convolution and pooling: Conv, ConvInteger, ConvTranspose, MaxPool, AveragePool, LpPool and the
/// global pools.
///
/// Cases (per spatial axis, input size `i`, kernel `k`, stride `s`, dilation `d`, pads `pb`, `pe`,
/// effective kernel `e = (k-1)*d+1`):
/// 1. auto_pad NOTSET: `floor((i + pb + pe - e) / s) + 1`; pools with ceil_mode use `ceil`, and
///    drop a last window that would start inside the end padding (`(out-1)*s >= i + pb`).
/// 2. auto_pad VALID: as NOTSET with zero pads.
/// 3. auto_pad SAME_UPPER / SAME_LOWER: `ceil(i / s)`.
/// 4. Conv output channels: W's dim 0. ConvTranspose: W's dim 1 times `group`; spatial size from
///    `output_shape` when given, else `s*(i-1) + output_padding + e - pb - pe` (SAME: `i*s`).
/// 5. Global pools: [N, C, 1, ...]. MaxPool's second output (Indices): int64, same shape.
/// 6. QLinearConv: Conv of inputs 0 and 3, type of y_zero_point; DeformConv: as Conv.
/// 7. CausalConvWithState: output = input [B, C, L]; present_state [B, C, k-1] (k: W's dim 2).
/// 8. RoiAlign: [num_rois, C, output_height, output_width]; MaxRoiPool: [num_rois, C, pooled_shape]. Col2Im: [N, C / prod(block), image...].
/// 9. MaxUnpool: the `output_shape` input when given, else `s*(i-1) + k - pb - pe`.
enum ConvolutionRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("Conv") { ctx in try conv(&ctx, type: ctx.elementType(0)) }
        r.register("ConvInteger", since: 10) { ctx in try conv(&ctx, type: .int32) }
        r.register("ConvTranspose") { ctx in try convTranspose(&ctx) }
        r.register("QLinearConv", since: 10) { ctx in
            var shifted = ctx
            shifted.remapInputs([0, 3])
            try conv(&shifted, type: ctx.elementType(7))
            ctx.setOutput(0, shifted.outputTypes[0])
        }
        r.register("DeformConv", since: 19) { ctx in try conv(&ctx, type: ctx.elementType(0)) }
        r.register("CausalConvWithState", since: 27) { ctx in
            ctx.passThrough()
            guard ctx.hasOutput(1), let x = ctx.dims(0), x.count == 3, let w = ctx.dims(1), w.count == 3 else { return }
            ctx.setOutput(1, ctx.elementType(0), [x[0], x[1], w[2] - 1])
        }
        r.register("MaxRoiPool") { ctx in
            let pooled = try ctx.node.ints("pooled_shape")
            guard pooled.count == 2 else { throw ctx.error("pooled_shape must have 2 values, got \(pooled.count)") }
            let n = ctx.dims(1)?.first ?? .unknown, c = ctx.dims(0).map { $0.count > 1 ? $0[1] : .unknown } ?? .unknown
            ctx.setOutput(0, ctx.elementType(0), [n, c] + pooled.map(SymDim.constant))
        }
        r.register("RoiAlign", since: 10) { ctx in
            let oh = try ctx.node.int("output_height", default: 1), ow = try ctx.node.int("output_width", default: 1)
            let n = ctx.dims(1)?.first ?? .unknown, c = ctx.dims(0).map { $0.count > 1 ? $0[1] : .unknown } ?? .unknown
            ctx.setOutput(0, ctx.elementType(0), [n, c, .constant(oh), .constant(ow)])
        }
        r.register("Col2Im", since: 18) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0), x.count == 3 else { return ctx.setOutput(0, type, nil) }
            var image = ctx.values(1)
            if image == nil, let n = ctx.dims(1)?.first?.constantValue { image = Array(repeating: .unknown, count: Int(n)) }
            guard let image else { return ctx.setOutput(0, type, nil) }
            let c = ctx.constantValues(2).map { x[1] / .constant($0.reduce(1, *)) } ?? .unknown
            ctx.setOutput(0, type, [x[0], c] + image)
        }
        r.register("MaxUnpool", since: 9) { ctx in
            let type = ctx.elementType(0)
            if ctx.hasInput(2) {
                if let shape = ctx.values(2) { return ctx.setOutput(0, type, shape) }
                return ctx.setOutput(0, type, ctx.dims(2)?.first?.constantValue.map { Array(repeating: .unknown, count: Int($0)) })
            }
            guard let x = ctx.dims(0), x.count >= 2 else { return ctx.setOutput(0, type, nil) }
            let kernel = try ctx.node.ints("kernel_shape")
            let w = try window(ctx, spatial: x.count - 2, kernel: kernel)
            let spatial: [SymDim] = (0..<kernel.count).map { a in
                .constant(w.strides[a]) * (x[2 + a] - 1) + .constant(kernel[a] - w.pads[a] - w.pads[a + kernel.count])
            }
            ctx.setOutput(0, type, Array(x.prefix(2)) + spatial)
        }
        r.register(["MaxPool", "AveragePool", "LpPool"]) { ctx in
            try pool(&ctx)
        }
        r.register(["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]) { ctx in
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
            guard x.count >= 2 else { throw ctx.error("input must have rank >= 2") }
            ctx.setOutput(0, ctx.elementType(0), Array(x.prefix(2)) + Array(repeating: .constant(1), count: x.count - 2))
        }
    }

    struct Window {
        var kernel: [Int64]
        var strides: [Int64]
        var dilations: [Int64]
        var pads: [Int64]
        var autoPad: String
    }

    static func window(_ ctx: NodeContext, spatial n: Int, kernel: [Int64]) throws -> Window {
        let strides = try ctx.node.ints("strides", default: Array(repeating: 1, count: n))
        let dilations = try ctx.node.ints("dilations", default: Array(repeating: 1, count: n))
        let pads = try ctx.node.ints("pads", default: Array(repeating: 0, count: 2 * n))
        guard kernel.count == n, strides.count == n, dilations.count == n, pads.count == 2 * n else {
            throw ctx.error("kernel_shape, strides, dilations or pads do not match \(n) spatial dimensions")
        }
        guard strides.allSatisfy({ $0 > 0 }) else { throw ctx.error("strides must be positive") }
        return Window(kernel: kernel, strides: strides, dilations: dilations, pads: pads,
                      autoPad: try ctx.node.string("auto_pad", default: "NOTSET"))
    }

    /// Cases 1-3.
    static func outputSize(_ i: SymDim, axis a: Int, _ w: Window, ceilMode: Bool) -> SymDim {
        let n = w.kernel.count
        let e = (w.kernel[a] - 1) * w.dilations[a] + 1
        let s = w.strides[a]
        switch w.autoPad {
        case "SAME_UPPER", "SAME_LOWER":
            return i.ceilDiv(s)
        case "VALID":
            let span = i - .constant(e)
            return (ceilMode ? span.ceilDiv(s) : span.floorDiv(s)) + 1
        default:
            let span = i + .constant(w.pads[a] + w.pads[a + n] - e)
            let out = (ceilMode ? span.ceilDiv(s) : span.floorDiv(s)) + 1
            // With ceil_mode, a last window starting inside the end padding is dropped.
            if ceilMode, let o = out.constantValue, let size = i.constantValue, (o - 1) * s >= size + w.pads[a] {
                return .constant(o - 1)
            }
            return out
        }
    }

    static func conv(_ ctx: inout NodeContext, type: DataType?) throws {
        guard let x = ctx.dims(0), let wd = ctx.dims(1) else { return ctx.setOutput(0, type, nil) }
        guard x.count >= 2, wd.count == x.count else { throw ctx.error("X and W ranks \(x.count), \(wd.count) do not match") }
        let n = x.count - 2
        var kernel = try ctx.node.ints("kernel_shape", default: [])
        if kernel.isEmpty {
            let ks = wd.dropFirst(2).map(\.constantValue)
            guard ks.allSatisfy({ $0 != nil }) else { return ctx.setOutput(0, type, [x[0], wd[0]] + Array(repeating: .unknown, count: n)) }
            kernel = ks.map { $0! }
        }
        let w = try window(ctx, spatial: n, kernel: kernel)
        let spatial = (0..<n).map { outputSize(x[2 + $0], axis: $0, w, ceilMode: false) }
        ctx.setOutput(0, type, [x[0], wd[0]] + spatial)
    }

    static func pool(_ ctx: inout NodeContext) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        guard x.count >= 2 else { throw ctx.error("input must have rank >= 2") }
        let kernel = try ctx.node.ints("kernel_shape")
        let w = try window(ctx, spatial: x.count - 2, kernel: kernel)
        let ceilMode = try ctx.node.int("ceil_mode", default: 0) != 0
        let spatial = (0..<kernel.count).map { outputSize(x[2 + $0], axis: $0, w, ceilMode: ceilMode) }
        let out = Array(x.prefix(2)) + spatial
        ctx.setOutput(0, type, out)
        if ctx.hasOutput(1) { ctx.setOutput(1, .int64, out) }
    }

    static func convTranspose(_ ctx: inout NodeContext) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0), let wd = ctx.dims(1) else { return ctx.setOutput(0, type, nil) }
        guard x.count >= 2, wd.count == x.count else { throw ctx.error("X and W ranks \(x.count), \(wd.count) do not match") }
        let n = x.count - 2
        let group = try ctx.node.int("group", default: 1)
        let channels = wd[1] * .constant(group)
        if let shape = try ctx.intsAttribute("output_shape") {
            guard shape.count >= n else { throw ctx.error("output_shape has \(shape.count) values for \(n) spatial dimensions") }
            return ctx.setOutput(0, type, [x[0], channels] + shape.suffix(n).map(SymDim.constant))
        }
        var kernel = try ctx.node.ints("kernel_shape", default: [])
        if kernel.isEmpty {
            let ks = wd.dropFirst(2).map(\.constantValue)
            guard ks.allSatisfy({ $0 != nil }) else { return ctx.setOutput(0, type, [x[0], channels] + Array(repeating: .unknown, count: n)) }
            kernel = ks.map { $0! }
        }
        let w = try window(ctx, spatial: n, kernel: kernel)
        let outPad = try ctx.node.ints("output_padding", default: Array(repeating: 0, count: n))
        guard outPad.count == n else { throw ctx.error("output_padding does not match \(n) spatial dimensions") }
        let spatial: [SymDim] = (0..<n).map { a in
            let i = x[2 + a]
            if w.autoPad == "SAME_UPPER" || w.autoPad == "SAME_LOWER" { return i * .constant(w.strides[a]) }
            let e = (w.kernel[a] - 1) * w.dilations[a] + 1
            let pads = w.autoPad == "VALID" ? 0 : w.pads[a] + w.pads[a + n]
            return .constant(w.strides[a]) * (i - 1) + .constant(outPad[a] + e - pads)
        }
        ctx.setOutput(0, type, [x[0], channels] + spatial)
    }
}
