import KilnIR

/// Signal processing (DFT, STFT, MelWeightMatrix) and the training optimizers of ai.onnx.preview.training.
///
/// Cases:
/// 1. DFT: the input's dims with the last one 2 (complex); dim `axis` (attribute, default 1, before
///    opset 20; input 2, default -2, from 20) becomes `dft_length` when given, then `n/2 + 1` with
///    `onesided`. With `inverse` and `onesided` the input must be complex (last dim 2) and the
///    output is real: dim `axis` is dft_length, without it 2*(m - 1) for an input dim m (the
///    length of the signal whose one-sided spectrum has m bins), and the last dim 1.
/// 2. Adagrad, Momentum (X, G, and one state per tensor) and Adam (two states): output j*n + k has
///    the type of input 2 + k for j = 0 (the new X) and of input 2 + (j+1)*n + k for j >= 1 (the new
///    states), n the number of optimized tensors.
/// 3. STFT: [batch, frames, bins, 2], frames = (length - frame_length) / frame_step + 1 and bins =
///    frame_length / 2 + 1 when `onesided` (default), frame_length otherwise. MelWeightMatrix:
///    [dft_length / 2 + 1, num_mel_bins].
/// 4. Gradient: output i has the type of input i (the i-th name of `xs`).
enum SignalAndTrainingRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("DFT", since: 17) { ctx in try dft(&ctx, axis: try ctx.node.int("axis", default: 1)) }
        r.register("DFT", since: 20) { ctx in
            guard !ctx.hasInput(2) || ctx.constantValues(2)?.count == 1 else {
                // Axis unknown: without dft_length and onesided, only the last dim changes; otherwise
                // every dim but the last (2, or 1 for an inverse one-sided transform) is unknown.
                guard var x = ctx.dims(0), !x.isEmpty else { return ctx.setOutput(0, ctx.elementType(0), nil) }
                let onesided = try ctx.node.int("onesided", default: 0) != 0
                let inverse = try ctx.node.int("inverse", default: 0) != 0
                if ctx.hasInput(1) || onesided { x = x.map { _ in .unknown } }
                x[x.count - 1] = .constant(inverse && onesided ? 1 : 2)
                return ctx.setOutput(0, ctx.elementType(0), x)
            }
            try dft(&ctx, axis: ctx.hasInput(2) ? ctx.constantValues(2)![0] : -2)
        }
        r.register("STFT", since: 17) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0), x.count == 3 else { return ctx.setOutput(0, type, nil) }
            let step = ctx.values(1)?.first ?? .unknown
            var length = ctx.hasInput(3) ? (ctx.values(3)?.first ?? .unknown) : .unknown
            if !ctx.hasInput(3), ctx.hasInput(2) { length = ctx.dims(2)?.first ?? .unknown }
            var frames = SymDim.unknown
            if let n = x[1].constantValue, let l = length.constantValue, let s = step.constantValue, s > 0 { frames = .constant((n - l) / s + 1) }
            let onesided = try ctx.node.int("onesided", default: 1) != 0
            let bins = onesided ? length.floorDiv(2) + 1 : length
            ctx.setOutput(0, type, [x[0], frames, bins, .constant(2)])
        }
        r.register("MelWeightMatrix", since: 17) { ctx in
            let dtype = try ctx.node.int("output_datatype", default: 1)
            let dft = ctx.values(1)?.first ?? .unknown, mel = ctx.values(0)?.first ?? .unknown
            ctx.setOutput(0, DataType(rawValue: Int32(truncatingIfNeeded: dtype)), [dft.floorDiv(2) + 1, mel])
        }
        let domain = "ai.onnx.preview.training"
        r.register(["Adagrad", "Momentum"], domain: domain) { ctx in optimizer(&ctx, states: 1) }
        r.register("Adam", domain: domain) { ctx in optimizer(&ctx, states: 2) }
        // Gradient: inputs are the values named by `xs` then `zs`; output i is dY/d(xs[i]), of xs[i]'s type.
        r.register("Gradient", domain: domain) { ctx in
            for k in 0..<ctx.outputCount { ctx.passThrough(k, to: k) }
        }
    }

    static func dft(_ ctx: inout NodeContext, axis: Int64) throws {
        let type = ctx.elementType(0)
        guard var x = ctx.dims(0), x.count >= 2 else { return ctx.setOutput(0, type, nil) }
        let a = try ctx.axis(axis, rank: x.count)
        guard a != x.count - 1 else { throw ctx.error("axis \(axis) is the complex dimension") }
        let onesided = try ctx.node.int("onesided", default: 0) != 0
        let inverse = try ctx.node.int("inverse", default: 0) != 0
        let length: SymDim? = ctx.hasInput(1) ? (ctx.values(1)?.first ?? .unknown) : nil
        if inverse && onesided {
            // Inverse of a one-sided spectrum (m = n/2 + 1 complex bins): a real signal of
            // dft_length samples, or of n = 2*(m - 1) without it (onnx's rule; symbolic m too).
            if let c = x[x.count - 1].constantValue, c != 2 {
                throw ctx.error("an inverse one-sided DFT needs complex input (last dimension 2), not \(c)")
            }
            x[a] = length ?? (x[a] - .constant(1)) * .constant(2)
            x[x.count - 1] = .constant(1)
            return ctx.setOutput(0, type, x)
        }
        if let length { x[a] = length }
        if onesided { x[a] = x[a].floorDiv(2) + 1 }
        x[x.count - 1] = .constant(2)
        ctx.setOutput(0, type, x)
    }

    static func optimizer(_ ctx: inout NodeContext, states: Int) {
        let n = (ctx.inputCount - 2) / (2 + states)
        guard n > 0 else { return }
        for out in 0..<ctx.outputCount {
            let j = out / n, k = out % n
            ctx.setOutput(out, ctx.inputType(j == 0 ? 2 + k : 2 + (j + 1) * n + k))
        }
    }
}
