import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceShapeOpsTests {
    @Test func reshapeWithZeroAndMinusOne() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, seq, 768")
        t.ints("s", [0, 0, 12, -1])
        t.ints("f", [-1, 768])
        t.node("Reshape", ["x", "s"], ["heads"])
        t.node("Reshape", ["x", "f"], ["flat"])
        #expect(t.type("heads") == "tensor(float)[batch, seq, 12, 64]")
        #expect(t.type("flat") == "tensor(float)[batch*seq, 768]")
    }

    @Test func shapeGatherConcatReshapeChainPropagatesSymbols() {
        // The torch-exporter pattern: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, seq, 4")
        t.ints("zero", [0], dims: [])
        t.ints("axes", [0])
        t.ints("rest", [-1])
        t.node("Shape", ["x"], ["shape"])
        t.node("Gather", ["shape", "zero"], ["b"])
        t.node("Unsqueeze", ["b", "axes"], ["b1"])
        t.node("Concat", ["b1", "rest"], ["target"], [shapeAttr("axis", 0)])
        t.node("Reshape", ["x", "target"], ["y"])
        #expect(t.type("shape") == "tensor(int64)[3]")
        #expect(t.type("b") == "tensor(int64)[]")
        #expect(t.type("target") == "tensor(int64)[2]")
        #expect(t.type("y") == "tensor(float)[batch, 4*seq]")
    }

    @Test func shapeArithmeticOnPropagatedValues() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, seq")
        t.ints("two", [2], dims: [])
        t.ints("one", [1])
        t.node("Shape", ["x"], ["s"])
        t.node("Mul", ["s", "two"], ["s2"])
        t.node("Add", ["s", "one"], ["s1"])
        t.node("ConstantOfShape", ["s2"], ["z"])
        t.node("ConstantOfShape", ["s1"], ["o"])
        #expect(t.type("z") == "tensor(float)[2*batch, 2*seq]")
        #expect(t.type("o") == "tensor(float)[batch+1, seq+1]")
    }

    @Test func flattenGivesProducts() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 3, 4, 5")
        t.node("Flatten", ["x"], ["y"])
        t.node("Flatten", ["x"], ["z"], [shapeAttr("axis", 0)])
        #expect(t.type("y") == "tensor(float)[batch, 60]")
        #expect(t.type("z") == "tensor(float)[1, 60*batch]")
    }

    @Test func concatSumsTheAxis() {
        var t = ShapeTestGraph()
        t.input("a", .float, "batch, seq")
        t.input("b", .float, "batch, seq")
        t.input("c", .float, "batch, 1")
        t.node("Concat", ["a", "b", "c"], ["y"], [shapeAttr("axis", 1)])
        #expect(t.type("y") == "tensor(float)[batch, 2*seq+1]")
    }

    @Test func squeezeAndUnsqueezeByVersion() {
        var old = ShapeTestGraph(opset: 11)
        old.input("x", .float, "1, batch, 1")
        old.node("Squeeze", ["x"], ["s"], [shapeAttr("axes", [0])])
        old.node("Unsqueeze", ["s"], ["u"], [shapeAttr("axes", [-1])])
        #expect(old.type("s") == "tensor(float)[batch, 1]")
        #expect(old.type("u") == "tensor(float)[batch, 1, 1]")

        var new = ShapeTestGraph(opset: 13)
        new.input("x", .float, "1, batch, 1")
        new.ints("a", [0, 2])
        new.node("Squeeze", ["x", "a"], ["s"])
        new.node("Unsqueeze", ["s", "a"], ["u"])
        #expect(new.type("s") == "tensor(float)[batch]")
        #expect(new.type("u") == "tensor(float)[1, batch, 1]")
    }

    @Test func transposeSplitSliceExpandTilePad() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 6, 10")
        t.ints("starts", [2]); t.ints("ends", [-1]); t.ints("axes", [2])
        t.ints("shape", [3, 1, 1, 1]); t.ints("reps", [1, 2, 1]); t.ints("pads", [0, 1, 2, 0, 1, 2])
        t.node("Transpose", ["x"], ["tr"], [shapeAttr("perm", [2, 0, 1])])
        t.node("Split", ["x"], ["p", "q", "r"], [shapeAttr("axis", 1)])
        t.node("Slice", ["x", "starts", "ends", "axes"], ["sl"])
        t.node("Expand", ["x", "shape"], ["ex"])
        t.node("Tile", ["x", "reps"], ["ti"])
        t.node("Pad", ["x", "pads"], ["pa"])
        #expect(t.type("tr") == "tensor(float)[10, batch, 6]")
        #expect(t.type("q") == "tensor(float)[batch, 2, 10]")
        #expect(t.type("sl") == "tensor(float)[batch, 6, 7]")
        #expect(t.type("ex") == "tensor(float)[3, batch, 6, 10]")
        #expect(t.type("ti") == "tensor(float)[batch, 12, 10]")
        #expect(t.type("pa") == "tensor(float)[batch, 8, 14]")
    }

    @Test func reductionsAttributeVersusInput() {
        var old = ShapeTestGraph(opset: 13)
        old.input("x", .float, "batch, seq, 8")
        old.node("ReduceMean", ["x"], ["m"], [shapeAttr("axes", [-1])])
        old.node("ReduceMax", ["x"], ["k"], [shapeAttr("axes", [1]), shapeAttr("keepdims", 0)])
        #expect(old.type("m") == "tensor(float)[batch, seq, 1]")
        #expect(old.type("k") == "tensor(float)[batch, 8]")

        var new = ShapeTestGraph(opset: 18)
        new.input("x", .float, "batch, seq, 8")
        new.ints("a", [1])
        new.node("ReduceMean", ["x", "a"], ["m"], [shapeAttr("keepdims", 0)])
        new.node("ReduceSum", ["x"], ["all"])
        new.node("ArgMax", ["x"], ["am"], [shapeAttr("axis", 2)])
        #expect(new.type("m") == "tensor(float)[batch, 8]")
        #expect(new.type("all") == "tensor(float)[1, 1, 1]")
        #expect(new.type("am") == "tensor(int64)[batch, seq, 1]")
    }

    @Test func rangeAndShapeSlice() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, seq, 4")
        t.ints("zero", [0], dims: []); t.ints("one", [1], dims: []); t.ints("idx", [1], dims: [])
        t.node("Shape", ["x"], ["s"], [shapeAttr("start", 1)])
        t.node("Gather", ["s", "zero"], ["n"])
        t.node("Range", ["zero", "n", "one"], ["r"])
        #expect(t.type("s") == "tensor(int64)[2]")
        #expect(t.type("r") == "tensor(int64)[seq]")
    }
}
