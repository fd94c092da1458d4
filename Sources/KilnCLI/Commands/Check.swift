import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln check MODEL [--json] [--no-infer]`: validate a model and list every problem.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model against the ONNX rules and list every problem found.",
        discussion: """
        Rules: IR version and opset imports; graph input/output types; single static assignment; \
        nodes topologically sorted with every input defined; operators known at the imported \
        opset and not deprecated; input/output counts; attribute names, types and required \
        attributes; input/output types against the type constraints; tensor data sizes; local \
        functions; then, on a structurally valid model, shape inference in strict mode (rule \
        errors and conflicts with declared types; --no-infer skips it). See \
        Docs/Commands/check.md. Exit status: 0 valid, 1 problems found, 2 the file could not be \
        read.
        """
    )

    @Argument(help: "The .onnx model to check.")
    var input: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(inversion: .prefixedNo,
          help: "Run shape inference in strict mode after the structural checks (as onnx's full_check).")
    var infer = true

    func run() throws {
        let model = try ModelFile.read(input)
        let report = Checker(inferShapes: infer).check(model, file: input)
        if json {
            try printJSON(report)
        } else if report.valid {
            print("\(input): valid")
        } else {
            print("\(input): \(report.issues.count) problem\(report.issues.count == 1 ? "" : "s")")
            for issue in report.issues { print("  " + issue.description) }
        }
        withExtendedLifetime(model) {
            if report.valid { exitSuccessfully() }
        }
        throw ExitCode(1)
    }
}
