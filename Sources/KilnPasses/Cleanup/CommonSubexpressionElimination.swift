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

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            // Open addressing on the node hash: no key objects, bytes compared only on a hash match.
            var table: [Int: NodeID] = [:]
            var target: [ValueID: ValueID] = [:]
            var pairs: [(old: ValueID, new: ValueID)] = []
            let facts = PassFacts(graph)
            for id in graph.order {
                guard eligible(graph[node: id]) else { continue }  // rule 2
                var slot = hash(graph[node: id], target)
                var first: NodeID? = nil
                while let other = table[slot] {
                    if same(graph[node: other], graph[node: id], target) { first = other; break }
                    slot &+= 1
                }
                guard let first else { table[slot] = id; continue }
                let kept = graph[node: first].outputs
                var merged: [(ValueID, ValueID)] = []
                for (k, out) in graph[node: id].outputs.enumerated() {
                    guard let out, let keep = kept[k] else { continue }
                    if !facts.isUnused(out, scope: scope) && !graph.canForward(out, to: keep, scope: scope) {
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

    func eligible(_ node: Node) -> Bool {
        !(node.isDefaultDomain && PassOp.nonDeterministic.contains(node.opType)) && !node.outputs.isEmpty
            && !node.hasSubgraphs
    }

    /// Rule 1's identity of a computation, hashed (inputs after earlier merges).
    func hash(_ node: Node, _ target: [ValueID: ValueID]) -> Int {
        var h = Hasher()
        h.combine(node.opType)
        h.combine(node.isDefaultDomain ? "" : node.domain)
        h.combine(node.overload)
        h.combine(node.attributes)
        for v in node.inputs { h.combine(v.map { target[$0] ?? $0 }) }
        for o in node.outputs { h.combine(o != nil) }
        return h.finalize()
    }

    /// Rule 1: whether `a` and `b` compute the same values.
    func same(_ a: Node, _ b: Node, _ target: [ValueID: ValueID]) -> Bool {
        guard a.opType == b.opType, a.isDefaultDomain == b.isDefaultDomain, a.isDefaultDomain || a.domain == b.domain,
              a.overload == b.overload, a.inputs.count == b.inputs.count, a.outputs.count == b.outputs.count else { return false }
        for (p, q) in zip(a.inputs, b.inputs) where p.map({ target[$0] ?? $0 }) != q.map({ target[$0] ?? $0 }) { return false }
        for (p, q) in zip(a.outputs, b.outputs) where (p == nil) != (q == nil) { return false }
        return a.attributes == b.attributes
    }
}
