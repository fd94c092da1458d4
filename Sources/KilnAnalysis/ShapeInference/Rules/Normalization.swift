import KilnIR

/// Normalization: BatchNormalization, InstanceNormalization, LayerNormalization,
/// GroupNormalization, RMSNormalization.
///
/// Cases:
/// 1. Output 0 has the type and shape of X (RMSNormalization: the shape of X, the type of `scale`).
/// 2. BatchNormalization training outputs (running mean, running var): shape [C], type of input 3.
/// 3. LayerNormalization Mean and InvStdDev: X's dims before `axis`, then 1s; type `stash_type`.
enum NormalizationRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register(["InstanceNormalization", "GroupNormalization"]) { ctx in ctx.passThrough() }
        r.register("RMSNormalization") { ctx in ctx.setOutput(0, ctx.elementType(1) ?? ctx.elementType(0), ctx.dims(0)) }
        r.register("BatchNormalization") { ctx in
            ctx.passThrough()
            let c: [SymDim]? = ctx.dims(0).map { $0.count > 1 ? [$0[1]] : [.unknown] }
            for k in 1..<max(1, ctx.outputCount) where ctx.hasOutput(k) && k <= 2 {
                ctx.setOutput(k, ctx.elementType(3) ?? ctx.elementType(0), c)
            }
        }
        r.register("LayerNormalization", since: 17) { ctx in
            ctx.passThrough()
            guard ctx.outputCount > 1 else { return }
            let stash = try ctx.node.int("stash_type", default: 1)
            let type = DataType(rawValue: Int32(truncatingIfNeeded: stash))
            var dims: [SymDim]? = nil
            if let x = ctx.dims(0) {
                let axis = try ctx.axis(try ctx.node.int("axis", default: -1), rank: x.count)
                dims = Array(x.prefix(axis)) + Array(repeating: .constant(1), count: x.count - axis)
            }
            for k in 1...2 where ctx.hasOutput(k) { ctx.setOutput(k, type, dims) }
        }
    }
}
