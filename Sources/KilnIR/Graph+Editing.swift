/// The editing API. Every method validates first and mutates only when the whole edit is valid, so
/// a thrown error leaves the graph as it was. Uses are changed in exactly one place, `setInput`.
extension Graph {
    /// Where `addNode` puts a new node in graph order.
    public enum Position: Sendable {
        case start
        case end
        case before(NodeID)
        case after(NodeID)
    }

    // MARK: Values

    /// Adds a value named `name`. Throws if the name is taken.
    @discardableResult
    public mutating func addValue(named name: String, type: ValueType? = nil) throws -> ValueID {
        guard !name.isEmpty else {
            throw KilnError(.invalidGraph, "a value needs a non-empty name (empty names mark missing optional slots)")
        }
        guard nameTable.find(name, in: valueStore) == nil else {
            throw KilnError(.invalidGraph, "value name '\(name)' is already used in graph '\(self.name)'")
        }
        let id = appendValue(named: name)
        valueStore[Int(id.index)].type = type
        return id
    }

    /// Appends a value whose non-empty name the caller checked is free.
    private mutating func appendValue(named name: String) -> ValueID {
        let id = ValueID(valueStore.count)
        valueStore.append(Value(name: name))
        valueLive.append(true)
        nameTable.insert(name, id, in: valueStore)
        return id
    }

    /// The value named `name`, created (with no producer) when it does not exist yet.
    public mutating func value(named name: String) -> ValueID {
        precondition(!name.isEmpty, "value(named:) needs a non-empty name")
        return findOrAddValue(named: name)
    }

    /// A name not used in this graph, derived from `base` (`base`, `base_1`, `base_2`, ...).
    public func uniqueName(_ base: String) -> String {
        if !base.isEmpty && nameTable.find(base, in: valueStore) == nil { return base }
        let stem = base.isEmpty ? "v" : base
        var i = 1
        while nameTable.find("\(stem)_\(i)", in: valueStore) != nil { i += 1 }
        return "\(stem)_\(i)"
    }

    /// Renames a value. Throws if `newName` is taken.
    public mutating func rename(_ id: ValueID, to newName: String) throws {
        let old = self[value: id].name
        if old == newName { return }
        guard !newName.isEmpty else { throw KilnError(.invalidGraph, "cannot rename '\(old)' to an empty name") }
        guard nameTable.find(newName, in: valueStore) == nil else {
            throw KilnError(.invalidGraph, "cannot rename '\(old)' to '\(newName)': the name is already used")
        }
        nameTable.remove(old, in: valueStore)
        self[value: id].name = newName
        nameTable.insert(newName, id, in: valueStore)
    }

    /// Removes a value that nothing produces, reads or lists. Throws otherwise.
    public mutating func removeValue(_ id: ValueID) throws {
        let v = self[value: id]
        if let p = v.producer {
            throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': produced by \(self[node: p].label)")
        }
        if let u = v.uses.first {
            throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': used by \(self[node: u.node].label)")
        }
        if inputs.contains(id) || outputs.contains(id) {
            throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': it is a graph input or output")
        }
        if v.isConstant {
            initializerOrder.removeAll { $0 == id }
            sparseInitializerOrder.removeAll { $0 == id }
        }
        if valueInfo.contains(id) {
            valueInfo.removeAll { $0 == id }
            infoOverrides = infoOverrides.filter { if case .valueInfo = $0.key { return false } else { return true } }
        }
        nameTable.remove(v.name, in: valueStore)
        valueStore[Int(id.index)] = Value(name: ""); valueLive[Int(id.index)] = false
    }

    // MARK: Graph inputs, outputs, initializers, value_info

    /// Adds `name` as a graph input with `type`.
    @discardableResult
    public mutating func addInput(named name: String, type: ValueType?) throws -> ValueID {
        let id = try addValue(named: name, type: type)
        inputs.append(id)
        return id
    }

    /// Appends an existing value to the graph inputs.
    public mutating func appendInput(_ id: ValueID) {
        precondition(contains(id), "appendInput: \(id) is not a value of this graph")
        inputs.append(id)
    }

    /// Appends an existing value to the graph outputs.
    public mutating func appendOutput(_ id: ValueID) {
        precondition(contains(id), "appendOutput: \(id) is not a value of this graph")
        outputs.append(id)
    }

    /// Appends an existing value to `value_info`.
    public mutating func appendValueInfo(_ id: ValueID) {
        precondition(contains(id), "appendValueInfo: \(id) is not a value of this graph")
        valueInfo.append(id)
    }

    /// Replaces the graph inputs. Every ID must be a live value.
    public mutating func setInputs(_ ids: [ValueID]) {
        for id in ids { precondition(contains(id), "setInputs: \(id) is not a value of this graph") }
        inputs = ids
        dropOverrides { if case .input = $0 { return true } else { return false } }
    }

    /// Replaces the graph outputs. Every ID must be a live value.
    public mutating func setOutputs(_ ids: [ValueID]) {
        for id in ids { precondition(contains(id), "setOutputs: \(id) is not a value of this graph") }
        outputs = ids
        dropOverrides { if case .output = $0 { return true } else { return false } }
    }

    /// Replaces the list of values written to `value_info`.
    public mutating func setValueInfo(_ ids: [ValueID]) {
        for id in ids { precondition(contains(id), "setValueInfo: \(id) is not a value of this graph") }
        valueInfo = ids
        dropOverrides { if case .valueInfo = $0 { return true } else { return false } }
    }

    /// Records a `ValueInfoProto` occurrence that differs from its value's primary info (codec use).
    public mutating func setInfoOverride(_ record: ValueInfoRecord?, for slot: InfoSlot) {
        infoOverrides[slot] = record
    }

    private mutating func dropOverrides(where match: (InfoSlot) -> Bool) {
        if infoOverrides.isEmpty { return }
        infoOverrides = infoOverrides.filter { !match($0.key) }
    }

    /// Adds a dense initializer: a new value named `name` holding `tensor`.
    @discardableResult
    public mutating func addInitializer(named name: String, _ tensor: Tensor) throws -> ValueID {
        let id = try addValue(named: name, type: .tensor(tensor.dataType, Shape(static: tensor.dims)))
        attachInitializer(tensor, to: id)
        return id
    }

    /// Sets the dense initializer of an existing value (appending it to the initializer order when
    /// it had none).
    public mutating func attachInitializer(_ tensor: consuming Tensor, to id: ValueID) {
        if case .dense? = valueStore[Int(id.index)].constant {} else { initializerOrder.append(id) }
        self[value: id].initializer = tensor
    }

    /// Sets the sparse initializer of an existing value.
    public mutating func attachSparseInitializer(_ tensor: SparseTensor, to id: ValueID) {
        if case .sparse? = valueStore[Int(id.index)].constant {} else { sparseInitializerOrder.append(id) }
        self[value: id].sparseInitializer = tensor
    }

    /// Removes the initializer of `id` (the value stays).
    public mutating func detachInitializer(from id: ValueID) {
        self[value: id].initializer = nil
        self[value: id].sparseInitializer = nil
        initializerOrder.removeAll { $0 == id }
        sparseInitializerOrder.removeAll { $0 == id }
    }

    // MARK: Nodes

    /// Adds `node` reading `inputs` and writing `outputs` at `position`.
    /// Throws if an output already has a producer, an ID is not a value, or `position` is invalid.
    @discardableResult
    public mutating func addNode(_ node: consuming Node, inputs: [ValueID?], outputs: [ValueID?],
                                 at position: Position = .end) throws -> NodeID {
        for case let v? in inputs where !contains(v) {
            throw KilnError(.invalidGraph, "\(node.label): \(v) is not a value of graph '\(name)'")
        }
        for (k, slot) in outputs.enumerated() {
            guard let v = slot else { continue }
            guard contains(v) else {
                throw KilnError(.invalidGraph, "\(node.label): \(v) is not a value of graph '\(name)'")
            }
            if let p = valueStore[Int(v.index)].producer {
                throw KilnError(.invalidGraph,
                                "\(node.label): output '\(self[value: v].name)' is already produced by \(self[node: p].label)")
            }
            if outputs[..<k].contains(v) {
                throw KilnError(.invalidGraph, "\(node.label): output '\(self[value: v].name)' is listed twice")
            }
        }
        let insertAt: Int
        switch position {
        case .start: insertAt = 0
        case .end: insertAt = order.count
        case .before(let other), .after(let other):
            guard let i = order.firstIndex(of: other) else {
                throw KilnError(.invalidGraph, "\(node.label): anchor node \(other) is not in graph '\(name)'")
            }
            if case .after = position { insertAt = i + 1 } else { insertAt = i }
        }
        var n = node
        n.inputs = inputs
        n.outputs = outputs
        let id = NodeID(nodeStore.count)
        nodeStore.append(n)
        nodeLive.append(true)
        if insertAt == order.count { order.append(id) } else { order.insert(id, at: insertAt) }
        for (slot, v) in outputs.enumerated() {
            if let v {
                valueStore[Int(v.index)].producer = id
                valueStore[Int(v.index)].producerOutputIndex = slot
            }
        }
        // The new node's slots already hold the inputs; record the matching uses.
        for (slot, v) in inputs.enumerated() {
            if let v { valueStore[Int(v.index)].uses.append(Use(node: id, index: slot)) }
        }
        return id
    }

    /// Adds `node` reading `inputs` and creating new output values named `outputNames`
    /// (an empty name leaves that optional output slot empty).
    @discardableResult
    public mutating func addNode(_ node: Node, inputs: [ValueID?], outputNames: [String],
                                 at position: Position = .end) throws -> NodeID {
        var seen = Set<String>()
        for n in outputNames where !n.isEmpty {
            guard nameTable.find(n, in: valueStore) == nil, seen.insert(n).inserted else {
                throw KilnError(.invalidGraph, "\(node.label): output name '\(n)' is already used")
            }
        }
        let outs: [ValueID?] = outputNames.map { $0.isEmpty ? nil : (try! addValue(named: $0)) }
        return try addNode(node, inputs: inputs, outputs: outs, at: position)
    }

    /// The one method that changes a use: points input slot `index` of `node` at `value` (or empties
    /// it), updating the use lists of the old and the new value. `index == inputs.count` appends.
    public mutating func setInput(of node: NodeID, at index: Int, to value: ValueID?) {
        let n = Int(node.index)
        precondition(n < nodeStore.count && isLive(nodeLive, n), "setInput: node \(node) was removed")
        let count = nodeStore[n].inputs.count
        precondition(index >= 0 && index <= count, "setInput: slot \(index) out of range for \(self[node: node].label)")
        if let v = value { precondition(contains(v), "setInput: \(v) is not a value of this graph") }
        if index == count {
            nodeStore[n].inputs.append(nil)
        }
        if let old = nodeStore[n].inputs[index] {
            let use = Use(node: node, index: index)
            let o = Int(old.index)
            if let k = valueStore[o].uses.firstIndex(of: use) { valueStore[o].uses.remove(at: k) }
        }
        nodeStore[n].inputs[index] = value
        if let v = value {
            valueStore[Int(v.index)].uses.append(Use(node: node, index: index))
        }
    }

    /// Replaces all inputs of `node` (slots beyond the new count are removed).
    public mutating func setInputs(of node: NodeID, to values: [ValueID?]) {
        let count = self[node: node].inputs.count
        for i in 0..<count { setInput(of: node, at: i, to: nil) }
        self[node: node].inputs.removeAll()
        for (i, v) in values.enumerated() { setInput(of: node, at: i, to: v) }
    }

    /// Points every use of `old` at `new`. With `includingGraphOutputs`, graph outputs listing `old`
    /// list `new` instead (which changes the output's name).
    public mutating func replaceAllUses(of old: ValueID, with new: ValueID, includingGraphOutputs: Bool = false) {
        precondition(contains(old) && contains(new), "replaceAllUses: unknown value")
        if old == new { return }
        for use in self[value: old].uses {
            setInput(of: use.node, at: use.index, to: new)
        }
        if includingGraphOutputs {
            outputs = outputs.map { $0 == old ? new : $0 }
        }
    }

    /// Removes `node`. Its outputs must be unused and not graph outputs; they are removed with it.
    public mutating func removeNode(_ id: NodeID) throws {
        let node = self[node: id]
        for case let out? in node.outputs {
            let v = self[value: out]
            if let u = v.uses.first(where: { $0.node != id }) {
                throw KilnError(.invalidGraph,
                                "cannot remove \(node.label): its output '\(v.name)' is used by \(self[node: u.node].label)")
            }
            if outputs.contains(out) {
                throw KilnError(.invalidGraph, "cannot remove \(node.label): its output '\(v.name)' is a graph output")
            }
        }
        for i in node.inputs.indices { setInput(of: id, at: i, to: nil) }
        for case let out? in node.outputs {
            self[value: out].producer = nil
            try removeValue(out)
        }
        order.removeAll { $0 == id }
        nodeStore[Int(id.index)] = Node(opType: ""); nodeLive[Int(id.index)] = false
    }

    /// Removes many nodes at once (in any order among themselves); same rules as `removeNode`, but
    /// uses by other removed nodes are allowed. Validates everything before changing anything.
    public mutating func removeNodes(_ ids: Set<NodeID>) throws {
        for id in ids {
            let node = self[node: id]
            for case let out? in node.outputs {
                let v = self[value: out]
                if let u = v.uses.first(where: { !ids.contains($0.node) }) {
                    throw KilnError(.invalidGraph,
                                    "cannot remove \(node.label): its output '\(v.name)' is used by \(self[node: u.node].label)")
                }
                if outputs.contains(out) {
                    throw KilnError(.invalidGraph, "cannot remove \(node.label): its output '\(v.name)' is a graph output")
                }
            }
        }
        for id in ids {
            for i in self[node: id].inputs.indices { setInput(of: id, at: i, to: nil) }
        }
        var outs = Set<ValueID>()
        for id in ids {
            for case let out? in self[node: id].outputs {
                self[value: out].producer = nil
                outs.insert(out)
            }
        }
        try removeValues(outs)
        for id in ids {
            nodeStore[Int(id.index)] = Node(opType: ""); nodeLive[Int(id.index)] = false
        }
        order.removeAll { ids.contains($0) }
    }

    /// Removes many values at once; same rules as `removeValue`, but the initializer and
    /// `value_info` lists are filtered once (removing k of n values costs O(n + k), not O(n k)).
    /// Validates everything before changing anything.
    public mutating func removeValues(_ ids: Set<ValueID>) throws {
        guard !ids.isEmpty else { return }
        let io = Set(inputs).union(outputs)
        for id in ids {
            let v = self[value: id]
            if let p = v.producer {
                throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': produced by \(self[node: p].label)")
            }
            if let u = v.uses.first {
                throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': used by \(self[node: u.node].label)")
            }
            if io.contains(id) {
                throw KilnError(.invalidGraph, "cannot remove value '\(v.name)': it is a graph input or output")
            }
        }
        if ids.contains(where: { self[value: $0].isConstant }) {
            initializerOrder.removeAll { ids.contains($0) }
            sparseInitializerOrder.removeAll { ids.contains($0) }
        }
        if valueInfo.contains(where: ids.contains) {
            valueInfo.removeAll { ids.contains($0) }
            infoOverrides = infoOverrides.filter { if case .valueInfo = $0.key { return false } else { return true } }
        }
        for id in ids {
            nameTable.remove(valueStore[Int(id.index)].name, in: valueStore)
            valueStore[Int(id.index)] = Value(name: ""); valueLive[Int(id.index)] = false
        }
    }

    /// Replaces output slot `index` of `node` with `value` (which must have no producer); the old
    /// output value keeps existing without a producer.
    public mutating func setOutput(of node: NodeID, at index: Int, to value: ValueID?) throws {
        if let v = value, let p = self[value: v].producer, p != node || self[value: v].producerOutputIndex != index {
            throw KilnError(.invalidGraph, "output '\(self[value: v].name)' is already produced by \(self[node: p].label)")
        }
        if let old = self[node: node].outputs[index] { self[value: old].producer = nil }
        self[node: node].outputs[index] = value
        if let v = value {
            self[value: v].producer = node
            self[value: v].producerOutputIndex = index
        }
    }
}
