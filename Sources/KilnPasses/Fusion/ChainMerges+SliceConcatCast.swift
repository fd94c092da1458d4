import KilnIR

/// Two Slices in a row become one (opset >= 10: starts, ends, axes and steps are inputs, here
/// constants).
///
/// 1. Axes sliced by only one of them keep that slice.
/// 2. An axis sliced by both, with steps 1, and all four bounds >= 0: the inner keeps
///    `[min(s1, d), min(e1, d))` of a dimension `d`, the outer `[min(s2, L), min(e2, L))` of that
///    length `L`; together `[s1 + s2, min(e1, s1 + e2))` clamped to `d`, empty exactly when either
///    is. (Sums saturate at `Int64.max`.)
/// 3. Same with negative bounds when `d` is a known static size: both are resolved on `d` first
///    (`b + d` for negative `b`, clamped to `[0, d]`), then composed as in 2.
/// Other steps on a shared axis are refused.
struct SliceChain: FusionPattern {
    let name = "merge-slices"
    let rootOps: Set<String> = [FusionOp.slice]
    var minimumOpset: Int { 10 }

    struct Range { var start: Int64; var end: Int64; var step: Int64 }

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let (z, inner, x) = try m.chain(outer, inner: FusionOp.slice)
        let a = try ranges(inner, x, m), b = try ranges(outer, x, m)
        var merged = a
        for (axis, r2) in b {
            guard let r1 = a[axis] else { merged[axis] = r2; continue }                // case 1
            try require(r1.step == 1 && r2.step == 1, "axis \(axis) is sliced twice with steps \(r1.step), \(r2.step)")
            if min(r1.start, r1.end, r2.start, r2.end) >= 0 {                            // case 2
                let (s, o1) = r1.start.addingReportingOverflow(r2.start)
                let (e, o2) = r1.start.addingReportingOverflow(r2.end)
                merged[axis] = Range(start: o1 ? .max : s, end: min(r1.end, o2 ? .max : e), step: 1)
            } else {                                                                     // case 3
                guard let d = m.shape(x)?.dims[axis].staticValue else {
                    throw NoMatch("negative bounds on axis \(axis) of unknown size")
                }
                func clamp(_ v: Int64, _ n: Int64) -> Int64 { min(max(v < 0 ? v + n : v, 0), n) }
                let b1 = clamp(r1.start, d), f1 = clamp(r1.end, d)
                let len = max(0, f1 - b1)
                let b2 = clamp(r2.start, len), f2 = clamp(r2.end, len)
                merged[axis] = Range(start: b1 + b2, end: b1 + max(b2, f2), step: 1)
            }
        }
        let axes = merged.keys.sorted()
        var patch = Patch()
        let base = graph[node: outer].name.isEmpty ? m.name(z) : graph[node: outer].name
        let starts = patch.initializer(base + "_starts", int64Tensor(axes.map { merged[$0]!.start }))
        let ends = patch.initializer(base + "_ends", int64Tensor(axes.map { merged[$0]!.end }))
        let axesRef = patch.initializer(base + "_axes", int64Tensor(axes.map { Int64($0) }))
        let steps = patch.initializer(base + "_steps", int64Tensor(axes.map { merged[$0]!.step }))
        patch.replace(z, withCopyOf: m[outer], inputs: [.existing(x), starts, ends, axesRef, steps], in: m.graph)
        return patch
    }

    /// The constant slice of each axis of a Slice node (axes normalized on `x`'s rank).
    func ranges(_ node: NodeID, _ x: ValueID, _ m: Matcher) throws(NoMatch) -> [Int: Range] {
        guard let starts = m.integers(try m.input(node, 1)), let ends = m.integers(try m.input(node, 2)) else {
            throw NoMatch("\(m[node].label) starts/ends are not constant")
        }
        try require(starts.count == ends.count, "starts and ends differ in length")
        var axes = Array(0..<Int64(starts.count)), steps = [Int64](repeating: 1, count: starts.count)
        if let v = m.optionalInput(node, 3) {
            guard let a = m.integers(v), a.count == starts.count else { throw NoMatch("axes are not constant") }
            axes = a
        }
        if let v = m.optionalInput(node, 4) {
            guard let s = m.integers(v), s.count == starts.count else { throw NoMatch("steps are not constant") }
            steps = s
        }
        var out: [Int: Range] = [:]
        for k in starts.indices {
            let axis: Int
            if axes[k] >= 0 { axis = Int(axes[k]) } else { axis = try normalizedAxis(axes[k], rank: try m.knownRank(x)) }
            try require(out[axis] == nil, "axis \(axis) repeated")
            out[axis] = Range(start: starts[k], end: ends[k], step: steps[k])
        }
        return out
    }
}

/// A Concat feeding a Concat on the same axis is spliced into it.
///
/// 1. `Concat(a, Concat(b, c), d)` on one axis is `Concat(a, b, c, d)`: concatenation is associative.
/// Preconditions: the inner Concat's output read only by the outer; the axes equal (negative axes
/// are compared after normalizing on the output rank, which both share).
struct ConcatChain: FusionPattern {
    let name = "merge-concats"
    let rootOps: Set<String> = [FusionOp.concat]

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let z = try m.output(outer)
        let axis = try m.int(outer, "axis", 0)
        let rank = m.rank(z)
        func same(_ other: Int64) -> Bool {
            if other == axis { return true }
            guard let rank else { return false }
            return (other < 0 ? other + Int64(rank) : other) == (axis < 0 ? axis + Int64(rank) : axis)
        }
        var inputs: [Patch.Ref?] = []
        var spliced = 0
        for v in m[outer].inputs {
            guard let v else { continue }
            if let inner = m.producer(v, FusionOp.concat), (try? m.interior(v)) != nil,
               let innerAxis = try? m.int(inner, "axis", 0), same(innerAxis) {
                inputs.append(contentsOf: m[inner].inputs.map { $0.map { .existing($0) } })
                spliced += 1
            } else {
                inputs.append(.existing(v))
            }
        }
        try require(spliced > 0, "no input is a single-use Concat on axis \(axis)")
        var patch = Patch()
        patch.replace(z, withCopyOf: m[outer], inputs: inputs, in: m.graph)
        return patch
    }
}

/// A Cast of a Cast whose first step loses nothing becomes one Cast (or none).
///
/// 1. `Cast(Cast(x: T0, to: T1), to: T2)` with every `T0` value exactly representable in `T1` (the
///    table in `isLossless`) is `Cast(x, to: T2)`: the intermediate holds `x`'s values unchanged,
///    and a Cast depends only on the value it converts.
/// 2. When moreover `T2 = T0`, it is `x` (e.g. int32 -> int64 -> int32).
/// A lossy first step (float32 -> int32 -> float32 truncates) is kept.
struct CastChain: FusionPattern {
    let name = "merge-casts"
    let rootOps: Set<String> = [FusionOp.cast]
    var minimumOpset: Int { 6 }

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let (z, inner, x) = try m.chain(outer, inner: FusionOp.cast)
        guard let t0 = m.type(x) else { throw NoMatch("type of '\(m.name(x))' is unknown") }
        guard let t1 = DataType(rawValue: Int32(try m.int(inner, "to", 0))),
              let t2 = DataType(rawValue: Int32(try m.int(outer, "to", 0))) else { throw NoMatch("Cast has no valid 'to'") }
        try require(isLossless(from: t0, to: t1), "Cast \(t0) -> \(t1) may change values")
        var patch = Patch()
        if t2 == t0 {                                                                    // case 2
            patch.replace(z, with: .existing(x))
        } else {                                                                         // case 1
            patch.replace(z, withCopyOf: m[outer], inputs: [.existing(x)], in: m.graph)
        }
        return patch
    }

    /// Whether every value of `from` is exactly representable in `to`.
    func isLossless(from: DataType, to: DataType) -> Bool {
        if from == to { return true }
        let targets: Set<DataType>
        switch from {
        case .bool:
            targets = [.int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float16, .bfloat16, .float, .double]
        case .int8: targets = [.int16, .int32, .int64, .float16, .bfloat16, .float, .double]
        case .uint8: targets = [.int16, .uint16, .int32, .uint32, .int64, .uint64, .float16, .bfloat16, .float, .double]
        case .int16: targets = [.int32, .int64, .float, .double]
        case .uint16: targets = [.int32, .uint32, .int64, .uint64, .float, .double]
        case .int32: targets = [.int64, .double]
        case .uint32: targets = [.int64, .uint64, .double]
        case .float16, .bfloat16: targets = [.float, .double]
        case .float: targets = [.double]
        default: targets = []
        }
        return targets.contains(to)
    }
}
