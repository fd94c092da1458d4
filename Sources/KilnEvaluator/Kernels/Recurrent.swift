import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RNN, GRU and LSTM (opset 7 on; `layout` from 14). One loop for all three; the cell differs.
///
/// Inputs: X `[seq, batch, input]` (`layout` 1: `[batch, seq, input]`), W `[dirs, gates*H, input]`,
/// R `[dirs, gates*H, H]`, B `[dirs, 2*gates*H]` (W biases then R biases), sequence_lens, initial_h
/// (and for LSTM initial_c, peepholes P `[dirs, 3H]`). `direction` forward, reverse (the sequence
/// walked backwards, outputs kept at their time steps) or bidirectional. Steps past a batch entry's
/// sequence length leave zeros in Y and do not change the state. `clip` bounds every activation
/// argument. Cells (f, g, h the activations, defaults Sigmoid/Tanh/Tanh):
/// 1. RNN: `H = f(X W^T + H R^T + Wb + Rb)` (f defaults to Tanh).
/// 2. GRU, gates z, r, h: `z = f(..z)`, `r = f(..r)`, `h~ = g(X Wh^T + (r . H) Rh^T + Rbh + Wbh)`
///    (`linear_before_reset`: `r . (H Rh^T + Rbh)`), `H = (1 - z) h~ + z H`.
/// 3. LSTM, gates i, o, f, c: `i = f(.. + Pi C)`, `f = f(.. + Pf C)`, `c~ = g(..)`,
///    `C = f C + i c~`, `o = f(.. + Po C)`, `H = o h(C)`.
/// Outputs Y `[seq, dirs, batch, H]` (layout 1: `[batch, seq, dirs, H]`), Y_h (and Y_c) `[dirs,
/// batch, H]` (layout 1: `[batch, dirs, H]`). Computed in Double.
enum RecurrentKernels {
    enum Cell: Sendable { case rnn, gru, lstm }

    static func register(into r: inout KernelRegistry) {
        r.register("RNN", since: 7) { ctx in try run(ctx, cell: .rnn) }
        r.register("GRU", since: 7) { ctx in try run(ctx, cell: .gru) }
        r.register("LSTM", since: 7) { ctx in try run(ctx, cell: .lstm) }
    }

    typealias Activation = (Double) -> Double

    static func activation(_ name: String, alpha: Double?, beta: Double?, _ ctx: KernelContext) throws -> Activation {
        switch name.lowercased() {
        case "sigmoid": return { 1 / (1 + exp(-$0)) }
        case "tanh": return { tanh($0) }
        case "relu": return { max($0, 0) }
        case "affine": let a = alpha ?? 1, b = beta ?? 0; return { a * $0 + b }
        case "leakyrelu": let a = alpha ?? 0.01; return { $0 >= 0 ? $0 : a * $0 }
        case "thresholdedrelu": let a = alpha ?? 1; return { $0 > a ? $0 : 0 }
        case "scaledtanh": let a = alpha ?? 1, b = beta ?? 1; return { a * tanh(b * $0) }
        case "hardsigmoid": let a = alpha ?? 0.2, b = beta ?? 0.5; return { max(0, min(1, a * $0 + b)) }
        case "elu": let a = alpha ?? 1; return { $0 >= 0 ? $0 : a * (exp($0) - 1) }
        case "softsign": return { $0 / (1 + abs($0)) }
        case "softplus": return { log(1 + exp($0)) }
        default: throw ctx.unsupported("activation '\(name)' is not supported")
        }
    }

    static func run(_ ctx: KernelContext, cell: Cell) throws -> [RuntimeValue?] {
        let xt = try ctx.tensor(0), wt = try ctx.tensor(1), rt = try ctx.tensor(2)
        guard xt.dataType.isFloatingPoint else { throw unsupportedType(xt.dataType, ctx.node.opType) }
        guard xt.rank == 3, wt.rank == 3, rt.rank == 3 else { throw ctx.error("X, W and R must be 3-D") }
        let layout = try ctx.int("layout", default: 0)
        let gates = cell == .rnn ? 1 : cell == .gru ? 3 : 4
        let dirs = wt.shape[0]
        let hidden = try ctx.int("hidden_size", default: rt.shape[2])
        let (seq, batch, inputSize) = layout == 0 ? (xt.shape[0], xt.shape[1], xt.shape[2]) : (xt.shape[1], xt.shape[0], xt.shape[2])
        guard wt.shape == [dirs, gates * hidden, inputSize], rt.shape == [dirs, gates * hidden, hidden] else {
            throw ctx.error("W \(wt.shape) and R \(rt.shape) do not match \(gates) gates of hidden size \(hidden), input \(inputSize)")
        }
        let direction = try ctx.string("direction", default: "forward")
        guard (direction == "bidirectional") == (dirs == 2), ["forward", "reverse", "bidirectional"].contains(direction) else {
            throw ctx.error("direction '\(direction)' does not match \(dirs) direction(s) in W")
        }
        if cell == .lstm, try ctx.int("input_forget", default: 0) != 0 { throw ctx.unsupported("input_forget=1 is not supported") }
        let clip: Double? = ctx.node.attribute("clip") == nil ? nil : Double(try ctx.float("clip"))
        let linearBeforeReset = try ctx.int("linear_before_reset", default: 0) != 0

        // Activations per direction.
        let perDirection = cell == .rnn ? 1 : cell == .gru ? 2 : 3
        let defaults = cell == .rnn ? ["Tanh"] : cell == .gru ? ["Sigmoid", "Tanh"] : ["Sigmoid", "Tanh", "Tanh"]
        var names = defaults + (dirs == 2 ? defaults : [])
        if case .strings(let given)? = ctx.node.attribute("activations")?.value, !given.isEmpty {
            names = given.map { String(decoding: $0, as: UTF8.self) }
            if names.count == perDirection && dirs == 2 { names += names }
        }
        guard names.count == perDirection * dirs else { throw ctx.error("activations must list \(perDirection * dirs) functions") }
        let alphas = try ctx.floats("activation_alpha"), betas = try ctx.floats("activation_beta")
        let acts: [Activation] = try names.enumerated().map { i, n in
            try activation(n, alpha: alphas.flatMap { i < $0.count ? Double($0[i]) : nil },
                           beta: betas.flatMap { i < $0.count ? Double($0[i]) : nil }, ctx)
        }

        let x = xt.doubles, w = wt.doubles, r = rt.doubles
        let b = try ctx.optionalTensor(3)?.doubles ?? [Double](repeating: 0, count: dirs * 2 * gates * hidden)
        let lens = try ctx.integers(4) ?? [Int](repeating: seq, count: batch)
        let h0 = try ctx.optionalTensor(5)?.doubles, c0 = cell == .lstm ? try ctx.optionalTensor(6)?.doubles : nil
        let p = cell == .lstm ? try ctx.optionalTensor(7)?.doubles : nil
        guard b.count == dirs * 2 * gates * hidden, lens.count == batch else { throw ctx.error("B or sequence_lens has the wrong size") }
        // State index (direction, batch, unit) in the given layout.
        func stateIndex(_ d: Int, _ n: Int, _ j: Int) -> Int {
            layout == 0 ? (d * batch + n) * hidden + j : (n * dirs + d) * hidden + j
        }
        func xIndex(_ t: Int, _ n: Int) -> Int { layout == 0 ? (t * batch + n) * inputSize : (n * seq + t) * inputSize }
        func yIndex(_ t: Int, _ d: Int, _ n: Int) -> Int {
            layout == 0 ? ((t * dirs + d) * batch + n) * hidden : ((n * seq + t) * dirs + d) * hidden
        }
        let bound: (Double) -> Double = { v in clip.map { min(max(v, -$0), $0) } ?? v }

        var y = [Double](repeating: 0, count: seq * dirs * batch * hidden)
        var yh = [Double](repeating: 0, count: dirs * batch * hidden), yc = yh
        for d in 0..<dirs {
            let reverse = direction == "reverse" || d == 1
            let f = acts[d * perDirection]
            let g = perDirection > 1 ? acts[d * perDirection + 1] : f
            let hAct = perDirection > 2 ? acts[d * perDirection + 2] : f
            let wBase = d * gates * hidden * inputSize, rBase = d * gates * hidden * hidden, bBase = d * 2 * gates * hidden
            for n in 0..<batch {
                var h = (0..<hidden).map { h0?[stateIndex(d, n, $0)] ?? 0 }
                var c = (0..<hidden).map { c0?[stateIndex(d, n, $0)] ?? 0 }
                let len = min(max(lens[n], 0), seq)
                for step in 0..<len {
                    let t = reverse ? len - 1 - step : step
                    let xo = xIndex(t, n)
                    // xw[g*H + j] = x . W + Wb; hr[g*H + j] = h . R + Rb.
                    var xw = [Double](repeating: 0, count: gates * hidden), hr = xw
                    for row in 0..<(gates * hidden) {
                        var s = b[bBase + row]
                        for k in 0..<inputSize { s += x[xo + k] * w[wBase + row * inputSize + k] }
                        xw[row] = s
                        var q = b[bBase + gates * hidden + row]
                        for k in 0..<hidden { q += h[k] * r[rBase + row * hidden + k] }
                        hr[row] = q
                    }
                    var next = h
                    switch cell {
                    case .rnn:
                        for j in 0..<hidden { next[j] = f(bound(xw[j] + hr[j])) }
                    case .gru:
                        let (zo, ro, ho) = (0, hidden, 2 * hidden)
                        let z = (0..<hidden).map { f(bound(xw[zo + $0] + hr[zo + $0])) }
                        let rg = (0..<hidden).map { f(bound(xw[ro + $0] + hr[ro + $0])) }
                        for j in 0..<hidden {
                            let candidate: Double
                            if linearBeforeReset {
                                candidate = g(bound(xw[ho + j] + rg[j] * hr[ho + j]))
                            } else {
                                var q = b[bBase + gates * hidden + ho + j]
                                for k in 0..<hidden { q += rg[k] * h[k] * r[rBase + (ho + j) * hidden + k] }
                                candidate = g(bound(xw[ho + j] + q))
                            }
                            next[j] = (1 - z[j]) * candidate + z[j] * h[j]
                        }
                    case .lstm:
                        let (io, oo, fo, co) = (0, hidden, 2 * hidden, 3 * hidden)
                        var newC = c
                        for j in 0..<hidden {
                            let i = f(bound(xw[io + j] + hr[io + j] + (p?[d * 3 * hidden + j] ?? 0) * c[j]))
                            let fg = f(bound(xw[fo + j] + hr[fo + j] + (p?[d * 3 * hidden + 2 * hidden + j] ?? 0) * c[j]))
                            let cand = g(bound(xw[co + j] + hr[co + j]))
                            newC[j] = fg * c[j] + i * cand
                            let o = f(bound(xw[oo + j] + hr[oo + j] + (p?[d * 3 * hidden + hidden + j] ?? 0) * newC[j]))
                            next[j] = o * hAct(newC[j])
                        }
                        c = newC
                    }
                    h = next
                    for j in 0..<hidden { y[yIndex(t, d, n) + j] = h[j] }
                }
                for j in 0..<hidden { yh[stateIndex(d, n, j)] = h[j]; yc[stateIndex(d, n, j)] = c[j] }
            }
        }
        let yShape = layout == 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden]
        let stateShape = layout == 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]
        var outputs: [RuntimeValue?] = [.tensor(try castTensor(TensorValue(shape: yShape, y), to: xt.dataType)),
                                        .tensor(try castTensor(TensorValue(shape: stateShape, yh), to: xt.dataType))]
        if cell == .lstm { outputs.append(.tensor(try castTensor(TensorValue(shape: stateShape, yc), to: xt.dataType))) }
        return outputs
    }
}
