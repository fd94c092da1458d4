import KilnIR
import KilnOpset
import KilnEvaluator

/// The state an opset rule works on: one graph (main graph, subgraph or function body) during one
/// conversion step, with the helpers adapters share (constant inputs, new constants and nodes,
/// types, refusals). Adapters never touch use lists directly: they go through `Graph`'s editing API.
public struct OpsetRewriter: Sendable {
    public internal(set) var graph: Graph
    /// The default-domain (or converted domain's) opset before and after this step.
    public let from: Int
    public let to: Int
    public let domain: String
    /// A function body holds no initializers: constants become `Constant` nodes.
    let isFunctionBody: Bool
    let registry: SchemaRegistry
    /// Nodes added in this step that are valid at `from`, not `to` (expansions): converted in this
    /// step too.
    var pending: [NodeID] = []
    /// Empties output `slot` when nothing reads it (a dropped optional output); refuses otherwise.
    mutating func dropOutput(_ id: NodeID, _ slot: Int, because why: String) throws {
        guard let v = output(id, slot) else { return }
        if !graph[value: v].uses.isEmpty || graph.isGraphOutput(v) || capturedNames.contains(graph.name(of: v)) {
            throw refusal(id, "output \(slot) ('\(graph.name(of: v))') is used, but \(why)")
        }
        try graph.setOutput(of: id, at: slot, to: nil)
        try graph.removeValue(v)
    }

    /// Drops trailing empty output slots by rebuilding the node in place (same name, attributes,
    /// inputs and outputs); returns the new node's ID.
    @discardableResult
    mutating func trimOutputs(_ id: NodeID) throws -> NodeID {
        let old = graph[node: id]
        var outs = old.outputs
        while let last = outs.last, last == nil { outs.removeLast() }
        guard outs.count != old.outputs.count else { return id }
        var copy = Node(opType: old.opType, domain: old.domain, name: old.name, attributes: old.attributes)
        copy.overload = old.overload
        copy.docString = old.docString
        copy.metadata = old.metadata
        for (i, v) in old.outputs.enumerated() where v != nil { try graph.setOutput(of: id, at: i, to: nil) }
        let new = try graph.addNode(copy, inputs: old.inputs, outputs: outs, at: .before(id))
        try graph.removeNode(id)
        return new
    }

    /// Values an adapter stopped reading: removed at the end when nothing reads them.
    var released: Set<ValueID> = []
    /// Names used anywhere in the model, so a name made here never shadows an outer one.
    var reserved: Set<String>

    var direction: OpsetDirection { to > from ? .up : .down }

    init(graph: Graph, from: Int, to: Int, domain: String, isFunctionBody: Bool, registry: SchemaRegistry,
         reserved: Set<String>) {
        self.graph = graph
        self.from = from
        self.to = to
        self.domain = domain
        self.isFunctionBody = isFunctionBody
        self.registry = registry
        self.reserved = reserved
    }

    // MARK: Errors

    /// The error for a node that cannot be converted: names the node, the op and the reason.
    func refusal(_ id: NodeID, _ reason: String) -> KilnError {
        let n = graph[node: id]
        let name = n.name.isEmpty ? "(unnamed)" : "'\(n.name)'"
        return KilnError(.checkFailed, "node \(name) (\(n.opType)): cannot convert from opset \(from) to \(to): \(reason)",
                         at: KilnError.Location(path: ["graph(\(graph.name))", "node(\(n.name))"]))
    }

    // MARK: Attributes

    func node(_ id: NodeID) -> Node { graph[node: id] }

    mutating func setAttribute(_ id: NodeID, _ name: String, _ value: Attribute.Value) {
        var attrs = graph[node: id].attributes
        if let i = attrs.firstIndex(where: { $0.name == name }) {
            attrs[i] = Attribute(name, value)
        } else {
            attrs.append(Attribute(name, value))
            attrs.sort { $0.name < $1.name }
        }
        graph[node: id].attributes = attrs
    }

    mutating func removeAttribute(_ id: NodeID, _ name: String) {
        graph[node: id].attributes.removeAll { $0.name == name }
    }

    /// Typed attribute read whose error names the node (GUIDE rule 13).
    func int(_ id: NodeID, _ name: String, default d: Int64? = nil) throws -> Int64 {
        try graph[node: id].int(name, default: d)
    }

    func ints(_ id: NodeID, _ name: String) throws -> [Int64]? {
        graph[node: id].attribute(name) == nil ? nil : try graph[node: id].ints(name)
    }

    func string(_ id: NodeID, _ name: String, default d: String) throws -> String {
        try graph[node: id].string(name, default: d)
    }

    // MARK: Inputs

    /// The value in input `slot`, if the slot exists and is not empty.
    func input(_ id: NodeID, _ slot: Int) -> ValueID? {
        let ins = graph[node: id].inputs
        return slot < ins.count ? ins[slot] : nil
    }

    func output(_ id: NodeID, _ slot: Int) -> ValueID? {
        let outs = graph[node: id].outputs
        return slot < outs.count ? outs[slot] : nil
    }

    /// The constant a value holds: a dense initializer that is not a graph input, or the output of
    /// a `Constant` node with a `value` tensor (or `value_int(s)`/`value_float(s)`).
    func constant(_ v: ValueID) -> Tensor? {
        if let t = graph.constantTensor(v) { return t }
        guard let p = graph.producer(of: v), graph[node: p].opType == OpType.constant,
              graph[node: p].domain.isEmpty || graph[node: p].domain == "ai.onnx" else { return nil }
        let n = graph[node: p]
        for a in n.attributes {
            switch (a.name, a.value) {
            case ("value", .tensor(let t)): return t
            case ("value_int", .int(let i)): return .int64([i], dims: [])
            case ("value_ints", .ints(let i)): return .int64(i, dims: [Int64(i.count)])
            case ("value_float", .float(let f)): return .float32([f], dims: [])
            case ("value_floats", .floats(let f)): return .float32(f, dims: [Int64(f.count)])
            default: continue
            }
        }
        return nil
    }

    /// The elements of a constant integer input, or nil when the slot is empty or not constant.
    func constantInts(_ id: NodeID, _ slot: Int) throws -> [Int64]? {
        guard let v = input(id, slot), let t = constant(v) else { return nil }
        return try TensorValue(t).int64s
    }

    func constantDoubles(_ v: ValueID) throws -> [Double]? {
        guard let t = constant(v) else { return nil }
        return try TensorValue(t).doubles
    }

    /// Empties input `slot` (and drops trailing empty slots); the old value is released.
    mutating func clearInput(_ id: NodeID, _ slot: Int) {
        guard let old = input(id, slot) else { return }
        graph.setInput(of: id, at: slot, to: nil)
        released.insert(old)
        var ins = graph[node: id].inputs
        while let last = ins.last, last == nil { ins.removeLast() }
        if ins.count != graph[node: id].inputs.count { graph.setInputs(of: id, to: ins) }
    }

    /// Points input `slot` at `value`, padding with empty slots as needed.
    mutating func setInput(_ id: NodeID, _ slot: Int, _ value: ValueID?) {
        while graph[node: id].inputs.count < slot { graph.setInput(of: id, at: graph[node: id].inputs.count, to: nil) }
        if let old = input(id, slot) { released.insert(old) }
        graph.setInput(of: id, at: slot, to: value)
    }

    /// Replaces the node's inputs with `values`; values no longer read are released.
    mutating func setInputs(_ id: NodeID, _ values: [ValueID?]) {
        for case let v? in graph[node: id].inputs where !values.contains(v) { released.insert(v) }
        graph.setInputs(of: id, to: values)
    }

    // MARK: Types

    func type(_ v: ValueID?) -> ValueType? { v.flatMap { graph[value: $0].type } }
    func elementType(_ v: ValueID?) -> DataType? { type(v)?.tensorElementType }
    func shape(_ v: ValueID?) -> Shape? { type(v)?.tensorShape }
    func rank(_ v: ValueID?) -> Int? { shape(v)?.dims.count }

    /// The rank of input `slot`, or a refusal naming why it is needed.
    func requireRank(_ id: NodeID, _ slot: Int = 0, for what: String) throws -> Int {
        guard let r = rank(input(id, slot)) else {
            throw refusal(id, "\(what) needs the rank of input \(slot), which shape inference could not find")
        }
        return r
    }

    // MARK: New values and nodes

    mutating func freshName(_ base: String) -> String {
        var name = graph.uniqueName(base)
        var i = 1
        while reserved.contains(name) { name = graph.uniqueName("\(base)_\(i)"); i += 1 }
        reserved.insert(name)
        return name
    }

    /// A new constant before `anchor`: an initializer, or a `Constant` node in a function body.
    mutating func addConstant(_ tensor: Tensor, named base: String, before anchor: NodeID) throws -> ValueID {
        let name = freshName(base)
        var t = tensor
        t.name = name
        if isFunctionBody {
            let out = try graph.addValue(named: name, type: .tensor(t.dataType, Shape(static: t.dims)))
            try graph.addNode(Node(opType: OpType.constant, name: name, attributes: [Attribute("value", .tensor(t))]),
                              inputs: [], outputs: [out], at: .before(anchor))
            return out
        }
        return try graph.addInitializer(named: name, t)
    }

    mutating func addInts(_ values: [Int64], named base: String, before anchor: NodeID, scalar: Bool = false) throws -> ValueID {
        try addConstant(.int64(values, dims: scalar ? [] : [Int64(values.count)]), named: base, before: anchor)
    }

    /// Adds a node before `anchor` reading `inputs` with `outputs` new values (typed when given).
    @discardableResult
    mutating func addNode(_ op: String, _ inputs: [ValueID?], outputs count: Int = 1, attributes: [Attribute] = [],
                          named base: String, before anchor: NodeID, types: [ValueType?] = []) throws -> (NodeID, [ValueID]) {
        var outs: [ValueID] = []
        for k in 0..<count {
            outs.append(try graph.addValue(named: freshName(count == 1 ? base : "\(base)_\(k)"),
                                           type: k < types.count ? types[k] : nil))
        }
        let id = try graph.addNode(Node(opType: op, name: freshName(base + "_node"), attributes: attributes.sorted { $0.name < $1.name }),
                                   inputs: inputs, outputs: outs, at: .before(anchor))
        return (id, outs)
    }

    /// Moves output `slot` of `id` to a fresh value (same element type, shape left to inference)
    /// and returns the old one, so a wrapper can produce the old value (graph outputs and their
    /// names stay as they were).
    mutating func detachOutput(_ id: NodeID, _ slot: Int, named base: String) throws -> (old: ValueID, new: ValueID) {
        guard let old = output(id, slot) else { throw refusal(id, "output \(slot) is empty") }
        let element = graph[value: old].type?.tensorElementType
        let new = try graph.addValue(named: freshName(base), type: element.map { .tensor($0, nil) })
        try graph.setOutput(of: id, at: slot, to: new)
        return (old, new)
    }

    /// Adds a node producing the existing value `output` (after `detachOutput`), placed after `anchor`.
    @discardableResult
    mutating func addNode(_ op: String, _ inputs: [ValueID?], producing outputs: [ValueID?], attributes: [Attribute] = [],
                          named base: String, after anchor: NodeID) throws -> NodeID {
        try graph.addNode(Node(opType: op, name: freshName(base + "_node"), attributes: attributes.sorted { $0.name < $1.name }),
                          inputs: inputs, outputs: outputs, at: .after(anchor))
    }

    /// Removes values released by adapters that nothing reads any more (and `Constant` nodes
    /// producing only such values).
    mutating func dropReleased() throws {
        let captured = capturedNames
        var changed = true
        while changed {
            changed = false
            for v in released where graph.contains(v) {
                let value = graph[value: v]
                guard value.uses.isEmpty, !graph.isGraphOutput(v), !graph.isGraphInput(v),
                      !captured.contains(value.name) else { continue }
                if let p = value.producer {
                    let n = graph[node: p]
                    guard n.opType == OpType.constant, n.outputs.count == 1 else { continue }
                    try graph.removeNode(p)
                    changed = true
                } else if value.isConstant {
                    try graph.removeValue(v)
                    changed = true
                }
            }
        }
        released = []
    }

    /// Names nested subgraphs read from this graph (never removed).
    var capturedNames: Set<String> {
        var names = Set<String>()
        for id in graph.order where graph[node: id].hasSubgraphs {
            for a in graph[node: id].attributes { for g in a.subgraphs { names.formUnion(g.outerScopeReferences) } }
        }
        return names
    }
}
