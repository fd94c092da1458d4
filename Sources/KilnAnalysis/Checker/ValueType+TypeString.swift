import KilnIR

extension ValueType {
    /// The onnx type string of this type (`tensor(float)`, `seq(tensor(int64))`,
    /// `map(int64, float)`, `optional(tensor(uint8))`), as in schema type constraints; nil when an
    /// element type is missing.
    public var onnxTypeString: String? {
        switch kind {
        case .tensor(let e, _): return e.map { "tensor(\($0.name))" }
        case .sparseTensor(let e, _): return e.map { "sparse_tensor(\($0.name))" }
        case .sequence(let e): return e?.onnxTypeString.map { "seq(\($0))" }
        case .optional(let e): return e?.onnxTypeString.map { "optional(\($0))" }
        case .map(let k, let v):
            guard let k, let v = v?.onnxTypeString else { return nil }
            return "map(\(k.name), \(v))"
        case .opaque, .none: return nil
        }
    }
}
