import KilnIR

/// A Swift type that holds the elements of one ONNX data type in a `TensorStorage`.
///
/// Every element type converts to and from `Double` (the evaluator's wide type for floating-point
/// math and casts) and to and from `Int64` (for integer casts, which wrap like numpy's `astype`).
public protocol TensorElement: Sendable {
    static var dataType: DataType { get }
    static var zero: Self { get }
    static func wrap(_ elements: ContiguousArray<Self>) -> TensorStorage
    static func unwrap(_ storage: TensorStorage) -> ContiguousArray<Self>?
    var doubleValue: Double { get }
    init(double: Double)
    var int64Value: Int64 { get }
    init(int64: Int64)
}

/// An element type with arithmetic (every numeric ONNX type; not bool or string).
///
/// Integer operations wrap on overflow and never trap (division by zero gives 0), matching what a
/// C kernel does rather than trapping the process.
public protocol NumericElement: TensorElement, Comparable {
    static var one: Self { get }
    static func add(_ a: Self, _ b: Self) -> Self
    static func subtract(_ a: Self, _ b: Self) -> Self
    static func multiply(_ a: Self, _ b: Self) -> Self
    static func divide(_ a: Self, _ b: Self) -> Self
    /// `fmod` true: the sign of the dividend (C `fmod`); false: the sign of the divisor (Python `%`).
    static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self
    static func power(_ a: Self, _ b: Self) -> Self
    static func negate(_ a: Self) -> Self
    static var isSigned: Bool { get }
    static var isFloatingPoint: Bool { get }
    /// NaN for floating-point types (propagated by Max/Min); false for integers.
    var isNaN: Bool { get }
}

/// An integer element type: bitwise operations and shifts.
public protocol IntegerElement: NumericElement, FixedWidthInteger {}

// MARK: Integers

extension TensorElement where Self: FixedWidthInteger {
    public static var zero: Self { 0 }
    public var doubleValue: Double { Double(self) }
    public init(double: Double) {
        // numpy's astype: truncate toward zero, wrap into range; NaN and infinities give 0.
        guard double.isFinite else { self = 0; return }
        let t = double.rounded(.towardZero)
        if t >= -9.2e18 && t <= 9.2e18 { self.init(truncatingIfNeeded: Int64(t)) }
        else if t > 0 && t < 1.8e19 { self.init(truncatingIfNeeded: UInt64(t)) }
        else { self = 0 }
    }
    public var int64Value: Int64 { Int64(truncatingIfNeeded: self) }
    public init(int64: Int64) { self.init(truncatingIfNeeded: int64) }
}

extension NumericElement where Self: FixedWidthInteger {
    public static var one: Self { 1 }
    public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    public static func subtract(_ a: Self, _ b: Self) -> Self { a &- b }
    public static func multiply(_ a: Self, _ b: Self) -> Self { a &* b }
    public static func divide(_ a: Self, _ b: Self) -> Self {
        if b == 0 { return 0 }
        if Self.isSigned && b == -1 { return 0 &- a }
        return a / b
    }
    public static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self {
        if b == 0 { return 0 }
        if Self.isSigned && b == -1 { return 0 }
        let r = a % b
        if fmod || r == 0 { return r }
        return (r < 0) != (b < 0) ? r &+ b : r
    }
    public static func power(_ a: Self, _ b: Self) -> Self {
        if b < 0 { return a == 1 ? 1 : 0 }
        var result: Self = 1, base = a, e = b
        while e > 0 {
            if e & 1 == 1 { result = result &* base }
            base = base &* base
            e >>= 1
        }
        return result
    }
    public static func negate(_ a: Self) -> Self { 0 &- a }
    public static var isFloatingPoint: Bool { false }
    public var isNaN: Bool { false }
}

extension Int8: IntegerElement {
    public static var dataType: DataType { .int8 }
    public static func wrap(_ e: ContiguousArray<Int8>) -> TensorStorage { .int8(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Int8>? { if case .int8(let e) = s { e } else { nil } }
}
extension Int16: IntegerElement {
    public static var dataType: DataType { .int16 }
    public static func wrap(_ e: ContiguousArray<Int16>) -> TensorStorage { .int16(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Int16>? { if case .int16(let e) = s { e } else { nil } }
}
extension Int32: IntegerElement {
    public static var dataType: DataType { .int32 }
    public static func wrap(_ e: ContiguousArray<Int32>) -> TensorStorage { .int32(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Int32>? { if case .int32(let e) = s { e } else { nil } }
}
extension Int64: IntegerElement {
    public static var dataType: DataType { .int64 }
    public static func wrap(_ e: ContiguousArray<Int64>) -> TensorStorage { .int64(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Int64>? { if case .int64(let e) = s { e } else { nil } }
}
extension UInt8: IntegerElement {
    public static var dataType: DataType { .uint8 }
    public static func wrap(_ e: ContiguousArray<UInt8>) -> TensorStorage { .uint8(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<UInt8>? { if case .uint8(let e) = s { e } else { nil } }
}
extension UInt16: IntegerElement {
    public static var dataType: DataType { .uint16 }
    public static func wrap(_ e: ContiguousArray<UInt16>) -> TensorStorage { .uint16(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<UInt16>? { if case .uint16(let e) = s { e } else { nil } }
}
extension UInt32: IntegerElement {
    public static var dataType: DataType { .uint32 }
    public static func wrap(_ e: ContiguousArray<UInt32>) -> TensorStorage { .uint32(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<UInt32>? { if case .uint32(let e) = s { e } else { nil } }
}
extension UInt64: IntegerElement {
    public static var dataType: DataType { .uint64 }
    public static func wrap(_ e: ContiguousArray<UInt64>) -> TensorStorage { .uint64(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<UInt64>? { if case .uint64(let e) = s { e } else { nil } }
}

// MARK: Floating point

/// A floating-point element type; math runs in `Double` and rounds back once.
public protocol FloatElement: NumericElement {}

extension NumericElement where Self: BinaryFloatingPoint {
    public static var zero: Self { 0 }
    public static var one: Self { 1 }
    public var doubleValue: Double { Double(self) }
    public init(double: Double) { self.init(double) }
    public var int64Value: Int64 {
        guard isFinite else { return 0 }
        let t = Double(self).rounded(.towardZero)
        return t >= -9.2e18 && t <= 9.2e18 ? Int64(t) : 0
    }
    public init(int64: Int64) { self.init(int64) }
    public static func add(_ a: Self, _ b: Self) -> Self { a + b }
    public static func subtract(_ a: Self, _ b: Self) -> Self { a - b }
    public static func multiply(_ a: Self, _ b: Self) -> Self { a * b }
    public static func divide(_ a: Self, _ b: Self) -> Self { a / b }
    public static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self {
        let r = Self(fmodDouble(Double(a), Double(b)))
        if fmod || r == 0 || r.isNaN { return r }
        return (r < 0) != (b < 0) ? r + b : r
    }
    public static func power(_ a: Self, _ b: Self) -> Self { Self(powDouble(Double(a), Double(b))) }
    public static func negate(_ a: Self) -> Self { -a }
    public static var isSigned: Bool { true }
    public static var isFloatingPoint: Bool { true }
}

extension Float: FloatElement {
    public static var dataType: DataType { .float }
    public static func wrap(_ e: ContiguousArray<Float>) -> TensorStorage { .float(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Float>? { if case .float(let e) = s { e } else { nil } }
}
extension Double: FloatElement {
    public static var dataType: DataType { .double }
    public static func wrap(_ e: ContiguousArray<Double>) -> TensorStorage { .double(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Double>? { if case .double(let e) = s { e } else { nil } }
}
extension Float16: FloatElement {
    public static var dataType: DataType { .float16 }
    public static func wrap(_ e: ContiguousArray<Float16>) -> TensorStorage { .float16(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Float16>? { if case .float16(let e) = s { e } else { nil } }
}

/// bfloat16: the upper 16 bits of a float32. Conversion from float rounds to nearest even.
public struct BFloat16: FloatElement, Hashable, CustomStringConvertible {
    public var bitPattern: UInt16
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }
    public init(_ f: Float) {
        let bits = f.bitPattern
        if f.isNaN { bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040; return }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        bitPattern = UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    public static var dataType: DataType { .bfloat16 }
    public static var zero: BFloat16 { BFloat16(bitPattern: 0) }
    public static var one: BFloat16 { BFloat16(Float(1)) }
    public static func wrap(_ e: ContiguousArray<BFloat16>) -> TensorStorage { .bfloat16(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<BFloat16>? { if case .bfloat16(let e) = s { e } else { nil } }
    public var doubleValue: Double { Double(floatValue) }
    public init(double: Double) { self.init(Float(double)) }
    public var int64Value: Int64 { Float.init(floatValue).int64Value }
    public init(int64: Int64) { self.init(Float(int64)) }
    public static func add(_ a: Self, _ b: Self) -> Self { Self(a.floatValue + b.floatValue) }
    public static func subtract(_ a: Self, _ b: Self) -> Self { Self(a.floatValue - b.floatValue) }
    public static func multiply(_ a: Self, _ b: Self) -> Self { Self(a.floatValue * b.floatValue) }
    public static func divide(_ a: Self, _ b: Self) -> Self { Self(a.floatValue / b.floatValue) }
    public static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self {
        Self(Float.remainder(a.floatValue, b.floatValue, fmod: fmod))
    }
    public static func power(_ a: Self, _ b: Self) -> Self { Self(Float.power(a.floatValue, b.floatValue)) }
    public static func negate(_ a: Self) -> Self { Self(bitPattern: a.bitPattern ^ 0x8000) }
    public static var isSigned: Bool { true }
    public static var isFloatingPoint: Bool { true }
    public var isNaN: Bool { floatValue.isNaN }
    public static func < (a: Self, b: Self) -> Bool { a.floatValue < b.floatValue }
    public static func == (a: Self, b: Self) -> Bool { a.floatValue == b.floatValue }
    public var description: String { floatValue.description }
}

// MARK: Bool and String

extension Bool: TensorElement {
    public static var dataType: DataType { .bool }
    public static var zero: Bool { false }
    public static func wrap(_ e: ContiguousArray<Bool>) -> TensorStorage { .bool(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Bool>? { if case .bool(let e) = s { e } else { nil } }
    public var doubleValue: Double { self ? 1 : 0 }
    public init(double: Double) { self = double != 0 }
    public var int64Value: Int64 { self ? 1 : 0 }
    public init(int64: Int64) { self = int64 != 0 }
}

extension String: TensorElement {
    public static var dataType: DataType { .string }
    public static var zero: String { "" }
    public static func wrap(_ e: ContiguousArray<String>) -> TensorStorage { .string(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<String>? { if case .string(let e) = s { e } else { nil } }
    public var doubleValue: Double { parseFloatingPoint(self) }
    public init(double: Double) { self = formatFloatingPoint(double) }
    public var int64Value: Int64 { Int64(self.trimmingSpaces) ?? Int64(double: parseFloatingPoint(self)) }
    public init(int64: Int64) { self = String(int64) }
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// Parses numbers the way numpy's `astype(float)` reads strings: decimal, `inf`, `-INF`, `NaN`.
func parseFloatingPoint(_ s: String) -> Double {
    let t = s.trimmingSpaces.lowercased()
    switch t {
    case "inf", "+inf", "infinity", "+infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan", "+nan", "-nan": return .nan
    default: return Double(t) ?? .nan
    }
}

/// Formats like Python's `str(float)` for the common cases (`1.5`, `inf`, `nan`, `1e-05`).
func formatFloatingPoint(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    return d.description
}
