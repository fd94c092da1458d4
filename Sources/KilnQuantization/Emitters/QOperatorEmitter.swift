import KilnIR

/// `--mode static --format qoperator`: quantized operators of the standard ONNX domain.
///
/// Rules:
/// 1. Conv -> QLinearConv (weights per channel when `perChannel`, bias int32 with `scale = x_scale *
///    w_scale[c]`), MatMul -> QLinearMatMul (weights per tensor: per-column `b_scale` is not portable).
///    A MatMul between two activations quantizes both.
/// 2. A quantized region starts with a QuantizeLinear (calibrated parameters, shared per tensor) and
///    ends with a DequantizeLinear writing the original float value; a quantized node reading the
///    output of another reads its integer form directly (no DQ -> Q in between).
/// 3. Gemm has no QLinear form in the standard domain: it becomes QuantizeLinear + MatMulInteger + rescale
///    (`IntegerFormEmitter`). ConvTranspose has none either: it keeps the QDQ form (DQ -> float op).
///    Ops onnxruntime would turn into com.microsoft QLinearAdd, QLinearConcat, ... stay float.
enum QOperatorEmitter {
    static func emit(_ ctx: inout EmitContext, _ candidates: [Candidate]) throws {
        for c in candidates {
            switch c.opType {
            case QOp.gemm:
                let node = ctx.graph[node: c.node]
                try IntegerFormEmitter.emit(&ctx, c, input: try ctx.quantized(node.inputs[0]!, for: node.name))
            case QOp.convTranspose:
                try QDQEmitter.emit(&ctx, c)
            default:
                try emitQLinear(&ctx, c)
            }
        }
    }

    /// Rules 1 and 2 for Conv and MatMul.
    static func emitQLinear(_ ctx: inout EmitContext, _ c: Candidate) throws {
        let node = ctx.graph[node: c.node]
        let x = try ctx.quantized(node.inputs[0]!, for: node.name)
        let xp = try ctx.activationParams(node.inputs[0]!, for: node.name)
        let at = Graph.Position.before(c.node)
        var inputs: [ValueID?] = [x.q, x.scale, x.zeroPoint]
        if let ws = c.weightSlot {
            let isConv = c.opType == QOp.conv
            let axis = isConv && ctx.config.perChannel ? 0 : nil
            let qw = try ctx.quantizeWeight(node.inputs[ws]!, axis: axis, type: ctx.config.weightType)
            let w = try ctx.store(qw, name: ctx.graph.name(of: node.inputs[ws]!))
            inputs += [w.q, w.scale, w.zeroPoint]
            if let bs = c.biasSlot {
                inputs.append(try ctx.quantizedBias(node.inputs[bs]!, inputScale: xp.scale, weight: qw).q)
            }
        } else {
            let b = try ctx.quantized(node.inputs[1]!, for: node.name)
            inputs += [b.q, b.scale, b.zeroPoint]
        }
        let y = node.outputs[0]!
        let yName = ctx.graph.name(of: y)
        let (ys, yz) = try ctx.activationConstants(y, for: node.name)
        inputs.insert(contentsOf: [ys, yz], at: 6)
        let op = c.opType == QOp.conv ? QOp.qlinearConv : QOp.qlinearMatMul
        let attrs = c.opType == QOp.conv ? node.attributes : []
        let yq = try ctx.node(op, inputs, outputs: [yName + "_quantized"], name: node.name + "_quant", attrs, at: at)[0]
        _ = try ctx.detachOutput(of: c.node)
        try ctx.node(QOp.dequantize, [yq, ys, yz], writing: y, name: yName + "_DequantizeLinear", at: at)
        ctx.quantizedForm[y] = (yq, ys, yz)
        ctx.report.quantizedNodes.append(node.name)
        ctx.report.floatEquivalents[yName] = yName
    }

    /// The activations rules 1-3 need ranges for.
    static func activations(_ graph: Graph, _ c: Candidate) -> [String] {
        let node = graph[node: c.node]
        switch c.opType {
        case QOp.gemm: return [graph.name(of: node.inputs[0]!)]
        case QOp.convTranspose: return QDQEmitter.activations(graph, c, outputs: true)
        default: return c.activationSlots.map { graph.name(of: node.inputs[$0]!) } + [graph.name(of: node.outputs[0]!)]
        }
    }
}
