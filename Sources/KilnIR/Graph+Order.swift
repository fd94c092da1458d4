extension Graph {
    /// Node IDs in a topological order: every node after the producers of its inputs. Stable: among
    /// ready nodes the one earliest in the current order comes first, so a sorted graph is unchanged.
    /// Throws naming the nodes on a cycle.
    public func topologicalOrder() throws -> [NodeID] {
        let position = positions()
        var pending: [NodeID: Int] = [:]
        pending.reserveCapacity(order.count)
        var dependents: [NodeID: [NodeID]] = [:]
        for id in order {
            var count = 0
            var seen = Set<NodeID>()
            for producer in dependencies(of: id) where producer != id && seen.insert(producer).inserted {
                count += 1
                dependents[producer, default: []].append(id)
            }
            pending[id] = count
        }
        // Min-heap on original position keeps the order stable.
        var heap = PositionHeap(position: position)
        for id in order where pending[id] == 0 { heap.push(id) }
        var result: [NodeID] = []
        result.reserveCapacity(order.count)
        while let id = heap.pop() {
            result.append(id)
            for d in dependents[id] ?? [] {
                pending[d]! -= 1
                if pending[d] == 0 { heap.push(d) }
            }
        }
        if result.count != order.count {
            let stuck = order.filter { pending[$0]! > 0 }.prefix(5).map { self[node: $0].label }
            throw KilnError(.invalidGraph, "graph '\(name)' has a cycle through: \(stuck.joined(separator: ", "))")
        }
        return result
    }

    /// Sets the node order to `ids`, which must list every live node once (any order, sorted or
    /// not: `isTopologicallySorted` tells). Throws otherwise.
    public mutating func setOrder(_ ids: [NodeID]) throws {
        guard ids.count == order.count, Set(ids) == Set(order) else {
            throw KilnError(.invalidGraph, "setOrder: the new order must list each of the \(order.count) nodes of graph '\(name)' once")
        }
        order = ids
    }

    /// Reorders nodes topologically (see `topologicalOrder`).
    public mutating func sortTopologically() throws {
        order = try topologicalOrder()
    }

    /// Whether every node comes after the producers of its inputs (including values its subgraphs
    /// capture from this graph).
    public var isTopologicallySorted: Bool {
        let position = positions()
        for (i, id) in order.enumerated() {
            for p in dependencies(of: id) where position[p]! >= i && p != id { return false }
        }
        return true
    }

    /// Producers this node depends on: of its inputs and of names its subgraphs capture.
    func dependencies(of id: NodeID) -> [NodeID] {
        let node = self[node: id]
        var out: [NodeID] = []
        for case let v? in node.inputs {
            if let p = self[value: v].producer { out.append(p) }
        }
        if node.hasSubgraphs {
            for a in node.attributes {
                for g in a.subgraphs {
                    for name in g.outerScopeReferences {
                        if let v = nameTable.find(name, in: valueStore), let p = self[value: v].producer { out.append(p) }
                    }
                }
            }
        }
        return out
    }
}

/// A binary min-heap of node IDs keyed by their position.
private struct PositionHeap {
    let position: [NodeID: Int]
    var items: [NodeID] = []

    init(position: [NodeID: Int]) { self.position = position }

    private func key(_ i: Int) -> Int { position[items[i]]! }

    mutating func push(_ id: NodeID) {
        items.append(id)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if key(i) >= key(parent) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> NodeID? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && key(l) < key(m) { m = l }
            if r < items.count && key(r) < key(m) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
