import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln run MODEL [INPUT ...]`: evaluate a model on the CPU reference evaluator.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on the CPU evaluator and summarize (or save) its outputs.",
        discussion: """
        Inputs are `name=file.pb` (TensorProto, SequenceProto or OptionalProto), `name=file.npy`, or a \
        folder in the ONNX test-data layout (input_0.pb, input_1.pb, ... in graph-input order, \
        initializers excluded). With --output-dir the outputs are written as output_0.pb, output_1.pb, \
        ... in graph-output order (or .npy with --format npy). See Docs/Commands/run.md.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case pb, npy }

    @Argument(help: "The .onnx model to run.")
    var model: String

    @Argument(help: "Inputs: name=file.pb, name=file.npy, or a test-data folder.")
    var inputs: [String] = []

    @Option(help: "Write the outputs to this folder (output_N.pb or output_N.npy).")
    var outputDir: String?

    @Option(help: "File format of written outputs: pb or npy.")
    var format: Format = .pb

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        for input in inputs where !input.contains("=") {
            guard (try? FileManager.default.contentsOfDirectory(atPath: input)) != nil else {
                throw ValidationError("input '\(input)' is neither name=FILE nor a test-data folder")
            }
        }
    }

    func run() throws {
        let model = try ModelFile.read(self.model)
        let evaluator = try Evaluator(model: model)
        var values: [String: RuntimeValue] = [:]
        let types = Dictionary(evaluator.inputs.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        for input in inputs {
            if let eq = input.firstIndex(of: "=") {
                let name = String(input[..<eq]), path = String(input[input.index(after: eq)...])
                guard let type = types[name] else {
                    throw KilnError(.invalidInput, "'\(name)' is not an input of the graph (inputs: \(evaluator.inputs.map(\.name).joined(separator: ", ")))")
                }
                values[name] = try ValueFile.read(path, type: type).value
            } else {
                for (name, value) in try TestData.readInputs(input, evaluator: evaluator) { values[name] = value }
            }
        }
        let outputs = try evaluator.run(values)
        var files: [String?] = Array(repeating: nil, count: outputs.count)
        if let dir = outputDir {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw KilnError(.io, "cannot create the output folder (\(error.localizedDescription))", at: .init(file: dir))
            }
            for (i, value) in outputs.enumerated() {
                let path = "\(dir)/output_\(i).\(format.rawValue)"
                try ValueFile.write(value, name: evaluator.outputNames[i], to: path)
                files[i] = path
            }
        }
        let summaries = outputs.enumerated().map { i, v in OutputSummary(name: evaluator.outputNames[i], value: v, file: files[i]) }
        if json {
            try printJSON(RunReport(model: self.model, outputs: summaries))
        } else {
            for s in summaries { print(s.text) }
        }
        withExtendedLifetime(model) { exitSuccessfully() }
    }
}

/// `kiln run --json` (schema 1, documented in Docs/Commands/run.md).
struct RunReport: Encodable {
    var schema = 1
    var model: String
    var outputs: [OutputSummary]
}

struct OutputSummary: Encodable {
    var name: String
    /// tensor, sequence or optional.
    var kind: String
    var dtype: String?
    var shape: [Int]?
    var elements: Int?
    var min: Double?
    var max: Double?
    var mean: Double?
    var file: String?

    init(name: String, value: RuntimeValue, file: String?) {
        self.name = name
        self.file = file
        switch value {
        case .tensor(let t):
            kind = "tensor"
            dtype = t.dataType.name
            shape = t.shape
            elements = t.count
            if t.dataType != .string && t.count > 0 {
                let d = t.doubles.filter { !$0.isNaN }
                if !d.isEmpty {
                    min = d.min()
                    max = d.max()
                    mean = d.reduce(0, +) / Double(d.count)
                }
            }
        case .sequence(let ts, let type):
            kind = "sequence"
            dtype = type.name
            elements = ts.count
        case .optional(let v, _):
            kind = "optional"
            elements = v == nil ? 0 : 1
        }
    }

    var text: String {
        var line = "\(name): \(kind)"
        if let dtype { line += "(\(dtype))" }
        if let shape { line += "[" + shape.map(String.init).joined(separator: ", ") + "]" }
        else if let elements { line += " of \(elements)" }
        if let min, let max, let mean { line += "  min \(fmt(min))  max \(fmt(max))  mean \(fmt(mean))" }
        if let file { line += "  -> \(file)" }
        return line
    }

    private func fmt(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.6g", d)
    }
}
