import KilnIR

/// `--mode static --format qdq`: the float graph stays as it is; quantization is expressed by
/// QuantizeLinear/DequantizeLinear pairs the runtime fuses into integer kernels.
///
/// Rules:
/// 1. Every activation input of a quantized node gets one Q/DQ pair (per tensor, parameters from
///    the calibration table, formulas 2-5); all nodes reading that tensor share it.
/// 2. Outside the TensorRT preset the output of a quantized node that other nodes read gets a pair
///    too (onnxruntime fuses DQ -> Conv -> Q into QLinearConv only with it); TensorRT places Q/DQ on
///    inputs only.
/// 3. Weights are stored quantized with a DequantizeLinear (per channel on the output-channel axis
///    when `perChannel`); a constant bias becomes int32 with `scale = x_scale * w_scale[c]` and zero
///    point 0, behind its own DequantizeLinear (formula 7); under the TensorRT preset biases stay float
///    (TensorRT's DequantizeLinear takes int8/int4/fp8, not int32, and it fuses the float bias).
/// 4. TensorRT only: an Add that reads a quantized Conv's output gets a Q/DQ pair on its other
///    (residual) input too, so TensorRT can fuse the Add into the Conv.
enum QDQEmitter {
    static func emit(_ ctx: inout EmitContext, _ candidates: [Candidate]) throws {
        let residuals = ctx.config.target == .tensorrt ? NodeSelection.residualInputs(ctx.graph, candidates) : []
        for c in candidates { try emit(&ctx, c) }
        for v in residuals {  // rule 4
            let reader = ctx.graph[value: v].uses.first.map { ctx.graph[node: $0.node].name } ?? ""
            try ctx.qdq(v, for: reader)
        }
    }

    /// Rules 1-3 for one node (also used by the QOperator emitter for ConvTranspose).
    static func emit(_ ctx: inout EmitContext, _ c: Candidate) throws {
        let node = ctx.graph[node: c.node]
        for slot in c.activationSlots {  // rule 1
            _ = try ctx.qdq(node.inputs[slot]!, for: node.name)
        }
        let y = node.outputs[0]!
        ctx.report.quantizedNodes.append(node.name)
        ctx.report.floatEquivalents[ctx.graph.name(of: y)] = ctx.graph.name(of: y)
        if let ws = c.weightSlot {  // rule 3
            let axis = ctx.config.perChannel ? c.channelAxis : nil
            let (dq, qw) = try ctx.dequantizedWeight(node.inputs[ws]!, axis: axis, type: ctx.config.weightType, at: c.node)
            ctx.graph.setInput(of: c.node, at: ws, to: dq)
            if let bs = c.biasSlot, ctx.biasesQuantized {
                let x = ctx.source(ctx.graph[node: c.node].inputs[0]!)
                let xp = try ctx.activationParams(x, for: node.name)
                let perGroup = c.opType == QOp.convTranspose ? Int(ctx.graph.constantTensor(node.inputs[ws]!)?.dims[1] ?? 1) : 0
                let dqb = try ctx.dequantizedBias(node.inputs[bs]!, inputScale: xp.scale, weight: qw, at: c.node,
                                                  channelOf: { perGroup > 0 ? $0 % perGroup : $0 })
                ctx.graph.setInput(of: c.node, at: bs, to: dqb)
            }
        }
        if ctx.outputsQuantized && !ctx.graph[value: y].uses.isEmpty {  // rule 2
            let dq = try ctx.qdq(y, for: node.name)
            ctx.report.floatEquivalents[ctx.graph.name(of: y)] = ctx.graph.name(of: dq)
        }
    }

    /// The activations rule 1 and 2 need ranges for.
    static func activations(_ graph: Graph, _ c: Candidate, outputs: Bool) -> [String] {
        let node = graph[node: c.node]
        var names = c.activationSlots.map { graph.name(of: node.inputs[$0]!) }
        if outputs, let y = node.outputs[0], !graph[value: y].uses.isEmpty { names.append(graph.name(of: y)) }
        return names
    }
}
