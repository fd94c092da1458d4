import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Attention (opset 23 on): scaled dot-product attention over 4-D `(batch, heads, seq, head_size)`
/// inputs, or 3-D `(batch, seq, heads * head_size)` ones with `q_num_heads`/`kv_num_heads`.
///
/// Cases, in the order the reference applies them (onnx `reference/ops/op_attention.py`):
/// 1. `present_key = concat(past_key, K)` on the sequence axis (same for values).
/// 2. A bias `(batch, q_heads, q_seq, kv_seq)`: `attn_mask` (bool: true -> 0, false -> -inf; float:
///    added), its last axis padded to `kv_seq` with false / -inf; `is_causal` masks key `j` for query
///    `i` unless `j <= i + offset`; `left_window_size`/`right_window_size` (>= 0) mask keys outside
///    `[p - left, p + right]`, `p = i + offset`; `nonpad_kv_seqlen[b]` masks keys from there on.
///    `offset` is the past length, or `nonpad_kv_seqlen[b] - q_seq` with `nonpad_kv_seqlen`.
/// 3. Grouped-query attention: query head `h` reads key/value head `h / (q_heads / kv_heads)`.
/// 4. `qk = (Q . K^T) * scale` (default `1/sqrt(head_size)`); `softcap > 0`: `softcap * tanh(qk / softcap)`.
/// 5. Softmax of `qk + bias` over keys; a row whose bias is all -inf gives zeros.
/// 6. `Y = softmax . V`; the fourth output is `qk` (modes 0 and 1), `qk + bias` (2) or the softmax (3).
/// Computed in Double (so `softmax_precision` is always met or exceeded), converted back once.
/// bfloat16 is the exception: the reference (numpy with ml_dtypes) rounds every step to bfloat16
/// (products accumulated in float32), which moves results by more than the suite's tolerance, so
/// for bfloat16 inputs each step is rounded the same way (`RoundingSteps`).
enum AttentionKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Attention", since: 23) { ctx in try attention(ctx) }
        r.register("RotaryEmbedding", since: 23) { ctx in try rotaryEmbedding(ctx) }
        r.register("LinearAttention", since: 27) { ctx in try linearAttention(ctx) }
    }

    /// LinearAttention (27): a recurrent state `S [B, kv_heads, d_k, d_v]` (from `past_state` or
    /// zeros) updated per time step t, inputs `[B, T, heads * d]`:
    /// 1. gated rules: `S *= exp(decay_t)` (per head, or per key dimension);
    /// 2. delta rules: `v_t = beta_t (v_t - S^T k_t)`;
    /// 3. `S += k_t v_t^T`; output for query head h (kv head `h / (q_heads / kv_heads)`):
    ///    `scale * q_t^T S` (scale default `1/sqrt(d_k)`).
    /// `update_rule`: linear, gated, delta, gated_delta (default). Outputs `[B, T, q_heads * d_v]` and
    /// the final state (in past_state's type).
    static func linearAttention(_ ctx: KernelContext) throws -> [RuntimeValue?] {
        let q = try ctx.tensor(0), k = try ctx.tensor(1), v = try ctx.tensor(2)
        guard q.dataType.isFloatingPoint else { throw unsupportedType(q.dataType, ctx.node.opType) }
        guard q.rank == 3, k.rank == 3, v.rank == 3 else { throw ctx.error("query, key and value must be [B, T, heads * d]") }
        let rule = try ctx.string("update_rule", default: "gated_delta")
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else { throw ctx.error("unknown update_rule '\(rule)'") }
        let qHeads = try ctx.int("q_num_heads"), kvHeads = try ctx.int("kv_num_heads")
        guard qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0 else { throw ctx.error("q_num_heads must be a positive multiple of kv_num_heads") }
        let gating = rule.hasPrefix("gated"), delta = rule.hasSuffix("delta")
        let past = try ctx.optionalTensor(3), decay = try ctx.optionalTensor(4), beta = try ctx.optionalTensor(5)
        guard gating == (decay != nil), delta == (beta != nil) else { throw ctx.error("update_rule '\(rule)' needs decay exactly when gated and beta exactly for delta") }
        let (b, t) = (q.shape[0], q.shape[1])
        let dk = q.shape[2] / qHeads, dv = v.shape[2] / kvHeads, group = qHeads / kvHeads
        guard k.shape == [b, t, kvHeads * dk], v.shape[0] == b, v.shape[1] == t else { throw ctx.error("key/value shapes do not match the query") }
        let decayPerKey: Bool
        if let decay {
            guard decay.shape[0] == b, decay.shape[1] == t, decay.shape[2] == kvHeads || decay.shape[2] == kvHeads * dk else {
                throw ctx.error("decay must be [B, T, kv_heads] or [B, T, kv_heads * d_k], got \(decay.shape)")
            }
            decayPerKey = decay.shape[2] == kvHeads * dk
        } else { decayPerKey = false }
        if let beta, !(beta.shape == [b, t, kvHeads] || beta.shape == [b, t, 1]) { throw ctx.error("beta must be [B, T, kv_heads] or [B, T, 1]") }
        if let past, past.shape != [b, kvHeads, dk, dv] { throw ctx.error("past_state must be [\(b), \(kvHeads), \(dk), \(dv)]") }
        let rawScale = Double(try ctx.float("scale", default: 0))
        let scale = rawScale == 0 ? 1 / Double(dk).squareRoot() : rawScale
        let qv = q.doubles, kv = k.doubles, vv = v.doubles, dv_ = decay?.doubles, bv = beta?.doubles
        var state = past?.doubles ?? [Double](repeating: 0, count: b * kvHeads * dk * dv)
        var out = [Double](repeating: 0, count: b * t * qHeads * dv)
        for bi in 0..<b {
            for step in 0..<t {
                for h in 0..<kvHeads {
                    let sBase = (bi * kvHeads + h) * dk * dv
                    let kBase = (bi * t + step) * kvHeads * dk + h * dk
                    if let dv_ {
                        for d in 0..<dk {
                            let g = decayPerKey ? dv_[(bi * t + step) * kvHeads * dk + h * dk + d] : dv_[(bi * t + step) * kvHeads + h]
                            let f = exp(g)
                            for m in 0..<dv { state[sBase + d * dv + m] *= f }
                        }
                    }
                    var value = (0..<dv).map { vv[(bi * t + step) * kvHeads * dv + h * dv + $0] }
                    if let bv {
                        let bt = beta!.shape[2] == 1 ? bv[bi * t + step] : bv[(bi * t + step) * kvHeads + h]
                        for m in 0..<dv {
                            var retrieved = 0.0
                            for d in 0..<dk { retrieved += state[sBase + d * dv + m] * kv[kBase + d] }
                            value[m] = bt * (value[m] - retrieved)
                        }
                    }
                    for d in 0..<dk { for m in 0..<dv { state[sBase + d * dv + m] += kv[kBase + d] * value[m] } }
                }
                for h in 0..<qHeads {
                    let sBase = (bi * kvHeads + h / group) * dk * dv
                    let qBase = (bi * t + step) * qHeads * dk + h * dk
                    for m in 0..<dv {
                        var acc = 0.0
                        for d in 0..<dk { acc += qv[qBase + d] * state[sBase + d * dv + m] }
                        out[(bi * t + step) * qHeads * dv + h * dv + m] = scale * acc
                    }
                }
            }
        }
        return [.tensor(try castTensor(TensorValue(shape: [b, t, qHeads * dv], out), to: q.dataType)),
                .tensor(try castTensor(TensorValue(shape: [b, kvHeads, dk, dv], state), to: past?.dataType ?? q.dataType))]
    }

    /// RotaryEmbedding: rotates the first `rotary_embedding_dim` (default: all) features of each
    /// head by the position's angle: pairs `(x[k], x[k + half])` (or `(x[2k], x[2k + 1])` when
    /// `interleaved`) become `(cos x1 - sin x2, sin x1 + cos x2)`. Input `[B, heads, S, D]`, or
    /// `[B, S, heads * D]` with `num_heads`; caches `[max_position, half]` indexed by
    /// `position_ids [B, S]`, or `[B, S, half]` without them.
    static func rotaryEmbedding(_ ctx: KernelContext) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0), cosT = try ctx.tensor(1), sinT = try ctx.tensor(2)
        guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
        let positions = try ctx.optionalTensor(3)?.int64s.map { Int($0) }
        let (batch, heads, seq, size): (Int, Int, Int, Int)
        if x.rank == 4 {
            (batch, heads, seq, size) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        } else if x.rank == 3 {
            let n = try ctx.int("num_heads", default: 0)
            guard n > 0, x.shape[2] % n == 0 else { throw ctx.error("3-D input needs num_heads dividing \(x.shape[2])") }
            (batch, heads, seq, size) = (x.shape[0], n, x.shape[1], x.shape[2] / n)
        } else {
            throw ctx.error("input must have rank 3 or 4, got \(x.shape)")
        }
        var rotary = try ctx.int("rotary_embedding_dim", default: 0)
        if rotary == 0 { rotary = size }
        let half = rotary / 2
        let interleaved = try ctx.int("interleaved", default: 0) != 0
        guard rotary <= size, rotary % 2 == 0, cosT.shape.last == half, sinT.shape.last == half else {
            throw ctx.error("caches must end in rotary_embedding_dim / 2 = \(half)")
        }
        if let positions, positions.count != batch * seq { throw ctx.error("position_ids must be [\(batch), \(seq)]") }
        let v = x.doubles, c = cosT.doubles, s = sinT.doubles
        var out = v
        for b in 0..<batch { for t in 0..<seq { for h in 0..<heads {
            let base = x.rank == 4 ? ((b * heads + h) * seq + t) * size : (b * seq + t) * heads * size + h * size
            let row: Int
            if let positions {
                row = positions[b * seq + t]
                guard row >= 0, (row + 1) * half <= c.count else { throw ctx.error("position \(row) is outside the caches") }
            } else {
                row = b * seq + t
                guard (row + 1) * half <= c.count else { throw ctx.error("caches must be [\(batch), \(seq), \(half)] without position_ids") }
            }
            for k in 0..<half {
                let (i1, i2) = interleaved ? (base + 2 * k, base + 2 * k + 1) : (base + k, base + k + half)
                let cv = c[row * half + k], sv = s[row * half + k]
                out[i1] = cv * v[i1] - sv * v[i2]
                out[i2] = sv * v[i1] + cv * v[i2]
            }
        } } }
        return KernelContext.one(try castTensor(TensorValue(shape: x.shape, out), to: x.dataType))
    }

    /// A 4-D view `(batch, heads, seq, size)` of a 3-D or 4-D input, as Doubles.
    struct Heads {
        var shape: [Int]  // batch, heads, seq, size
        var v: [Double]
        @inline(__always) func at(_ b: Int, _ h: Int, _ s: Int, _ d: Int) -> Double {
            v[((b * shape[1] + h) * shape[2] + s) * shape[3] + d]
        }
    }

    static func heads(_ t: TensorValue, count: Int?, name: String, _ ctx: KernelContext) throws -> Heads {
        if t.rank == 4 { return Heads(shape: t.shape, v: t.doubles) }
        guard t.rank == 3 else { throw ctx.error("\(name) must have rank 3 or 4, got \(t.shape)") }
        guard let n = count, n > 0, t.shape[2] % n == 0 else {
            throw ctx.error("3-D \(name) needs q_num_heads and kv_num_heads dividing its hidden size \(t.shape[2])")
        }
        let (b, s, size) = (t.shape[0], t.shape[1], t.shape[2] / n)
        let src = t.doubles
        var out = [Double](repeating: 0, count: src.count)
        for bi in 0..<b { for si in 0..<s { for h in 0..<n { for d in 0..<size {
            out[((bi * n + h) * s + si) * size + d] = src[(bi * s + si) * n * size + h * size + d]
        } } } }
        return Heads(shape: [b, n, s, size], v: out)
    }

    static func concatSequence(_ past: Heads?, _ x: Heads, _ ctx: KernelContext) throws -> Heads {
        guard let past else { return x }
        guard past.shape[0] == x.shape[0], past.shape[1] == x.shape[1], past.shape[3] == x.shape[3] else {
            throw ctx.error("past shape \(past.shape) does not match \(x.shape) outside the sequence axis")
        }
        let (b, h, d) = (x.shape[0], x.shape[1], x.shape[3])
        let (p, s) = (past.shape[2], x.shape[2])
        var out = [Double]()
        out.reserveCapacity(b * h * (p + s) * d)
        for bi in 0..<b {
            for hi in 0..<h {
                let pb = (bi * h + hi) * p * d, xb = (bi * h + hi) * s * d
                out.append(contentsOf: past.v[pb..<(pb + p * d)])
                out.append(contentsOf: x.v[xb..<(xb + s * d)])
            }
        }
        return Heads(shape: [b, h, p + s, d], v: out)
    }

    static func attention(_ ctx: KernelContext) throws -> [RuntimeValue?] {
        let qt = try ctx.tensor(0), kt = try ctx.tensor(1), vt = try ctx.tensor(2)
        let type = qt.dataType
        guard type.isFloatingPoint else { throw unsupportedType(type, ctx.node.opType) }
        let qHeadsAttr = ctx.node.attribute("q_num_heads") == nil ? nil : try ctx.int("q_num_heads")
        let kvHeadsAttr = ctx.node.attribute("kv_num_heads") == nil ? nil : try ctx.int("kv_num_heads")
        let q = try heads(qt, count: qHeadsAttr, name: "Q", ctx)
        let pastKey = try ctx.optionalTensor(4), pastValue = try ctx.optionalTensor(5)
        guard (pastKey == nil) == (pastValue == nil) else { throw ctx.error("past_key and past_value must be given together") }
        let k = try concatSequence(pastKey.map { Heads(shape: $0.shape, v: $0.doubles) }, heads(kt, count: kvHeadsAttr, name: "K", ctx), ctx)
        let v = try concatSequence(pastValue.map { Heads(shape: $0.shape, v: $0.doubles) }, heads(vt, count: kvHeadsAttr, name: "V", ctx), ctx)
        let nonpad = try ctx.optionalTensor(6)?.int64s.map { Int($0) }
        if nonpad != nil && pastKey != nil { throw ctx.error("nonpad_kv_seqlen cannot be combined with past_key/past_value") }

        let (batch, qHeads, qSeq, headSize) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (kvHeads, kvSeq, vSize) = (k.shape[1], k.shape[2], v.shape[3])
        guard k.shape[0] == batch, v.shape[0] == batch, k.shape[3] == headSize, v.shape[1] == kvHeads, v.shape[2] == kvSeq,
              kvHeads > 0, qHeads % kvHeads == 0 else {
            throw ctx.error("incompatible Q \(q.shape), K \(k.shape), V \(v.shape)")
        }
        if let nonpad, nonpad.count != batch { throw ctx.error("nonpad_kv_seqlen must have \(batch) elements") }
        let group = qHeads / kvHeads
        let scale = ctx.node.attribute("scale") == nil ? 1 / Double(headSize).squareRoot() : Double(try ctx.float("scale"))
        let softcap = Double(try ctx.float("softcap", default: 0))
        let isCausal = try ctx.int("is_causal", default: 0) != 0
        let left = try ctx.int("left_window_size", default: -1), right = try ctx.int("right_window_size", default: -1)
        let mode = try ctx.int("qk_matmul_output_mode", default: 0)
        let pastLength = pastKey?.shape[2] ?? 0
        let steps = RoundingSteps(type: type)
        // The reference scales Q and K by sqrt(scale) each, rounded to the input type.
        let rootScale = steps.round(scale.squareRoot())

        // Case 2: the mask, padded on its last axis and broadcast to (batch, qHeads, qSeq, kvSeq).
        let biasShape = [batch, qHeads, qSeq, kvSeq]
        var mask: [Double]? = nil
        if let m = try ctx.optionalTensor(3) {
            guard m.rank >= 1, let last = m.shape.last, last <= kvSeq else {
                throw ctx.error("attn_mask shape \(m.shape) does not fit \(kvSeq) keys")
            }
            let values = m.dataType == .bool ? m.doubles.map { $0 != 0 ? 0 : -Double.infinity } : m.doubles
            let padded = Array(m.shape.dropLast()) + [kvSeq]
            var p = [Double](repeating: -.infinity, count: shapeCount(padded))
            let rows = shapeCount(padded) / max(kvSeq, 1)
            for r in 0..<rows { for j in 0..<last { p[r * kvSeq + j] = values[r * last + j] } }
            guard Broadcast.shape([padded, biasShape]) == biasShape else {
                throw ctx.error("attn_mask shape \(m.shape) does not broadcast to \(biasShape)")
            }
            mask = Broadcast.sourceIndices(of: padded, in: biasShape).map { p[$0] }
        }

        var y = [Double](repeating: 0, count: batch * qHeads * qSeq * vSize)
        var qkOut = [Double](repeating: 0, count: batch * qHeads * qSeq * kvSeq)
        var scores = [Double](repeating: 0, count: kvSeq), bias = scores, logits = scores
        for b in 0..<batch {
            let offset = nonpad.map { $0[b] - qSeq } ?? pastLength
            for h in 0..<qHeads {
                let kh = h / group
                for i in 0..<qSeq {
                    let row = ((b * qHeads + h) * qSeq + i) * kvSeq
                    for j in 0..<kvSeq {
                        var m = mask?[row + j] ?? 0
                        let diff = i + offset - j
                        if isCausal && diff < 0 { m = -.infinity }
                        if left >= 0 && diff > left { m = -.infinity }
                        if right >= 0 && -diff > right { m = -.infinity }
                        if let nonpad, j >= nonpad[b] { m = -.infinity }
                        bias[j] = m
                        var dot: Double
                        if steps.active {
                            var acc: Float = 0
                            for d in 0..<headSize {
                                acc += Float(steps.round(q.at(b, h, i, d) * rootScale)) * Float(steps.round(k.at(b, kh, j, d) * rootScale))
                            }
                            dot = steps.round(Double(acc))
                        } else {
                            dot = 0
                            for d in 0..<headSize { dot += q.at(b, h, i, d) * k.at(b, kh, j, d) }
                            dot *= scale
                        }
                        if softcap > 0 { dot = steps.round(softcap * steps.round(tanh(steps.round(dot / softcap)))) }
                        scores[j] = dot
                    }
                    // Case 5: softmax with the fully-masked-row guard.
                    let biasPeak = bias.max() ?? -.infinity
                    var peak = -Double.infinity
                    for j in 0..<kvSeq { logits[j] = steps.round(scores[j] + bias[j]) }
                    for j in 0..<kvSeq { peak = max(peak, logits[j]) }
                    if peak == -.infinity { peak = 0 }
                    var probs = [Double](repeating: 0, count: kvSeq)
                    var sum = 0.0
                    for j in 0..<kvSeq {
                        probs[j] = steps.round(exp(steps.round(logits[j] - peak)))
                        sum = steps.round(sum + probs[j])
                    }
                    if sum == 0 { sum = 1 }
                    for j in 0..<kvSeq { probs[j] = biasPeak == -.infinity ? 0 : steps.round(probs[j] / sum) }
                    for j in 0..<kvSeq {
                        switch mode {
                        case 2: qkOut[row + j] = logits[j]
                        case 3: qkOut[row + j] = probs[j]
                        default: qkOut[row + j] = scores[j]
                        }
                    }
                    let yBase = ((b * qHeads + h) * qSeq + i) * vSize
                    if steps.active {
                        for d in 0..<vSize {
                            var acc: Float = 0
                            for j in 0..<kvSeq { acc += Float(probs[j]) * Float(v.at(b, kh, j, d)) }
                            y[yBase + d] = Double(acc)
                        }
                    } else {
                        for j in 0..<kvSeq where probs[j] != 0 {
                            for d in 0..<vSize { y[yBase + d] += probs[j] * v.at(b, kh, j, d) }
                        }
                    }
                }
            }
        }
        var yTensor = TensorValue(shape: [batch, qHeads, qSeq, vSize], y)
        if qt.rank == 3 {
            var t = [Double](repeating: 0, count: y.count)
            for b in 0..<batch { for h in 0..<qHeads { for i in 0..<qSeq { for d in 0..<vSize {
                t[(b * qSeq + i) * qHeads * vSize + h * vSize + d] = y[((b * qHeads + h) * qSeq + i) * vSize + d]
            } } } }
            yTensor = TensorValue(shape: [batch, qSeq, qHeads * vSize], t)
        }
        return [.tensor(try castTensor(yTensor, to: type)),
                .tensor(try castTensor(TensorValue(shape: k.shape, k.v), to: type)),
                .tensor(try castTensor(TensorValue(shape: v.shape, v.v), to: type)),
                .tensor(try castTensor(TensorValue(shape: biasShape, qkOut), to: type))]
    }
}

/// Rounds each step of a computation to bfloat16 when emulating the reference (see
/// `AttentionKernels`); the identity for other types.
struct RoundingSteps {
    let active: Bool
    init(type: DataType) { active = type == .bfloat16 }
    @inline(__always) func round(_ x: Double) -> Double {
        active ? BFloat16(double: x).doubleValue : x
    }
}
