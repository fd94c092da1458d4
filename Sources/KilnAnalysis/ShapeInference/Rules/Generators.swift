import KilnIR

/// Operators that create tensors: Constant, ConstantOfShape, Range, EyeLike, the Random*Like
/// family, RandomUniform/RandomNormal, Bernoulli, and the window functions.
///
/// Cases:
/// 1. Constant: type and dims of `value` (or the scalar/list forms `value_int`, `value_ints`, ...);
///    integer elements propagate.
/// 2. ConstantOfShape: dims are the elements of the shape input (symbolic ones included); type of
///    `value`, float when absent.
/// 3. Range: one dim, `max(ceil((limit - start) / delta), 0)` for constants; with delta 1 and
///    integer start/limit known symbolically, `limit - start`.
/// 4. EyeLike, Random*Like, Bernoulli: the input's shape; type `dtype` when given, else the input's.
/// 5. Window functions: [size], type `output_datatype` (float by default).
/// 6. Multinomial: [batch, sample_size], int32 unless `dtype`.
enum GeneratorRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("Constant") { ctx in try constant(&ctx) }
        r.register("ConstantOfShape", since: 9) { ctx in
            let type = try ctx.node.tensor("value")?.dataType ?? .float
            if let dims = ctx.values(0) { return ctx.setOutput(0, type, dims) }
            let n = ctx.dims(0)?.first?.constantValue
            ctx.setOutput(0, type, n.map { Array(repeating: .unknown, count: Int($0)) })
        }
        r.register("Range", since: 11) { ctx in
            let type = ctx.elementType(0)
            if let s = ctx.tensor(0)?.doubleValues(limit: 1)?.first, let l = ctx.tensor(1)?.doubleValues(limit: 1)?.first,
               let d = ctx.tensor(2)?.doubleValues(limit: 1)?.first, d != 0 {
                return ctx.setOutput(0, type, [.constant(Int64(max((l - s) / d, 0).rounded(.up)))])
            }
            if let s = ctx.values(0)?.first, let l = ctx.values(1)?.first, let d = ctx.constantValues(2)?.first, d > 0 {
                let n = (l - s).ceilDiv(d)
                if let c = n.constantValue { return ctx.setOutput(0, type, [.constant(max(c, 0))]) }
                return ctx.setOutput(0, type, [n])
            }
            ctx.setOutput(0, type, [.unknown])
        }
        r.register(["EyeLike", "RandomUniformLike", "RandomNormalLike", "Bernoulli"]) { ctx in
            let dtype = try ctx.node.attribute("dtype").map { _ in try ctx.node.int("dtype") }
            let type = dtype.flatMap { DataType(rawValue: Int32(truncatingIfNeeded: $0)) } ?? ctx.elementType(0)
            ctx.setOutput(0, type, ctx.dims(0))
        }
        r.register("Multinomial", since: 7) { ctx in
            let dtype = try ctx.node.int("dtype", default: Int64(DataType.int32.rawValue))
            let batch = ctx.dims(0)?.first ?? .unknown
            ctx.setOutput(0, DataType(rawValue: Int32(truncatingIfNeeded: dtype)), [batch, .constant(try ctx.node.int("sample_size", default: 1))])
        }
        r.register(["RandomUniform", "RandomNormal"]) { ctx in
            let dtype = try ctx.node.int("dtype", default: 1)
            ctx.setOutput(0, DataType(rawValue: Int32(truncatingIfNeeded: dtype)), try ctx.node.ints("shape").map(SymDim.constant))
        }
        r.register(["HannWindow", "HammingWindow", "BlackmanWindow"], since: 17) { ctx in
            let dtype = try ctx.node.int("output_datatype", default: 1)
            ctx.setOutput(0, DataType(rawValue: Int32(truncatingIfNeeded: dtype)), [ctx.values(0)?.first ?? .unknown])
        }
    }

    static func constant(_ ctx: inout NodeContext) throws {
        let n = ctx.node
        if let t = try n.tensor("value") {
            ctx.setOutput(0, t.dataType, t.dims.map(SymDim.constant))
            if let ints = t.integerValues(limit: NodeContext.maxPropagatedElements) {
                ctx.setValues(0, ints.map(SymDim.constant))
            }
        } else if n.attribute("value_int") != nil {
            let v = try n.int("value_int")
            ctx.setOutput(0, .int64, [])
            ctx.setValues(0, [.constant(v)])
        } else if n.attribute("value_ints") != nil {
            let v = try n.ints("value_ints")
            ctx.setOutput(0, .int64, [.constant(Int64(v.count))])
            ctx.setValues(0, v.map(SymDim.constant))
        } else if n.attribute("value_float") != nil {
            ctx.setOutput(0, .float, [])
        } else if n.attribute("value_floats") != nil {
            ctx.setOutput(0, .float, [.constant(Int64(try n.floats("value_floats").count))])
        } else if n.attribute("value_string") != nil {
            ctx.setOutput(0, .string, [])
        } else if case .strings(let s)? = n.attribute("value_strings")?.value {
            ctx.setOutput(0, .string, [.constant(Int64(s.count))])
        } else if case .sparseTensor(let s)? = n.attribute("sparse_value")?.value {
            ctx.setOutput(0, s.values?.dataType, s.dims.map(SymDim.constant))
        } else {
            throw ctx.error("Constant needs one of value, value_int(s), value_float(s), value_string(s), sparse_value")
        }
    }
}
