import KilnIR

/// Cast and CastLike: every pair of supported element types, with numpy `astype` semantics
/// (floats truncate toward zero into integers, integers wrap, strings parse and print like
/// Python). Float8 and float4 targets round to nearest even and saturate unless `saturate` is 0
/// (then out-of-range values become infinity or NaN); float8e8m0 follows `round_mode`; 4- and
/// 2-bit integers truncate and wrap like the wider ones (`TensorElement+Narrow.swift`).
enum CastKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Cast", since: 6) { ctx in
            let x = try ctx.tensor(0)
            let raw = try ctx.int("to")
            guard let to = DataType(rawValue: Int32(raw)) else { throw ctx.error("attribute 'to' is not a data type: \(raw)") }
            return KernelContext.one(try castTensor(x, to: to, ctx))
        }
        // BitCast: the same bytes read as another type of the same bit width (numpy `view`).
        r.register("BitCast", since: 26) { ctx in
            let x = try ctx.tensor(0)
            let raw = try ctx.int("to")
            guard let to = DataType(rawValue: Int32(raw)) else { throw ctx.error("attribute 'to' is not a data type: \(raw)") }
            guard x.dataType != .string, to != .string else { throw ctx.error("BitCast does not apply to strings") }
            guard x.dataType.bitWidth == to.bitWidth else {
                throw ctx.error("\(x.dataType.name) and \(to.name) differ in bit width (\(x.dataType.bitWidth) and \(to.bitWidth))")
            }
            let ir = x.irTensor()
            return KernelContext.one(try TensorValue(Tensor(name: "", dataType: to, dims: ir.dims, storage: ir.storage)))
        }
        r.register("CastLike", since: 15) { ctx in
            KernelContext.one(try castTensor(ctx.tensor(0), to: ctx.tensor(1).dataType, ctx))
        }
    }

    /// Cast with the node's `saturate` (opset 19 on) and `round_mode` (24 on) attributes.
    static func castTensor(_ x: TensorValue, to type: DataType, _ ctx: KernelContext) throws -> TensorValue {
        try castTensor(x, to: type, saturate: ctx.int("saturate", default: 1) != 0, roundMode: ctx.string("round_mode", default: "up"))
    }

    static func castTensor(_ x: TensorValue, to type: DataType, saturate: Bool, roundMode: String) throws -> TensorValue {
        if x.dataType == type || x.dataType == .string { return try KilnEvaluator.castTensor(x, to: type) }
        switch type {
        case .float8e4m3fn where !saturate: return narrowed(x, Float8E4M3FN.self) { .init(double: $0, saturate: false) }
        case .float8e4m3fnuz where !saturate: return narrowed(x, Float8E4M3FNUZ.self) { .init(double: $0, saturate: false) }
        case .float8e5m2 where !saturate: return narrowed(x, Float8E5M2.self) { .init(double: $0, saturate: false) }
        case .float8e5m2fnuz where !saturate: return narrowed(x, Float8E5M2FNUZ.self) { .init(double: $0, saturate: false) }
        case .float8e8m0:
            return narrowed(x, Float8E8M0.self) { .init(double: $0, saturate: saturate, roundMode: roundMode) }
        default: return try KilnEvaluator.castTensor(x, to: type)
        }
    }

    private static func narrowed<N: NarrowElement>(_ x: TensorValue, _ type: N.Type, _ convert: (Double) -> N) -> TensorValue {
        TensorValue(shape: x.shape, elements: ContiguousArray(x.doubles.map(convert)))
    }
}

/// `x` converted to `type`.
func castTensor(_ x: TensorValue, to type: DataType) throws -> TensorValue {
    if x.dataType == type { return x }
    let storage = try x.storage.visit(CastSource(to: type))
    return TensorValue(shape: x.shape, storage: storage)
}

private struct CastSource: ElementVisitor {
    typealias Failure = any Error
    let to: DataType
    func visit<S: TensorElement>(_ elements: ContiguousArray<S>) throws -> TensorStorage {
        try dispatchAny(to) { CastTarget(source: elements) }
    }
}

private struct CastTarget<S: TensorElement>: TypeVisitor {
    let source: ContiguousArray<S>
    func visit<D: TensorElement>(_ type: D.Type) -> TensorStorage {
        let out: ContiguousArray<D>
        if D.self == String.self {
            out = ContiguousArray(source.map { castDescription($0) as! D })
        } else if S.dataType == .string {
            out = ContiguousArray(source.map { D.dataType.isFloatingPoint ? D(double: $0.doubleValue) : D(int64: $0.int64Value) })
        } else if S.dataType.isFloatingPoint || D.dataType.isFloatingPoint {
            if S.self == Float.self && D.self == Float16.self {
                out = ContiguousArray((source as! ContiguousArray<Float>).map { Float16($0) }) as! ContiguousArray<D>
            } else {
                out = ContiguousArray(source.map { D(double: $0.doubleValue) })
            }
        } else {
            out = ContiguousArray(source.map { D(int64: $0.int64Value) })
        }
        return D.wrap(out)
    }
}

/// How numpy prints an element when casting to string (`str(np.float32(x))`, `True`).
private func castDescription<S: TensorElement>(_ v: S) -> String {
    switch v {
    case let b as Bool: return b ? "True" : "False"
    case let f as Float: return pythonStyle(f.description)
    case let d as Double: return pythonStyle(d.description)
    case let h as Float16: return pythonStyle(Float(h).description)
    case let s as String: return s
    default: return String(v.int64Value)
    }
}

private func pythonStyle(_ s: String) -> String {
    s == "-nan" ? "nan" : s
}
