import KilnIR

/// Attention (opset 23) and RotaryEmbedding.
///
/// Cases (Q, K, V 4-D [B, heads, seq, head_size], or 3-D [B, seq, hidden] with `q_num_heads` and
/// `kv_num_heads`):
/// 1. Y: 4-D [B, q_heads, q_seq, v_head]; 3-D [B, q_seq, q_heads * v_head]; type of Q.
/// 2. total_seq = past_seq + kv_seq (kv_seq without past_key).
/// 3. present_key [B, kv_heads, total_seq, head]; present_value [B, kv_heads, total_seq, v_head].
/// 4. qk_matmul_output [B, q_heads, q_seq, total_seq].
/// 5. RotaryEmbedding: output = input.
/// 6. FlexAttention (ai.onnx.preview): [B, q_heads, q_seq, v_head] from 4-D Q and V.
/// 7. LinearAttention (27): 3-D packed [B, T, heads*size]; output [B, T, q_heads * d_v], present
///    state [B, kv_heads, d_k, d_v] with d_k = K's last dim / kv_heads, d_v = V's / kv_heads.
enum AttentionRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("RotaryEmbedding", since: 23) { ctx in ctx.passThrough() }
        r.register("FlexAttention", domain: "ai.onnx.preview") { ctx in
            guard let q = ctx.dims(0), let v = ctx.dims(2), q.count == 4, v.count == 4 else {
                return ctx.setOutput(0, ctx.elementType(0), nil)
            }
            ctx.setOutput(0, ctx.elementType(0), [q[0], q[1], q[2], v[3]])
        }
        r.register("LinearAttention", since: 27) { ctx in
            let type = ctx.elementType(0)
            let qh = SymDim.constant(try ctx.node.int("q_num_heads")), kvh = SymDim.constant(try ctx.node.int("kv_num_heads"))
            guard let q = ctx.dims(0), let k = ctx.dims(1), let v = ctx.dims(2), q.count == 3, k.count == 3, v.count == 3 else {
                return ctx.setOutput(0, type, nil)
            }
            let dk = k[2] / kvh, dv = v[2] / kvh
            ctx.setOutput(0, type, [q[0], q[1], qh * dv])
            if ctx.hasOutput(1) { ctx.setOutput(1, type, [q[0], kvh, dk, dv]) }
        }
        r.register("Attention", since: 23) { ctx in
            let qt = ctx.elementType(0)
            guard let q = ctx.dims(0), let k = ctx.dims(1), let v = ctx.dims(2) else { return ctx.setOutput(0, qt, nil) }
            let b: SymDim, qHeads: SymDim, qSeq: SymDim, kvHeads: SymDim, kvSeq: SymDim, head: SymDim, vHead: SymDim
            if q.count == 4 {
                guard k.count == 4, v.count == 4 else { throw ctx.error("Q, K and V must all be 4-D or all 3-D") }
                (b, qHeads, qSeq) = (q[0], q[1], q[2])
                (kvHeads, kvSeq, head, vHead) = (k[1], k[2], k[3], v[3])
            } else if q.count == 3 {
                guard k.count == 3, v.count == 3 else { throw ctx.error("Q, K and V must all be 4-D or all 3-D") }
                let qh = try ctx.node.int("q_num_heads"), kvh = try ctx.node.int("kv_num_heads")
                (b, qHeads, qSeq) = (q[0], .constant(qh), q[1])
                (kvHeads, kvSeq, head, vHead) = (.constant(kvh), k[1], k[2] / .constant(kvh), v[2] / .constant(kvh))
            } else {
                throw ctx.error("Q must be 3-D or 4-D, got rank \(q.count)")
            }
            let total = ctx.hasInput(4) ? (ctx.dims(4).map { $0.count == 4 ? $0[2] : .unknown } ?? .unknown) + kvSeq : kvSeq
            ctx.setOutput(0, qt, q.count == 4 ? [b, qHeads, qSeq, vHead] : [b, qSeq, qHeads * vHead])
            if ctx.hasOutput(1) { ctx.setOutput(1, ctx.elementType(1), [b, kvHeads, total, head]) }
            if ctx.hasOutput(2) { ctx.setOutput(2, ctx.elementType(2), [b, kvHeads, total, vHead]) }
            if ctx.hasOutput(3) { ctx.setOutput(3, qt, [b, qHeads, qSeq, total]) }
        }
    }
}
