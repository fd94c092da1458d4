import KilnIR
import KilnPasses

/// Turns a float model into a quantized one: selection (`NodeSelection`), then one emitter per mode
/// and format (`QDQEmitter`, `QOperatorEmitter`, `IntegerFormEmitter` for dynamic, `WeightOnlyEmitter`).
///
/// Steps:
/// 1. Validate the config (types, bits, block size, target constraints); refuse by name.
/// 2. Prepare: when a quantizable node's weight comes from a `Constant`/`ConstantOfShape` chain rather
///    than an initializer, fold those chains first (`constant-to-initializer`, `constant-folding`), so
///    such weights are quantized like initializers (onnxruntime's quantize_dynamic fails on them).
/// 3. Select nodes; none -> `.invalidInput` listing why each candidate was skipped.
/// 4. Raise the opset where the form needs it (`OpsetRaise`), emit, remove what became dead.
/// The input model is never modified; graph inputs and outputs keep their names, types and shapes.
public enum QuantizationEmitter {
    public static func plan(_ model: Model, config: QuantizationConfig) throws -> QuantizationPlan {
        try validate(config)
        let prepared = try prepare(model)
        let (candidates, skipped) = NodeSelection.select(prepared.model.graph, config: config)
        var activations = Set<String>()
        if config.mode == .static {
            for c in candidates where c.opType != QOp.gather {  // tables need no activation range
                let names = config.format == .qoperator
                    ? QOperatorEmitter.activations(prepared.model.graph, c)
                    : QDQEmitter.activations(prepared.model.graph, c, outputs: config.target != .tensorrt)
                activations.formUnion(names)
            }
            if config.target == .tensorrt && config.format == .qdq {
                let g = prepared.model.graph
                activations.formUnion(NodeSelection.residualInputs(g, candidates).map { g.name(of: $0) })
            }
        }
        return QuantizationPlan(nodes: candidates.map { prepared.model.graph[node: $0.node].name },
                                activationTensors: activations, skipped: skipped)
    }

    public static func emit(_ model: Model, config: QuantizationConfig,
                            table: CalibrationTable?) throws -> (model: Model, report: EmitReport) {
        try validate(config)  // step 1
        var (m, notes) = try prepare(model)  // step 2
        let (candidates, skipped) = NodeSelection.select(m.graph, config: config)
        guard !candidates.isEmpty else {  // step 3
            let why = skipped.isEmpty ? "it has no Conv, ConvTranspose, MatMul, Gemm or Gather node"
                : skipped.prefix(8).map { "'\($0.node)' (\($0.opType)): \($0.reason)" }.joined(separator: "; ")
            throw KilnError(.invalidInput, "model has no quantizable op for --mode \(config.mode.rawValue): \(why)")
        }
        if config.mode == .static && table == nil {
            throw KilnError(.invalidInput, "--mode static needs calibration ranges (a calibration table)")
        }
        if let note = try OpsetRaise.ensure(&m, atLeast: requiredOpset(config), because: formName(config)) {  // step 4
            notes.append(note)
        }
        var ctx = EmitContext(graph: m.graph, config: config, table: table)
        ctx.report.skipped = skipped
        ctx.report.notes = notes
        if config.mode == .dynamic && config.activationType != .uint8 {
            ctx.report.notes.append("dynamic mode quantizes activations to uint8 (DynamicQuantizeLinear has no int8 form)")
        }
        switch (config.mode, config.format) {
        case (.dynamic, _):
            for c in candidates {
                if c.opType == QOp.gather {
                    try IntegerFormEmitter.emitTable(&ctx, c)
                    continue
                }
                let x = ctx.graph[node: c.node].inputs[0]!
                try IntegerFormEmitter.emit(&ctx, c, input: try IntegerFormEmitter.dynamicQuantized(&ctx, x))
            }
        case (.static, _):
            for c in candidates where c.opType == QOp.gather { try IntegerFormEmitter.emitTable(&ctx, c) }
            let rest = candidates.filter { $0.opType != QOp.gather }
            if config.format == .qdq { try QDQEmitter.emit(&ctx, rest) } else { try QOperatorEmitter.emit(&ctx, rest) }
        case (.weightOnly, _): try WeightOnlyEmitter.emit(&ctx, candidates)
        }
        try ctx.finish()
        m.graph = ctx.graph
        if [.int4, .uint4].contains(WeightOnlyEmitter.weightType(config)) && config.mode == .weightOnly {
            m.irVersion = max(m.irVersion, 10)
        }
        return (m, ctx.report)
    }

    /// Step 1.
    static func validate(_ config: QuantizationConfig) throws {
        guard [.int8, .uint8].contains(config.activationType) else {
            throw KilnError(.invalidInput, "activation type \(config.activationType.name) is not supported (int8 or uint8)")
        }
        let weightTypes: [DataType] = config.mode == .weightOnly ? [.int8, .uint8, .int4, .uint4] : [.int8, .uint8]
        guard weightTypes.contains(config.weightType) else {
            throw KilnError(.invalidInput, "weight type \(config.weightType.name) is not supported in \(config.mode.rawValue) mode "
                            + "(\(weightTypes.map(\.name).joined(separator: ", ")))")
        }
        if config.mode == .weightOnly {
            guard config.bits == 4 || config.bits == 8 else {
                throw KilnError(.invalidInput, "--bits must be 4 or 8, got \(config.bits)")
            }
            if config.target == .tvm && config.blockSize > 0 {
                throw KilnError(.unsupported, "TVM's Relax frontend rejects block quantization; use --block-size 0 (per channel)")
            }
        }
        if config.target == .tensorrt && config.mode == .dynamic {
            throw KilnError(.unsupported, "TensorRT has no dynamic quantization (DynamicQuantizeLinear, MatMulInteger, "
                            + "ConvInteger); use --mode static with calibration data")
        }
        if config.target == .tensorrt && config.format == .qoperator && config.mode == .static {
            throw KilnError(.unsupported, "TensorRT parses QDQ only, not QLinearConv/QLinearMatMul; use --format qdq")
        }
        if config.mode == .static && config.format == .qoperator && config.activationType == .int8 && config.weightType == .uint8 {
            throw KilnError(.unsupported, "QLinearConv/QLinearMatMul with int8 activations need int8 weights "
                            + "(onnxruntime has no int8 x uint8 kernel)")
        }
    }

    /// The default-domain opset the chosen form needs.
    static func requiredOpset(_ config: QuantizationConfig) -> Int64 {
        switch config.mode {
        case .dynamic: return config.perChannel ? 13 : 11
        case .static: return config.perChannel ? 13 : 10
        case .weightOnly:
            return config.blockSize > 0 || config.bits == 4 ? 21 : 13
        }
    }

    static func formName(_ config: QuantizationConfig) -> String {
        switch config.mode {
        case .dynamic: return "DynamicQuantizeLinear"
        case .static: return config.perChannel ? "per-channel DequantizeLinear" : "QuantizeLinear/DequantizeLinear"
        case .weightOnly: return config.blockSize > 0 ? "block-wise DequantizeLinear" : "\(config.bits)-bit DequantizeLinear"
        }
    }

    /// Step 2: fold weights computed by constant chains. Returns the model and a note when it folded.
    static func prepare(_ model: Model) throws -> (model: Model, notes: [String]) {
        let g = model.graph
        // Values computed from constants only (chains of Constant, ConstantOfShape, ... nodes), in one
        // pass over the nodes in graph order.
        var computed = Set<ValueID>()
        for id in g.order {
            let node = g[node: id]
            guard !node.hasSubgraphs,
                  node.inputs.allSatisfy({ $0.map { g.constantTensor($0) != nil || computed.contains($0) } ?? true }) else { continue }
            for case let out? in node.outputs { computed.insert(out) }
        }
        func constantComputed(_ v: ValueID) -> Bool { computed.contains(v) }
        let needsFolding = g.order.contains { id in
            let n = g[node: id]
            guard NodeSelection.universe.contains(n.opType) else { return false }
            let slots = n.opType == QOp.gather ? [0] : [1, 2]
            return slots.contains { k in
                guard k < n.inputs.count, let v = n.inputs[k], g.producer(of: v) != nil else { return false }
                return constantComputed(v)
            }
        }
        guard needsFolding else { return (model, []) }
        var m = model
        let report = try Pipeline.run(&m, passes: [ConstantToInitializerPass(), ConstantFoldingPass()])
        let folded = report.passes.reduce(0) { $0 + $1.changes }
        return (m, folded > 0 ? ["weights computed by Constant/ConstantOfShape nodes were folded into initializers first"] : [])
    }
}
