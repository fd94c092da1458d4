import KilnIR

/// Decomposed scaled dot-product attention becomes the standard `Attention` (opset 23).
///
/// With 4-D `Q[B, H, S, D]`, `K[B, Hk, T, D]`, `V[B, Hk, T, Dv]`:
/// 1. `MatMul(Softmax(MatMul(Q, Kt) * c, axis = -1), V)` with `Kt` the last two axes of `K` swapped
///    is `Attention(Q, K, V, scale = c)`; `/ c` gives `scale = 1/c`, no scaling gives `scale = 1`.
/// 2. An additive mask, `Softmax(MatMul(Q, Kt) * c + M)` (either order), becomes `attn_mask = M`
///    (floating point, of the scores' type), when adding it does not enlarge the scores' shape.
/// 3. `Q * c` or `Kt * c` (or `/ c`) before the product multiplies the scale by `c` (or `1/c`):
///    exporters that scale Q, or both Q and K by `c^(1/2)`, before the MatMul.
/// 4. onnxruntime's Attention takes only masks whose last two dims are `[S, T]`; a `[.., 1, T]`
///    padding mask is expanded to `[.., S, T]` first (`attentionMask`), which is exact since the
///    Add broadcast it that way.
/// `Kt` is normally a Transpose: `Kt = Transpose(K0, p)` gives `K = Transpose(K0, q)` with
/// `q[j] = p[s[j]]` for the swap `s = [0, 1, 3, 2]`, and no Transpose at all when `q` is the
/// identity (`p = [0, 1, 3, 2]`), so the exporter's own reshapes and transposes of Q, K and V stay
/// as they were. Otherwise a Transpose of `Kt` is added.
/// Preconditions: ranks 4; batch sizes equal; `Hk` equal to `H` or statically dividing it
/// (grouped-query attention, as Attention defines it); every interior value read once.
struct AttentionPattern: FusionPattern {
    let name = "fuse-attention"
    let rootOps: Set<String> = [FusionOp.matMul]
    var minimumOpset: Int { 23 }
    var isOpsetFusion: Bool { true }

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(readsOutputOf(graph, root, [FusionOp.softmax]), "no operand is a Softmax output")
        let m = Matcher(graph, scope)
        let z = try m.output(root)
        let probs = try m.input(root, 0), v = try m.input(root, 1)
        let softmax = try m.expect(probs, FusionOp.softmax)
        try m.interior(probs)
        let axis = try m.int(softmax, "axis", -1)
        try require(axis == -1 || axis == 3, "Softmax axis \(axis) is not the last")
        var scores = try m.input(softmax, 0)
        try m.interior(scores)
        guard let type = m.type(scores), isFusableFloat(type) else { throw NoMatch("scores are not floating point") }
        // case 2: the mask
        var mask: ValueID?
        if let add = m.producer(scores, FusionOp.add) {
            let (a, b) = (try m.input(add, 0), try m.input(add, 1))
            if (try? qkProduct(a, m)) != nil { (scores, mask) = (a, b) }
            else if (try? qkProduct(b, m)) != nil { (scores, mask) = (b, a) }
            else { throw NoMatch("no Add operand is Q Kt (scaled)") }
            try m.interior(scores)
            try require(m.type(mask!) == type, "mask is not of the scores' type")
            guard let before = m.shape(scores), let after = m.shape(try m.input(softmax, 0)),
                  before == after, !before.dims.contains(.unknown) else {
                throw NoMatch("the mask may enlarge the scores (shapes unknown or differ)")
            }
        }
        let (q, kt, scale) = try qkProduct(scores, m)
        try require(m.rank(q) == 4 && m.rank(kt) == 4 && m.rank(v) == 4, "Q, K and V are not all 4-D")
        let qs = m.shape(q)!.dims, ks = m.shape(kt)!.dims, vs = m.shape(v)!.dims  // ks: [B, Hk, D, T]
        try require(qs[0] == ks[0] && ks[0] == vs[0] && qs[0] != .unknown, "batch sizes differ or are unknown")
        try require(ks[1] == vs[1] && ks[1] != .unknown, "K and V heads differ or are unknown")
        if qs[1] != ks[1] {
            guard let h = qs[1].staticValue, let hk = ks[1].staticValue, hk > 0, h % hk == 0 else {
                throw NoMatch("Q heads \(qs[1]) are not a multiple of K heads \(ks[1])")
            }
        }
        var patch = Patch()
        let base = m[root].name.isEmpty ? m.name(z) : m[root].name
        let maskRef = try mask.map { (mask: ValueID) throws(NoMatch) -> Patch.Ref in
            try attentionMask(mask, q: q, qs: qs, keyLength: ks[3], base: base, &patch, m)
        }
        let swap = [0, 1, 3, 2]
        let k: Patch.Ref
        if let t = m.producer(kt, FusionOp.transpose), (try? m.interior(kt)) != nil, let p = try m.ints(t, "perm"), p.count == 4 {
            let composed = swap.map { p[$0] }
            let k0 = try m.input(t, 0)
            if composed == [0, 1, 2, 3] { k = .existing(k0) }
            else {
                k = patch.node1(FusionOp.transpose, name: m[t].name, inputs: [.existing(k0)],
                                attributes: [Attribute("perm", .ints(composed))], output: m.name(kt) + "_k")
            }
        } else {
            k = patch.node1(FusionOp.transpose, name: base + "_k", inputs: [.existing(kt)],
                            attributes: [Attribute("perm", .ints([0, 1, 3, 2]))], output: m.name(kt) + "_k")
        }
        let out = patch.node1(FusionOp.attention, name: base + "_attention",
                              inputs: [.existing(q), k, .existing(v)] + (maskRef.map { [$0] } ?? []),
                              attributes: [Attribute("scale", .float(Float(scale)))],
                              output: m.name(z), type: graph[value: z].type)
        patch.replace(z, with: out)
        return patch
    }

    /// The mask as Attention takes it (case 4). onnxruntime requires the mask's last two dims to be
    /// exactly `[S, T]` (it broadcasts only the batch and head dims, as 1), so a mask of `[.., 1, T]`
    /// (a padding mask) is expanded over the query length first: with a constant shape when `S` is
    /// static, else with `Shape(Q, start = 2, end = 3)` (or the mask's last dim, in self-attention)
    /// concatenated into it.
    func attentionMask(_ mask: ValueID, q: ValueID, qs: [Dim], keyLength: Dim, base: String,
                       _ patch: inout Patch, _ m: Matcher) throws(NoMatch) -> Patch.Ref {
        guard let ms = m.shape(mask)?.dims, (2...4).contains(ms.count) else { throw NoMatch("mask rank is not 2 to 4") }
        let r = ms.count
        try require(ms[r - 1] == keyLength && keyLength != .unknown, "mask's last dim \(ms[r - 1]) is not the key length \(keyLength)")
        try require(r < 3 || ms[r - 3] == .value(1) || (ms[r - 3] == qs[1] && qs[1] != .unknown),
                    "mask's head dim \(ms[r - 3]) is neither 1 nor the number of heads")
        try require(r < 4 || ms[0] == .value(1) || ms[0] == qs[0], "mask's batch dim \(ms[0]) is neither 1 nor the batch")
        if ms[r - 2] == qs[2] && qs[2] != .unknown { return .existing(mask) }
        try require(ms[r - 2] == .value(1), "mask's query dim \(ms[r - 2]) is neither 1 nor the query length \(qs[2])")
        let ones = [Int64](repeating: 1, count: r - 2)
        let target: Patch.Ref
        if let s = qs[2].staticValue {
            target = patch.initializer(base + "_mask_shape", int64Tensor(ones + [s, 1]))
        } else {
            // Self-attention (query length = key length): read it from the mask itself, so every
            // layer builds the same nodes and common subexpression elimination keeps one set.
            let selfAttention = ms[r - 1] == qs[2]
            let source = selfAttention ? mask : q
            let axis = Int64(selfAttention ? r - 1 : 2)
            let length = patch.node1("Shape", name: base + "_query_length", inputs: [.existing(source)],
                                     attributes: [Attribute("start", .int(axis)), Attribute("end", .int(axis + 1))],
                                     output: base + "_query_length")
            let lead = patch.initializer(base + "_mask_lead", int64Tensor(ones))
            let tail = patch.initializer(base + "_mask_tail", int64Tensor([1]))
            target = patch.node1(FusionOp.concat, name: base + "_mask_shape", inputs: [lead, length, tail],
                                 attributes: [Attribute("axis", .int(0))], output: base + "_mask_shape")
        }
        return patch.node1("Expand", name: base + "_mask", inputs: [.existing(mask), target], output: m.name(mask) + "_expanded")
    }

    /// Reads `s` as `MatMul(Q, Kt)` times a constant scale (case 1): (Q, Kt, scale).
    func qkProduct(_ s: ValueID, _ m: Matcher) throws(NoMatch) -> (ValueID, ValueID, Double) {
        var scale = 1.0
        var mm = s
        if let p = m.producer(s, FusionOp.mul) ?? m.producer(s, FusionOp.div) {
            let (a, b) = (try m.input(p, 0), try m.input(p, 1))
            if let c = m.scalarConstant(b, 4) {
                mm = a
                scale = m[p].opType == FusionOp.div ? 1 / c : c
            } else if m[p].opType == FusionOp.mul, let c = m.scalarConstant(a, 4) {
                mm = b
                scale = c
            } else {
                throw NoMatch("scores are scaled by a non-constant")
            }
            try require(scale.isFinite && scale != 0, "scale \(scale) is not usable")
            try m.interior(mm)
        }
        let matmul = try m.expect(mm, FusionOp.matMul)
        // case 3: Q or Kt scaled before the product
        var operands = [try m.input(matmul, 0), try m.input(matmul, 1)]
        for i in operands.indices {
            guard let (c, inner) = scaledOperand(operands[i], m) else { continue }
            operands[i] = inner
            scale *= c
        }
        try require(scale.isFinite && scale != 0, "scale \(scale) is not usable")
        return (operands[0], operands[1], scale)
    }

    /// `v = x * c` or `x / c` with a one-element constant `c` and `v` single-use: (c or 1/c, x).
    func scaledOperand(_ v: ValueID, _ m: Matcher) -> (Double, ValueID)? {
        guard (try? m.interior(v)) != nil, let p = m.producer(v, FusionOp.mul) ?? m.producer(v, FusionOp.div),
              let a = m.optionalInput(p, 0), let b = m.optionalInput(p, 1) else { return nil }
        if let c = m.scalarConstant(b, 4) { return (m[p].opType == FusionOp.div ? 1 / c : c, a) }
        if m[p].opType == FusionOp.mul, let c = m.scalarConstant(a, 4) { return (c, b) }
        return nil
    }
}
