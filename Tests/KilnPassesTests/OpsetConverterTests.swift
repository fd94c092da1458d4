import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

/// The converter as a whole: expansions, subgraphs, local functions, type refusals, round trips.
@Suite struct OpsetConverterTests {
    func unary(_ op: String, opset: Int, _ attributes: [Attribute] = [], shape: [Int64] = [2, 3, 4],
               extra: [(String, Tensor)] = [], inputs: [String]? = nil, outputs: [String] = ["y"]) -> Model {
        var b = ModelBuilder(opset: opset)
        b.input("x", shape)
        for (name, t) in extra { b.initializer(name, t) }
        b.node(op, inputs ?? ["x"], outputs, name: "n", attributes)
        for o in outputs where !o.isEmpty { b.output(o) }
        return b.model
    }

    let x234 = ["x": sample([2, 3, 4])]

    @Test(arguments: ["none", "tanh"])
    func geluExpandsBelow20(approximate: String) throws {
        let m = unary("Gelu", opset: 20, [Attribute("approximate", .string(Array(approximate.utf8)))])
        let down = try converted(m, to: 17)
        #expect(!down.opTypes.contains("Gelu"))
        #expect(down.opTypes.contains(approximate == "tanh" ? "Tanh" : "Erf"))
        try expectSameOutputs(m, down, x234)
    }

    @Test func layerNormalizationExpandsBelow17WithItsStatistics() throws {
        let m = unary("LayerNormalization", opset: 17, [Attribute("axis", .int(1)), Attribute("epsilon", .float(1e-3))],
                      extra: [("s", .float32((0..<12).map { Float($0) / 6 }, dims: [3, 4])), ("b", .float32(Array(repeating: 0.25, count: 12), dims: [3, 4]))],
                      inputs: ["x", "s", "b"], outputs: ["y", "mean", "inv"])
        let down = try converted(m, to: 13)
        #expect(!down.opTypes.contains("LayerNormalization"))
        #expect(try firstNode("ReduceMean", down).ints("axes") == [1, 2])
        try expectSameOutputs(m, down, x234)
        #expect(down.outputNames == ["y", "mean", "inv"])
    }

    @Test func rmsNormalizationExpandsDownTo13() throws {
        let m = unary("RMSNormalization", opset: 23, extra: [("s", .float32([1, 2, 0.5, -1], dims: [4]))], inputs: ["x", "s"])
        let down = try converted(m, to: 13)
        #expect(!down.opTypes.contains("RMSNormalization"))
        try expectSameOutputs(m, down, x234)
    }

    @Test func celuExpandsToElu() throws {
        let m = unary("Celu", opset: 12, [Attribute("alpha", .float(0.5))])
        let down = try converted(m, to: 11)
        #expect(down.opTypes.contains("Elu"))
        try expectSameOutputs(m, down, x234)
    }

    /// Expansions through the schema table's static function bodies, then converted further.
    @Test(arguments: [("HardSwish", 14, 13), ("Mish", 18, 13), ("GreaterOrEqual", 12, 11)] as [(String, Int, Int)])
    func functionBodyExpansions(op: String, from: Int, to: Int) throws {
        var b = ModelBuilder(opset: from)
        b.input("x", [2, 3, 4])
        if op == "GreaterOrEqual" {
            b.floats("t", [0.5], [1])
            b.node(op, ["x", "t"], ["y"], name: "n")
            b.output("y", .bool)
        } else {
            b.node(op, ["x"], ["y"], name: "n")
            b.output("y")
        }
        let down = try converted(b.model, to: to)
        #expect(!down.opTypes.contains(op), "\(down.opTypes)")
        try expectSameOutputs(b.model, down, x234)
    }

    @Test func refusalNamesNodeOpAndReason() {
        let m = unary("Trilu", opset: 14)
        let message = refusal(m, to: 13)
        #expect(message.contains("node 'n' (Trilu)") && message.contains("opset 14 to 13") && message.contains("no exact expansion"), "\(message)")
    }

    @Test func typesTheTargetLacksAreRefusedByName() {
        var b = ModelBuilder(opset: 14)
        b.input("a", [2], .bfloat16)
        b.input("c", [2], .bfloat16)
        b.node("Add", ["a", "c"], ["y"], name: "bf_add")
        b.output("y", .bfloat16, [.value(2)])
        let message = refusal(b.model, to: 12)
        #expect(message.contains("'bf_add'") && message.contains("tensor(bfloat16)") && message.contains("Add-7"), "\(message)")
    }

    @Test func opsetsOutsideTheRangeAreRefused() {
        #expect(refusal(unary("Relu", opset: 13), to: 6).contains("7...28"))
        #expect(refusal(unary("Relu", opset: 13), to: 99).contains("7...28"))
    }

    @Test func subgraphsConvert() throws {
        var then = Graph(name: "then")
        let tin = then.value(named: "x")
        let ax = try then.addInitializer(named: "then_axes", .int64([0], dims: [1]))
        let tout = try then.addValue(named: "t_out")
        try then.addNode(Node(opType: "Unsqueeze", name: "inner_unsqueeze"), inputs: [tin, ax], outputs: [tout])
        then.appendOutput(tout)
        var other = Graph(name: "else")
        let ein = other.value(named: "x")
        let eout = try other.addValue(named: "e_out")
        let eax = try other.addInitializer(named: "else_axes", .int64([0], dims: [1]))
        try other.addNode(Node(opType: "Unsqueeze", name: "inner_unsqueeze2"), inputs: [ein, eax], outputs: [eout])
        other.appendOutput(eout)
        var b = ModelBuilder(opset: 13)
        b.input("x", [2, 3])
        b.input("c", .bool, [])
        b.node("If", ["c"], ["y"], name: "branch", [Attribute("then_branch", .graph(then)), Attribute("else_branch", .graph(other))])
        b.output("y")
        let down = try converted(b.model, to: 11)
        let node = try firstNode("If", down)
        let inner = try #require(node.attribute("then_branch")?.subgraphs.first)
        let unsqueeze = try #require(inner.nodes.first { $0.node.opType == "Unsqueeze" }?.node)
        #expect(try unsqueeze.ints("axes") == [0])
        #expect(unsqueeze.inputs.count == 1)
    }

    /// A branch output the input leaves untyped stays untyped: inference types it from a branch
    /// that may never run (affine_grid's 2-D branch splits a 5-element size into 4 parts), a type
    /// onnx's checker contradicts.
    @Test func untypedBranchOutputsStayUntyped() throws {
        var then = Graph(name: "then")
        let size = then.value(named: "size")
        var parts: [ValueID] = []
        for k in 0..<4 { parts.append(try then.addValue(named: "p\(k)")) }
        try then.addNode(Node(opType: "Split", name: "dead_split", attributes: [Attribute("num_outputs", .int(4))]),
                         inputs: [size], outputs: parts)
        for p in parts { then.appendOutput(p) }
        var other = Graph(name: "else")
        let esize = other.value(named: "size")
        var eparts: [ValueID] = []
        for k in 0..<4 { eparts.append(try other.addValue(named: "q\(k)")) }
        let sizes = try other.addInitializer(named: "else_sizes", .int64([2, 1, 1, 1], dims: [4]))
        try other.addNode(Node(opType: "Split", name: "live_split"), inputs: [esize, sizes], outputs: eparts)
        for p in eparts { other.appendOutput(p) }
        var b = ModelBuilder(opset: 20)
        b.input("size", [5], .int64)
        b.input("c", .bool, [])
        b.node("If", ["c"], ["a", "b", "d", "e"], name: "branch",
               [Attribute("then_branch", .graph(then)), Attribute("else_branch", .graph(other))])
        b.output("a")
        let up = try converted(b.model, to: 21)
        let node = try firstNode("If", up)
        for name in ["then_branch", "else_branch"] {
            let g = try #require(node.attribute(name)?.subgraphs.first)
            #expect(g.outputs.allSatisfy { g[value: $0].type == nil }, "\(name) outputs were typed")
        }
    }

    @Test func localFunctionsConvertFromTheirOwnImport() throws {
        var body = Graph(name: "f")
        let fx = body.value(named: "X")
        body.appendInput(fx)
        let fy = try body.addValue(named: "Y")
        try body.addNode(Node(opType: "ReduceSum", name: "sum", attributes: [Attribute("axes", .ints([1])), Attribute("keepdims", .int(1))]),
                         inputs: [fx], outputs: [fy])
        body.appendOutput(fy)
        var function = Function(name: "RowSum", domain: "local", body: body)
        function.opsetImports = [OpsetImport(domain: "", version: 12)]
        var b = ModelBuilder(opset: 12)
        b.input("x", [2, 3])
        b.node("RowSum", ["x"], ["y"], name: "call", domain: "local")
        b.output("y")
        var m = b.model
        m.opsetImports.append(OpsetImport(domain: "local", version: 1))
        m.functions = [function]
        let up = try converted(m, to: 13)
        let f = up.functions[0]
        #expect(f.opsetImports.first { $0.domain.isEmpty }?.version == 13)
        let sum = try #require(f.body.nodes.first { $0.node.opType == "ReduceSum" }?.node)
        #expect(sum.attribute("axes") == nil && sum.inputs.count == 2)
        // Function bodies hold no initializers: the axes are a Constant node.
        #expect(f.body.initializerOrder.isEmpty && f.body.nodes.contains { $0.node.opType == "Constant" })
        // (The evaluator does not call local functions; onnxruntime checks such numbers in test_opset.py.)
    }

    /// A small network up to the highest opset and back down gives the original's numbers.
    @Test func roundTripKeepsNumbers() throws {
        var b = ModelBuilder(opset: 11)
        b.input("x", [2, 3, 4])
        b.node("ReduceMean", ["x"], ["m"], [Attribute("axes", .ints([-1])), Attribute("keepdims", .int(1))])
        b.node("Sub", ["x", "m"], ["d"])
        b.node("Softmax", ["d"], ["s"], [Attribute("axis", .int(1))])
        b.node("Unsqueeze", ["s"], ["u"], [Attribute("axes", .ints([0]))])
        b.node("Squeeze", ["u"], ["q"], [Attribute("axes", .ints([0]))])
        b.node("Split", ["q"], ["p0", "p1"], [Attribute("axis", .int(2)), Attribute("split", .ints([1, 3]))])
        b.floats("lo", [0.01], [])
        b.floats("hi", [0.5], [])
        b.node("Clip", ["p1", "lo", "hi"], ["c"])
        b.output("c"); b.output("p0")
        let m = b.model
        let top = try converted(m, to: 28)
        try expectSameOutputs(m, top, x234)
        let back = try converted(top, to: 11)
        try expectSameOutputs(m, back, x234)
        let low = try converted(back, to: 9)
        try expectSameOutputs(m, low, x234)
    }

    @Test func perAxisQuantizationRefusedBelow13() {
        var b = ModelBuilder(opset: 13)
        b.input("x", [2, 3])
        b.floats("scale", [0.1, 0.2, 0.3], [3])
        b.initializer("zp", TensorValue(shape: [3], [UInt8(0), 1, 2]).irTensor())
        b.node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name: "quant", [Attribute("axis", .int(1))])
        b.output("q", .uint8)
        #expect(refusal(b.model, to: 12).contains("per-axis"))
    }

    @Test func upsampleAndResizeAcross9And10() throws {
        let m = unary("Upsample", opset: 7, [Attribute("scales", .floats([1, 1, 2, 2])), Attribute("mode", .string(Array("nearest".utf8)))],
                      shape: [1, 1, 2, 3])
        let up = try converted(m, to: 13)
        let resize = try firstNode("Resize", up)
        #expect(try resize.string("coordinate_transformation_mode") == "asymmetric")
        #expect(try resize.string("nearest_mode") == "floor")
        try expectSameOutputs(try converted(m, to: 11), up, ["x": sample([1, 1, 2, 3])])
        let down = try converted(up, to: 8)
        #expect(down.opTypes == ["Upsample"])
        #expect(try firstNode("Upsample", down).floats("scales") == [1, 1, 2, 2])
    }
}
