import KilnIR

/// Merges nodes that compute the same thing: the later node's readers read the earlier node's
/// outputs. One pass in graph order with a hash table: linear time.
///
/// Rules:
/// 1. Two nodes are the same computation when they have the same operator (type, domain,
///    overload), the same attributes (names, types and values, in order) and read the same values
///    in the same slots (after earlier merges in this pass), and have the same number of outputs
///    with the same slots present.
/// 2. Non-deterministic operators (`Random*`, `Multinomial`, `Bernoulli`, `Dropout`) are never
///    merged, nor nodes with subgraphs (their bodies may read different outer values by name).
/// 3. Merging follows the driver's rules: an output a subgraph reads by name is not replaced, and
///    a graph output keeps its name (when the earlier output cannot take it, no merge).
public struct CommonSubexpressionEliminationPass: Pass {
    public let name = "cse"
    public init() {}

    struct Key: Hashable {
        var opType: String
        var domain: String
        var overload: String
        var attributes: [Attribute]
        var inputs: [ValueID?]
        var outputSlots: [Bool]
    }

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var seen: [Key: NodeID] = [:]
            var target: [ValueID: ValueID] = [:]
            var pairs: [(old: ValueID, new: ValueID)] = []
            for id in graph.order {
                let node = graph[node: id]
                guard !PassOp.nonDeterministic.contains(node.opType) || !node.isDefaultDomain,
                      !node.hasSubgraphs, !node.outputs.isEmpty else { continue }  // rule 2
                let key = Key(opType: node.opType, domain: node.isDefaultDomain ? "" : node.domain,
                              overload: node.overload, attributes: node.attributes,
                              inputs: node.inputs.map { $0.map { target[$0] ?? $0 } },
                              outputSlots: node.outputs.map { $0 != nil })
                guard let first = seen[key] else { seen[key] = id; continue }
                let kept = graph[node: first].outputs
                var merged: [(ValueID, ValueID)] = []
                for (k, out) in node.outputs.enumerated() {
                    guard let out, let keep = kept[k] else { continue }
                    if !PassFacts(graph).isUnused(out, scope: scope) && !graph.canForward(out, to: keep, scope: scope) {
                        merged = []
                        break
                    }
                    merged.append((out, keep))
                }
                guard !merged.isEmpty else { continue }
                for (o, n) in merged { target[o] = n; pairs.append((o, n)) }
            }
            guard !pairs.isEmpty else { return .unchanged }
            let (applied, effect) = try graph.forward(pairs, scope: scope)
            var result = PassResult()
            result.count("values merged", applied)
            result.count("nodes removed", effect.nodesRemoved)
            return result
        }
    }
}
