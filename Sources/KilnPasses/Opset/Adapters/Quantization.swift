import KilnIR

/// QuantizeLinear and DequantizeLinear.
///
/// Cases:
/// 1. 13 added `axis` (per-axis scales): up free; down, a scale with more than one element is
///    refused (per-tensor only before 13) and `axis` is dropped.
/// 2. QuantizeLinear-19 added `saturate` (float8 outputs only, refused below 19 by the type check):
///    dropped down.
/// 3. 21 added `block_size` (and QuantizeLinear `output_dtype`); 23 added QuantizeLinear
///    `precision` and DequantizeLinear `output_dtype`: non-default values refused down.
/// 4. Every change of the type lists (float8, int4, int16, float4, scale types decoupled from x
///    at 23) is checked against the target schema.
extension OpsetAdapters {
    static var quantization: [OpsetRule] {
        var rules: [OpsetRule] = []
        for op in ["QuantizeLinear", "DequantizeLinear"] {
            rules.append(.unchanged(op, 13, .up, "opset 13 adds per-axis scales (case 1)"))
            rules.append(.adapter(op, 13, .down, "per-tensor scale required; axis dropped (case 1)") { rw, id in
                let scale = rw.input(id, 1)
                let count: Int64? = scale.flatMap { rw.constant($0)?.elementCount }
                    ?? rw.shape(scale).flatMap { s in s.dims.reduce(Int64(1)) { acc, d in d.staticValue.map { acc * $0 } ?? -1 } }
                if let count, count != 1 {
                    throw rw.refusal(id, "per-axis quantization (\(count) scales) does not exist before opset 13")
                }
                if count == nil { throw rw.refusal(id, "the scale's size is unknown; per-tensor quantization must be proven before opset 13") }
                rw.removeAttribute(id, "axis")
            })
        }
        rules.append(.unchanged("QuantizeLinear", 19, .up, "saturate applies only to float8 outputs (case 2)"))
        rules.append(.adapter("QuantizeLinear", 19, .down, "saturate dropped; float8 refused by the type check (case 2)") { rw, id in
            rw.removeAttribute(id, "saturate")
        })
        rules += OpsetRule.typesChecked("DequantizeLinear", 19, "float8 and float16/bfloat16 scales added (case 4)")
        rules += OpsetRule.attributesAdded("QuantizeLinear", 21, [("block_size", .int(0)), ("output_dtype", .int(0))], "blocked quantization, explicit output type (case 3)")
        rules += OpsetRule.attributesAdded("DequantizeLinear", 21, [("block_size", .int(0))], "blocked quantization (case 3)")
        rules += OpsetRule.attributesAdded("QuantizeLinear", 23, [("precision", .int(0))], "precision of the scale computation, scale types decoupled (cases 3, 4)")
        rules += OpsetRule.attributesAdded("DequantizeLinear", 23, [("output_dtype", .int(0))], "explicit output type, float4 added (cases 3, 4)")
        return rules
    }
}
