import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// HannWindow, HammingWindow, BlackmanWindow (opset 17): `size` points of a cosine-sum window,
/// `w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N)` with `N = size` (periodic, the default) or
/// `size - 1` (symmetric), in `output_datatype` (default float).
/// Hann: (0.5, 0.5, 0); Hamming: (25/46, 21/46, 0); Blackman: (0.42, 0.5, 0.08).
enum WindowKernels {
    static func register(into r: inout KernelRegistry) {
        for (op, a0, a1, a2) in [("HannWindow", 0.5, 0.5, 0.0), ("HammingWindow", 25.0 / 46, 21.0 / 46, 0),
                                  ("BlackmanWindow", 0.42, 0.5, 0.08)] {
            r.register(op, since: 17) { ctx in
                guard let size = try ctx.integers(0)?.first, size >= 0 else { throw ctx.error("size must be a non-negative integer") }
                let raw = try ctx.int("output_datatype", default: Int(DataType.float.rawValue))
                guard let type = DataType(rawValue: Int32(raw)) else { throw ctx.error("output_datatype \(raw) is not a data type") }
                let n = Double(try ctx.int("periodic", default: 1) != 0 ? size : size - 1)
                let w = (0..<size).map { i -> Double in
                    let x = Double(i)
                    return a0 - a1 * cos(2 * .pi * x / n) + a2 * cos(4 * .pi * x / n)
                }
                return KernelContext.one(try castTensor(TensorValue(shape: [size], w), to: type))
            }
        }
    }
}
