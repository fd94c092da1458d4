import ArgumentParser
import Kiln

/// `kiln diff A B [--numeric] [--json] [--fail-on ...]`: what changed between two models.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two models: model fields, inputs and outputs, nodes (aligned even when renamed), weights, and optionally numbers.",
        discussion: """
        Nodes are paired by structure (operator, attributes, where inputs come from, initializer \
        contents), so renamed tensors do not count as changes; removed, added and changed nodes are \
        grouped into rewrites (`Conv + BatchNormalization -> Conv`). With --numeric both models run \
        in the evaluator on the same inputs (given, or random at two sizes per dynamic dimension) \
        and outputs and paired intermediates are compared. Exit status: 0 no difference in the \
        --fail-on categories, 1 a difference, 2 an error. See Docs/Commands/diff.md.
        """
    )

    enum Category: String, ExpressibleByArgument, CaseIterable {
        case metadata, ioChange = "io-change", structure, numeric
    }

    @Argument(help: "The first (old) model.") var a: String
    @Argument(help: "The second (new) model.") var b: String

    @Flag(help: "Run both models and compare outputs and paired intermediate values.")
    var numeric = false

    @Option(name: .customLong("input"), help: "With --numeric: an input as NAME=FILE (.pb or .npy); repeatable. Default: random inputs.")
    var inputs: [String] = []

    @Option(help: "With --numeric: relative tolerance.") var rtol: Double = 1e-3
    @Option(help: "With --numeric: absolute tolerance.") var atol: Double = 1e-4
    @Option(help: "With --numeric: seed for random inputs.") var seed: UInt64 = 0

    @Option(name: .customLong("fail-on"), parsing: .upToNextOption,
            help: "Differences that make the exit status 1: \(Category.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var failOn: [Category] = Category.allCases

    @Option(help: "Most items listed per section in text output.") var limit: Int = 20

    @Flag(help: "Print JSON instead of text (same as --format json).") var json = false

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }
    @Option(help: "Output format: text, json or html (both graphs side by side, changes highlighted).")
    var format: Format = .text

    func validate() throws {
        for i in inputs where !i.contains("=") {
            throw ValidationError("--input '\(i)' is not NAME=FILE")
        }
        if !inputs.isEmpty && !numeric { throw ValidationError("--input needs --numeric") }
    }

    func run() throws {
        let ma = try ModelFile.read(a)
        let mb = try ModelFile.read(b)
        var diff = ModelDiff(ma, mb, fileA: a, fileB: b)
        if numeric {
            var given: [String: RuntimeValue]?
            if !inputs.isEmpty {
                let types = Dictionary(ma.graph.inputs.map { (ma.graph.name(of: $0), ma.graph[value: $0].type) }, uniquingKeysWith: { x, _ in x })
                var values: [String: RuntimeValue] = [:]
                for i in inputs {
                    let eq = i.firstIndex(of: "=")!
                    let name = String(i[..<eq]), path = String(i[i.index(after: eq)...])
                    guard let type = types[name] else {
                        throw KilnError(.invalidInput, "'\(name)' is not an input of \(a)")
                    }
                    values[name] = try ValueFile.read(path, type: type).value
                }
                given = values
            }
            diff.numeric = try NumericDiff(ma, mb, inputs: given, rtol: rtol, atol: atol, seed: seed)
        }
        switch json ? .json : format {
        case .json: try printJSON(diff)
        case .text: print(diff.text(limit: limit))
        case .html: print(DiffHTML.render(diff, ma, mb))
        }
        let failing = (failOn.contains(.metadata) && diff.metadataChanged)
            || (failOn.contains(.ioChange) && diff.ioChanged)
            || (failOn.contains(.structure) && diff.structureChanged)
            || (failOn.contains(.numeric) && !(diff.numeric?.withinTolerance ?? true))
        withExtendedLifetime((ma, mb)) {
            if !failing { exitSuccessfully() }
        }
        throw ExitCode(1)
    }
}
