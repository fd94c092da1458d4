import KilnIR

/// Attributes that became inputs: Reduce* `axes` (ReduceSum at 13, the others at 18),
/// Squeeze/Unsqueeze `axes` (13), Split `split` (13) and Split `num_outputs` (18).
///
/// Cases:
/// 1. Up: the attribute becomes an int64 constant input in the same slot; absent stays absent.
/// 2. Down: a constant input becomes the attribute; a computed one is refused by name.
/// 3. Reduce down: `noop_with_empty_axes = 1` with no axes is an Identity; otherwise it is dropped.
/// 4. Split-18 up: a node with no `split` input gets `num_outputs` = its output count (18 needs one
///    of the two). Down: `num_outputs` is dropped -- Split-13 then splits evenly into as many
///    outputs, which equals Split-18 when the static axis size divides evenly; when it does not,
///    explicit sizes (ceil, remainder last) are given instead; an axis of unknown size is refused.
extension OpsetAdapters {
    static let reduceAxesMoved: [(String, Int)] = [
        ("ReduceSum", 13), ("ReduceL1", 18), ("ReduceL2", 18), ("ReduceLogSum", 18), ("ReduceLogSumExp", 18),
        ("ReduceMax", 18), ("ReduceMean", 18), ("ReduceMin", 18), ("ReduceProd", 18), ("ReduceSumSquare", 18),
    ]

    static var axesInputs: [OpsetRule] {
        var rules: [OpsetRule] = []
        for (op, v) in reduceAxesMoved {
            rules.append(.adapter(op, v, .up, "axes attribute -> constant input 1 (case 1)") { rw, id in
                try rw.moveAttributeToInput(id, "axes", slot: 1)
            })
            rules.append(.adapter(op, v, .down, "constant axes input -> attribute; noop_with_empty_axes (cases 2, 3)") { rw, id in
                let noop = try rw.int(id, "noop_with_empty_axes", default: 0)
                rw.removeAttribute(id, "noop_with_empty_axes")
                let axes = try rw.constantInts(id, 1)
                if noop == 1, rw.input(id, 1) == nil || axes?.isEmpty == true {
                    rw.clearInput(id, 1)
                    rw.graph[node: id].opType = "Identity"
                    rw.graph[node: id].attributes = []
                    return
                }
                if let axes, axes.isEmpty { rw.clearInput(id, 1); return }
                try rw.moveInputToAttribute(id, slot: 1, "axes")
            })
        }
        for op in ["Squeeze", "Unsqueeze"] {
            rules.append(.adapter(op, 13, .up, "axes attribute -> constant input 1 (case 1)") { rw, id in
                try rw.moveAttributeToInput(id, "axes", slot: 1)
            })
            rules.append(.adapter(op, 13, .down, "constant axes input -> attribute (case 2)") { rw, id in
                try rw.moveInputToAttribute(id, slot: 1, "axes")
            })
        }
        rules.append(.adapter("Split", 13, .up, "split attribute -> constant input 1 (case 1)") { rw, id in
            try rw.moveAttributeToInput(id, "split", slot: 1)
        })
        rules.append(.adapter("Split", 13, .down, "constant split input -> attribute (case 2)") { rw, id in
            try rw.moveInputToAttribute(id, slot: 1, "split")
        })
        rules.append(.adapter("Split", 18, .up, "num_outputs = output count when there is no split input (case 4)") { rw, id in
            if rw.input(id, 1) == nil {
                rw.setAttribute(id, "num_outputs", .int(Int64(rw.graph[node: id].outputs.count)))
            }
        })
        rules.append(.adapter("Split", 18, .down, "num_outputs dropped, or explicit sizes when uneven (case 4)") { rw, id in
            guard let n = rw.graph[node: id].attribute("num_outputs") != nil ? try rw.int(id, "num_outputs") : nil else { return }
            rw.removeAttribute(id, "num_outputs")
            let rank = try rw.requireRank(id, 0, for: "dropping num_outputs")
            let axis = try rw.normalized(id, [try rw.int(id, "axis", default: 0)], rank: rank, what: "axis")[0]
            guard case .value(let size) = rw.shape(rw.input(id, 0))!.dims[Int(axis)] else {
                throw rw.refusal(id, "num_outputs over an axis of unknown size may split unevenly, which Split-13 cannot express")
            }
            guard size % n != 0 else { return }
            let chunk = (size + n - 1) / n
            var sizes = Array(repeating: chunk, count: Int(n))
            sizes[sizes.count - 1] = size - chunk * (n - 1)
            rw.setInput(id, 1, try rw.addInts(sizes, named: "\(rw.graph[node: id].name)_split", before: id))
        })
        return rules
    }
}
