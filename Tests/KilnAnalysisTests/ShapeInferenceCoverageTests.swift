import Testing
import KilnIR
import KilnOpset
@testable import KilnAnalysis

/// Walks the schema table: which operator versions have a shape rule. Operators without one are
/// printed (their outputs are left as declared, never guessed); the covered count must not drop.
@Suite struct ShapeInferenceCoverageTests {
    let schemas = SchemaRegistry.standard
    let rules = ShapeRuleRegistry.standard

    /// Schema versions (not deprecated) with a rule in force, out of 654 live schemas in onnx 1.23.2.
    static let coveredSchemaFloor = 654

    /// Operators that may go without a rule (their outputs left as declared), and why. Issue 3 allows
    /// this only for an operator whose output shape depends on the data; every other operator needs
    /// a rule, which leaves unknown only the dims it cannot know. Empty: data-dependent operators
    /// (NonZero, Unique, ...) have rules too, for their element types and ranks.
    static let dataDependentWithoutRule: [String: String] = [:]

    @Test func everyRuleNamesAnExistingOperator() {
        for e in rules.entries {
            #expect(!schemas.versions(domain: e.domain, op: e.op).isEmpty, "rule for unknown operator \(e.domain):\(e.op)")
        }
    }

    @Test func coverageOfTheSchemaTable() {
        var covered = 0, total = 0
        var missing = Set<String>()
        for s in schemas.allSchemas where !s.isDeprecated {
            total += 1
            if rules.rule(domain: s.domain, op: s.name, opset: s.sinceVersion) != nil {
                covered += 1
            } else {
                missing.insert(s.domain.isEmpty ? s.name : "\(s.domain):\(s.name)")
            }
        }
        print("shape rules cover \(covered) of \(total) schema versions; operators without a rule (\(missing.count)): "
              + missing.sorted().joined(separator: ", "))
        #expect(covered >= Self.coveredSchemaFloor)
        print("operators allowed without a rule (data-dependent output shape) (\(Self.dataDependentWithoutRule.count)): "
              + Self.dataDependentWithoutRule.keys.sorted().joined(separator: ", "))
        let undeclared = missing.subtracting(Self.dataDependentWithoutRule.keys)
        #expect(undeclared.isEmpty, "operators without a shape rule whose output shape is not data-dependent: \(undeclared.sorted())")
    }
}
