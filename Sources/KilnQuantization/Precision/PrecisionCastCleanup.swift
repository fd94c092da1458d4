import KilnIR

extension PrecisionGraph {
    /// Removes Casts that do nothing, after the rewrite:
    /// 1. `Cast(Cast(x: A, to: B), to: A)` where A -> B is exact (float16 or bfloat16 to float32 or
    ///    double, float32 to double): readers of the outer Cast read `x`; the inner Cast goes too
    ///    when nothing else reads it.
    /// 2. A Cast whose input already has the type `to` (a `Cast(to: float)` of a value that
    ///    became float16 and was switched to `to: float16` with it): readers read its input.
    /// A Cast whose output is a graph output or is read by a subgraph by name stays.
    /// Returns the number of Casts removed.
    func removeCancellingCasts() throws -> Int {
        var captured = Set<String>()
        for id in graph.order { for c in children[id] ?? [] { captured.formUnion(c.work.graph.outerScopeReferences) } }
        let outputs = Set(graph.outputs)
        func pinned(_ v: ValueID) -> Bool { outputs.contains(v) || captured.contains(graph.name(of: v)) }
        var removed = 0
        for id in graph.order where graph.contains(id) {
            guard let (x, out, to) = castParts(id), !pinned(out) else { continue }
            var source: ValueID?
            if elementType(x) == to {
                source = x
            } else if let p = graph.producer(of: x), let (y, _, _) = castParts(p), elementType(y) == to,
                      let mid = elementType(x), Self.isExactWidening(from: to, to: mid) {
                source = y
            }
            guard let s = source else { continue }
            graph.replaceAllUses(of: out, with: s)
            try graph.removeNode(id)
            removed += 1
            if let p = graph.producer(of: x), castParts(p) != nil, graph[value: x].uses.isEmpty, !pinned(x) {
                try graph.removeNode(p)
                removed += 1
            }
        }
        return removed
    }

    /// Input, output and target type of a default-domain Cast node.
    private func castParts(_ id: NodeID) -> (ValueID, ValueID, DataType)? {
        let n = graph[node: id]
        guard n.opType == "Cast", n.domain.isEmpty || n.domain == "ai.onnx",
              let x = n.inputs.first ?? nil, let out = n.outputs.first ?? nil,
              let raw = try? n.int("to"), let to = DataType(rawValue: Int32(truncatingIfNeeded: raw)) else { return nil }
        return (x, out, to)
    }

    /// The element type of a value after the rewrite.
    func elementType(_ v: ValueID) -> DataType? {
        if let c = chosen[v] { return c }
        if let t = graph[value: v].type?.tensorElementType { return t }
        if typed.contains(v) { return typed[value: v].type?.tensorElementType }
        return nil
    }

    static func isExactWidening(from a: DataType, to b: DataType) -> Bool {
        switch (a, b) {
        case (.float16, .float), (.float16, .double), (.bfloat16, .float), (.bfloat16, .double), (.float, .double): return true
        default: return false
        }
    }
}
