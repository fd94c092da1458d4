/// An operator set a model imports: `domain` at `version` (ONNX `OperatorSetIdProto`).
public struct OpsetImport: Hashable, Sendable {
    public var domain: String
    public var version: Int64
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(domain: String, version: Int64) {
        self.domain = domain
        self.version = version
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }
}

/// A model (ONNX `ModelProto`): the main graph plus model-level information.
public struct Model: Hashable, Sendable {
    public var irVersion: Int64
    public var opsetImports: [OpsetImport]
    public var producerName: String
    public var producerVersion: String
    public var domain: String
    public var modelVersion: Int64
    public var docString: String
    public var graph: Graph
    /// Whether the file had a `graph` field at all.
    public var hasGraph: Bool
    public var metadata: [StringPair]
    public var trainingInfo: [TrainingInfo]
    public var functions: [Function]
    public var presence: FieldPresence
    /// Unmodeled fields, including `configuration` (device configurations).
    public var preserved: PreservedFields

    public init(graph: Graph, irVersion: Int64 = 10, opsetImports: [OpsetImport] = [OpsetImport(domain: "", version: 21)]) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = ""
        self.producerVersion = ""
        self.domain = ""
        self.modelVersion = 0
        self.docString = ""
        self.graph = graph
        self.hasGraph = true
        self.metadata = []
        self.trainingInfo = []
        self.functions = []
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }

    /// The imported version of `domain` (`""` and `"ai.onnx"` are the same domain).
    public func opsetVersion(for domain: String) -> Int64? {
        let d = domain == "ai.onnx" ? "" : domain
        return opsetImports.first { ($0.domain == "ai.onnx" ? "" : $0.domain) == d }?.version
    }
}

/// A model-local function (ONNX `FunctionProto`). Its body is a `Graph` whose inputs and outputs
/// are the function's formal parameters (without types).
public struct Function: Hashable, Sendable {
    public var name: String
    public var domain: String
    public var overload: String
    public var body: Graph
    /// Attribute names declared without a default.
    public var attributeNames: [String]
    /// Attributes declared with a default value.
    public var attributeDefaults: [Attribute]
    public var opsetImports: [OpsetImport]
    public var docString: String
    public var metadata: [StringPair]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(name: String, domain: String, body: Graph) {
        self.name = name
        self.domain = domain
        self.overload = ""
        self.body = body
        self.attributeNames = []
        self.attributeDefaults = []
        self.opsetImports = []
        self.docString = ""
        self.metadata = []
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }
}

/// ONNX `TrainingInfoProto`, kept so training models round-trip.
public struct TrainingInfo: Hashable, Sendable {
    public var initialization: Graph?
    public var algorithm: Graph?
    public var initializationBinding: [StringPair]
    public var updateBinding: [StringPair]
    public var preserved: PreservedFields

    public init(initialization: Graph?, algorithm: Graph?) {
        self.initialization = initialization
        self.algorithm = algorithm
        self.initializationBinding = []
        self.updateBinding = []
        self.preserved = PreservedFields()
    }
}
