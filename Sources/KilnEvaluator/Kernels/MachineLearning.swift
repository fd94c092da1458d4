import KilnIR

/// A few `ai.onnx.ml` operators: Binarizer, ArrayFeatureExtractor, LabelEncoder.
///
/// 1. Binarizer: `x > threshold ? 1 : 0` in x's type.
/// 2. ArrayFeatureExtractor: `X[..., indices]` (indices flattened), shape `X.shape[:-1] + [count]`
///    (`[1, count]` for 1-D X).
/// 3. LabelEncoder: each element looked up in `keys_*` (floats, int64s, strings, or `keys_tensor`),
///    replaced by the matching `values_*` entry, else the default (`default_float`,
///    `default_int64`, `default_string` or `default_tensor`).
enum MachineLearningKernels {
    static let domain = "ai.onnx.ml"

    static func register(into r: inout KernelRegistry) {
        r.register("Binarizer", domain: domain, since: 1) { ctx in
            let x = try ctx.tensor(0)
            let threshold = Double(try ctx.float("threshold", default: 0))
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, x.doubles.map { $0 > threshold ? 1.0 : 0 }), to: x.dataType))
        }
        r.register("ArrayFeatureExtractor", domain: domain, since: 1) { ctx in
            let x = try ctx.tensor(0)
            guard let indices = try ctx.integers(1), x.rank >= 1, let last = x.shape.last else { throw ctx.error("X and integer indices are required") }
            for i in indices where i < 0 || i >= last { throw ctx.error("index \(i) is out of range for \(last) features") }
            let rows = x.count / max(last, 1)
            var src: [Int] = []
            for row in 0..<rows { for i in indices { src.append(row * last + i) } }
            let shape = x.rank == 1 ? [1, indices.count] : Array(x.shape.dropLast()) + [indices.count]
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        r.register("LabelEncoder", domain: domain, since: 2) { ctx in
            let x = try ctx.tensor(0)
            func list(_ name: String) throws -> TensorValue? {
                switch ctx.node.attribute(name)?.value {
                case .floats(let v)?: return TensorValue(shape: [v.count], v)
                case .ints(let v)?: return TensorValue(shape: [v.count], v)
                case .strings(let v)?: return TensorValue(shape: [v.count], v.map { String(decoding: $0, as: UTF8.self) })
                case .tensor(let t)?: return try TensorValue(t)
                default: return nil
                }
            }
            guard let keys = try list("keys_floats") ?? list("keys_int64s") ?? list("keys_strings") ?? list("keys_tensor"),
                  let values = try list("values_floats") ?? list("values_int64s") ?? list("values_strings") ?? list("values_tensor"),
                  keys.count == values.count else {
                throw ctx.error("needs keys and values of the same length")
            }
            let defaultValue: TensorValue
            switch values.dataType {
            case .string: defaultValue = .scalar(try ctx.string("default_string", default: "_Unused"))
            case .int64 where ctx.node.attribute("values_tensor") == nil: defaultValue = .scalar(Int64(try ctx.int("default_int64", default: -1)))
            case .float where ctx.node.attribute("values_tensor") == nil: defaultValue = .scalar(try ctx.float("default_float", default: -0))
            default:
                guard case .tensor(let t)? = ctx.node.attribute("default_tensor")?.value else { throw ctx.error("default_tensor is required with values_tensor") }
                defaultValue = try castTensor(TensorValue(t).reshaped([]), to: values.dataType)
            }
            // Source index per element: the matching value, or the default (appended last).
            var index: [String: Int] = [:]
            let keyText: [String] = keys.dataType == .string ? Array(keys.elements(as: String.self)!) : keys.doubles.map { "\($0)" }
            for (i, key) in keyText.enumerated() where index[key] == nil { index[key] = i }
            let xText: [String] = x.dataType == .string ? Array(x.elements(as: String.self)!) : x.doubles.map { "\($0)" }
            let src = xText.map { index[$0] ?? values.count }
            let table = try TensorStorage.concatenating([values.storage, defaultValue.storage], type: values.dataType)
            return KernelContext.one(TensorValue(shape: x.shape, storage: table.gathering(src)))
        }
    }
}
