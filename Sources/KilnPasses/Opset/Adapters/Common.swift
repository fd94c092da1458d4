import KilnIR
import KilnOpset

/// Every hand-written opset rule, one file per operator family (GUIDE rule 11: each keyed by its
/// since-version and direction; no version tests hidden in code).
enum OpsetAdapters {
    static var all: [OpsetRule] {
        axesInputs + negativeAxes + elementwise + clip + pad + slice + topK + softmax + normalization
            + gemm + scatter + cast + quantization + resize + pooling + shapes + recurrent + control
            + expansions + refusals + ml
    }
}

/// Shared building blocks of adapters.
extension OpsetRewriter {
    /// Attribute `name` (INTS or INT) moves to input `slot` as an int64 constant; left empty when the
    /// node has no such attribute. The upward half of an attribute-became-input change.
    mutating func moveAttributeToInput(_ id: NodeID, _ name: String, slot: Int, scalar: Bool = false) throws {
        guard let a = graph[node: id].attribute(name) else { return }
        let values: [Int64]
        switch a.value {
        case .ints(let v): values = v
        case .int(let v): values = [v]
        default: throw refusal(id, "attribute '\(name)' is \(a.value.typeName), expected INT or INTS")
        }
        let c = try addInts(values, named: "\(graph[node: id].name)_\(name)", before: id, scalar: scalar)
        removeAttribute(id, name)
        setInput(id, slot, c)
    }

    /// Input `slot` (a constant integer tensor) becomes attribute `name`; an empty slot leaves no
    /// attribute. Refuses when the input is computed at run time. The downward half.
    mutating func moveInputToAttribute(_ id: NodeID, slot: Int, _ name: String, single: Bool = false) throws {
        guard let v = input(id, slot) else { return }
        guard let values = try constantInts(id, slot) else {
            throw refusal(id, "input \(slot) ('\(graph.name(of: v))') must be a constant to become attribute '\(name)' at opset \(to), but it is computed at run time")
        }
        if single {
            guard values.count == 1 else { throw refusal(id, "input \(slot) must hold one value to become attribute '\(name)'") }
            setAttribute(id, name, .int(values[0]))
        } else {
            setAttribute(id, name, .ints(values))
        }
        clearInput(id, slot)
    }

    /// The value of an attribute when it differs from `neutral` (or when `neutral` is nil and the
    /// node sets it at all).
    func nonNeutral(_ id: NodeID, _ name: String, _ neutral: Attribute.Value?) -> Attribute.Value? {
        guard let a = graph[node: id].attribute(name) else { return nil }
        if let neutral, a.value == neutral { return nil }
        return a.value
    }

    /// Normalizes negative axes in `values` against `rank`.
    func normalized(_ id: NodeID, _ values: [Int64], rank: Int, what: String) throws -> [Int64] {
        try values.map { a in
            let k = a < 0 ? a + Int64(rank) : a
            guard k >= 0 && k < Int64(rank) else { throw refusal(id, "\(what) \(a) is out of range for rank \(rank)") }
            return k
        }
    }
}

/// Rule builders shared by the families.
extension OpsetRule {
    /// An attribute (or several) added at `version` whose absence or `neutral` value is the old
    /// behaviour: free upward; downward the node is refused when it sets one to anything else,
    /// and the attribute is dropped.
    static func attributesAdded(_ op: String, _ version: Int, _ attributes: [(String, Attribute.Value?)],
                                _ what: String, domain: String = OperatorDomain.onnx) -> [OpsetRule] {
        let names = attributes.map(\.0).joined(separator: ", ")
        return [
            .unchanged(op, version, .up, "\(what); absent means the old behaviour", domain: domain),
            .adapter(op, version, .down, "drops \(names) when neutral; refuses other values", domain: domain) { rw, id in
                for (name, neutral) in attributes {
                    if let v = rw.nonNeutral(id, name, neutral) {
                        throw rw.refusal(id, "attribute '\(name)' = \(v) has no equivalent before opset \(version) (\(what))")
                    }
                    rw.removeAttribute(id, name)
                }
            },
        ]
    }

    /// An enumerated attribute value added at `version`: free upward; downward refused when used.
    static func valueAdded(_ op: String, _ version: Int, attribute: String, values: [String], _ what: String) -> [OpsetRule] {
        [
            .unchanged(op, version, .up, "\(what); existing values keep their meaning"),
            .unchanged(op, version, .down, "refuses \(attribute) = \(values.joined(separator: "/")), which is new at \(version)") { rw, id in
                if case .string(let s)? = rw.graph[node: id].attribute(attribute)?.value,
                   case let text = String(decoding: s, as: UTF8.self), values.contains(text) {
                    throw rw.refusal(id, "\(attribute) = '\(text)' does not exist before opset \(version) (\(what))")
                }
            },
        ]
    }

    /// Both directions free, for a version whose change cannot affect an existing node.
    static func same(_ op: String, _ version: Int, _ reason: String, domain: String = OperatorDomain.onnx) -> [OpsetRule] {
        [.unchanged(op, version, .up, reason, domain: domain), .unchanged(op, version, .down, reason, domain: domain)]
    }

    /// A type-constraint change that is not a pure widening (types dropped or regrouped): the node's
    /// types are checked against the schema in force after the step (the converter's general check).
    static func typesChecked(_ op: String, _ version: Int, _ what: String) -> [OpsetRule] {
        same(op, version, "\(what); the node's types are checked against the target schema")
    }
}
