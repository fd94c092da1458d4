import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct IndexingTests {
    @Test func triluKeepsUpperOrLowerWithOffset() throws {
        let x = floats([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(try runNode("Trilu", [x])[0].floatValues == [1, 2, 3, 0, 5, 6])
        #expect(try runNode("Trilu", [x, int64s([], [1])], attributes: [Attribute("upper", .int(0))])[0].floatValues == [1, 2, 0, 4, 5, 6])
    }

    @Test func cumSumExclusiveAndReverse() throws {
        let x = floats([4], [1, 2, 3, 4]), axis = int64s([], [0])
        #expect(try runNode("CumSum", [x, axis])[0].floatValues == [1, 3, 6, 10])
        #expect(try runNode("CumSum", [x, axis], attributes: [Attribute("exclusive", .int(1))])[0].floatValues == [0, 1, 3, 6])
        #expect(try runNode("CumSum", [x, axis], attributes: [Attribute("reverse", .int(1))])[0].floatValues == [10, 9, 7, 4])
    }

    @Test func oneHotWithNegativeIndexAndAxis() throws {
        let y = try runNode("OneHot", [int64s([2], [0, -1]), int64s([], [3]), floats([2], [0, 5])])[0]
        #expect(y.shape == [2, 3])
        #expect(y.floatValues == [5, 0, 0, 0, 0, 5])
        let t = try runNode("OneHot", [int64s([2], [0, 2]), int64s([], [3]), floats([2], [0, 1])], attributes: [Attribute("axis", .int(0))])[0]
        #expect(t.shape == [3, 2])
        #expect(t.floatValues == [1, 0, 0, 0, 0, 1])
    }

    @Test func topKLargestAndSmallestWithStableTies() throws {
        let x = floats([1, 4], [3, 1, 3, 2])
        let top = try runNode("TopK", [x, int64s([1], [2])], outputs: 2)
        #expect(top[0].floatValues == [3, 3])
        #expect(top[1].int64Values == [0, 2])
        let low = try runNode("TopK", [x, int64s([1], [1])], attributes: [Attribute("largest", .int(0))], outputs: 2)
        #expect(low[1].int64Values == [1])
    }

    @Test func scatterElementsAddsDuplicates() throws {
        let y = try runNode("ScatterElements", [floats([3], [0, 0, 0]), int64s([3], [1, 1, -1]), floats([3], [1, 2, 5])],
                            attributes: [Attribute("reduction", .string(Array("add".utf8)))], opset: 18)[0]
        #expect(y.floatValues == [0, 3, 5])
    }

    @Test func gatherNDAndNonZero() throws {
        let x = floats([2, 2], [1, 2, 3, 4])
        #expect(try runNode("GatherND", [x, int64s([2, 2], [0, 1, 1, 0])])[0].floatValues == [2, 3])
        let nz = try runNode("NonZero", [floats([2, 2], [0, 1, 2, 0])])[0]
        #expect(nz.shape == [2, 2])
        #expect(nz.int64Values == [0, 1, 1, 0])
    }
}
