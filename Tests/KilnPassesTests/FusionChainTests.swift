import Testing
import KilnIR
@testable import KilnPasses

/// Transpose, Reshape, Squeeze/Unsqueeze, Slice, Concat and Cast chains.
@Suite struct FusionChainTests {
    @Test func transposePairsCompose() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 3, 4, 5])
        let a = n.op("Transpose", [x], [ints("perm", [0, 2, 3, 1])])
        n.output(n.op("Transpose", [a], [ints("perm", [0, 3, 1, 2])]))   // identity overall
        let b = n.op("Transpose", [x], [ints("perm", [1, 0, 2, 3])])
        n.output(n.op("Transpose", [b], [ints("perm", [0, 1, 3, 2])]))
        let c = n.op("Transpose", [x])
        n.output(n.op("Relu", [n.op("Transpose", [c], [ints("perm", [3, 2, 0, 1])])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m).sorted() == ["Identity", "Relu", "Transpose", "Transpose"])
        let perms = m.graph.nodes.filter { $0.node.opType == "Transpose" }.map { try? $0.node.ints("perm") }
        #expect(perms.contains([1, 0, 3, 2]))
        #expect(perms.contains([0, 1, 3, 2]))
    }

    @Test func idempotentAndInvolutiveUnaryPairsCollapse() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 3])
        let r = n.op("Relu", [x])
        n.output(n.op("Relu", [r]))                       // Relu(Relu(x)) -> Relu(x)
        n.output(n.op("Exp", [r]))                        // the inner Relu keeps its other reader
        n.output(n.op("Neg", [n.op("Neg", [x])]))         // Neg(Neg(x)) -> x (an Identity keeps the name)
        n.output(n.op("Sigmoid", [n.op("Sigmoid", [x])])) // not idempotent: stays
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m).sorted() == ["Exp", "Identity", "Relu", "Sigmoid", "Sigmoid"])
    }

    @Test func reshapePairsMerge() throws {
        var n = Net(opset: 14)
        let x = n.input("x", [2, 3, 4])
        let a = n.op("Reshape", [x, n.ints("s1", [6, 4])])
        n.output(n.op("Reshape", [a, n.ints("s2", [3, -1])]))
        let b = n.op("Reshape", [x, n.ints("s3", [0, 12])])
        n.output(n.op("Reshape", [b, n.ints("s4", [0, 3, 4])]))   // 0 copies x's dim 0 through both
        let c = n.op("Reshape", [x, n.ints("s5", [4, 6])])
        n.output(n.op("Reshape", [c, n.ints("s6", [0, 2, 3])]))   // 0 copies the 4
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Reshape", "Reshape", "Reshape"])
    }

    @Test func squeezeUnsqueezePairsCancelAndUnsqueezesMerge() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [3, 4])
        let u = n.op("Unsqueeze", [x, n.ints("a1", [0, -1])])
        n.output(n.op("Relu", [n.op("Squeeze", [u, n.ints("a2", [3, 0])])]))
        let y = n.input("y", [3, 1, 4])
        let s = n.op("Squeeze", [y, n.ints("a3", [1])])
        n.output(n.op("Relu", [n.op("Unsqueeze", [s, n.ints("a4", [-2])])]))
        let v = n.op("Unsqueeze", [x, n.ints("a5", [1])])
        n.output(n.op("Unsqueeze", [v, n.ints("a6", [0, 3])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Relu", "Relu", "Unsqueeze"])
        let axes = m.graph[node: m.graph.order[2]].inputs[1]!
        #expect(try TensorValueInts(#require(m.graph.constantTensor(axes))) == [0, 2, 3])
    }

    @Test func unsqueezesMergeWithAttributeAxes() throws {
        var n = Net(opset: 11)
        let x = n.input("x", [3, 4])
        let u = n.op("Unsqueeze", [x], [ints("axes", [-1])])
        n.output(n.op("Unsqueeze", [u], [ints("axes", [0])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Unsqueeze"])
        #expect(try m.graph[node: m.graph.order[0]].ints("axes") == [0, 3])
    }

    @Test func transposesWithoutPermUseTheRank() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 3, 4])
        n.output(n.op("Transpose", [n.op("Transpose", [x])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Identity"])
    }

    @Test func reshapeCopyingAnInferredDimension() throws {
        var n = Net(opset: 14)
        let x = n.input("x", [2, 3, 4])
        let a = n.op("Reshape", [x, n.ints("s1", [-1, 4])])
        n.output(n.op("Reshape", [a, n.ints("s2", [0, 2, 2])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Reshape"])
        let shape = try #require(m.graph.constantTensor(m.graph[node: m.graph.order[0]].inputs[1]!))
        #expect(try TensorValueInts(shape) == [6, 2, 2])
    }

    @Test func squeezeOfOtherAxesIsKept() throws {
        var n = Net(opset: 11)
        let x = n.input("x", [3, 1, 4])
        let u = n.op("Unsqueeze", [x], [ints("axes", [0])])
        n.output(n.op("Squeeze", [u], [ints("axes", [2])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Unsqueeze", "Squeeze"])
    }

    @Test func slicePairsMerge() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [10, 8])
        let a = n.op("Slice", [x, n.ints("st1", [1]), n.ints("en1", [9]), n.ints("ax1", [0])])
        n.output(n.op("Slice", [a, n.ints("st2", [2, 1]), n.ints("en2", [100, 7]), n.ints("ax2", [0, 1])]))
        let b = n.op("Slice", [x, n.ints("st3", [-8]), n.ints("en3", [-1]), n.ints("ax3", [0])])
        n.output(n.op("Slice", [b, n.ints("st4", [-3]), n.ints("en4", [Int64.max]), n.ints("ax4", [0])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Slice", "Slice"])
    }

    @Test func stepSlicesOnOneAxisAreKept() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [10])
        let a = n.op("Slice", [x, n.ints("st1", [0]), n.ints("en1", [10]), n.ints("ax1", [0]), n.ints("sp1", [2])])
        n.output(n.op("Slice", [a, n.ints("st2", [1]), n.ints("en2", [4]), n.ints("ax2", [0])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Slice", "Slice"])
    }

    @Test func concatOfConcatIsSpliced() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 3])
        let y = n.input("y", [2, 1])
        let inner = n.op("Concat", [x, y], [int("axis", -1)])
        n.output(n.op("Concat", [y, inner, x], [int("axis", 1)]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Concat"])
        #expect(m.graph[node: m.graph.order[0]].inputs.count == 4)
    }

    @Test func losslessCastChainsMerge() throws {
        var n = Net(opset: 13)
        let h = n.input("h", [4], .float16)
        let a = n.op("Cast", [h], [int("to", Int64(DataType.float.rawValue))])
        n.output(n.op("Cast", [a], [int("to", Int64(DataType.double.rawValue))]))
        let i = n.input("i", [4], .int32)
        let b = n.op("Cast", [i], [int("to", Int64(DataType.int64.rawValue))])
        n.output(n.op("Neg", [n.op("Cast", [b], [int("to", Int64(DataType.int32.rawValue))])]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Cast", "Neg"])
        #expect(try m.graph[node: m.graph.order[0]].int("to") == Int64(DataType.double.rawValue))
    }

    @Test func lossyCastChainIsKept() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [4])
        let a = n.op("Cast", [x], [int("to", Int64(DataType.int32.rawValue))])
        n.output(n.op("Cast", [a], [int("to", Int64(DataType.float.rawValue))]))
        let m = try fuse(n.model, ["merge-chains"])
        #expect(ops(m) == ["Cast", "Cast"])
    }
}

import KilnEvaluator

/// The elements of an int64 tensor.
func TensorValueInts(_ t: Tensor) throws -> [Int64] { try TensorValue(t).int64s }
