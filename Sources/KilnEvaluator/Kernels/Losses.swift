import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ONNX's two loss operators).
///
/// Both gather one score per (sample, spatial position) at the target class:
/// 1. `w[n, d] = weight[target[n, d]]` (1 without `weight`), and 0 where `target == ignore_index`.
/// 2. `loss[n, d] = -w[n, d] * score[n, target[n, d], d]` (`score` is the input for NLL, its
///    log-softmax over axis 1 for SCE).
/// 3. `reduction`: `none` keeps `loss` (the target's shape); `sum` adds it up; `mean` divides the sum
///    by `sum(w)` (the count of non-ignored positions without `weight`).
/// Computed in Double, converted back to the input type once.
enum LossKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("NegativeLogLikelihoodLoss", since: 12) { ctx in
            let x = try ctx.tensor(0)
            return [.tensor(try loss(scores: x.doubles, input: x, ctx))]
        }
        r.register("SoftmaxCrossEntropyLoss", since: 12) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("scores must have rank 2 or more, got \(x.shape)") }
            let n = x.shape[0], c = x.shape[1], inner = x.shape[2...].reduce(1, *)
            var v = x.doubles
            for o in 0..<n {
                for i in 0..<inner {
                    let base = o * c * inner + i
                    var peak = -Double.infinity
                    for k in 0..<c { peak = max(peak, v[base + k * inner]) }
                    var sum = 0.0
                    for k in 0..<c { sum += exp(v[base + k * inner] - peak) }
                    let shift = peak + log(sum)
                    for k in 0..<c { v[base + k * inner] -= shift }
                }
            }
            let l = try loss(scores: v, input: x, ctx)
            guard ctx.outputCount > 1 else { return [.tensor(l)] }
            return [.tensor(l), .tensor(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))]
        }
    }

    /// Steps 1-3 over `scores` (row-major, the shape of `input`).
    static func loss(scores: [Double], input x: TensorValue, _ ctx: KernelContext) throws -> TensorValue {
        guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
        guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
        let target = try ctx.tensor(1)
        let n = x.shape[0], c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        guard target.shape == [n] + Array(x.shape[2...]) else {
            throw ctx.error("target shape \(target.shape) must be the input shape \(x.shape) without the class axis")
        }
        guard target.dataType == .int64 || target.dataType == .int32 else {
            throw ctx.error("target must be int32 or int64, got \(target.dataType.name)")
        }
        let weight = try ctx.optionalTensor(2)?.doubles
        if let weight, weight.count != c { throw ctx.error("weight must have \(c) elements (the class count)") }
        let ignore: Int64? = ctx.node.attribute("ignore_index") == nil ? nil : Int64(try ctx.int("ignore_index"))
        let reduction = try ctx.string("reduction", default: "mean")
        let t = target.int64s
        var losses = [Double](repeating: 0, count: t.count)
        var weightSum = 0.0
        for o in 0..<n {
            for i in 0..<inner {
                let k = t[o * inner + i]
                if k == ignore { continue }
                guard k >= 0 && k < Int64(c) else { throw ctx.error("target \(k) is out of range for \(c) classes") }
                let w = weight?[Int(k)] ?? 1
                losses[o * inner + i] = -w * scores[(o * c + Int(k)) * inner + i]
                weightSum += w
            }
        }
        let result: TensorValue
        switch reduction {
        case "none": result = TensorValue(shape: target.shape, losses)
        case "sum": result = .scalar(losses.reduce(0, +))
        case "mean": result = .scalar(losses.reduce(0, +) / weightSum)
        default: throw ctx.error("reduction must be none, sum or mean, got '\(reduction)'")
        }
        return try castTensor(result, to: x.dataType)
    }
}
