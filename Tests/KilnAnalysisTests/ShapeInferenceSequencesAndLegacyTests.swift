import Testing
import KilnIR
@testable import KilnAnalysis

/// Sequence operators, Scan-8, the opset-1 forms of Tile and Upsample, MaxRoiPool and the ai.onnx.ml
/// transformers.
@Suite struct ShapeInferenceSequencesAndLegacyTests {
    @Test func splitToSequenceAndConcatFromSequence() {
        var t = ShapeTestGraph(opset: 17)
        t.input("x", .float, "batch, 6")
        t.ints("two", [2], dims: [])
        t.node("SplitToSequence", ["x"], ["ones"], [shapeAttr("axis", 1)])
        t.node("SplitToSequence", ["x", "two"], ["pairs"], [shapeAttr("axis", 1)])
        t.node("SplitToSequence", ["x"], ["rows"], [shapeAttr("axis", 0), shapeAttr("keepdims", 0)])
        t.node("ConcatFromSequence", ["pairs"], ["joined"], [shapeAttr("axis", 1)])
        t.node("ConcatFromSequence", ["rows"], ["stacked"], [shapeAttr("axis", 0), shapeAttr("new_axis", 1)])
        #expect(t.type("ones") == "seq(tensor(float)[batch, 1])")
        #expect(t.type("pairs") == "seq(tensor(float)[batch, 2])")
        #expect(t.type("rows") == "seq(tensor(float)[6])")
        #expect(t.type("joined") == "tensor(float)[batch, ?]")
        #expect(t.type("stacked") == "tensor(float)[?, 6]")
    }

    @Test func sequenceMapAppliesTheBodyToEachElement() throws {
        var body = Graph(name: "body")
        let e = try body.addInput(named: "e", type: nil)
        _ = try body.addNode(Node(opType: "Shape", name: "shape"), inputs: [e], outputNames: ["s"])
        body.setOutputs([body.valueID(named: "s")!])
        var t = ShapeTestGraph(opset: 17)
        t.input("x", .float, "batch, 6")
        t.node("SplitToSequence", ["x"], ["rows"], [shapeAttr("axis", 0), shapeAttr("keepdims", 0)])
        t.node("SequenceMap", ["rows"], ["shapes"], [Attribute("body", .graph(body))])
        #expect(t.type("shapes") == "seq(tensor(int64)[1])")
    }

    @Test func scan8HasABatchAxis() throws {
        var body = Graph(name: "body")
        let state = try body.addInput(named: "state", type: nil)
        let x = try body.addInput(named: "x", type: nil)
        _ = try body.addNode(Node(opType: "Add", name: "sum"), inputs: [state, x], outputNames: ["state_out"])
        _ = try body.addNode(Node(opType: "Neg", name: "emit"), inputs: [x], outputNames: ["y"])
        body.setOutputs(["state_out", "y"].map { body.valueID(named: $0)! })
        var t = ShapeTestGraph(opset: 8)
        t.input("init", .float, "batch, 3")
        t.input("seq", .float, "batch, len, 3")
        t.node("Scan", ["", "init", "seq"], ["final", "ys"],
               [Attribute("body", .graph(body)), shapeAttr("num_scan_inputs", 1)])
        let (_, report) = t.infer()
        #expect(report.valid)
        #expect(t.type("final") == "tensor(float)[batch, 3]")
        #expect(t.type("ys") == "tensor(float)[batch, len, 3]")
    }

    @Test func opsetOneTileAndUpsampleAndMaxRoiPool() {
        var t = ShapeTestGraph(opset: 1)
        t.input("x", .float, "n, 3, 4, 5")
        t.input("rois", .float, "r, 5")
        t.ints("tiles", [3], dims: [])
        t.ints("axis", [1], dims: [])
        t.node("Tile", ["x", "tiles", "axis"], ["tiled"])
        t.node("Upsample", ["x"], ["up"], [Attribute("height_scale", .float(2)), Attribute("width_scale", .float(3))])
        t.node("MaxRoiPool", ["x", "rois"], ["pooled"], [shapeAttr("pooled_shape", [2, 2])])
        #expect(t.type("tiled") == "tensor(float)[n, 9, 4, 5]")
        #expect(t.type("up") == "tensor(float)[n, 3, 8, 15]")
        #expect(t.type("pooled") == "tensor(float)[r, 3, 2, 2]")
    }

    @Test func mlTransformers() {
        var t = ShapeTestGraph(opset: 17)
        t.otherImports = [OpsetImport(domain: "ai.onnx.ml", version: 3)]
        t.input("x", .int64, "batch, 1")
        t.input("f", .float, "batch, 4")
        let ml = "ai.onnx.ml"
        t.node("OneHotEncoder", ["x"], ["onehot"], [shapeAttr("cats_int64s", [1, 2, 3])], domain: ml)
        t.node("FeatureVectorizer", ["f", "f"], ["features"], [shapeAttr("inputdimensions", [4, 4])], domain: ml)
        t.node("SVMRegressor", ["f"], ["svr"], domain: ml)
        t.node("ZipMap", ["f"], ["zip"], [shapeAttr("classlabels_int64s", [0, 1, 2, 3])], domain: ml)
        #expect(t.type("onehot") == "tensor(float)[batch, 1, 3]")
        #expect(t.type("features") == "tensor(float)[batch, 8]")
        #expect(t.type("svr") == "tensor(float)[batch, 1]")
        #expect(t.type("zip").hasPrefix("seq(map(int64"))
    }
}
