import KilnIR
import KilnOpset

extension ShapeInference {
    /// The known elements of the small integer values of one graph (data propagation: shapes,
    /// sizes and the integer arithmetic on them), by value. Reads the value types already in the
    /// graph (run `infer` first) and runs the rules of the nodes with an integer output of rank 0
    /// or 1 only, in graph order; names read from outer scopes are unknown. For shape folding.
    public func propagatedValues(in graph: Graph, opsets: [String: Int]) -> [ValueID: [SymDim]] {
        var values: [ValueID: [SymDim]] = [:]
        var tensors: [ValueID: Tensor] = [:]
        for id in graph.initializerOrder where !graph.inputs.contains(id) {
            let t = graph[value: id].initializer!
            tensors[id] = t
            if let ints = t.integerValues(limit: NodeContext.maxPropagatedElements) {
                values[id] = ints.map(SymDim.constant)
            }
        }
        func isSmallInteger(_ v: ValueID) -> Bool {
            guard let type = graph[value: v].type, case .tensor(let t?, let s?) = type.kind, s.rank <= 1 else { return false }
            switch t {
            case .int64, .int32, .int16, .int8, .uint64, .uint32, .uint16, .uint8: return true
            default: return false
            }
        }
        for id in graph.order {
            let node = graph[node: id]
            guard !node.hasSubgraphs, node.outputs.contains(where: { $0.map(isSmallInteger) ?? false }) else { continue }
            let domain = OperatorDomain.canonical(node.domain)
            let opset = opsets[domain] ?? 0
            guard let rule = rules.rule(domain: domain, op: node.opType, opset: opset) else { continue }
            var ctx = NodeContext(
                node: node, opset: opset,
                // An initializer's type is its tensor's (initializers need not be listed in value_info).
                inputTypes: node.inputs.map { v in
                    v.flatMap { v in
                        if let t = tensors[v] { return InferredType(ValueType.tensor(t.dataType, Shape(static: t.dims))) }
                        return graph[value: v].type.map(InferredType.init)
                    }
                },
                inputValues: node.inputs.map { $0.flatMap { values[$0] } },
                inputTensors: node.inputs.map { $0.flatMap { tensors[$0] } })
            guard (try? rule(&ctx)) != nil else { continue }
            for (k, slot) in node.outputs.enumerated() {
                if let out = slot, let v = ctx.outputValues[k] { values[out] = v }
            }
        }
        return values
    }
}
