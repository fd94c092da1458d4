import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

/// `DynamicAxes` (rules in Sources/KilnPasses/Axes) and `AxesVerification`.
@Suite struct AxesTests {
    /// x [1, 4, 2, 2] -> Relu -> Reshape(target) -> MatMul(w [16, 3]) -> y.
    func flattenModel(_ target: [Int64]) -> Model {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 4, 2, 2])
        b.ints("target", target)
        b.floats("w", (0..<48).map { Float($0 % 7) * 0.25 - 0.5 }, [16, 3])
        b.node("Relu", ["x"], ["r"])
        b.node("Reshape", ["r", "target"], ["flat"], name: "flatten")
        b.node("MatMul", ["flat", "w"], ["y"])
        b.output("y", .float, [.value(1), .value(3)])
        return b.model
    }

    /// x [1, 6, 8] split into heads with the sequence baked: Reshape [1, 6, 2, 4] -> Transpose ->
    /// Transpose back -> Reshape [1, 6, 8].
    func headsModel() -> Model {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.ints("split", [1, 6, 2, 4])
        b.ints("merge", [1, 6, 8])
        b.node("Reshape", ["x", "split"], ["s"], name: "split_heads")
        b.node("Transpose", ["s"], ["t"], [Attribute("perm", .ints([0, 2, 1, 3]))])
        b.node("Softmax", ["t"], ["p"], [Attribute("axis", .int(-1))])
        b.node("Transpose", ["p"], ["u"], [Attribute("perm", .ints([0, 2, 1, 3]))])
        b.node("Reshape", ["u", "merge"], ["y"], name: "merge_heads")
        b.output("y", .float, [.value(1), .value(6), .value(8)])
        return b.model
    }

    /// The int64 constant read by input `slot` of the node named `node`.
    func target(of node: String, _ m: Model, slot: Int = 1) throws -> [Int64] {
        let g = m.graph
        let id = try #require(g.nodes.first { $0.node.name == node }?.id)
        let v = try #require(g[node: id].inputs[slot])
        let t = try #require(g[value: v].initializer)
        return try TensorValue(t).int64s
    }

    func outputDims(_ m: Model) -> [Dim]? { m.graph[value: m.graph.outputs[0]].type?.tensorShape?.dims }

    @Test(arguments: [([1, -1], [0, -1]), ([1, 16], [0, 16]), ([-1, 16], [0, 16])] as [([Int64], [Int64])])
    func flattenTargetsBecomeBatchFree(old: [Int64], new: [Int64]) throws {
        let original = flattenModel(old)
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: DynamicAxes.batchSpecs(m))
        #expect(report.oldSizes == ["batch": 1])
        #expect(try target(of: "flatten", m) == new)
        #expect(outputDims(m) == [.symbol("batch"), .value(3)])
        try m.graph.checkInvariants()
        let lines = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        #expect(lines.contains { $0.contains("equals 4 runs") })
        // Batch 3 by hand: rows are independent.
        let x = TensorValue(shape: [3, 4, 2, 2], (0..<48).map { Float($0) / 10 - 2 })
        let y = try outputs(m, ["x": x])[0]
        #expect(y.shape == [3, 3])
        let row1 = try outputs(original, ["x": TensorValue(shape: [1, 4, 2, 2], (16..<32).map { Float($0) / 10 - 2 })])[0]
        #expect(Array(y.doubles[3..<6]) == row1.doubles)
    }

    @Test func sequenceBakedIntoHeadReshapes() throws {
        let original = headsModel()
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        #expect(report.oldSizes == ["seq": 6])
        #expect(try target(of: "split_heads", m) == [1, 0, 2, 4])
        #expect(try target(of: "merge_heads", m) == [1, 0, 8])
        #expect(outputDims(m) == [.value(1), .symbol("seq"), .value(8)])
        let lines = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        #expect(lines.contains { $0.hasPrefix("seq=7") })
    }

    @Test func flattenedSequenceBecomesMinusOne() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.ints("target", [1, 48])
        b.node("Reshape", ["x", "target"], ["y"], name: "flat")
        b.output("y", .float, [.value(1), .value(48)])
        var m = b.model
        _ = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        #expect(try target(of: "flat", m) == [1, -1])
    }

    @Test func expandAndSliceFollowTheSymbol() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 5, 4])
        b.ints("shape", [2, 1, 5, 4])
        b.ints("starts", [0])
        b.ints("ends", [5])
        b.ints("axes", [2])
        b.node("Expand", ["x", "shape"], ["e"], name: "expand")
        b.node("Slice", ["e", "starts", "ends", "axes"], ["y"], name: "slice")
        b.output("y", .float, [.value(2), .value(1), .value(5), .value(4)])
        let original = b.model
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "n")])
        #expect(try target(of: "expand", m) == [2, 1, 1, 4])
        #expect(try target(of: "slice", m, slot: 2) == [Int64.max])
        #expect(outputDims(m) == [.value(2), .value(1), .symbol("n"), .value(4)])
        _ = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
    }

    @Test func splitSymbolIsRefusedByName() throws {
        // [1, 6, 8] -> [1, 2, 3, 8]: 'seq' is split over two elements.
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.ints("target", [1, 2, 3, 8])
        b.node("Reshape", ["x", "target"], ["y"], name: "split_seq")
        b.output("y", .float, [.value(1), .value(2), .value(3), .value(8)])
        var m = b.model
        let before = m
        let error = try #require(throws: KilnError.self) {
            try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        }
        #expect(error.code == .checkFailed)
        #expect(error.message.contains("split_seq") && error.message.contains("split over several elements"))
        #expect(m == before)
    }

    @Test func batchMergedIntoHeadsBecomesMinusOne() throws {
        // torch's x.view(B * heads, S, D) at B = 1: [1, 4, 6, 8] -> [4, 6, 8] becomes [-1, 6, 8].
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 4, 6, 8])
        b.ints("target", [4, 6, 8])
        b.node("Reshape", ["x", "target"], ["y"], name: "merge_heads")
        b.output("y", .float, [.value(4), .value(6), .value(8)])
        let original = b.model
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: DynamicAxes.batchSpecs(m))
        #expect(try target(of: "merge_heads", m) == [-1, 6, 8])
        _ = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
    }

    @Test func exactDimAtAnotherIndexIsTakenFromShape() throws {
        // [batch, 4, seq, 8] -> [-1, seq, 8]: batch goes into the -1, seq moves from axis 2 to 1.
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 4, 6, 8])
        b.ints("target", [-1, 6, 8])
        b.node("Reshape", ["x", "target"], ["y"], name: "merge")
        b.output("y", .float, [.value(4), .value(6), .value(8)])
        let original = b.model
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 0, name: "batch"), .init(input: "x", axis: 2, name: "seq")])
        let reshape = try #require(m.graph.nodes.first { $0.node.name == "merge" })
        let shapeValue = try #require(reshape.node.inputs[1])
        let producer = try #require(m.graph.producer(of: shapeValue))
        #expect(m.graph[node: producer].opType == "Concat")
        #expect(outputDims(m)?.dropFirst().elementsEqual([.symbol("seq"), .value(8)]) == true)
        try m.graph.checkInvariants()
        _ = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        let y = try outputs(m, ["x": TensorValue(shape: [2, 4, 5, 8], [Float](repeating: 1, count: 320))])[0]
        #expect(y.shape == [8, 5, 8])
    }

    @Test func positionalTableIsRefusedByName() throws {
        // Rule 7: an Add lines 'seq' up with a table built for length 6.
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.floats("pos", (0..<48).map { Float($0) }, [1, 6, 8])
        b.node("Add", ["x", "pos"], ["y"], name: "add_pos")
        b.output("y", .float, [.value(1), .value(6), .value(8)])
        var m = b.model
        let error = try #require(throws: KilnError.self) {
            try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        }
        #expect(error.message.contains("add_pos") && error.message.contains("'pos'"))
    }

    /// x [1, 6, 8] + Gather(table [10, 8], ids): ids a constant arange or Range(0, 6, 1) -> Unsqueeze.
    func positionsModel(computed: Bool) -> Model {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.floats("table", (0..<80).map { Float($0) * 0.1 }, [10, 8])
        if computed {
            b.initializer("start", .int64([0], dims: []))
            b.initializer("limit", .int64([6], dims: []))
            b.initializer("step", .int64([1], dims: []))
            b.ints("zero", [0])
            b.node("Range", ["start", "limit", "step"], ["range"])
            b.node("Unsqueeze", ["range", "zero"], ["ids"])
        } else {
            b.initializer("ids", .int64(Array(0..<6), dims: [1, 6]))
        }
        b.node("Gather", ["table", "ids"], ["pos"], name: "pos_lookup")
        b.node("Add", ["x", "pos"], ["y"], name: "add_pos")
        b.output("y", .float, [.value(1), .value(6), .value(8)])
        return b.model
    }

    @Test(arguments: [false, true])
    func positionalIdsFollowTheSequence(computed: Bool) throws {
        let original = positionsModel(computed: computed)
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        #expect(report.rewrites.contains { $0.contains("computed from 'seq'") })
        #expect(outputDims(m) == [.value(1), .symbol("seq"), .value(8)])
        try m.graph.checkInvariants()
        _ = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        // At length 3 the table rows 0..2 are added.
        let x = TensorValue(shape: [1, 3, 8], [Float](repeating: 0, count: 24))
        let y = try outputs(m, ["x": x])[0]
        #expect(y.shape == [1, 3, 8])
        #expect(zip(y.doubles, (0..<24).map { Double(Float($0) * 0.1) }).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test(arguments: ["ConstantOfShape", "Expand"])
    func shapesBuiltForTheOldSizeFollowTheInput(op: String) throws {
        // x [1, 6, 8] + ConstantOfShape([1, 6, 8]) or Expand(bias [8], [1, 6, 8]).
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.ints("shape", [1, 6, 8])
        if op == "ConstantOfShape" {
            b.node(op, ["shape"], ["c"], name: "fill", [Attribute("value", .tensor(.float32([2], dims: [1])))])
        } else {
            b.floats("bias", (0..<8).map { Float($0) }, [8])
            b.node(op, ["bias", "shape"], ["c"], name: "fill")
        }
        b.node("Add", ["x", "c"], ["y"], name: "add")
        b.output("y", .float, [.value(1), .value(6), .value(8)])
        let original = b.model
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        #expect(outputDims(m) == [.value(1), .symbol("seq"), .value(8)])
        try m.graph.checkInvariants()
        _ = try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        let y = try outputs(m, ["x": TensorValue(shape: [1, 3, 8], [Float](repeating: 1, count: 24))])[0]
        #expect(y.shape == [1, 3, 8])
    }

    @Test func lengthSpecificMixingIsCaughtByVerification() throws {
        // A token-mixing MatMul [6, 6] x [1, seq, 8]: nothing to rewrite, but it only works at 6.
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 6, 8])
        b.floats("mix", (0..<36).map { Float($0 % 5) }, [6, 6])
        b.node("MatMul", ["mix", "x"], ["y"], name: "mix_tokens")
        b.output("y", .float, [.value(1), .value(6), .value(8)])
        let original = b.model
        var m = original
        let report = try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 1, name: "seq")])
        let error = try #require(throws: KilnError.self) {
            try AxesVerification.run(original: original, rewritten: m, oldSizes: report.oldSizes)
        }
        #expect(error.code == .checkFailed)
        #expect(error.message.contains("seq=7") && error.message.contains("mix_tokens"))
    }

    @Test func badSpecsAreRefused() throws {
        var m = flattenModel([1, -1])
        #expect(throws: KilnError.self) { try DynamicAxes.makeDynamic(&m, dims: [.init(input: "nope", axis: 0, name: "b")]) }
        #expect(throws: KilnError.self) { try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 4, name: "b")]) }
        #expect(throws: KilnError.self) { try DynamicAxes.makeDynamic(&m, dims: [.init(input: "x", axis: 0, name: "3")]) }
    }

    @Test func renameDimEverywhere() throws {
        var m = flattenModel([1, -1])
        _ = try DynamicAxes.makeDynamic(&m, dims: DynamicAxes.batchSpecs(m))
        let n = try DynamicAxes.renameDim(&m, from: "batch", to: "N")
        #expect(n >= 2)
        #expect(m.graph[value: m.graph.inputs[0]].type?.tensorShape?.dims.first == .symbol("N"))
        #expect(outputDims(m)?.first == .symbol("N"))
        #expect(throws: KilnError.self) { try DynamicAxes.renameDim(&m, from: "batch", to: "M") }
    }

    @Test func refreshTypesAfterPinning() throws {
        var m = flattenModel([1, -1])
        _ = try DynamicAxes.makeDynamic(&m, dims: DynamicAxes.batchSpecs(m))
        let x = m.graph.inputs[0]
        m.graph[value: x].type = .tensor(.float, Shape(static: [2, 4, 2, 2]))
        DynamicAxes.refreshTypes(&m)
        #expect(outputDims(m) == [.value(2), .value(3)])
        #expect(m.graph.valueInfo.isEmpty)
    }
}
