import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FlexAttention (`ai.onnx.preview`, opset 1): attention over 4-D `(batch, heads, seq, size)` inputs
/// whose scores and probabilities pass through optional graph attributes.
///
/// 1. `scores = (Q . K^T) * scale` (default `1/sqrt(E)`; K/V heads repeated for grouped queries),
///    converted to the softmax type (`softmax_precision`, else float32 for 16-bit inputs, else Q's).
/// 2. `score_mod` (a graph of one input and one output) maps the whole scores tensor.
/// 3. Softmax over keys; `prob_mod` maps the probabilities the same way.
/// 4. `Y = probs . V`, in V's type.
enum FlexAttentionKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("FlexAttention", domain: "ai.onnx.preview", since: 1) { ctx in
            let q = try ctx.tensor(0), k = try ctx.tensor(1), v = try ctx.tensor(2)
            guard q.dataType.isFloatingPoint else { throw unsupportedType(q.dataType, ctx.node.opType) }
            guard q.rank == 4, k.rank == 4, v.rank == 4 else { throw ctx.error("Q, K and V must be 4-D") }
            let (b, hq, l, e) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
            let (hkv, s, ev) = (k.shape[1], k.shape[2], v.shape[3])
            guard k.shape[3] == e, v.shape[1] == hkv, v.shape[2] == s, hkv > 0, hq % hkv == 0 else {
                throw ctx.error("incompatible Q \(q.shape), K \(k.shape), V \(v.shape)")
            }
            let group = hq / hkv
            let scale = ctx.node.attribute("scale") == nil ? 1 / Double(e).squareRoot() : Double(try ctx.float("scale"))
            var computeType = q.dataType == .float16 || q.dataType == .bfloat16 ? DataType.float : q.dataType
            if ctx.node.attribute("softmax_precision") != nil {
                let raw = try ctx.int("softmax_precision")
                guard let t = DataType(rawValue: Int32(raw)), t.isFloatingPoint else { throw ctx.error("softmax_precision \(raw) is not a float type") }
                computeType = t
            }
            let qv = q.doubles, kv = k.doubles, vv = v.doubles
            var scores = [Double](repeating: 0, count: b * hq * l * s)
            for bi in 0..<b { for h in 0..<hq { for i in 0..<l { for j in 0..<s {
                var dot = 0.0
                for d in 0..<e { dot += qv[((bi * hq + h) * l + i) * e + d] * kv[((bi * hkv + h / group) * s + j) * e + d] }
                scores[((bi * hq + h) * l + i) * s + j] = dot * scale
            } } } }
            let shape = [b, hq, l, s]
            func modded(_ name: String, _ values: [Double]) throws -> [Double] {
                let t = try castTensor(TensorValue(shape: shape, values), to: computeType)
                guard ctx.subgraphs.has(name) else { return t.doubles }
                let out = try ctx.subgraphs.run(name, inputs: [.tensor(t)])
                guard out.count == 1, let r = out[0].tensor, r.count == values.count else {
                    throw ctx.error("\(name) must return one tensor of shape \(shape)")
                }
                return try castTensor(r, to: computeType).doubles
            }
            var p = try modded("score_mod", scores)
            for row in 0..<(b * hq * l) {
                let base = row * s
                let peak = p[base..<(base + s)].max() ?? 0
                var sum = 0.0
                for j in 0..<s { p[base + j] = exp(p[base + j] - peak); sum += p[base + j] }
                for j in 0..<s { p[base + j] /= sum }
            }
            p = try modded("prob_mod", p)
            var y = [Double](repeating: 0, count: b * hq * l * ev)
            for bi in 0..<b { for h in 0..<hq { for i in 0..<l {
                let row = ((bi * hq + h) * l + i)
                for j in 0..<s {
                    let w = p[row * s + j]
                    if w == 0 { continue }
                    for d in 0..<ev { y[row * ev + d] += w * vv[((bi * hkv + h / group) * s + j) * ev + d] }
                }
            } } }
            return KernelContext.one(try castTensor(TensorValue(shape: [b, hq, l, ev], y), to: v.dataType))
        }
    }
}
