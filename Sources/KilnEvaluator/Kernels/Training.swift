import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Optimizer steps of the `ai.onnx.preview.training` domain (opset 1): Adagrad, Adam, Momentum.
/// Inputs are R (learning rate), T (step count), then n tensors to optimize, their n gradients and
/// their n (or 2n for Adam) accumulators; outputs the n new tensors followed by the new accumulators.
/// With `g' = norm_coefficient * X + G`:
/// 1. Adagrad: `r = R / (1 + T decay_factor)`, `H' = H + g'^2`, `X' = X - r g' / (sqrt(H') + epsilon)`.
/// 2. Adam: `V' = alpha V + (1 - alpha) g'`, `H' = beta H + (1 - beta) g'^2`,
///    `r = T > 0 ? R sqrt(1 - beta^T) / (1 - alpha^T) : R`, `X' = (1 - norm_coefficient_post)(X -
///    r V' / (sqrt(H') + epsilon))`.
/// 3. Momentum: `V' = alpha V + (T > 0 ? beta : 1) g'`; standard `X' = X - R V'`, nesterov
///    `X' = X - R (g' + alpha V')`.
enum TrainingKernels {
    static let domain = "ai.onnx.preview.training"

    static func register(into r: inout KernelRegistry) {
        r.register("Adagrad", domain: domain, since: 1) { ctx in
            let decay = Double(try ctx.float("decay_factor", default: 0)), eps = Double(try ctx.float("epsilon", default: 1e-6))
            let norm = Double(try ctx.float("norm_coefficient", default: 0))
            return try step(ctx, accumulators: 1) { rate, t, x, g, acc in
                let r = rate / (1 + t * decay), gr = norm * x + g
                let h = acc[0] + gr * gr
                return (x - r * gr / (h.squareRoot() + eps), [h])
            }
        }
        r.register("Adam", domain: domain, since: 1) { ctx in
            let alpha = Double(try ctx.float("alpha", default: 0.9)), beta = Double(try ctx.float("beta", default: 0.999))
            let eps = Double(try ctx.float("epsilon", default: 1e-6)), norm = Double(try ctx.float("norm_coefficient", default: 0))
            let post = Double(try ctx.float("norm_coefficient_post", default: 0))
            return try step(ctx, accumulators: 2) { rate, t, x, g, acc in
                let gr = norm * x + g
                let v = alpha * acc[0] + (1 - alpha) * gr, h = beta * acc[1] + (1 - beta) * gr * gr
                let r = t > 0 ? rate * (1 - pow(beta, t)).squareRoot() / (1 - pow(alpha, t)) : rate
                return ((1 - post) * (x - r * v / (h.squareRoot() + eps)), [v, h])
            }
        }
        r.register("Momentum", domain: domain, since: 1) { ctx in
            let alpha = Double(try ctx.float("alpha")), beta = Double(try ctx.float("beta"))
            let norm = Double(try ctx.float("norm_coefficient"))
            let mode = try ctx.string("mode")
            guard mode == "standard" || mode == "nesterov" else { throw ctx.error("mode must be standard or nesterov, got '\(mode)'") }
            return try step(ctx, accumulators: 1) { rate, t, x, g, acc in
                let gr = norm * x + g
                let v = alpha * acc[0] + (t > 0 ? beta : 1) * gr
                return (mode == "standard" ? x - rate * v : x - rate * (gr + alpha * v), [v])
            }
        }
    }

    /// Applies `update(R, T, x, g, accumulators) -> (x', accumulators')` elementwise to each group.
    static func step(_ ctx: KernelContext, accumulators k: Int,
                     _ update: (Double, Double, Double, Double, [Double]) -> (Double, [Double])) throws -> [RuntimeValue?] {
        guard let rate = try ctx.tensor(0).doubles.first, let t = try ctx.tensor(1).doubles.first else { throw ctx.error("R and T must be scalars") }
        let rest = ctx.inputs.count - 2
        guard rest > 0, rest % (2 + k) == 0 else { throw ctx.error("expected 2 + \(2 + k) n inputs, got \(ctx.inputs.count)") }
        let n = rest / (2 + k)
        var xs: [RuntimeValue?] = [], accs = [[RuntimeValue?]](repeating: [], count: k)
        for i in 0..<n {
            let x = try ctx.tensor(2 + i), g = try ctx.tensor(2 + n + i)
            let a = try (0..<k).map { try ctx.tensor(2 + (2 + $0) * n + i) }
            guard g.shape == x.shape, a.allSatisfy({ $0.shape == x.shape }) else { throw ctx.error("tensor \(i): gradient and accumulators must have X's shape") }
            let xv = x.doubles, gv = g.doubles, av = a.map(\.doubles)
            var newX = xv, newA = av
            for e in 0..<xv.count {
                let (nx, na) = update(rate, t, xv[e], gv[e], av.map { $0[e] })
                newX[e] = nx
                for j in 0..<k { newA[j][e] = na[j] }
            }
            xs.append(.tensor(try castTensor(TensorValue(shape: x.shape, newX), to: x.dataType)))
            for j in 0..<k { accs[j].append(.tensor(try castTensor(TensorValue(shape: x.shape, newA[j]), to: a[j].dataType))) }
        }
        return xs + accs.flatMap { $0 }
    }
}
