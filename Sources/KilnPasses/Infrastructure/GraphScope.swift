import KilnIR

/// Where a graph sits in the model, for passes that walk every graph.
public struct GraphScope: Sendable {
    /// The model's opset version of the default domain (`ai.onnx`).
    public var opset: Int
    /// Opset versions by domain (`""` for `ai.onnx`).
    public var opsets: [String: Int]
    /// 0 for the main graph, 1 for a subgraph of one of its nodes, ...
    public var depth: Int
    /// Names of values of this graph that nested subgraphs read from the outer scope. Such a value
    /// is used even when no node input lists it: it may not be removed, replaced or renamed.
    public var captured: Set<String>

    public var isMain: Bool { depth == 0 }

    /// The opset version of `domain` (`""` and `"ai.onnx"` are the same domain).
    public func opset(for domain: String) -> Int? {
        opsets[domain == "ai.onnx" ? "" : domain]
    }
}

extension Model {
    /// The opset versions this model imports, by domain (`""` for `ai.onnx`).
    public var opsetTable: [String: Int] {
        var t: [String: Int] = [:]
        for o in opsetImports { t[o.domain == "ai.onnx" ? "" : o.domain] = Int(o.version) }
        return t
    }

    /// Runs `body` on every graph of the model: subgraphs (If/Loop/Scan bodies, nested at any
    /// depth) before the graph that holds them, then the main graph. Merges the results.
    /// Function bodies are left alone (they are templates; their callers are optimized).
    @discardableResult
    public mutating func transformGraphs(
        _ body: (inout Graph, GraphScope) throws -> PassResult
    ) rethrows -> PassResult {
        let opsets = opsetTable
        let base = GraphScope(opset: opsets[""] ?? 1, opsets: opsets, depth: 0, captured: [])
        return try Self.transform(&graph, scope: base, body)
    }

    private static func transform(
        _ graph: inout Graph, scope: GraphScope,
        _ body: (inout Graph, GraphScope) throws -> PassResult
    ) rethrows -> PassResult {
        var result = PassResult()
        var captured = Set<String>()
        for id in graph.order where graph[node: id].hasSubgraphs {
            for i in graph[node: id].attributes.indices {
                var inner = scope
                inner.depth += 1
                inner.captured = []
                switch graph[node: id].attributes[i].value {
                case .graph(var g):
                    result.merge(try transform(&g, scope: inner, body))
                    captured.formUnion(g.outerScopeReferences)
                    graph[node: id].attributes[i].value = .graph(g)
                case .graphs(var gs):
                    for k in gs.indices {
                        result.merge(try transform(&gs[k], scope: inner, body))
                        captured.formUnion(gs[k].outerScopeReferences)
                    }
                    graph[node: id].attributes[i].value = .graphs(gs)
                default:
                    continue
                }
            }
        }
        var here = scope
        here.captured = captured
        result.merge(try body(&graph, here))
        return result
    }
}

extension Graph {
    /// Whether the value read by input `index` of `node` is a true constant.
    public func isConstantInput(_ node: NodeID, _ index: Int) -> Bool {
        let ins = self[node: node].inputs
        guard index < ins.count, let v = ins[index] else { return false }
        return constantTensor(v) != nil
    }

    /// The node producing input `index` of `node`, if any.
    public func producer(ofInput index: Int, of node: NodeID) -> NodeID? {
        let ins = self[node: node].inputs
        guard index < ins.count, let v = ins[index] else { return nil }
        return producer(of: v)
    }

    /// Number of input slots reading `id` (a node reading it twice counts twice).
    public func useCount(_ id: ValueID) -> Int { self[value: id].uses.count }
}
