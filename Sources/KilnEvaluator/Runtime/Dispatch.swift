import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a value for a numeric element type chosen at run time.
public protocol NumericTypeVisitor {
    associatedtype Output
    func visit<T: NumericElement>(_ type: T.Type) throws -> Output
}

/// Builds a value for a floating-point element type chosen at run time.
public protocol FloatTypeVisitor {
    associatedtype Output
    func visit<T: FloatElement>(_ type: T.Type) throws -> Output
}

/// Builds a value for an integer element type chosen at run time.
public protocol IntegerTypeVisitor {
    associatedtype Output
    func visit<T: IntegerElement>(_ type: T.Type) throws -> Output
}

/// The one switch from a numeric data type to its Swift element type. `what` names the operation
/// in the error for other types.
func dispatchNumeric<V: NumericTypeVisitor>(_ type: DataType, _ what: String, _ v: V) throws -> V.Output {
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
    default: throw unsupportedType(type, what)
    }
}

func dispatchFloat<V: FloatTypeVisitor>(_ type: DataType, _ what: String, _ v: V) throws -> V.Output {
    switch type {
    case .float: return try v.visit(Float.self)
    case .double: return try v.visit(Double.self)
    case .float16: return try v.visit(Float16.self)
    case .bfloat16: return try v.visit(BFloat16.self)
    default: throw unsupportedType(type, what)
    }
}

func dispatchInteger<V: IntegerTypeVisitor>(_ type: DataType, _ what: String, _ v: V) throws -> V.Output {
    switch type {
    case .int8: return try v.visit(Int8.self)
    case .int16: return try v.visit(Int16.self)
    case .int32: return try v.visit(Int32.self)
    case .int64: return try v.visit(Int64.self)
    case .uint8: return try v.visit(UInt8.self)
    case .uint16: return try v.visit(UInt16.self)
    case .uint32: return try v.visit(UInt32.self)
    case .uint64: return try v.visit(UInt64.self)
    default: throw unsupportedType(type, what)
    }
}

@inline(__always) func fmodDouble(_ a: Double, _ b: Double) -> Double { fmod(a, b) }
@inline(__always) func powDouble(_ a: Double, _ b: Double) -> Double { pow(a, b) }
