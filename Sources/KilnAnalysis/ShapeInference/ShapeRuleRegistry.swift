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

    /// What a rule computes, when it is one of two simple forms inference can apply without
    /// building a `NodeContext` (the per-node cost of elementwise chains). A rule registered with a
    /// shortcut must compute exactly this when no input has known elements; inference takes the
    /// shortcut only then, and runs the rule otherwise.
    enum Shortcut: Sendable {
        /// Output 0 has the type of input 0 (`NodeContext.passThrough()`).
        case passThrough
        /// Output 0 has the element type of input 0 and the broadcast of the present inputs'
        /// shapes (unknown when a rank is unknown); used for one or two inputs.
        case broadcast
    }

    private(set) var rules: [Key: [(since: Int, rule: ShapeRule, shortcut: Shortcut?)]] = [:]

    public init() {}

    /// Registers `rule` for `op` from opset `since` on (until a later registration of the same op).
    public mutating func register(_ op: String, domain: String = "", since: Int = 1, _ rule: @escaping ShapeRule) {
        register(op, domain: domain, since: since, shortcut: nil, rule)
    }

    mutating func register(_ op: String, domain: String = "", since: Int = 1, shortcut: Shortcut?,
                           _ rule: @escaping ShapeRule) {
        let key = Key(domain: OperatorDomain.canonical(domain), op: op)
        var list = rules[key, default: []]
        precondition(!list.contains { $0.since == since }, "shape rule \(op)-\(since) registered twice")
        list.append((since, rule, shortcut))
        list.sort { $0.since < $1.since }
        rules[key] = list
    }

    /// Registers the same rule for several operators.
    public mutating func register(_ ops: [String], domain: String = "", since: Int = 1, _ rule: @escaping ShapeRule) {
        for op in ops { register(op, domain: domain, since: since, shortcut: nil, rule) }
    }

    mutating func register(_ ops: [String], domain: String = "", since: Int = 1, shortcut: Shortcut?,
                           _ rule: @escaping ShapeRule) {
        for op in ops { register(op, domain: domain, since: since, shortcut: shortcut, rule) }
    }

    /// The rule in force for (domain, op) at `opset`, if any.
    public func rule(domain: String, op: String, opset: Int) -> ShapeRule? {
        entry(domain: domain, op: op, opset: opset)?.rule
    }

    /// The rule in force and its shortcut, if any.
    func entry(domain: String, op: String, opset: Int) -> (rule: ShapeRule, shortcut: Shortcut?)? {
        guard let list = rules[Key(domain: OperatorDomain.canonical(domain), op: op)],
              let e = list.last(where: { $0.since <= opset }) else { return nil }
        return (e.rule, e.shortcut)
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
