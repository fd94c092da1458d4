import KilnIR

/// Two Transposes in a row become one (or none).
///
/// 1. `Transpose(Transpose(x, p1), p2)` is `Transpose(x, p)` with `p[j] = p1[p2[j]]`
///    (`z[j]` is `y[p2[j]]`, which is `x[p1[p2[j]]]`). An absent permutation reverses the axes.
/// 2. When `p` is the identity, the result is `x` itself.
struct TransposeChain: FusionPattern {
    let name = "merge-transposes"
    let rootOps: Set<String> = [FusionOp.transpose]

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let (z, inner, x) = try m.chain(outer, inner: FusionOp.transpose)
        func perm(_ node: NodeID) throws(NoMatch) -> [Int] {
            if let p = try m.ints(node, "perm") { return p.map { Int($0) } }
            let r = try m.knownRank(x)
            return Array((0..<r).reversed())
        }
        let p1 = try perm(inner), p2 = try perm(outer)
        try require(p1.count == p2.count && Set(p1) == Set(0..<p1.count) && Set(p2) == Set(0..<p2.count),
                    "permutations \(p1) and \(p2) do not compose")
        let p = p2.map { p1[$0] }
        var patch = Patch()
        if p == Array(0..<p.count) {                                                    // case 2
            patch.replace(z, with: .existing(x))
        } else {                                                                        // case 1
            patch.replace(z, withCopyOf: m[outer], inputs: [.existing(x)], setting: [Attribute("perm", .ints(p.map { Int64($0) }))], in: m.graph)
        }
        return patch
    }
}

/// Two Reshapes in a row become one: only the outer target shape `s2` matters, since a Reshape
/// keeps the element order.
///
/// 1. `Reshape(Reshape(x, s1), s2)` is `Reshape(x, s2')`. With `allowzero = 1` on the outer Reshape,
///    `s2' = s2` (its zeros are literal sizes).
/// 2. Otherwise a 0 in `s2` at position `i` copies dimension `i` of the intermediate: `s2'[i] =
///    s1[i]` when that is a positive size; when `s1[i]` is itself 0 (inner `allowzero = 0`) it copies
///    `x`'s dimension `i`, so 0 stays; when it is -1 the intermediate's inferred static size is used,
///    and without one the merge is refused. `-1` entries of `s2` are unaffected (same element count).
/// Preconditions: opset >= 5 (shape as an input), `s2` constant (and `s1` wherever a 0 needs it).
struct ReshapeChain: FusionPattern {
    let name = "merge-reshapes"
    let rootOps: Set<String> = [FusionOp.reshape]
    var minimumOpset: Int { 5 }

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let (z, inner, x) = try m.chain(outer, inner: FusionOp.reshape)
        let shapeValue = try m.input(outer, 1)
        guard let s2 = m.integers(shapeValue) else { throw NoMatch("outer Reshape shape is not constant") }
        var merged = s2
        if try m.int(outer, "allowzero", 0) == 0 && s2.contains(0) {                   // case 2
            let s1 = m.integers(try m.input(inner, 1))
            let innerAllowZero = try m.int(inner, "allowzero", 0) != 0
            for (i, d) in s2.enumerated() where d == 0 {
                guard let s1, i < s1.count else { throw NoMatch("outer Reshape copies dimension \(i) the inner shape does not give") }
                if s1[i] > 0 { merged[i] = s1[i] }
                else if s1[i] == 0 && !innerAllowZero { merged[i] = 0 }
                else if let known = m.shape(try m.input(outer, 0))?.dims[i].staticValue { merged[i] = known }
                else { throw NoMatch("outer Reshape copies dimension \(i), unknown before the inner Reshape") }
            }
        }
        var patch = Patch()
        let shapeRef: Patch.Ref = merged == s2 ? .existing(shapeValue)
            : patch.initializer(m.name(shapeValue) + "_merged", int64Tensor(merged))
        patch.replace(z, withCopyOf: m[outer], inputs: [.existing(x), shapeRef], in: m.graph)
        return patch
    }
}

/// Squeeze and Unsqueeze pairs that cancel, and Unsqueezes in a row.
///
/// 1. `Squeeze(Unsqueeze(x, a), b)`: Unsqueeze inserts 1-dims at positions `a` of its output;
///    Squeeze with `b = a` (as sets, normalized on that output's rank) removes exactly them: `x`.
/// 2. `Unsqueeze(Squeeze(x, b), a)`: with `a = b` (normalized on `x`'s rank, which is also the
///    result's rank) the 1-dims go back where they were: `x`. Squeeze must list its axes.
/// 3. `Unsqueeze(Unsqueeze(x, a1), a2)` is `Unsqueeze(x, a)`: with both normalized, the result's
///    axes not in `a2` are, in order, the intermediate's; `a = a2 ∪ {those[k] : k ∈ a1}`.
/// Axes are an attribute before opset 13 and a constant input from 13 on; negative axes need
/// `x`'s rank.
struct SqueezeUnsqueezeChain: FusionPattern {
    let name = "merge-squeeze-unsqueeze"
    let rootOps: Set<String> = [FusionOp.squeeze, FusionOp.unsqueeze]

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let z = try m.output(outer)
        let y = try m.input(outer, 0)
        guard let inner = graph.producer(of: y),
              [FusionOp.squeeze, FusionOp.unsqueeze].contains(graph[node: inner].opType) else {
            throw NoMatch("input is not produced by Squeeze or Unsqueeze")
        }
        let x = try m.input(inner, 0)
        guard let innerAxes = try m.axes(inner, inputSince: 13), let outerAxes = try m.axes(outer, inputSince: 13) else {
            throw NoMatch("axes are not given")
        }
        func normalize(_ axes: [Int64], rank: Int?) throws(NoMatch) -> [Int] {
            var out: [Int] = []
            for a in axes {
                if a >= 0 { out.append(Int(a)); continue }
                guard let rank else { throw NoMatch("negative axis \(a) and unknown rank of '\(m.name(x))'") }
                out.append(try normalizedAxis(a, rank: rank))
            }
            try require(Set(out).count == out.count, "repeated axes \(axes)")
            return out
        }
        let xr = m.rank(x)
        var patch = Patch()
        switch (graph[node: inner].opType, graph[node: outer].opType) {
        case (FusionOp.unsqueeze, FusionOp.squeeze):                                    // case 1
            let r = xr.map { $0 + innerAxes.count }
            try require(Set(try normalize(innerAxes, rank: r)) == Set(try normalize(outerAxes, rank: r)),
                        "Squeeze axes \(outerAxes) differ from Unsqueeze axes \(innerAxes)")
            patch.replace(z, with: .existing(x))
        case (FusionOp.squeeze, FusionOp.unsqueeze):                                    // case 2
            try require(Set(try normalize(innerAxes, rank: xr)) == Set(try normalize(outerAxes, rank: xr)),
                        "Unsqueeze axes \(outerAxes) differ from Squeeze axes \(innerAxes)")
            patch.replace(z, with: .existing(x))
        case (FusionOp.unsqueeze, FusionOp.unsqueeze):                                  // case 3
            let r1 = xr.map { $0 + innerAxes.count }
            let a1 = try normalize(innerAxes, rank: r1)
            let a2 = try normalize(outerAxes, rank: r1.map { $0 + outerAxes.count })
            let total = a1.count + a2.count + (xr ?? 0)
            let rest = (0..<max(total, (a1.max() ?? 0) + 1 + a2.count)).filter { !a2.contains($0) }
            try require(a1.allSatisfy { $0 < rest.count }, "axes out of range")
            let combined = (a2 + a1.map { rest[$0] }).sorted().map { Int64($0) }
            let axesRef: Patch.Ref? = scope.opset >= 13
                ? patch.initializer(m.name(try m.input(outer, 1)) + "_merged", int64Tensor(combined)) : nil
            patch.replace(z, withCopyOf: m[outer], inputs: axesRef.map { [.existing(x), $0] } ?? [.existing(x)], setting: scope.opset >= 13 ? [] : [Attribute("axes", .ints(combined))], in: m.graph)
        default:
            throw NoMatch("Squeeze of Squeeze is not merged")
        }
        return patch
    }
}
