import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln inspect IN [--json]`: summarize a model.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize a model: IR version, producer, opsets, inputs and outputs, operators, parameters, external data.",
        discussion: "The JSON shape is documented in Docs/Commands/inspect.md and stable (field `schema`)."
    )

    @Argument(help: "The .onnx model to inspect.")
    var input: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let model = try ModelFile.read(input)
        let summary = ModelSummary(model: model, file: input)
        if json {
            try printJSON(summary)
        } else {
            print(summary.text)
        }
        withExtendedLifetime(model) { exitSuccessfully() }
    }
}
