import KilnIR
import KilnEvaluator

/// The default rules that keep a node in float32 although its schema allows the target type.
/// Each rule names the failure it prevents; Docs/Precision.md has the table and the reasoning.
///
/// 1. **Overflow (float16 only; bfloat16 has float32's exponent range).**
///    - `Exp`, `Softplus` (`log(1 + exp(x))` as the spec writes it): e^x passes 65504 at x ≈ 11.1.
///    - `Pow`, unless the exponent is a constant scalar in [0, 1] (square roots and the like):
///      x² passes 65504 at |x| ≈ 256, x³ (GELU's tanh form) at |x| ≈ 40.
///    - `ReduceProd`, `ReduceSumSquare`, `ReduceL2`, `ReduceLogSumExp`: products, squares and
///      exponentials inside the reduction overflow long before the result would.
///    - `Det`: a product of pivots.
///    - A reduction (`Reduce*`, `CumSum`) whose data comes from a node kept by one of these rules:
///      its input was kept in float32 because it may exceed the range, so reducing it in float16
///      would bring the overflow straight back.
/// 2. **Accumulation over many elements (both types).** `ReduceSum`, `ReduceL1`, `ReduceLogSum`
///    with more than `sumLimit` (1,024) reduced elements, or an unknown count (a symbolic axis, axes
///    that are not constant): the sum grows with the count, and a runtime that accumulates in the
///    input type loses about count·2^-11 (float16) or count·2^-8 (bfloat16) relative precision.
///    `ReduceMean` with more than `meanLimit` (4,096) or an unknown count: its result stays in the
///    input's range, so only precision is at stake. For bfloat16 the overflow-only reductions of
///    rule 1 follow this rule instead. `CumSum` (a running sum over a whole axis), `DFT`, `STFT`
///    (sums over the whole signal), the losses `NegativeLogLikelihoodLoss` and
///    `SoftmaxCrossEntropyLoss` (means over the batch) are kept always.
/// 3. **Exact integers (both types).** `Range` with float operands: float16 holds consecutive
///    integers only up to 2,048, bfloat16 up to 256, so generated positions go wrong past that.
/// 4. **Statistics computed in the input type (both types).** `InstanceNormalization`,
///    `MeanVarianceNormalization`, `LpNormalization`, and `GroupNormalization` before opset 21
///    (no `stash_type`): mean and variance over spatial axes of any size, in the input type.
///    `LayerNormalization` and `RMSNormalization` are converted: their `stash_type` (default 1,
///    float32) makes the statistics float32 whatever the input type, and their `Mean`/`InvStdDev`
///    outputs (type parameter `U`) stay float32 (rule 7).
/// 5. **Quantization scales (both types).** `QuantizeLinear`, `DequantizeLinear`,
///    `DynamicQuantizeLinear`: weight scales of 1e-5 and below are common; in float16 they are
///    subnormal or zero.
/// 6. **Runtime compatibility (float16).** Operators onnxruntime's CPU provider (1.32) cannot load
///    or run in float16 although the schema allows it: `Attention` (its function expansion binds
///    MatMul to float16 and float), `MelWeightMatrix` (the Cast it inserts is mistyped),
///    `ScatterElements`/`ScatterND` with a `reduction` other than `none` (no float16 kernel; `add`
///    and `mul` also accumulate in the input type).
/// 7. **Parameters kept in float32 on a converted node.** `Resize`'s `roi` (`T2`): normalized
///    crop coordinates need more than float16's 11 bits on large images. `LayerNormalization`'s
///    `U` (`Mean`, `InvStdDev`): their type is `stash_type`'s, float32.
///
/// Not blocked, on purpose: `Softmax`/`LogSoftmax` (the spec's function body and every runtime
/// subtract the maximum first, so the exponentials are at most 1; onnxruntime, TensorRT and
/// DirectML run them in float16 routinely), `Sigmoid`, `Tanh`, `Erf` (saturating), `MatMul`,
/// `Gemm`, `Conv` (runtimes accumulate float16 products in float32), `ReduceMax`/`ReduceMin`.
/// `Attention`, when converted (bfloat16, or without the default rules), gets `softmax_precision`
/// float32.
struct PrecisionPolicy {
    let target: DataType
    var sumLimit = 1024
    var meanLimit = 4096

    enum Kind { case range, precision }

    struct Block {
        var reason: String
        var kind: Kind
    }

    /// Ops whose accumulation is what rule 2 bounds, with the limit that applies.
    private static let sums: Set<String> = ["ReduceSum", "ReduceL1", "ReduceLogSum"]
    private static let overflowReductions: Set<String> = ["ReduceProd", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp"]
    private static let alwaysKept: [String: String] = [
        "CumSum": "a running sum over a whole axis",
        "DFT": "sums over the whole signal",
        "STFT": "sums over each whole frame",
        "NegativeLogLikelihoodLoss": "a mean over the batch",
        "SoftmaxCrossEntropyLoss": "a mean over the batch",
        "InstanceNormalization": "mean and variance over spatial axes computed in the input type",
        "MeanVarianceNormalization": "mean and variance over large axes computed in the input type",
        "LpNormalization": "a sum of powers over an axis computed in the input type",
        "QuantizeLinear": "quantization scales below 6.1e-5 are subnormal or zero in float16",
        "DequantizeLinear": "quantization scales below 6.1e-5 are subnormal or zero in float16",
        "DynamicQuantizeLinear": "its scale is computed in the input type",
    ]

    /// Type parameters a converted node keeps in float32 (rule 7).
    static let keptParameters: [String: Set<String>] = ["Resize": ["T2"], "LayerNormalization": ["U"]]

    /// Whether reduction `op` reads its data from input 0 and reduces it.
    static func isReduction(_ op: String) -> Bool { op.hasPrefix("Reduce") || op == "CumSum" }

    /// The rule that keeps `node` in float32, if any. `producerKind` tells how the producer of
    /// input 0 was kept (rule 1's last case).
    func block(_ node: Node, in graph: Graph, types: Graph, opset: Int, producerKind: Kind?) -> Block? {
        let op = node.opType
        let half = target == .float16
        if let why = Self.alwaysKept[op] { return Block(reason: why, kind: .precision) }
        if op == "Range" {
            return Block(reason: "consecutive integers are exact only up to \(half ? 2048 : 256) in \(target.name)", kind: .precision)
        }
        if op == "GroupNormalization" && node.attribute("stash_type") == nil && opset < 21 {
            return Block(reason: "mean and variance computed in the input type (no stash_type before opset 21)", kind: .precision)
        }
        if half {
            switch op {
            case "Exp": return Block(reason: "e^x passes 65504 at x ≈ 11.1", kind: .range)
            case "Softplus": return Block(reason: "exp(x) inside passes 65504 at x ≈ 11.1", kind: .range)
            case "Det": return Block(reason: "a product of pivots overflows float16", kind: .range)
            case "Attention":
                return Block(reason: "onnxruntime's CPU provider cannot load float16 Attention (its function expansion binds MatMul to float16 and float)", kind: .precision)
            case "MelWeightMatrix":
                return Block(reason: "onnxruntime's CPU provider mistypes the Cast it inserts for a float16 MelWeightMatrix", kind: .precision)
            case "ScatterElements", "ScatterND":
                if let r = try? node.string("reduction", default: "none"), r != "none" {
                    return Block(reason: "reduction '\(r)' has no float16 kernel in onnxruntime's CPU provider (add and mul also accumulate in the input type)", kind: .precision)
                }
            case "Pow":
                if let e = constantScalar(node.inputs.count > 1 ? node.inputs[1] : nil, graph), e >= 0, e <= 1 { return nil }
                return Block(reason: "x^e overflows float16 (x² at |x| ≈ 256) unless e is a constant in [0, 1]", kind: .range)
            default: break
            }
            if Self.overflowReductions.contains(op) {
                return Block(reason: "products, squares or exponentials inside the reduction overflow float16", kind: .range)
            }
            if Self.isReduction(op), producerKind == .range {
                return Block(reason: "its input comes from a node kept in float32 for range", kind: .range)
            }
        }
        let limit: Int
        if Self.sums.contains(op) || (!half && Self.overflowReductions.contains(op)) {
            limit = sumLimit
        } else if op == "ReduceMean" {
            limit = meanLimit
        } else {
            return nil
        }
        guard let n = reducedCount(node, graph: graph, types: types, opset: opset) else {
            return Block(reason: "reduces an unknown number of elements", kind: .precision)
        }
        if n > limit { return Block(reason: "reduces \(n) elements (more than \(limit))", kind: .precision) }
        return nil
    }

    /// The number of elements each output element of a Reduce* node sums: the product of the
    /// reduced dims of input 0; nil when a reduced dim or the axes are not known.
    func reducedCount(_ node: Node, graph: Graph, types: Graph, opset: Int) -> Int? {
        guard let x = node.inputs.first ?? nil,
              let dims = types[value: x].type?.tensorShape?.dims else { return nil }
        var axes: [Int64]
        if let a = node.attribute("axes"), case .ints(let v) = a.value {
            axes = v
        } else if node.inputs.count > 1, let ax = node.inputs[1] {
            guard let t = graph.constantTensor(ax) ?? constantNodeTensor(ax, graph),
                  let v = try? TensorValue(t).int64s else { return nil }
            axes = v
        } else {
            axes = []
        }
        if axes.isEmpty {
            if (try? node.int("noop_with_empty_axes", default: 0)) == 1 { return 1 }
            axes = dims.indices.map(Int64.init)
        }
        var n = 1
        for a in axes {
            let k = a < 0 ? Int(a) + dims.count : Int(a)
            guard k >= 0, k < dims.count, let d = dims[k].staticValue else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: Int(d))
            if o { return nil }
            n = p
        }
        return n
    }

    /// The value of a constant scalar (initializer or Constant node output), if `id` is one.
    private func constantScalar(_ id: ValueID?, _ graph: Graph) -> Double? {
        guard let id, let t = graph.constantTensor(id) ?? constantNodeTensor(id, graph),
              (t.elementCount ?? 0) == 1, let v = try? TensorValue(t).doubles.first else { return nil }
        return v
    }

    /// The tensor of a `Constant` node's `value` attribute when `id` is its output.
    private func constantNodeTensor(_ id: ValueID, _ graph: Graph) -> Tensor? {
        guard let p = graph.producer(of: id), graph[node: p].opType == OpType.constant,
              graph[node: p].domain.isEmpty || graph[node: p].domain == "ai.onnx" else { return nil }
        let n = graph[node: p]
        if let t = try? n.tensor("value") { return t }
        if let f = try? n.float("value_float") { return .float32([f], dims: []) }
        if let i = try? n.int("value_int") { return .int64([i], dims: []) }
        if let v = try? n.ints("value_ints") { return .int64(v, dims: [Int64(v.count)]) }
        return nil
    }
}
