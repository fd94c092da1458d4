import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct ShapeAndMovementTests {
    let x = floats([2, 3], [1, 2, 3, 4, 5, 6])

    @Test func reshapeCopiesZerosAndInfersMinusOne() throws {
        #expect(try runNode("Reshape", [x, int64s([2], [0, -1])])[0].shape == [2, 3])
        #expect(try runNode("Reshape", [x, int64s([2], [-1, 2])])[0].shape == [3, 2])
        #expect(throws: KilnError.self) { try runNode("Reshape", [x, int64s([2], [4, -1])]) }
    }

    @Test func unsqueezeAxesAttributeThenInput() throws {
        #expect(try runNode("Unsqueeze", [x], attributes: [Attribute("axes", .ints([0, 3]))], opset: 11)[0].shape == [1, 2, 3, 1])
        #expect(try runNode("Unsqueeze", [x, int64s([1], [-1])], opset: 13)[0].shape == [2, 3, 1])
        #expect(try runNode("Squeeze", [floats([1, 2, 1], [1, 2]), int64s([1], [0])], opset: 13)[0].shape == [2, 1])
    }

    @Test func transposeAndConcat() throws {
        let t = try runNode("Transpose", [x])[0]
        #expect(t.shape == [3, 2])
        #expect(t.floatValues == [1, 4, 2, 5, 3, 6])
        let c = try runNode("Concat", [x, floats([2, 1], [7, 8])], attributes: [Attribute("axis", .int(1))])[0]
        #expect(c.shape == [2, 4])
        #expect(c.floatValues == [1, 2, 3, 7, 4, 5, 6, 8])
    }

    @Test func sliceWithNegativeStepAndClampedEnds() throws {
        let y = try runNode("Slice", [x, int64s([1], [-1]), int64s([1], [Int64.min]), int64s([1], [1]), int64s([1], [-2])])[0]
        #expect(y.shape == [2, 2])
        #expect(y.floatValues == [3, 1, 6, 4])
    }

    @Test func splitEvenlyAndBySizes() throws {
        let even = try runNode("Split", [x], attributes: [Attribute("axis", .int(1))], outputs: 3, opset: 13)
        #expect(even.map(\.floatValues) == [[1, 4], [2, 5], [3, 6]])
        let sized = try runNode("Split", [x, int64s([2], [1, 2])], attributes: [Attribute("axis", .int(1))], outputs: 2, opset: 13)
        #expect(sized[1].shape == [2, 2])
    }

    @Test func gatherWithNegativeIndices() throws {
        let y = try runNode("Gather", [x, int64s([2], [-1, 0])], attributes: [Attribute("axis", .int(1))])[0]
        #expect(y.shape == [2, 2])
        #expect(y.floatValues == [3, 1, 6, 4])
        #expect(throws: KilnError.self) { try runNode("Gather", [x, int64s([1], [5])]) }
    }

    @Test func tileExpandAndPad() throws {
        #expect(try runNode("Tile", [floats([2], [1, 2]), int64s([1], [3])])[0].floatValues == [1, 2, 1, 2, 1, 2])
        let e = try runNode("Expand", [floats([2, 1], [1, 2]), int64s([2], [2, 3])])[0]
        #expect(e.floatValues == [1, 1, 1, 2, 2, 2])
        let p = try runNode("Pad", [floats([3], [1, 2, 3]), int64s([2], [2, 1])], attributes: [Attribute("mode", .string(Array("reflect".utf8)))])[0]
        #expect(p.floatValues == [3, 2, 1, 2, 3, 2])
        let c = try runNode("Pad", [floats([2], [1, 2]), int64s([2], [1, 1]), floats([], [9])])[0]
        #expect(c.floatValues == [9, 1, 2, 9])
    }

    @Test func shapeWithStartAndEnd() throws {
        let s = try runNode("Shape", [floats([2, 3, 4], [Float](repeating: 0, count: 24))], attributes: [Attribute("start", .int(-2))])[0]
        #expect(s.int64Values == [3, 4])
    }
}
