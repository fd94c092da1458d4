import KilnIR

/// Operators that make tensors from attributes or shapes: Constant, ConstantOfShape, Range, EyeLike.
enum GeneratorKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Constant", since: 1) { ctx in
            let node = ctx.node
            if let t = try node.tensor("value") { return KernelContext.one(try TensorValue(t)) }
            if node.attribute("value_float") != nil { return KernelContext.one(.scalar(try ctx.float("value_float"))) }
            if node.attribute("value_int") != nil { return KernelContext.one(.scalar(Int64(try ctx.int("value_int")))) }
            if node.attribute("value_string") != nil { return KernelContext.one(.scalar(try ctx.string("value_string"))) }
            if let fs = try ctx.floats("value_floats") { return KernelContext.one(TensorValue(shape: [fs.count], fs)) }
            if let ints = try ctx.ints("value_ints") { return KernelContext.one(TensorValue(shape: [ints.count], ints.map { Int64($0) })) }
            if case .strings(let ss)? = node.attribute("value_strings")?.value {
                return KernelContext.one(TensorValue(shape: [ss.count], ss.map { String(decoding: $0, as: UTF8.self) }))
            }
            if node.attribute("sparse_value") != nil { throw ctx.unsupported("sparse_value is not supported") }
            throw ctx.error("has no value attribute")
        }
        r.register("ConstantOfShape", since: 9) { ctx in
            guard let shape = try ctx.integers(0), shape.allSatisfy({ $0 >= 0 }) else {
                throw ctx.error("input must be a shape of non-negative int64 dimensions")
            }
            let value = try ctx.node.tensor("value").map { try TensorValue($0) } ?? .scalar(Float(0))
            guard value.count == 1 else { throw ctx.error("value must hold one element") }
            let n = shapeCount(shape)
            return KernelContext.one(TensorValue(shape: shape, storage: value.storage.gathering([Int](repeating: 0, count: n))))
        }
        r.register("Range", since: 11) { ctx in
            let (start, limit, delta) = (try ctx.tensor(0), try ctx.tensor(1), try ctx.tensor(2))
            guard start.count == 1, limit.count == 1, delta.count == 1 else { throw ctx.error("start, limit and delta must be scalars") }
            let (s, l, d) = (start.doubles[0], limit.doubles[0], delta.doubles[0])
            guard d != 0 else { throw ctx.error("delta must not be 0") }
            let n = max(Int((( l - s) / d).rounded(.up)), 0)
            if start.dataType.isFloatingPoint {
                // Accumulate in the output type, as the reference does (start + i * delta).
                let values = TensorValue(shape: [n], (0..<n).map { s + Double($0) * d })
                return KernelContext.one(try castTensor(values, to: start.dataType))
            }
            let (si, di) = (start.int64s[0], delta.int64s[0])
            let values = TensorValue(shape: [n], (0..<n).map { si + Int64($0) * di })
            return KernelContext.one(try castTensor(values, to: start.dataType))
        }
        r.register("EyeLike", since: 9) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank == 2 else { throw ctx.error("input must be 2-D, got shape \(x.shape)") }
            let k = try ctx.int("k", default: 0)
            let type: DataType
            if ctx.node.attribute("dtype") != nil {
                guard let t = DataType(rawValue: Int32(try ctx.int("dtype"))) else { throw ctx.error("dtype is not a data type") }
                type = t
            } else {
                type = x.dataType
            }
            let (rows, cols) = (x.shape[0], x.shape[1])
            var values = [Int64](repeating: 0, count: rows * cols)
            for i in 0..<rows where i + k >= 0 && i + k < cols { values[i * cols + i + k] = 1 }
            return KernelContext.one(try castTensor(TensorValue(shape: [rows, cols], values), to: type))
        }
    }
}
