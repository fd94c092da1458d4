import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceOtherFamiliesTests {
    @Test func einsum() {
        var t = ShapeTestGraph()
        t.input("a", .float, "batch, i, k")
        t.input("b", .float, "batch, k, j")
        t.input("x", .float, "3, 5, 5")
        t.node("Einsum", ["a", "b"], ["mm"], [shapeAttr("equation", "bik,bkj->bij")])
        t.node("Einsum", ["x"], ["implicit"], [shapeAttr("equation", "bji")])
        t.node("Einsum", ["x"], ["diag"], [shapeAttr("equation", "...ii->...i")])
        #expect(t.type("mm") == "tensor(float)[batch, i, j]")
        #expect(t.type("implicit") == "tensor(float)[3, 5, 5]")
        #expect(t.type("diag") == "tensor(float)[3, 5]")
    }

    @Test(arguments: [17, 20]) func inverseOneSidedDFTGivesTheRealSignalLength(opset: Int) {
        // m complex bins of a one-sided spectrum come from n = 2*(m - 1) real samples (onnx's rule).
        var t = ShapeTestGraph(opset: Int64(opset))
        t.input("x", .float, "2, 5, 2")
        t.input("s", .float, "2, m, 2")
        t.input("real", .float, "2, 5, 1")
        t.ints("len", [10], dims: [])
        let attrs = [shapeAttr("inverse", 1), shapeAttr("onesided", 1)] + (opset < 20 ? [shapeAttr("axis", 1)] : [])
        t.node("DFT", ["x"], ["y"], attrs)
        t.node("DFT", ["s"], ["ys"], attrs)
        t.node("DFT", ["x", "len"], ["yl"], attrs)
        #expect(t.type("y") == "tensor(float)[2, 8, 1]")
        #expect(t.type("ys") == "tensor(float)[2, 2*m-2, 1]")
        #expect(t.type("yl") == "tensor(float)[2, 10, 1]")
        t.node("DFT", ["real"], ["bad"], name: "idft", attrs)
        let (_, report) = t.infer()
        #expect(report.issues.map(\.nodeName) == ["idft"])
        #expect(report.issues.first?.message.contains("complex input") == true)
    }

    @Test func recurrentLayers() {
        var t = ShapeTestGraph()
        t.input("x", .float, "seq, batch, 10")
        t.input("w", .float, "2, 80, 10")
        t.input("r", .float, "2, 80, 20")
        t.node("LSTM", ["x", "w", "r"], ["y", "yh", "yc"], [shapeAttr("hidden_size", 20), shapeAttr("direction", "bidirectional")])
        #expect(t.type("y") == "tensor(float)[seq, 2, batch, 20]")
        #expect(t.type("yc") == "tensor(float)[2, batch, 20]")
    }

    @Test func dataDependentOutputsStayUnknown() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 4")
        t.node("NonZero", ["x"], ["nz"])
        t.node("Unique", ["x"], ["u", "idx", "inv", "cnt"])
        #expect(t.type("nz") == "tensor(int64)[2, ?]")
        #expect(t.type("u") == "tensor(float)[?]")
        #expect(t.type("inv") == "tensor(int64)[4*batch]")
    }

    @Test func lossesQuantizationAndResize() {
        var t = ShapeTestGraph()
        t.input("scores", .float, "batch, 10")
        t.input("labels", .int64, "batch")
        t.input("x", .float, "1, 3, 8, 8")
        t.input("s", .float, "")
        t.input("zp", .int8, "")
        t.floats("scales", [1, 1, 2, 0.5])
        t.node("SoftmaxCrossEntropyLoss", ["scores", "labels"], ["loss", "logp"], [shapeAttr("reduction", "none")])
        t.node("QuantizeLinear", ["x", "s", "zp"], ["q"])
        t.node("Resize", ["x", "", "scales"], ["rz"])
        #expect(t.type("loss") == "tensor(float)[batch]")
        #expect(t.type("logp") == "tensor(float)[batch, 10]")
        #expect(t.type("q") == "tensor(int8)[1, 3, 8, 8]")
        #expect(t.type("rz") == "tensor(float)[1, 3, 16, 4]")
    }

    @Test func resizeWithSizesAndAspectRatioPolicies() {
        var t = ShapeTestGraph(opset: 19)
        t.input("x", .float, "batch, 1, 2, 4")
        t.input("dyn", .int64, "2")
        t.ints("sizes", [1, 3])
        let axes = shapeAttr("axes", [2, 3])
        t.node("Resize", ["x", "", "", "sizes"], ["stretch"], [axes])
        t.node("Resize", ["x", "", "", "sizes"], ["smaller"], [axes, shapeAttr("keep_aspect_ratio_policy", "not_larger")])
        t.node("Resize", ["x", "", "", "sizes"], ["larger"], [axes, shapeAttr("keep_aspect_ratio_policy", "not_smaller")])
        t.node("Resize", ["x", "", "", "dyn"], ["unknown"], [axes])
        #expect(t.type("stretch") == "tensor(float)[batch, 1, 1, 3]")
        #expect(t.type("smaller") == "tensor(float)[batch, 1, 1, 2]")
        #expect(t.type("larger") == "tensor(float)[batch, 1, 2, 3]")
        #expect(t.type("unknown") == "tensor(float)[batch, 1, ?, ?]")
    }

    @Test func loopBodyGetsCarriedTypesAndScanOutputsGetALeadingDim() throws {
        var body = Graph(name: "body")
        let i = try body.addInput(named: "i", type: nil)
        _ = try body.addInput(named: "c", type: nil)
        let acc = try body.addInput(named: "acc", type: nil)
        _ = i
        _ = try body.addNode(Node(opType: "Identity", name: "keep"), inputs: [body.valueID(named: "c")!], outputNames: ["c_out"])
        _ = try body.addNode(Node(opType: "Relu", name: "step"), inputs: [acc], outputNames: ["acc_out"])
        _ = try body.addNode(Node(opType: "Neg", name: "emit"), inputs: [acc], outputNames: ["scan_out"])
        body.setOutputs(["c_out", "acc_out", "scan_out"].map { body.valueID(named: $0)! })
        var t = ShapeTestGraph()
        t.input("n", .int64, "")
        t.input("cond", .bool, "")
        t.input("x", .float, "batch, 4")
        t.node("Loop", ["n", "cond", "x"], ["final", "stacked"], [Attribute("body", .graph(body))])
        // Relu keeps the carried shape: a fixed point, so the dims survive the loop.
        #expect(t.type("final") == "tensor(float)[batch, 4]")
        #expect(t.type("stacked") == "tensor(float)[?, batch, 4]")
    }

    @Test func aGrowingLoopCarriedValueLosesItsDims() throws {
        var body = Graph(name: "body")
        _ = try body.addInput(named: "i", type: nil)
        let c = try body.addInput(named: "c", type: nil)
        let acc = try body.addInput(named: "acc", type: nil)
        _ = try body.addNode(Node(opType: "Identity", name: "keep"), inputs: [c], outputNames: ["c_out"])
        _ = try body.addNode(Node(opType: "Concat", name: "grow", attributes: [shapeAttr("axis", 0)]),
                             inputs: [acc, acc], outputNames: ["acc_out"])
        body.setOutputs(["c_out", "acc_out"].map { body.valueID(named: $0)! })
        var t = ShapeTestGraph()
        t.input("n", .int64, "")
        t.input("cond", .bool, "")
        t.input("x", .float, "batch, 4")
        t.node("Loop", ["n", "cond", "x"], ["final"], [Attribute("body", .graph(body))])
        let (m, report) = t.infer()
        #expect(report.valid)
        #expect(t.type("final") == "tensor(float)[?, ?]")
        // The body kept the general inference (not the first, discarded trial).
        let loop = m.graph[node: m.graph.order[0]]
        let inferredBody = try #require(try loop.graph("body"))
        #expect(inferredBody[value: inferredBody.valueID(named: "acc_out")!].type?.description == "tensor(float)[?, ?]")
    }
}
