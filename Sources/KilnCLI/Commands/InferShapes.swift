import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln infer-shapes IN -o OUT [--json]`: infer types and shapes, write them into value_info.
struct InferShapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer-shapes",
        abstract: "Infer the type and shape of every value and write them into value_info.",
        discussion: """
        Symbolic dimensions propagate (batch stays batch; Concat, Reshape and Flatten give \
        expressions such as 2*seq or batch*seq, written as dim_param). Small integer tensors \
        (Shape -> Gather -> Concat -> Reshape chains) are propagated. Operators without a rule \
        are listed and their outputs left as declared. See Docs/Commands/infer-shapes.md. \
        Exit status: 0 written, 1 inferred types conflict with declared ones or a node is \
        invalid (nothing written), 2 the file could not be read or written.
        """
    )

    @Argument(help: "The .onnx model to read.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the model with inferred value_info.")
    var output: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        HeapTuning.preferHugePages()
        var phases = PhaseTimer()
        var model = try ModelFile.read(input)
        phases.mark("read")
        // Inference writes value types only: the nodes and initializers are encoded meanwhile.
        let pending = PendingGraphEncoding(model)
        let report = ShapeInference().infer(&model, file: input)
        phases.mark("infer")
        if report.valid {
            _ = try ModelFile.write(model, to: output, pending: pending)
            phases.mark("write")
        }
        if json {
            try printJSON(report)
        } else {
            if report.valid {
                print("\(input): \(report.valuesInferred) value type\(report.valuesInferred == 1 ? "" : "s") inferred; wrote \(output)")
            } else {
                print("\(input): \(report.issues.count) problem\(report.issues.count == 1 ? "" : "s"); nothing written")
                for issue in report.issues { print("  " + issue.description) }
            }
            if !report.unsupportedOperators.isEmpty {
                print("operators without a shape rule (outputs left as declared): "
                      + report.unsupportedOperators.joined(separator: ", "))
            }
        }
        withExtendedLifetime(model) {
            if report.valid { exitSuccessfully() }
        }
        throw ExitCode(1)
    }
}
