import KilnIR

/// Cast and CastLike: every pair of supported element types, with numpy `astype` semantics
/// (floats truncate toward zero into integers, integers wrap, strings parse and print like
/// Python). Float8 and sub-byte targets are refused by name.
enum CastKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Cast", since: 6) { ctx in
            let x = try ctx.tensor(0)
            let raw = try ctx.int("to")
            guard let to = DataType(rawValue: Int32(raw)) else { throw ctx.error("attribute 'to' is not a data type: \(raw)") }
            return KernelContext.one(try castTensor(x, to: to))
        }
        r.register("CastLike", since: 15) { ctx in
            KernelContext.one(try castTensor(ctx.tensor(0), to: ctx.tensor(1).dataType))
        }
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
