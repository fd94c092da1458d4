import KilnIR

/// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear over the quantized types: int8, uint8,
/// int16, uint16, int4, uint4, int2, uint2, the four float8 formats and float4e2m1.
///
/// Scale and zero point apply per tensor (one element), per axis (a 1-D tensor along `axis`) or
/// per block (`block_size` > 0: the parameter has the input's shape except along `axis`, where
/// element `i` of the input reads block `i / block_size`).
///
/// 1. Quantize: `y = clamp(rint(x / scale) + zero_point, type range)`, the quotient rounded to the
///    input's type (or `precision`) first, `rint` rounding half to even. The output type is the
///    zero point's, else `output_dtype`, else uint8. Float8 targets: `y = x / scale` converted with
///    `saturate` (the zero point is zero by definition); float4e2m1: `x / scale + zero_point`,
///    saturated.
/// 2. Dequantize: `y = (x - zero_point) * scale`, in the scale's type (or `output_dtype`); float8 and
///    float4 inputs ignore the zero point (it must be zero).
/// 4. MatMulInteger: `(A - a_zero_point) . (B - b_zero_point)` in int32 (zero points per tensor, per
///    row of A, per column of B). QLinearMatMul: that product times `a_scale * b_scale / y_scale`
///    (the factor rounded in the scales' type, as the reference; `a_scale` per tensor or per row,
///    `b_scale` per tensor or per column, as the spec allows), plus `y_zero_point`, rounded half
///    to even and clamped to the output type (the zero point's, else A's).
/// 3. DynamicQuantizeLinear (float32 arithmetic, as the reference): `scale = (max(0, max x) -
///    min(0, min x)) / 255` (1/255 when both are 0), `zp = rint(clamp(-min / scale, 0, 255))`, then 1.
enum QuantizationKernels {
    static let ranges: [DataType: ClosedRange<Double>] = [
        .uint8: 0...255, .int8: -128...127, .uint16: 0...65535, .int16: -32768...32767,
        .uint4: 0...15, .int4: -8...7, .uint2: 0...3, .int2: -2...1,
    ]
    static let floatTypes: Set<DataType> = [.float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1]

    static func register(into r: inout KernelRegistry) {
        r.register("QuantizeLinear", since: 10) { ctx in
            let x = try ctx.tensor(0), scale = try ctx.tensor(1), zeroPoint = try ctx.optionalTensor(2)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            var type = DataType.uint8
            if let raw = ctx.node.attribute("output_dtype") == nil ? nil : try ctx.int("output_dtype"), raw != 0 {
                guard let t = DataType(rawValue: Int32(raw)) else { throw ctx.error("output_dtype \(raw) is not a data type") }
                type = t
            }
            if let zeroPoint {
                if ctx.node.attribute("output_dtype") != nil, try ctx.int("output_dtype") != 0, zeroPoint.dataType != type {
                    throw ctx.error("output_dtype \(type.name) differs from the zero point's type \(zeroPoint.dataType.name)")
                }
                type = zeroPoint.dataType
            }
            guard ranges[type] != nil || floatTypes.contains(type) else { throw unsupportedType(type, ctx.node.opType) }
            var quotientType = x.dataType
            if let p = ctx.node.attribute("precision") == nil ? nil : try ctx.int("precision"), p != 0 {
                guard let t = DataType(rawValue: Int32(p)), t.isFloatingPoint else { throw ctx.error("precision \(p) is not a float type") }
                quotientType = t
            }
            let s = try parameter(scale, for: x, ctx), z = try zeroPoint.map { try parameter($0, for: x, ctx) }
            let xv = x.doubles
            var q = [Double](repeating: 0, count: xv.count)
            for i in 0..<xv.count { q[i] = xv[i] / s.values[s.index[i]] }
            q = try castTensor(TensorValue(shape: [q.count], q), to: quotientType).doubles
            guard let range = ranges[type] else {
                if type == .float4e2m1, let z { for i in 0..<q.count { q[i] += z.values[z.index[i]] } }
                let saturate = try ctx.int("saturate", default: 1) != 0
                let y = TensorValue(shape: x.shape, q)
                return KernelContext.one(try CastKernels.castTensor(y, to: type, saturate: saturate, roundMode: "up"))
            }
            for i in 0..<q.count {
                let v = q[i].rounded(.toNearestOrEven) + (z.map { $0.values[$0.index[i]] } ?? 0)
                q[i] = v.isNaN ? 0 : min(max(v, range.lowerBound), range.upperBound)
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, q), to: type))
        }
        r.register("DequantizeLinear", since: 10) { ctx in
            let x = try ctx.tensor(0), scale = try ctx.tensor(1), givenZeroPoint = try ctx.optionalTensor(2)
            guard ranges[x.dataType] != nil || x.dataType == .int32 || floatTypes.contains(x.dataType) else {
                throw unsupportedType(x.dataType, ctx.node.opType)
            }
            let zeroPoint = floatTypes.contains(x.dataType) ? nil : givenZeroPoint
            if let zeroPoint, zeroPoint.dataType != x.dataType {
                throw ctx.error("zero point type \(zeroPoint.dataType.name) differs from the input's \(x.dataType.name)")
            }
            var type = scale.dataType
            if let raw = ctx.node.attribute("output_dtype") == nil ? nil : try ctx.int("output_dtype"), raw != 0 {
                guard let t = DataType(rawValue: Int32(raw)) else { throw ctx.error("output_dtype \(raw) is not a data type") }
                type = t
            }
            let s = try parameter(scale, for: x, ctx), z = try zeroPoint.map { try parameter($0, for: x, ctx) }
            let xv = x.doubles
            var y = [Double](repeating: 0, count: xv.count)
            for i in 0..<xv.count {
                y[i] = (xv[i] - (z.map { $0.values[$0.index[i]] } ?? 0)) * s.values[s.index[i]]
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, y), to: type))
        }
        r.register("DynamicQuantizeLinear", since: 11) { ctx in
            let x = try ctx.tensor(0)
            guard let xv = x.elements(as: Float.self) else { throw unsupportedType(x.dataType, ctx.node.opType) }
            let hi = max(0, xv.max() ?? 0), lo = min(0, xv.min() ?? 0)
            let scale: Float = (hi == lo ? 1 : hi - lo) / 255
            let zp = min(255, max(0, 0 - lo / scale)).rounded(.toNearestOrEven)
            let y = xv.map { UInt8(min(255, max(0, ($0 / scale).rounded(.toNearestOrEven) + zp))) }
            return [.tensor(TensorValue(shape: x.shape, elements: ContiguousArray(y))),
                    .tensor(.scalar(scale)), .tensor(.scalar(UInt8(zp)))]
        }
    }

    /// `(x - zeroPoint)` as int32; a 1-D zero point applies along `axis` from the end (A: rows,
    /// axis 2; B: columns, axis 1).
    static func centered(_ x: TensorValue, _ zeroPoint: TensorValue?, fromEnd axis: Int, _ ctx: KernelContext) throws -> TensorValue {
        let v = x.int64s
        var out = ContiguousArray<Int32>(repeating: 0, count: v.count)
        let z = zeroPoint?.int64s ?? [0]
        let dim = x.rank >= axis ? x.shape[x.rank - axis] : 1
        let inner = x.rank >= axis ? x.shape[(x.rank - axis + 1)...].reduce(1, *) : 1
        guard z.count == 1 || z.count == dim else { throw ctx.error("zero point has \(z.count) elements; expected 1 or \(dim)") }
        for i in 0..<v.count { out[i] = Int32(truncatingIfNeeded: v[i] - (z.count == 1 ? z[0] : z[(i / inner) % dim])) }
        return TensorValue(shape: x.shape, elements: out)
    }

    static func registerLinearAlgebra(into r: inout KernelRegistry) {
        r.register("MatMulInteger", since: 10) { ctx in
            let a = try centered(ctx.tensor(0), ctx.optionalTensor(2), fromEnd: 2, ctx)
            let b = try centered(ctx.tensor(1), ctx.optionalTensor(3), fromEnd: 1, ctx)
            return KernelContext.one(try LinearAlgebraKernels.matmul(a, b, ctx))
        }
        r.register("QLinearMatMul", since: 10) { ctx in
            let a = try centered(ctx.tensor(0), ctx.optionalTensor(2), fromEnd: 2, ctx)
            let b = try centered(ctx.tensor(3), ctx.optionalTensor(5), fromEnd: 1, ctx)
            let (aScale, bScale, yScale) = (try ctx.tensor(1), try ctx.tensor(4), try ctx.tensor(6))
            let yZero = try ctx.optionalTensor(7)
            let aType = try ctx.tensor(0).dataType
            let type = yZero?.dataType ?? aType
            guard let range = ranges[type] else { throw unsupportedType(type, ctx.node.opType) }
            let c = try LinearAlgebraKernels.matmul(a, b, ctx)
            // Scales per tensor, per row of A (M, or one per row of every batch) and per column of B (N).
            let n = c.rank >= 1 ? c.shape[c.rank - 1] : 1, m = c.rank >= 2 ? c.shape[c.rank - 2] : 1
            let rows = c.count / Swift.max(n, 1)
            guard yScale.count == 1, [1, m, rows].contains(aScale.count), [1, n].contains(bScale.count) else {
                throw ctx.unsupported("scales of \(aScale.count) (a), \(bScale.count) (b), \(yScale.count) (y) elements: "
                                      + "a's must be 1 or one per row (\(m)), b's 1 or one per column (\(n)), y's 1")
            }
            func rounded(_ v: Double) throws -> Double { try castTensor(.scalar(v), to: aScale.dataType).doubles[0] }
            let (sa, sb, sy) = (aScale.doubles, bScale.doubles, yScale.doubles[0])
            // The factor per (a scale, b scale) pair, rounded in the scales' type as the reference does.
            var factors = [Double](repeating: 0, count: sa.count * sb.count)
            for i in 0..<sa.count { for j in 0..<sb.count { factors[i * sb.count + j] = try rounded(try rounded(sa[i] * sb[j]) / sy) } }
            let zp = yZero?.doubles.first ?? 0
            let cv = c.doubles
            var y = [Double](repeating: 0, count: cv.count)
            for o in 0..<cv.count {
                let row = o / Swift.max(n, 1)
                let i = sa.count == 1 ? 0 : (sa.count == rows ? row : row % m), j = sb.count == 1 ? 0 : o % n
                y[o] = min(max((cv[o] * factors[i * sb.count + j] + zp).rounded(.toNearestOrEven), range.lowerBound), range.upperBound)
            }
            return KernelContext.one(try castTensor(TensorValue(shape: c.shape, y), to: type))
        }
    }

    /// A scale or zero point as Doubles, with the parameter index each input element reads.
    struct Parameter {
        var values: [Double]
        var index: [Int]
    }

    static func parameter(_ p: TensorValue, for x: TensorValue, _ ctx: KernelContext) throws -> Parameter {
        let values = p.doubles
        if values.count == 1 { return Parameter(values: values, index: [Int](repeating: 0, count: x.count)) }
        let axis = try ctx.axis(ctx.int("axis", default: 1), rank: x.rank)
        let block = try ctx.int("block_size", default: 0)
        var index = [Int](repeating: 0, count: x.count)
        if block <= 0 {
            guard p.rank == 1, p.count == x.shape[axis] else {
                throw ctx.error("per-axis parameter must be 1-D with \(x.shape[axis]) elements, got \(p.shape)")
            }
            let inner = x.shape[(axis + 1)...].reduce(1, *)
            for i in 0..<x.count { index[i] = (i / inner) % x.shape[axis] }
        } else {
            var expected = x.shape
            expected[axis] = (x.shape[axis] + block - 1) / block
            guard p.shape == expected else {
                throw ctx.error("blocked parameter must have shape \(expected) for block_size \(block), got \(p.shape)")
            }
            let pStrides = rowMajorStrides(p.shape), xStrides = rowMajorStrides(x.shape)
            for i in 0..<x.count {
                var rest = i, at = 0
                for d in 0..<x.rank {
                    let c = rest / xStrides[d]
                    rest %= xStrides[d]
                    at += (d == axis ? c / block : c) * pStrides[d]
                }
                index[i] = at
            }
        }
        return Parameter(values: values, index: index)
    }
}
