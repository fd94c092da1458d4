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
        var run = InferenceRun(rules: rules, model: model, writeBack: true)
        _ = run.inferGraph(&model.graph, path: "graph", parent: nil, inputOverrides: nil)
        return ShapeInferenceReport(file: file, issues: run.issues, unsupportedOperators: run.unsupported.sorted(),
                                    valuesInferred: run.valuesInferred)
    }

    /// Runs inference for its problems only (the checker's strict mode): the same rules, merges
    /// and issues as `infer`, but nothing is written back, so the model is neither copied nor
    /// changed.
    public func problems(in model: Model) -> [CheckIssue] {
        var run = InferenceRun(rules: rules, model: model, writeBack: false)
        var graph = model.graph  // shares storage; never mutated when writeBack is false
        _ = run.inferGraph(&graph, path: "graph", parent: nil, inputOverrides: nil)
        return run.issues
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

/// Known facts about the values of one graph, indexed by value ID (no hashing on the hot path),
/// with the enclosing graph's scope as parent. A value a nested graph reads from an enclosing one
/// is looked up there by name (`names`, built when the first nested graph is inferred); a value
/// defined in the graph itself shadows the enclosing scopes, as names do in ONNX.
///
/// A scope belongs to one inference run on one thread, so its arrays skip the dynamic exclusivity
/// checks of class properties (two runtime calls per access, several accesses per node).
final class InferenceScope {
    let parent: InferenceScope?
    @exclusivity(unchecked) var types: [InferredType?]
    @exclusivity(unchecked) var values: [[SymDim]?]
    @exclusivity(unchecked) var tensors: [Tensor?]
    /// The graph's value names; empty until a nested graph needs them (`indexNames`).
    private var names: [String: ValueID] = [:]

    init(parent: InferenceScope?, valueCount: Int) {
        self.parent = parent
        types = Array(repeating: nil, count: valueCount)
        values = Array(repeating: nil, count: valueCount)
        tensors = Array(repeating: nil, count: valueCount)
    }

    /// Makes the graph's values findable by name from nested graphs.
    func indexNames(_ g: Graph) {
        guard names.isEmpty else { return }
        for id in g.valueIDs { names[g.name(of: id)] = id }
    }

    func type(_ id: ValueID, in g: Graph) -> InferredType? {
        if let t = types[Int(id.index)] { return t }
        return parent?.type(named: g.name(of: id))
    }

    func value(_ id: ValueID, in g: Graph) -> [SymDim]? {
        if let v = values[Int(id.index)] { return v }
        return parent?.value(named: g.name(of: id))
    }

    func tensor(_ id: ValueID, in g: Graph) -> Tensor? {
        if let t = tensors[Int(id.index)] { return t }
        return parent?.tensor(named: g.name(of: id))
    }

    private func type(named name: String) -> InferredType? {
        if let id = names[name], let t = types[Int(id.index)] { return t }
        return parent?.type(named: name)
    }

    private func value(named name: String) -> [SymDim]? {
        if let id = names[name], let v = values[Int(id.index)] { return v }
        return parent?.value(named: name)
    }

    private func tensor(named name: String) -> Tensor? {
        if let id = names[name], let t = tensors[Int(id.index)] { return t }
        return parent?.tensor(named: name)
    }
}

struct InferenceRun {
    let rules: ShapeRuleRegistry
    var opsets: [String: Int]
    let functions: [String: Function]
    /// Whether inferred types are written into the graph (`infer`) or only checked (`problems`).
    let writeBack: Bool
    /// Local functions being inferred (a call to one of them again is not expanded).
    var activeFunctions: Set<String> = []
    var issues: [CheckIssue] = []
    var unsupported: Set<String> = []
    var valuesInferred = 0
    /// Per graph being inferred (innermost last): values already in value_info or the outputs.
    /// (By value index: one flag per value, no hashing.)
    var listed: [[Bool]] = []
    /// Rules resolved so far. Graphs repeat a few operators: a short list compared by name (small
    /// strings compare in a word or two) is cheaper than hashing two strings per node.
    var resolvedRules: [(domain: String, op: String, opset: Int, rule: ShapeRule?, shortcut: ShapeRuleRegistry.Shortcut?)] = []
    /// Buffers for the per-node input and output type lists, handed from one node to the next
    /// (uniquely owned again once a node's context is gone, so no node allocates its own).
    var spareInputTypes: [InferredType?] = []
    var spareOutputTypes: [InferredType?] = []
    /// Same for the constant input tensors (handed back with every slot nil).
    var spareInputTensors: [Tensor?] = []
    /// The opset of the last domain looked up (nodes of one domain follow each other); cleared
    /// whenever `opsets` changes.
    var lastOpset: (domain: String, opset: Int)?
    /// The last type written back to a value without a declared type, and what was written.
    var lastWritten: (inferred: InferredType, type: ValueType)?

    init(rules: ShapeRuleRegistry, model: Model, writeBack: Bool) {
        var functions: [String: Function] = [:]
        for f in model.functions where functions["\(f.domain):\(f.name)"] == nil { functions["\(f.domain):\(f.name)"] = f }
        self.rules = rules
        self.opsets = CheckContext.opsetTable(model.opsetImports)
        self.functions = functions
        self.writeBack = writeBack
    }

    /// The order to infer a graph's nodes in: `g.order` when it is already topological (the usual
    /// case, checked in one pass over the nodes), else `Graph.topologicalOrder` (which returns the
    /// same order for a sorted graph, so the fast path changes nothing but the time).
    static func inferenceOrder(_ g: Graph, valueCount: Int) -> [NodeID] {
        var defined = [Bool](repeating: false, count: valueCount)
        var sorted = true
        // Field reads, not node copies (a copy retains and releases every field of the node).
        check: for id in g.order {
            if g.hasSubgraphs(id) { sorted = false; break }  // outer-scope reads need the full analysis
            for case let v? in g.inputs(of: id) where !defined[Int(v.index)] && g.producer(of: v) != nil {
                sorted = false
                break check
            }
            for case let v? in g.outputs(of: id) { defined[Int(v.index)] = true }
        }
        if sorted { return g.order }
        return (try? g.topologicalOrder()) ?? g.order
    }

    /// The rule in force for (domain, op) at `opset` (`ShapeRuleRegistry.rule`), remembered for the
    /// first 32 operators met.
    mutating func rule(domain: String, op: String, opset: Int) -> (rule: ShapeRule, shortcut: ShapeRuleRegistry.Shortcut?)? {
        // By index: iterating the tuples would copy each (retaining its strings and closure).
        for i in resolvedRules.indices
        where resolvedRules[i].opset == opset && resolvedRules[i].op == op && resolvedRules[i].domain == domain {
            guard let rule = resolvedRules[i].rule else { return nil }
            return (rule, resolvedRules[i].shortcut)
        }
        let entry = rules.entry(domain: domain, op: op, opset: opset)
        if resolvedRules.count < 32 { resolvedRules.append((domain, op, opset, entry?.rule, entry?.shortcut)) }
        return entry
    }

    /// The output types a rule's shortcut gives (`ShapeRuleRegistry.Shortcut`), in `buffer`; nil
    /// when the shortcut does not apply (three or more inputs to broadcast: the rule runs).
    /// Takes the node's input slots and output count, not the node (copying a node from the graph
    /// retains each of its fields); a broadcasting conflict also returns nil, so that the rule runs
    /// and reports it with the node.
    static func shortcut(_ shortcut: ShapeRuleRegistry.Shortcut, inputs: [ValueID?], outputCount: Int,
                         inputTypes: [InferredType?], buffer: inout [InferredType?]) -> [InferredType?]? {
        var first: InferredType? = nil
        switch shortcut {
        case .passThrough:
            first = inputTypes.first ?? nil
        case .broadcast:
            var a: [SymDim]? = nil, b: [SymDim]? = nil  // the present inputs' shapes (no array of them)
            var present = 0
            var unknownRank = false
            for (i, slot) in inputs.enumerated() where slot != nil {
                present += 1
                guard present <= 2 else { return nil }
                guard let dims = inputTypes[i]?.dims else { unknownRank = true; continue }
                if present == 1 { a = dims } else { b = dims }
            }
            let dims: [SymDim]?
            if unknownRank { dims = nil }
            else if let a, let b {
                guard let d = Broadcast.compatiblePair(a, b) else { return nil }
                dims = d
            }
            else { dims = a ?? [] }
            first = .tensor(elementType: (inputTypes.first ?? nil)?.elementType, dims: dims)
        }
        var out = NodeContext.noOutputTypes(outputCount, reusing: &buffer)
        if !out.isEmpty { out[0] = first }
        return out
    }

    /// Infers one graph; returns the types of its outputs.
    mutating func inferGraph(_ g: inout Graph, path: String, parent: InferenceScope?,
                             inputOverrides: [InferredType?]?) -> [InferredType?] {
        let valueCount = g.valueIndexBound
        let scope = InferenceScope(parent: parent, valueCount: valueCount)
        if writeBack {
            var flags = [Bool](repeating: false, count: valueCount)
            for id in g.valueInfo { flags[Int(id.index)] = true }
            for id in g.outputs { flags[Int(id.index)] = true }
            listed.append(flags)
        } else {
            listed.append([])
        }
        defer { listed.removeLast() }
        for (k, id) in g.inputs.enumerated() {
            let declared = g.type(of: id).map(InferredType.init)
            let given = inputOverrides.flatMap { k < $0.count ? $0[k] : nil }
            let merged = (try? InferredType.merge(inferred: given, declared: declared)) ?? declared
            if let merged {
                scope.types[Int(id.index)] = merged
                if merged != declared { write(merged, to: id, in: &g, listInValueInfo: false) }
            }
        }
        // Runs of initializers with the same dims (per-channel scalars, biases) share one array.
        var lastDims: (dims: [Int64], symbolic: [SymDim])? = nil
        for id in g.initializerOrder {
            let t = g.initializer(of: id)!
            let k = Int(id.index)
            let dims = t.dims
            let symbolic: [SymDim]
            if let last = lastDims, last.dims == dims { symbolic = last.symbolic } else {
                symbolic = dims.map(SymDim.constant)
                lastDims = (dims, symbolic)
            }
            scope.types[k] = .tensor(elementType: t.dataType, dims: symbolic)
            scope.tensors[k] = t
            if let ints = t.integerValues(limit: NodeContext.maxPropagatedElements) {
                scope.values[k] = ints.map(SymDim.constant)
            }
        }
        let order = Self.inferenceOrder(g, valueCount: valueCount)
        for (index, id) in order.enumerated() {
            inferNode(id, index: index, in: &g, path: path, scope: scope)
        }
        return g.outputs.map { scope.type($0, in: g) ?? g.type(of: $0).map(InferredType.init) }
    }

    mutating func inferNode(_ id: NodeID, index: Int, in g: inout Graph, path: String, scope: InferenceScope) {
        // The fields most nodes need, read in place; the whole node (a copy retains every field)
        // only on the paths that use more: subgraphs, functions, rules without a shortcut, issues.
        let inputs = g.inputs(of: id)
        let outputs = g.outputs(of: id)
        let (opType, nodeDomain, hasSubgraphs) = g.withNode(id) { ($0.opType, $0.domain, $0.hasSubgraphs) }
        var copied: Node? = nil
        func fullNode() -> Node {
            if let copied { return copied }
            let n = g[node: id]
            copied = n
            return n
        }
        // Plain loops, not closures: a closure capturing `g` copies the Graph struct.
        var inputTypes = spareInputTypes
        spareInputTypes = []
        // Resized in place (operators of different arity alternate: no reallocation each time).
        if inputTypes.count > inputs.count { inputTypes.removeLast(inputTypes.count - inputs.count) }
        while inputTypes.count < inputs.count { inputTypes.append(nil) }
        var inputValues: [[SymDim]?] = []
        var inputTensors: [Tensor?] = []
        for (k, slot) in inputs.enumerated() {
            if let v = slot { inputTypes[k] = scope.type(v, in: g) } else { inputTypes[k] = nil }
        }
        // Subgraphs first (rule 4).
        var subOutputs: [String: [InferredType?]] = [:]
        if hasSubgraphs {
        let node = fullNode()
        for (k, attr) in node.attributes.enumerated() {
            guard case .graph(var sub) = attr.value else { continue }
            scope.indexNames(g)
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
            if writeBack { g[node: id].attributes[k].value = .graph(sub) }
        }
        copied = nil  // written back: read again if needed
        }
        let domain = OperatorDomain.canonical(nodeDomain)
        // Per output: the inferred type and values (empty when there are none: no allocation).
        var inferred: [InferredType?] = []
        var values: [[SymDim]?] = []
        var opLabel: String { domain.isEmpty ? opType : "\(domain):\(opType)" }
        let opset: Int
        if let last = lastOpset, last.domain == domain {
            opset = last.opset
        } else {
            opset = opsets[domain] ?? 0
            lastOpset = (domain, opset)
        }
        if !functions.isEmpty, let function = functions["\(nodeDomain):\(opType)"] {
            if let outs = inferCall(function, node: fullNode(), inputTypes: inputTypes) {
                inferred = Array(outs.prefix(outputs.count))
            } else {
                unsupported.insert(opLabel + " (local function)")
            }
        } else if let entry = rule(domain: domain, op: opType, opset: opset) {
            // Known elements of the inputs; left empty (no allocation) when no input has any,
            // which is most nodes (NodeContext reads past the end as nil).
            for (k, slot) in inputs.enumerated() {
                guard let v = slot, let known = scope.value(v, in: g) else { continue }
                if inputValues.isEmpty { inputValues = Array(repeating: nil, count: inputs.count) }
                inputValues[k] = known
            }
            var outputBuffer = spareOutputTypes
            spareOutputTypes = []
            do {
                // Without known input elements a shortcut computes what the rule would, without a
                // context (elementwise chains: most nodes of most graphs).
                if let shortcut = entry.shortcut, inputValues.isEmpty,
                   let out = Self.shortcut(shortcut, inputs: inputs, outputCount: outputs.count, inputTypes: inputTypes,
                                           buffer: &outputBuffer) {
                    inferred = out
                } else {
                    // The inputs' constant tensors, for the rule (the shortcut does not read them).
                    for (k, slot) in inputs.enumerated() {
                        guard let v = slot, let t = scope.tensor(v, in: g) else { continue }
                        if inputTensors.isEmpty {
                            inputTensors = spareInputTensors
                            spareInputTensors = []
                            // Every slot is nil (cleared when handed back); resized in place.
                            if inputTensors.count > inputs.count {
                                inputTensors.removeLast(inputTensors.count - inputs.count)
                            }
                            while inputTensors.count < inputs.count { inputTensors.append(nil) }
                        }
                        inputTensors[k] = t
                    }
                    var ctx = NodeContext(node: fullNode(), opset: opset, inputTypes: inputTypes,
                                          inputValues: inputValues, inputTensors: inputTensors,
                                          subgraphOutputs: subOutputs, outputBuffer: &outputBuffer)
                    try entry.rule(&ctx)
                    inferred = ctx.outputTypes
                    values = ctx.knownOutputValues  // empty when the rule set none
                }
            } catch let e as KilnError {
                issue("shape.error", e.message, path: path, index: index, node: fullNode())
            } catch {
                issue("shape.error", "\(error)", path: path, index: index, node: fullNode())
            }
        } else {
            unsupported.insert(opLabel)
        }
        for (k, slot) in outputs.enumerated() {
            guard let out = slot else { continue }
            let declared = g.type(of: out).map(InferredType.init)
            var merged = declared
            do {
                merged = try InferredType.merge(inferred: k < inferred.count ? inferred[k] : nil, declared: declared)
            } catch let c as TypeConflict {
                issue("shape.conflict", "output '\(g.name(of: out))': \(c.message)", path: path, index: index, node: fullNode(),
                      field: "output[\(k)]")
            } catch {}
            if let merged {
                scope.types[Int(out.index)] = merged
                if merged != declared { write(merged, to: out, in: &g, listInValueInfo: true) }
            }
            if k < values.count, let v = values[k] { scope.values[Int(out.index)] = v }
        }
        if opType == OpType.constant, domain.isEmpty, let out = outputs.first ?? nil,
           case .tensor(let t)? = fullNode().attribute("value")?.value {
            scope.tensors[Int(out.index)] = t
        }
        spareInputTypes = inputTypes
        spareOutputTypes = inferred
        if !inputTensors.isEmpty {
            for k in inputTensors.indices { inputTensors[k] = nil }
            spareInputTensors = inputTensors
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
        lastOpset = nil
        let outs = inferGraph(&body, path: "function(\(key))", parent: nil, inputOverrides: inputTypes)
        activeFunctions.remove(key)
        (opsets, issues, valuesInferred) = saved
        lastOpset = nil
        return outs
    }

    mutating func write(_ type: InferredType, to id: ValueID, in g: inout Graph, listInValueInfo: Bool) {
        valuesInferred += 1
        guard writeBack else { return }
        // Runs of values with the same inferred type and no declared one (elementwise chains) share
        // one `ValueType` (its shape storage included) instead of building one each.
        let base = g.type(of: id)
        if base == nil, let last = lastWritten, last.inferred == type {
            g[value: id].type = last.type
        } else {
            let written = type.valueType(base: base)
            if base == nil { lastWritten = (type, written) }
            g[value: id].type = written
        }
        if listInValueInfo && !listed[listed.count - 1][Int(id.index)] {
            listed[listed.count - 1][Int(id.index)] = true
            g.appendValueInfo(id)
        }
    }

    mutating func issue(_ rule: String, _ message: String, path: String, index: Int, node: Node, field: String? = nil) {
        issues.append(CheckIssue(rule: rule, message: message, graph: path, nodeIndex: index, nodeName: node.name,
                                 op: node.opType, field: field))
    }
}
