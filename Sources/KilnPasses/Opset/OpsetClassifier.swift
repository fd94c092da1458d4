import KilnIR
import KilnOpset
import KilnAnalysis

/// Compares two consecutive schemas of one operator and says what kind of change lies between.
///
/// Rules:
/// 1. Signatures are compared slot by slot: inputs and outputs (count, optional/variadic), and
///    attributes (name, type, required, default).
/// 2. When the signatures agree, each input and output's allowed types are compared: all equal
///    is `.identical`; every new set a superset of the old (some strictly) is `.typesWidened`;
///    any type dropped is `.changed`.
/// 3. Anything else is `.changed`: an adapter, a declared unchanged rule or a refusal must say
///    what to do (the coverage test holds every such row to that).
public enum OpsetClassifier {
    public enum Change: String, Sendable {
        case identical, typesWidened, changed
    }

    public static func classify(old a: OperatorSchema, new b: OperatorSchema) -> Change {
        guard a.inputs.count == b.inputs.count, a.outputs.count == b.outputs.count,
              zip(a.inputs, b.inputs).allSatisfy({ $0.option == $1.option }),
              zip(a.outputs, b.outputs).allSatisfy({ $0.option == $1.option }),
              a.attributes.map(signature) == b.attributes.map(signature) else { return .changed }
        var widened = false
        for (p, q) in zip(a.inputs + a.outputs, b.inputs + b.outputs) {
            let old = Set(a.allowedTypes(for: p)), new = Set(b.allowedTypes(for: q))
            if old == new { continue }
            guard new.isSuperset(of: old) else { return .changed }
            widened = true
        }
        return widened ? .typesWidened : .identical
    }

    private static func signature(_ a: OperatorSchema.Attribute) -> String {
        "\(a.name):\(a.type):\(a.isRequired):\(String(describing: a.defaultValue))"
    }

    /// The first type of node `id` (inputs, then outputs) that `schema` does not allow, described
    /// for an error message; nil when every known type is allowed. Unknown types are not held
    /// against the node (shape inference and the checker judge the converted model as a whole).
    static func disallowedType(_ rw: OpsetRewriter, _ id: NodeID, in schema: OperatorSchema) -> String? {
        let node = rw.graph[node: id]
        func check(_ values: [ValueID?], _ params: [OperatorSchema.FormalParameter], _ what: String) -> String? {
            for (i, v) in values.enumerated() {
                guard let v, !params.isEmpty, let t = rw.type(v)?.onnxTypeString else { continue }
                let allowed = schema.allowedTypes(for: params[min(i, params.count - 1)])
                if !allowed.contains(t) {
                    return "\(what) \(i) ('\(rw.graph.name(of: v))') has type \(t), which \(schema) does not allow (allowed: \(allowed.joined(separator: ", ")))"
                }
            }
            return nil
        }
        return check(node.inputs, schema.inputs, "input") ?? check(node.outputs, schema.outputs, "output")
    }
}
