import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

/// Converts `model` to `opset`, checking graph invariants; the converter itself runs shape
/// inference and the checker on the result.
func converted(_ model: Model, to opset: Int) throws -> Model {
    var m = model
    _ = try OpsetConverter().convert(&m, to: opset)
    try m.graph.checkInvariants()
    #expect(m.opsetVersion(for: "") == Int64(opset))
    return m
}

/// The first node of type `op` in the main graph.
func firstNode(_ op: String, _ m: Model) throws -> Node {
    try #require(m.graph.nodes.first { $0.node.opType == op }?.node, "no \(op) in \(m.opTypes)")
}

/// The KilnError a conversion throws.
func refusal(_ model: Model, to opset: Int) -> String {
    var m = model
    do {
        _ = try OpsetConverter().convert(&m, to: opset)
        return "no error"
    } catch let e as KilnError {
        #expect(m == model, "a refused conversion must leave the model untouched")
        return e.description
    } catch {
        return "\(error)"
    }
}

/// Adapters one by one: structure after conversion, and the evaluator's numbers before and after.
@Suite struct OpsetAdapterTests {
    let x234 = ["x": sample([2, 3, 4])]

    func unary(_ op: String, opset: Int, _ attributes: [Attribute] = [], extra: [(String, Tensor)] = [],
               inputs: [String]? = nil, shape: [Int64] = [2, 3, 4]) -> Model {
        var b = ModelBuilder(opset: opset)
        b.input("x", shape)
        for (name, t) in extra { b.initializer(name, t) }
        b.node(op, inputs ?? ["x"], ["y"], attributes)
        b.output("y")
        return b.model
    }

    @Test func reduceSumAxesMoveBothWays() throws {
        let m12 = unary("ReduceSum", opset: 12, [Attribute("axes", .ints([1])), Attribute("keepdims", .int(0))])
        let m13 = try converted(m12, to: 13)
        let n = try firstNode("ReduceSum", m13)
        #expect(n.attribute("axes") == nil && n.inputs.count == 2)
        try expectSameOutputs(m12, m13, x234)
        let back = try converted(m13, to: 12)
        #expect(try firstNode("ReduceSum", back).ints("axes") == [1])
        #expect(back.graph.initializerOrder.isEmpty, "the axes initializer is removed once unused")
        try expectSameOutputs(m12, back, x234)
    }

    @Test func reduceMeanAcross18AndComputedAxesRefused() throws {
        let m = unary("ReduceMean", opset: 17, [Attribute("axes", .ints([-1]))])
        let up = try converted(m, to: 18)
        try expectSameOutputs(m, up, x234)
        var b = ModelBuilder(opset: 18)
        b.input("x", [2, 3, 4])
        b.node("Shape", ["x"], ["s"])
        b.ints("one", [1])
        b.node("Slice", ["s", "one", "one"], ["axes"])  // computed axes
        b.node("ReduceMean", ["x", "axes"], ["y"], name: "mean_dyn")
        b.output("y")
        let message = refusal(b.model, to: 17)
        #expect(message.contains("'mean_dyn'") && message.contains("ReduceMean") && message.contains("computed at run time"), "\(message)")
    }

    @Test func reduceNoopWithEmptyAxesBecomesIdentity() throws {
        let m = unary("ReduceMax", opset: 18, [Attribute("noop_with_empty_axes", .int(1))])
        let down = try converted(m, to: 17)
        #expect(down.opTypes == ["Identity"])
        try expectSameOutputs(m, down, x234)
    }

    @Test func squeezeUnsqueezeSplitAcross13And18() throws {
        var b = ModelBuilder(opset: 11)
        b.input("x", [2, 1, 6])
        b.node("Squeeze", ["x"], ["s"], [Attribute("axes", .ints([1]))])
        b.node("Split", ["s"], ["a", "c"], [Attribute("axis", .int(-1)), Attribute("split", .ints([2, 4]))])
        b.node("Split", ["a"], ["a0", "a1"], [Attribute("axis", .int(1))])
        b.node("Unsqueeze", ["c"], ["u"], [Attribute("axes", .ints([0]))])
        b.output("u"); b.output("a0")
        let m = b.model
        let inputs = ["x": sample([2, 1, 6])]
        let m18 = try converted(m, to: 18)
        #expect(m18.graph.nodes.filter { $0.node.opType == "Split" }.contains { $0.node.attribute("num_outputs") != nil })
        try expectSameOutputs(m, m18, inputs)
        let m10 = try converted(m18, to: 10)
        try expectSameOutputs(m, m10, inputs)
        #expect(try firstNode("Squeeze", m10).ints("axes") == [1])
    }

    @Test func splitNumOutputsUnevenGetsSizes() throws {
        var b = ModelBuilder(opset: 18)
        b.input("x", [2, 7])
        b.node("Split", ["x"], ["a", "c"], [Attribute("axis", .int(1)), Attribute("num_outputs", .int(2))])
        b.output("a"); b.output("c")
        let down = try converted(b.model, to: 17)
        try expectSameOutputs(b.model, down, ["x": sample([2, 7])])
    }

    @Test func clipAttributesAndInputs() throws {
        let m = unary("Clip", opset: 10, [Attribute("min", .float(-1)), Attribute("max", .float(0.75))])
        let up = try converted(m, to: 11)
        #expect(try firstNode("Clip", up).inputs.count == 3)
        try expectSameOutputs(m, up, x234)
        let down = try converted(up, to: 10)
        #expect(try firstNode("Clip", down).float("max") == 0.75)
        try expectSameOutputs(m, down, x234)
    }

    @Test func padAcross11And18() throws {
        let m = unary("Pad", opset: 10, [Attribute("pads", .ints([0, 1, 0, 0, 2, 1])), Attribute("value", .float(0.5))])
        let up = try converted(m, to: 18)
        try expectSameOutputs(m, up, x234)
        var b = ModelBuilder(opset: 18)
        b.input("x", [2, 3, 4])
        b.ints("pads", [1, 2])
        b.ints("axes", [-1])
        b.node("Pad", ["x", "pads", "", "axes"], ["y"])
        b.output("y")
        let down = try converted(b.model, to: 10)
        #expect(try firstNode("Pad", down).ints("pads") == [0, 0, 1, 0, 0, 2])
        try expectSameOutputs(b.model, down, x234)
    }

    @Test func sliceAcross10() throws {
        let m = unary("Slice", opset: 9, [Attribute("starts", .ints([1])), Attribute("ends", .ints([4])), Attribute("axes", .ints([2]))])
        let up = try converted(m, to: 13)
        try expectSameOutputs(m, up, x234)
        let down = try converted(up, to: 9)
        try expectSameOutputs(m, down, x234)
        #expect(try firstNode("Slice", down).ints("starts") == [1])
    }

    /// The evaluator has no TopK-1 kernel: numbers are compared at 10 and 11, structure at 9.
    @Test func topKAcross10And11() throws {
        var b = ModelBuilder(opset: 9)
        b.input("x", [2, 3, 4])
        b.node("TopK", ["x"], ["v", "i"], [Attribute("k", .int(2)), Attribute("axis", .int(1))])
        b.output("v"); b.output("i", .int64)
        let m10 = try converted(b.model, to: 10)
        let m11 = try converted(m10, to: 11)
        try expectSameOutputs(m10, m11, x234)
        let down = try converted(m11, to: 9)
        #expect(try firstNode("TopK", down).int("k") == 2 && firstNode("TopK", down).inputs.count == 1)
        var s = ModelBuilder(opset: 11)
        s.input("x", [2, 3, 4])
        s.ints("k", [2])
        s.node("TopK", ["x", "k"], ["v", "i"], name: "smallest", [Attribute("largest", .int(0))])
        s.output("v"); s.output("i", .int64)
        #expect(refusal(s.model, to: 10).contains("largest = 0"))
    }

    @Test(arguments: ["Softmax", "LogSoftmax", "Hardmax"])
    func softmaxAxisSemantics(op: String) throws {
        // Old meaning at axis 1 of a rank-3 input: over the flattened [3, 4] block.
        let old = unary(op, opset: 12, [Attribute("axis", .int(1))])
        let up = try converted(old, to: 13)
        #expect(up.opTypes.contains("Flatten") && up.opTypes.contains("Reshape"))
        try expectSameOutputs(old, up, x234)
        // New meaning at axis 1: over that single axis.
        let new = unary(op, opset: 13, [Attribute("axis", .int(1))])
        let down = try converted(new, to: 12)
        #expect(down.opTypes.filter { $0 == "Transpose" }.count == 2)
        try expectSameOutputs(new, down, x234)
        // Last axis: no wrapper either way.
        let last = unary(op, opset: 13)
        #expect(try converted(last, to: 11).opTypes == [op])
    }

    @Test func batchNormalizationAcrossVersions() throws {
        var b = ModelBuilder(opset: 7)
        b.input("x", [2, 3, 2, 2])
        b.floats("s", [1, 0.5, 2], [3]); b.floats("bias", [0, 1, -1], [3])
        b.floats("mean", [0.1, 0.2, 0.3], [3]); b.floats("var", [1, 2, 0.5], [3])
        b.node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], [Attribute("spatial", .int(1))])
        b.output("y")
        let inputs = ["x": sample([2, 3, 2, 2])]
        let up = try converted(b.model, to: 15)
        #expect(try firstNode("BatchNormalization", up).attribute("spatial") == nil)
        try expectSameOutputs(b.model, up, inputs)
        let down = try converted(up, to: 7)
        try expectSameOutputs(b.model, down, inputs)
        var t = ModelBuilder(opset: 15)
        t.input("x", [2, 3, 2, 2])
        t.floats("s", [1, 0.5, 2], [3]); t.floats("bias", [0, 1, -1], [3])
        t.floats("mean", [0.1, 0.2, 0.3], [3]); t.floats("var", [1, 2, 0.5], [3])
        t.node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], name: "bn_train", [Attribute("training_mode", .int(1))])
        t.output("y")
        #expect(refusal(t.model, to: 13).contains("training_mode"))
    }

    @Test func dropoutRatioAndMask() throws {
        var b = ModelBuilder(opset: 12)
        b.input("x", [2, 3, 4])
        b.node("Dropout", ["x"], ["y"])
        b.output("y")
        let down = try converted(b.model, to: 9)
        try expectSameOutputs(b.model, down, x234)
        let up = try converted(unary("Dropout", opset: 11, [Attribute("ratio", .float(0.25))]), to: 13)
        #expect(try firstNode("Dropout", up).inputs.count == 2)
    }

    /// Below 12 an inference mask is unspecified (onnxruntime's Dropout-10 writes all false): a used
    /// mask becomes ConstantOfShape(Shape(x), true), what Dropout-12 outside training gives.
    @Test func dropoutMaskBelow12IsAllTrue() throws {
        var b = ModelBuilder(opset: 13)
        b.input("x", [2, 3, 4])
        b.node("Dropout", ["x"], ["y", "z"], name: "drop")
        b.output("y"); b.output("z")
        let down = try converted(b.model, to: 11)
        #expect(try firstNode("Dropout", down).outputs.count == 1)
        let fill = try firstNode("ConstantOfShape", down)
        #expect(down.graph.name(of: try #require(fill.outputs[0])) == "z")
        #expect(try firstNode("Shape", down).inputs == [down.graph.valueID(named: "x")])
        try expectSameOutputs(b.model, down, x234)
        let mask = try outputs(down, x234)[1]
        #expect(mask.dataType == .bool && mask.shape == [2, 3, 4])
        if case .bool(let bits) = mask.storage { #expect(bits.allSatisfy { $0 }) } else { Issue.record("mask is not bool") }
        // ConstantOfShape has no exact form before 9: refused by name, nothing half-converted.
        #expect(refusal(b.model, to: 8).contains("ConstantOfShape"))
    }

    /// SplitToSequence (uneven parts) has no version boundary from 11 up: it converts unchanged
    /// both ways (its sequence output is compared element by element in test_opset.py).
    @Test func splitToSequenceConvertsUnchanged() throws {
        var b = ModelBuilder(opset: 11)
        b.input("x", [5, 2])
        b.ints("parts", [2, 3])
        b.initializer("one", .int64([1], dims: []))
        b.node("SplitToSequence", ["x", "parts"], ["s"], name: "seq")
        b.node("SequenceAt", ["s", "one"], ["y"], name: "at")
        b.output("y")
        let up = try converted(b.model, to: 28)
        let node = try firstNode("SplitToSequence", up)
        #expect(node.inputs.count == 2 && node.attributes.isEmpty)
        let back = try converted(up, to: 11)
        #expect(try firstNode("SplitToSequence", back).inputs.count == 2)
        #expect(refusal(b.model, to: 10).contains("SplitToSequence"))
    }

    @Test func gemmWithoutCGetsZeroBelow11() throws {
        var b = ModelBuilder(opset: 13)
        b.input("a", [2, 3])
        b.floats("w", (0..<12).map { Float($0) / 4 }, [3, 4])
        b.node("Gemm", ["a", "w"], ["y"])
        b.output("y")
        let down = try converted(b.model, to: 10)
        #expect(try firstNode("Gemm", down).inputs.count == 3)
        try expectSameOutputs(b.model, down, ["a": sample([2, 3])])
    }

    @Test func scatterAndScatterElements() throws {
        var b = ModelBuilder(opset: 13)
        b.input("x", [3, 3])
        b.initializer("i", .int64([1, 0, 2, 0, 2, 1], dims: [2, 3]))
        b.floats("u", [1, 2, 3, 4, 5, 6], [2, 3])
        b.node("ScatterElements", ["x", "i", "u"], ["y"], [Attribute("axis", .int(-2))])
        b.output("y")
        let down = try converted(b.model, to: 10)
        #expect(down.opTypes == ["Scatter"])
        #expect(try firstNode("Scatter", down).int("axis") == 0)
        let up = try converted(down, to: 11)
        #expect(up.opTypes == ["ScatterElements"])
        try expectSameOutputs(b.model, up, ["x": sample([3, 3])])
    }

    @Test func castLikeBecomesCast() throws {
        var b = ModelBuilder(opset: 21)
        b.input("x", [2, 3])
        b.initializer("like", .int64([0], dims: [1]))
        b.node("CastLike", ["x", "like"], ["y"])
        b.output("y", .int64)
        let down = try converted(b.model, to: 14)
        #expect(down.opTypes == ["Cast"])
        #expect(try firstNode("Cast", down).int("to") == Int64(DataType.int64.rawValue))
        #expect(down.graph.initializerOrder.isEmpty)
        try expectSameOutputs(b.model, down, ["x": sample([2, 3])])
    }
}
