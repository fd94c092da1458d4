import Testing
import KilnIR
@testable import KilnReport

@Suite struct ModelSummaryTests {
    @Test func countsParametersOpsAndIO() throws {
        var g = Graph(name: "mlp")
        let x = try g.addInput(named: "x", type: .tensor(.float, Shape([.symbol("N"), .value(4)])))
        let w = try g.addInitializer(named: "w", .float32(Array(repeating: 0.5, count: 12), dims: [4, 3]))
        let b = try g.addInitializer(named: "b", .int64([1, 2, 3], dims: [3]))
        let h = try g.addNode(Node(opType: "MatMul"), inputs: [x, w], outputNames: ["h"])
        _ = try g.addNode(Node(opType: "Add"), inputs: [g[node: h].outputs[0], b], outputNames: ["y"])
        g.setOutputs([g.valueID(named: "y")!])
        let s = ModelSummary(model: Model(graph: g))
        #expect(s.parameters == 15)
        #expect(s.parameterBytes == 12 * 4 + 3 * 8)
        #expect(s.ops == ["MatMul": 1, "Add": 1])
        #expect(s.inputs == [ModelSummary.IO(name: "x", dtype: "float", shape: [.symbol("N"), .value(4)])])
        #expect(s.outputs.map(\.name) == ["y"])
        #expect(s.byDtype.map(\.dtype) == ["float", "int64"])
        #expect(s.text.contains("MatMul"))
    }
}
