import KilnIR

/// Folds an inference-mode BatchNormalization into the Conv, ConvTranspose, Gemm or 2-D MatMul
/// (constant weight) that feeds it.
///
/// BatchNormalization computes `y = (x - mean) * s + beta` per channel (axis 1) with
/// `s[c] = gamma[c] / sqrt(var[c] + eps)`. Since the producer is linear in its weight and bias:
/// 1. Conv, weight `W[M, C/g, k...]`, bias `b[M]` (0 when absent):
///    `W'[m, ...] = W[m, ...] * s[m]`, `b'[m] = (b[m] - mean[m]) * s[m] + beta[m]`.
/// 2. ConvTranspose, weight `W[C, M/g, k...]`, group `g`: entry `W[c, j, ...]` feeds output channel
///    `o = (c / (C/g)) * (M/g) + j`, so `W'[c, j, ...] = W[c, j, ...] * s[o]`; bias as in 1.
/// 3. Gemm `Y = alpha * A' B' + beta * C`, `Y[M, N]` (channel axis 1 is N): column `n` of `B'` is
///    scaled, `B[k, n] * s[n]` (transB = 0) or `B[n, k] * s[n]` (transB = 1);
///    `C'[n] = (beta * C[n] - mean[n]) * s[n] + beta_bn[n]`, attribute `beta := 1`. `C` must be
///    absent, one element, `[N]` or `[1, N]`.
/// 4. MatMul(A[M, K], B[K, N]) with constant B: case 3 with alpha = 1 and no C; it becomes
///    `Gemm(A, B', C')` (opset >= 7, where Gemm broadcasts C).
///
/// Preconditions: BN in inference mode (`training_mode` absent or 0, `is_test` not 0, `spatial` not
/// 0; only output 0 used); the producer's output read by the BN alone; weight, bias, gamma, beta,
/// mean and var constant floating-point tensors with one element per channel. The math is done in
/// double and rounded once to the weight's type.
struct BatchNormIntoProducer: FusionPattern {
    let name = "fuse-batchnorm"
    let rootOps: Set<String> = [FusionOp.batchNormalization]

    func rewrite(_ bn: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        try m.onlyAttributes(bn, ["epsilon", "momentum", "training_mode", "spatial", "is_test"])
        try require(try m.int(bn, "training_mode", 0) == 0, "BatchNormalization is in training mode")
        try require(try m.int(bn, "is_test", 1) != 0, "BatchNormalization has is_test = 0 (training)")
        try require(try m.int(bn, "spatial", 1) != 0, "BatchNormalization has spatial = 0 (per-element statistics)")
        let y = try m.output(bn)
        let x = try m.input(bn, 0)
        var params: [[Double]] = []
        for i in 1...4 {
            let v = try m.input(bn, i)
            guard let c = m.floatConstant(v) else { throw NoMatch("BatchNormalization input \(i) '\(m.name(v))' is not a float constant") }
            try require(c.dims.count == 1, "BatchNormalization input \(i) is not 1-D")
            params.append(c.values)
        }
        let channels = params[0].count
        try require(params.allSatisfy { $0.count == channels }, "BatchNormalization parameters differ in length")
        let eps = Double(try m.float(bn, "epsilon", 1e-5))
        // s = gamma / sqrt(var + eps), t = beta - mean * s: y = x * s + t.
        var s = [Double](repeating: 0, count: channels), t = s
        for c in 0..<channels {
            s[c] = params[0][c] / (params[3][c] + eps).squareRoot()
            t[c] = params[1][c] - params[2][c] * s[c]
        }
        try m.interior(x)
        guard let p = graph.producer(of: x) else { throw NoMatch("BatchNormalization input is not produced by a node") }
        let affine = ChannelAffine(scale: s, shift: t)
        switch graph[node: p].opType {
        case FusionOp.conv, FusionOp.convTranspose:
            return try fuseIntoConv(p, affine, y: y, m)
        case FusionOp.gemm:
            try require(try m.knownRank(x) == 2, "Gemm output is not 2-D")
            return try fuseIntoGemm(p, affine, y: y, m)
        case FusionOp.matMul:
            return try fuseIntoMatMul(p, affine, y: y, m)
        default:
            throw NoMatch("BatchNormalization input is produced by \(graph[node: p].opType)")
        }
    }
}

/// A per-channel affine map `x * scale[c] + shift[c]` to fold into a producer's weight and bias.
struct ChannelAffine {
    var scale: [Double]
    var shift: [Double]
    var count: Int { scale.count }

    /// Broadcasts one-element parameters to `n` channels; fails when the count is neither 1 nor n.
    func expanded(to n: Int) throws(NoMatch) -> ChannelAffine {
        if count == n { return self }
        try require(count == 1, "\(count) channel parameters for \(n) output channels")
        return ChannelAffine(scale: Array(repeating: scale[0], count: n), shift: Array(repeating: shift[0], count: n))
    }
}

/// Folds `affine` into the weight and bias of Conv / ConvTranspose `conv` (cases 1 and 2 of
/// `BatchNormIntoProducer`, also used by `ConstantScaleIntoProducer`); `y` is the value the result
/// replaces.
func fuseIntoConv(_ conv: NodeID, _ affine: ChannelAffine, y: ValueID, _ m: Matcher) throws(NoMatch) -> Patch {
    let node = m[conv]
    let transposed = node.opType == FusionOp.convTranspose
    let wv = try m.input(conv, 1)
    guard let w = m.constant(wv), isFusableFloat(w.dataType) else { throw NoMatch("\(node.label) weight is not a float constant") }
    try require(w.dims.count >= 3, "\(node.label) weight has rank \(w.dims.count)")
    let group = Int(try m.int(conv, "group", 1))
    try require(group >= 1 && Int(w.dims[0]) % group == 0, "\(node.label) has group \(group)")
    let d0 = Int(w.dims[0]), d1 = Int(w.dims[1])
    let outChannels = transposed ? d1 * group : d0
    let a = try affine.expanded(to: outChannels)
    let inner = Int(w.dims.dropFirst(2).reduce(1, *))
    var bias = [Double](repeating: 0, count: outChannels)
    if let bv = m.optionalInput(conv, 2) {
        guard let b = m.floatConstant(bv), b.values.count == outChannels else {
            throw NoMatch("\(node.label) bias is not a float constant with \(outChannels) elements")
        }
        bias = b.values
    }
    for c in 0..<outChannels { bias[c] = bias[c] * a.scale[c] + a.shift[c] }
    // Block (i, j) of the weight is one kernel: case 1 scales it by channel i; case 2 by the output
    // channel of column j in the group of input channel i.
    guard let wNew = scaledBlocks(w, blockSize: inner, factor: { b in
        let i = b / d1, j = b % d1
        return a.scale[transposed ? (i / (d0 / group)) * d1 + j : i]
    }) else { throw NoMatch("\(node.label) weight cannot be read") }
    var patch = Patch()
    let wRef = patch.initializer(m.name(wv) + "_fused", wNew)
    let bRef = patch.initializer((m.optionalInput(conv, 2).map(m.name) ?? node.name + "_bias") + "_fused",
                                 makeTensor(bias, dims: [Int64(outChannels)], type: w.dataType))
    let x = try m.input(conv, 0)
    patch.replace(y, withCopyOf: node, inputs: [.existing(x), wRef, bRef], in: m.graph)
    return patch
}

/// Case 3 of `BatchNormIntoProducer`: folds `affine` into Gemm `gemm` (2-D output).
func fuseIntoGemm(_ gemm: NodeID, _ affine: ChannelAffine, y: ValueID, _ m: Matcher) throws(NoMatch) -> Patch {
    let node = m[gemm]
    let bv = try m.input(gemm, 1)
    guard let b = m.constant(bv), isFusableFloat(b.dataType), b.dims.count == 2 else {
        throw NoMatch("Gemm B is not a 2-D float constant")
    }
    let transB = try m.int(gemm, "transB", 0) != 0
    let beta = Double(try m.float(gemm, "beta", 1))
    let n = Int(transB ? b.dims[0] : b.dims[1])
    let a = try affine.expanded(to: n)
    var c = [Double](repeating: 0, count: n)
    if let cv = m.optionalInput(gemm, 2) {
        guard let ct = m.floatConstant(cv) else { throw NoMatch("Gemm C is not a float constant") }
        if ct.values.count == 1 {
            c = Array(repeating: ct.values[0] * beta, count: n)
        } else {
            try require(ct.dims == [Int64(n)] || ct.dims == [1, Int64(n)], "Gemm C has shape \(ct.dims), not [\(n)]")
            c = ct.values.map { $0 * beta }
        }
    }
    for j in 0..<n { c[j] = c[j] * a.scale[j] + a.shift[j] }
    var patch = Patch()
    let bRef = patch.initializer(m.name(bv) + "_fused", try scaledColumns(b, transposed: transB, by: a.scale))
    let cRef = patch.initializer((m.optionalInput(gemm, 2).map(m.name) ?? node.name + "_bias") + "_fused",
                                 makeTensor(c, dims: [Int64(n)], type: b.dataType))
    patch.replace(y, withCopyOf: node, inputs: [.existing(try m.input(gemm, 0)), bRef, cRef], setting: [Attribute("beta", .float(1))], in: m.graph)
    return patch
}

/// Case 4 of `BatchNormIntoProducer`: MatMul(A[M, K], B[K, N]) with constant B becomes a Gemm.
func fuseIntoMatMul(_ mm: NodeID, _ affine: ChannelAffine, y: ValueID, _ m: Matcher) throws(NoMatch) -> Patch {
    try require(m.scope.opset >= 7, "Gemm before opset 7 does not broadcast C")
    let av = try m.input(mm, 0), bv = try m.input(mm, 1)
    try require(try m.knownRank(av) == 2, "MatMul input A is not 2-D")
    guard let b = m.constant(bv), isFusableFloat(b.dataType), b.dims.count == 2 else {
        throw NoMatch("MatMul B is not a 2-D float constant")
    }
    try require(b.dataType != .bfloat16 || m.scope.opset >= 13, "Gemm takes bfloat16 from opset 13")
    let n = Int(b.dims[1])
    let a = try affine.expanded(to: n)
    var patch = Patch()
    let bRef = patch.initializer(m.name(bv) + "_fused", try scaledColumns(b, transposed: false, by: a.scale))
    let cRef = patch.initializer(m[mm].name + "_bias_fused", makeTensor(a.shift, dims: [Int64(n)], type: b.dataType))
    let out = patch.node1(FusionOp.gemm, name: m[mm].name, inputs: [.existing(av), bRef, cRef],
                          output: m.name(y), type: m.graph[value: y].type)
    patch.replace(y, with: out)
    return patch
}

/// A 2-D matrix with column `n` of its logical `[K, N]` view (row `n` when `transposed`) scaled by
/// `scale[n]`.
func scaledColumns(_ t: Tensor, transposed: Bool, by scale: [Double]) throws(NoMatch) -> Tensor {
    let cols = Int(t.dims[1])
    let result = transposed ? scaledBlocks(t, blockSize: cols, factor: { scale[$0] })
        : scaledBlocks(t, blockSize: 1, factor: { scale[$0 % cols] })
    guard let result else { throw NoMatch("weight '\(t.name)' cannot be read") }
    return result
}
