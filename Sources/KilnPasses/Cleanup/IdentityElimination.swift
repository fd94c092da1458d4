import KilnIR

/// Removes `Identity` nodes: their readers read the input instead.
///
/// Rules:
/// 1. Every use of an Identity's output reads its input.
/// 2. A graph output keeps its name: the input value (a node output or an initializer) is renamed
///    to it. When the input cannot take the name (a graph input, another graph output, or a value a
///    subgraph reads by name), the Identity stays: it is what gives the output its name.
/// 3. An output a subgraph reads by name is never replaced.
public struct IdentityEliminationPass: Pass {
    public let name = "identity"
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var pairs: [(old: ValueID, new: ValueID)] = []
            for id in graph.order where graph[node: id].opType == OpType.identity {
                let node = graph[node: id]
                guard node.opType == OpType.identity, node.domain.isEmpty || node.domain == "ai.onnx",
                      node.inputs.count == 1, let x = node.inputs[0],
                      node.outputs.count == 1, let y = node.outputs[0] else { continue }
                pairs.append((y, x))  // rules 2 and 3 are checked by `forward` (canForward)
            }
            guard !pairs.isEmpty else { return .unchanged }
            let (applied, effect) = try graph.forward(pairs, scope: scope)
            var result = PassResult()
            result.count("identities removed", applied)
            result.count("nodes removed", effect.nodesRemoved)
            return result
        }
    }
}
