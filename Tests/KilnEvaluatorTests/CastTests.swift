import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct CastTests {
    func cast(_ x: TensorValue, _ to: DataType) throws -> TensorValue {
        try runNode("Cast", [x], attributes: [Attribute("to", .int(Int64(to.rawValue)))])[0]
    }

    @Test func floatToIntTruncatesTowardZero() throws {
        #expect(try cast(floats([4], [1.7, -1.7, 300, -0.2]), .int32).elements(as: Int32.self)! == [1, -1, 300, 0])
    }

    @Test func integersWrapLikeNumpy() throws {
        #expect(try cast(int64s([2], [300, -1]), .uint8).elements(as: UInt8.self)! == [44, 255])
    }

    @Test func floatToFloat16RoundsToNearest() throws {
        let y = try cast(floats([2], [1.0009765625, 65520]), .float16)
        #expect(y.elements(as: Float16.self)! == [Float16(1.0009765625), Float16.infinity])
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(BFloat16(Float(1.00390625)).floatValue == 1)          // halfway: to even
        #expect(BFloat16(Float(1.01171875)).floatValue == 1.015625)   // halfway: to even (up)
        #expect(BFloat16(Float(3)).floatValue == 3)
    }

    @Test func stringsParseAndPrint() throws {
        let s = TensorValue(shape: [3], ["1.5", "-INF", "NaN"])
        let f = try cast(s, .float).floatValues
        #expect(f[0] == 1.5 && f[1] == -.infinity && f[2].isNaN)
        #expect(try cast(floats([2], [0.1, 2]), .string).elements(as: String.self)! == ["0.1", "2.0"])
    }

    @Test func boolFromFloatIsNonzero() throws {
        #expect(try cast(floats([3], [0, 0.5, -2]), .bool).elements(as: Bool.self)! == [false, true, true])
    }

    @Test func unsupportedTargetIsRefusedByName() throws {
        do {
            _ = try cast(floats([1], [1]), .float6e2m3)
            Issue.record("expected an error")
        } catch let e as KilnError {
            #expect(e.code == .unsupported)
            #expect(e.message.contains("float6e2m3"))
        }
    }

    @Test func float8RoundsToNearestEvenAndSaturates() throws {
        // Values from the ONNX suite (test_cast_FLOAT_to_FLOAT8E4M3FN / _E5M2).
        let x = floats([5], [0.4789254665, 0.7229037881, 1e6, -.infinity, -1e-7])
        #expect(try cast(x, .float8e4m3fn).doubles == [0.46875, 0.75, 448, -448, 0])
        #expect(try cast(x, .float8e5m2).doubles == [0.5, 0.75, 57344, -57344, 0])
        // e4m3fn: 0.46875 = 0 0101 111 -> 0x2F; 448 -> 0x7E.
        #expect(try cast(x, .float8e4m3fn).elements(as: Float8E4M3FN.self)!.map(\.bitPattern)[0...2] == [0x2F, 0x34, 0x7E])
    }

    @Test func float8WithoutSaturationOverflowsToInfinityOrNaN() throws {
        let x = floats([2], [1e6, 0.5])
        let e5m2 = try runNode("Cast", [x], attributes: [Attribute("to", .int(Int64(DataType.float8e5m2.rawValue))), Attribute("saturate", .int(0))])[0]
        #expect(e5m2.doubles == [.infinity, 0.5])
        let fnuz = try runNode("Cast", [x], attributes: [Attribute("to", .int(Int64(DataType.float8e4m3fnuz.rawValue))), Attribute("saturate", .int(0))])[0]
        #expect(fnuz.doubles[0].isNaN && fnuz.doubles[1] == 0.5)
    }

    @Test func float4AndNarrowIntegers() throws {
        // float4e2m1 holds 0, 0.5, 1, 1.5, 2, 3, 4, 6; ties go to even; NaN becomes -0 (ml_dtypes).
        let f4 = try cast(floats([5], [1.05, -3.5, 9, 0.25, .nan]), .float4e2m1).doubles
        #expect(f4 == [1, -4, 6, 0, 0] && f4[4].sign == .minus)
        // int4/uint2 truncate and wrap like numpy astype.
        #expect(try cast(floats([4], [-9, 8, 7.9, -1.5]), .int4).int64s == [7, -8, 7, -1])
        #expect(try cast(floats([3], [-1, 4, 3]), .uint2).int64s == [3, 0, 3])
    }

    @Test func narrowTypesRoundTripThroughPackedRawData() throws {
        let t = try cast(int64s([3], [-8, 7, -1]), .int4)
        let back = try TensorValue(t.irTensor())
        #expect(back.int64s == [-8, 7, -1])
        let ir = t.irTensor()
        if case .raw(let bytes) = ir.storage { #expect(bytes.count == 2) } else { Issue.record("expected raw_data") }
    }

    @Test func bitCastReinterpretsBytes() throws {
        let y = try runNode("BitCast", [floats([2], [1, -2])], attributes: [Attribute("to", .int(Int64(DataType.int32.rawValue)))], opset: 26)[0]
        #expect(y.elements(as: Int32.self).map(Array.init) == [0x3F80_0000, Int32(bitPattern: 0xC000_0000)])
    }
}
