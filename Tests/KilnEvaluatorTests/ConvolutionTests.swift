import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct ConvolutionTests {
    // 1x1x3x3 input 0...8
    let x = floats([1, 1, 3, 3], (0..<9).map(Float.init))

    @Test func convWithPaddingAndBias() throws {
        let w = floats([1, 1, 2, 2], [1, 1, 1, 1])
        let y = try runNode("Conv", [x, w, floats([1], [100])], attributes: [Attribute("pads", .ints([0, 0, 1, 1]))])[0]
        // 2x2 window sums; right and bottom edge windows read the zero padding.
        #expect(y.shape == [1, 1, 3, 3])
        #expect(y.floatValues == [108, 112, 107, 120, 124, 113, 113, 115, 108])
    }

    @Test func groupedConvAndSameUpper() throws {
        let two = floats([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40])
        let w = floats([2, 1, 1, 1], [1, -1])
        let y = try runNode("Conv", [two, w], attributes: [Attribute("group", .int(2))])[0]
        #expect(y.floatValues == [1, 2, 3, 4, -10, -20, -30, -40])
        let same = try runNode("Conv", [x, floats([1, 1, 3, 3], [Float](repeating: 1, count: 9))],
                               attributes: [Attribute("auto_pad", .string(Array("SAME_UPPER".utf8))), Attribute("strides", .ints([2, 2]))])[0]
        #expect(same.shape == [1, 1, 2, 2])
        #expect(same.floatValues == [8, 12, 20, 24])
    }

    @Test func maxPoolWithIndicesAndAveragePoolExcludingPads() throws {
        let k = Attribute("kernel_shape", .ints([2, 2]))
        let m = try runNode("MaxPool", [x], attributes: [k], outputs: 2)
        #expect(m[0].floatValues == [4, 5, 7, 8])
        #expect(m[1].int64Values == [4, 5, 7, 8])
        let a = try runNode("AveragePool", [x], attributes: [k, Attribute("pads", .ints([1, 1, 0, 0]))])[0]
        // Top-left window holds only x[0]: the pads are not counted.
        #expect(a.shape == [1, 1, 3, 3])
        #expect(a.floatValues == [0, 0.5, 1.5, 1.5, 2, 3, 4.5, 5, 6])
        let counted = try runNode("AveragePool", [x], attributes: [k, Attribute("pads", .ints([1, 1, 0, 0])),
                                                                   Attribute("count_include_pad", .int(1))])[0]
        #expect(counted.floatValues[0] == 0 && counted.floatValues[1] == 0.25)
        let ceil = try runNode("MaxPool", [x], attributes: [k, Attribute("strides", .ints([2, 2])), Attribute("ceil_mode", .int(1))])[0]
        #expect(ceil.shape == [1, 1, 2, 2])
        #expect(ceil.floatValues == [4, 5, 7, 8])
    }

    @Test func globalPools() throws {
        #expect(try runNode("GlobalAveragePool", [x])[0].floatValues == [4])
        #expect(try runNode("GlobalMaxPool", [x])[0].shape == [1, 1, 1, 1])
    }
}
