import KilnIR
import KilnOpset

/// A shape rule: reads a node's input types (and known input values) from the context and sets
/// its output types (and, for small integer tensors, output values).
public typealias ShapeRule = @Sendable (inout NodeContext) throws -> Void

/// Shape rules keyed by (domain, op), each registered with the opset version it applies from. The
/// rule in force for a node is the one with the largest since-version not above the model's opset
/// for the node's domain (guide rule 11); version logic lives in registration, not in branches.
public struct ShapeRuleRegistry: Sendable {
    struct Key: Hashable, Sendable {
        var domain: String
        var op: String
    }

    private(set) var rules: [Key: [(since: Int, rule: ShapeRule)]] = [:]

    public init() {}

    /// Registers `rule` for `op` from opset `since` on (until a later registration of the same op).
    public mutating func register(_ op: String, domain: String = "", since: Int = 1, _ rule: @escaping ShapeRule) {
        let key = Key(domain: OperatorDomain.canonical(domain), op: op)
        var list = rules[key, default: []]
        precondition(!list.contains { $0.since == since }, "shape rule \(op)-\(since) registered twice")
        list.append((since, rule))
        list.sort { $0.since < $1.since }
        rules[key] = list
    }

    /// Registers the same rule for several operators.
    public mutating func register(_ ops: [String], domain: String = "", since: Int = 1, _ rule: @escaping ShapeRule) {
        for op in ops { register(op, domain: domain, since: since, rule) }
    }

    /// The rule in force for (domain, op) at `opset`, if any.
    public func rule(domain: String, op: String, opset: Int) -> ShapeRule? {
        guard let list = rules[Key(domain: OperatorDomain.canonical(domain), op: op)] else { return nil }
        return list.last { $0.since <= opset }?.rule
    }

    /// Every (domain, op, since) registered, sorted.
    public var entries: [(domain: String, op: String, since: Int)] {
        rules.flatMap { k, v in v.map { (k.domain, k.op, $0.since) } }
            .sorted { ($0.domain, $0.op, $0.since) < ($1.domain, $1.op, $1.since) }
    }

    /// The registry with every family of standard rules.
    public static let standard: ShapeRuleRegistry = {
        var r = ShapeRuleRegistry()
        ElementwiseRules.register(into: &r)
        LinearAlgebraRules.register(into: &r)
        ConvolutionRules.register(into: &r)
        NormalizationRules.register(into: &r)
        ReductionRules.register(into: &r)
        ShapeOpRules.register(into: &r)
        IndexingRules.register(into: &r)
        GeneratorRules.register(into: &r)
        ControlFlowRules.register(into: &r)
        AttentionRules.register(into: &r)
        ResamplingRules.register(into: &r)
        LossRules.register(into: &r)
        RecurrentRules.register(into: &r)
        QuantizationRules.register(into: &r)
        SignalAndTrainingRules.register(into: &r)
        SequenceAndMLRules.register(into: &r)
        return r
    }()
}
