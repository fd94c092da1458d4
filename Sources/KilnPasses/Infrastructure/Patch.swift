import KilnIR

/// A change to one graph, built by a pattern or pass without touching the graph, then applied by
/// `Graph.apply(_:anchor:scope:)`. It can add initializers and nodes, redirect the uses of existing
/// values to new or existing ones, and the driver then removes whatever became dead.
///
/// New nodes are inserted before the anchor (the matched root). A pattern roots at the last node it
/// matches, so every value its new nodes read is defined before the anchor.
public struct Patch: Sendable {
    /// A value in a patch: one that exists in the graph, or one the patch creates.
    public enum Ref: Hashable, Sendable {
        case existing(ValueID)
        case new(Int)
    }

    enum NewValue: Sendable {
        case initializer(name: String, tensor: Tensor)
        case nodeOutput(node: Int, slot: Int)
    }

    struct NewNode: Sendable {
        var node: Node
        var inputs: [Ref?]
        var outputNames: [String]
        var outputTypes: [ValueType?]
    }

    var values: [NewValue] = []
    var nodes: [NewNode] = []
    var replacements: [(old: ValueID, new: Ref)] = []
    /// Existing nodes to remove even if the driver's dead-code sweep would keep them (their outputs
    /// must be unused once the replacements are done).
    var removals: [NodeID] = []

    public init() {}

    public var isEmpty: Bool { nodes.isEmpty && replacements.isEmpty && removals.isEmpty && values.isEmpty }

    /// A new initializer named from `base` (made unique when applied).
    public mutating func initializer(_ base: String, _ tensor: Tensor) -> Ref {
        values.append(.initializer(name: base, tensor: tensor))
        return .new(values.count - 1)
    }

    /// A new node; returns its outputs. `outputs` are base names for the new values (made unique when
    /// applied); `types` optionally gives their types.
    @discardableResult
    public mutating func node(
        _ opType: String, domain: String = "", name: String, inputs: [Ref?],
        attributes: [Attribute] = [], outputs: [String], types: [ValueType?]? = nil
    ) -> [Ref] {
        var n = Node(opType: opType, domain: domain, name: name, attributes: attributes)
        n.name = name
        let index = nodes.count
        nodes.append(NewNode(node: n, inputs: inputs, outputNames: outputs,
                             outputTypes: types ?? Array(repeating: nil, count: outputs.count)))
        var refs: [Ref] = []
        for slot in outputs.indices {
            values.append(.nodeOutput(node: index, slot: slot))
            refs.append(.new(values.count - 1))
        }
        return refs
    }

    /// Single-output convenience for `node(...)`.
    public mutating func node1(
        _ opType: String, domain: String = "", name: String, inputs: [Ref?],
        attributes: [Attribute] = [], output: String, type: ValueType? = nil
    ) -> Ref {
        node(opType, domain: domain, name: name, inputs: inputs, attributes: attributes,
             outputs: [output], types: [type])[0]
    }

    /// Every use of `old` (node inputs and graph outputs) reads `new` instead. A graph output keeps
    /// its name: the driver renames `new` to it (or adds an Identity when it cannot).
    public mutating func replace(_ old: ValueID, with new: Ref) {
        replacements.append((old, new))
    }

    /// Removes `node` (whose outputs must be unused after the replacements).
    public mutating func remove(_ node: NodeID) {
        removals.append(node)
    }
}

/// What applying a patch did.
public struct PatchEffect: Sendable {
    public var nodesAdded = 0
    public var nodesRemoved = 0
    public var initializersAdded = 0
    public var initializersRemoved = 0
}

extension Graph {
    /// Applies `patch`, inserting new nodes before `anchor` (or at the end when nil), then removes
    /// nodes and initializers that became dead. Validates first: a replaced value captured by a
    /// subgraph, or a replacement that would leave a graph output nameless, throws and leaves the
    /// graph unchanged.
    @discardableResult
    public mutating func apply(_ patch: Patch, anchor: NodeID?, scope: GraphScope) throws -> PatchEffect {
        for (old, _) in patch.replacements where scope.captured.contains(name(of: old)) {
            throw KilnError(.invalidGraph, "patch replaces '\(name(of: old))', which a subgraph reads by name")
        }
        var effect = PatchEffect()
        var ids = [ValueID?](repeating: nil, count: patch.values.count)
        func resolve(_ r: Patch.Ref?) -> ValueID? {
            guard let r else { return nil }
            switch r {
            case .existing(let v): return v
            case .new(let i): return ids[i]
            }
        }
        // 1. initializers
        for (i, v) in patch.values.enumerated() {
            if case .initializer(let base, let tensor) = v {
                ids[i] = try addInitializer(named: uniqueName(base), tensor)
                effect.initializersAdded += 1
            }
        }
        // 2. nodes, in patch order, before the anchor
        var outputSlots: [[Int]] = Array(repeating: [], count: patch.nodes.count)
        for (i, v) in patch.values.enumerated() {
            if case .nodeOutput(let n, _) = v { outputSlots[n].append(i) }
        }
        for (k, spec) in patch.nodes.enumerated() {
            var outs: [ValueID?] = []
            for (slot, base) in spec.outputNames.enumerated() {
                if base.isEmpty { outs.append(nil); continue }
                let id = try addValue(named: uniqueName(base), type: spec.outputTypes[slot])
                outs.append(id)
            }
            for (slot, valueIndex) in outputSlots[k].enumerated() { ids[valueIndex] = outs[slot] }
            try addNode(spec.node, inputs: spec.inputs.map(resolve), outputs: outs,
                        at: anchor.map { .before($0) } ?? .end)
            effect.nodesAdded += 1
        }
        // 3. replacements; graph outputs keep their names
        var renames: [(value: ValueID, name: String, type: ValueType?)] = []
        var seeds = Set(patch.removals)
        var touched: [ValueID] = []
        for (old, ref) in patch.replacements {
            guard let new = resolve(ref) else { continue }
            if old == new { continue }
            let wasOutput = isGraphOutput(old)
            replaceAllUses(of: old, with: new, includingGraphOutputs: true)
            if wasOutput { renames.append((new, name(of: old), self[value: old].type)) }
            if let p = producer(of: old) { seeds.insert(p) } else { touched.append(old) }
        }
        // 4. explicit removals and dead code (only around what the patch touched); 5. graph output names
        let removed = try removeDead(seeds: seeds, touched: touched, renames: renames, scope: scope)
        effect.nodesRemoved = removed.nodesRemoved
        effect.initializersRemoved = removed.initializersRemoved
        return effect
    }

    /// Gives graph output `value` the name `wanted` (freed by removing the node that made the old
    /// value) and the old output's declared `type` (graph outputs keep their types): renames it when
    /// only this graph knows the name, otherwise adds an Identity.
    mutating func restoreOutputName(_ value: ValueID, to wanted: String, type: ValueType?, scope: GraphScope) throws {
        guard name(of: value) != wanted else {
            if let type { self[value: value].type = type }
            return
        }
        if let holder = valueID(named: wanted), holder != value {
            // The old value outlived the patch (another output of its node is still used): free the
            // name, since the graph output must keep it.
            guard self[value: holder].uses.isEmpty, !isGraphOutput(holder), !isGraphInput(holder) else { return }
            try rename(holder, to: uniqueName(wanted + "_unused"))
        }
        let v = self[value: value]
        // A node output or, in the main graph, a true constant (an initializer that is not a graph
        // input: a main-graph output may be an initializer, as onnx and onnxruntime allow; a
        // subgraph's may not) takes the name itself.
        let renamable = (v.producer != nil || (v.isConstant && scope.isMain)) && !isGraphInput(value)
            && outputs.filter({ $0 == value }).count == 1 && !scope.captured.contains(v.name)
        if renamable {
            try rename(value, to: wanted)
            if v.isConstant { self[value: value].initializer?.name = wanted }
            if let type { self[value: value].type = type }
            return
        }
        let out = try addValue(named: wanted, type: type ?? v.type)
        try addNode(Node(opType: OpType.identity, name: wanted + "_identity"), inputs: [value], outputs: [out], at: .end)
        if let slot = outputs.firstIndex(of: value) {
            var outs = outputs
            outs[slot] = out
            setOutputs(outs)
        }
    }

    /// Nodes none of whose outputs is used, listed as a graph output or read by a subgraph.
    /// With `seeds`, only those nodes and, transitively, the producers of nodes found dead; without,
    /// every such node of the graph (one sweep in reverse order).
    public func deadNodes(startingFrom seeds: Set<NodeID>? = nil, captured: Set<String>) -> Set<NodeID> {
        var dead = Set<NodeID>()
        let outputSet = Set(outputs)
        func isDead(_ id: NodeID) -> Bool {
            for o in self[node: id].outputs {
                guard let o else { continue }
                if outputSet.contains(o) || captured.contains(name(of: o)) { return false }
                for u in self[value: o].uses where !dead.contains(u.node) { return false }
            }
            return true
        }
        guard let seeds else {
            for id in order.reversed() where isDead(id) { dead.insert(id) }
            return dead
        }
        var queue = Array(seeds).sorted()
        while let id = queue.popLast() {
            guard contains(id), !dead.contains(id), isDead(id) else { continue }
            dead.insert(id)
            for v in self[node: id].inputs {
                if let v, let p = producer(of: v), !dead.contains(p) { queue.append(p) }
            }
        }
        return dead
    }

    /// Removes the initializers among `candidates` (all of them when nil) that nothing reads and that
    /// are not graph inputs or outputs, nor read by a subgraph. Returns how many.
    @discardableResult
    public mutating func removeUnusedInitializers(_ candidates: [ValueID]? = nil, captured: Set<String>) -> Int {
        var dead = Set<ValueID>()
        let io = Set(inputs).union(outputs)
        for id in candidates ?? (initializerOrder + sparseInitializerOrder) where !dead.contains(id) {
            guard contains(id), isConstant(id) else { continue }
            let v = self[value: id]
            if v.uses.isEmpty && !io.contains(id) && !captured.contains(v.name) { dead.insert(id) }
        }
        try? removeValues(dead)
        return dead.count
    }
}
