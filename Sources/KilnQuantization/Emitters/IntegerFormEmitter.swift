import KilnIR

/// The integer form shared by `--mode dynamic` and by Gemm in `--format qoperator`:
///
///     x_q, x_scale, x_zp  (DynamicQuantizeLinear at run time, or QuantizeLinear with calibrated params)
///     acc = MatMulInteger(x_q, W_q, x_zp, w_zp)  |  ConvInteger(x_q, W_q, x_zp, w_zp)   (int32)
///     y   = Cast<float>(acc) * (x_scale * w_scale * alpha)  [+ bias]
///
/// Rules:
/// 1. MatMul and Gemm: W is [K, N] (Gemm's transB weights are stored transposed), quantized per tensor
///    or per column (`w_scale` and `w_zp` of N elements broadcast along the last axis). Gemm's alpha
///    multiplies the combined scale; `beta * C` is added in float (C constant) or C itself (beta = 1).
/// 2. Conv: onnxruntime's ConvInteger takes one weight zero point, so per-channel weights must be
///    symmetric (all zero points equal); with asymmetric weights the Conv falls back to per-tensor
///    (noted in the report). The per-channel scale is shaped [M, 1, ...] to broadcast over NCHW, and
///    the float bias, reshaped the same way, is added after the rescale.
/// 3. Gather embedding tables (dynamic mode): the table is stored quantized (per row with
///    `perChannel`) behind a DequantizeLinear; the Gather itself stays float, as in onnxruntime.
/// 4. onnxruntime 1.32's ConvInteger and MatMulInteger accept uint8 activations with int8 or uint8
///    weights (checked in the test suite); DynamicQuantizeLinear produces uint8 only.
enum IntegerFormEmitter {
    typealias Quantized = (q: ValueID, scale: ValueID, zeroPoint: ValueID)

    /// The run-time quantized form of `x` (DynamicQuantizeLinear after its producer), shared.
    static func dynamicQuantized(_ ctx: inout EmitContext, _ x: ValueID) throws -> Quantized {
        if let f = ctx.quantizedForm[x] { return f }
        let name = ctx.graph.name(of: x)
        let outs = try ctx.node(QOp.dynamicQuantize, [x], outputs: [name + "_quantized", name + "_scale", name + "_zero_point"],
                                name: name + "_DynamicQuantizeLinear", at: ctx.position(after: x))
        let f = (outs[0], outs[1], outs[2])
        ctx.quantizedForm[x] = f
        return f
    }

    static func emit(_ ctx: inout EmitContext, _ c: Candidate, input x: Quantized) throws {
        let node = ctx.graph[node: c.node]
        let w = node.inputs[1]!
        let isConv = c.opType == QOp.conv
        let isGemm = c.opType == QOp.gemm
        let transB = isGemm ? try node.int("transB", default: 0) != 0 : false
        let alpha: Float = isGemm ? try node.float("alpha", default: 1) : 1
        var axis: Int? = ctx.config.perChannel ? (isConv ? 0 : 1) : nil
        if isConv && axis != nil && !ctx.config.symmetricWeights {  // rule 2
            axis = nil
            ctx.report.notes.append("node '\(node.name)': ConvInteger takes one weight zero point; asymmetric weights are per tensor")
        }
        let qw = try ctx.quantizeWeight(w, axis: axis, type: ctx.config.weightType, transposed: transB)
        let name = ctx.graph.name(of: w)
        let sharedZero = Set(qw.zeroPoints).count == 1
        let zpDims: [Int64] = sharedZero ? [] : qw.paramDims
        let wq = try ctx.integers(name + "_quantized", qw.values, type: qw.type, dims: qw.dims)
        let wz = try ctx.integers(name + "_zero_point", sharedZero ? [qw.zeroPoints[0]] : qw.zeroPoints,
                                  type: qw.type, dims: zpDims)
        let rank = qw.dims.count
        let scaleDims: [Int64] = axis == nil ? [] : (isConv ? [Int64(qw.scales.count)] + Array(repeating: 1, count: rank - 2)
                                                             : [Int64(qw.scales.count)])
        let ws = try ctx.floats(name + "_scale", qw.scales.map { $0 * alpha }, dims: scaleDims)
        let out = ctx.graph.name(of: node.outputs[0]!)
        let at = Graph.Position.before(c.node)
        let integerOp = isConv ? QOp.convInteger : QOp.matMulInteger
        let attrs = isConv ? node.attributes : []
        let acc = try ctx.node(integerOp, [x.q, wq, x.zeroPoint, wz], outputs: [out + "_int32"], name: node.name + "_" + integerOp,
                               attrs, at: at)[0]
        let accFloat = try ctx.node(QOp.cast, [acc], outputs: [out + "_int32_float"], name: node.name + "_Cast",
                                    [Attribute("to", .int(Int64(DataType.float.rawValue)))], at: at)[0]
        let scale = try ctx.node(QOp.mul, [x.scale, ws], outputs: [out + "_rescale"], name: node.name + "_scale_Mul", at: at)[0]
        let bias = try addend(&ctx, c, node, rank: rank)
        let y = try ctx.detachOutput(of: c.node)
        if let bias {
            let scaled = try ctx.node(QOp.mul, [accFloat, scale], outputs: [out + "_scaled"], name: node.name + "_Mul", at: at)[0]
            try ctx.node(QOp.add, [scaled, bias], writing: y, name: node.name + "_bias_Add", at: at)
        } else {
            try ctx.node(QOp.mul, [accFloat, scale], writing: y, name: node.name + "_Mul", at: at)
        }
        ctx.report.quantizedNodes.append(node.name)
        ctx.report.floatEquivalents[out] = out
    }

    /// Rule 3.
    static func emitTable(_ ctx: inout EmitContext, _ c: Candidate) throws {
        let node = ctx.graph[node: c.node]
        let (dq, _) = try ctx.dequantizedWeight(node.inputs[0]!, axis: ctx.config.perChannel ? 0 : nil,
                                                type: ctx.config.weightType, at: c.node)
        ctx.graph.setInput(of: c.node, at: 0, to: dq)
        ctx.report.quantizedNodes.append(node.name)
        let out = ctx.graph.name(of: node.outputs[0]!)
        ctx.report.floatEquivalents[out] = out
    }

    /// What is added after the rescale: Conv's bias as [M, 1, ...], Gemm's `beta * C`, or nothing.
    private static func addend(_ ctx: inout EmitContext, _ c: Candidate, _ node: Node, rank: Int) throws -> ValueID? {
        guard node.inputs.count > 2, let b = node.inputs[2] else { return nil }
        if c.opType == QOp.conv {
            let values = try ctx.floatValues(b)
            return try ctx.floats(ctx.graph.name(of: b) + "_broadcast", values,
                                  dims: [Int64(values.count)] + Array(repeating: 1, count: rank - 2))
        }
        let beta = try node.float("beta", default: 1)
        guard let t = ctx.graph.constantTensor(b) else { return b }  // beta == 1 (selection rule 4)
        if beta == 1 { return b }
        return try ctx.floats(ctx.graph.name(of: b) + "_beta", try ctx.floatValues(b).map { $0 * beta }, dims: t.dims)
    }
}
