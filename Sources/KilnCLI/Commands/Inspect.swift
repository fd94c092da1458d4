import ArgumentParser
import Kiln

/// `kiln inspect IN [--format text|json|dot] [--input-shape NAME:1x3x224x224 ...]`: summarize a model.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
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

/// `--input-shape NAME:1x3x224x224`: parsing and applying pinned input shapes.
enum InputShape {
    static func parse(_ specs: [String]) throws -> [(name: String, dims: [Int64])] {
        try specs.map { spec in
            guard let colon = spec.lastIndex(of: ":") else {
                throw ValidationError("--input-shape '\(spec)' is not NAME:DIMS (e.g. input:1x3x224x224)")
            }
            let name = String(spec[..<colon])
            let dims = spec[spec.index(after: colon)...].split(separator: "x", omittingEmptySubsequences: false).map { Int64($0) }
            guard !name.isEmpty, !dims.isEmpty, dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw ValidationError("--input-shape '\(spec)': dimensions must be non-negative integers separated by 'x'")
            }
            return (name, dims.map { $0! })
        }
    }

    /// Sets each named graph input's shape; the rank must match a known rank and static dims must agree.
    static func apply(_ shapes: [(name: String, dims: [Int64])], to model: inout Model, file: String) throws {
        for (name, dims) in shapes {
            guard let id = model.graph.valueID(named: name), model.graph.isGraphInput(id) else {
                let names = model.graph.inputs.filter { !model.graph.isConstant($0) }.map { model.graph.name(of: $0) }
                throw KilnError(.invalidInput, "--input-shape: '\(name)' is not a graph input (inputs: \(names.joined(separator: ", ")))",
                                at: .init(file: file))
            }
            let type = model.graph[value: id].type
            guard let elem = type?.tensorElementType else {
                throw KilnError(.invalidInput, "--input-shape: input '\(name)' is not a tensor with a known element type", at: .init(file: file))
            }
            if let old = type?.tensorShape {
                guard old.rank == dims.count else {
                    throw KilnError(.invalidInput, "--input-shape: input '\(name)' has rank \(old.rank), not \(dims.count)", at: .init(file: file))
                }
                for (i, d) in old.dims.enumerated() {
                    if let v = d.staticValue, v != dims[i] {
                        throw KilnError(.invalidInput, "--input-shape: input '\(name)' dimension \(i) is \(v), not \(dims[i])", at: .init(file: file))
                    }
                }
            }
            model.graph[value: id].type = .tensor(elem, Shape(static: dims))
        }
    }
}
