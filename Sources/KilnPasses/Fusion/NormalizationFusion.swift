import KilnIR

/// The decomposed LayerNorm an exporter writes becomes the standard `LayerNormalization` (opset 17).
///
/// Over the last `k` axes (ReduceMean `axes` an attribute before opset 18, a constant input from 18):
/// 1. `d = x - ReduceMean(x)`, `v = ReduceMean(d^2)` (`Pow(d, 2)` or `Mul(d, d)`),
///    `n = d / Sqrt(v + eps)` (or `d * Reciprocal(Sqrt(v + eps))`, `d * (1 / Sqrt(...))`,
///    `d * Pow(v + eps, -0.5)`): `LayerNormalization(x, ones, axis = -k, epsilon = eps)`.
/// 2. `n * gamma` (either order): gamma becomes the Scale.
/// 3. `... + beta` (either order): beta becomes the bias B.
/// Scale and bias must broadcast into the normalized shape `x.shape[-k:]` (rank <= k once leading
/// 1s are dropped, so the Mul/Add never enlarge the result); constants that broadcast are expanded
/// to that shape (which must then be static), runtime values must have exactly that shape.
/// The rewrite roots at the last matched node and refuses a partial match whose result the next
/// node scales or shifts into a longer match (which fires at that node instead).
/// LayerNormalization computes in float32 for float16 inputs (`stash_type = 1`), a little more
/// accurately than the decomposed float16 graph.
struct LayerNormPattern: FusionPattern {
    let name = "fuse-layernorm"
    let rootOps: Set<String> = [FusionOp.add, FusionOp.mul, FusionOp.div]
    var minimumOpset: Int { 17 }
    var isOpsetFusion: Bool { true }

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try NormalizationMatch.rewrite(root, graph, scope, kind: .layer)
    }
}

/// The decomposed RMSNorm becomes the standard `RMSNormalization` (opset 23).
///
/// Over the last `k` axes:
/// 1. `n = x / Sqrt(ReduceMean(x^2) + eps)` (with the same spellings of the square and the division
///    as `LayerNormPattern`, including `x * Reciprocal(Sqrt(...))`):
///    `RMSNormalization(x, ones, axis = -k, epsilon = eps)`.
/// 2. `n * gamma`: gamma becomes the scale (same shape rules as `LayerNormPattern`).
/// When `x` is itself `y - ReduceMean(y)` over the same axes, the whole is a LayerNorm, left to
/// `LayerNormPattern`.
struct RMSNormPattern: FusionPattern {
    let name = "fuse-rmsnorm"
    let rootOps: Set<String> = [FusionOp.mul, FusionOp.div]
    var minimumOpset: Int { 23 }
    var isOpsetFusion: Bool { true }

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try NormalizationMatch.rewrite(root, graph, scope, kind: .rms)
    }
}

/// The matching shared by `LayerNormPattern` and `RMSNormPattern`.
enum NormalizationMatch {
    enum Kind { case layer, rms }

    /// The normalization core `n = numerator / sqrt(mean(numerator^2) + eps)`.
    struct Core {
        var numerator: ValueID
        var x: ValueID
        var axes: [Int64]
        var eps: Double
    }

    /// With `deferToLonger`, a match whose result the next node extends into a match of its own is
    /// refused (that longer match fires at the next node).
    static func rewrite(_ root: NodeID, _ graph: Graph, _ scope: GraphScope, kind: Kind,
                        deferToLonger: Bool = true) throws(NoMatch) -> Patch {
        try require(reaches(graph, from: root, [FusionOp.sqrt, FusionOp.pow], depth: 5), "no Sqrt or Pow near")
        let m = Matcher(graph, scope)
        let z = try m.output(root)
        guard let type = m.type(z), isFusableFloat(type) else { throw NoMatch("output type is not floating point") }
        // Peel the bias (LayerNorm only) and the scale off the root.
        var beta: ValueID?, gamma: ValueID?
        var v = z
        if kind == .layer, m[root].opType == FusionOp.add {
            let (a, b) = (try m.input(root, 0), try m.input(root, 1))
            if (try? core(a, kind, m, isRoot: false)) != nil || isScaled(a, kind, m) { v = a; beta = b }
            else if (try? core(b, kind, m, isRoot: false)) != nil || isScaled(b, kind, m) { v = b; beta = a }
            else { throw NoMatch("no Add operand is a normalization") }
            try m.interior(v)
        }
        if let n = m.producer(v, FusionOp.mul), (try? core(v, kind, m, isRoot: v == z)) == nil {
            let (a, b) = (try m.input(n, 0), try m.input(n, 1))
            if (try? core(a, kind, m, isRoot: false)) != nil { v = a; gamma = b }
            else if (try? core(b, kind, m, isRoot: false)) != nil { v = b; gamma = a }
            else { throw NoMatch("no Mul operand is a normalization") }
            try m.interior(v)
        }
        let c = try core(v, kind, m, isRoot: v == z)
        if deferToLonger, beta == nil, let next = m.graph[value: z].uses.first?.node, m.graph[value: z].uses.count == 1,
           !m.graph.isGraphOutput(z) {
            let op = m[next].opType
            let extends = (op == FusionOp.add && kind == .layer) || (op == FusionOp.mul && gamma == nil)
            // Refuse only when the longer match really fires there.
            try require(!(extends && (try? rewrite(next, graph, scope, kind: kind, deferToLonger: false)) != nil),
                        "the normalization continues at \(m[next].label)")
        }
        // The last k axes.
        let k = c.axes.count
        let xr = m.rank(c.x)
        let normalized = Set(try c.axes.map { (a: Int64) throws(NoMatch) -> Int64 in
            if a < 0 { return a }
            guard let xr else { throw NoMatch("positive axes and unknown rank") }
            return a - Int64(xr)
        })
        try require(normalized == Set((1...k).map { -Int64($0) }), "axes \(c.axes) are not the last \(k) axes")
        let normShape: [Dim]? = m.shape(c.x).map { Array($0.dims.suffix(k)) }
        var patch = Patch()
        let base = m[root].name.isEmpty ? m.name(z) : m[root].name
        let scale = try parameter(gamma, normShape, k: k, xRank: xr, type: type, fill: 1, name: base + "_scale", &patch, m)!
        let bias = try parameter(beta, normShape, k: k, xRank: xr, type: type, fill: nil, name: base + "_bias", &patch, m)
        let attrs = [Attribute("axis", .int(-Int64(k))), Attribute("epsilon", .float(Float(c.eps)))]
        let out: Patch.Ref
        switch kind {
        case .layer:
            out = patch.node1(FusionOp.layerNormalization, name: base + "_layernorm",
                              inputs: [.existing(c.x), scale] + (bias.map { [$0] } ?? []),
                              attributes: attrs, output: m.name(z), type: graph[value: z].type)
        case .rms:
            out = patch.node1(FusionOp.rmsNormalization, name: base + "_rmsnorm", inputs: [.existing(c.x), scale],
                              attributes: attrs, output: m.name(z), type: graph[value: z].type)
        }
        patch.replace(z, with: out)
        return patch
    }

    /// Whether `v` is `Mul(core, gamma)` with a single-use core.
    static func isScaled(_ v: ValueID, _ kind: Kind, _ m: Matcher) -> Bool {
        guard let n = m.producer(v, FusionOp.mul), let a = m.optionalInput(n, 0), let b = m.optionalInput(n, 1) else { return false }
        return (try? core(a, kind, m, isRoot: false)) != nil || (try? core(b, kind, m, isRoot: false)) != nil
    }

    /// Reads `n` as the normalization core (case 1 of both patterns).
    static func core(_ n: ValueID, _ kind: Kind, _ m: Matcher, isRoot: Bool) throws(NoMatch) -> Core {
        if !isRoot { try m.interior(n) }
        guard let p = m.graph.producer(of: n) else { throw NoMatch("'\(m.name(n))' has no producer") }
        let numerator: ValueID, ve: ValueID
        switch m[p].opType {
        case FusionOp.div:
            numerator = try m.input(p, 0)
            ve = try sqrtArgument(try m.input(p, 1), m)
        case FusionOp.mul:
            let (a, b) = (try m.input(p, 0), try m.input(p, 1))
            if let r = try? reciprocalSqrtArgument(b, m) { (numerator, ve) = (a, r) }
            else if let r = try? reciprocalSqrtArgument(a, m) { (numerator, ve) = (b, r) }
            else { throw NoMatch("no Mul operand is 1/sqrt(...)") }
        default:
            throw NoMatch("'\(m.name(n))' is not a division")
        }
        // ve = mean(sq) + eps
        guard let (eps, variance, _) = m.addOfConstant(ve, maxConstantRank: m.rank(ve) ?? 1) else {
            throw NoMatch("no epsilon is added to the variance")
        }
        try require(eps >= 0 && eps.isFinite, "epsilon \(eps) is not a non-negative number")
        try m.interior(variance)
        let mean2 = try m.expect(variance, FusionOp.reduceMean)
        let sq = try m.input(mean2, 0)
        try m.interior(sq)
        let squared: ValueID
        if let pw = m.producer(sq, FusionOp.pow) {
            try require(m.scalar(try m.input(pw, 1)) == 2, "Pow exponent is not 2")
            squared = try m.input(pw, 0)
        } else if let mul = m.producer(sq, FusionOp.mul), m.optionalInput(mul, 0) == m.optionalInput(mul, 1) {
            squared = try m.input(mul, 0)
        } else {
            throw NoMatch("variance is not a mean of squares")
        }
        try require(squared == numerator, "the squared value is not the normalized one")
        let selfMul = m.producer(sq, FusionOp.mul) != nil
        let axes = try reduceAxes(mean2, m)
        switch kind {
        case .layer:
            // numerator = x - ReduceMean(x) over the same axes, read by the square and the division
            try m.interior(numerator, uses: selfMul ? 3 : 2)
            let sub = try m.expect(numerator, FusionOp.sub)
            let x = try m.input(sub, 0)
            let mean = try m.expect(try m.input(sub, 1), FusionOp.reduceMean)
            try m.interior(try m.input(sub, 1))
            try require(try m.input(mean, 0) == x, "the mean is not of the same value")
            let meanAxes = try reduceAxes(mean, m)
            let r = m.rank(x).map { Int64($0) }
            func positive(_ a: [Int64]) -> Set<Int64>? {
                guard let r else { return a.allSatisfy({ $0 < 0 }) ? Set(a) : nil }
                return Set(a.map { $0 < 0 ? $0 + r : $0 })
            }
            try require(meanAxes == axes || (positive(meanAxes) != nil && positive(meanAxes) == positive(axes)),
                        "the two means reduce different axes")
            return Core(numerator: numerator, x: x, axes: axes, eps: eps)
        case .rms:
            if let sub = m.producer(numerator, FusionOp.sub), let mv = m.optionalInput(sub, 1),
               let mean = m.producer(mv, FusionOp.reduceMean), m.optionalInput(mean, 0) == m.optionalInput(sub, 0),
               (try? reduceAxes(mean, m)) == axes {
                throw NoMatch("centered input: a LayerNorm, not an RMSNorm")
            }
            return Core(numerator: numerator, x: numerator, axes: axes, eps: eps)
        }
    }

    /// `Sqrt(ve)` -> ve.
    static func sqrtArgument(_ s: ValueID, _ m: Matcher) throws(NoMatch) -> ValueID {
        try m.interior(s)
        let sq = try m.expect(s, FusionOp.sqrt)
        let ve = try m.input(sq, 0)
        try m.interior(ve)
        return ve
    }

    /// `Reciprocal(Sqrt(ve))`, `Div(1, Sqrt(ve))` or `Pow(ve, -0.5)` -> ve.
    static func reciprocalSqrtArgument(_ r: ValueID, _ m: Matcher) throws(NoMatch) -> ValueID {
        try m.interior(r)
        if let rec = m.producer(r, FusionOp.reciprocal) { return try sqrtArgument(try m.input(rec, 0), m) }
        if let div = m.producer(r, FusionOp.div), m.scalar(try m.input(div, 0)) == 1 {
            return try sqrtArgument(try m.input(div, 1), m)
        }
        if let pw = m.producer(r, FusionOp.pow), m.scalar(try m.input(pw, 1)) == -0.5 {
            let ve = try m.input(pw, 0)
            try m.interior(ve)
            return ve
        }
        throw NoMatch("'\(m.name(r))' is not 1/sqrt(...)")
    }

    /// The axes of a keepdims ReduceMean.
    static func reduceAxes(_ node: NodeID, _ m: Matcher) throws(NoMatch) -> [Int64] {
        try require(try m.int(node, "keepdims", 1) == 1, "ReduceMean drops the reduced axes")
        guard let axes = try m.axes(node, inputSince: 18), !axes.isEmpty else { throw NoMatch("ReduceMean reduces every axis") }
        return axes
    }

    /// The Scale or bias input: `value` reshaped or expanded to the normalized shape, or a constant
    /// `fill` of that shape when absent (nil when absent and no fill).
    static func parameter(_ value: ValueID?, _ normShape: [Dim]?, k: Int, xRank: Int?, type: DataType, fill: Double?,
                          name: String, _ patch: inout Patch, _ m: Matcher) throws(NoMatch) -> Patch.Ref? {
        let staticShape = normShape.flatMap { Shape($0).staticValues }
        guard let value else {
            guard let fill else { return nil }
            guard let s = staticShape else { throw NoMatch("normalized shape is not static (needed for a Scale of ones)") }
            let n = Int(s.reduce(1, *))
            return patch.initializer(name, makeTensor(Array(repeating: fill, count: n), dims: s, type: type))
        }
        if let c = m.floatConstant(value) {
            try require(c.type == type, "parameter '\(m.name(value))' is \(c.type), not \(type)")
            try require(c.dims.count <= (xRank ?? k), "parameter of rank \(c.dims.count) enlarges the output")
            let stripped = Array(c.dims.drop { $0 == 1 })
            try require(stripped.count <= k, "parameter of shape \(c.dims) spans more than the normalized axes")
            if let s = staticShape {
                if stripped == s && stripped == c.dims { return .existing(value) }
                if stripped == s { return patch.initializer(m.name(value) + "_reshaped", makeTensor(c.values, dims: s, type: type)) }
                try require(m.broadcastsInto(c.dims, Shape(static: s)), "parameter of shape \(c.dims) does not broadcast into \(s)")
                return patch.initializer(m.name(value) + "_expanded", makeTensor(expand(c.values, c.dims, to: s), dims: s, type: type))
            }
            try require(stripped.count == k, "parameter of shape \(c.dims) on a normalized shape that is not static")
            if stripped == c.dims { return .existing(value) }
            return patch.initializer(m.name(value) + "_reshaped", makeTensor(c.values, dims: stripped, type: type))
        }
        try require(m.type(value) == type, "parameter '\(m.name(value))' is not of the input's type")
        guard let shape = m.shape(value), let normShape else { throw NoMatch("shape of '\(m.name(value))' is unknown") }
        try require(shape.dims == normShape && !shape.dims.contains(.unknown),
                    "parameter '\(m.name(value))' of shape \(shape) is not the normalized shape")
        return .existing(value)
    }

    /// Broadcasts `values` of shape `dims` to `target` (row-major).
    static func expand(_ values: [Double], _ dims: [Int64], to target: [Int64]) -> [Double] {
        let aligned = Array(repeating: Int64(1), count: target.count - dims.count) + dims
        let n = Int(target.reduce(1, *))
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var rem = i, src = 0, stride = 1
            for a in (0..<target.count).reversed() {
                let idx = rem % Int(target[a]); rem /= Int(target[a])
                if aligned[a] != 1 { src += idx * stride }
                stride *= Int(aligned[a])
            }
            out[i] = values[src]
        }
        return out
    }
}
