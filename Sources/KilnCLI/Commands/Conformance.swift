import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln conformance SUITE_DIR`: run the ONNX backend node tests through the evaluator.
struct Conformance: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run a folder of ONNX backend node tests and count pass/fail/unsupported per operator.",
        discussion: """
        Each case is <case>/model.onnx with test_data_set_N/input_K.pb and output_K.pb. Outputs are \
        compared with onnx's tolerances (rtol 1e-3, atol 1e-7; exact for integers, bools, strings). \
        Exit status 1 when --floor is given and fewer cases pass. See Docs/Commands/conformance.md.
        """
    )

    @Argument(help: "The suite folder (one subfolder per case).")
    var suite: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Fail (exit 1) when fewer than this many cases pass.")
    var floor: Int?

    @Option(name: .customLong("filter"), help: "Only run cases whose name contains this text (repeatable).")
    var filters: [String] = []

    @Flag(help: "In text output, list each failing or unsupported case with the reason.")
    var details = false

    func validate() throws {
        if let floor, floor < 0 { throw ValidationError("--floor must be zero or more") }
    }

    func run() throws {
        let report = try ConformanceSuite.run(directory: suite, filters: filters)
        if json {
            try printJSON(report)
        } else {
            let rows = report.byOperator
            let width = max(8, rows.map(\.op.count).max() ?? 0)
            print("operator".padding(width) + "   pass   fail  unsupported")
            for r in rows {
                print(r.op.padding(width) + String(r.pass).leftPadding(7) + String(r.fail).leftPadding(7)
                      + String(r.unsupported).leftPadding(13))
            }
            if details {
                for c in report.cases where c.outcome != .pass {
                    print("\(c.outcome.rawValue): \(c.name): \(c.detail ?? "")".replacingNewlines())
                }
            }
            print("total: \(report.total) cases, \(report.passed) passed, \(report.failed) failed, \(report.unsupported) unsupported")
        }
        if let floor, report.passed < floor {
            throw KilnError(.checkFailed, "\(report.passed) cases passed, below the floor of \(floor)")
        }
        exitSuccessfully()
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: Swift.max(0, width - count)) }
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}
