import KilnIR
import KilnOpset

/// The registry of opset rules, keyed by (domain, op, version, direction) with explicit
/// since-versions (GUIDE rule 11): the hand-written rules of `Adapters/` first, then the
/// automatic ones derived from the schema table.
///
/// Automatic rules (in this order):
/// 1. Up across an operator's first version, or down across its removal: `notApplicable`.
/// 2. Two versions whose signatures agree and whose types only grew (`OpsetClassifier`):
///    `typesWidened`; going down the converter checks the node's types against the old constraints
///    (as it does after every rule, in both directions).
/// 3. Down across any other version when the schema has a static function body whose operators
///    do not change between the body's opset and the version: `expansion` with that body (the
///    inlined nodes are converted down further in the same step).
public struct OpsetRules: Sendable {
    let explicit: [OpsetRule.Key: OpsetRule]
    public let registry: SchemaRegistry

    public init(rules: [OpsetRule], registry: SchemaRegistry = .standard) {
        var table: [OpsetRule.Key: OpsetRule] = [:]
        for r in rules {
            precondition(table[r.key] == nil, "two opset rules for \(r.op)-\(r.version) \(r.direction)")
            table[r.key] = r
        }
        self.explicit = table
        self.registry = registry
    }

    /// Every rule of Sources/KilnPasses/Opset/Adapters, over the standard schema table.
    public static let standard = OpsetRules(rules: OpsetAdapters.all)

    /// The rule for crossing `version` of `op` in `direction`, or nil (a gap).
    public func rule(domain: String, op: String, version: Int, direction: OpsetDirection) -> OpsetRule? {
        let d = OperatorDomain.canonical(domain)
        if let r = explicit[OpsetRule.Key(domain: d, op: op, version: version, direction: direction)] { return r }
        let versions = registry.schemas(domain: d, op: op)
        guard let i = versions.firstIndex(where: { $0.sinceVersion == version }) else { return nil }
        let new = versions[i]
        let isFirst = i == versions.startIndex
        if isFirst && direction == .up {
            return OpsetRule(op, version, .up, .notApplicable, "\(op) does not exist below opset \(version)", domain: d)
        }
        if new.isDeprecated && direction == .down {
            return OpsetRule(op, version, .down, .notApplicable, "\(op) does not exist from opset \(version) on", domain: d)
        }
        if !isFirst {
            let old = versions[versions.index(before: i)]
            if !old.isDeprecated, !new.isDeprecated, OpsetClassifier.classify(old: old, new: new) == .typesWidened {
                return OpsetRule(op, version, direction, .typesWidened, "only type constraints grew", domain: d)
            }
        }
        if direction == .down, let body = FunctionExpansion.usableBody(new, at: version, registry: registry) {
            return OpsetRule(op, version, .down, .expansion,
                             "expanded with the schema's function body (opset \(body.opset))", domain: d,
                             apply: { rw, id in try FunctionExpansion.expand(&rw, id, schema: new) })
        }
        return nil
    }
}
