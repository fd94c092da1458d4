import KilnIR
import KilnOpset

/// Symbolic shape and type inference over a model: every graph, subgraphs included, in
/// topological order, by the rules of a `ShapeRuleRegistry`. See Docs/ShapeInference.md.
///
/// Rules:
/// 1. Graph inputs keep their declared types; initializers have the type of their tensor; small
///    integer initializers and `Constant` outputs also have known elements (data propagation).
/// 2. A node whose operator has a rule at the model's opset gets its outputs inferred; the result is
///    merged with any declared type (`InferredType.merge`). A conflict is an error naming the node
///    and the value; the declared type is kept.
/// 3. A node without a rule leaves its outputs as declared: never guessed. Such operators are
///    listed in the report. A call of a model-local function is inferred by inferring the body
///    with the call's input types, attributes and the function's opsets (`inferCall`).
/// 4. Subgraph attributes (If branches, Loop and Scan bodies) are inferred before their node, with
///    the enclosing values in scope; Loop bodies get their input types from the node's inputs.
/// 5. Every value whose type became more specific is written back: node outputs not yet listed are
///    appended to `value_info`; graph outputs get their types filled in.
public struct ShapeInference: Sendable {
    public var rules: ShapeRuleRegistry

    public init(rules: ShapeRuleRegistry = .standard) {
        self.rules = rules
    }

    /// Infers types and shapes in place and reports conflicts, rule errors and operators without a rule.
    public func infer(_ model: inout Model, file: String? = nil) -> ShapeInferenceReport {
        var functions: [String: Function] = [:]
        for f in model.functions where functions["\(f.domain):\(f.name)"] == nil { functions["\(f.domain):\(f.name)"] = f }
        var run = InferenceRun(rules: rules, opsets: CheckContext.opsetTable(model.opsetImports), functions: functions)
        _ = run.inferGraph(&model.graph, path: "graph", parent: nil, inputOverrides: nil)
        return ShapeInferenceReport(file: file, issues: run.issues, unsupportedOperators: run.unsupported.sorted(),
                                    valuesInferred: run.valuesInferred)
    }
}

/// The result of `ShapeInference.infer`.
public struct ShapeInferenceReport: Encodable, Sendable {
    public var schema: Int = 1
    public var file: String?
    /// Conflicts with declared types (`shape.conflict`) and rule errors (`shape.error`).
    public var issues: [CheckIssue]
    /// Operators met without a rule (`Op` or `domain:Op`); their outputs were left as declared.
    public var unsupportedOperators: [String]
    /// Values whose type was filled in or made more specific.
    public var valuesInferred: Int
    public var valid: Bool { issues.isEmpty }

    enum CodingKeys: String, CodingKey {
        case schema, file, valid, issues, unsupportedOperators, valuesInferred
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encodeIfPresent(file, forKey: .file)
        try c.encode(valid, forKey: .valid)
        try c.encode(issues, forKey: .issues)
        try c.encode(unsupportedOperators, forKey: .unsupportedOperators)
        try c.encode(valuesInferred, forKey: .valuesInferred)
    }
}

/// Known facts about values, by name, with the enclosing graph's scope as parent.
final class InferenceScope {
    let parent: InferenceScope?
    var types: [String: InferredType] = [:]
    var values: [String: [SymDim]] = [:]
    var tensors: [String: Tensor] = [:]

    init(parent: InferenceScope?) { self.parent = parent }

    func type(_ name: String) -> InferredType? { types[name] ?? parent?.type(name) }
    func value(_ name: String) -> [SymDim]? { values[name] ?? parent?.value(name) }
    func tensor(_ name: String) -> Tensor? { tensors[name] ?? parent?.tensor(name) }
}

struct InferenceRun {
    let rules: ShapeRuleRegistry
    var opsets: [String: Int]
    let functions: [String: Function]
    /// Local functions being inferred (a call to one of them again is not expanded).
    var activeFunctions: Set<String> = []
    var issues: [CheckIssue] = []
    var unsupported: Set<String> = []
    var valuesInferred = 0
    /// Per graph being inferred (innermost last): values already in value_info or the outputs.
    var listed: [Set<ValueID>] = []

    init(rules: ShapeRuleRegistry, opsets: [String: Int], functions: [String: Function]) {
        self.rules = rules
        self.opsets = opsets
        self.functions = functions
    }

    /// Infers one graph; returns the types of its outputs.
    mutating func inferGraph(_ g: inout Graph, path: String, parent: InferenceScope?,
                             inputOverrides: [InferredType?]?) -> [InferredType?] {
        let scope = InferenceScope(parent: parent)
        listed.append(Set(g.valueInfo).union(g.outputs))
        defer { listed.removeLast() }
        for (k, id) in g.inputs.enumerated() {
            let declared = g[value: id].type.map(InferredType.init)
            let given = inputOverrides.flatMap { k < $0.count ? $0[k] : nil }
            let merged = (try? InferredType.merge(inferred: given, declared: declared)) ?? declared
            if let merged {
                scope.types[g.name(of: id)] = merged
                if merged != declared { write(merged, to: id, in: &g, listInValueInfo: false) }
            }
        }
        for id in g.initializerOrder {
            let t = g[value: id].initializer!
            let name = g.name(of: id)
            scope.types[name] = .tensor(elementType: t.dataType, dims: t.dims.map(SymDim.constant))
            scope.tensors[name] = t
            if let ints = t.integerValues(limit: NodeContext.maxPropagatedElements) {
                scope.values[name] = ints.map(SymDim.constant)
            }
        }
        let order = (try? g.topologicalOrder()) ?? g.order
        for (index, id) in order.enumerated() {
            inferNode(id, index: index, in: &g, path: path, scope: scope)
        }
        return g.outputs.map { scope.type(g.name(of: $0)) ?? g[value: $0].type.map(InferredType.init) }
    }

    mutating func inferNode(_ id: NodeID, index: Int, in g: inout Graph, path: String, scope: InferenceScope) {
        let node = g[node: id]
        let inputNames = node.inputs.map { $0.map { g.name(of: $0) } }
        let inputTypes = inputNames.map { $0.flatMap(scope.type) }
        // Subgraphs first (rule 4).
        var subOutputs: [String: [InferredType?]] = [:]
        for (k, attr) in node.attributes.enumerated() {
            guard case .graph(var sub) = attr.value else { continue }
            let label = node.name.isEmpty ? node.opType : node.name
            // Most specific input types first; a candidate is kept when the body's loop-carried
            // outputs come back with the types it assumed (ControlFlowRules case 5).
            let candidates = ControlFlowRules.bodyInputCandidates(
                node: node, attribute: attr.name, nodeInputs: inputTypes,
                opset: opsets[OperatorDomain.canonical(node.domain)] ?? 0)
            for (c, overrides) in candidates.enumerated() {
                var trial = sub
                let saved = (issues, valuesInferred, unsupported)
                let outs = inferGraph(&trial, path: "\(path)/\(label).\(attr.name)", parent: scope, inputOverrides: overrides)
                if c == candidates.count - 1 || ControlFlowRules.isFixedPoint(node: node, inputs: overrides, outputs: outs) {
                    sub = trial
                    subOutputs[attr.name] = outs
                    break
                }
                (issues, valuesInferred, unsupported) = saved
            }
            g[node: id].attributes[k].value = .graph(sub)
        }
        let domain = OperatorDomain.canonical(node.domain)
        let declared: [InferredType?] = node.outputs.map { $0.flatMap { g[value: $0].type.map(InferredType.init) } }
        var inferred: [InferredType?] = Array(repeating: nil, count: node.outputs.count)
        var values: [[SymDim]?] = Array(repeating: nil, count: node.outputs.count)
        let opLabel = domain.isEmpty ? node.opType : "\(domain):\(node.opType)"
        if let function = functions["\(node.domain):\(node.opType)"] {
            if let outs = inferCall(function, node: node, inputTypes: inputTypes) {
                for k in 0..<min(outs.count, inferred.count) { inferred[k] = outs[k] }
            } else {
                unsupported.insert(opLabel + " (local function)")
            }
        } else if let rule = rules.rule(domain: domain, op: node.opType, opset: opsets[domain] ?? 0) {
            var ctx = NodeContext(node: node, opset: opsets[domain] ?? 0, inputTypes: inputTypes,
                                  inputValues: inputNames.map { $0.flatMap(scope.value) },
                                  inputTensors: inputNames.map { $0.flatMap(scope.tensor) },
                                  subgraphOutputs: subOutputs)
            do {
                try rule(&ctx)
                inferred = ctx.outputTypes
                values = ctx.outputValues
            } catch let e as KilnError {
                issue("shape.error", e.message, path: path, index: index, node: node)
            } catch {
                issue("shape.error", "\(error)", path: path, index: index, node: node)
            }
        } else {
            unsupported.insert(opLabel)
        }
        for (k, slot) in node.outputs.enumerated() {
            guard let out = slot else { continue }
            let name = g.name(of: out)
            var merged = declared[k]
            do {
                merged = try InferredType.merge(inferred: inferred[k], declared: declared[k])
            } catch let c as TypeConflict {
                issue("shape.conflict", "output '\(name)': \(c.message)", path: path, index: index, node: node,
                      field: "output[\(k)]")
            } catch {}
            if let merged {
                scope.types[name] = merged
                if merged != declared[k] { write(merged, to: out, in: &g, listInValueInfo: true) }
            }
            if let v = values[k] { scope.values[name] = v }
        }
        if node.opType == OpType.constant, domain.isEmpty, let out = node.outputs.first ?? nil,
           case .tensor(let t)? = node.attribute("value")?.value {
            scope.tensors[g.name(of: out)] = t
        }
    }

    /// Infers a call of a local function: its body, with the call's input types and attributes
    /// (references resolved, defaults applied) and the function's opset imports. Problems inside
    /// the body are not reported (they belong to the function, which `kiln check` covers); nil
    /// when the call cannot be expanded (recursion).
    mutating func inferCall(_ f: Function, node: Node, inputTypes: [InferredType?]) -> [InferredType?]? {
        let key = "\(f.domain):\(f.name)"
        guard !activeFunctions.contains(key) else { return nil }
        var body = f.body
        for id in body.order {
            var attributes: [Attribute] = []
            for a in body[node: id].attributes {
                guard let ref = a.refAttrName else { attributes.append(a); continue }
                if var given = node.attribute(ref) ?? f.attributeDefaults.first(where: { $0.name == ref }) {
                    given.name = a.name
                    given.refAttrName = nil
                    attributes.append(given)
                }
            }
            body[node: id].attributes = attributes
        }
        let saved = (opsets, issues, valuesInferred)
        activeFunctions.insert(key)
        for (d, v) in CheckContext.opsetTable(f.opsetImports) { opsets[d] = v }
        let outs = inferGraph(&body, path: "function(\(key))", parent: nil, inputOverrides: inputTypes)
        activeFunctions.remove(key)
        (opsets, issues, valuesInferred) = saved
        return outs
    }

    mutating func write(_ type: InferredType, to id: ValueID, in g: inout Graph, listInValueInfo: Bool) {
        g[value: id].type = type.valueType(base: g[value: id].type)
        valuesInferred += 1
        if listInValueInfo && listed[listed.count - 1].insert(id).inserted {
            g.appendValueInfo(id)
        }
    }

    mutating func issue(_ rule: String, _ message: String, path: String, index: Int, node: Node, field: String? = nil) {
        issues.append(CheckIssue(rule: rule, message: message, graph: path, nodeIndex: index, nodeName: node.name,
                                 op: node.opType, field: field))
    }
}
