import KilnIR

/// Pairs the nodes of two graphs even when tensor and node names changed.
///
/// Rules, applied in this order:
/// 1. Fingerprints: a node's fingerprint hashes its operator, attributes and where each input comes
///    from (a graph input by name, an initializer by content, another node by that node's
///    fingerprint). Nodes with equal fingerprints are identical up to names; they pair first, in
///    graph order.
/// 2. Forward: the remaining nodes of A, in graph order, pair with a node of B with the same operator
///    reading the partners of their producers. A producer in A with no partner (a node a rewrite
///    removed, such as a BatchNormalization folded into its Conv) is looked through along its first
///    data input, up to four steps, so the nodes after a fused region still pair. Candidates read
///    the partner directly; a direct match scores above one found by looking through. Ties go to the
///    same name, then the nearest relative position.
/// 3. Backward: a node still alone pairs with the same-operator producer feeding the same input slot
///    of its consumer's partner. Then rule 2 runs once more, now also looking through up to four
///    unpaired nodes of B (nodes a rewrite inserted, such as QuantizeLinear/DequantizeLinear).
/// 4. Whatever is left is removed (A) or added (B).
struct GraphAlignment {
    let a: GraphSide
    let b: GraphSide
    private(set) var aToB: [NodeID: NodeID] = [:]
    private(set) var bToA: [NodeID: NodeID] = [:]
    /// A-side nodes paired by rule 1 (identical up to names).
    private(set) var identical: Set<NodeID> = []

    init(_ ga: Graph, _ gb: Graph) {
        let shared = Set(ga.inputs.map { ga.name(of: $0) }).intersection(gb.inputs.map { gb.name(of: $0) })
        a = GraphSide(ga, sharedInputs: shared)
        b = GraphSide(gb, sharedInputs: shared)
        pairByFingerprint()
        pairForward(lookThroughB: false)
        pairBackward()
        pairForward(lookThroughB: true)
    }

    private mutating func pair(_ x: NodeID, _ y: NodeID) {
        aToB[x] = y
        bToA[y] = x
    }

    // Rule 1
    private mutating func pairByFingerprint() {
        var byPrint: [UInt64: [NodeID]] = [:]
        for id in b.order { byPrint[b.fingerprint[id]!, default: []].append(id) }
        var next: [UInt64: Int] = [:]
        for id in a.order {
            let f = a.fingerprint[id]!
            guard let list = byPrint[f] else { continue }
            let k = next[f, default: 0]
            guard k < list.count else { continue }
            next[f] = k + 1
            pair(id, list[k])
            identical.insert(id)
        }
    }

    /// Where input `slot` of `node` comes from, looking through producers with no partner.
    func resolved(_ side: GraphSide, _ node: NodeID, _ slot: Int, paired: [NodeID: NodeID]) -> Source {
        var src = side.source(node, slot)
        var depth = 0
        while case .node(let p, _) = src, paired[p] == nil, depth < 4 {
            guard let k = side.firstDataInput(p) else { break }
            src = side.source(p, k)
            depth += 1
        }
        return src
    }

    func corresponds(_ x: Source, _ y: Source) -> Bool {
        switch (x, y) {
        case (.node(let p, let k), .node(let q, let l)): return k == l && aToB[p] == q
        default: return x == y
        }
    }

    private func score(_ x: NodeID, _ y: NodeID) -> Int {
        let nx = a.graph[node: x], ny = b.graph[node: y]
        var s = 0
        for slot in 0..<min(nx.inputs.count, ny.inputs.count) {
            if corresponds(a.source(x, slot), b.source(y, slot)) {
                s += 5  // the same producer directly: strongest evidence
            } else if corresponds(resolved(a, x, slot, paired: aToB), resolved(b, y, slot, paired: bToA)) {
                s += 2  // the same producer once removed nodes are looked through
            }
        }
        if !nx.name.isEmpty && nx.name == ny.name { s += 1 }
        return s
    }

    // Rule 2
    private mutating func pairForward(lookThroughB: Bool) {
        for x in a.order where aToB[x] == nil {
            let nx = a.graph[node: x]
            var candidates: [NodeID] = []
            var seen = Set<NodeID>()
            func consider(_ y: NodeID) {
                guard bToA[y] == nil, seen.insert(y).inserted else { return }
                if b.graph[node: y].opType == nx.opType && b.graph[node: y].domain == nx.domain { candidates.append(y) }
            }
            var constants: [UInt64] = []
            for slot in nx.inputs.indices {
                switch resolved(a, x, slot, paired: aToB) {
                case .node(let p, let k):
                    guard let q = aToB[p], let v = b.graph[node: q].outputs[safe: k] ?? nil else { continue }
                    b.consumers(of: v, throughUnpaired: bToA, depth: lookThroughB ? 4 : 0).forEach(consider)
                case .input(let key):
                    if let v = b.inputByKey[key] { b.consumers(of: v, throughUnpaired: bToA, depth: 0).forEach(consider) }
                case .constant(let h):
                    constants.append(h)
                default: continue
                }
            }
            // Constants only seed candidates when nothing else does, and only when rare: a scalar
            // shared by thousands of nodes would make the search quadratic.
            if candidates.isEmpty {
                for h in constants {
                    guard let vs = b.constantsByHash[h], vs.count <= 8 else { continue }
                    for v in vs { b.consumers(of: v, throughUnpaired: bToA, depth: 0, limit: 16).forEach(consider) }
                }
            }
            if !nx.name.isEmpty, let y = b.nodeByName[nx.name] { consider(y) }
            var best: (id: NodeID, score: Int, distance: Double)?
            for y in candidates {
                let s = score(x, y)
                guard s > 0 else { continue }
                let d = abs(a.relativePosition(x) - b.relativePosition(y))
                if best == nil || s > best!.score || (s == best!.score && d < best!.distance) { best = (y, s, d) }
            }
            if let best { pair(x, best.id) }
        }
    }

    // Rule 3
    private mutating func pairBackward() {
        for x in a.order.reversed() where aToB[x] == nil {
            let nx = a.graph[node: x]
            search: for (k, out) in nx.outputs.enumerated() {
                guard let out else { continue }
                for use in a.graph[value: out].uses {
                    guard let cy = aToB[use.node] else { continue }
                    let ins = b.graph[node: cy].inputs
                    guard use.index < ins.count, let v = ins[use.index], let y = b.graph.producer(of: v),
                          bToA[y] == nil, b.graph[value: v].producerOutputIndex == k else { continue }
                    let ny = b.graph[node: y]
                    if ny.opType == nx.opType && ny.domain == nx.domain {
                        pair(x, y)
                        break search
                    }
                }
            }
        }
    }
}

/// Where a node input comes from, in terms that survive renaming.
enum Source: Hashable {
    case none
    /// A graph input, by name when both graphs have it, else by position among the inputs.
    case input(String)
    case constant(UInt64)
    case node(NodeID, Int)
    case outer(String)
}

/// One graph prepared for alignment: order, positions, fingerprints, lookups.
struct GraphSide {
    let graph: Graph
    let order: [NodeID]
    private(set) var position: [NodeID: Int] = [:]
    private(set) var fingerprint: [NodeID: UInt64] = [:]
    private(set) var inputKey: [ValueID: String] = [:]
    private(set) var inputByKey: [String: ValueID] = [:]
    private(set) var constantHash: [ValueID: UInt64] = [:]
    private(set) var constantsByHash: [UInt64: [ValueID]] = [:]
    private(set) var nodeByName: [String: NodeID] = [:]

    init(_ graph: Graph, sharedInputs: Set<String>) {
        self.graph = graph
        order = (try? graph.topologicalOrder()) ?? graph.order
        for (i, id) in order.enumerated() { position[id] = i }
        var k = 0
        for id in graph.inputs where !graph.isConstant(id) {
            let name = graph.name(of: id)
            let key = sharedInputs.contains(name) ? name : "#\(k)"
            inputKey[id] = key
            inputByKey[key] = id
            k += 1
        }
        for id in graph.initializerOrder where inputKey[id] == nil {
            let h = graph[value: id].initializer!.contentHash
            constantHash[id] = h
            constantsByHash[h, default: []].append(id)
        }
        for id in order {
            let n = graph[node: id]
            if !n.name.isEmpty && nodeByName[n.name] == nil { nodeByName[n.name] = id }
            var h = StableHash()
            h.combine(n.localKey)
            for slot in n.inputs.indices {
                switch source(id, slot) {
                case .none: h.combine(0)
                case .input(let key): h.combine("in:" + key)
                case .constant(let c): h.combine(c)
                case .node(let p, let s): h.combine(fingerprint[p] ?? 0); h.combine(s)
                case .outer(let name): h.combine("outer:" + name)
                }
            }
            fingerprint[id] = h.value
        }
    }

    func source(_ node: NodeID, _ slot: Int) -> Source {
        let ins = graph[node: node].inputs
        guard slot < ins.count, let v = ins[slot] else { return .none }
        if let key = inputKey[v] { return .input(key) }
        if let h = constantHash[v] { return .constant(h) }
        if let p = graph.producer(of: v) { return .node(p, graph[value: v].producerOutputIndex) }
        return .outer(graph.name(of: v))
    }

    /// The first input slot fed by a node or graph input (not a constant).
    func firstDataInput(_ node: NodeID) -> Int? {
        for (i, v) in graph[node: node].inputs.enumerated() {
            if let v, constantHash[v] == nil { return i }
        }
        return nil
    }

    func relativePosition(_ id: NodeID) -> Double {
        Double(position[id] ?? 0) / Double(max(order.count, 1))
    }

    /// Nodes reading `value`, and (up to `depth` steps) the nodes reading the outputs of readers
    /// that have no partner yet; at most `limit` of them (a value read by thousands of nodes, such
    /// as a shared scalar, must not make the search quadratic).
    func consumers(of value: ValueID, throughUnpaired paired: [NodeID: NodeID], depth: Int, limit: Int = 64) -> [NodeID] {
        var out: [NodeID] = []
        var frontier = [value]
        var seen = Set<NodeID>()
        for level in 0...depth {
            var next: [ValueID] = []
            for v in frontier {
                for u in graph[value: v].uses where seen.insert(u.node).inserted {
                    out.append(u.node)
                    if out.count >= limit { return out }
                    if level < depth && paired[u.node] == nil {
                        next.append(contentsOf: graph[node: u.node].outputs.compactMap { $0 })
                    }
                }
            }
            frontier = next
            if frontier.isEmpty { break }
        }
        return out
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
