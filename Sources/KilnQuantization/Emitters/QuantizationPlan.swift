import KilnIR

/// Which nodes an emitter quantizes, which activations need calibrated ranges, and why every other
/// quantizable node is left in float.
public struct QuantizationPlan: Sendable {
    public struct Skip: Sendable, Codable, Equatable {
        public var node: String
        public var opType: String
        public var reason: String
        public init(node: String, opType: String, reason: String) {
            self.node = node; self.opType = opType; self.reason = reason
        }
    }
    /// Names of the nodes that will be quantized.
    public var nodes: [String]
    /// Value names that need calibrated ranges in static mode (activations feeding/leaving quantized nodes).
    public var activationTensors: Set<String>
    public var skipped: [Skip]

    public init(nodes: [String], activationTensors: Set<String>, skipped: [Skip]) {
        self.nodes = nodes; self.activationTensors = activationTensors; self.skipped = skipped
    }
}

/// Operator names the emitters read and write.
enum QOp {
    static let conv = "Conv", convTranspose = "ConvTranspose", matMul = "MatMul", gemm = "Gemm", gather = "Gather"
    static let quantize = "QuantizeLinear", dequantize = "DequantizeLinear", dynamicQuantize = "DynamicQuantizeLinear"
    static let matMulInteger = "MatMulInteger", convInteger = "ConvInteger"
    static let qlinearConv = "QLinearConv", qlinearMatMul = "QLinearMatMul"
    static let cast = "Cast", mul = "Mul", add = "Add", reshape = "Reshape"
}

/// One node chosen for quantization, with where its weight sits and its output-channel axis.
struct Candidate {
    var node: NodeID
    var opType: String
    /// The constant weight's input slot; nil for MatMul between two activations.
    var weightSlot: Int?
    /// Output-channel axis of the weight (Conv 0, ConvTranspose 1, MatMul/Gemm [K,N] 1, Gemm transB 0).
    var channelAxis: Int
    /// Input slots that carry activations to quantize.
    var activationSlots: [Int]
    /// The constant float bias slot (Conv input 2, Gemm input C), when it can be quantized to int32.
    var biasSlot: Int?
}

/// The node selection shared by `plan` and `emit`.
///
/// Rules (each skip names one):
/// 1. Quantizable op types per mode: dynamic {Conv, MatMul, Gemm, Gather (embedding tables)}; static
///    {Conv, ConvTranspose, MatMul, Gemm, Gather (tables; not for the tensorrt and tvm targets)};
///    weight-only {MatMul, Gather}. `opTypes` narrows the set (an op outside it is reported).
///    Pooling, Relu, Concat, Reshape and other data-movement ops stay float: in QDQ form the runtime moves
///    them across the Q/DQ pairs itself.
/// 2. `--exclude-op`, `--exclude-node`, and `--include-node` (when given, only those nodes).
/// 3. The weight must be a float32 constant (initializers, and after folding the outputs of `Constant`
///    and `ConstantOfShape` chains); a MatMul between two activations is quantized in static mode only.
/// 4. Shapes the integer forms need: Conv/ConvTranspose weights of rank >= 3; MatMul and Gemm weights of
///    rank 2; Gemm with transA = 0 and alpha > 0 outside QDQ; Gather on axis 0 of a 2-D table.
enum NodeSelection {
    static func opTypes(for config: QuantizationConfig) -> Set<String> {
        switch config.mode {
        case .dynamic: return [QOp.conv, QOp.matMul, QOp.gemm, QOp.gather]
        case .static:
            // Embedding tables (Gather) are stored int8 behind a DequantizeLinear, as in dynamic mode;
            // not for TensorRT/TVM, whose Q/DQ rules cover only Conv/Gemm/MatMul-style consumers.
            let tables: Set<String> = config.target == .tensorrt || config.target == .tvm ? [] : [QOp.gather]
            return tables.union([QOp.conv, QOp.convTranspose, QOp.matMul, QOp.gemm])
        case .weightOnly: return [QOp.matMul, QOp.gather]
        }
    }

    static let universe: Set<String> = [QOp.conv, QOp.convTranspose, QOp.matMul, QOp.gemm, QOp.gather]

    static func select(_ graph: Graph, config: QuantizationConfig) -> (candidates: [Candidate], skipped: [QuantizationPlan.Skip]) {
        let modeOps = opTypes(for: config)
        var out: [Candidate] = [], skipped: [QuantizationPlan.Skip] = []
        for id in graph.order {
            let node = graph[node: id]
            guard node.domain.isEmpty || node.domain == "ai.onnx", universe.contains(node.opType) else { continue }
            func skip(_ reason: String) { skipped.append(.init(node: node.name, opType: node.opType, reason: reason)) }
            guard modeOps.contains(node.opType) else {  // rule 1
                skip(node.opType == QOp.convTranspose
                     ? "ConvTranspose has no integer form in ONNX (no ConvTransposeInteger); use --mode static"
                     : "\(node.opType) is not quantized in \(config.mode.rawValue) mode")
                continue
            }
            if !config.opTypes.isEmpty && !config.opTypes.contains(node.opType) {
                skip("\(node.opType) is not in the requested op types"); continue
            }
            if config.excludeOps.contains(node.opType) { skip("excluded by --exclude-op \(node.opType)"); continue }  // rule 2
            if config.excludeNodes.contains(node.name) { skip("excluded by --exclude-node"); continue }
            if !config.includeNodes.isEmpty && !config.includeNodes.contains(node.name) {
                skip("not named by --include-node"); continue
            }
            switch candidate(graph, id, node, config) {
            case .success(let c): out.append(c)
            case .failure(let reason): skip(reason.message)
            }
        }
        return (out, skipped)
    }

    struct Reason: Error { var message: String }

    /// TensorRT residual Adds: an `Add` reading the output of a quantized Conv gets Q/DQ on its other
    /// activation input, so TensorRT can fuse the Add into the Conv (its explicit-quantization guide).
    static func residualInputs(_ graph: Graph, _ candidates: [Candidate]) -> [ValueID] {
        let convOutputs = Set(candidates.filter { $0.opType == QOp.conv }.compactMap { graph[node: $0.node].outputs.first ?? nil })
        var out: [ValueID] = []
        for (_, node) in graph.nodes where node.opType == QOp.add && (node.domain.isEmpty || node.domain == "ai.onnx") {
            let ins = node.inputs.compactMap { $0 }
            guard ins.count == 2, ins.contains(where: convOutputs.contains) else { continue }
            for v in ins where !convOutputs.contains(v) && graph.constantTensor(v) == nil
                && (graph[value: v].type?.tensorElementType ?? .float) == .float && !out.contains(v) {
                out.append(v)
            }
        }
        return out
    }

    /// Rules 3 and 4 for one node.
    static func candidate(_ graph: Graph, _ id: NodeID, _ node: Node, _ config: QuantizationConfig) -> Result<Candidate, Reason> {
        func input(_ k: Int) -> ValueID? { k < node.inputs.count ? node.inputs[k] : nil }
        func constant(_ k: Int) -> Tensor? { input(k).flatMap { graph.constantTensor($0) } }
        func isFloatActivation(_ k: Int) -> Bool {
            guard let v = input(k) else { return false }
            if let t = graph[value: v].type?.tensorElementType { return t == .float }
            return true
        }
        let weightSlot = node.opType == QOp.gather ? 0 : 1
        let activationSlot = node.opType == QOp.gather ? 1 : 0
        guard let a = input(activationSlot), node.outputs.first != nil else {
            return .failure(Reason(message: "missing input or output"))
        }
        if node.opType != QOp.gather && !isFloatActivation(0) {
            return .failure(Reason(message: "input '\(graph.name(of: a))' is not float32"))
        }
        guard let wv = input(weightSlot) else { return .failure(Reason(message: "missing weight input")) }
        guard let w = constant(weightSlot) else {
            if node.opType == QOp.matMul && config.mode == .static && isFloatActivation(1) {
                return .success(Candidate(node: id, opType: node.opType, weightSlot: nil, channelAxis: 0,
                                          activationSlots: [0, 1], biasSlot: nil))
            }
            return .failure(Reason(message: "weight '\(graph.name(of: wv))' is not a constant"))
        }
        guard w.dataType == .float else {
            return .failure(Reason(message: "weight '\(graph.name(of: wv))' is \(w.dataType.name); only float32 weights are quantized"))
        }
        let rank = w.dims.count
        switch node.opType {
        case QOp.conv, QOp.convTranspose:
            guard rank >= 3 else { return .failure(Reason(message: "weight has rank \(rank); Conv needs >= 3")) }
            let axis = node.opType == QOp.conv ? 0 : 1
            let outChannels = node.opType == QOp.conv ? w.dims[0] : w.dims[1] * ((try? node.int("group", default: 1)) ?? 1)
            let bias = constant(2).flatMap { $0.dataType == .float && $0.dims == [outChannels] ? 2 : nil }
            if node.opType == QOp.conv, input(2) != nil, bias == nil, config.mode == .dynamic || config.format == .qoperator {
                return .failure(Reason(message: "bias is not a float32 constant of \(outChannels) elements"))
            }
            return .success(Candidate(node: id, opType: node.opType, weightSlot: 1, channelAxis: axis,
                                      activationSlots: [0], biasSlot: bias))
        case QOp.matMul:
            guard rank == 2 else { return .failure(Reason(message: "weight has rank \(rank); only 2-D MatMul weights are quantized")) }
            return .success(Candidate(node: id, opType: node.opType, weightSlot: 1, channelAxis: 1,
                                      activationSlots: [0], biasSlot: nil))
        case QOp.gemm:
            guard rank == 2 else { return .failure(Reason(message: "weight has rank \(rank); Gemm needs 2")) }
            let transA = (try? node.int("transA", default: 0)) ?? 0, transB = (try? node.int("transB", default: 0)) ?? 0
            let alpha = (try? node.float("alpha", default: 1)) ?? 1, beta = (try? node.float("beta", default: 1)) ?? 1
            let integerForm = config.mode == .dynamic || config.format == .qoperator
            if integerForm && transA != 0 { return .failure(Reason(message: "transA = 1 is not supported by the integer form")) }
            if integerForm && !(alpha > 0) { return .failure(Reason(message: "alpha = \(alpha) is not positive")) }
            let n = transB != 0 ? w.dims[0] : w.dims[1]
            let bias = beta == 1 ? constant(2).flatMap { $0.dataType == .float && $0.dims == [n] ? 2 : nil } : nil
            if integerForm, input(2) != nil, constant(2) == nil, beta != 1 {
                return .failure(Reason(message: "C is not a constant and beta = \(beta) is not 1"))
            }
            return .success(Candidate(node: id, opType: node.opType, weightSlot: 1, channelAxis: transB != 0 ? 0 : 1,
                                      activationSlots: [0], biasSlot: bias))
        default:  // Gather
            let axis = (try? node.int("axis", default: 0)) ?? 0
            guard axis == 0, rank == 2 else {
                return .failure(Reason(message: "only Gather on axis 0 of a 2-D table is quantized (axis \(axis), rank \(rank))"))
            }
            return .success(Candidate(node: id, opType: node.opType, weightSlot: 0, channelAxis: 0,
                                      activationSlots: [], biasSlot: nil))
        }
    }
}
