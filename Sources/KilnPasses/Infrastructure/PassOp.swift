import KilnIR

/// Operator names the cleanup and folding passes read and write (default domain).
enum PassOp {
    static let add = "Add"
    static let bernoulli = "Bernoulli"
    static let cast = "Cast"
    static let castLike = "CastLike"
    static let concat = "Concat"
    static let constantOfShape = "ConstantOfShape"
    static let conv = "Conv"
    static let convTranspose = "ConvTranspose"
    static let dequantizeLinear = "DequantizeLinear"
    static let div = "Div"
    static let dropout = "Dropout"
    static let expand = "Expand"
    static let gemm = "Gemm"
    static let matMul = "MatMul"
    static let mul = "Mul"
    static let multinomial = "Multinomial"
    static let pad = "Pad"
    static let randomNormal = "RandomNormal"
    static let randomNormalLike = "RandomNormalLike"
    static let randomUniform = "RandomUniform"
    static let randomUniformLike = "RandomUniformLike"
    static let reshape = "Reshape"
    static let shape = "Shape"
    static let size = "Size"
    static let slice = "Slice"
    static let split = "Split"
    static let squeeze = "Squeeze"
    static let sub = "Sub"
    static let tile = "Tile"
    static let transpose = "Transpose"
    static let unsqueeze = "Unsqueeze"

    /// Operators whose result changes from run to run: never folded, never merged by CSE.
    static let nonDeterministic: Set<String> = [
        randomNormal, randomNormalLike, randomUniform, randomUniformLike, multinomial, bernoulli, dropout,
    ]
}

extension Node {
    /// Whether this node is in the default domain (`""` or `ai.onnx`).
    var isDefaultDomain: Bool { domain.isEmpty || domain == "ai.onnx" }
}

/// Read-only facts about values that the cleanup and folding passes share.
struct PassFacts {
    let graph: Graph
    /// Per constant: its one repeated element, or nil when its elements differ (or it is not a
    /// small numeric constant). Many nodes often share one constant (a scale, a zero).
    private let uniform = UniformCache()

    final class UniformCache {
        var values: [ValueID: Double?] = [:]
    }

    init(_ graph: Graph) { self.graph = graph }

    /// Element type of `v` when it is a tensor of known element type.
    func elementType(_ v: ValueID) -> DataType? {
        guard let t = graph[value: v].type?.tensorElementType, t != .undefined else {
            return graph.constantTensor(v)?.dataType
        }
        return t
    }

    /// The dims of `v` when its rank is known and no dim is unknown (symbols allowed: the same
    /// symbol is the same size).
    func dims(_ v: ValueID) -> [Dim]? {
        if let t = graph.constantTensor(v) { return t.dims.map { .value($0) } }
        guard let s = graph[value: v].type?.tensorShape else { return nil }
        for d in s.dims { if case .unknown = d { return nil } }
        return s.dims
    }

    /// Whether `a` and `b` are tensors of the same known element type and the same known shape.
    func sameTensorType(_ a: ValueID, _ b: ValueID) -> Bool {
        guard let ta = elementType(a), let tb = elementType(b), ta == tb,
              let da = dims(a), let db = dims(b) else { return false }
        return da == db
    }

    /// The elements of constant `v` as integers (integer constants only).
    func ints(_ v: ValueID) -> [Int64]? {
        guard let t = graph.constantTensor(v), t.dataType == .int64 || t.dataType == .int32,
              let tv = try? TensorValue(t) else { return nil }
        return tv.int64s
    }

    /// Whether constant `v` is numeric and every element equals `x`.
    func isConstant(_ v: ValueID, allEqualTo x: Double) -> Bool {
        guard graph.isConstant(v) else { return false }
        if let known = uniform.values[v] { return known == x }
        var element: Double? = nil
        if let t = graph.constantTensor(v), t.dataType != .string,
           let n = t.elementCount, n > 0, n <= 1 << 16, let tv = try? TensorValue(t) {
            let d = tv.doubles
            if d.allSatisfy({ $0 == d[0] }) { element = d[0] }
        }
        uniform.values[v] = .some(element)
        return element == x
    }

    /// Input `i` of `node`, when present.
    func input(_ node: Node, _ i: Int) -> ValueID? { i < node.inputs.count ? node.inputs[i] : nil }

    /// Whether output `v` is read by nothing (no node, not a graph output).
    func isUnused(_ v: ValueID?, scope: GraphScope) -> Bool {
        guard let v else { return true }
        return graph[value: v].uses.isEmpty && !graph.isGraphOutput(v) && !scope.captured.contains(graph.name(of: v))
    }
}

import KilnEvaluator
