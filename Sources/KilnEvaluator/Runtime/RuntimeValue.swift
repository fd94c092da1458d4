import KilnIR

/// A value flowing through the evaluator: a tensor, a sequence of tensors, or an optional.
public indirect enum RuntimeValue: Sendable, CustomStringConvertible {
    case tensor(TensorValue)
    /// A sequence; `elementType` records the element type even when the sequence is empty.
    case sequence([TensorValue], elementType: DataType)
    /// An optional: `nil` is an empty optional (of the recorded element type).
    case optional(RuntimeValue?, elementType: ValueType?)

    public var tensor: TensorValue? {
        if case .tensor(let t) = self { return t }
        return nil
    }

    public var description: String {
        switch self {
        case .tensor(let t): return t.description
        case .sequence(let ts, let type): return "seq(tensor(\(type.name)))[\(ts.count)]"
        case .optional(let v, _): return "optional(\(v.map { $0.description } ?? "empty"))"
        }
    }
}
