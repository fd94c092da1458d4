import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

@Suite struct ConstantFoldingTests {
    @Test func constantChainsFoldIntoOneInitializer() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.floats("w", [1, 2, 3, 4, 5, 6], [3, 2])
        b.node("Transpose", ["w"], ["wt"], [Attribute("perm", .ints([1, 0]))])
        b.floats("two", [2], [])
        b.node("Mul", ["wt", "two"], ["w2"])
        b.node("Add", ["x", "w2"], ["y"])
        b.output("y")
        let (m, report) = try optimized(b.model, [ConstantFoldingPass()])
        #expect(m.opTypes == ["Add"])
        #expect(m.graph.initializerOrder.map { m.graph.name(of: $0) } == ["w2"])
        #expect(report.passes[0].counts["values folded"] == 1)
        try expectSameOutputs(b.model, m, ["x": sample([2, 3])])
    }

    @Test func largeOutputsStayUnlessAWeightNeedsThem() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4, 8, 8])
        b.ints("shape", [64, 64])
        b.node("ConstantOfShape", ["shape"], ["big"], [Attribute("value", .tensor(.float32([1], dims: [1])))])
        b.node("Reshape", ["x", "shape"], ["x2"])  // [64, 4] does not match; use MatMul below
        b.ints("s2", [4, 64])
        b.node("Reshape", ["x", "s2"], ["x3"])
        b.node("MatMul", ["x3", "big"], ["y"])
        b.ints("shape2", [4, 64])
        b.node("ConstantOfShape", ["shape2"], ["big2"], [Attribute("value", .tensor(.float32([1], dims: [1])))])
        b.node("Add", ["y", "big2"], ["z"])
        b.output("z")
        var model = b.model
        // drop the unused x2 reshape
        model.graph = { var g = model.graph; try! g.removeNodes([g.producer(of: g.valueID(named: "x2")!)!]); return g }()
        var options = PassOptions()
        options.foldSizeLimit = 512
        let (m, _) = try optimized(model, [ConstantFoldingPass()], options: options)
        // big feeds MatMul's weight: folded; big2 feeds an Add: stays a ConstantOfShape.
        #expect(m.opTypes == ["Reshape", "MatMul", "ConstantOfShape", "Add"])
        try expectSameOutputs(model, m, ["x": sample([1, 4, 8, 8])])
    }

    @Test func randomAndUnsupportedOpsAreNotFolded() throws {
        var b = ModelBuilder()
        b.input("x", [2])
        b.floats("c", [1, 2], [2])
        b.node("RandomNormalLike", ["c"], ["r"])
        b.node("Mul", ["r", "x"], ["y"])
        b.node("NoSuchOp", ["c"], ["u"], domain: "custom.domain")
        b.output("y")
        b.output("u")
        var model = b.model
        model.opsetImports.append(OpsetImport(domain: "custom.domain", version: 1))
        let (m, report) = try optimized(model, [ConstantFoldingPass()])
        #expect(m.opTypes == ["RandomNormalLike", "Mul", "NoSuchOp"])
        #expect(report.passes[0].changes == 0)
    }

    @Test func kernelErrorsPropagate() throws {
        var b = ModelBuilder()
        b.input("x", [2])
        b.floats("c", [1, 2], [2])
        b.ints("bad", [5, 5])
        b.node("Reshape", ["c", "bad"], ["r"])  // 2 elements cannot become 25
        b.node("Add", ["r", "x"], ["y"])
        b.output("y")
        #expect(throws: KilnError.self) { try optimized(b.model, [ConstantFoldingPass()]) }
    }
}

@Suite struct ShapeFoldingTests {
    @Test func staticShapesBecomeConstants() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3, 4])
        b.node("Shape", ["x"], ["s"])
        b.ints("idx", [0])
        b.node("Gather", ["s", "idx"], ["n"], [Attribute("axis", .int(0))])
        b.ints("minus1", [-1])
        b.node("Concat", ["n", "minus1"], ["target"], [Attribute("axis", .int(0))])
        b.node("Reshape", ["x", "target"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [ShapeFoldingPass(), ConstantFoldingPass(), DeadCodeEliminationPass()])
        #expect(m.opTypes == ["Reshape"])
        let t = try #require(m.graph.constantTensor(m.graph[node: m.graph.order[0]].inputs[1]!))
        #expect(try TensorValue(t).int64s == [2, -1])
        try expectSameOutputs(b.model, m, ["x": sample([2, 3, 4])])
    }

    /// torch's `x.view(x.size(0), -1, 16)` with a dynamic batch: Shape -> Gather -> Unsqueeze ->
    /// Concat -> Reshape becomes one Reshape with a constant [0, -1, 16].
    @Test func dynamicBatchFoldsPartially() throws {
        var b = ModelBuilder()
        b.input("x", .float, [.symbol("batch"), .value(4), .value(32)])
        b.node("Shape", ["x"], ["s"])
        b.initializer("zero", .int64([0], dims: []))
        b.node("Gather", ["s", "zero"], ["n"], [Attribute("axis", .int(0))])
        b.ints("axes", [0])
        b.node("Unsqueeze", ["n", "axes"], ["n1"])
        b.ints("rest", [-1, 16])
        b.node("Concat", ["n1", "rest"], ["target"], [Attribute("axis", .int(0))])
        b.node("Reshape", ["x", "target"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [ShapeFoldingPass(), ConstantFoldingPass(), DeadCodeEliminationPass()])
        #expect(m.opTypes == ["Reshape"])
        let t = try #require(m.graph.constantTensor(m.graph[node: m.graph.order[0]].inputs[1]!))
        #expect(try TensorValue(t).int64s == [0, -1, 16])
        for batch in [1, 3] {
            try expectSameOutputs(b.model, m, ["x": sample([batch, 4, 32])])
        }
    }

    @Test func symbolicDimThatMovesBecomesMinusOne() throws {
        var b = ModelBuilder()
        b.input("x", .float, [.value(2), .symbol("n")])
        b.node("Shape", ["x"], ["s"])
        b.initializer("one", .int64([1], dims: [1]))
        b.node("Gather", ["s", "one"], ["n"], [Attribute("axis", .int(0))])
        b.ints("two", [2])
        b.node("Concat", ["n", "two"], ["target"], [Attribute("axis", .int(0))])
        b.node("Reshape", ["x", "target"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [ShapeFoldingPass(), ConstantFoldingPass(), DeadCodeEliminationPass()])
        #expect(m.opTypes == ["Reshape"])
        let t = try #require(m.graph.constantTensor(m.graph[node: m.graph.order[0]].inputs[1]!))
        #expect(try TensorValue(t).int64s == [-1, 2])
        for n in [1, 5] { try expectSameOutputs(b.model, m, ["x": sample([2, n])]) }
    }
}
