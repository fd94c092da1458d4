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
}
