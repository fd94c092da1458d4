import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct QuantizationTests {
    @Test func quantizeRoundsHalfToEvenAndSaturates() throws {
        let x = floats([6], [0, 1, 3, 5, 600, -600])
        let y = try runNode("QuantizeLinear", [x, floats([], [2]), TensorValue(shape: [], [UInt8(128)])], opset: 21)[0]
        // x / 2 = [0, 0.5, 1.5, 2.5, 300, -300] -> rint [0, 0, 2, 2, ...] + 128, clamped to [0, 255].
        #expect(y.elements(as: UInt8.self).map(Array.init) == [128, 128, 130, 130, 255, 0])
    }

    @Test func quantizePerAxisAndBlocked() throws {
        let x = floats([2, 4], [1, 2, 3, 4, 5, 6, 7, 8])
        let perAxis = try runNode("QuantizeLinear", [x, floats([2], [1, 2]), TensorValue(shape: [2], [Int8(0), Int8(1)])],
                                  attributes: [Attribute("axis", .int(0))], opset: 21)[0]
        #expect(perAxis.elements(as: Int8.self).map(Array.init) == [1, 2, 3, 4, 3, 4, 5, 5])
        let blocked = try runNode("QuantizeLinear", [x, floats([2, 2], [1, 2, 1, 4])],
                                  attributes: [Attribute("axis", .int(1)), Attribute("block_size", .int(2))], opset: 21)[0]
        #expect(blocked.elements(as: UInt8.self).map(Array.init) == [1, 2, 2, 2, 5, 6, 2, 2])
    }

    @Test func dequantizeSubtractsZeroPointAndScales() throws {
        let x = TensorValue(shape: [3], [UInt8(0), UInt8(3), UInt8(255)])
        let y = try runNode("DequantizeLinear", [x, floats([], [2]), TensorValue(shape: [], [UInt8(1)])], opset: 21)[0]
        #expect(y.floatValues == [-2, 4, 508])
    }

    @Test func dynamicQuantizeLinearMatchesReference() throws {
        // onnx reference: scale 0.0196078438, zero point 153, y [153, 255, 0, 26, 221, 179].
        let out = try runNode("DynamicQuantizeLinear", [floats([6], [0, 2, -3, -2.5, 1.34, 0.5])], outputs: 3, opset: 11)
        #expect(out[0].elements(as: UInt8.self).map(Array.init) == [153, 255, 0, 26, 221, 179])
        #expect(close(out[1].floatValues, [0.0196078438]))
        #expect(out[2].elements(as: UInt8.self).map(Array.init) == [153])
    }
}
