import KilnIR

extension ValueType {
    /// The onnx type string of this type (`tensor(float)`, `seq(tensor(int64))`,
    /// `map(int64, float)`, `optional(tensor(uint8))`), as in schema type constraints; nil when an
    /// element type is missing.
    public var onnxTypeString: String? {
        switch kind {
        case .tensor(let e, _): return e?.tensorTypeString
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

extension DataType {
    /// `tensor(<name>)`, formatted once per data type (the checker asks for it per value).
    var tensorTypeString: String {
        let k = Int(rawValue)
        if k >= 0 && k < DataType.tensorTypeStrings.count, let s = DataType.tensorTypeStrings[k] { return s }
        return "tensor(\(name))"
    }

    private static let tensorTypeStrings: [String?] = (0..<64).map { raw in
        DataType(rawValue: Int32(raw)).map { "tensor(\($0.name))" }
    }
}
