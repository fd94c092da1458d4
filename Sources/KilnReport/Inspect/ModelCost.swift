import KilnIR

/// Compute and memory estimates for `kiln inspect`: multiply-accumulates and FLOPs per operator
/// (symbolic when shapes are), the largest initializers, and the peak of simultaneously live
/// activations. Reads the value types in the model, so run shape inference first.
///
/// Cost rules (MACs; FLOPs = 2 x MACs plus one per output element for a bias):
/// 1. Conv, ConvInteger, QLinearConv: output elements x (input channels / group) x kernel size.
/// 2. ConvTranspose: input elements x (output channels / group) x kernel size.
/// 3. MatMul, MatMulInteger, QLinearMatMul: output elements x K; Gemm: M x N x K (+ M x N with C).
/// 4. Attention: 2 x batch x heads x query length x key length x head size.
/// 5. Elementwise math and activations: FLOPs = output elements (no MACs); pooling: output
///    elements x kernel size; global pooling and reductions: input elements; Softmax family: 5,
///    normalizations: 5 per input element.
/// 6. Data movement (Reshape, Transpose, Gather, Concat, Cast, Shape, ...) costs nothing here.
/// A node whose needed shapes are unknown adds an unknown term and is counted in `nodesWithoutShapes`.
public struct ModelCost: Encodable, Sendable {
    public struct OpCost: Encodable, Sendable {
        public var op: String
        public var nodes: Int
        public var macs: SymbolicCount
        public var flops: SymbolicCount
    }

    public struct LargeTensor: Encodable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int64]
        public var bytes: Int64
    }

    public struct Activations: Encodable, Sendable {
        /// Peak bytes of values alive at once (graph inputs and node outputs; weights excluded),
        /// walking the nodes in graph order and freeing each value after its last use.
        public var peakBytes: Int64?
        /// The node running when the peak is reached.
        public var peakAt: String?
        /// Sum of every activation's size (what a runtime without reuse would allocate).
        public var totalBytes: Int64?
        /// Why the estimate is missing (dynamic shapes: pass `--input-shape`).
        public var reason: String?
    }

    public var macs: SymbolicCount
    public var flops: SymbolicCount
    public var byOp: [OpCost]
    public var nodesWithoutShapes: Int
    public var largestTensors: [LargeTensor]
    public var activations: Activations

    public init(model: Model, largest: Int = 10) {
        let g = model.graph
        var perOp: [String: OpCost] = [:]
        var total = (macs: SymbolicCount(), flops: SymbolicCount())
        var missing = 0
        for id in g.order {
            let n = g[node: id]
            let key = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain):\(n.opType)"
            let c = Self.cost(n, in: g)
            if c.macs.unknown || c.flops.unknown { missing += 1 }
            perOp[key, default: OpCost(op: key, nodes: 0, macs: SymbolicCount(), flops: SymbolicCount())].nodes += 1
            perOp[key]!.macs += c.macs
            perOp[key]!.flops += c.flops
            total.macs += c.macs
            total.flops += c.flops
        }
        macs = total.macs
        flops = total.flops
        byOp = perOp.values.sorted {
            let (a, b) = ($0.flops.magnitude(symbolValue: 1), $1.flops.magnitude(symbolValue: 1))
            return a != b ? a > b : $0.op < $1.op
        }
        nodesWithoutShapes = missing
        largestTensors = g.initializerOrder.compactMap { id -> LargeTensor? in
            guard let t = g[value: id].initializer else { return nil }
            return LargeTensor(name: g.name(of: id), dtype: t.dataType.name, shape: t.dims, bytes: t.dataByteCount ?? 0)
        }.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }.prefix(largest).map { $0 }
        activations = Self.activations(g)
    }

    static func dims(_ g: Graph, _ v: ValueID?) -> [Dim]? {
        guard let v else { return nil }
        if let t = g[value: v].initializer { return t.dims.map { .value($0) } }
        return g[value: v].type?.tensorShape?.dims
    }

    static let elementwise: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Relu", "LeakyRelu", "PRelu", "Sigmoid",
        "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Elu", "Selu", "Celu", "Mish", "Softplus", "Softsign",
        "Abs", "Neg", "Reciprocal", "Clip", "Max", "Min", "Mean", "Sum", "Sin", "Cos", "Tan", "Floor", "Ceil",
        "Round", "Sign", "Where", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor",
        "Not", "Mod", "BitShift", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ThresholdedRelu",
        "Shrink", "Swish", "IsNaN", "IsInf",
    ]
    static let reductions: Set<String> = [
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "GlobalAveragePool",
        "GlobalMaxPool", "GlobalLpPool", "CumSum", "TopK",
    ]
    static let fiveFlops: Set<String> = [
        "Softmax", "LogSoftmax", "Hardmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
        "GroupNormalization", "RMSNormalization", "SkipLayerNormalization", "LpNormalization",
        "MeanVarianceNormalization", "LRN",
    ]

    /// MACs and FLOPs of one node (rules 1-6).
    static func cost(_ n: Node, in g: Graph) -> (macs: SymbolicCount, flops: SymbolicCount) {
        let zero = (SymbolicCount(), SymbolicCount())
        let unknown = (SymbolicCount.unknownCount, SymbolicCount.unknownCount)
        let out0 = n.outputs.first.flatMap { dims(g, $0) }
        switch n.opType {
        case "Conv", "ConvInteger", "QLinearConv":
            let wIndex = n.opType == "QLinearConv" ? 3 : 1
            guard let out = out0, let w = dims(g, n.inputs[safe: wIndex] ?? nil), w.count >= 2 else { return unknown }
            let macs = SymbolicCount.product(out) * SymbolicCount.product(Array(w.dropFirst()))
            let bias = n.inputs.count > (n.opType == "QLinearConv" ? 8 : 2) ? SymbolicCount.product(out) : SymbolicCount()
            return (macs, macs * 2 + bias)
        case "ConvTranspose":
            guard let input = dims(g, n.inputs.first ?? nil), let w = dims(g, n.inputs[safe: 1] ?? nil), w.count >= 2 else { return unknown }
            let macs = SymbolicCount.product(input) * SymbolicCount.product(Array(w.dropFirst()))
            return (macs, macs * 2)
        case "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul":
            let aIndex = 0
            guard let out = out0, let a = dims(g, n.inputs[safe: aIndex] ?? nil), let k = a.last else { return unknown }
            let macs = SymbolicCount.product(out) * k
            return (macs, macs * 2)
        case "Gemm":
            guard let out = out0, let a = dims(g, n.inputs.first ?? nil), a.count == 2 else { return unknown }
            let transA = (try? n.int("transA", default: 0)) ?? 0
            let macs = SymbolicCount.product(out) * (transA != 0 ? a[0] : a[1])
            let bias = n.inputs.count > 2 && n.inputs[2] != nil ? SymbolicCount.product(out) : SymbolicCount()
            return (macs, macs * 2 + bias)
        case "Attention":
            guard let q = dims(g, n.inputs.first ?? nil), let k = dims(g, n.inputs[safe: 1] ?? nil),
                  q.count == 4, k.count == 4 else { return unknown }
            let macs = SymbolicCount.product(q) * k[2] * 2
            return (macs, macs * 2)
        case "MaxPool", "AveragePool", "LpPool":
            guard let out = out0, let kernel = try? n.ints("kernel_shape") else { return unknown }
            let f = SymbolicCount.product(out) * Double(kernel.reduce(1, *))
            return (SymbolicCount(), f)
        default:
            if elementwise.contains(n.opType) {
                guard let out = out0 else { return unknown }
                return (SymbolicCount(), SymbolicCount.product(out))
            }
            if reductions.contains(n.opType) || fiveFlops.contains(n.opType) {
                guard let input = dims(g, n.inputs.first ?? nil) else { return unknown }
                let f = SymbolicCount.product(input) * (fiveFlops.contains(n.opType) ? 5 : 1)
                return (SymbolicCount(), f)
            }
            return zero
        }
    }

    /// Liveness walk in graph order (see `Activations`).
    static func activations(_ g: Graph) -> Activations {
        func bytes(_ v: ValueID) -> Int64? {
            guard let t = g[value: v].type, let e = t.tensorElementType,
                  let dims = t.tensorShape?.staticValues else { return nil }
            return Int64(e.byteCount(elements: Int(dims.reduce(1, *))))
        }
        var lastUse: [ValueID: Int] = [:]
        for (i, id) in g.order.enumerated() {
            for v in g[node: id].inputs { if let v { lastUse[v] = i } }
        }
        let outputs = Set(g.outputs)
        var live: Int64 = 0, peak: Int64 = 0, total: Int64 = 0
        var peakAt: String?
        for v in g.inputs where !g.isConstant(v) {
            guard let b = bytes(v) else {
                return Activations(reason: "input '\(g.name(of: v))' has a dynamic or unknown shape: pass --input-shape")
            }
            live += b
            total += b
        }
        peak = live
        for (i, id) in g.order.enumerated() {
            let n = g[node: id]
            for o in n.outputs {
                guard let o else { continue }
                guard let b = bytes(o) else {
                    return Activations(reason: "'\(g.name(of: o))' (\(n.label)) has no static shape: pass --input-shape")
                }
                live += b
                total += b
            }
            if live > peak { peak = live; peakAt = n.name.isEmpty ? "\(n.opType)#\(i)" : n.name }
            var freed = Set<ValueID>()
            for v in n.inputs {
                guard let v, lastUse[v] == i, !g.isConstant(v), !outputs.contains(v), freed.insert(v).inserted,
                      let b = bytes(v) else { continue }
                live -= b
            }
            for o in n.outputs { if let o, lastUse[o] == nil, !outputs.contains(o), let b = bytes(o) { live -= b } }
        }
        return Activations(peakBytes: peak, peakAt: peakAt, totalBytes: total, reason: nil)
    }
}

extension SymbolicCount {
    static func * (a: SymbolicCount, b: SymbolicCount) -> SymbolicCount {
        if a.unknown || b.unknown { return .unknownCount }
        var out = SymbolicCount()
        for (ka, va) in a.terms {
            for (kb, vb) in b.terms {
                let syms = (ka.isEmpty ? [] : ka.split(separator: "*").map(String.init))
                    + (kb.isEmpty ? [] : kb.split(separator: "*").map(String.init))
                out = out + SymbolicCount.term(syms.sorted().joined(separator: "*"), va * vb)
            }
        }
        return out
    }

    static func term(_ key: String, _ v: Double) -> SymbolicCount {
        var c = SymbolicCount()
        c.terms = [key: v]
        return c
    }
}
