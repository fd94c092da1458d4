import KilnIR
import KilnOpset

/// Which way an opset conversion step goes: `up` crosses a version boundary `v` from opset `v - 1`
/// to `v`, `down` from `v` to `v - 1`.
public enum OpsetDirection: String, Sendable, CaseIterable {
    case up, down
}

/// What happens to a node of `op` when a conversion crosses `version`, the since-version of one
/// of the operator's schemas, in `direction`.
///
/// Kinds:
/// 1. `typesWidened`: found by `OpsetClassifier` -- the two schemas differ only in type constraints
///    that grew. Free upward; downward free when the node's actual types are in the old
///    constraints, else refused naming the type.
/// 2. `unchanged`: declared by hand (with its reason) for versions whose signature did not change
///    or changed in ways that cannot matter to an existing node (a new optional attribute with a
///    neutral default, say); `check` may still refuse a node that uses the new feature.
/// 3. `adapter`: a rewrite of the node (attribute <-> input moves, wrappers, renames).
/// 4. `expansion`: downward only, where the lower opset lacks the operator: the node becomes an
///    exact subgraph (a schema function body or a hand-written one), converted further down.
/// 5. `refused`: a declared refusal; converting such a node throws, naming node, op and reason.
/// 6. `notApplicable`: no node can need it (going down across a removal: the operator does not
///    exist above; going up across an introduction: it does not exist below).
public struct OpsetRule: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case typesWidened = "types widened"
        case unchanged
        case adapter
        case expansion
        case refused
        case notApplicable = "not applicable"
    }

    public var domain: String
    public var op: String
    public var version: Int
    public var direction: OpsetDirection
    public var kind: Kind
    /// One line: what the adapter does, why the version is unchanged, or why it is refused.
    public var reason: String
    /// The rewrite (adapters, expansions, and checks of declared-unchanged rules).
    let apply: (@Sendable (inout OpsetRewriter, NodeID) throws -> Void)?

    init(_ op: String, _ version: Int, _ direction: OpsetDirection, _ kind: Kind, _ reason: String,
         domain: String = OperatorDomain.onnx,
         apply: (@Sendable (inout OpsetRewriter, NodeID) throws -> Void)? = nil) {
        self.domain = domain
        self.op = op
        self.version = version
        self.direction = direction
        self.kind = kind
        self.reason = reason
        self.apply = apply
    }

    struct Key: Hashable, Sendable {
        var domain: String
        var op: String
        var version: Int
        var direction: OpsetDirection
    }

    var key: Key { Key(domain: OperatorDomain.canonical(domain), op: op, version: version, direction: direction) }
}

extension OpsetRule {
    /// An adapter rule.
    static func adapter(_ op: String, _ version: Int, _ direction: OpsetDirection, _ reason: String,
                        domain: String = OperatorDomain.onnx,
                        _ apply: @escaping @Sendable (inout OpsetRewriter, NodeID) throws -> Void) -> OpsetRule {
        OpsetRule(op, version, direction, .adapter, reason, domain: domain, apply: apply)
    }

    /// A declared refusal.
    static func refused(_ op: String, _ version: Int, _ direction: OpsetDirection, _ reason: String,
                        domain: String = OperatorDomain.onnx) -> OpsetRule {
        OpsetRule(op, version, direction, .refused, reason, domain: domain)
    }

    /// A declared unchanged version, with an optional check that refuses nodes using the new feature.
    static func unchanged(_ op: String, _ version: Int, _ direction: OpsetDirection, _ reason: String,
                          domain: String = OperatorDomain.onnx,
                          check: (@Sendable (inout OpsetRewriter, NodeID) throws -> Void)? = nil) -> OpsetRule {
        OpsetRule(op, version, direction, .unchanged, reason, domain: domain, apply: check)
    }

    /// An expansion (downward, the lower opset lacks the operator or its version).
    static func expansion(_ op: String, _ version: Int, _ reason: String, domain: String = OperatorDomain.onnx,
                          _ apply: @escaping @Sendable (inout OpsetRewriter, NodeID) throws -> Void) -> OpsetRule {
        OpsetRule(op, version, .down, .expansion, reason, domain: domain, apply: apply)
    }
}
