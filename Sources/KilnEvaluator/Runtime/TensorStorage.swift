import KilnIR

/// The elements of a runtime tensor: one contiguous array of the Swift type matching its data type.
///
/// Data movement (transpose, slice, gather, concat, ...) is written once over all element types by
/// computing source indices and calling `gathering(_:)`; typed math visits the storage with an
/// `ElementVisitor` (or one of the dispatchers in `Dispatch.swift`).
public enum TensorStorage: Sendable {
    case float(ContiguousArray<Float>)
    case double(ContiguousArray<Double>)
    case float16(ContiguousArray<Float16>)
    case bfloat16(ContiguousArray<BFloat16>)
    case int8(ContiguousArray<Int8>)
    case int16(ContiguousArray<Int16>)
    case int32(ContiguousArray<Int32>)
    case int64(ContiguousArray<Int64>)
    case uint8(ContiguousArray<UInt8>)
    case uint16(ContiguousArray<UInt16>)
    case uint32(ContiguousArray<UInt32>)
    case uint64(ContiguousArray<UInt64>)
    case bool(ContiguousArray<Bool>)
    case string(ContiguousArray<String>)
    // Narrow types, one byte per element (TensorElement+Narrow.swift).
    case float8e4m3fn(ContiguousArray<Float8E4M3FN>)
    case float8e4m3fnuz(ContiguousArray<Float8E4M3FNUZ>)
    case float8e5m2(ContiguousArray<Float8E5M2>)
    case float8e5m2fnuz(ContiguousArray<Float8E5M2FNUZ>)
    case float8e8m0(ContiguousArray<Float8E8M0>)
    case float4e2m1(ContiguousArray<Float4E2M1>)
    case int4(ContiguousArray<Int4>)
    case uint4(ContiguousArray<UInt4>)
    case int2(ContiguousArray<Int2>)
    case uint2(ContiguousArray<UInt2>)

    public var dataType: DataType {
        switch self {
        case .float: .float
        case .double: .double
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .int8: .int8
        case .int16: .int16
        case .int32: .int32
        case .int64: .int64
        case .uint8: .uint8
        case .uint16: .uint16
        case .uint32: .uint32
        case .uint64: .uint64
        case .bool: .bool
        case .string: .string
        case .float8e4m3fn: .float8e4m3fn
        case .float8e4m3fnuz: .float8e4m3fnuz
        case .float8e5m2: .float8e5m2
        case .float8e5m2fnuz: .float8e5m2fnuz
        case .float8e8m0: .float8e8m0
        case .float4e2m1: .float4e2m1
        case .int4: .int4
        case .uint4: .uint4
        case .int2: .int2
        case .uint2: .uint2
        }
    }

    public var count: Int { visit(CountVisitor()) }

    /// Calls `visitor` with the typed elements.
    public func visit<V: ElementVisitor>(_ visitor: V) throws(V.Failure) -> V.Output {
        switch self {
        case .float(let e): try visitor.visit(e)
        case .double(let e): try visitor.visit(e)
        case .float16(let e): try visitor.visit(e)
        case .bfloat16(let e): try visitor.visit(e)
        case .int8(let e): try visitor.visit(e)
        case .int16(let e): try visitor.visit(e)
        case .int32(let e): try visitor.visit(e)
        case .int64(let e): try visitor.visit(e)
        case .uint8(let e): try visitor.visit(e)
        case .uint16(let e): try visitor.visit(e)
        case .uint32(let e): try visitor.visit(e)
        case .uint64(let e): try visitor.visit(e)
        case .bool(let e): try visitor.visit(e)
        case .string(let e): try visitor.visit(e)
        case .float8e4m3fn(let e): try visitor.visit(e)
        case .float8e4m3fnuz(let e): try visitor.visit(e)
        case .float8e5m2(let e): try visitor.visit(e)
        case .float8e5m2fnuz(let e): try visitor.visit(e)
        case .float8e8m0(let e): try visitor.visit(e)
        case .float4e2m1(let e): try visitor.visit(e)
        case .int4(let e): try visitor.visit(e)
        case .uint4(let e): try visitor.visit(e)
        case .int2(let e): try visitor.visit(e)
        case .uint2(let e): try visitor.visit(e)
        }
    }

    /// The element at `source[i]` for each `i` in `indices`; a negative index gives `fill`'s element
    /// (or zero when `fill` is nil). `fill` must have this storage's data type.
    public func gathering(_ indices: [Int], fill: TensorStorage? = nil) -> TensorStorage {
        visit(GatherVisitor(indices: indices, fill: fill))
    }

    /// The concatenation of `parts`, all of `type`.
    public static func concatenating(_ parts: [TensorStorage], type: DataType) throws -> TensorStorage {
        var out = try TensorStorage.zeros(type, count: 0)
        for p in parts { out = out.visit(AppendVisitor(other: p)) }
        return out
    }

    /// `count` zero elements (false, "" for bool and string).
    public static func zeros(_ type: DataType, count: Int) throws -> TensorStorage {
        try dispatchAny(type) { ZerosVisitor(count: count) }
    }
}

/// Visits typed elements of any type.
public protocol ElementVisitor {
    associatedtype Output
    associatedtype Failure: Error = Never
    func visit<T: TensorElement>(_ elements: ContiguousArray<T>) throws(Failure) -> Output
}

/// Builds a value for an element type chosen at run time.
public protocol TypeVisitor {
    associatedtype Output
    func visit<T: TensorElement>(_ type: T.Type) throws -> Output
}

/// Calls `make().visit(T.self)` with `T` the element type of `type` (any supported type).
func dispatchAny<V: TypeVisitor>(_ type: DataType, _ make: () -> V) throws -> V.Output {
    let v = make()
    switch type {
    case .float: return try v.visit(Float.self)
    case .double: return try v.visit(Double.self)
    case .float16: return try v.visit(Float16.self)
    case .bfloat16: return try v.visit(BFloat16.self)
    case .int8: return try v.visit(Int8.self)
    case .int16: return try v.visit(Int16.self)
    case .int32: return try v.visit(Int32.self)
    case .int64: return try v.visit(Int64.self)
    case .uint8: return try v.visit(UInt8.self)
    case .uint16: return try v.visit(UInt16.self)
    case .uint32: return try v.visit(UInt32.self)
    case .uint64: return try v.visit(UInt64.self)
    case .bool: return try v.visit(Bool.self)
    case .string: return try v.visit(String.self)
    case .float8e4m3fn: return try v.visit(Float8E4M3FN.self)
    case .float8e4m3fnuz: return try v.visit(Float8E4M3FNUZ.self)
    case .float8e5m2: return try v.visit(Float8E5M2.self)
    case .float8e5m2fnuz: return try v.visit(Float8E5M2FNUZ.self)
    case .float8e8m0: return try v.visit(Float8E8M0.self)
    case .float4e2m1: return try v.visit(Float4E2M1.self)
    case .int4: return try v.visit(Int4.self)
    case .uint4: return try v.visit(UInt4.self)
    case .int2: return try v.visit(Int2.self)
    case .uint2: return try v.visit(UInt2.self)
    default: throw unsupportedType(type)
    }
}

func unsupportedType(_ type: DataType, _ what: String = "the evaluator") -> KilnError {
    KilnError(.unsupported, "\(what) does not support data type \(type.name)")
}

private struct CountVisitor: ElementVisitor {
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> Int { e.count }
}

private struct ZerosVisitor: TypeVisitor {
    let count: Int
    func visit<T: TensorElement>(_ type: T.Type) -> TensorStorage {
        T.wrap(ContiguousArray(repeating: T.zero, count: count))
    }
}

private struct GatherVisitor: ElementVisitor {
    let indices: [Int]
    let fill: TensorStorage?
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> TensorStorage {
        var out = ContiguousArray<T>()
        out.reserveCapacity(indices.count)
        let f = fill.flatMap { T.unwrap($0)?.first } ?? T.zero
        e.withUnsafeBufferPointer { src in
            for i in indices { out.append(i >= 0 ? src[i] : f) }
        }
        return T.wrap(out)
    }
}

private struct AppendVisitor: ElementVisitor {
    let other: TensorStorage
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> TensorStorage {
        var out = e
        out.append(contentsOf: T.unwrap(other)!)
        return T.wrap(out)
    }
}
