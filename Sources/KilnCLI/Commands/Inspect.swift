import ArgumentParser
import Kiln

/// `kiln inspect IN [--format text|json|dot] [--input-shape NAME:1x3x224x224 ...]`: summarize a model.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarize a model: IR version, producer, opsets, inputs and outputs, operators, parameters, compute (MACs/FLOPs), activation memory, largest tensors, external data.",
        discussion: """
        Compute is symbolic where shapes are (`4.1G*N`); --input-shape pins input dimensions so \
        activation memory can be estimated. --format dot prints Graphviz DOT of the main graph. \
        The JSON shape is documented in Docs/Commands/inspect.md and stable (field `schema`).
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, dot, html }

    @Argument(help: "The .onnx model to inspect.")
    var input: String

    @Flag(help: "Print JSON instead of text (same as --format json).")
    var json = false

    @Option(help: "Output format: text, json, dot (Graphviz) or html (one self-contained page).")
    var format: Format = .text

    @Option(name: .customLong("input-shape"), help: "Pin an input's shape, as NAME:1x3x224x224 (repeatable).")
    var inputShapes: [String] = []

    @Flag(name: .customLong("no-cost"), help: "Skip shape inference and the compute and memory estimates.")
    var noCost = false

    func validate() throws {
        _ = try InputShape.parse(inputShapes)
    }

    func run() throws {
        HeapTuning.preferHugePages()
        var model = try ModelFile.read(input)
        var cost: ModelCost?
        let fmt = json ? .json : format
        if !noCost || fmt == .dot {
            var inferred = model
            try InputShape.apply(try InputShape.parse(inputShapes), to: &inferred, file: input)
            _ = ShapeInference().infer(&inferred)
            if !noCost { cost = ModelCost(model: inferred) }
            if fmt == .dot || fmt == .html { model = inferred }
        }
        switch fmt {
        case .json: try printJSON(ModelSummary(model: model, file: input, cost: cost))
        case .text: print(ModelSummary(model: model, file: input, cost: cost).text)
        case .dot: print(GraphDot.render(model.graph, title: input))
        case .html: print(InspectHTML.render(model, summary: ModelSummary(model: model, file: input, cost: cost)))
        }
        withExtendedLifetime(model) { exitSuccessfully() }
    }
}
