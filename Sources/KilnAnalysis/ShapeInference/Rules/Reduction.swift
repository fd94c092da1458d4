import KilnIR

/// Reductions: Reduce* (axes as attribute, or as input 1 from ReduceSum-13 and the others at 18),
/// ArgMax and ArgMin.
///
/// Cases:
/// 1. Axes known: each reduced axis becomes 1 with keepdims (default 1), or is removed.
/// 2. No axes (attribute absent or empty input): all axes, unless `noop_with_empty_axes` = 1,
///    which returns the input unchanged.
/// 3. Axes given but not known: with keepdims the rank is kept (dims unknown); without, unknown.
/// 4. ArgMax/ArgMin: one `axis` (default 0), int64 output.
enum ReductionRules {
    static let reductions = ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
                             "ReduceMin", "ReduceProd", "ReduceSumSquare"]

    static func register(into r: inout ShapeRuleRegistry) {
        r.register(reductions) { ctx in try reduce(&ctx, axesFromInput: false) }
        r.register(reductions, since: 18) { ctx in try reduce(&ctx, axesFromInput: true) }
        r.register("ReduceSum") { ctx in try reduce(&ctx, axesFromInput: false) }
        r.register("ReduceSum", since: 13) { ctx in try reduce(&ctx, axesFromInput: true) }
        r.register(["ArgMax", "ArgMin"]) { ctx in
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, .int64, nil) }
            let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.count)
            let keep = try ctx.node.int("keepdims", default: 1) != 0
            ctx.setOutput(0, .int64, reduced(x, axes: [axis], keep: keep))
        }
    }

    static func reduced(_ x: [SymDim], axes: Set<Int>, keep: Bool) -> [SymDim] {
        x.enumerated().compactMap { k, d in axes.contains(k) ? (keep ? .constant(1) : nil) : d }
    }

    static func reduce(_ ctx: inout NodeContext, axesFromInput: Bool) throws {
        let type = ctx.elementType(0)
        let keep = try ctx.node.int("keepdims", default: 1) != 0
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        var axes: [Int64]?
        if axesFromInput {
            if ctx.hasInput(1) {
                guard let a = ctx.constantValues(1) else {
                    return ctx.setOutput(0, type, keep ? Array(repeating: .unknown, count: x.count) : nil)
                }
                axes = a
            }
        } else {
            axes = try ctx.intsAttribute("axes")
        }
        if axes?.isEmpty ?? true {
            if axesFromInput, try ctx.node.int("noop_with_empty_axes", default: 0) != 0 {
                return ctx.passThrough()
            }
            return ctx.setOutput(0, type, reduced(x, axes: Set(x.indices), keep: keep))
        }
        let normalized = try axes!.map { try ctx.axis($0, rank: x.count) }
        ctx.setOutput(0, type, reduced(x, axes: Set(normalized), keep: keep))
    }
}
