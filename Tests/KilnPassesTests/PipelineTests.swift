import Testing
import KilnIR
import KilnONNX
import KilnEvaluator
@testable import KilnPasses

@Suite struct PipelineTests {
    /// A model with something for most passes: Constant, Identity, a no-op, duplicates, a
    /// foldable chain, a dynamic-batch reshape.
    func messy() -> Model {
        var b = ModelBuilder()
        b.input("x", .float, [.symbol("batch"), .value(4)])
        b.node("Constant", [], ["c"], [Attribute("value_floats", .floats([1, 2, 3, 4]))])
        b.floats("c2", [1, 2, 3, 4], [4])
        b.node("Identity", ["x"], ["xi"])
        b.node("Mul", ["xi", "c"], ["m1"])
        b.node("Mul", ["xi", "c2"], ["m2"])
        b.floats("one", [1], [])
        b.node("Mul", ["m2", "one"], ["m3"])
        b.node("Add", ["m1", "m3"], ["sum"])
        b.node("Shape", ["sum"], ["s"])
        b.initializer("zero", .int64([0], dims: []))
        b.node("Gather", ["s", "zero"], ["n"], [Attribute("axis", .int(0))])
        b.ints("axes", [0])
        b.node("Unsqueeze", ["n", "axes"], ["n1"])
        b.ints("rest", [2, 2])
        b.node("Concat", ["n1", "rest"], ["target"], [Attribute("axis", .int(0))])
        b.node("Reshape", ["sum", "target"], ["y"])
        b.node("Identity", ["y"], ["out"])
        b.output("out")
        return b.model
    }

    @Test(arguments: [1, 2, 3])
    func levelsKeepResultsAndNames(level: Int) throws {
        var m = messy()
        _ = try Pipeline.optimize(&m, level: level)
        try m.graph.checkInvariants()
        #expect(m.outputNames == ["out"])
        for batch in [1, 3] { try expectSameOutputs(messy(), m, ["x": sample([batch, 4])]) }
        if level >= 2 { #expect(m.opTypes == ["Mul", "Add", "Reshape"]) }
        else { #expect(m.graph.nodeCount < messy().graph.nodeCount) }
    }

    @Test func optimizingTwiceGivesIdenticalBytes() throws {
        var a = messy(), b = messy()
        _ = try Pipeline.optimize(&a)
        _ = try Pipeline.optimize(&b)
        #expect(try ModelFile.encode(a) == ModelFile.encode(b))
        var c = a
        let report = try Pipeline.optimize(&c)
        #expect(report.rounds == 1)
        #expect(try ModelFile.encode(c) == ModelFile.encode(a))
    }

    @Test func unknownPassNamesAreUsageErrors() throws {
        #expect(throws: KilnError.self) { try Pipeline.select(level: 3, skip: ["no-such-pass"]) }
        let only = try Pipeline.select(level: 1, only: ["identity", "cse"])
        #expect(only.map(\.name) == ["identity", "cse"])
        let skipped = try Pipeline.select(level: 2, skip: ["constant-folding"])
        #expect(!skipped.map(\.name).contains("constant-folding"))
        #expect(skipped.map(\.name).contains("shape-folding"))
    }
}
