import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CausalConvWithState (opset 27): a depthwise causal 1-D convolution that carries its left context.
///
/// 1. `padded = concat(past_state (zeros without it), input)` along time: `[B, C, K - 1 + L]`.
/// 2. `y[b, c, t] = bias[c] + sum_k padded[b, c, t + k] * weight[c, 0, k]`, rounded to the input
///    type; `activation` silu/swish multiplies by `sigmoid(y)`.
/// 3. `present_state` = the last `K - 1` steps of `padded`.
enum CausalConvKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("CausalConvWithState", since: 27) { ctx in
            let x = try ctx.tensor(0), w = try ctx.tensor(1)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            guard x.rank == 3, w.rank == 3, w.shape[0] == x.shape[1], w.shape[1] == 1 else {
                throw ctx.error("input must be [B, C, L] and weight [C, 1, K], got \(x.shape) and \(w.shape)")
            }
            let activation = try ctx.string("activation", default: "none")
            guard ["none", "silu", "swish"].contains(activation) else { throw ctx.error("unknown activation '\(activation)'") }
            let (batch, channels, length, k) = (x.shape[0], x.shape[1], x.shape[2], w.shape[2])
            let bias = try ctx.optionalTensor(2)?.doubles
            let past = try ctx.optionalTensor(3)
            if let past, past.shape != [batch, channels, k - 1] { throw ctx.error("past_state must be [\(batch), \(channels), \(k - 1)], got \(past.shape)") }
            let xs = x.doubles, ws = w.doubles, ps = past?.doubles
            let total = k - 1 + length
            var padded = [Double](repeating: 0, count: batch * channels * total)
            for bc in 0..<(batch * channels) {
                for t in 0..<(k - 1) { padded[bc * total + t] = ps?[bc * (k - 1) + t] ?? 0 }
                for t in 0..<length { padded[bc * total + k - 1 + t] = xs[bc * length + t] }
            }
            var y = [Double](repeating: 0, count: batch * channels * length)
            for bc in 0..<(batch * channels) {
                let c = bc % channels
                for t in 0..<length {
                    var acc = bias?[c] ?? 0
                    for j in 0..<k { acc += padded[bc * total + t + j] * ws[c * k + j] }
                    y[bc * length + t] = acc
                }
            }
            var out = try castTensor(TensorValue(shape: x.shape, y), to: x.dataType)
            if activation != "none" {
                out = try castTensor(TensorValue(shape: x.shape, out.doubles.map { $0 / (1 + exp(-$0)) }), to: x.dataType)
            }
            var state = [Double](repeating: 0, count: batch * channels * (k - 1))
            for bc in 0..<(batch * channels) {
                for t in 0..<(k - 1) { state[bc * (k - 1) + t] = padded[bc * total + length + t] }
            }
            return [.tensor(out), .tensor(try castTensor(TensorValue(shape: [batch, channels, k - 1], state), to: x.dataType))]
        }
    }
}
