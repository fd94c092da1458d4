/// The type of a value: a tensor, a sequence, a map, an optional, a sparse tensor or an opaque type.
/// Mirrors ONNX `TypeProto`; nested types are optional because ONNX allows them to be left out.
public struct ValueType: Hashable, Sendable, CustomStringConvertible {
    public indirect enum Kind: Hashable, Sendable {
        case tensor(elementType: DataType?, shape: Shape?)
        case sparseTensor(elementType: DataType?, shape: Shape?)
        case sequence(ValueType?)
        case optional(ValueType?)
        case map(keyType: DataType?, valueType: ValueType?)
        case opaque(domain: String?, name: String?)
        /// A `TypeProto` with no type set.
        case none
    }

    public var kind: Kind
    public var denotation: String?
    /// Unmodeled fields of the `TypeProto` and of its inner message.
    public var preserved: PreservedFields
    public var innerPreserved: PreservedFields

    public init(_ kind: Kind, denotation: String? = nil) {
        self.kind = kind
        self.denotation = denotation
        self.preserved = PreservedFields()
        self.innerPreserved = PreservedFields()
    }

    public static func tensor(_ type: DataType, _ shape: Shape?) -> ValueType {
        ValueType(.tensor(elementType: type, shape: shape))
    }

    /// Element type when this is a tensor type.
    public var tensorElementType: DataType? {
        if case .tensor(let t, _) = kind { return t }
        return nil
    }

    /// Shape when this is a tensor type with a known rank.
    public var tensorShape: Shape? {
        if case .tensor(_, let s) = kind { return s }
        return nil
    }

    public var description: String {
        switch kind {
        case .tensor(let t, let s):
            return "tensor(\(t?.name ?? "?"))" + (s.map { $0.description } ?? "")
        case .sparseTensor(let t, let s):
            return "sparse_tensor(\(t?.name ?? "?"))" + (s.map { $0.description } ?? "")
        case .sequence(let e): return "seq(\(e?.description ?? "?"))"
        case .optional(let e): return "optional(\(e?.description ?? "?"))"
        case .map(let k, let v): return "map(\(k?.name ?? "?"), \(v?.description ?? "?"))"
        case .opaque(let d, let n): return "opaque(\(d ?? ""), \(n ?? ""))"
        case .none: return "none"
        }
    }
}
