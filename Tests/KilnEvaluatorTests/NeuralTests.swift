import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct NeuralTests {
    @Test func softmaxAxisSemanticsChangedInOpset13() throws {
        let x = floats([2, 2], [0, 0, 0, 0])
        // Opset 11: coerced to 2-D at axis 0, one softmax over all four elements.
        #expect(close(try runNode("Softmax", [x], attributes: [Attribute("axis", .int(0))], opset: 11)[0].floatValues,
                      [0.25, 0.25, 0.25, 0.25]))
        // Opset 13: along axis 0 only.
        #expect(close(try runNode("Softmax", [x], attributes: [Attribute("axis", .int(0))], opset: 13)[0].floatValues,
                      [0.5, 0.5, 0.5, 0.5]))
        #expect(close(try runNode("LogSoftmax", [floats([2], [1, 1])], opset: 13)[0].floatValues, [-0.6931472, -0.6931472]))
    }

    @Test func matMulBroadcastsBatchesAndPromotesVectors() throws {
        let a = floats([2, 1, 2], [1, 2, 3, 4]), b = floats([2, 2], [1, 0, 0, 1])
        let y = try runNode("MatMul", [a, b])[0]
        #expect(y.shape == [2, 1, 2])
        #expect(y.floatValues == [1, 2, 3, 4])
        let v = try runNode("MatMul", [floats([2], [1, 1]), floats([2, 3], [1, 2, 3, 4, 5, 6])])[0]
        #expect(v.shape == [3])
        #expect(v.floatValues == [5, 7, 9])
        let ints = try runNode("MatMul", [int64s([1, 2], [2, 3]), int64s([2, 1], [4, 5])])[0]
        #expect(ints.int64Values == [23])
    }

    @Test func gemmTransposesScalesAndAddsC() throws {
        let a = floats([2, 1], [1, 2]), b = floats([2, 2], [1, 2, 3, 4])
        let y = try runNode("Gemm", [a, b, floats([1], [10])],
                            attributes: [Attribute("transA", .int(1)), Attribute("alpha", .float(2)), Attribute("beta", .float(0.5))])[0]
        // A^T B = [1*1+2*3, 1*2+2*4] = [7, 10]; 2*[7,10] + 0.5*10
        #expect(y.floatValues == [19, 25])
    }

    @Test func batchNormalizationInference() throws {
        let x = floats([1, 2, 1, 1], [1, 2])
        let y = try runNode("BatchNormalization", [x, floats([2], [1, 2]), floats([2], [0, 1]), floats([2], [1, 0]), floats([2], [1, 4])],
                            attributes: [Attribute("epsilon", .float(0))], opset: 15)[0]
        #expect(close(y.floatValues, [0, 3]))
    }

    @Test func layerNormalizationReturnsStatistics() throws {
        let out = try runNode("LayerNormalization", [floats([1, 2], [1, 3]), floats([2], [1, 1]), floats([2], [0, 0])],
                              attributes: [Attribute("epsilon", .float(0))], outputs: 3, opset: 17)
        #expect(close(out[0].floatValues, [-1, 1]))
        #expect(out[1].floatValues == [2])
        #expect(close(out[2].floatValues, [1]))
    }
}
