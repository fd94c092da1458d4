import KilnIR

/// Removes nodes that compute their input unchanged: readers read the input instead. Needs
/// fresh shapes (rules 3-11 compare the inferred input and output types).
///
/// Rules (output `y`, first input `x`; "same type" means the same element type and the same
/// known shape, symbolic dims compared by name, no unknown dim):
/// 1. `Dropout` in inference: opsets 1-11 always (no training input); 12+ when `training_mode` is
///    absent or a constant false. The `mask` output must be unused.
/// 2. `Cast` (and `CastLike`) to the element type `x` already has.
/// 3. `Reshape` whose output has the same type as `x`.
/// 4. `Expand` whose output has the same type as `x`.
/// 5. `Transpose` with the identity permutation (or of rank 0 or 1).
/// 6. `Pad` whose pads are all zero (attribute before opset 11, constant input after).
/// 7. `Slice` with every step 1 whose output has the same type as `x`.
/// 8. `Concat` of a single input.
/// 9. `Split` into a single output.
/// 10. `Mul` or `Div` by a constant of ones, `Add` or `Sub` of a constant of zeros (for Div and
///     Sub only as the second operand), when `y` has the same type as `x`: broadcasting neither
///     grows the shape nor changes the element type.
/// 11. `Squeeze` whose output has the same type as `x`; `Unsqueeze` with a constant empty axes list.
public struct NoOpEliminationPass: Pass {
    public let name = "no-op"
    public let needsShapes = true
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var pairs: [(old: ValueID, new: ValueID)] = []
            let facts = PassFacts(graph)
            for id in graph.order where Self.candidates.contains(graph[node: id].opType) {
                let node = graph[node: id]
                guard node.isDefaultDomain, let x = node.inputs.first ?? nil,
                      let y = node.outputs.first ?? nil,
                      let source = try Self.noOpSource(node, x: x, y: y, facts: facts, scope: scope) else { continue }
                pairs.append((y, source))
            }
            guard !pairs.isEmpty else { return .unchanged }
            let (applied, effect) = try graph.forward(pairs, scope: scope)
            var result = PassResult()
            result.count("no-ops removed", applied)
            result.count("nodes removed", effect.nodesRemoved)
            return result
        }
    }

    static let candidates: Set<String> = [
        PassOp.dropout, PassOp.cast, PassOp.castLike, PassOp.reshape, PassOp.expand, PassOp.squeeze, PassOp.transpose,
        PassOp.pad, PassOp.slice, PassOp.concat, PassOp.split, PassOp.mul, PassOp.add, PassOp.div, PassOp.sub,
        PassOp.unsqueeze,
    ]

    /// The value `node`'s first output always equals, or nil.
    static func noOpSource(_ node: Node, x: ValueID, y: ValueID, facts: PassFacts, scope: GraphScope) throws -> ValueID? {
        var same: Bool { facts.sameTensorType(x, y) }
        let onlyOutput = node.outputs.dropFirst().allSatisfy { facts.isUnused($0, scope: scope) }
        guard onlyOutput else { return nil }
        switch node.opType {
        case PassOp.dropout:  // rule 1
            guard let opset = scope.opset(for: node.domain) else { return nil }
            if opset >= 12, let training = facts.input(node, 2) {
                guard let t = facts.graph.constantTensor(training), t.dataType == .bool,
                      facts.isConstant(training, allEqualTo: 0) else { return nil }
            }
            if opset < 7, (try node.int("is_test", default: 0)) == 0 { return nil }
            return x
        case PassOp.cast:  // rule 2
            guard let to = DataType(rawValue: Int32(truncatingIfNeeded: try node.int("to"))),
                  let tx = facts.elementType(x), tx == to else { return nil }
            return x
        case PassOp.castLike:
            guard let target = facts.input(node, 1), let tx = facts.elementType(x),
                  let tt = facts.elementType(target), tx == tt else { return nil }
            return x
        case PassOp.reshape, PassOp.expand, PassOp.squeeze:  // rules 3, 4, 11
            return same ? x : nil
        case PassOp.transpose:  // rule 5
            if let perm = node.attribute("perm") {
                let p = try node.ints(perm.name)
                return p.enumerated().allSatisfy { $0.offset == Int($0.element) } ? x : nil
            }
            guard let d = facts.dims(x), d.count <= 1 else { return nil }
            return x
        case PassOp.pad:  // rule 6
            let pads: [Int64]?
            if let opset = scope.opset(for: node.domain), opset < 11 {
                pads = try node.ints("pads")
            } else {
                pads = facts.input(node, 1).flatMap(facts.ints)
            }
            guard let pads, pads.allSatisfy({ $0 == 0 }) else { return nil }
            return x
        case PassOp.slice:  // rule 7
            guard same else { return nil }
            if let opset = scope.opset(for: node.domain), opset >= 10, let steps = facts.input(node, 4) {
                guard let s = facts.ints(steps), s.allSatisfy({ $0 == 1 }) else { return nil }
            }
            return x
        case PassOp.concat:  // rule 8
            return node.inputs.count == 1 ? x : nil
        case PassOp.split:  // rule 9
            return node.outputs.count == 1 ? x : nil
        case PassOp.mul, PassOp.add, PassOp.div, PassOp.sub:  // rule 10
            let identity: Double = node.opType == PassOp.mul || node.opType == PassOp.div ? 1 : 0
            let commutes = node.opType == PassOp.mul || node.opType == PassOp.add
            guard node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1] else { return nil }
            if facts.isConstant(b, allEqualTo: identity), facts.sameTensorType(a, y) { return a }
            if commutes, facts.isConstant(a, allEqualTo: identity), facts.sameTensorType(b, y) { return b }
            return nil
        case PassOp.unsqueeze:  // rule 11
            if let axes = facts.input(node, 1) {
                guard let a = facts.ints(axes), a.isEmpty else { return nil }
                return x
            }
            if let attr = node.attribute("axes"), case .ints(let a) = attr.value, a.isEmpty { return x }
            return nil
        default:
            return nil
        }
    }
}
