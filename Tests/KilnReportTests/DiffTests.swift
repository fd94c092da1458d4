import Testing
import KilnIR
import KilnEvaluator
@testable import KilnReport

/// x[N,4] -> MatMul(W) -> Add(b) -> Relu -> y, with names prefixed by `p`.
private func mlp(_ p: String, w: [Float]? = nil, fused: Bool = false) throws -> Model {
    var g = Graph(name: "g")
    let x = try g.addInput(named: "x", type: .tensor(.float, Shape([.symbol("N"), .value(4)])))
    let weights = w ?? (0..<12).map { Float($0) / 10 - 0.5 }
    let wv = try g.addInitializer(named: p + "w", .float32(weights, dims: [4, 3]))
    let bv = try g.addInitializer(named: p + "b", .float32([0.1, -0.2, 0.3], dims: [3]))
    let pre: ValueID
    if fused {
        let gemm = try g.addNode(Node(opType: "Gemm", name: p + "gemm"), inputs: [x, wv, bv], outputNames: [p + "h"])
        pre = g[node: gemm].outputs[0]!
    } else {
        let mm = try g.addNode(Node(opType: "MatMul", name: p + "mm"), inputs: [x, wv], outputNames: [p + "m"])
        let add = try g.addNode(Node(opType: "Add", name: p + "add"), inputs: [g[node: mm].outputs[0], bv], outputNames: [p + "h"])
        pre = g[node: add].outputs[0]!
    }
    let relu = try g.addNode(Node(opType: "Relu", name: p + "relu"), inputs: [pre], outputNames: ["y"])
    g.setOutputs([g[node: relu].outputs[0]!])
    var m = Model(graph: g, irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 17)])
    m.producerName = "test"
    return m
}

@Suite struct DiffTests {
    @Test func renamedModelIsStructurallyIdentical() throws {
        let d = ModelDiff(try mlp("a_"), try mlp("b_"))
        #expect(!d.structureChanged)
        #expect(d.io.isEmpty && d.model.isEmpty)
        #expect(d.summary.identical == 3)
        #expect(d.summary.renamedOutputs == 2)
        #expect(d.identical)
    }

    @Test func fusionIsReportedAsARewrite() throws {
        let d = ModelDiff(try mlp("a_"), try mlp("a_", fused: true))
        #expect(d.structureChanged)
        #expect(d.rewrites.map(\.description) == ["MatMul + Add -> Gemm"])
        #expect(d.removed.map(\.op).sorted() == ["Add", "MatMul"])
        #expect(d.added.map(\.op) == ["Gemm"])
        // Relu pairs through the fused region and is unchanged.
        #expect(d.changed.isEmpty)
        let n = try NumericDiff(try mlp("a_"), try mlp("a_", fused: true))
        #expect(n.withinTolerance)
        #expect(n.runs.map { $0.inputShapes["x"]! } == [[2, 4], [3, 4]])
        #expect(n.runs.allSatisfy { $0.intermediatesDiverged == 0 && $0.intermediatesCompared >= 2 })
    }

    @Test func perturbedWeightIsFoundAndFirstDivergenceNamesItsNode() throws {
        var w = (0..<12).map { Float($0) / 10 - 0.5 }
        w[5] += 1
        let a = try mlp("a_"), b = try mlp("a_", w: w)
        let d = ModelDiff(a, b)
        #expect(d.changed.count == 1)
        let c = try #require(d.changed.first)
        #expect(c.a == "a_mm" && c.op == "MatMul")
        #expect(c.weights.first?.input == 1)
        #expect(abs((c.weights.first?.maxAbsDiff ?? 0) - 1) < 1e-6)
        let n = try NumericDiff(a, b)
        #expect(!n.withinTolerance)
        #expect(n.runs[0].firstDivergence?.node == "a_mm")
    }

    @Test func ioAndModelFieldChangesAreListed() throws {
        let a = try mlp("a_")
        var b = try mlp("a_")
        b.opsetImports = [OpsetImport(domain: "", version: 18)]
        let x = b.graph.inputs[0]
        b.graph[value: x].type = .tensor(.float, Shape([.value(1), .value(4)]))
        let d = ModelDiff(a, b)
        #expect(d.model == [ModelDiff.FieldChange(field: "opset_import[ai.onnx]", a: "17", b: "18")])
        #expect(d.io.map(\.change) == ["changed"])
        #expect(d.io.first?.name == "x")
        #expect(!d.structureChanged)
    }

    @Test func insertedNodesAreSummarized() throws {
        let a = try mlp("a_")
        var b = try mlp("a_")
        let y = b.graph.outputs[0]
        let relu = b.graph.producer(of: y)!
        // Insert Neg -> Neg before the output: y = Neg(Neg(relu_out)).
        try b.graph.rename(y, to: "r")
        let n1 = try b.graph.addNode(Node(opType: "Neg", name: "n1"), inputs: [y], outputNames: ["n"])
        let n2 = try b.graph.addNode(Node(opType: "Neg", name: "n2"), inputs: [b.graph[node: n1].outputs[0]], outputNames: ["y"])
        b.graph.setOutputs([b.graph[node: n2].outputs[0]!])
        _ = relu
        let d = ModelDiff(a, b)
        #expect(d.rewrites.map(\.description) == ["Neg x2 inserted"])
        #expect(d.removed.isEmpty)
        #expect(try NumericDiff(a, b).withinTolerance)
    }
}
