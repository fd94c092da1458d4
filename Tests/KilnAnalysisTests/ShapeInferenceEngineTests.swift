import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceEngineTests {
    @Test func resultsAreWrittenIntoValueInfo() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 4")
        t.node("Relu", ["x"], ["r"])
        t.node("Neg", ["r"], ["y"])
        t.output("y")
        let (m, report) = t.infer()
        #expect(report.valid)
        #expect(report.valuesInferred == 2)
        #expect(m.graph.valueInfo.map { m.graph.name(of: $0) } == ["r"])
        #expect(m.graph[value: m.graph.outputs[0]].type?.description == "tensor(float)[batch, 4]")
    }

    @Test func sliceWithComputedEndsKeepsTheAxesItDoesNotSlice() {
        // torch's position_ids[:, :seq]: the end is computed, axis 0 is untouched.
        var t = ShapeTestGraph()
        t.input("ids", .int64, "batch, seq")
        t.input("table", .int64, "1, 512")
        t.node("Shape", ["ids"], ["s"])
        t.ints("one", [1])
        t.ints("zero", [0])
        t.node("Gather", ["s", "one"], ["end"])
        t.node("Slice", ["table", "zero", "end", "one"], ["pos"])
        t.node("Slice", ["table", "zero", "end"], ["first"])  // no axes: the first len(starts) axes
        t.output("pos")
        t.output("first")
        let (_, report) = t.infer()
        #expect(report.valid)
        #expect(t.type("pos") == "tensor(int64)[1, ?]")
        #expect(t.type("first") == "tensor(int64)[?, 512]")
    }

    @Test func nodesListedOutOfOrderAreInferredInTopologicalOrder() throws {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 4")
        t.node("Relu", ["x"], ["r"])
        t.node("Neg", ["r"], ["y"])
        t.output("y")
        let sorted = t.graph.order
        #expect(InferenceRun.inferenceOrder(t.graph, valueCount: 8) == sorted)
        try t.graph.setOrder(sorted.reversed())  // Neg now reads r before Relu is listed
        #expect(InferenceRun.inferenceOrder(t.graph, valueCount: 8) == sorted)
        let (m, report) = t.infer()
        #expect(report.valid)
        #expect(m.graph[value: m.graph.outputs[0]].type?.description == "tensor(float)[batch, 4]")
    }

    @Test func problemsReportsWhatInferReportsAndLeavesTheModelAlone() {
        var t = ShapeTestGraph()
        t.input("x", .float, "2, 4")
        t.node("Relu", ["x"], ["r"], name: "relu1")
        t.node("Neg", ["r"], ["y"], name: "neg")
        t.declare("r", .float, "2, 5")
        t.output("y")
        let model = t.model
        let (_, report) = t.infer()
        let problems = ShapeInference().problems(in: model)
        #expect(problems == report.issues)
        #expect(problems.map(\.nodeName) == ["relu1"])
        #expect(model.graph == t.model.graph)
        #expect(model.graph[value: model.graph.valueID(named: "y")!].type == nil)
    }

    @Test func conflictsWithDeclaredTypesNameTheNode() {
        var t = ShapeTestGraph()
        t.input("x", .float, "2, 4")
        t.node("Relu", ["x"], ["r"], name: "relu1")
        t.declare("r", .float, "2, 5")
        let (_, report) = t.infer()
        #expect(report.issues.count == 1)
        let issue = report.issues[0]
        #expect(issue.rule == "shape.conflict" && issue.nodeName == "relu1" && issue.op == "Relu")
        #expect(issue.message.contains("'r'"))
    }

    @Test func declaredSymbolsAreKeptAndStaticDimsWin() {
        var t = ShapeTestGraph()
        t.input("x", .float, "?, 4")
        t.node("Relu", ["x"], ["r"])
        t.declare("r", .float, "batch, ?")
        #expect(t.type("r") == "tensor(float)[batch, 4]")
    }

    @Test func opsWithoutARuleAreListedAndLeftAlone() {
        var t = ShapeTestGraph()
        t.input("x", .float, "2")
        t.node("Frobnicate", ["x"], ["y"], domain: "com.example")
        t.node("Relu", ["y"], ["z"])
        let (m, report) = t.infer()
        #expect(report.unsupportedOperators == ["com.example:Frobnicate"])
        #expect(m.graph[value: m.graph.valueID(named: "y")!].type == nil)
        #expect(report.valid)
    }

    @Test func registryResolvesTheLargestSinceVersion() {
        var r = ShapeRuleRegistry()
        r.register("Op", since: 1) { ctx in ctx.setOutput(0, .float, []) }
        r.register("Op", since: 13) { ctx in ctx.setOutput(0, .int64, []) }
        #expect(r.rule(domain: "", op: "Op", opset: 0) == nil)
        #expect(r.rule(domain: "ai.onnx", op: "Op", opset: 12) != nil)
        #expect(r.entries.map(\.since) == [1, 13])
        #expect(ShapeRuleRegistry.standard.rule(domain: "", op: "Squeeze", opset: 12) != nil)
    }

    @Test func ifBranchesAreInferredAndJoined() throws {
        func branch(_ name: String, _ dims: [Int64]) throws -> Graph {
            var g = Graph(name: name)
            let x = g.value(named: "x")
            let c = try g.addInitializer(named: "\(name)_c", .float32(Array(repeating: 1, count: Int(dims.reduce(1, *))), dims: dims))
            _ = try g.addNode(Node(opType: "Add", name: "\(name)_add"), inputs: [x, c], outputNames: ["\(name)_out"])
            g.setOutputs([g.valueID(named: "\(name)_out")!])
            return g
        }
        var t = ShapeTestGraph()
        t.input("x", .float, "3, 4")
        t.input("cond", .bool, "")
        t.node("If", ["cond"], ["y"], [Attribute("then_branch", .graph(try branch("then", [4]))),
                                       Attribute("else_branch", .graph(try branch("else", [1, 4])))])
        let (m, report) = t.infer()
        #expect(report.valid)
        #expect(t.type("y") == "tensor(float)[3, 4]")
        // The branch's own value got its type too.
        let ifNode = m.graph[node: m.graph.order[0]]
        let then = try #require(try ifNode.graph("then_branch"))
        #expect(then[value: then.valueID(named: "then_out")!].type?.description == "tensor(float)[3, 4]")
    }
}

@Suite struct ShapeInferenceFunctionTests {
    /// y = Transpose(x, perm = <attribute 'order' of the call>), as a local function.
    func model(withPerm perm: [Int64]?) throws -> Model {
        var body = Graph(name: "body")
        let x = try body.addInput(named: "x", type: nil)
        var transpose = Node(opType: "Transpose", name: "t")
        transpose.attributes = [Attribute("perm", .undefined, refAttrName: "order")]
        _ = try body.addNode(transpose, inputs: [x], outputNames: ["y"])
        body.setOutputs([body.valueID(named: "y")!])
        var f = Function(name: "Swap", domain: "local", body: body)
        f.attributeNames = ["order"]
        f.opsetImports = [OpsetImport(domain: "", version: 17)]

        var t = ShapeTestGraph(opset: 17)
        t.input("a", .float, "batch, 3, 5")
        t.node("Swap", ["a"], ["b"], perm.map { [shapeAttr("order", $0)] } ?? [], domain: "local")
        var m = t.model
        m.opsetImports.append(OpsetImport(domain: "local", version: 1))
        m.functions = [f]
        return m
    }

    @Test func aLocalFunctionCallIsInferredThroughItsBody() throws {
        var m = try model(withPerm: [2, 0, 1])
        let report = ShapeInference().infer(&m)
        #expect(report.valid && report.unsupportedOperators.isEmpty)
        #expect(m.graph[value: m.graph.valueID(named: "b")!].type?.description == "tensor(float)[5, batch, 3]")
        // The function body itself is left as it was.
        #expect(m.functions[0].body[value: m.functions[0].body.valueID(named: "y")!].type == nil)
    }

    @Test func anAbsentAttributeFallsBackToTheOperatorDefault() throws {
        var m = try model(withPerm: nil)
        _ = ShapeInference().infer(&m)
        #expect(m.graph[value: m.graph.valueID(named: "b")!].type?.description == "tensor(float)[5, 3, batch]")
    }
}
