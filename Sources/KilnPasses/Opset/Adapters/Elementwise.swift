import KilnIR

/// Elementwise operators whose version changes are about broadcasting or types.
///
/// Cases:
/// 1. Max/Min/Mean/Sum-8 added multidirectional broadcasting: free upward; downward every input
///    must have the same known shape, else refused (Max-6 needs equal shapes).
/// 2. Erf-13, ReduceLogSum/ReduceLogSumExp-28: type constraints regrouped (integer types
///    dropped); the node's types are checked against the target schema.
/// 3. Mod-28 defines integer-style modulus (fmod = 0) for floating-point inputs, which Mod-13
///    leaves to fmod = 1: refused down for such nodes. DepthToSpace-28 differs from the previous
///    version only in a context-dependent function body; Range-27 adds `stash_type` (precision of the computation; 1, float, is the
///    old behaviour).
extension OpsetAdapters {
    static var elementwise: [OpsetRule] {
        var rules: [OpsetRule] = []
        for op in ["Max", "Min", "Mean", "Sum"] {
            rules.append(.unchanged(op, 8, .up, "opset 8 adds broadcasting; equal shapes mean the same (case 1)"))
            rules.append(.unchanged(op, 8, .down, "refuses inputs of different or unknown shapes (case 1)") { rw, id in
                let shapes = rw.graph[node: id].inputs.map { rw.shape($0) }
                guard shapes.count <= 1 || (shapes.allSatisfy { s in s != nil && s!.dims.allSatisfy { $0.staticValue != nil } }
                                            && Set(shapes.map { $0!.dims }).count == 1) else {
                    throw rw.refusal(id, "\(rw.graph[node: id].opType)-6 does not broadcast: its inputs need one static shape")
                }
            })
        }
        rules += OpsetRule.typesChecked("Erf", 13, "integer types dropped, bfloat16 added (case 2)")
        rules += OpsetRule.typesChecked("ReduceLogSum", 28, "integer types dropped (case 2)")
        rules += OpsetRule.typesChecked("ReduceLogSumExp", 28, "integer types dropped (case 2)")
        rules.append(.unchanged("Mod", 28, .up, "Mod-28 defines fmod = 0 for floating-point inputs (case 3)"))
        rules.append(.unchanged("Mod", 28, .down, "refuses fmod = 0 on floating-point inputs (case 3)") { rw, id in
            if try rw.int(id, "fmod", default: 0) == 0, rw.elementType(rw.input(id, 0))?.isFloatingPoint ?? true {
                throw rw.refusal(id, "fmod = 0 on floating-point (or untyped) inputs is defined only from opset 28")
            }
        })
        rules += OpsetRule.same("DepthToSpace", 28, "only the context-dependent function body changed (case 3)")
        rules += OpsetRule.attributesAdded("Range", 27, [("stash_type", .int(1))], "stash_type sets the precision of the computation (case 3)")
        return rules
    }
}
