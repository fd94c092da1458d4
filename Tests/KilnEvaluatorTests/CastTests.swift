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
            _ = try cast(floats([1], [1]), .float8e4m3fn)
            Issue.record("expected an error")
        } catch let e as KilnError {
            #expect(e.code == .unsupported)
            #expect(e.message.contains("float8e4m3fn"))
        }
    }
}
