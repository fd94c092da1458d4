import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct ConvolutionFamilyTests {
    @Test func convIntegerAndQLinearConv() throws {
        let x = TensorValue(shape: [1, 1, 3], [UInt8(2), UInt8(3), UInt8(4)]), w = TensorValue(shape: [1, 1, 2], [UInt8(1), UInt8(1)])
        // (x - 1) = [1, 2, 3] convolved with [1, 1] -> [3, 5].
        let y = try runNode("ConvInteger", [x, w, TensorValue(shape: [], [UInt8(1)])], opset: 10)[0]
        #expect(y.elements(as: Int32.self).map(Array.init) == [3, 5])
        // [3, 5] * (0.5 * 2 / 0.5) + 1 = [7, 11].
        let q = try runNode("QLinearConv", [x, floats([], [0.5]), TensorValue(shape: [], [UInt8(1)]), w, floats([], [2]),
                                            TensorValue(shape: [], [UInt8(0)]), floats([], [0.5]), TensorValue(shape: [], [UInt8(1)])], opset: 10)[0]
        #expect(q.elements(as: UInt8.self).map(Array.init) == [7, 11])
    }

    @Test func col2ImAddsOverlappingBlocks() throws {
        // Image of 3, blocks of 2 at positions 0 and 1: columns [a0, a1] and [b0, b1].
        let x = floats([1, 2, 2], [1, 10, 2, 20])  // rows: tap 0 -> [1, 10], tap 1 -> [2, 20]
        let y = try runNode("Col2Im", [x, int64s([1], [3]), int64s([1], [2])], opset: 18)[0]
        #expect(y.shape == [1, 1, 3])
        #expect(y.floatValues == [1, 12, 20])
    }

    @Test func tensorScatterAndMaxUnpool() throws {
        // Cache [1, 4, 1]; write two steps at index 3: linear overflows, circular wraps to 0.
        let past = floats([1, 4, 1], [0, 0, 0, 0]), update = floats([1, 2, 1], [7, 8])
        let circular = try runNode("TensorScatter", [past, update, int64s([1], [3])],
                                   attributes: [Attribute("mode", .string(Array("circular".utf8)))], opset: 24)[0]
        #expect(circular.floatValues == [8, 0, 0, 7])
        #expect(try runNode("TensorScatter", [past, update, int64s([1], [1])], opset: 24)[0].floatValues == [0, 7, 8, 0])
        #expect(throws: KilnError.self) { try runNode("TensorScatter", [past, update, int64s([1], [3])], opset: 24) }
        // MaxUnpool: values back at their argmax positions of a [1, 1, 4] input pooled by 2.
        let y = try runNode("MaxUnpool", [floats([1, 1, 2], [5, 6]), int64s([1, 1, 2], [1, 2])],
                            attributes: [Attribute("kernel_shape", .ints([2])), Attribute("strides", .ints([2]))], opset: 11)[0]
        #expect(y.floatValues == [0, 5, 6, 0])
    }

    @Test func affineGridIdentityGivesPixelCentres() throws {
        let theta = floats([1, 2, 3], [1, 0, 0, 0, 1, 0])
        let g = try runNode("AffineGrid", [theta, int64s([4], [1, 1, 1, 2])], opset: 20)[0]
        #expect(g.shape == [1, 1, 2, 2])
        #expect(close(g.floatValues, [-0.5, 0, 0.5, 0]))
    }
}
