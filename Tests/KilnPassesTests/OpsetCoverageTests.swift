import Foundation
import Testing
import KilnIR
@testable import KilnPasses

/// Issue 6 item 2: every (op, version step) of the schema table in the converted range, both
/// directions, has an adapter, a classification or a declared refusal; Docs/OpsetCoverage.md is
/// the generated table (rewritten with KILN_WRITE_COVERAGE=1).
@Suite struct OpsetCoverageTests {
    static let docPath: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Docs/OpsetCoverage.md").path
    }()

    @Test func everyVersionStepHasARule() {
        let gaps = OpsetCoverage.gaps()
        if !gaps.isEmpty {
            let rows = gaps.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.op)-\($0.version) \($0.direction.rawValue)" }
            Issue.record(Comment(rawValue: "\(gaps.count) opset coverage gaps:\n\(rows.joined(separator: "\n"))"))
        }
    }

    @Test func everyRowHasAReason() {
        for row in OpsetCoverage.rows() where row.kind != nil {
            #expect(!row.reason.isEmpty, "\(row.op)-\(row.version) \(row.direction) has no reason")
        }
    }

    @Test func coverageDocumentIsUpToDate() throws {
        let text = OpsetCoverage.markdown()
        if ProcessInfo.processInfo.environment["KILN_WRITE_COVERAGE"] == "1" {
            try text.write(toFile: Self.docPath, atomically: true, encoding: .utf8)
        }
        let committed = try? String(contentsOfFile: Self.docPath, encoding: .utf8)
        #expect(committed == text, "Docs/OpsetCoverage.md is out of date: run KILN_WRITE_COVERAGE=1 swift test --filter OpsetCoverageTests")
    }

    /// Explicit rules only name real operator versions (a typo would silently never apply).
    @Test func explicitRulesNameRealVersions() {
        let registry = OpsetRules.standard.registry
        for rule in OpsetAdapters.all {
            #expect(registry.versions(domain: rule.domain, op: rule.op).contains(rule.version),
                    "rule \(rule.op)-\(rule.version) \(rule.direction) names no schema version")
        }
    }
}
