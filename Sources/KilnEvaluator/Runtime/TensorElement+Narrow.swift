import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Narrow element types: float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0), float4e2m1 and the 4- and
// 2-bit integers. Each element is held in one byte (its bit pattern); sub-byte types are unpacked
// when read from `raw_data` and packed again when written (`TensorValue+IR.swift`). They convert to
// and from Double like every element type, so Cast, Quantize/DequantizeLinear and data movement
// work on them; arithmetic kernels refuse them by name (they are not `NumericElement`s).

/// An element stored as one byte: its bit pattern (low bits for sub-byte types).
public protocol NarrowElement: TensorElement {
    init(bitPattern: UInt8)
    var bitPattern: UInt8 { get }
}

/// A small binary floating-point format with subnormals (the float8 family and float4e2m1).
///
/// Encoding rounds to nearest even. Out-of-range values (and infinities) saturate to the largest
/// finite value when `saturate` is true; otherwise they become infinity where the format has one,
/// NaN where it does not. float4e2m1 has neither and always saturates; its NaN encodes as -0 (as
/// ml_dtypes, whose results the ONNX suite holds).
public struct MiniFloatFormat: Sendable {
    let exponentBits: Int
    let mantissaBits: Int
    let bias: Int
    /// e5m2: exponent all ones is infinity (mantissa 0) or NaN.
    let ieeeSpecials: Bool
    /// fnuz formats: 0x80 is the only NaN, no negative zero, no infinity.
    let fnuz: Bool
    let maxFinite: Double
    let nanBits: UInt8

    static let e4m3fn = MiniFloatFormat(exponentBits: 4, mantissaBits: 3, bias: 7, ieeeSpecials: false, fnuz: false, maxFinite: 448, nanBits: 0x7F)
    static let e4m3fnuz = MiniFloatFormat(exponentBits: 4, mantissaBits: 3, bias: 8, ieeeSpecials: false, fnuz: true, maxFinite: 240, nanBits: 0x80)
    static let e5m2 = MiniFloatFormat(exponentBits: 5, mantissaBits: 2, bias: 15, ieeeSpecials: true, fnuz: false, maxFinite: 57344, nanBits: 0x7E)
    static let e5m2fnuz = MiniFloatFormat(exponentBits: 5, mantissaBits: 2, bias: 16, ieeeSpecials: false, fnuz: true, maxFinite: 57344, nanBits: 0x80)
    static let e2m1 = MiniFloatFormat(exponentBits: 2, mantissaBits: 1, bias: 1, ieeeSpecials: false, fnuz: false, maxFinite: 6, nanBits: 0x8)

    var signBit: UInt8 { UInt8(1 << (exponentBits + mantissaBits)) }
    var isFloat4: Bool { exponentBits + mantissaBits == 3 }

    func decode(_ bits: UInt8) -> Double {
        if fnuz && bits == 0x80 { return .nan }
        let negative = bits & signBit != 0
        let magnitude = Int(bits & (signBit - 1))
        let exponent = magnitude >> mantissaBits, mantissa = magnitude & ((1 << mantissaBits) - 1)
        let allOnes = (1 << exponentBits) - 1
        var value: Double
        if !isFloat4 && !fnuz && exponent == allOnes && (ieeeSpecials || mantissa == (1 << mantissaBits) - 1) {
            value = ieeeSpecials && mantissa == 0 ? .infinity : .nan
        } else if exponent == 0 {
            value = Double(mantissa) * pow(2, Double(1 - bias - mantissaBits))
        } else {
            value = (1 + Double(mantissa) / Double(1 << mantissaBits)) * pow(2, Double(exponent - bias))
        }
        return negative ? -value : value
    }

    func encode(_ x: Double, saturate: Bool) -> UInt8 {
        if x.isNaN { return nanBits }
        let sign: UInt8 = x.sign == .minus ? signBit : 0
        let overflow: UInt8
        if saturate || isFloat4 { overflow = sign | encodeMagnitude(maxFinite) }
        else if ieeeSpecials { overflow = sign | UInt8((1 << exponentBits) - 1) << mantissaBits }
        else { overflow = nanBits | (fnuz ? 0 : sign) }
        let a = abs(x)
        if a.isInfinite { return overflow }
        // Round to the format's quantum at this magnitude (subnormal quantum below the normal range).
        let minNormalExponent = 1 - bias
        let e = a == 0 ? minNormalExponent : max(Int(floor(log2(a))), minNormalExponent)
        let quantum = pow(2, Double(e - mantissaBits))
        let r = (a / quantum).rounded(.toNearestOrEven) * quantum
        if r > maxFinite { return overflow }
        if r == 0 { return fnuz ? 0 : sign }
        return sign | encodeMagnitude(r)
    }

    /// Bits of an exactly representable positive value.
    private func encodeMagnitude(_ r: Double) -> UInt8 {
        let minNormal = pow(2, Double(1 - bias))
        if r < minNormal {
            return UInt8(r / pow(2, Double(1 - bias - mantissaBits)))
        }
        let e = Int(floor(log2(r)))
        let mantissa = Int(r / pow(2, Double(e - mantissaBits))) - (1 << mantissaBits)
        return UInt8(((e + bias) << mantissaBits) | mantissa)
    }
}

/// A float element in a `MiniFloatFormat`; `init(double:)` saturates (Cast's default).
public protocol MiniFloatElement: NarrowElement {
    static var format: MiniFloatFormat { get }
}

extension MiniFloatElement {
    public static var zero: Self { Self(bitPattern: 0) }
    public var doubleValue: Double { Self.format.decode(bitPattern) }
    public init(double: Double) { self.init(bitPattern: Self.format.encode(double, saturate: true)) }
    public init(double: Double, saturate: Bool) { self.init(bitPattern: Self.format.encode(double, saturate: saturate)) }
    public var int64Value: Int64 { let d = doubleValue; return d.isFinite ? Int64(d) : 0 }
    public init(int64: Int64) { self.init(double: Double(int64)) }
}

public struct Float8E4M3FN: MiniFloatElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var format: MiniFloatFormat { .e4m3fn }
    public static var dataType: DataType { .float8e4m3fn }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float8e4m3fn(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float8e4m3fn(let e) = s { e } else { nil } }
}
public struct Float8E4M3FNUZ: MiniFloatElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var format: MiniFloatFormat { .e4m3fnuz }
    public static var dataType: DataType { .float8e4m3fnuz }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float8e4m3fnuz(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float8e4m3fnuz(let e) = s { e } else { nil } }
}
public struct Float8E5M2: MiniFloatElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var format: MiniFloatFormat { .e5m2 }
    public static var dataType: DataType { .float8e5m2 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float8e5m2(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float8e5m2(let e) = s { e } else { nil } }
}
public struct Float8E5M2FNUZ: MiniFloatElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var format: MiniFloatFormat { .e5m2fnuz }
    public static var dataType: DataType { .float8e5m2fnuz }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float8e5m2fnuz(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float8e5m2fnuz(let e) = s { e } else { nil } }
}
public struct Float4E2M1: MiniFloatElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0xF }
    public static var format: MiniFloatFormat { .e2m1 }
    public static var dataType: DataType { .float4e2m1 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float4e2m1(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float4e2m1(let e) = s { e } else { nil } }
}

/// float8e8m0: a power of two `2^(bits - 127)`, 0xFF is NaN, no sign. Encoding takes the float32
/// exponent and rounds by `round_mode` (`up`: any fraction bumps it; `down`: truncate; `nearest`:
/// onnx's guard/round/sticky rule); `saturate` keeps a bump from reaching 0xFF.
public struct Float8E8M0: NarrowElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }
    public static var dataType: DataType { .float8e8m0 }
    public static var zero: Self { Self(bitPattern: 0) }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .float8e8m0(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .float8e8m0(let e) = s { e } else { nil } }
    public var doubleValue: Double { bitPattern == 0xFF ? .nan : pow(2, Double(Int(bitPattern) - 127)) }
    public init(double: Double) { self.init(double: double, saturate: true, roundMode: "up") }
    public init(double: Double, saturate: Bool, roundMode: String) {
        let bits = Float(double).bitPattern
        var exponent = Int((bits >> 23) & 0xFF)
        if exponent == 0xFF { self.init(bitPattern: 0xFF); return }
        var bump = false
        switch roundMode {
        case "nearest":
            let g = bits & 0x400000 != 0, r = bits & 0x200000 != 0, s = bits & 0x1FFFFF != 0
            bump = g && (r || s || exponent > 0)
        case "down": bump = false
        default: bump = bits & 0x7FFFFF != 0
        }
        if bump && !(saturate && exponent == 0xFE) { exponent += 1 }
        self.init(bitPattern: UInt8(truncatingIfNeeded: exponent))
    }
    public var int64Value: Int64 { let d = doubleValue; return d.isFinite ? Int64(d) : 0 }
    public init(int64: Int64) { self.init(double: Double(int64)) }
}

/// A 4- or 2-bit integer: casts truncate toward zero and wrap (numpy/ml_dtypes `astype`).
public protocol NarrowIntegerElement: NarrowElement {
    static var bits: Int { get }
    static var signed: Bool { get }
}

extension NarrowIntegerElement {
    public static var zero: Self { Self(bitPattern: 0) }
    public var int64Value: Int64 {
        let v = Int64(bitPattern)
        return Self.signed && v >= (1 << (Self.bits - 1)) ? v - (1 << Self.bits) : v
    }
    public init(int64: Int64) { self.init(bitPattern: UInt8(truncatingIfNeeded: int64) & UInt8((1 << Self.bits) - 1)) }
    public var doubleValue: Double { Double(int64Value) }
    public init(double: Double) {
        guard double.isFinite else { self.init(bitPattern: 0); return }
        let t = double.rounded(.towardZero)
        self.init(int64: abs(t) < 9.2e18 ? Int64(t) : 0)
    }
}

public struct Int4: NarrowIntegerElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0xF }
    public static var bits: Int { 4 }
    public static var signed: Bool { true }
    public static var dataType: DataType { .int4 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .int4(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .int4(let e) = s { e } else { nil } }
}
public struct UInt4: NarrowIntegerElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0xF }
    public static var bits: Int { 4 }
    public static var signed: Bool { false }
    public static var dataType: DataType { .uint4 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .uint4(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .uint4(let e) = s { e } else { nil } }
}
public struct Int2: NarrowIntegerElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0x3 }
    public static var bits: Int { 2 }
    public static var signed: Bool { true }
    public static var dataType: DataType { .int2 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .int2(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .int2(let e) = s { e } else { nil } }
}
public struct UInt2: NarrowIntegerElement {
    public var bitPattern: UInt8
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern & 0x3 }
    public static var bits: Int { 2 }
    public static var signed: Bool { false }
    public static var dataType: DataType { .uint2 }
    public static func wrap(_ e: ContiguousArray<Self>) -> TensorStorage { .uint2(e) }
    public static func unwrap(_ s: TensorStorage) -> ContiguousArray<Self>? { if case .uint2(let e) = s { e } else { nil } }
}
