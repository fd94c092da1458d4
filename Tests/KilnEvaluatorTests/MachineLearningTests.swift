import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct MachineLearningAndTrainingModeTests {
    @Test func batchNormalizationTrainingModeUsesBatchStatistics() throws {
        // One channel [1, 3]: batch mean 2, variance 1; running mean 0.9 * 0 + 0.1 * 2.
        let out = try runNode("BatchNormalization", [floats([2, 1], [1, 3]), floats([1], [1]), floats([1], [0]), floats([1], [0]), floats([1], [1])],
                              attributes: [Attribute("training_mode", .int(1)), Attribute("epsilon", .float(0))], outputs: 3, opset: 15)
        #expect(close(out[0].floatValues, [-1, 1]))
        #expect(close(out[1].floatValues, [0.2]))
        #expect(close(out[2].floatValues, [1]))
    }

    @Test func binarizerFeatureExtractorAndLabelEncoder() throws {
        let ml = "ai.onnx.ml"
        #expect(try runNode("Binarizer", [floats([3], [-1, 0.5, 2])], attributes: [Attribute("threshold", .float(0.5))],
                            opset: 1, domain: ml)[0].floatValues == [0, 0, 1])
        let picked = try runNode("ArrayFeatureExtractor", [floats([2, 3], [1, 2, 3, 4, 5, 6]), int64s([2], [2, 0])], opset: 1, domain: ml)[0]
        #expect(picked.shape == [2, 2] && picked.floatValues == [3, 1, 6, 4])
        let encoded = try runNode("LabelEncoder", [TensorValue(shape: [3], ["a", "c", "b"])],
                                  attributes: [Attribute("keys_strings", .strings([Array("a".utf8), Array("b".utf8)])),
                                               Attribute("values_int64s", .ints([1, 2])), Attribute("default_int64", .int(-7))],
                                  opset: 2, domain: ml)[0]
        #expect(encoded.int64Values == [1, -7, 2])
    }
}
