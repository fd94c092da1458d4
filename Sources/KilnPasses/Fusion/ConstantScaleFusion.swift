import KilnIR

/// Folds an elementwise Mul, Add, Sub or Div by a per-channel constant into the weight and bias of
/// the Conv, ConvTranspose or Gemm that produces the other operand.
///
/// The producer's output `Y` has its channels on axis 1 (`Y[N, M, ...]` for Conv, `Y[M, N]` for
/// Gemm). The constant `c` must broadcast per channel without enlarging `Y`: one element, or all
/// dimensions 1 except the one aligned with axis 1 (`[M, 1, 1]`, `[1, M, 1, 1]` for a 2-D Conv;
/// `[N]`, `[1, N]` for Gemm). Then with `c[m]` the constant of channel `m`, the node computes
/// `Y * scale[m] + shift[m]`, folded by the rules of `BatchNormIntoProducer`:
/// 1. `Y * c`, `c * Y`: scale `c`, shift 0 (`W' = W * c[m]`, `b' = b * c[m]`).
/// 2. `Y / c`: scale `1 / c` (every `c[m]` nonzero).
/// 3. `Y + c`, `c + Y`: scale 1, shift `c` (`b' = b + c[m]`).
/// 4. `Y - c`: scale 1, shift `-c`; `c - Y`: scale -1, shift `c` (`W' = -W`, `b' = c[m] - b[m]`).
/// Preconditions: `Y` read only by this node; `c` a floating-point constant of `Y`'s type; the
/// producer's weight (and bias, when present) constant.
struct ConstantScaleIntoProducer: FusionPattern {
    let name = "fuse-constant-scale"
    let rootOps: Set<String> = [FusionOp.mul, FusionOp.add, FusionOp.sub, FusionOp.div]

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(readsOutputOf(graph, root, [FusionOp.conv, FusionOp.convTranspose, FusionOp.gemm]), "no operand is a Conv/Gemm output")
        let m = Matcher(graph, scope)
        let z = try m.output(root)
        let op = m[root].opType
        let a = try m.input(root, 0), b = try m.input(root, 1)
        // The operand made by a Conv/ConvTranspose/Gemm, and its position.
        let producers: Set<String> = [FusionOp.conv, FusionOp.convTranspose, FusionOp.gemm]
        func linearProducer(_ v: ValueID) -> NodeID? {
            guard let p = graph.producer(of: v), producers.contains(graph[node: p].opType) else { return nil }
            return p
        }
        let yFirst: Bool
        if linearProducer(a) != nil && m.constant(b) != nil { yFirst = true }
        else if linearProducer(b) != nil && m.constant(a) != nil && op != FusionOp.div { yFirst = false }
        else { throw NoMatch("no operand is a Conv/Gemm output with a constant other operand") }
        let y = yFirst ? a : b, cv = yFirst ? b : a
        let p = linearProducer(y)!
        try m.interior(y)
        guard let c = m.floatConstant(cv) else { throw NoMatch("'\(m.name(cv))' is not a float constant") }
        try require(m.type(y) == nil || m.type(y) == c.type, "constant type \(c.type) differs from the output type")
        let isGemm = graph[node: p].opType == FusionOp.gemm
        let outRank: Int
        if isGemm { outRank = 2 } else {
            guard let w = m.constant(try m.input(p, 1)) else { throw NoMatch("\(graph[node: p].label) weight is not constant") }
            outRank = w.dims.count
        }
        let perChannel = try channelValues(c.values, dims: c.dims, outputRank: outRank)
        let affine: ChannelAffine
        switch op {
        case FusionOp.mul: affine = ChannelAffine(scale: perChannel, shift: perChannel.map { _ in 0 })  // case 1
        case FusionOp.div:                                                                                 // case 2
            try require(perChannel.allSatisfy { $0 != 0 }, "division by a constant holding 0")
            affine = ChannelAffine(scale: perChannel.map { 1 / $0 }, shift: perChannel.map { _ in 0 })
        case FusionOp.add: affine = ChannelAffine(scale: perChannel.map { _ in 1 }, shift: perChannel)     // case 3
        default:                                                                                           // case 4
            affine = yFirst ? ChannelAffine(scale: perChannel.map { _ in 1 }, shift: perChannel.map { -$0 })
                : ChannelAffine(scale: perChannel.map { _ in -1 }, shift: perChannel)
        }
        return isGemm ? try fuseIntoGemm(p, affine, y: z, m) : try fuseIntoConv(p, affine, y: z, m)
    }

    /// The per-channel values of a constant broadcasting against an output of `outputRank` with
    /// channels on axis 1: the elements when only the channel-aligned dimension exceeds 1, the one
    /// element otherwise.
    func channelValues(_ values: [Double], dims: [Int64], outputRank: Int) throws(NoMatch) -> [Double] {
        try require(dims.count <= outputRank, "constant of rank \(dims.count) would enlarge the output")
        if values.count == 1 { return values }
        let channelIndex = dims.count - (outputRank - 1)
        for (i, d) in dims.enumerated() where i != channelIndex {
            try require(d == 1, "constant of shape \(dims) does not broadcast per channel")
        }
        try require(channelIndex >= 0, "constant of shape \(dims) does not reach the channel axis")
        return values
    }
}
