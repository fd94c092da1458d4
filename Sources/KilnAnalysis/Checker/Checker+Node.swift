import KilnIR
import KilnOpset

extension CheckContext {
    mutating func checkNode(_ node: Node, index: Int, graph g: Graph, path: String, opsets: [String: Int],
                            inFunction: Bool, types: inout TypeCache) {
        let domain = Self.canonicalDomain(node.domain)
        let at = NodeAt(index, node)
        for a in node.attributes where a.refAttrName != nil && !inFunction {
            report("node.ref-attribute", "attribute '\(a.name)' refers to a function attribute outside a function",
                   graph: path, node: at, field: "attribute(\(a.name))")
        }
        if !functions.isEmpty, functions.contains(FunctionKey(domain: node.domain, name: node.opType, overload: node.overload)) {
            return  // a call of a local function; its body is checked on its own
        }
        guard let opset = opsets[domain] else {
            report("node.domain-not-imported",
                   "domain '\(domain.isEmpty ? "ai.onnx" : domain)' is not imported (no opset_import entry)",
                   graph: path, node: at, field: "domain")
            return
        }
        let resolved = resolve(domain: domain, op: node.opType, opset: opset)
        if let schema = resolved.schema {
            checkArity(node, schema: schema, path: path, at: at)
            checkAttributes(node, schema: schema, path: path, at: at)
            checkTypes(node, schema: schema, graph: g, path: path, at: at, types: &types)
            return
        }
        switch resolved.resolution {
        case .available:
            return  // handled above
        case .deprecated(let s):
            report("node.deprecated-op",
                   "\(node.opType) was removed from \(domain.isEmpty ? "ai.onnx" : domain) at opset \(s.sinceVersion); the model imports opset \(opset)",
                   graph: path, node: at)
            return
        case .notYetIntroduced(let first):
            report("node.unknown-op",
                   "\(node.opType) does not exist at opset \(opset) of \(domain.isEmpty ? "ai.onnx" : domain) (it appears at opset \(first))",
                   graph: path, node: at)
            return
        case .unknownOperator:
            if registry.domains.contains(domain) {
                report("node.unknown-op", "no operator \(node.opType) in domain \(domain.isEmpty ? "ai.onnx" : domain)",
                       graph: path, node: at)
            }
            return  // custom domains without a schema cannot be checked further
        }
    }

    private mutating func checkArity(_ node: Node, schema: OperatorSchema, path: String, at: NodeAt) {
        var v: String { "\(schema.name)-\(schema.sinceVersion)" }
        if node.inputs.count < schema.minInputs || node.inputs.count > schema.maxInputs {
            report("node.arity", "has \(node.inputs.count) inputs; \(v) takes \(Self.range(schema.minInputs, schema.maxInputs))",
                   graph: path, node: at, field: "input")
        }
        if node.outputs.count < schema.minOutputs || node.outputs.count > schema.maxOutputs {
            report("node.arity", "has \(node.outputs.count) outputs; \(v) gives \(Self.range(schema.minOutputs, schema.maxOutputs))",
                   graph: path, node: at, field: "output")
        }
        for (slot, input) in node.inputs.enumerated() where input == nil {
            if let p = Self.parameter(schema.inputs, slot), p.option == .single {
                report("node.missing-input", "input \(slot) ('\(p.name)') is required but empty", graph: path, node: at,
                       field: "input[\(slot)]")
            }
        }
    }

    static func range(_ lo: Int, _ hi: Int) -> String {
        if hi == OperatorSchema.unbounded { return "at least \(lo)" }
        return lo == hi ? "\(lo)" : "\(lo) to \(hi)"
    }

    /// The formal parameter binding slot `slot` (the last one when it is variadic).
    static func parameter(_ params: [OperatorSchema.FormalParameter], _ slot: Int) -> OperatorSchema.FormalParameter? {
        if slot < params.count { return params[slot] }
        if let last = params.last, last.option == .variadic { return last }
        return nil
    }

    private mutating func checkAttributes(_ node: Node, schema: OperatorSchema, path: String, at: NodeAt) {
        var seen = Set<String>()
        for a in node.attributes {
            let field = "attribute(\(a.name))"
            if !seen.insert(a.name).inserted {
                report("node.duplicate-attribute", "attribute '\(a.name)' is given more than once", graph: path, node: at, field: field)
            }
            guard let declared = schema.attribute(named: a.name) else {
                report("node.unknown-attribute", "\(schema.name)-\(schema.sinceVersion) has no attribute '\(a.name)'",
                       graph: path, node: at, field: field)
                continue
            }
            if a.refAttrName != nil { continue }
            if !declared.type.matches(a.value) {
                report("node.attribute-type", "is \(a.value.typeName), \(schema.name) declares \(declared.type)",
                       graph: path, node: at, field: field)
            }
        }
        for declared in schema.attributes where declared.isRequired && !seen.contains(declared.name) {
            report("node.missing-attribute", "required attribute '\(declared.name)' is missing", graph: path, node: at,
                   field: "attribute(\(declared.name))")
        }
    }

    /// Known type of a value: declared (inputs, outputs, value_info) or from its initializer.
    static func knownType(_ id: ValueID, in g: Graph) -> String? {
        // Field reads: `g[value: id]` would copy the whole value, retaining every field.
        if let t = g.type(of: id)?.onnxTypeString { return t }
        guard g.isConstant(id) else { return nil }
        if let t = g.initializer(of: id) { return t.dataType.tensorTypeString }
        if let s = g[value: id].sparseInitializer, let t = s.values { return "sparse_tensor(\(t.dataType.name))" }
        return nil
    }

    /// Type parameters a node has bound so far (few per node: a small array beats a dictionary).
    typealias Bindings = [(parameter: String, type: String, kind: String, slot: Int)]

    private mutating func checkTypes(_ node: Node, schema: OperatorSchema, graph g: Graph, path: String,
                                     at: NodeAt, types: inout TypeCache) {
        var bound: Bindings = []
        checkTypes(node.inputs, schema.inputs, "input", schema: schema, graph: g, path: path, at: at, types: &types,
                   bound: &bound)
        checkTypes(node.outputs, schema.outputs, "output", schema: schema, graph: g, path: path, at: at, types: &types,
                   bound: &bound)
    }

    /// One side (inputs or outputs) of `checkTypes`; a method, not a closure, so that the graph is
    /// borrowed rather than captured (a capture copies the `Graph` struct, a retain per field).
    private mutating func checkTypes(_ values: [ValueID?], _ params: [OperatorSchema.FormalParameter], _ kind: String,
                                     schema: OperatorSchema, graph g: Graph, path: String, at: NodeAt,
                                     types: inout TypeCache, bound: inout Bindings) {
        for (slot, value) in values.enumerated() {
            guard let value, let param = Self.parameter(params, slot), let type = types.type(of: value, in: g) else { continue }
            if let constraint = schema.typeConstraints.first(where: { $0.typeParameter == param.typeString }) {
                if !constraint.allows(type) {
                    report("node.type-constraint",
                           "'\(g.name(of: value))' is \(type), not allowed for \(param.typeString) of \(schema.name)-\(schema.sinceVersion)",
                           graph: path, node: at, field: "\(kind)[\(slot)]")
                    continue
                }
                if param.option == .variadic && !param.isHomogeneous { continue }
                if let previous = bound.first(where: { $0.parameter == param.typeString }) {
                    if previous.type != type {
                        report("node.type-mismatch",
                               "'\(g.name(of: value))' is \(type) but \(previous.kind)[\(previous.slot)] binds \(param.typeString) to \(previous.type)",
                               graph: path, node: at, field: "\(kind)[\(slot)]")
                    }
                } else {
                    bound.append((param.typeString, type, kind, slot))
                }
            } else if param.typeString.contains("("), param.typeString != type {
                report("node.type-constraint", "'\(g.name(of: value))' is \(type), \(schema.name) requires \(param.typeString)",
                       graph: path, node: at, field: "\(kind)[\(slot)]")
            }
        }
    }
}

/// Type strings of a graph's values, computed once per value (indexed by value ID).
struct TypeCache {
    private enum Entry { case notComputed, computed(String?) }
    private var strings: [Entry]

    init(valueCount: Int) {
        strings = Array(repeating: .notComputed, count: valueCount)
    }

    mutating func type(of id: ValueID, in g: Graph) -> String? {
        let k = Int(id.index)
        if k >= strings.count { return CheckContext.knownType(id, in: g) }
        if case .computed(let t) = strings[k] { return t }
        let t = CheckContext.knownType(id, in: g)
        strings[k] = .computed(t)
        return t
    }
}

extension CheckContext {
    /// Schema resolution, memoized per (domain, op, opset): graphs repeat the same few operators.
    /// The first 32 met are kept in a short list compared by name (small strings compare in a word
    /// or two), cheaper than hashing two strings per node; the rest in a dictionary. Entries are
    /// boxed so that a lookup hands out one reference, not a copy of the schema's arrays.
    mutating func resolve(domain: String, op: String, opset: Int) -> ResolvedOperator {
        for i in recentResolutions.indices {
            let r = recentResolutions[i]
            if r.opset == opset && r.op == op && r.domain == domain { return r }
        }
        let key = ResolutionKey(domain: domain, op: op, opset: opset)
        if let r = resolutions[key] { return r }
        let r = ResolvedOperator(domain: domain, op: op, opset: opset,
                                 resolution: registry.resolve(domain: domain, op: op, opset: opset))
        if recentResolutions.count < 32 {
            recentResolutions.append(r)
        } else {
            resolutions[key] = r
        }
        return r
    }
}

/// A memoized schema resolution (`CheckContext.resolve`).
final class ResolvedOperator {
    let domain: String
    let op: String
    let opset: Int
    let resolution: SchemaRegistry.Resolution
    /// The schema when it is available.
    let schema: OperatorSchema?

    init(domain: String, op: String, opset: Int, resolution: SchemaRegistry.Resolution) {
        self.domain = domain
        self.op = op
        self.opset = opset
        self.resolution = resolution
        self.schema = resolution.schema
    }
}

struct ResolutionKey: Hashable {
    var domain: String
    var op: String
    var opset: Int
}
