/// Identifies a node inside one `Graph`. Stable while the node exists; never exposed in output.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int32
    init(_ index: Int) { self.index = Int32(index) }
    public static func < (a: NodeID, b: NodeID) -> Bool { a.index < b.index }
    public var description: String { "%n\(index)" }
}

/// Identifies a value inside one `Graph`.
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int32
    init(_ index: Int) { self.index = Int32(index) }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "%v\(index)" }
}

/// One use of a value: input slot `index` of `node`.
public struct Use: Hashable, Sendable {
    public var node: NodeID
    public var index: Int
}

/// Common operator type names, so passes never scatter string literals.
public enum OpType {
    public static let identity = "Identity"
    public static let constant = "Constant"
    public static let ifOp = "If"
    public static let loop = "Loop"
    public static let scan = "Scan"
}

/// An operator application (ONNX `NodeProto`). Inputs and outputs are edited only through `Graph`,
/// which keeps the use lists of the values in step.
public struct Node: Hashable, Sendable {
    public var opType: String
    public var domain: String
    public var overload: String
    public var name: String
    public var attributes: [Attribute]
    /// Input values; `nil` is an empty optional input slot (`""` in ONNX).
    public internal(set) var inputs: [ValueID?]
    /// Output values; `nil` is an unused optional output (`""` in ONNX).
    public internal(set) var outputs: [ValueID?]
    public var docString: String
    public var metadata: [StringPair]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(opType: String, domain: String = "", name: String = "", attributes: [Attribute] = []) {
        self.opType = opType
        self.domain = domain
        self.overload = ""
        self.name = name
        self.attributes = attributes
        self.inputs = []
        self.outputs = []
        self.docString = ""
        self.metadata = []
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }

    /// The attribute named `name`, if any.
    public func attribute(_ name: String) -> Attribute? {
        attributes.first { $0.name == name }
    }

    /// A short label for messages: `Conv 'conv1'`.
    public var label: String {
        let op = domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
        return name.isEmpty ? op : "\(op) '\(name)'"
    }

    /// Whether any attribute holds a subgraph.
    public var hasSubgraphs: Bool {
        attributes.contains { !$0.subgraphs.isEmpty }
    }
}

/// A value in a graph: a graph input, an initializer, a node output, or a name captured from an
/// enclosing graph (in a subgraph).
public struct Value: Hashable, Sendable {
    public internal(set) var name: String
    /// Declared or inferred type (from the graph's inputs, outputs or `value_info`).
    public var type: ValueType?
    /// `doc_string` and `metadata_props` of the value's `ValueInfoProto`.
    public var docString: String
    public var metadata: [StringPair]
    public var infoPresence: FieldPresence
    public var infoPreserved: PreservedFields
    /// The node producing this value and the output slot, if a node produces it.
    public internal(set) var producer: NodeID?
    public internal(set) var producerOutputIndex: Int
    /// Node input slots reading this value, in no particular order.
    public internal(set) var uses: [Use]
    /// The initializer. A dense tensor is one reference already (`Tensor` boxes its fields), so
    /// only the rare sparse case is boxed: values stay small and a dense initializer costs no
    /// allocation of its own.
    var constant: Constant?

    enum Constant: Hashable, Sendable {
        case dense(Tensor)
        indirect case sparse(SparseTensor)
    }

    /// A constant initializer for this value (dense).
    public var initializer: Tensor? {
        get { if case .dense(let t)? = constant { return t } else { return nil } }
        set {
            if let t = newValue { constant = .dense(t) }
            else if case .dense? = constant { constant = nil }
        }
    }

    /// A sparse initializer for this value.
    public var sparseInitializer: SparseTensor? {
        get { if case .sparse(let s)? = constant { return s } else { return nil } }
        set {
            if let s = newValue { constant = .sparse(s) }
            else if case .sparse? = constant { constant = nil }
        }
    }

    init(name: String) {
        self.name = name
        self.type = nil
        self.docString = ""
        self.metadata = []
        self.infoPresence = FieldPresence()
        self.infoPreserved = PreservedFields()
        self.producer = nil
        self.producerOutputIndex = 0
        self.uses = []
        self.constant = nil
    }

    public var isConstant: Bool { if case .some = constant { return true } else { return false } }
}
