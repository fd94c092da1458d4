import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct LossAndAttentionTests {
    @Test func negativeLogLikelihoodWeightsIgnoresAndReduces() throws {
        let x = floats([2, 3], [-1, -2, -3, -0.5, -1, -2]), t = int64s([2], [2, 0])
        // none, with weights: [-3 * -3, -1 * -0.5] = [9, 0.5]
        let none = try runNode("NegativeLogLikelihoodLoss", [x, t, floats([3], [1, 2, 3])],
                               attributes: [Attribute("reduction", .string(Array("none".utf8)))], opset: 13)[0]
        #expect(none.shape == [2])
        #expect(close(none.floatValues, [9, 0.5]))
        // mean with class 0 ignored: 3 / 1 (only the first sample counts).
        let mean = try runNode("NegativeLogLikelihoodLoss", [x, t], attributes: [Attribute("ignore_index", .int(0))], opset: 13)[0]
        #expect(mean.shape == [])
        #expect(close(mean.floatValues, [3]))
        // weighted mean: (9 + 0.5) / (3 + 1)
        #expect(close(try runNode("NegativeLogLikelihoodLoss", [x, t, floats([3], [1, 2, 3])], opset: 13)[0].floatValues, [2.375]))
    }

    @Test func softmaxCrossEntropyMatchesNumpy() throws {
        let x = floats([2, 3], [1, 2, 3, 1, 1, 1]), t = int64s([2], [2, 0])
        // numpy (onnx reference): mean 0.75310916; weighted sum 2.3214302.
        let out = try runNode("SoftmaxCrossEntropyLoss", [x, t], outputs: 2, opset: 13)
        #expect(close(out[0].floatValues, [0.75310916]))
        #expect(out[1].shape == [2, 3])
        #expect(close(out[1].floatValues[3...].map { $0 }, [-1.0986123, -1.0986123, -1.0986123]))
        let sum = try runNode("SoftmaxCrossEntropyLoss", [x, t, floats([3], [1, 2, 3])],
                              attributes: [Attribute("reduction", .string(Array("sum".utf8)))], opset: 13)[0]
        #expect(close(sum.floatValues, [2.3214302]))
    }

    @Test func rmsNormalizationDividesByRootMeanSquare() throws {
        // rms([3, 4]) = sqrt(12.5); scale [1, 2].
        let y = try runNode("RMSNormalization", [floats([1, 2], [3, 4]), floats([2], [1, 2])],
                            attributes: [Attribute("epsilon", .float(0))], opset: 23)[0]
        #expect(close(y.floatValues, [3 / 12.5.squareRoot(), 8 / 12.5.squareRoot()].map { Float($0) }))
    }

    @Test func attentionCausalAndUnmaskedMatchReference() throws {
        let q = floats([1, 1, 2, 2], [1, 0, 0, 1]), k = q, v = floats([1, 1, 2, 2], [1, 2, 3, 4])
        // onnx reference (_compute_attention), scale 1/sqrt(2).
        let plain = try runNode("Attention", [q, k, v], opset: 23)[0]
        #expect(close(plain.floatValues, [1.6604767, 2.6604767, 2.3395231, 3.3395228]))
        let causal = try runNode("Attention", [q, k, v], attributes: [Attribute("is_causal", .int(1))], opset: 23)[0]
        #expect(close(causal.floatValues, [1, 2, 2.3395231, 3.3395228]))
    }

    @Test func flexAttentionWithoutModsIsPlainAttention() throws {
        let q = floats([1, 1, 2, 2], [1, 0, 0, 1]), v = floats([1, 1, 2, 2], [1, 2, 3, 4])
        let y = try runNode("FlexAttention", [q, q, v], opset: 1, domain: "ai.onnx.preview")[0]
        #expect(close(y.floatValues, [1.6604767, 2.6604767, 2.3395231, 3.3395228]))
    }

    @Test func attentionBoolMaskAndFullyMaskedRow() throws {
        let q = floats([1, 1, 2, 2], [1, 0, 0, 1]), v = floats([1, 1, 2, 2], [1, 2, 3, 4])
        // Row 0 sees only key 1; row 1 sees nothing, which gives zeros.
        let mask = TensorValue(shape: [2, 2], [false, true, false, false])
        let out = try runNode("Attention", [q, q, v, mask], attributes: [Attribute("qk_matmul_output_mode", .int(3))],
                              outputs: 4, opset: 23)
        #expect(close(out[0].floatValues, [3, 4, 0, 0]))
        #expect(close(out[3].floatValues, [0, 1, 0, 0]))
    }
}

@Suite struct RecurrentStateTests {
    @Test func causalConvCarriesState() throws {
        let x = floats([1, 1, 3], [1, 2, 3]), w = floats([1, 1, 2], [1, 1])
        // padded [0, 1, 2, 3] -> pairwise sums [1, 3, 5]; the state is the last K - 1 = 1 step.
        let out = try runNode("CausalConvWithState", [x, w], outputs: 2, opset: 27)
        #expect(out[0].floatValues == [1, 3, 5])
        #expect(out[1].floatValues == [3])
        let withPast = try runNode("CausalConvWithState", [x, w, nil, floats([1, 1, 1], [5])], outputs: 2, opset: 27)
        #expect(withPast[0].floatValues == [6, 3, 5])
    }

    @Test func linearAttentionLinearAndGatedRules() throws {
        let q = floats([1, 2, 1], [1, 1]), k = floats([1, 2, 1], [1, 1]), v = floats([1, 2, 1], [2, 3])
        let heads = [Attribute("q_num_heads", .int(1)), Attribute("kv_num_heads", .int(1)), Attribute("scale", .float(1))]
        // Linear: S = 2, then 5.
        let linear = try runNode("LinearAttention", [q, k, v], attributes: heads + [Attribute("update_rule", .string(Array("linear".utf8)))],
                                 outputs: 2, opset: 27)
        #expect(close(linear[0].floatValues, [2, 5]))
        #expect(close(linear[1].floatValues, [5]))
        // Gated with decay log(0.5): S = 2, then 2 * 0.5 + 3 = 4.
        let decay = floats([1, 2, 1], [Float(log(0.5)), Float(log(0.5))])
        let gated = try runNode("LinearAttention", [q, k, v, nil, decay], attributes: heads + [Attribute("update_rule", .string(Array("gated".utf8)))],
                                outputs: 2, opset: 27)
        #expect(close(gated[0].floatValues, [2, 4]))
    }
}
