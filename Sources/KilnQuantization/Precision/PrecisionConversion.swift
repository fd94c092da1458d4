import KilnIR
import KilnOpset
import KilnAnalysis

/// Float32 to float16 or bfloat16 (`kiln convert --fp16 | --bf16`). See Docs/Precision.md.
///
/// Phases, each over the whole tree of graphs (subgraphs of If/Loop/Scan included):
/// 1. **Modes** (`PrecisionGraph.decideModes`): types come from shape inference on a copy. A node
///    without float32 values is untouched. Otherwise it is kept in float32 when it reads or
///    writes a sequence/optional of float or a value of unknown type, calls a model-local
///    function, is of another domain, has no schema at the model's opset, is named by
///    `--block-op`, or a default rule (`PrecisionPolicy`) applies. Else it converts: each type
///    parameter its schema allows in the target type takes it; the others (and concrete
///    `tensor(float)` parameters, and the policy's kept parameters) stay float32. An input whose
///    type parameter binds only that input (Shape, Size, Cast's input) takes what it gets.
/// 2. **Needs** (`collectNeeds`): for each float32 value, the types its readers want, readers in
///    subgraphs included (by name); a graph output wants the graph's IO type.
/// 3. **Types** (`choose`): a node output takes its node's output type; a source-like node
///    (Constant, ConstantOfShape, Cast to float, generators) converts only when no reader wants
///    float32; a constant converts when no reader wants float32, else stays and converted
///    readers get a converted copy; graph inputs take the IO type; a captured name takes its
///    definition's type.
/// 4. **Rewrite** (`rewrite`): values retyped, constants converted (`PrecisionTensorConverter`),
///    type-carrying attributes updated, one Cast per (value, type) inserted after the value's
///    producer and shared by its readers, main-graph outputs keep their names (the producer's
///    value is renamed, a Cast writes the original name), then Casts that cancel are removed.
/// 5. **Check**: shape inference on the result must find no problem it did not find on the
///    input (a Cast whose type disagrees with its reader would); otherwise nothing is returned.
public enum PrecisionConversion {
    public static func convert(_ model: inout Model, options: PrecisionOptions,
                               registry: SchemaRegistry = .standard) throws -> PrecisionReport {
        let target = options.target
        let flag = "--" + options.shortName
        guard target == .float16 || target == .bfloat16 else {
            throw KilnError(.invalidInput, "precision conversion targets float16 or bfloat16, not \(target.name)")
        }
        guard let imported = model.opsetVersion(for: "") else {
            throw KilnError(.unsupported, "\(flag): the model imports no ai.onnx opset, so it has no operator that could run in \(target.name) (and no Cast)",
                            at: .init(path: ["opset_import"]))
        }
        let opset = Int(imported)
        guard opset >= 7 else {
            throw KilnError(.unsupported, "\(flag) needs ai.onnx opset 7 or later; the model imports opset \(opset)",
                            at: .init(path: ["opset_import"]))
        }
        if target == .bfloat16 && opset < 13 {
            throw KilnError(.unsupported, "--bf16 needs ai.onnx opset 13 or later (Cast-\(opset < 9 ? 6 : 9) and most operators before 13 have no bfloat16); the model imports opset \(opset)",
                            at: .init(path: ["opset_import"]))
        }
        guard model.trainingInfo.isEmpty else {
            throw KilnError(.unsupported, "\(flag) does not convert training models: training_info's algorithm updates the float32 initializers in place",
                            at: .init(path: ["training_info"]))
        }
        for op in options.blockedOps.sorted() where registry.versions(domain: "", op: op).isEmpty {
            throw KilnError(.invalidInput, "--block-op '\(op)': no ai.onnx operator has that name (operators of other domains stay float32 anyway)")
        }
        var typed = model
        let inference = ShapeInference()
        _ = inference.infer(&typed)
        let before = Set(inference.problems(in: model).map(\.description))

        let opsets = model.opsetImports.reduce(into: [String: Int]()) { $0[$1.domain == "ai.onnx" ? "" : $1.domain] = Int($1.version) }
        let ctx = PrecisionContext(options: options, policy: PrecisionPolicy(target: target), registry: registry, opsets: opsets,
                                   localFunctions: Set(model.functions.map { "\($0.domain == "ai.onnx" ? "" : $0.domain):\($0.name)" }))
        let root = PrecisionGraph(graph: model.graph, typed: typed.graph, path: "graph", parent: nil,
                                  ioType: options.keepIOTypes ? .float : target)
        root.decideModes(ctx)
        root.collectNeeds()
        root.choose(target: target)
        let state = PrecisionRewriteState(target: target, names: PrecisionNames(model))
        try root.rewrite(state, renames: [:])

        var result = model
        result.graph = root.graph
        if let problem = inference.problems(in: result).first(where: { !before.contains($0.description) }) {
            throw KilnError(.internalError, "the \(target.name) model does not type-check: \(problem) (a bug in Kiln; nothing written)")
        }
        model = result
        var report = state.report
        report.tensorsConverted = state.tensors.tensors
        report.elementsConverted = state.tensors.elements
        report.clamped = state.tensors.clamped
        report.flushed = state.tensors.flushed
        return report
    }
}
