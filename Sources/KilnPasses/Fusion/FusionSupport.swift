import KilnIR
import KilnEvaluator

/// Operator names the fusion patterns read and write (default domain).
enum FusionOp {
    static let add = "Add"
    static let attention = "Attention"
    static let averagePool = "AveragePool"
    static let batchNormalization = "BatchNormalization"
    static let cast = "Cast"
    static let concat = "Concat"
    static let conv = "Conv"
    static let convTranspose = "ConvTranspose"
    static let div = "Div"
    static let erf = "Erf"
    static let gelu = "Gelu"
    static let gemm = "Gemm"
    static let layerNormalization = "LayerNormalization"
    static let matMul = "MatMul"
    static let maxPool = "MaxPool"
    static let mul = "Mul"
    static let pad = "Pad"
    static let pow = "Pow"
    static let reciprocal = "Reciprocal"
    static let reduceMean = "ReduceMean"
    static let reshape = "Reshape"
    static let rmsNormalization = "RMSNormalization"
    static let slice = "Slice"
    static let softmax = "Softmax"
    static let sqrt = "Sqrt"
    static let squeeze = "Squeeze"
    static let sub = "Sub"
    static let tanh = "Tanh"
    static let transpose = "Transpose"
    static let unsqueeze = "Unsqueeze"
}

/// Why a fusion pattern does not apply; becomes `MatchResult.failed`.
struct NoMatch: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Fails the match with `reason` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ reason: @autoclosure () -> String) throws(NoMatch) {
    if !condition { throw NoMatch(reason()) }
}

/// A fusion pattern: a rewrite that either builds a patch or throws the reason it does not apply.
/// `minimumOpset` is the default-domain opset the replacement needs; opset fusions (to Gelu,
/// LayerNormalization, ...) are also switched off by `PassOptions.opsetFusions`.
protocol FusionPattern: RewritePattern {
    var minimumOpset: Int { get }
    var isOpsetFusion: Bool { get }
    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch
}

extension FusionPattern {
    var minimumOpset: Int { 1 }
    var isOpsetFusion: Bool { false }

    func applies(opset: Int, options: PassOptions) -> Bool {
        opset >= minimumOpset && (!isOpsetFusion || options.opsetFusions)
    }

    func match(_ root: NodeID, in graph: Graph, scope: GraphScope, options: PassOptions) -> MatchResult {
        do throws(NoMatch) {
            return .matched(try rewrite(root, in: graph, scope: scope))
        } catch {
            return .failed(error.reason)
        }
    }
}

/// Read-only queries the patterns share: producers, single use, constants, shapes, attributes.
struct Matcher {
    let graph: Graph
    let scope: GraphScope

    init(_ graph: Graph, _ scope: GraphScope) {
        self.graph = graph
        self.scope = scope
    }

    subscript(_ id: NodeID) -> Node { graph[node: id] }

    func name(_ v: ValueID) -> String { graph.name(of: v) }

    /// Input `i` of `node` (an empty or missing slot fails).
    func input(_ node: NodeID, _ i: Int) throws(NoMatch) -> ValueID {
        let ins = graph[node: node].inputs
        guard i < ins.count, let v = ins[i] else { throw NoMatch("\(graph[node: node].label) has no input \(i)") }
        return v
    }

    /// Input `i` of `node` when present.
    func optionalInput(_ node: NodeID, _ i: Int) -> ValueID? {
        let ins = graph[node: node].inputs
        return i < ins.count ? ins[i] : nil
    }

    /// The single output of `node` (every other output slot empty or unused).
    func output(_ node: NodeID) throws(NoMatch) -> ValueID {
        let outs = graph[node: node].outputs
        guard let first = outs.first, let y = first else { throw NoMatch("\(graph[node: node].label) has no output") }
        for case let extra? in outs.dropFirst() {
            try require(graph[value: extra].uses.isEmpty && !graph.isGraphOutput(extra)
                            && !scope.captured.contains(graph.name(of: extra)),
                        "\(graph[node: node].label) has another used output '\(graph.name(of: extra))'")
        }
        return y
    }

    /// For a chain `outer(inner(x, ...), ...)` rooted at `outer`: its output, the `inner` node (of
    /// op `innerOp`) and `x`.
    func chain(_ outer: NodeID, inner innerOp: String) throws(NoMatch) -> (z: ValueID, inner: NodeID, x: ValueID) {
        let z = try output(outer)
        let inner = try expect(try input(outer, 0), innerOp)
        return (z, inner, try input(inner, 0))
    }

    /// The node producing `v` when it is a default-domain `op` node.
    func producer(_ v: ValueID, _ op: String) -> NodeID? {
        guard let p = graph.producer(of: v) else { return nil }
        let n = graph[node: p]
        return n.opType == op && (n.domain.isEmpty || n.domain == "ai.onnx") ? p : nil
    }

    /// Like `producer(_:_:)`, failing with a reason when `v` is not made by `op`.
    func expect(_ v: ValueID, _ op: String) throws(NoMatch) -> NodeID {
        guard let p = producer(v, op) else { throw NoMatch("'\(name(v))' is not produced by \(op)") }
        return p
    }

    /// Requires that `v` is an interior value: read by exactly `uses` input slots, not a graph
    /// output and not read by a subgraph (so removing its producer loses nothing).
    func interior(_ v: ValueID, uses: Int = 1) throws(NoMatch) {
        try require(!graph.isGraphOutput(v), "'\(name(v))' is a graph output")
        try require(!scope.captured.contains(name(v)), "'\(name(v))' is read by a subgraph")
        let n = graph[value: v].uses.count
        try require(n == uses, "'\(name(v))' has \(n) uses, expected \(uses)")
    }

    /// The true constant (initializer, not a graph input) `v` holds.
    func constant(_ v: ValueID) -> Tensor? { graph.constantTensor(v) }

    /// The elements of constant `v` as doubles, when `v` is a floating-point constant.
    func floatConstant(_ v: ValueID) -> (values: [Double], dims: [Int64], type: DataType)? {
        guard let t = constant(v), isFusableFloat(t.dataType), let tv = try? TensorValue(t) else { return nil }
        return (tv.doubles, t.dims, t.dataType)
    }

    /// The single element of constant `v` (any numeric type), as a double.
    func scalar(_ v: ValueID) -> Double? {
        guard let t = constant(v), t.elementCount == 1, t.dataType != .string, t.dataType != .bool,
              let tv = try? TensorValue(t) else { return nil }
        return tv.doubles.first
    }

    /// The elements of integer constant `v`.
    func integers(_ v: ValueID) -> [Int64]? {
        guard let t = constant(v), t.dataType == .int64 || t.dataType == .int32,
              let tv = try? TensorValue(t) else { return nil }
        return tv.int64s
    }

    /// The element type of `v`: inferred or declared, or its initializer's.
    func type(_ v: ValueID) -> DataType? {
        graph[value: v].type?.tensorElementType ?? graph[value: v].initializer?.dataType
    }

    /// The shape of `v`: inferred or declared, or its initializer's.
    func shape(_ v: ValueID) -> Shape? {
        graph[value: v].type?.tensorShape ?? graph[value: v].initializer.map { Shape(static: $0.dims) }
    }
    func rank(_ v: ValueID) -> Int? { shape(v)?.rank }

    /// The rank of `v`, failing when shape inference does not know it.
    func knownRank(_ v: ValueID) throws(NoMatch) -> Int {
        guard let r = rank(v) else { throw NoMatch("rank of '\(name(v))' is unknown") }
        return r
    }

    // MARK: attributes (a wrongly typed attribute refuses the match)

    func int(_ node: NodeID, _ attr: String, _ d: Int64) throws(NoMatch) -> Int64 {
        do { return try graph[node: node].int(attr, default: d) } catch { throw NoMatch("\(error)") }
    }

    func float(_ node: NodeID, _ attr: String, _ d: Float) throws(NoMatch) -> Float {
        do { return try graph[node: node].float(attr, default: d) } catch { throw NoMatch("\(error)") }
    }

    func string(_ node: NodeID, _ attr: String, _ d: String) throws(NoMatch) -> String {
        do { return try graph[node: node].string(attr, default: d) } catch { throw NoMatch("\(error)") }
    }

    func ints(_ node: NodeID, _ attr: String) throws(NoMatch) -> [Int64]? {
        guard graph[node: node].attribute(attr) != nil else { return nil }
        do { return try graph[node: node].ints(attr) } catch { throw NoMatch("\(error)") }
    }

    /// Requires that `node` has no attributes besides `allowed` (unknown attributes may change
    /// semantics the rule does not model).
    func onlyAttributes(_ node: NodeID, _ allowed: Set<String>) throws(NoMatch) {
        for a in graph[node: node].attributes where !allowed.contains(a.name) {
            throw NoMatch("\(graph[node: node].label) has attribute '\(a.name)' this rule does not model")
        }
    }

    /// The axes of a Squeeze/Unsqueeze/ReduceMean-style node: the `axes` attribute before
    /// `inputSince`, a constant second input from it on. `nil` when absent.
    func axes(_ node: NodeID, inputSince: Int) throws(NoMatch) -> [Int64]? {
        if scope.opset >= inputSince {
            guard let v = optionalInput(node, 1) else { return nil }
            guard let a = integers(v) else { throw NoMatch("axes of \(graph[node: node].label) are not constant") }
            return a
        }
        return try ints(node, "axes")
    }

    /// The shape and result of unidirectional broadcast: whether `small` broadcasts to `big`
    /// without enlarging it.
    func broadcastsInto(_ small: [Int64], _ big: Shape) -> Bool {
        guard small.count <= big.rank else { return false }
        for (k, d) in small.reversed().enumerated() {
            let b = big.dims[big.rank - 1 - k]
            if d == 1 { continue }
            guard let bv = b.staticValue, bv == d else { return false }
        }
        return true
    }
}

/// Whether a node of one of `ops` produces an input of `root` within `depth` producer steps: a cheap
/// structural test patterns run before matching in detail (most roots fail it, and a failure here
/// builds no message).
func reaches(_ graph: Graph, from root: NodeID, _ ops: [String], depth: Int) -> Bool {
    var frontier = [root]
    for _ in 0..<depth {
        var next: [NodeID] = []
        for n in frontier {
            for case let v? in graph[node: n].inputs {
                guard let p = graph.producer(of: v) else { continue }
                let op = graph[node: p].opType
                if ops.contains(where: { $0 == op }) { return true }
                next.append(p)
            }
        }
        if next.isEmpty { return false }
        frontier = next
    }
    return false
}

/// Whether an input of `node` is produced by one of `ops`.
func readsOutputOf(_ graph: Graph, _ node: NodeID, _ ops: [String]) -> Bool {
    for case let v? in graph[node: node].inputs {
        if let p = graph.producer(of: v), ops.contains(graph[node: p].opType) { return true }
    }
    return false
}

/// Whether the fusions can compute with and write tensors of this type.
func isFusableFloat(_ t: DataType) -> Bool {
    t == .float || t == .double || t == .float16 || t == .bfloat16
}

/// A tensor of `type` holding `values` (computed in double, rounded once to `type`).
func makeTensor(_ values: [Double], dims: [Int64], type: DataType) -> Tensor {
    let shape = dims.map { Int($0) }
    let tv: TensorValue
    switch type {
    case .double: tv = TensorValue(shape: shape, values)
    case .float16: tv = TensorValue(shape: shape, values.map { Float16(double: $0) })
    case .bfloat16: tv = TensorValue(shape: shape, values.map { BFloat16(double: $0) })
    default:
        precondition(type == .float, "makeTensor: unsupported type \(type)")
        tv = TensorValue(shape: shape, values.map { Float($0) })
    }
    return tv.irTensor()
}

/// `t` (a floating-point tensor) with each run of `blockSize` consecutive elements multiplied by
/// `factor(block index)`: each product computed in double and rounded once to the tensor's type,
/// without widening the whole tensor (weights of a ResNet-50 are 100 MB).
func scaledBlocks(_ t: Tensor, blockSize: Int, factor: (Int) -> Double) -> Tensor? {
    if let fast = scaledFloatBlocks(t, blockSize: blockSize, factor: factor) { return fast }
    guard blockSize > 0, let tv = try? TensorValue(t) else { return nil }
    let storage: TensorStorage
    switch tv.storage {
    case .float(let e): storage = .float(scaled(e, blockSize, factor))
    case .double(let e): storage = .double(scaled(e, blockSize, factor))
    case .float16(let e): storage = .float16(scaled(e, blockSize, factor))
    case .bfloat16(let e): storage = .bfloat16(scaled(e, blockSize, factor))
    default: return nil
    }
    return TensorValue(shape: tv.shape, storage: storage).irTensor()
}

/// The float32 `raw_data` case of `scaledBlocks`, read straight from the (possibly memory-mapped)
/// payload into one new buffer: no intermediate arrays.
private func scaledFloatBlocks(_ t: Tensor, blockSize: Int, factor: (Int) -> Double) -> Tensor? {
    guard blockSize > 0, t.dataType == .float, case .raw(let bytes) = t.storage, let n64 = t.elementCount,
          bytes.count == Int(n64) * 4 else { return nil }
    let n = Int(n64)
    let out = UnsafeMutableRawPointer.allocate(byteCount: max(n * 4, 1), alignment: 16)
    let dst = out.bindMemory(to: Float.self, capacity: max(n, 1))
    bytes.withUnsafeBytes { src in
        var start = 0, block = 0
        while start < n {
            let f = factor(block)
            let end = min(start + blockSize, n)
            for k in start..<end {
                dst[k] = Float(Double(src.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)) * f)
            }
            start = end
            block += 1
        }
    }
    let storage = ByteStorage(base: UnsafeRawPointer(out), count: n * 4, origin: nil) { p, _ in
        UnsafeMutableRawPointer(mutating: p).deallocate()
    }
    return Tensor(dataType: .float, dims: t.dims, storage: .raw(TensorBytes(storage: storage)))
}

private func scaled<T: TensorElement>(_ e: ContiguousArray<T>, _ blockSize: Int, _ factor: (Int) -> Double) -> ContiguousArray<T> {
    var out = e
    out.withUnsafeMutableBufferPointer { p in
        var start = 0, block = 0
        while start < p.count {
            let f = factor(block)
            let end = min(start + blockSize, p.count)
            for k in start..<end { p[k] = T(double: p[k].doubleValue * f) }
            start = end
            block += 1
        }
    }
    return out
}

/// An int64 constant.
func int64Tensor(_ values: [Int64], dims: [Int64]? = nil) -> Tensor {
    .int64(values, dims: dims ?? [Int64(values.count)])
}

/// Whether `value` is within `relative` of `expected` (for matching numeric constants).
func approximately(_ value: Double, _ expected: Double, relative: Double) -> Bool {
    abs(value - expected) <= relative * abs(expected)
}

/// The relative tolerance a constant of `type` may differ from its exact value by: a little more
/// than one rounding of the type.
func constantTolerance(_ type: DataType?) -> Double {
    switch type {
    case .float16: return 1e-3
    case .bfloat16: return 8e-3
    case .double: return 1e-9
    default: return 2e-6
    }
}

/// Normalizes `axis` for `rank` (fails when out of range).
func normalizedAxis(_ axis: Int64, rank: Int) throws(NoMatch) -> Int {
    let a = axis < 0 ? Int(axis) + rank : Int(axis)
    try require(a >= 0 && a < rank, "axis \(axis) is out of range for rank \(rank)")
    return a
}

extension Patch {
    /// Every use of `value` reads instead the output of a copy of `node` (same op, domain, name and
    /// attributes, with `attributes` set) reading `inputs`; the new output is named like `value`
    /// and has its type.
    mutating func replace(_ value: ValueID, withCopyOf node: Node, inputs: [Ref?], setting attributes: [Attribute] = [],
                          in graph: Graph) {
        var attrs = node.attributes.filter { a in !attributes.contains { $0.name == a.name } }
        attrs.append(contentsOf: attributes)
        let out = node1(node.opType, domain: node.domain, name: node.name, inputs: inputs, attributes: attrs,
                        output: graph.name(of: value), type: graph[value: value].type)
        replace(value, with: out)
    }
}
