import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct TrainingTests {
    @Test func adagradAndMomentumSteps() throws {
        let r = floats([], [0.1]), t = int64s([], [0])
        // Adagrad: H' = 0 + 1^2, X' = 1 - 0.1 * 1 / (1 + 1e-6).
        let a = try runNode("Adagrad", [r, t, floats([1], [1]), floats([1], [1]), floats([1], [0])], outputs: 2,
                            opset: 1, domain: "ai.onnx.preview.training")
        #expect(close(a[0].floatValues, [0.9000001]))
        #expect(a[1].floatValues == [1])
        // Momentum (standard, T = 0 so beta counts as 1): V' = 0.9 * 2 + 1 = 2.8, X' = 1 - 0.28.
        let m = try runNode("Momentum", [r, t, floats([1], [1]), floats([1], [1]), floats([1], [2])],
                            attributes: [Attribute("alpha", .float(0.9)), Attribute("beta", .float(0.5)),
                                         Attribute("norm_coefficient", .float(0)), Attribute("mode", .string(Array("standard".utf8)))],
                            outputs: 2, opset: 1, domain: "ai.onnx.preview.training")
        #expect(close(m[0].floatValues, [0.72]))
        #expect(close(m[1].floatValues, [2.8]))
    }
}
