import KilnIR

/// MatMul followed by Add becomes one Gemm.
///
/// 1. `Add(MatMul(A, B), C)` or `Add(C, MatMul(A, B))` with `A[M, K]` 2-D and `B[K, N]` a 2-D
///    constant is `Gemm(A, B, C)` (alpha = beta = 1, no transposes): `Y = A B + C`.
/// Preconditions: the MatMul output read only by the Add; `C`'s shape known and unidirectionally
/// broadcastable to `[M, N]` (every dimension 1 or equal to the output's), so the Add does not
/// enlarge the result; a floating-point type (bfloat16 from opset 13); opset >= 7 (Gemm's C
/// broadcasts from Gemm-7 on).
struct MatMulAddToGemm: FusionPattern {
    let name = "fuse-gemm"
    let rootOps: Set<String> = [FusionOp.add]
    var minimumOpset: Int { 7 }

    func rewrite(_ add: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(readsOutputOf(graph, add, [FusionOp.matMul]), "no Add operand is a MatMul output")
        let m = Matcher(graph, scope)
        let z = try m.output(add)
        let l = try m.input(add, 0), r = try m.input(add, 1)
        let (y, c): (ValueID, ValueID)
        if m.producer(l, FusionOp.matMul) != nil { (y, c) = (l, r) }
        else if m.producer(r, FusionOp.matMul) != nil { (y, c) = (r, l) }
        else { throw NoMatch("no Add operand is a MatMul output") }
        let mm = m.producer(y, FusionOp.matMul)!
        try m.interior(y)
        let a = try m.input(mm, 0), b = try m.input(mm, 1)
        try require(try m.knownRank(a) == 2, "MatMul input A is not 2-D")
        guard let bt = m.constant(b), bt.dims.count == 2 else { throw NoMatch("MatMul input B is not a 2-D constant") }
        guard let type = m.type(y), isFusableFloat(type) else { throw NoMatch("MatMul output is not a float type") }
        try require(type != .bfloat16 || scope.opset >= 13, "Gemm takes bfloat16 from opset 13")
        guard let out = m.shape(y), out.rank == 2 else { throw NoMatch("MatMul output shape is unknown") }
        guard let cs = m.shape(c) else { throw NoMatch("shape of the bias '\(m.name(c))' is unknown") }
        try require(cs.rank <= 2, "bias of rank \(cs.rank) would enlarge the output")
        for (k, d) in cs.dims.reversed().enumerated() {
            let o = out.dims[1 - k]
            try require(d == .value(1) || (d == o && d != .unknown), "bias dimension \(d) does not broadcast into \(o)")
        }
        var patch = Patch()
        let g = patch.node1(FusionOp.gemm, name: m[mm].name, inputs: [.existing(a), .existing(b), .existing(c)],
                            output: m.name(z), type: graph[value: z].type)
        patch.replace(z, with: g)
        return patch
    }
}

/// A 2-D Transpose feeding a Gemm operand becomes the operand's trans flag.
///
/// 1. `Gemm(Transpose(A), B)` is `Gemm(A, B, transA = 1 - transA)`; the same for B with `transB`.
///    A Gemm operand is 2-D, so the Transpose's permutation must be `[1, 0]` (or absent).
/// Preconditions: the Transpose output read only by the Gemm.
struct TransposeIntoGemm: FusionPattern {
    let name = "fuse-gemm-transpose"
    let rootOps: Set<String> = [FusionOp.gemm]

    func rewrite(_ gemm: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(readsOutputOf(graph, gemm, [FusionOp.transpose]), "no Gemm operand comes from a Transpose")
        let m = Matcher(graph, scope)
        let z = try m.output(gemm)
        var inputs: [Patch.Ref?] = m[gemm].inputs.map { $0.map { .existing($0) } }
        var attributes: [Attribute] = []
        for (slot, flag) in [(0, "transA"), (1, "transB")] {
            let v = try m.input(gemm, slot)
            guard let t = m.producer(v, FusionOp.transpose), (try? m.interior(v)) != nil else { continue }
            let perm = try m.ints(t, "perm")
            guard perm == nil || perm == [1, 0] else { continue }
            inputs[slot] = .existing(try m.input(t, 0))
            attributes.append(Attribute(flag, .int(try m.int(gemm, flag, 0) == 0 ? 1 : 0)))
        }
        try require(!attributes.isEmpty, "no Gemm operand comes from a single-use 2-D Transpose")
        var patch = Patch()
        patch.replace(z, withCopyOf: m[gemm], inputs: inputs, setting: attributes, in: m.graph)
        return patch
    }
}
