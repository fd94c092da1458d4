import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax, LogSoftmax and Hardmax.
///
/// Two semantics, two registrations: before opset 13 the input is coerced to 2-D at `axis`
/// (default 1) and normalized over everything from `axis` on; from 13 on, over the one axis
/// (default -1).
enum SoftmaxKernels {
    enum Kind: Sendable { case softmax, logSoftmax, hardmax }

    static func register(into r: inout KernelRegistry) {
        for (op, kind) in [("Softmax", Kind.softmax), ("LogSoftmax", .logSoftmax), ("Hardmax", .hardmax)] {
            r.register(op, since: 1) { ctx in
                let x = try ctx.tensor(0)
                let raw = try ctx.int("axis", default: 1)
                let axis = raw < 0 ? raw + x.rank : raw
                guard axis >= 0 && axis <= x.rank else { throw ctx.error("axis \(raw) is out of range for rank \(x.rank)") }
                let outer = x.shape[..<axis].reduce(1, *)
                return KernelContext.one(try normalize(x, outer: outer, n: x.count / max(outer, 1), inner: 1, kind: kind, ctx))
            }
            r.register(op, since: 13) { ctx in
                let x = try ctx.tensor(0)
                let axis = try ctx.axis(ctx.int("axis", default: -1), rank: x.rank)
                if x.rank == 0 { return KernelContext.one(try normalize(x, outer: 1, n: 1, inner: 1, kind: kind, ctx)) }
                let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
                return KernelContext.one(try normalize(x, outer: outer, n: x.shape[axis], inner: inner, kind: kind, ctx))
            }
        }
    }

    static func normalize(_ x: TensorValue, outer: Int, n: Int, inner: Int, kind: Kind, _ ctx: KernelContext) throws -> TensorValue {
        guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
        if x.count == 0 { return x }
        if inner == 1, kind != .hardmax, let xs = x.elements(as: Float.self) {
            return TensorValue(shape: x.shape, elements: floatRows(xs, rows: outer, n: n, log: kind == .logSoftmax, threads: ctx.threads))
        }
        var v = x.doubles
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var peak = -Double.infinity, arg = 0
                for k in 0..<n where v[base + k * inner] > peak { peak = v[base + k * inner]; arg = k }
                switch kind {
                case .hardmax:
                    for k in 0..<n { v[base + k * inner] = k == arg ? 1 : 0 }
                case .softmax, .logSoftmax:
                    var sum = 0.0
                    for k in 0..<n { sum += exp(v[base + k * inner] - peak) }
                    for k in 0..<n {
                        let z = v[base + k * inner] - peak
                        v[base + k * inner] = kind == .softmax ? exp(z) / sum : z - log(sum)
                    }
                }
            }
        }
        return try castTensor(TensorValue(shape: x.shape, v), to: x.dataType)
    }

    /// Softmax / LogSoftmax over contiguous float32 rows of `n`: max, exp in Float, sum in Double;
    /// rows in parallel.
    static func floatRows(_ xs: ContiguousArray<Float>, rows: Int, n: Int, log isLog: Bool, threads: Int) -> ContiguousArray<Float> {
        let total = rows * n
        return ContiguousArray(unsafeUninitializedCapacity: total) { out, count in
            count = total
            let po = out.baseAddress!
            xs.withUnsafeBufferPointer { px in
                parallelChunks(rows, threads: threads, grain: Swift.max(1, elementGrain / 4 / Swift.max(n, 1))) { range in
                    for r in range {
                        let src = px.baseAddress! + r * n, dst = po + r * n
                        var peak = -Float.infinity
                        for k in 0..<n where src[k] > peak { peak = src[k] }
                        var sum = 0.0
                        if isLog {
                            for k in 0..<n { sum += Double(expf(src[k] - peak)) }
                            let l = Float(log(sum))
                            for k in 0..<n { dst[k] = src[k] - peak - l }
                        } else {
                            for k in 0..<n { let e = expf(src[k] - peak); dst[k] = e; sum += Double(e) }
                            let inv = Float(1 / sum)
                            for k in 0..<n { dst[k] *= inv }
                        }
                    }
                }
            }
        }
    }
}
