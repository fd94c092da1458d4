import KilnIR
import KilnOpset
import KilnAnalysis

/// Converts a model's default-domain opset up or down (`kiln convert --opset N`).
///
/// Rules (Docs/OpsetConversion.md):
/// 1. Types first: shape inference runs on the input so adapters know ranks and element types.
/// 2. The opset moves one step at a time (`c -> c + 1` or `c -> c - 1`). At each step every node
///    of the domain whose operator has a version boundary there (the schema in force at the
///    higher opset has that since-version) gets the rule of `OpsetRules` for (op, version,
///    direction); nodes an expansion adds are converted in the same step.
/// 3. Subgraphs (If/Loop/Scan bodies) convert with their node's graph; model-local functions
///    convert from their own import of the domain; other domains are left as they are.
/// 4. A refusal anywhere stops the conversion with an error naming the node, the op and the
///    reason; the caller's model is left as it was (the conversion works on a copy).
/// 5. After the last step: the opset import is set, the IR version raised to the least the
///    target opset needs, `value_info` keeps only the entries the input listed and subgraph
///    outputs the input left untyped stay untyped (inferred types served the adapters), and the checker with strict shape inference must find nothing.
public struct OpsetConverter: Sendable {
    public var rules: OpsetRules
    public var domain: String

    public init(rules: OpsetRules = .standard, domain: String = OperatorDomain.onnx) {
        self.rules = rules
        self.domain = OperatorDomain.canonical(domain)
    }

    public struct Report: Sendable {
        public var from: Int
        public var to: Int
        /// `Op-version direction: reason` -> number of nodes it applied to (adapters and expansions).
        public var applied: [String: Int] = [:]

        /// One line per rule applied, sorted.
        public var lines: [String] {
            applied.sorted { $0.key < $1.key }.map { "\($0.key) (x\($0.value))" }
        }
    }

    /// The least IR version each opset of the default domain needs (onnx's `VERSION_TABLE`).
    static let minimumIRVersion: [Int: Int64] = [
        7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9,
        21: 10, 22: 10, 23: 11, 24: 12, 25: 13, 26: 13, 27: 13, 28: 14,
    ]

    /// The opsets of the domain a conversion may target (7 up to the schema table's highest).
    public var supportedOpsets: ClosedRange<Int> {
        let top = rules.registry.opsetRange(domain: domain)?.upperBound ?? 7
        return domain == OperatorDomain.onnx ? 7...top : 1...top
    }

    public func convert(_ model: inout Model, to target: Int) throws -> Report {
        let domainName = domain.isEmpty ? "ai.onnx" : domain
        guard supportedOpsets.contains(target) else {
            throw KilnError(.unsupported, "--opset \(target): \(domainName) opsets \(supportedOpsets.lowerBound)...\(supportedOpsets.upperBound) are supported")
        }
        guard let source = model.opsetVersion(for: domain).map(Int.init) else {
            // No node can be in a domain the model does not import: only the import is added.
            var work = model
            work.opsetImports.append(OpsetImport(domain: domain, version: Int64(target)))
            try Self.verify(&work, target: target)
            model = work
            return Report(from: target, to: target)
        }
        // A source below 7 converts while its nodes meet only rules the table has (automatic ones
        // below 8); a node meeting a version change without a rule is refused by name.
        guard source >= 1 && source <= supportedOpsets.upperBound else {
            throw KilnError(.unsupported, "the model's \(domainName) opset \(source) is outside 1...\(supportedOpsets.upperBound)")
        }
        var report = Report(from: source, to: target)
        var work = model
        if source != target {
            var listed = Set<String>()
            var untyped = Set<String>()
            collectValueInfo(work.graph, into: &listed, untypedOutputs: &untyped)
            _ = ShapeInference().infer(&work)
            var reserved = Set<String>()
            collectNames(work.graph, into: &reserved)
            try convertGraph(&work.graph, from: source, to: target, isFunctionBody: false, reserved: &reserved, report: &report)
            for i in work.functions.indices {
                guard let k = work.functions[i].opsetImports.firstIndex(where: { OperatorDomain.canonical($0.domain) == domain }) else { continue }
                let own = Int(work.functions[i].opsetImports[k].version)
                do {
                    try convertGraph(&work.functions[i].body, from: own, to: target, isFunctionBody: true,
                                     reserved: &reserved, report: &report)
                } catch let e as KilnError {
                    throw e.within("function(\(work.functions[i].name))")
                }
                work.functions[i].opsetImports[k].version = Int64(target)
            }
            if let k = work.opsetImports.firstIndex(where: { OperatorDomain.canonical($0.domain) == domain }) {
                work.opsetImports[k].version = Int64(target)
            }
            if domain == OperatorDomain.onnx, let ir = Self.minimumIRVersion[target], work.irVersion < ir {
                work.irVersion = ir
            }
            // Inferred types served the adapters; the output lists only the value_info it had.
            restrictValueInfo(&work.graph, to: listed, untypedOutputs: untyped)
        }
        try Self.verify(&work, target: target)
        model = work
        return report
    }

    /// Rule 5's last part: the checker, with strict shape inference, must find nothing.
    static func verify(_ work: inout Model, target: Int) throws {
        let issues = Checker().check(work).issues
        if let first = issues.first {
            throw KilnError(.checkFailed,
                            "the model converted to opset \(target) fails the checker (\(issues.count) problem\(issues.count == 1 ? "" : "s")); first: \(first)")
        }
    }

    /// Names listed in `value_info` anywhere, and If-branch outputs without a type: inference may
    /// type a branch output from a branch that never runs (a Split of a dead If branch), a type
    /// onnx's inference contradicts, so such outputs are written untyped as they came. Loop and Scan
    /// bodies keep their inferred output types: onnxruntime's Scan needs them ("Subgraph must have
    /// the shape set for all outputs").
    func collectValueInfo(_ g: Graph, into names: inout Set<String>, untypedOutputs: inout Set<String>, isSubgraph: Bool = false) {
        for v in g.valueInfo { names.insert(g.name(of: v)) }
        if isSubgraph {
            for v in g.outputs where Self.isUntyped(g[value: v].type) { untypedOutputs.insert(g.name(of: v)) }
        }
        for id in g.order {
            let isIf = g[node: id].opType == OpType.ifOp
            for a in g[node: id].attributes {
                for s in a.subgraphs { collectValueInfo(s, into: &names, untypedOutputs: &untypedOutputs, isSubgraph: isIf) }
            }
        }
    }

    static func isUntyped(_ type: ValueType?) -> Bool {
        guard let type else { return true }
        if case .none = type.kind { return true }
        return false
    }

    func restrictValueInfo(_ g: inout Graph, to names: Set<String>, untypedOutputs: Set<String>, isSubgraph: Bool = false) {
        g.setValueInfo(g.valueInfo.filter { names.contains(g.name(of: $0)) })
        if isSubgraph {
            for v in g.outputs where untypedOutputs.contains(g.name(of: v)) { g[value: v].type = nil }
        }
        for id in g.order where g[node: id].hasSubgraphs {
            var attrs = g[node: id].attributes
            let isIf = g[node: id].opType == OpType.ifOp
            for i in attrs.indices {
                switch attrs[i].value {
                case .graph(var s):
                    restrictValueInfo(&s, to: names, untypedOutputs: untypedOutputs, isSubgraph: isIf)
                    attrs[i].value = .graph(s)
                case .graphs(var ss):
                    for k in ss.indices { restrictValueInfo(&ss[k], to: names, untypedOutputs: untypedOutputs, isSubgraph: isIf) }
                    attrs[i].value = .graphs(ss)
                default: continue
                }
            }
            g[node: id].attributes = attrs
        }
    }

    func collectNames(_ g: Graph, into names: inout Set<String>) {
        for v in g.valueIDs { names.insert(g.name(of: v)) }
        for id in g.order { for a in g[node: id].attributes { for s in a.subgraphs { collectNames(s, into: &names) } } }
    }

    /// Rules 2-3 for one graph: subgraphs first (all steps), then this graph's nodes step by step.
    func convertGraph(_ graph: inout Graph, from source: Int, to target: Int, isFunctionBody: Bool,
                      reserved: inout Set<String>, report: inout Report) throws {
        for id in graph.order where graph[node: id].hasSubgraphs {
            var attrs = graph[node: id].attributes
            for i in attrs.indices {
                switch attrs[i].value {
                case .graph(var g):
                    try convertGraph(&g, from: source, to: target, isFunctionBody: isFunctionBody, reserved: &reserved, report: &report)
                    attrs[i].value = .graph(g)
                case .graphs(var gs):
                    for k in gs.indices {
                        try convertGraph(&gs[k], from: source, to: target, isFunctionBody: isFunctionBody, reserved: &reserved, report: &report)
                    }
                    attrs[i].value = .graphs(gs)
                default: continue
                }
            }
            graph[node: id].attributes = attrs
        }
        var current = source
        while current != target {
            let next = current < target ? current + 1 : current - 1
            var rw = OpsetRewriter(graph: graph, from: current, to: next, domain: domain, isFunctionBody: isFunctionBody,
                                   registry: rules.registry, reserved: reserved)
            rw.pending = graph.order
            var visited = Set<NodeID>()
            while !rw.pending.isEmpty {
                let batch = rw.pending
                rw.pending = []
                for id in batch where rw.graph.contains(id) && visited.insert(id).inserted {
                    try step(&rw, id, report: &report)
                }
            }
            try rw.dropReleased()
            graph = rw.graph
            reserved = rw.reserved
            current = next
        }
    }

    /// Applies the rule for node `id` at this step, if its operator has a boundary here.
    func step(_ rw: inout OpsetRewriter, _ id: NodeID, report: inout Report) throws {
        let node = rw.graph[node: id]
        guard OperatorDomain.canonical(node.domain) == domain else { return }
        let upper = max(rw.from, rw.to)
        let registry = rules.registry
        switch registry.resolve(domain: domain, op: node.opType, opset: rw.from) {
        case .available: break
        case .unknownOperator:
            throw rw.refusal(id, "\(node.opType) is not an operator of \(domain.isEmpty ? "ai.onnx" : domain)")
        case .deprecated(let s):
            throw rw.refusal(id, "\(node.opType) was removed at opset \(s.sinceVersion) (the model is invalid at opset \(rw.from))")
        case .notYetIntroduced(let first):
            throw rw.refusal(id, "\(node.opType) exists only from opset \(first) (the model is invalid at opset \(rw.from))")
        }
        guard registry.versions(domain: domain, op: node.opType).contains(upper) else { return }
        guard let rule = rules.rule(domain: domain, op: node.opType, version: upper, direction: rw.direction) else {
            throw rw.refusal(id, "no rule for \(node.opType)-\(upper) \(rw.direction.rawValue) (a coverage gap; see Docs/OpsetCoverage.md)")
        }
        let op = node.opType
        switch rule.kind {
        case .refused:
            throw rw.refusal(id, rule.reason)
        case .notApplicable:
            return
        case .typesWidened, .unchanged:
            try rule.apply?(&rw, id)
        case .adapter, .expansion:
            if let ref = node.attributes.first(where: { $0.refAttrName != nil }) {
                throw rw.refusal(id, "attribute '\(ref.name)' refers to function attribute '\(ref.refAttrName!)'; \(rule.reason) needs literal values")
            }
            let before = (node, rw.graph.nodeCount, rw.graph.initializerOrder.count)
            try rule.apply?(&rw, id)
            guard !rw.graph.contains(id) || before != (rw.graph[node: id], rw.graph.nodeCount, rw.graph.initializerOrder.count) else { break }
            report.applied["\(node.opType)-\(upper) \(rw.direction.rawValue): \(rule.reason)", default: 0] += 1
        }
        // Every node left in place must have types the schema in force at `to` allows.
        if rw.graph.contains(id), rw.graph[node: id].opType == op,
           let target = registry.schema(domain: domain, op: op, opset: rw.to),
           let bad = OpsetClassifier.disallowedType(rw, id, in: target) {
            throw rw.refusal(id, bad)
        }
    }
}
