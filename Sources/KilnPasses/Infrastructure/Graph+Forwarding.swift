import KilnIR

/// The batch driver: many "every use of X reads Y now" edits at once, then one dead-code sweep.
/// Passes that touch thousands of nodes (identity and no-op removal, CSE, folding) use it instead of
/// one `Patch` per node, so a pass stays linear in the size of the graph.
extension Graph {
    /// Whether every use of `old` may read `new` instead: `old` is not read by a subgraph by name,
    /// and when `old` is a graph output, `new` can take over its name (a node output, or in the
    /// main graph a true constant, that is not a graph input, graph output or captured value). Forwarding a graph
    /// output to a value that cannot take its name would only put an Identity back.
    public func canForward(_ old: ValueID, to new: ValueID, scope: GraphScope) -> Bool {
        guard old != new, !scope.captured.contains(name(of: old)) else { return false }
        guard isGraphOutput(old) else { return true }
        let v = self[value: new]
        return (v.producer != nil || (v.isConstant && scope.isMain)) && !isGraphInput(new) && !isGraphOutput(new)
            && !scope.captured.contains(v.name)
    }

    /// Applies `pairs` in order: every use of `old` (node inputs and graph outputs) reads `new`,
    /// where `new` is first resolved through the earlier pairs (so chains `a -> b -> c` collapse).
    /// A pair `canForward` refuses is skipped. Then removes the nodes and initializers that became
    /// dead, and gives graph outputs back their names. Returns how many pairs were applied and what
    /// was removed.
    @discardableResult
    public mutating func forward(_ pairs: [(old: ValueID, new: ValueID)], scope: GraphScope) throws
        -> (applied: Int, effect: PatchEffect)
    {
        try forward(pairs, scope: scope, identityForOutputs: false)
    }

    /// `forward`; with `identityForOutputs`, a graph output may also be forwarded to a value that
    /// cannot take its name (an initializer, say): an Identity then gives it the name.
    mutating func forward(_ pairs: [(old: ValueID, new: ValueID)], scope: GraphScope, identityForOutputs: Bool) throws
        -> (applied: Int, effect: PatchEffect)
    {
        var target: [ValueID: ValueID] = [:]
        func resolve(_ v: ValueID) -> ValueID {
            var v = v
            while let t = target[v] { v = t }
            return v
        }
        var renames: [(value: ValueID, name: String, type: ValueType?)] = []
        var seeds = Set<NodeID>()
        var touched: [ValueID] = []
        var applied = 0
        for (old, proposed) in pairs {
            let new = resolve(proposed)
            let allowed = identityForOutputs
                ? old != new && !scope.captured.contains(name(of: old))
                : canForward(old, to: new, scope: scope)
            guard contains(old), contains(new), target[old] == nil, allowed else { touched.append(proposed); continue }
            let wasOutput = isGraphOutput(old)
            replaceAllUses(of: old, with: new, includingGraphOutputs: true)
            target[old] = new
            applied += 1
            if wasOutput { renames.append((new, name(of: old), self[value: old].type)) }
            if let p = producer(of: old) { seeds.insert(p) } else { touched.append(old) }
        }
        let effect = try removeDead(seeds: seeds, touched: touched,
                                    renames: renames.map { (resolve($0.value), $0.name, $0.type) }, scope: scope)
        return (applied, effect)
    }

    /// The end of every patch: removes the nodes found dead from `seeds` (and, transitively, their
    /// producers), then the initializers among `touched` and the removed nodes' inputs that
    /// nothing reads any more, then gives graph outputs back their names (`renames`).
    mutating func removeDead(seeds: Set<NodeID>, touched: [ValueID],
                             renames: [(value: ValueID, name: String, type: ValueType?)], scope: GraphScope) throws -> PatchEffect {
        var effect = PatchEffect()
        var touched = touched
        let dead = deadNodes(startingFrom: seeds, captured: scope.captured)
        for id in dead { for v in self[node: id].inputs { if let v { touched.append(v) } } }
        try removeNodes(dead)
        effect.nodesRemoved = dead.count
        effect.initializersRemoved = removeUnusedInitializers(touched.filter { contains($0) }, captured: scope.captured)
        for (value, wanted, type) in renames {
            try restoreOutputName(value, to: wanted, type: type, scope: scope)
        }
        return effect
    }

    /// Replaces node outputs by constants: each `(value, tensor)` becomes a new initializer that
    /// every use of `value` reads; the producing nodes are removed once none of their outputs is
    /// used, and each new initializer then takes the name of the value it replaced (so folded
    /// constants keep the names the exporter gave them). Values read by a subgraph by name are
    /// skipped. Returns how many values were replaced.
    @discardableResult
    public mutating func replaceWithConstants(_ items: [(value: ValueID, tensor: Tensor)], scope: GraphScope) throws
        -> (replaced: Int, effect: PatchEffect)
    {
        var pairs: [(old: ValueID, new: ValueID)] = []
        var names: [(new: ValueID, wanted: String)] = []
        for (value, tensor) in items where !scope.captured.contains(name(of: value)) {
            let wanted = name(of: value)
            var t = tensor
            let fresh = uniqueName(wanted + "_const")
            t.name = fresh
            let id = try addInitializer(named: fresh, t)
            pairs.append((value, id))
            if !isGraphOutput(value) { names.append((id, wanted)) }  // outputs: renamed by the driver
        }
        let (applied, effect) = try forward(pairs, scope: scope, identityForOutputs: true)
        for (id, wanted) in names where contains(id) && valueID(named: wanted) == nil {
            try rename(id, to: wanted)
            self[value: id].initializer?.name = wanted
        }
        return (applied, effect)
    }
}
