import KilnIR
import KilnEvaluator

/// Opset 11 allowed negative axes (counted from the back) in many operators, with no other
/// change to their signatures.
///
/// Cases:
/// 1. Up (10 -> 11): free; non-negative axes mean the same.
/// 2. Down (11 -> 10): negative axis attributes are normalized against the rank (input 0's, or
///    the output's for Unsqueeze and OneHot); unknown rank with a negative axis is refused.
/// 3. Gather down: constant negative indices are normalized against a static axis size, else
///    refused; indices computed at run time are kept (Gather-1 leaves negatives undefined, so a
///    model valid at 11 that feeds non-negative indices means the same).
/// 4. Slice down: constant negative `axes` inputs are normalized into a new constant.
/// 5. Scan down: negative scan axes are refused (the rank of each scan input is per-input).
extension OpsetAdapters {
    /// (op, attribute, extra rank): the rank to normalize against is input 0's plus `extra`.
    static let negativeAxisOps: [(String, String, Int)] = [
        ("ArgMax", "axis", 0), ("ArgMin", "axis", 0), ("Compress", "axis", 0), ("Concat", "axis", 0),
        ("Flatten", "axis", 0), ("Gather", "axis", 0), ("Hardmax", "axis", 0), ("LogSoftmax", "axis", 0),
        ("Softmax", "axis", 0), ("OneHot", "axis", 1), ("Split", "axis", 0), ("Squeeze", "axes", 0),
        ("Unsqueeze", "axes", -1),
        ("ReduceL1", "axes", 0), ("ReduceL2", "axes", 0), ("ReduceLogSum", "axes", 0), ("ReduceLogSumExp", "axes", 0),
        ("ReduceMax", "axes", 0), ("ReduceMean", "axes", 0), ("ReduceMin", "axes", 0), ("ReduceProd", "axes", 0),
        ("ReduceSum", "axes", 0), ("ReduceSumSquare", "axes", 0),
    ]

    static var negativeAxes: [OpsetRule] {
        var rules: [OpsetRule] = []
        for (op, attr, extra) in negativeAxisOps {
            rules.append(.unchanged(op, 11, .up, "opset 11 adds negative \(attr); non-negative values mean the same (case 1)"))
            rules.append(.adapter(op, 11, .down, "negative \(attr) normalized against the rank (case 2)") { rw, id in
                let node = rw.graph[node: id]
                guard let a = node.attribute(attr) else {
                    if op == "Gather" { try gatherIndices(&rw, id, axis: 0) }
                    return
                }
                let values: [Int64]
                switch a.value {
                case .int(let v): values = [v]
                case .ints(let v): values = v
                default: return
                }
                if op == "OneHot", values == [-1] { return }  // OneHot-9 already means the last axis by -1
                guard values.contains(where: { $0 < 0 }) else {
                    if op == "Gather" { try gatherIndices(&rw, id, axis: Int(values[0])) }
                    return
                }
                // Unsqueeze's rank is its output's: input rank + number of axes.
                let r = try rw.requireRank(id, 0, for: "normalizing negative \(attr)")
                let rank = extra < 0 ? r + values.count : r + extra
                // Flatten's axis may equal the rank (everything in the first dimension).
                let fixed = op == "Flatten" ? values.map { $0 < 0 ? $0 + Int64(rank) : $0 }
                    : try rw.normalized(id, values, rank: rank, what: attr)
                if case .int = a.value { rw.setAttribute(id, attr, .int(fixed[0])) } else { rw.setAttribute(id, attr, .ints(fixed)) }
                if op == "Gather" { try gatherIndices(&rw, id, axis: Int(fixed[0])) }
            })
        }
        rules.append(.unchanged("Scan", 11, .up, "opset 11 adds negative scan axes (case 1)"))
        rules.append(.unchanged("Scan", 11, .down, "refuses negative scan axes (case 5)") { rw, id in
            for name in ["scan_input_axes", "scan_output_axes"] {
                if let v = try rw.ints(id, name), v.contains(where: { $0 < 0 }) {
                    throw rw.refusal(id, "\(name) has negative values, which Scan-9 does not allow")
                }
            }
        })
        rules.append(.unchanged("Slice", 11, .up, "opset 11 adds negative axes (case 1)"))
        rules.append(.adapter("Slice", 11, .down, "negative constant axes normalized (case 4)") { rw, id in
            guard let v = rw.input(id, 3) else { return }
            guard let axes = try rw.constantInts(id, 3) else {
                throw rw.refusal(id, "axes input '\(rw.graph.name(of: v))' is computed at run time; Slice-10 needs non-negative axes")
            }
            guard axes.contains(where: { $0 < 0 }) else { return }
            let fixed = try rw.normalized(id, axes, rank: try rw.requireRank(id, 0, for: "normalizing negative axes"), what: "axis")
            rw.setInput(id, 3, try rw.addInts(fixed, named: "\(rw.graph[node: id].name)_axes", before: id))
        })
        return rules
    }

    /// Case 3.
    static func gatherIndices(_ rw: inout OpsetRewriter, _ id: NodeID, axis: Int) throws {
        guard let v = rw.input(id, 1), let t = rw.constant(v) else { return }
        let indices = try TensorValue(t).int64s
        guard indices.contains(where: { $0 < 0 }) else { return }
        guard let dims = rw.shape(rw.input(id, 0))?.dims, axis < dims.count, case .value(let size) = dims[axis] else {
            throw rw.refusal(id, "negative constant indices need a static size of axis \(axis) before opset 11")
        }
        let fixed = indices.map { $0 < 0 ? $0 + size : $0 }
        let tensor: Tensor = t.dataType == .int32
            ? TensorValue(shape: t.dims.map(Int.init), fixed.map(Int32.init)).irTensor()
            : .int64(fixed, dims: t.dims)
        rw.setInput(id, 1, try rw.addConstant(tensor, named: "\(rw.graph[node: id].name)_indices", before: id))
    }
}
