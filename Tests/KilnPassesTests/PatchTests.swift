import Testing
import KilnIR
@testable import KilnPasses

/// x -> Relu -> a -> Identity -> y(out); patch replaces the Identity's output by `a`.
private func chain() throws -> Model {
    var g = Graph(name: "g")
    let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
    let relu = try g.addNode(Node(opType: "Relu", name: "relu"), inputs: [x], outputNames: ["a"])
    let a = g[node: relu].outputs[0]!
    let id = try g.addNode(Node(opType: "Identity", name: "id"), inputs: [a], outputNames: ["y"])
    let y = g[node: id].outputs[0]!
    g.appendOutput(y)
    return Model(graph: g)
}

@Suite struct PatchTests {
    @Test func replacingAGraphOutputKeepsItsName() throws {
        var m = try chain()
        let id = m.graph.order[1]
        var patch = Patch()
        patch.replace(m.graph[node: id].outputs[0]!, with: .existing(m.graph[node: id].inputs[0]!))
        let scope = GraphScope(opset: 21, opsets: ["": 21], depth: 0, captured: [])
        let effect = try m.graph.apply(patch, anchor: id, scope: scope)
        #expect(effect.nodesRemoved == 1)
        #expect(m.graph.nodeCount == 1)
        #expect(m.graph.outputs.map { m.graph.name(of: $0) } == ["y"])
        #expect(m.graph[node: m.graph.order[0]].opType == "Relu")
        try m.graph.checkInvariants()
    }

    @Test func graphInputForwardedToOutputGetsAnIdentity() throws {
        var g = Graph(name: "g")
        let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
        let drop = try g.addNode(Node(opType: "Dropout", name: "drop"), inputs: [x], outputNames: ["y"])
        let y = g[node: drop].outputs[0]!
        g.appendOutput(y)
        let id = g.order[0]
        var patch = Patch()
        patch.replace(y, with: .existing(x))
        try g.apply(patch, anchor: id, scope: GraphScope(opset: 21, opsets: [:], depth: 0, captured: []))
        #expect(g.nodeCount == 1)
        #expect(g[node: g.order[0]].opType == "Identity")
        #expect(g.outputs.map { g.name(of: $0) } == ["y"])
        #expect(g.inputs.map { g.name(of: $0) } == ["x"])
        try g.checkInvariants()
    }

    @Test func newNodesAndInitializersAreNamedFromTheirBase() throws {
        var m = try chain()
        let relu = m.graph.order[0]
        var patch = Patch()
        let c = patch.initializer("relu_scale", .float32([2, 2], dims: [2]))
        let out = patch.node1("Mul", name: "relu_scaled", inputs: [.existing(m.graph[node: relu].outputs[0]!), c],
                              output: "a_scaled")
        patch.replace(m.graph[node: m.graph.order[1]].outputs[0]!, with: out)
        try m.graph.apply(patch, anchor: m.graph.order[1], scope: GraphScope(opset: 21, opsets: [:], depth: 0, captured: []))
        #expect(m.graph.nodes.map(\.node.opType) == ["Relu", "Mul"])
        #expect(m.graph.outputs.map { m.graph.name(of: $0) } == ["y"])
        #expect(m.graph.valueID(named: "relu_scale") != nil)
        try m.graph.checkInvariants()
    }

    @Test func capturedValuesAreNotReplaced() throws {
        var m = try chain()
        var patch = Patch()
        let a = m.graph[node: m.graph.order[0]].outputs[0]!
        patch.replace(a, with: .existing(m.graph.inputs[0]))
        let before = m.graph
        #expect(throws: (any Error).self) {
            try m.graph.apply(patch, anchor: nil, scope: GraphScope(opset: 21, opsets: [:], depth: 0, captured: ["a"]))
        }
        #expect(m.graph == before)
    }
}
