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
        let qs = m.shape(q)!.dims, ks = m.shape(kt)!.dims, vs = m.shape(v)!.dims
        try require(qs[0] == ks[0] && ks[0] == vs[0] && qs[0] != .unknown, "batch sizes differ or are unknown")
        try require(ks[1] == vs[1] && ks[1] != .unknown, "K and V heads differ or are unknown")
        if qs[1] != ks[1] {
            guard let h = qs[1].staticValue, let hk = ks[1].staticValue, hk > 0, h % hk == 0 else {
                throw NoMatch("Q heads \(qs[1]) are not a multiple of K heads \(ks[1])")
            }
        }
        var patch = Patch()
        let base = m[root].name.isEmpty ? m.name(z) : m[root].name
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
                              inputs: [.existing(q), k, .existing(v)] + (mask.map { [.existing($0)] } ?? []),
                              attributes: [Attribute("scale", .float(Float(scale)))],
                              output: m.name(z), type: graph[value: z].type)
        patch.replace(z, with: out)
        return patch
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
