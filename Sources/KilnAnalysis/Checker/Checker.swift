import Dispatch
import KilnIR
import KilnOpset

/// Checks a model against the rules of `onnx.checker.check_model(full_check=True)` and reports
/// every problem, not just the first.
///
/// Rules (identifiers in `CheckIssue.rule`, documented in Docs/Commands/check.md):
/// 1. Model: IR version known (1...14); IR >= 3 imports the default domain's opset; one import per
///    domain.
/// 2. Graph: inputs and outputs have complete types (main graph); IR < 4 lists every initializer
///    as an input; single static assignment, including names of enclosing graphs; every node input
///    defined before use (graph inputs, initializers, earlier nodes, enclosing scopes).
/// 3. Node: its domain is imported; the operator exists at that opset (or is a local function) and
///    is not deprecated; input and output counts within the schema's bounds; no empty name for a
///    required input; attribute names known, required ones present, types as declared; input and
///    output types allowed by the type constraints and bound consistently.
/// 4. Tensors: data type set; exactly one data field with as many values as the dims say.
/// 5. Functions: unique (domain, name, overload); bodies checked like graphs, with their own
///    opset imports.
/// 6. Shape inference in strict mode (`inferShapes`, on by default; onnx's `full_check`): when
///    rules 1-5 find nothing, `ShapeInference` runs on a copy of the model and its rule errors
///    (`shape.error`) and conflicts with declared types (`shape.conflict`) become issues naming
///    the node. As in onnx, inference runs only on a structurally valid model (its errors would
///    otherwise repeat the structural ones), and operators without a rule are not problems.
public struct Checker: Sendable {
    public var registry: SchemaRegistry
    /// Whether to run shape inference in strict mode after the structural checks (rule 6).
    public var inferShapes: Bool
    public var shapeRules: ShapeRuleRegistry
    /// The newest IR version this checker knows (onnx 1.23: 14).
    public static let maxIRVersion: Int64 = 14

    public init(registry: SchemaRegistry = .standard, inferShapes: Bool = true,
                shapeRules: ShapeRuleRegistry = .standard) {
        self.registry = registry
        self.inferShapes = inferShapes
        self.shapeRules = shapeRules
    }

    public func check(_ model: Model, file: String? = nil) -> CheckReport {
        guard inferShapes && model.hasGraph else {
            return CheckReport(file: file, issues: structuralIssues(model))
        }
        // Rules 1-5 and inference run at once, one thread each; inference's issues are used only
        // when rules 1-5 find nothing, so the report is the one running them in turn gives.
        let results = CheckResults()
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            if part == 0 {
                results.structural = structuralIssues(model)
            } else {
                results.inferred = ShapeInference(rules: shapeRules).problems(in: model)
            }
        }
        return CheckReport(file: file, issues: results.structural.isEmpty ? results.inferred : results.structural)
    }

    /// Rules 1-5.
    func structuralIssues(_ model: Model) -> [CheckIssue] {
        var context = CheckContext(registry: registry, model: model)
        context.checkModel()
        return context.issues
    }
}

/// Where the two halves of `Checker.check` leave their issues: each property is written by one
/// thread only, and read after `concurrentPerform` has returned.
private final class CheckResults: @unchecked Sendable {
    var structural: [CheckIssue] = []
    var inferred: [CheckIssue] = []
}

/// The node an issue is about: its index in the graph, name and operator (what a report names;
/// taking these rather than the node keeps the node from being copied on the hot path).
struct NodeAt {
    var index: Int
    var name: String
    var op: String

    init(_ index: Int, _ node: borrowing Node) {
        self.index = index
        self.name = node.name
        self.op = node.opType
    }
}

/// Identifies a local function.
struct FunctionKey: Hashable {
    var domain: String
    var name: String
    var overload: String
}

/// The state of one check: the issues found so far and what every rule needs to know.
struct CheckContext {
    let registry: SchemaRegistry
    let model: Model
    var issues: [CheckIssue] = []
    var functions: Set<FunctionKey> = []
    var resolutions: [ResolutionKey: ResolvedOperator] = [:]
    var recentResolutions: [ResolvedOperator] = []

    init(registry: SchemaRegistry, model: Model) {
        self.registry = registry
        self.model = model
    }

    mutating func report(_ rule: String, _ message: String, graph: String, node: NodeAt? = nil,
                         field: String? = nil) {
        issues.append(CheckIssue(rule: rule, message: message, graph: graph, nodeIndex: node?.index,
                                 nodeName: node?.name, op: node?.op, field: field))
    }

    /// Opset imports by canonical domain (the first import of a domain wins).
    static func opsetTable(_ imports: [OpsetImport]) -> [String: Int] {
        var table: [String: Int] = [:]
        for o in imports where table[canonicalDomain(o.domain)] == nil {
            table[canonicalDomain(o.domain)] = Int(clamping: o.version)
        }
        return table
    }

    static func canonicalDomain(_ d: String) -> String { d == "ai.onnx" ? "" : d }

    mutating func checkModel() {
        let ir = model.irVersion
        if ir < 1 || ir > Checker.maxIRVersion {
            report("model.ir-version", "IR version \(ir) is outside 1...\(Checker.maxIRVersion), the versions this checker knows",
                   graph: "model", field: "ir_version")
        }
        if ir >= 3 && model.opsetImports.isEmpty {
            report("model.opset-missing", "a model with IR version >= 3 must import an opset (opset_import is empty)",
                   graph: "model", field: "opset_import")
        }
        var seen = Set<String>()
        for o in model.opsetImports where !seen.insert(Self.canonicalDomain(o.domain)).inserted {
            report("model.opset-duplicate", "domain '\(o.domain)' is imported more than once", graph: "model",
                   field: "opset_import")
        }
        if !model.hasGraph {
            report("model.graph-missing", "the model has no graph", graph: "model", field: "graph")
        }
        for f in model.functions {
            let key = FunctionKey(domain: f.domain, name: f.name, overload: f.overload)
            if !functions.insert(key).inserted {
                report("function.duplicate", "function '\(f.domain):\(f.name)' (overload '\(f.overload)') is defined more than once",
                       graph: "function(\(f.domain):\(f.name))")
            }
        }
        let modelOpsets = Self.opsetTable(model.opsetImports)
        if model.hasGraph {
            checkGraph(model.graph, path: "graph", outer: [], opsets: modelOpsets, kind: .main)
        }
        // Training graphs may read the inference graph's inputs, initializers and node outputs.
        var inference = Set<String>()
        if !model.trainingInfo.isEmpty {
            let g = model.graph
            for id in g.inputs + g.initializerOrder + g.sparseInitializerOrder { inference.insert(g.name(of: id)) }
            for id in g.order { for case let v? in g[node: id].outputs { inference.insert(g.name(of: v)) } }
        }
        for (i, t) in model.trainingInfo.enumerated() {
            if let g = t.initialization {
                checkGraph(g, path: "training_info[\(i)].initialization", outer: inference, opsets: modelOpsets, kind: .training)
            }
            if let g = t.algorithm {
                checkGraph(g, path: "training_info[\(i)].algorithm", outer: inference, opsets: modelOpsets, kind: .training)
            }
        }
        for f in model.functions {
            var opsets = Self.opsetTable(f.opsetImports)
            if f.opsetImports.isEmpty { opsets = modelOpsets }
            checkGraph(f.body, path: "function(\(f.domain):\(f.name))", outer: [], opsets: opsets, kind: .function)
        }
    }
}
