import KilnIR

/// One problem the checker found: which rule, where, and what is wrong.
public struct CheckIssue: Codable, Sendable, Equatable, CustomStringConvertible {
    /// A stable rule identifier (`node.unknown-attribute`, `graph.ssa`, ...), listed in
    /// Docs/Commands/check.md.
    public var rule: String
    public var message: String
    /// The graph path: `graph`, `graph/loop_1.body`, `function(custom:MyOp)`.
    public var graph: String
    /// The node, when the problem is in one.
    public var nodeIndex: Int?
    public var nodeName: String?
    public var op: String?
    /// The field or attribute concerned (`attribute(axis)`, `input[1]`, `initializer(w)`).
    public var field: String?

    public init(rule: String, message: String, graph: String, nodeIndex: Int? = nil, nodeName: String? = nil,
                op: String? = nil, field: String? = nil) {
        self.rule = rule
        self.message = message
        self.graph = graph
        self.nodeIndex = nodeIndex
        self.nodeName = nodeName
        self.op = op
        self.field = field
    }

    /// `graph.node[3](conv1) Conv: attribute(kernel_shape): ...`
    public var description: String {
        var location = graph
        if let i = nodeIndex {
            location += ".node[\(i)]"
            if let n = nodeName, !n.isEmpty { location += "(\(n))" }
        }
        if let op { location += " \(op)" }
        var text = location + ": "
        if let field { text += field + ": " }
        return text + message + " [\(rule)]"
    }
}

/// The result of checking a model.
public struct CheckReport: Codable, Sendable, Equatable {
    public var schema: Int = 1
    public var file: String?
    public var valid: Bool { issues.isEmpty }
    public var issues: [CheckIssue]

    public init(file: String?, issues: [CheckIssue]) {
        self.file = file
        self.issues = issues
    }

    enum CodingKeys: String, CodingKey {
        case schema, file, valid, issues
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encodeIfPresent(file, forKey: .file)
        try c.encode(valid, forKey: .valid)
        try c.encode(issues, forKey: .issues)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decode(Int.self, forKey: .schema)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        issues = try c.decode([CheckIssue].self, forKey: .issues)
    }
}
