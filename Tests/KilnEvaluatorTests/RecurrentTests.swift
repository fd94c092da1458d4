import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct RecurrentTests {
    @Test func rnnForwardAndReverse() throws {
        let x = floats([2, 1, 1], [1, 2]), w = floats([1, 1, 1], [1]), r = floats([1, 1, 1], [0.5])
        // h1 = tanh(1), h2 = tanh(2 + 0.5 h1).
        let out = try runNode("RNN", [x, w, r], attributes: [Attribute("hidden_size", .int(1))], outputs: 2)
        #expect(out[0].shape == [2, 1, 1, 1])
        #expect(close(out[0].floatValues, [0.7615942, 0.9830411]))
        #expect(close(out[1].floatValues, [0.9830411]))
        // Reverse: step 1 first (tanh 2), then step 0; outputs stay at their time steps.
        let rev = try runNode("RNN", [x, w, r], attributes: [Attribute("hidden_size", .int(1)),
                                                             Attribute("direction", .string(Array("reverse".utf8)))], outputs: 2)
        #expect(close(rev[0].floatValues, [Float(tanh(1 + 0.5 * tanh(2.0))), Float(tanh(2.0))]))
    }

    @Test func gruAndLstmWithZeroWeightsDecayTheState() throws {
        let x = floats([2, 1, 1], [3, 4])
        // GRU: z = r = 0.5, candidate tanh(0) = 0, so H = 0.5 H each step from H0 = 1.
        let gru = try runNode("GRU", [x, floats([1, 3, 1], [0, 0, 0]), floats([1, 3, 1], [0, 0, 0]), nil, nil, floats([1, 1, 1], [1])],
                              attributes: [Attribute("hidden_size", .int(1))], outputs: 2)
        #expect(close(gru[0].floatValues, [0.5, 0.25]))
        // LSTM: i = f = o = 0.5, candidate 0: C = 0.5 C0 = 0.5, H = 0.5 tanh(0.5) after one step.
        let lstm = try runNode("LSTM", [floats([1, 1, 1], [3]), floats([1, 4, 1], [0, 0, 0, 0]), floats([1, 4, 1], [0, 0, 0, 0]),
                                        nil, nil, nil, floats([1, 1, 1], [1])],
                               attributes: [Attribute("hidden_size", .int(1))], outputs: 3)
        #expect(close(lstm[1].floatValues, [0.23105858]))
        #expect(close(lstm[2].floatValues, [0.5]))
    }
}
