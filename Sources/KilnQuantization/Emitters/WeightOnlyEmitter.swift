import KilnIR

/// `--mode weight-only --bits 4|8 --block-size N`: weights stored as int4/uint4/int8/uint8 with a
/// block-wise DequantizeLinear (opset 21) in front of the float op; activations stay float.
///
/// Rules:
/// 1. MatMul weights [K, N] are split into blocks of `blockSize` along K (axis 0): scales and zero
///    points are [ceil(K / blockSize), N]. Gather tables [V, D] are split along D (axis 1): [V,
///    ceil(D / blockSize)], so each gathered row dequantizes from its own blocks.
/// 2. Round to nearest (RTN) per block, formula 8: symmetric (zero point 0 for int4/int8, 8/128 for
///    uint4/uint8; signed symmetric weights omit the zero point) or asymmetric with per-block zero points.
/// 3. 4-bit weights are packed two per byte, low nibble first, as ONNX `raw_data` requires.
/// 4. `blockSize <= 0` asks for per-channel weights instead (MatMul: per column, axis 1; Gather: per
///    row, axis 0), which consumers without block quantization (TVM) accept.
enum WeightOnlyEmitter {
    static func weightType(_ config: QuantizationConfig) -> DataType {
        let signed = config.weightType == .int8 || config.weightType == .int4
        if config.bits == 4 { return signed ? .int4 : .uint4 }
        return signed ? .int8 : .uint8
    }

    static func emit(_ ctx: inout EmitContext, _ candidates: [Candidate]) throws {
        let type = weightType(ctx.config)
        for c in candidates {
            let node = ctx.graph[node: c.node]
            let ws = c.weightSlot!
            let w = node.inputs[ws]!
            let name = ctx.graph.name(of: w)
            let key = "\(name)/weight-only"
            let dq: ValueID
            if let shared = ctx.weightDQ[key] {
                dq = shared
            } else {
                let values = try ctx.floatValues(w)
                let dims = ctx.graph.constantTensor(w)!.dims
                let isGather = c.opType == QOp.gather
                let qw: QuantizedWeight
                if ctx.config.blockSize > 0 {  // rule 1
                    qw = try QuantizedWeight.blocked(values, dims: dims, axis: isGather ? 1 : 0, blockSize: ctx.config.blockSize,
                                                     type: type, symmetric: ctx.config.symmetricWeights, name: name)
                } else {  // rule 4
                    qw = try QuantizedWeight.make(values, dims: dims, axis: isGather ? 0 : 1, type: type,
                                                  symmetric: ctx.config.symmetricWeights, reduceRange: false, name: name)
                }
                ctx.record(.init(tensor: name, scale: qw.scales, zeroPoint: qw.zeroPoints, type: type.name, axis: qw.axis,
                                 blockSize: qw.blockSize))
                let (q, s, z) = try ctx.store(qw, name: name)
                var attrs = [Attribute("axis", .int(Int64(qw.axis!)))]
                if let b = qw.blockSize { attrs.append(Attribute("block_size", .int(Int64(b)))) }
                let omitZero = qw.zeroPointsAreZero && (type == .int4 || type == .int8)  // rule 2
                dq = try ctx.node(QOp.dequantize, omitZero ? [q, s] : [q, s, z], outputs: [name + "_dequantized"],
                                  name: name + "_DequantizeLinear", attrs, at: .before(c.node))[0]
                ctx.weightDQ[key] = dq
            }
            ctx.graph.setInput(of: c.node, at: ws, to: dq)
            ctx.report.quantizedNodes.append(node.name)
            let out = ctx.graph.name(of: node.outputs[0]!)
            ctx.report.floatEquivalents[out] = out
        }
    }
}
