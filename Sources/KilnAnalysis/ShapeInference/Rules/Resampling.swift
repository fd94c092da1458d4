import KilnIR

/// Resampling: Resize, Upsample, GridSample, AffineGrid.
///
/// Cases:
/// 1. Resize with a constant `sizes` input: those sizes (on `axes` from opset 18) with the default
///    `keep_aspect_ratio_policy` stretch; with not_larger / not_smaller, one scale (the smallest /
///    largest of size / dim) for every axis, and each dim `round(scale * dim)` (case 1b).
/// 2. Resize/Upsample with constant scales (the `scales` attribute in Upsample-7; height_scale and
///    width_scale on NCHW in Upsample-1): `floor(dim * scale)` for constant dims.
/// 3. GridSample: [N, C] then the grid's dims between its first and last.
/// 4. AffineGrid: size [N, C, H, W] -> [N, H, W, 2]; [N, C, D, H, W] -> [N, D, H, W, 3].
enum ResamplingRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("Upsample", since: 1) { ctx in  // NCHW; height_scale and width_scale
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            guard x.count == 4 else { throw ctx.error("input must have rank 4 (NCHW), got \(x.count)") }
            let scales = [try ctx.node.float("height_scale"), try ctx.node.float("width_scale")]
            ctx.setOutput(0, type, [x[0], x[1]] + zip(x[2...], scales).map { d, s in
                s == 1 ? d : (d.constantValue.map { .constant(Int64((Double($0) * Double(s)).rounded(.down))) } ?? .unknown)
            })
        }
        r.register("Upsample", since: 7) { ctx in
            let type = ctx.elementType(0)
            let scales = try ctx.node.floats("scales")
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            guard scales.count == x.count else { throw ctx.error("scales has \(scales.count) values for rank \(x.count)") }
            ctx.setOutput(0, type, zip(x, scales).map { d, s in
                s == 1 ? d : (d.constantValue.map { .constant(Int64((Double($0) * Double(s)).rounded(.down))) } ?? .unknown)
            })
        }
        r.register("Upsample", since: 9) { ctx in try resize(&ctx, scalesInput: 1, sizesInput: nil) }
        r.register("Resize", since: 10) { ctx in try resize(&ctx, scalesInput: 1, sizesInput: nil) }
        r.register("Resize", since: 11) { ctx in try resize(&ctx, scalesInput: 2, sizesInput: 3) }
        r.register("GridSample", since: 16) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0), let g = ctx.dims(1), x.count >= 2, g.count >= 2 else { return ctx.setOutput(0, type, nil) }
            ctx.setOutput(0, type, [x[0], x[1]] + Array(g[1..<(g.count - 1)]))
        }
        r.register("AffineGrid", since: 20) { ctx in
            let type = ctx.elementType(0)
            var size = ctx.values(1)
            if size == nil, let n = ctx.dims(1)?.first?.constantValue { size = Array(repeating: .unknown, count: Int(n)) }
            guard let size, size.count == 4 || size.count == 5 else { return ctx.setOutput(0, type, nil) }
            ctx.setOutput(0, type, [size[0]] + Array(size[2...]) + [.constant(Int64(size.count - 2))])
        }
    }

    static func resize(_ ctx: inout NodeContext, scalesInput: Int, sizesInput: Int?) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        let axes = try (ctx.intsAttribute("axes") ?? (0..<Int64(x.count)).map { $0 }).map { try ctx.axis($0, rank: x.count) }
        var out = x
        // Sizes or scales not known: only the resized axes are unknown.
        var unknownOnAxes = x
        for a in axes { unknownOnAxes[a] = .unknown }
        if let s = sizesInput, ctx.hasInput(s), ctx.elementCountOfInput(s) != 0 {
            guard let sizes = ctx.values(s), sizes.count == axes.count else {
                return ctx.setOutput(0, type, unknownOnAxes)
            }
            let policy = try ctx.node.string("keep_aspect_ratio_policy", default: "stretch")
            if policy == "stretch" {
                for (k, a) in axes.enumerated() { out[a] = sizes[k] }
                return ctx.setOutput(0, type, out)
            }
            // Case 1b: one scale for all axes, the smallest (not_larger) or largest (not_smaller).
            let ratios = axes.enumerated().map { k, a -> Double? in
                guard let n = sizes[k].constantValue, let d = x[a].constantValue, d > 0 else { return nil }
                return Double(n) / Double(d)
            }
            guard ratios.allSatisfy({ $0 != nil }), policy == "not_larger" || policy == "not_smaller" else {
                return ctx.setOutput(0, type, unknownOnAxes)
            }
            let scale = policy == "not_larger" ? ratios.map { $0! }.min()! : ratios.map { $0! }.max()!
            for a in axes { out[a] = .constant(Int64((scale * Double(x[a].constantValue!)).rounded())) }
            return ctx.setOutput(0, type, out)
        }
        guard ctx.hasInput(scalesInput), let scales = ctx.tensor(scalesInput)?.doubleValues(), scales.count == axes.count else {
            return ctx.setOutput(0, type, unknownOnAxes)
        }
        for (k, a) in axes.enumerated() {
            if scales[k] == 1 { continue }
            out[a] = x[a].constantValue.map { .constant(Int64((Double($0) * scales[k]).rounded(.down))) } ?? .unknown
        }
        ctx.setOutput(0, type, out)
    }
}

extension NodeContext {
    /// The element count of input `i` when its shape is static.
    func elementCountOfInput(_ i: Int) -> Int64? {
        guard let d = dims(i) else { return nil }
        return d.product.constantValue
    }
}
