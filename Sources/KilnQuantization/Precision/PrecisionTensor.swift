import KilnIR
import KilnEvaluator

/// Float32 -> float16 / bfloat16 for constant tensors (initializers, Constant values, attribute
/// tensors).
///
/// Rules (per element x):
/// 1. NaN stays NaN, ±inf stays ±inf.
/// 2. A finite x beyond the target's largest finite value (65504 for float16, about 3.39e38 for
///    bfloat16) is clamped to it with its sign, and counted (`clamped`): rounding would make it
///    infinite, and an infinite weight poisons every output it touches.
/// 3. A non-zero x below the target's smallest normal value (2^-14 ≈ 6.1e-5 for float16, 2^-126
///    for bfloat16) becomes a zero of the same sign, and is counted (`flushed`): subnormal halves
///    carry 1 to 10 bits of precision, and many kernels (GPU tensor cores with flush-to-zero,
///    some CPU paths) treat them as zero anyway, so the model means the same everywhere.
/// 4. Otherwise round to nearest, ties to even.
struct PrecisionTensorConverter {
    let target: DataType
    var clamped = 0
    var flushed = 0
    var tensors = 0
    var elements = 0

    init(target: DataType) { self.target = target }

    /// Whether `tensor` is a float32 tensor this converter rewrites.
    static func isFloat32(_ tensor: Tensor) -> Bool { tensor.dataType == .float }

    /// `tensor` with its elements in the target type, stored as `raw_data`, inline. Name, dims, doc
    /// string and metadata are kept; external-data placement is dropped (the bytes changed).
    mutating func convert(_ tensor: Tensor) throws -> Tensor {
        precondition(tensor.dataType == .float, "PrecisionTensorConverter.convert: not a float32 tensor")
        let values = try floats(of: tensor)
        let bits = convert(values)
        var out = Tensor(name: tensor.name, dataType: target, dims: tensor.dims,
                         storage: .raw(bits.withUnsafeBytes { TensorBytes(copying: $0) }))
        out.docString = tensor.docString
        out.metadata = tensor.metadata
        tensors += 1
        elements += values.count
        return out
    }

    /// The bit patterns of `values` in the target type, counting clamps and flushes.
    mutating func convert(_ values: ContiguousArray<Float>) -> ContiguousArray<UInt16> {
        var out = ContiguousArray<UInt16>(repeating: 0, count: values.count)
        let half = target == .float16
        let maxFinite: Float = half ? 65504 : Float(bitPattern: 0x7F7F_0000)
        let minNormal: Float = half ? 6.103515625e-05 : Float.leastNormalMagnitude
        var clamps = 0, flushes = 0
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count {
                    var x = src[i]
                    let m = abs(x)
                    if m > maxFinite && m.isFinite {
                        x = x < 0 ? -maxFinite : maxFinite
                        clamps += 1
                    } else if m < minNormal && m != 0 {
                        x = x < 0 ? -0.0 : 0
                        flushes += 1
                    }
                    dst[i] = half ? Float16(x).bitPattern : BFloat16(x).bitPattern
                }
            }
        }
        clamped += clamps
        flushed += flushes
        return out
    }

    /// The elements of a float32 tensor, from whichever field holds them.
    func floats(of tensor: Tensor) throws -> ContiguousArray<Float> {
        switch tensor.storage {
        case .floatData(let a): return a
        default:
            guard let e = try TensorValue(tensor).elements(as: Float.self) else {
                throw KilnError(.invalidInput, "tensor '\(tensor.name)' is not float32")
            }
            return e
        }
    }

    /// A scalar or 1-D tensor of the target type holding `values` (for `value_float(s)` and
    /// ConstantOfShape's default).
    mutating func tensor(_ values: [Float], dims: [Int64], name: String = "") -> Tensor {
        let bits = convert(ContiguousArray(values))
        tensors += 1
        elements += values.count
        return Tensor(name: name, dataType: target, dims: dims,
                      storage: .raw(bits.withUnsafeBytes { TensorBytes(copying: $0) }))
    }
}
