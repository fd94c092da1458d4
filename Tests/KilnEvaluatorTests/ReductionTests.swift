import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct ReductionTests {
    let x = floats([2, 3], [1, 2, 3, 4, 5, 6])

    @Test func reduceSumAxesMovedToAnInputInOpset13() throws {
        let v11 = try runNode("ReduceSum", [x], attributes: [Attribute("axes", .ints([1]))], opset: 11)[0]
        #expect(v11.shape == [2, 1])
        #expect(v11.floatValues == [6, 15])
        let v13 = try runNode("ReduceSum", [x, int64s([1], [0])], attributes: [Attribute("keepdims", .int(0))], opset: 13)[0]
        #expect(v13.shape == [3])
        #expect(v13.floatValues == [5, 7, 9])
    }

    @Test func emptyAxesReduceAllOrNothing() throws {
        #expect(try runNode("ReduceMean", [x, nil], opset: 18)[0].floatValues == [3.5])
        let noop = try runNode("ReduceMean", [x, int64s([0], [])], attributes: [Attribute("noop_with_empty_axes", .int(1))], opset: 18)[0]
        #expect(noop.floatValues == x.floatValues)
    }

    @Test(arguments: [
        ("ReduceMax", [Float(3), 6]), ("ReduceMin", [1, 4]), ("ReduceProd", [6, 120]), ("ReduceL1", [6, 15]),
        ("ReduceSumSquare", [14, 77]), ("ReduceL2", [3.7416575, 8.774964]), ("ReduceLogSumExp", [3.4076059, 6.4076059]),
        ("ReduceLogSum", [1.7917595, 2.7080503]),
    ])
    func everyReducerAlongTheLastAxis(_ op: String, _ expected: [Float]) throws {
        let y = try runNode(op, [x], attributes: [Attribute("axes", .ints([-1])), Attribute("keepdims", .int(0))], opset: 13)[0]
        #expect(y.shape == [2])
        #expect(close(y.floatValues, expected))
    }

    @Test func integerSumsAreExact() throws {
        let big = int64s([2], [1 << 60, 1])
        #expect(try runNode("ReduceSum", [big, nil], opset: 13)[0].int64Values == [(1 << 60) + 1])
    }

    @Test func argMaxFirstOrLastTie() throws {
        let t = floats([1, 4], [1, 3, 3, 0])
        #expect(try runNode("ArgMax", [t], attributes: [Attribute("axis", .int(1))])[0].int64Values == [1])
        #expect(try runNode("ArgMax", [t], attributes: [Attribute("axis", .int(1)), Attribute("select_last_index", .int(1))])[0]
            .int64Values == [2])
        #expect(try runNode("ArgMin", [t], attributes: [Attribute("axis", .int(1)), Attribute("keepdims", .int(0))])[0].shape == [1])
    }
}
