import KilnIR
import KilnAnalysis
import KilnEvaluator

/// Folds what shape inference knows: shapes, sizes and the small integer computations on them.
/// Needs fresh shapes; reads the propagated values of `ShapeInference.propagatedValues`.
///
/// Rules:
/// 1. A node output of integer type and rank 0 or 1 whose elements are all known constants
///    (`Shape` or `Size` of a tensor with static dims, or `Gather`/`Slice`/`Concat`/arithmetic over
///    such values, including the static parts of a partly dynamic shape) becomes an initializer.
///    Non-deterministic operators are never folded.
/// 2. Partial folding: a `Reshape` whose target shape is computed (not a constant) but whose
///    elements inference knows symbolically gets a constant target instead: a known number stays
///    as it is; an element equal to the input's dimension at the same index becomes 0 ("copy",
///    only when `allowzero` is 0); at most one other element becomes -1 (the remaining size, exact
///    since every other element is exact). The computation that made the old target is removed
///    when nothing else reads it. Not applied when two elements would need -1.
public struct ShapeFoldingPass: Pass {
    public let name = "shape-folding"
    public let needsShapes = true
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            try fold(&graph, scope: scope)
        }
    }

    func fold(_ graph: inout Graph, scope: GraphScope) throws -> PassResult {
        let values = ShapeInference().propagatedValues(in: graph, opsets: scope.opsets)
        guard !values.isEmpty else { return .unchanged }
        var items: [(value: ValueID, tensor: Tensor)] = []
        var reshapes: [(node: NodeID, target: [Int64])] = []
        var result = PassResult()
        for id in graph.order {
            let node = graph[node: id]
            if node.isDefaultDomain && (PassOp.nonDeterministic.contains(node.opType)
                || node.opType == OpType.identity || node.opType == OpType.constant) { continue }
            // Rule 1.
            for case let out? in node.outputs where !graph.isConstant(out) {
                guard let elements = values[out], let tensor = constantTensor(out, elements, graph) else { continue }
                items.append((out, tensor))
            }
            // Rule 2.
            if node.isDefaultDomain, node.opType == PassOp.reshape, node.inputs.count >= 2,
               let x = node.inputs[0], let s = node.inputs[1], !graph.isConstant(s), values[s].map(isFullyConstant) != true,
               let target = symbolicTarget(node, x: x, elements: values[s], graph: graph) {
                reshapes.append((id, target))
            }
        }
        if !items.isEmpty {
            let (replaced, effect) = try graph.replaceWithConstants(items, scope: scope)
            result.count("values folded", replaced)
            result.count("nodes removed", effect.nodesRemoved)
        }
        var seeds = Set<NodeID>()
        var touched: [ValueID] = []
        for (id, target) in reshapes where graph.contains(id) {
            guard let old = graph[node: id].inputs[1], !graph.isConstant(old) else { continue }
            let base = graph.name(of: old)
            let fresh = graph.uniqueName(base + "_folded")
            let c = try graph.addInitializer(named: fresh, .int64(target, dims: [Int64(target.count)], name: fresh))
            graph.setInput(of: id, at: 1, to: c)
            if let p = graph.producer(of: old) { seeds.insert(p) } else { touched.append(old) }
            result.count("reshapes given a constant shape")
        }
        if !seeds.isEmpty {
            let dead = graph.deadNodes(startingFrom: seeds, captured: scope.captured)
            for d in dead { for v in graph[node: d].inputs { if let v { touched.append(v) } } }
            try graph.removeNodes(dead)
            result.count("nodes removed", dead.count)
            graph.removeUnusedInitializers(touched, captured: scope.captured)
        }
        return result
    }

    func isFullyConstant(_ e: [SymDim]) -> Bool { e.allSatisfy { $0.constantValue != nil } }

    /// The initializer for an integer value whose elements are all known (rule 1).
    func constantTensor(_ v: ValueID, _ elements: [SymDim], _ graph: Graph) -> Tensor? {
        guard let type = graph[value: v].type, let dt = type.tensorElementType,
              let dims = type.tensorShape?.staticValues, dims.count <= 1,
              Int(dims.reduce(1, *)) == elements.count else { return nil }
        var ints: [Int64] = []
        for e in elements { guard let c = e.constantValue else { return nil }; ints.append(c) }
        switch dt {
        case .int64: return .int64(ints, dims: dims)
        case .int32:
            guard ints.allSatisfy({ Int64(Int32.min)...Int64(Int32.max) ~= $0 }) else { return nil }
            return TensorValue(shape: dims.map { Int($0) }, ints.map { Int32($0) }).irTensor()
        default: return nil
        }
    }

    /// The constant target for a Reshape whose target elements are known symbolically (rule 2).
    func symbolicTarget(_ node: Node, x: ValueID, elements: [SymDim]?, graph: Graph) -> [Int64]? {
        guard let elements, !elements.isEmpty else { return nil }
        let allowZero = ((try? node.int("allowzero", default: 0)) ?? 0) != 0
        let inputDims = graph[value: x].type?.tensorShape?.dims.map(SymDim.init)
        var target: [Int64] = []
        var inferred = 0
        for (i, e) in elements.enumerated() {
            if let c = e.constantValue {
                if c == -1 { inferred += 1 }
                target.append(c)
            } else if !allowZero, !e.isUnknown, let d = inputDims, i < d.count, d[i] == e {
                target.append(0)
            } else {
                inferred += 1
                target.append(-1)
            }
        }
        return inferred <= 1 ? target : nil
    }
}
