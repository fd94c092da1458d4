import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct ResizeEinsumAndDetectionTests {
    @Test func resizeNearestAndLinear() throws {
        let x = floats([1, 1, 1, 2], [1, 2])
        // half_pixel, round_prefer_floor: sources -0.25, 0.25, 0.75, 1.25 -> 0, 0, 1, 1.
        let nearest = try runNode("Resize", [x, nil, floats([4], [1, 1, 1, 2])], opset: 19)[0]
        #expect(nearest.shape == [1, 1, 1, 4])
        #expect(nearest.floatValues == [1, 1, 2, 2])
        // align_corners linear to 4 points between 0 and 3.
        let linear = try runNode("Resize", [floats([1, 1, 1, 2], [0, 3]), nil, nil, int64s([4], [1, 1, 1, 4])],
                                 attributes: [Attribute("mode", .string(Array("linear".utf8))),
                                              Attribute("coordinate_transformation_mode", .string(Array("align_corners".utf8)))],
                                 opset: 19)[0]
        #expect(close(linear.floatValues, [0, 1, 2, 3]))
    }

    @Test func einsumContractionsDiagonalsAndEllipsis() throws {
        let a = floats([2, 2], [1, 2, 3, 4]), b = floats([2, 2], [5, 6, 7, 8])
        func einsum(_ eq: String, _ xs: [TensorValue]) throws -> TensorValue {
            try runNode("Einsum", xs, attributes: [Attribute("equation", .string(Array(eq.utf8)))], opset: 12)[0]
        }
        #expect(try einsum("ij,jk->ik", [a, b]).floatValues == [19, 22, 43, 50])
        #expect(try einsum("ii->i", [a]).floatValues == [1, 4])
        #expect(try einsum("ij->", [a]).floatValues == [10])
        #expect(try einsum("ij", [a]).floatValues == [1, 2, 3, 4])
        let t = try einsum("...ij->...ji", [floats([1, 2, 2], [1, 2, 3, 4])])
        #expect(t.shape == [1, 2, 2] && t.floatValues == [1, 3, 2, 4])
    }

    @Test func nonMaxSuppressionDropsOverlaps() throws {
        let boxes = floats([1, 3, 4], [0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 10, 1, 11])
        let scores = floats([1, 1, 3], [0.9, 0.8, 0.7])
        let y = try runNode("NonMaxSuppression", [boxes, scores, int64s([1], [3]), floats([1], [0.5])], opset: 11)[0]
        #expect(y.shape == [2, 3])
        #expect(y.int64Values == [0, 0, 0, 0, 0, 2])
    }

    @Test func uniqueSortedAndInFirstOccurrenceOrder() throws {
        let x = floats([6], [2, 1, 1, 3, 4, 3])
        let s = try runNode("Unique", [x], outputs: 4, opset: 11)
        #expect(s[0].floatValues == [1, 2, 3, 4])
        #expect(s[1].int64Values == [1, 0, 3, 4])
        #expect(s[2].int64Values == [1, 0, 0, 2, 3, 2])
        #expect(s[3].int64Values == [2, 1, 2, 1])
        let u = try runNode("Unique", [x], attributes: [Attribute("sorted", .int(0))], outputs: 4, opset: 11)
        #expect(u[0].floatValues == [2, 1, 3, 4])
        #expect(u[2].int64Values == [0, 1, 1, 2, 3, 2])
    }
}
