import KilnIR

/// Gemm, Scatter/ScatterElements/ScatterND, Cast and CastLike.
///
/// Cases:
/// 1. Gemm-11 made C optional: up free; down, a missing C becomes a scalar zero of A's type.
/// 2. Scatter was renamed ScatterElements at 11 (Scatter-11 is removed): up renames; down across
///    ScatterElements' introduction renames back (a negative axis normalized against the rank).
/// 3. ScatterElements/ScatterND-16 added `reduction` (none, add, mul) and 18 added max/min: down
///    refuses a reduction the target lacks.
/// 4. Cast/CastLike-19 added `saturate` and 24 `round_mode`; both apply only to the float8 (and
///    float8e8m0) types those versions add, which the type check refuses below them: dropped.
/// 5. CastLike down across its introduction (15): Cast to the element type of input 1, which
///    must be known.
extension OpsetAdapters {
    static var gemm: [OpsetRule] {
        [
            .unchanged("Gemm", 11, .up, "opset 11 makes C optional (case 1)"),
            .adapter("Gemm", 11, .down, "missing C -> scalar zero of A's type (case 1)") { rw, id in
                guard rw.input(id, 2) == nil else { return }
                guard let type = rw.elementType(rw.input(id, 0)) else {
                    throw rw.refusal(id, "C is missing and A's element type is unknown, so no zero C can be made")
                }
                let zero = try OpsetAdapters.scalar(0, type, rw, id)
                rw.setInput(id, 2, try rw.addConstant(zero, named: "\(rw.graph[node: id].name)_zero_c", before: id))
            },
        ]
    }

    static var scatter: [OpsetRule] {
        var rules: [OpsetRule] = [
            .adapter("Scatter", 11, .up, "renamed ScatterElements (case 2)") { rw, id in
                rw.graph[node: id].opType = "ScatterElements"
            },
            .expansion("ScatterElements", 11, "renamed Scatter, negative axis normalized (case 2)") { rw, id in
                let axis = try rw.int(id, "axis", default: 0)
                if axis < 0 {
                    let r = try rw.requireRank(id, 0, for: "normalizing axis \(axis)")
                    rw.setAttribute(id, "axis", .int(axis + Int64(r)))
                }
                rw.graph[node: id].opType = "Scatter"
            },
        ]
        for op in ["ScatterElements", "ScatterND"] {
            rules += OpsetRule.attributesAdded(op, 16, [("reduction", .string(Array("none".utf8)))], "reduction add/mul (case 3)")
            rules += OpsetRule.valueAdded(op, 18, attribute: "reduction", values: ["max", "min"], "reduction max/min (case 3)")
        }
        return rules
    }

    static var cast: [OpsetRule] {
        var rules: [OpsetRule] = []
        for op in ["Cast", "CastLike"] {
            for (version, attr) in [(19, "saturate"), (24, "round_mode")] {
                rules.append(.unchanged(op, version, .up, "\(attr) applies only to types new at \(version) (case 4)"))
                rules.append(.adapter(op, version, .down, "\(attr) dropped; the types it applies to are refused (case 4)") { rw, id in
                    rw.removeAttribute(id, attr)
                })
            }
        }
        rules.append(.expansion("CastLike", 15, "Cast to input 1's element type (case 5)") { rw, id in
            guard let target = rw.elementType(rw.input(id, 1)) else {
                throw rw.refusal(id, "expanding CastLike needs the element type of input 1, which is unknown")
            }
            rw.removeAttribute(id, "saturate")
            rw.clearInput(id, 1)
            rw.graph[node: id].opType = "Cast"
            rw.setAttribute(id, "to", .int(Int64(target.rawValue)))
            rw.pending.append(id)
        })
        return rules
    }
}
