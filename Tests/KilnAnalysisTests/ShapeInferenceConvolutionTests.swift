import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceConvolutionTests {
    @Test func convWithPadsStridesDilations() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 3, 224, 224")
        t.input("w", .float, "64, 3, 7, 7")
        t.node("Conv", ["x", "w"], ["y"], [shapeAttr("strides", [2, 2]), shapeAttr("pads", [3, 3, 3, 3])])
        t.node("Conv", ["x", "w"], ["d"], [shapeAttr("dilations", [2, 2])])
        t.node("Conv", ["x", "w"], ["s"], [shapeAttr("auto_pad", "SAME_UPPER"), shapeAttr("strides", [2, 2])])
        #expect(t.type("y") == "tensor(float)[batch, 64, 112, 112]")
        #expect(t.type("d") == "tensor(float)[batch, 64, 212, 212]")
        #expect(t.type("s") == "tensor(float)[batch, 64, 112, 112]")
    }

    @Test func symbolicSpatialSizeWithUnitStride() {
        var t = ShapeTestGraph()
        t.input("x", .float, "1, 4, len")
        t.input("w", .float, "8, 4, 3")
        t.node("Conv", ["x", "w"], ["y"])
        t.node("Conv", ["x", "w"], ["p"], [shapeAttr("pads", [1, 1])])
        #expect(t.type("y") == "tensor(float)[1, 8, len-2]")
        #expect(t.type("p") == "tensor(float)[1, 8, len]")
    }

    @Test func poolingCeilModeAndIndices() {
        var t = ShapeTestGraph()
        t.input("x", .float, "1, 1, 5, 5")
        t.node("MaxPool", ["x"], ["y", "i"], [shapeAttr("kernel_shape", [2, 2]), shapeAttr("strides", [2, 2]), shapeAttr("ceil_mode", 1)])
        t.node("AveragePool", ["x"], ["a"], [shapeAttr("kernel_shape", [3, 3])])
        t.node("GlobalAveragePool", ["x"], ["g"])
        #expect(t.type("y") == "tensor(float)[1, 1, 3, 3]")
        #expect(t.type("i") == "tensor(int64)[1, 1, 3, 3]")
        #expect(t.type("a") == "tensor(float)[1, 1, 3, 3]")
        #expect(t.type("g") == "tensor(float)[1, 1, 1, 1]")
    }

    @Test func convTranspose() {
        var t = ShapeTestGraph()
        t.input("x", .float, "1, 1, 3, 3")
        t.input("w", .float, "1, 2, 3, 3")
        t.node("ConvTranspose", ["x", "w"], ["y"], [shapeAttr("strides", [3, 2]), shapeAttr("output_padding", [1, 1])])
        #expect(t.type("y") == "tensor(float)[1, 2, 10, 8]")
    }

    @Test func normalizationAndAttention() {
        var t = ShapeTestGraph(opset: 23)
        t.input("x", .float, "batch, seq, 64")
        t.input("g", .float, "64")
        t.node("LayerNormalization", ["x", "g"], ["y", "mean", "inv"])
        t.input("q", .float, "batch, 8, seq, 16")
        t.input("k", .float, "batch, 2, kv, 16")
        t.input("v", .float, "batch, 2, kv, 32")
        t.input("pk", .float, "batch, 2, past, 16")
        t.input("pv", .float, "batch, 2, past, 32")
        t.node("Attention", ["q", "k", "v", "", "pk", "pv"], ["o", "pko", "pvo"])
        #expect(t.type("y") == "tensor(float)[batch, seq, 64]")
        #expect(t.type("mean") == "tensor(float)[batch, seq, 1]")
        #expect(t.type("o") == "tensor(float)[batch, 8, seq, 32]")
        #expect(t.type("pko") == "tensor(float)[batch, 2, kv+past, 16]")
    }

    /// RMSNormalization's Y has X's shape and `scale`'s element type (type constraint V).
    @Test func rmsNormalizationOutputTakesTheScaleType() {
        var t = ShapeTestGraph(opset: 23)
        t.input("x", .float, "batch, seq, 64")
        t.input("g", .float16, "64")
        t.node("RMSNormalization", ["x", "g"], ["y"])
        #expect(t.type("y") == "tensor(float16)[batch, seq, 64]")
    }
}
