import KilnIR

/// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
///
/// Cases:
/// 1. QuantizeLinear: shape of X; type `output_dtype` when set (opset 21), else y_zero_point's,
///    else uint8.
/// 2. DequantizeLinear: shape of X; type of x_scale (input 1), or `output_dtype` when set (opset 23).
/// 3. DynamicQuantizeLinear: y uint8 with X's shape, y_scale float [], y_zero_point uint8 [].
enum QuantizationRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("QuantizeLinear", since: 10) { ctx in
            let dtype = try ctx.node.int("output_dtype", default: 0)
            let type = dtype != 0 ? DataType(rawValue: Int32(truncatingIfNeeded: dtype)) : (ctx.hasInput(2) ? ctx.elementType(2) : .uint8)
            ctx.setOutput(0, type, ctx.dims(0))
        }
        r.register("DequantizeLinear", since: 10) { ctx in
            let dtype = try ctx.node.int("output_dtype", default: 0)
            let type = dtype != 0 ? DataType(rawValue: Int32(truncatingIfNeeded: dtype)) : ctx.elementType(1)
            ctx.setOutput(0, type, ctx.dims(0))
        }
        r.register("DynamicQuantizeLinear", since: 11) { ctx in
            ctx.setOutput(0, .uint8, ctx.dims(0))
            ctx.setOutput(1, .float, [])
            ctx.setOutput(2, .uint8, [])
        }
    }
}
