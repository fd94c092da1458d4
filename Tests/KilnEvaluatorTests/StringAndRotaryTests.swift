import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct StringAndRotaryTests {
    func strings(_ shape: [Int], _ values: [String]) -> TensorValue { TensorValue(shape: shape, values) }
    func text(_ s: String) -> Attribute.Value { .string(Array(s.utf8)) }

    @Test func stringSplitPadsAndCounts() throws {
        let out = try runNode("StringSplit", [strings([2], ["a,b,,c", "d"])], attributes: [Attribute("delimiter", text(","))],
                              outputs: 2, opset: 20)
        #expect(out[0].shape == [2, 4])
        #expect(out[0].elements(as: String.self).map(Array.init) == ["a", "b", "", "c", "d", "", "", ""])
        #expect(out[1].int64Values == [4, 1])
        // Whitespace splitting collapses runs; maxsplit keeps the rest whole.
        #expect(StringKernels.split("  a  b c ", delimiter: "", maxSplit: nil) == ["a", "b", "c"])
        #expect(StringKernels.split("  a  b c ", delimiter: "", maxSplit: 1) == ["a", "b c "])
    }

    @Test func stringNormalizerAndRegex() throws {
        let y = try runNode("StringNormalizer", [strings([3], ["Monday", "the", "BIG"])],
                            attributes: [Attribute("case_change_action", text("LOWER")),
                                         Attribute("stopwords", .strings([Array("THE".utf8)]))], opset: 10)[0]
        #expect(y.elements(as: String.self).map(Array.init) == ["monday", "big"])
        let m = try runNode("RegexFullMatch", [strings([3], ["www.google.com", "www.bbc.co.uk", "x"])],
                            attributes: [Attribute("pattern", text("www\\.[\\w.-]+\\.\\bcom\\b"))], opset: 20)[0]
        #expect(m.elements(as: Bool.self).map(Array.init) == [true, false, false])
        let c = try runNode("StringConcat", [strings([2], ["a", "b"]), strings([], ["!"])], opset: 20)[0]
        #expect(c.elements(as: String.self).map(Array.init) == ["a!", "b!"])
    }

    @Test func rotaryEmbeddingRotatesPairs() throws {
        // One head of size 2 at position 1, angle 90 degrees: (x1, x2) -> (-x2, x1).
        let x = floats([1, 1, 1, 2], [1, 2])
        let cosCache = floats([2, 1], [1, 0]), sinCache = floats([2, 1], [0, 1])
        let y = try runNode("RotaryEmbedding", [x, cosCache, sinCache, int64s([1, 1], [1])], opset: 23)[0]
        #expect(close(y.floatValues, [-2, 1]))
    }
}
