import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct ElementwiseTests {
    @Test func addBroadcastsRowAgainstMatrix() throws {
        let y = try runNode("Add", [floats([2, 3], [1, 2, 3, 4, 5, 6]), floats([3], [10, 20, 30])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.floatValues == [11, 22, 33, 14, 25, 36])
    }

    @Test func mulBroadcastsBothWays() throws {
        // [2,1] x [1,3] -> [2,3]
        let y = try runNode("Mul", [floats([2, 1], [2, 3]), floats([1, 3], [1, 10, 100])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.floatValues == [2, 20, 200, 3, 30, 300])
    }

    @Test func mismatchedShapesNameTheNode() throws {
        #expect(throws: KilnError.self) { try runNode("Sub", [floats([2], [1, 2]), floats([3], [1, 2, 3])]) }
        do {
            _ = try runNode("Sub", [floats([2], [1, 2]), floats([3], [1, 2, 3])])
        } catch let e as KilnError {
            #expect(e.message.contains("Sub 'n'"))
            #expect(e.message.contains("do not broadcast"))
        }
    }

    @Test func integerDivisionTruncatesAndModFollowsFmod() throws {
        let a = int64s([4], [7, -7, 7, -7]), b = int64s([4], [2, 2, -2, -2])
        #expect(try runNode("Div", [a, b])[0].int64Values == [3, -3, -3, 3])
        // fmod=0: sign of the divisor (Python %); fmod=1: sign of the dividend (C fmod).
        #expect(try runNode("Mod", [a, b])[0].int64Values == [1, 1, -1, -1])
        #expect(try runNode("Mod", [a, b], attributes: [Attribute("fmod", .int(1))])[0].int64Values == [1, -1, 1, -1])
    }

    @Test func powAcceptsAnIntegerExponent() throws {
        let y = try runNode("Pow", [floats([3], [2, 3, 4]), int64s([1], [2])])[0]
        #expect(y.floatValues == [4, 9, 16])
    }

    @Test func variadicMeanAndMaxBroadcast() throws {
        let a = floats([2], [1, 5]), b = floats([1], [3]), c = floats([2], [2, 1])
        #expect(try runNode("Mean", [a, b, c])[0].floatValues == [2, 3])
        #expect(try runNode("Max", [a, b, c])[0].floatValues == [3, 5])
    }

    @Test func unaryFloatFunctions() throws {
        let x = floats([3], [-1, 0, 2])
        #expect(close(try runNode("Sigmoid", [x])[0].floatValues, [0.26894142, 0.5, 0.88079708]))
        #expect(try runNode("Relu", [x])[0].floatValues == [0, 0, 2])
        #expect(close(try runNode("LeakyRelu", [x], attributes: [Attribute("alpha", .float(0.1))])[0].floatValues, [-0.1, 0, 2]))
        #expect(close(try runNode("Elu", [x])[0].floatValues, [-0.63212056, 0, 2]))
        #expect(close(try runNode("Erf", [x])[0].floatValues, [-0.84270079, 0, 0.99532227]))
        #expect(try runNode("Abs", [int64s([2], [-3, 4])])[0].int64Values == [3, 4])
    }

    @Test func roundIsHalfToEven() throws {
        #expect(try runNode("Round", [floats([4], [0.5, 1.5, 2.5, -0.5])])[0].floatValues == [0, 2, 2, -0])
    }

    @Test func float16ComputesInWideTypeAndRoundsOnce() throws {
        let x = TensorValue(shape: [2], [Float16(1), Float16(2)])
        let y = try runNode("Exp", [x])[0]
        #expect(y.dataType == .float16)
        #expect(y.elements(as: Float16.self)! == [Float16(2.71875), Float16(7.390625)])
    }

    @Test func comparisonsAndWhere() throws {
        let a = floats([3], [1, 2, 3]), b = floats([1], [2])
        let less = try runNode("Less", [a, b])[0]
        #expect(less.elements(as: Bool.self)! == [true, false, false])
        let y = try runNode("Where", [less, a, floats([1], [0])])[0]
        #expect(y.floatValues == [1, 0, 0])
    }

    @Test func clipUsesAttributesBeforeOpset11AndInputsAfter() throws {
        let x = floats([3], [-2, 0.5, 2])
        let v6 = try runNode("Clip", [x], attributes: [Attribute("min", .float(-1)), Attribute("max", .float(1))], opset: 6)[0]
        #expect(v6.floatValues == [-1, 0.5, 1])
        let v13 = try runNode("Clip", [x, floats([], [0]), nil], opset: 13)[0]
        #expect(v13.floatValues == [0, 0.5, 2])
    }

    @Test func bitShiftOutOfRange() throws {
        let a = TensorValue(shape: [2], [Int32(-8), 4]), b = TensorValue(shape: [2], [Int32(40), 1])
        let y = try runNode("BitShift", [a, b], attributes: [Attribute("direction", .string(Array("RIGHT".utf8)))])[0]
        #expect(y.elements(as: Int32.self)! == [-1, 2])
    }
}
