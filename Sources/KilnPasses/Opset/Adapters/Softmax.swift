import KilnIR

/// Softmax, LogSoftmax and Hardmax at 13: before, the input was coerced to 2-D at `axis`
/// (default 1) and the operator ran over the flattened trailing block; from 13 it runs over the
/// single axis `axis` (default -1).
///
/// Cases:
/// 1. Both meanings agree when the axis is the last one: the axis is just written explicitly.
/// 2. Up with another axis `a`: Flatten(axis a) -> op(axis -1) -> Reshape(to Shape(x)) computes
///    the old meaning at 13 (works without knowing the rank).
/// 3. Down with another axis `a` of a rank-r input: swap `a` and the last axis with a Transpose,
///    run the op on the last axis, swap back (a swap is its own inverse).
extension OpsetAdapters {
    static var softmax: [OpsetRule] {
        var rules: [OpsetRule] = []
        for op in ["Softmax", "LogSoftmax", "Hardmax"] {
            rules.append(.adapter(op, 13, .up, "coerce-to-2-D axis kept exact: explicit last axis, or Flatten/Reshape wrap (cases 1, 2)") { rw, id in
                let axis = try rw.int(id, "axis", default: 1)
                let rank = rw.rank(rw.input(id, 0))
                if axis == -1 || (rank != nil && (axis == Int64(rank! - 1) || axis + Int64(rank!) == Int64(rank! - 1))) {
                    rw.setAttribute(id, "axis", .int(-1))
                    return
                }
                guard let x = rw.input(id, 0) else { throw rw.refusal(id, "input 0 is empty") }
                let base = rw.graph[node: id].name
                let (_, shape) = try rw.addNode("Shape", [x], named: "\(base)_shape", before: id,
                                                types: [rank.map { .tensor(.int64, Shape(static: [Int64($0)])) }])
                let (_, flat) = try rw.addNode("Flatten", [x], attributes: [Attribute("axis", .int(axis))],
                                               named: "\(base)_flat", before: id)
                rw.setInput(id, 0, flat[0])
                rw.setAttribute(id, "axis", .int(-1))
                let (old, new) = try rw.detachOutput(id, 0, named: "\(base)_2d")
                try rw.addNode("Reshape", [new, shape[0]], producing: [old], named: "\(base)_unflat", after: id)
            })
            rules.append(.adapter(op, 13, .down, "single axis kept exact: last axis, or Transpose wrap (cases 1, 3)") { rw, id in
                let axis = try rw.int(id, "axis", default: -1)
                if axis == -1 { rw.setAttribute(id, "axis", .int(-1)); return }
                let rank = try rw.requireRank(id, 0, for: "\(op) on axis \(axis)")
                let a = try rw.normalized(id, [axis], rank: rank, what: "axis")[0]
                if a == Int64(rank - 1) { rw.setAttribute(id, "axis", .int(a)); return }
                guard let x = rw.input(id, 0) else { throw rw.refusal(id, "input 0 is empty") }
                var perm = (0..<Int64(rank)).map { $0 }
                perm.swapAt(Int(a), rank - 1)
                let base = rw.graph[node: id].name
                let (_, moved) = try rw.addNode("Transpose", [x], attributes: [Attribute("perm", .ints(perm))],
                                                named: "\(base)_to_last", before: id)
                rw.setInput(id, 0, moved[0])
                rw.setAttribute(id, "axis", .int(Int64(rank - 1)))
                let (old, new) = try rw.detachOutput(id, 0, named: "\(base)_last")
                try rw.addNode("Transpose", [new], producing: [old], attributes: [Attribute("perm", .ints(perm))],
                               named: "\(base)_from_last", after: id)
            })
        }
        return rules
    }
}
