import ArgumentParser
import Kiln

/// `--target` on `convert`, `optimize` and `quantize`: the consumer's whole rule set
/// (`TargetCheck`) on the written model, after `notes` (what the command did for the target).
/// Prints `target T: no finding` or the findings (on stderr when stdout carries JSON); exit 1 when any.
enum TargetFindings {
    static func report(_ model: Model, target: QuantizationConfig.Target, notes: [String] = [], toStderr: Bool) throws {
        let findings = TargetCheck.findings(model, target: target)
        let summary = "target \(target.rawValue): "
            + (findings.isEmpty ? "no finding" : "\(findings.count) finding\(findings.count == 1 ? "" : "s")")
        for line in notes + [summary] + findings.map({ "  \($0.description)" }) {
            if toStderr { FileHandleStderr.write(line + "\n") } else { print(line) }
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
