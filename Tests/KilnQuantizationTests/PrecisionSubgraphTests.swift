import Testing
import KilnIR
import KilnEvaluator
import KilnTestSupport
@testable import KilnQuantization

/// Subgraphs: If branches and Loop bodies convert with their node; names they read from the
/// enclosing graph keep one type.
@Suite struct PrecisionSubgraphTests {
    /// y = If(c) then x * w + 1 else Exp(x): the else branch's Exp stays float32.
    func ifModel() -> Model {
        var then = ModelBuilder(opset: 17)
        then.floats("one", [1], [1])
        then.node("Mul", ["x", "w"], ["t0"])
        then.node("Add", ["t0", "one"], ["t1"])
        then.output("t1", .float, [.value(4)])
        var thenGraph = then.graph
        thenGraph.name = "then"
        var els = ModelBuilder(opset: 17)
        els.node("Exp", ["x"], ["e0"])
        els.output("e0", .float, [.value(4)])
        var elseGraph = els.graph
        elseGraph.name = "else"
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.input("c", [], .bool)
        b.floats("w", [1, 2, 3, 4], [4])
        b.node("If", ["c"], ["r"], [Attribute("then_branch", .graph(thenGraph)), Attribute("else_branch", .graph(elseGraph))])
        b.node("Relu", ["r"], ["y"])
        b.output("y")
        return b.model
    }

    @Test func ifBranches() throws {
        let (m, r) = try precisionConverted(ifModel())
        #expect(r.kept.map(\.op) == ["Exp"])
        #expect(r.kept.first?.graph.hasSuffix(".else_branch") == true)
        let node = try #require(m.precisionNodes("If").first)
        let then = try #require(try node.graph("then_branch")), els = try #require(try node.graph("else_branch"))
        #expect(then.outputs.map { then[value: $0].type?.tensorElementType } == [.float16])
        #expect(els.outputs.map { els[value: $0].type?.tensorElementType } == [.float16])
        // The else branch casts the captured float16 x up for Exp and the result back down.
        #expect(els.order.map { els[node: $0].opType } == ["Cast", "Exp", "Cast"])
        // The then branch's constant became float16; the captured w is float16 in the main graph.
        #expect(then[value: try #require(then.valueID(named: "one"))].initializer?.dataType == .float16)
        #expect(m.precisionType("w") == .float16)
        for c in [true, false] {
            try expectPrecisionClose(ifModel(), m, ["x": TensorValue(shape: [4], [0.5, -1, 2, 1] as [Float]),
                                           "c": TensorValue(shape: [], [c])])
        }
    }

    @Test func ifBlockedKeepsBranchOutputsFloat32() throws {
        let (m, r) = try precisionConverted(ifModel(), PrecisionOptions(blockedOps: ["If"]))
        #expect(r.kept.map(\.op).sorted() == ["Exp", "If"])
        let node = try #require(m.precisionNodes("If").first)
        let then = try #require(try node.graph("then_branch"))
        #expect(then.outputs.map { then[value: $0].type?.tensorElementType } == [.float])
        try expectPrecisionClose(ifModel(), m, ["x": TensorValue(shape: [4], [0.5, -1, 2, 1] as [Float]),
                                       "c": TensorValue(shape: [], [true])])
    }

    /// Loop 3 times: acc = acc * 0.5 + x (carried float), scan output acc.
    func loopModel() -> Model {
        var body = ModelBuilder(opset: 17)
        body.input("i", [], .int64)
        body.input("cond_in", [], .bool)
        body.input("acc", [2])
        body.floats("half", [0.5], [])
        body.node("Mul", ["acc", "half"], ["a0"])
        body.node("Add", ["a0", "x"], ["acc_out"])
        body.node("Identity", ["cond_in"], ["cond_out"])
        body.node("Identity", ["acc_out"], ["scan"])
        body.output("cond_out", .bool, [])
        body.output("acc_out", .float, [.value(2)])
        body.output("scan", .float, [.value(2)])
        var g = body.graph
        g.name = "body"
        var b = ModelBuilder(opset: 17)
        b.input("x", [2])
        b.input("init", [2])
        b.initializer("trips", .int64([3], dims: []))
        b.node("Loop", ["trips", "", "init"], ["final", "scans"], [Attribute("body", .graph(g))])
        b.output("final", .float, [.value(2)])
        b.output("scans", .float, [.value(3), .value(2)])
        return b.model
    }

    @Test func loopCarriedValues() throws {
        let (m, r) = try precisionConverted(loopModel(), PrecisionOptions(keepIOTypes: true))
        #expect(r.kept.isEmpty)
        let loop = try #require(m.precisionNodes("Loop").first)
        let body = try #require(try loop.graph("body"))
        #expect(body.inputs.map { body[value: $0].type?.tensorElementType } == [.int64, .bool, .float16])
        #expect(body.outputs.map { body[value: $0].type?.tensorElementType } == [.bool, .float16, .float16])
        #expect(m.precisionType("final") == .float && m.precisionType("scans") == .float)
        try expectPrecisionClose(loopModel(), m, ["x": sample([2]), "init": sample([2])])
    }
}

/// Main-graph outputs keep their names whatever produced them.
@Suite struct PrecisionOutputNameTests {
    @Test func keptProducerOfAnOutput() throws {
        // Exp stays float32 and writes the output y: without --keep-io-types y is float16, so Exp's
        // value is renamed and a Cast writes y.
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.node("Exp", ["x"], ["y"])
        b.output("y", .float, [.value(4)])
        let (m, _) = try precisionConverted(b.model)
        #expect(m.outputNames == ["y"])
        #expect(m.precisionType("y") == .float16)
        let y = try #require(m.graph.valueID(named: "y"))
        let cast = m.graph[node: try #require(m.graph.producer(of: y))]
        #expect(cast.opType == "Cast")
        #expect(try cast.int("to") == 10)
        #expect(cast.inputs[0].map { m.graph.name(of: $0) } == "y_fp32")
        try expectPrecisionClose(b.model, m, ["x": sample([4])])
    }

    @Test func renamedOutputReadBySubgraph() throws {
        // y = Relu(x) is an output and is read by name inside an If branch; with --keep-io-types y
        // stays float32 by name, Relu's float16 value becomes y_fp16 and the branch reads that.
        var then = ModelBuilder(opset: 17)
        then.node("Neg", ["y"], ["t"])
        then.output("t", .float, [.value(4)])
        var tg = then.graph
        tg.name = "then"
        var els = ModelBuilder(opset: 17)
        els.node("Abs", ["y"], ["e"])
        els.output("e", .float, [.value(4)])
        var eg = els.graph
        eg.name = "else"
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.input("c", [], .bool)
        b.node("Relu", ["x"], ["y"])
        b.node("If", ["c"], ["z"], [Attribute("then_branch", .graph(tg)), Attribute("else_branch", .graph(eg))])
        b.output("y", .float, [.value(4)])
        b.output("z", .float, [.value(4)])
        let (m, _) = try precisionConverted(b.model, PrecisionOptions(keepIOTypes: true))
        #expect(m.outputNames == ["y", "z"])
        #expect(m.precisionType("y") == .float && m.precisionType("z") == .float)
        let node = try #require(m.precisionNodes("If").first)
        let branch = try #require(try node.graph("then_branch"))
        #expect(branch.outerScopeReferences == ["y_fp16"])
        for c in [true, false] {
            try expectPrecisionClose(b.model, m, ["x": sample([4]), "c": TensorValue(shape: [], [c])])
        }
    }
}
