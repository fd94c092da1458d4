/// A computation graph (ONNX `GraphProto`): an arena of nodes and values addressed by typed IDs, with
/// use-def chains kept both ways (value -> producer, value -> uses, node -> inputs/outputs).
///
/// `Graph` is a value type: copies are cheap (copy-on-write arrays) and independent. Node inputs and
/// outputs, value producers and uses are changed only through the editing methods in
/// `Graph+Editing.swift`, which keep both ends of every edge in step. Queries return snapshots.
public struct Graph: Hashable, Sendable {
    public var name: String
    public var docString: String
    public var metadata: [StringPair]
    public var quantizationAnnotations: [TensorAnnotation]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    /// Arenas. A removed slot holds a placeholder and is marked dead in the `...Live` array (kept
    /// apart so reading a field of a live element never copies the element).
    var nodeStore: ContiguousArray<Node>
    var nodeLive: ContiguousArray<Bool>
    var valueStore: ContiguousArray<Value>
    var valueLive: ContiguousArray<Bool>
    var nameTable: NameTable

    /// Nodes in graph order (the order they are written in).
    public internal(set) var order: [NodeID]
    /// Graph inputs, in order.
    public internal(set) var inputs: [ValueID]
    /// Graph outputs, in order.
    public internal(set) var outputs: [ValueID]
    /// Values with a dense initializer, in file order.
    public internal(set) var initializerOrder: [ValueID]
    /// Values with a sparse initializer, in file order.
    public internal(set) var sparseInitializerOrder: [ValueID]
    /// Values listed in `value_info`, in file order.
    public internal(set) var valueInfo: [ValueID]
    /// `ValueInfoProto`s that differ from their value's primary info (a value declared twice with
    /// different doc strings, say). Kept only so that writing is lossless; cleared by edits to the
    /// lists they index.
    public internal(set) var infoOverrides: [InfoSlot: ValueInfoRecord]

    public init(name: String = "") {
        self.name = name
        self.docString = ""
        self.metadata = []
        self.quantizationAnnotations = []
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
        self.nodeStore = []
        self.nodeLive = []
        self.valueStore = []
        self.valueLive = []
        self.nameTable = NameTable()
        self.order = []
        self.inputs = []
        self.outputs = []
        self.initializerOrder = []
        self.sparseInitializerOrder = []
        self.valueInfo = []
        self.infoOverrides = [:]
    }

    /// Reserves room for `nodes` nodes and `values` values (decoders know the counts up front).
    public mutating func reserveCapacity(nodes: Int, values: Int) {
        nodeStore.reserveCapacity(nodes)
        nodeLive.reserveCapacity(nodes)
        order.reserveCapacity(nodes)
        valueStore.reserveCapacity(values)
        valueLive.reserveCapacity(values)
        nameTable.reserveCapacity(values)
    }

    // MARK: Queries

    public var nodeCount: Int { order.count }

    /// The node with `id`. Traps on a removed or foreign ID (a programming error).
    public subscript(node id: NodeID) -> Node {
        _read {
            precondition(nodeLive[Int(id.index)], "node \(id) was removed")
            yield nodeStore[Int(id.index)]
        }
        _modify {
            precondition(nodeLive[Int(id.index)], "node \(id) was removed")
            yield &nodeStore[Int(id.index)]
        }
    }

    /// The value with `id`.
    public subscript(value id: ValueID) -> Value {
        _read {
            precondition(valueLive[Int(id.index)], "value \(id) was removed")
            yield valueStore[Int(id.index)]
        }
        _modify {
            precondition(valueLive[Int(id.index)], "value \(id) was removed")
            yield &valueStore[Int(id.index)]
        }
    }

    /// The node producing `id`, without copying the value.
    public func producer(of id: ValueID) -> NodeID? {
        valueStore[Int(id.index)].producer
    }

    // Field reads for other modules. `self[value: id].type` from another module copies the whole
    // value (every field retained, then released) before reading one field; these read only the
    // field. Hot analysis loops use them.

    /// The declared type of value `id`, without copying the value.
    public func type(of id: ValueID) -> ValueType? {
        valueStore[Int(id.index)].type
    }

    /// The `ValueInfoProto` fields of value `id` (`Value.info`), without copying the value.
    public func info(of id: ValueID) -> ValueInfoRecord {
        valueStore[Int(id.index)].info
    }

    /// Whether the `ValueInfoProto` of value `id` holds nothing besides its name and type: no doc
    /// string (not even an empty one written explicitly, field 3), metadata or preserved fields.
    /// Reads those fields in place (`info(of:)` copies them all).
    public func infoHasOnlyType(_ id: ValueID) -> Bool {
        let i = Int(id.index)
        return valueStore[i].docString.isEmpty && !valueStore[i].infoPresence.contains(field: 3)
            && valueStore[i].metadata.isEmpty && valueStore[i].infoPreserved.isEmpty
    }

    /// The dense initializer of `id` (a graph input's default included), without copying the value.
    public func initializer(of id: ValueID) -> Tensor? {
        valueStore[Int(id.index)].initializer
    }

    /// The input slots of node `id`, without copying the node.
    public func inputs(of id: NodeID) -> [ValueID?] {
        nodeStore[Int(id.index)].inputs
    }

    /// The output slots of node `id`, without copying the node.
    public func outputs(of id: NodeID) -> [ValueID?] {
        nodeStore[Int(id.index)].outputs
    }

    /// Runs `body` on node `id` in place. `let node = g[node: id]` in another module copies the
    /// node (every field retained, then released); a hot loop reading many fields uses this.
    public func withNode<R>(_ id: NodeID, _ body: (borrowing Node) throws -> R) rethrows -> R {
        precondition(nodeLive[Int(id.index)], "node \(id) was removed")
        return try body(nodeStore[Int(id.index)])
    }

    /// Whether node `id` has a subgraph attribute, without copying the node.
    public func hasSubgraphs(_ id: NodeID) -> Bool {
        nodeStore[Int(id.index)].hasSubgraphs
    }

    /// Whether value `id` has a dense or sparse initializer, without copying the value.
    public func isConstant(_ id: ValueID) -> Bool {
        valueStore[Int(id.index)].isConstant
    }

    /// The dense initializer of `id` when it is a true constant: an initializer that is not also
    /// a graph input (a graph input with an initializer is only a default a caller may override).
    public func constantTensor(_ id: ValueID) -> Tensor? {
        guard isConstant(id), !isGraphInput(id) else { return nil }
        return self[value: id].initializer
    }

    /// The name of value `id`, without copying the value.
    public func name(of id: ValueID) -> String {
        valueStore[Int(id.index)].name
    }

    public func contains(_ id: NodeID) -> Bool {
        Int(id.index) < nodeStore.count && isLive(nodeLive, Int(id.index))
    }

    public func contains(_ id: ValueID) -> Bool {
        Int(id.index) < valueStore.count && isLive(valueLive, Int(id.index))
    }

    /// The value named `name` in this graph (not enclosing graphs).
    public func valueID(named name: String) -> ValueID? { nameTable.find(name, in: valueStore) }

    /// One past the largest value index in use: the size of an array indexed by `ValueID.index`
    /// (some of its slots may belong to removed values).
    public var valueIndexBound: Int { valueStore.count }

    /// All live values, in creation order.
    public var valueIDs: [ValueID] {
        valueStore.indices.compactMap { isLive(valueLive, $0) ? ValueID($0) : nil }
    }

    /// Nodes in graph order, as (ID, node) snapshots.
    public var nodes: [(id: NodeID, node: Node)] {
        order.map { ($0, self[node: $0]) }
    }

    /// The nodes reading `value`, in graph order, without duplicates.
    public func consumers(of value: ValueID) -> [NodeID] {
        var seen = Set<NodeID>()
        let ids = self[value: value].uses.map(\.node).filter { seen.insert($0).inserted }
        let position = positions()
        return ids.sorted { position[$0, default: 0] < position[$1, default: 0] }
    }

    /// Position of each node in `order`.
    public func positions() -> [NodeID: Int] {
        var p: [NodeID: Int] = [:]
        p.reserveCapacity(order.count)
        for (i, id) in order.enumerated() { p[id] = i }
        return p
    }

    public func isGraphInput(_ id: ValueID) -> Bool { inputs.contains(id) }
    public func isGraphOutput(_ id: ValueID) -> Bool { outputs.contains(id) }

    /// Names read in this graph (or its subgraphs) that nothing here defines: references to values
    /// of enclosing graphs.
    public var outerScopeReferences: [String] {
        var out: [String] = []
        var seen = Set<String>()
        for id in valueIDs {
            let v = self[value: id]
            if v.producer == nil && !v.isConstant && !inputs.contains(id) && !v.uses.isEmpty {
                if seen.insert(v.name).inserted { out.append(v.name) }
            }
        }
        for id in order {
            for a in self[node: id].attributes {
                for g in a.subgraphs {
                    for name in g.outerScopeReferences where nameTable.find(name, in: valueStore) == nil {
                        if seen.insert(name).inserted { out.append(name) }
                    }
                }
            }
        }
        return out
    }
}

/// Identifies one `ValueInfoProto` occurrence in a graph's inputs, outputs or `value_info`.
public enum InfoSlot: Hashable, Sendable {
    case input(Int)
    case output(Int)
    case valueInfo(Int)
}

/// The fields of a `ValueInfoProto` besides its name.
public struct ValueInfoRecord: Hashable, Sendable {
    public var type: ValueType?
    public var docString: String
    public var metadata: [StringPair]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(type: ValueType?, docString: String = "", metadata: [StringPair] = [],
                presence: FieldPresence = FieldPresence(), preserved: PreservedFields = PreservedFields()) {
        self.type = type
        self.docString = docString
        self.metadata = metadata
        self.presence = presence
        self.preserved = preserved
    }
}

extension Value {
    /// The value's primary `ValueInfoProto` fields.
    public var info: ValueInfoRecord {
        get { ValueInfoRecord(type: type, docString: docString, metadata: metadata, presence: infoPresence,
                              preserved: infoPreserved) }
        set {
            type = newValue.type
            docString = newValue.docString
            metadata = newValue.metadata
            infoPresence = newValue.presence
            infoPreserved = newValue.preserved
        }
    }
}

/// ONNX `TensorAnnotation`: quantization parameter names for a tensor.
public struct TensorAnnotation: Hashable, Sendable {
    public var tensorName: String
    public var quantParameterTensorNames: [StringPair]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(tensorName: String, quantParameterTensorNames: [StringPair]) {
        self.tensorName = tensorName
        self.quantParameterTensorNames = quantParameterTensorNames
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }
}

/// Whether slot `i` of an arena is live.
@inline(__always)
func isLive(_ live: ContiguousArray<Bool>, _ i: Int) -> Bool { live[i] }
