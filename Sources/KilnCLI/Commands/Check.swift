import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln check MODEL [--json] [--no-infer] [--target T]`: validate a model and list every problem; with
/// `--target`, also every node the consumer T would reject or run poorly (`TargetCheck`).
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a model against the ONNX rules and list every problem found.",
        discussion: """
        Rules: IR version and opset imports; graph input/output types; single static assignment; \
        nodes topologically sorted with every input defined; operators known at the imported \
        opset and not deprecated; input/output counts; attribute names, types and required \
        attributes; input/output types against the type constraints; tensor data sizes; local \
        functions; then, on a structurally valid model, shape inference in strict mode (rule \
        errors and conflicts with declared types; --no-infer skips it). See \
        Docs/Commands/check.md. Exit status: 0 valid, 1 problems found, 2 the file could not be \
        read. --target tensorrt|openvino|tvm|onnxruntime adds the consumer's rules (opset range, \
        operators, data types, quantization; see Docs/Targets.md), each finding with its fix.
        """
    )

    @Argument(help: "The .onnx model to check.")
    var input: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(inversion: .prefixedNo,
          help: "Run shape inference in strict mode after the structural checks (as onnx's full_check).")
    var infer = true

    @Option(help: "Also check against a consumer's rules: tensorrt, openvino, tvm or onnxruntime.")
    var target: Quantize.Target?

    func run() throws {
        HeapTuning.preferHugePages()
        var phases = PhaseTimer()
        let model = try ModelFile.read(input)
        phases.mark("read")
        let report = Checker(inferShapes: infer).check(model, file: input)
        phases.mark("check")
        if let target, let t = QuantizationConfig.Target(rawValue: target.rawValue) {
            try runTarget(model, report, t)
        }
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

extension Check {
    /// `--target`: the checker's report plus the target's findings; exit 1 when either has any.
    struct TargetReport: Encodable {
        var schema = 1
        var file: String
        var target: String
        var consumer: String
        var source: String
        var valid: Bool
        var issues: [CheckIssue]
        var findings: [TargetFinding]
    }

    func runTarget(_ model: Model, _ report: CheckReport, _ target: QuantizationConfig.Target) throws -> Never {
        let profile = TargetProfile.of(target)
        let findings = TargetCheck.findings(model, target: target)
        let clean = report.valid && findings.isEmpty
        if json {
            try printJSON(TargetReport(file: input, target: target.rawValue, consumer: profile.consumer,
                                       source: profile.source, valid: report.valid, issues: report.issues,
                                       findings: findings))
        } else {
            if report.valid {
                print("\(input): valid")
            } else {
                print("\(input): \(report.issues.count) problem\(report.issues.count == 1 ? "" : "s")")
                for issue in report.issues { print("  " + issue.description) }
            }
            let n = findings.count
            print("target \(target.rawValue) (\(profile.consumer)): "
                  + (n == 0 ? "no finding" : "\(n) finding\(n == 1 ? "" : "s")"))
            for f in findings { print("  " + f.description) }
        }
        withExtendedLifetime(model) {
            if clean { exitSuccessfully() }
        }
        throw ExitCode(1)
    }
}
