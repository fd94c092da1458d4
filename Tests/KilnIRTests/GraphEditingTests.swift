import Testing
@testable import KilnIR

/// Builds `y = Relu(Add(x, c))` with `c` an initializer.
func smallGraph() throws -> (Graph, add: NodeID, relu: NodeID) {
    var g = Graph(name: "g")
    let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
    let c = try g.addInitializer(named: "c", .float32([1, 2], dims: [2]))
    let add = try g.addNode(Node(opType: "Add", name: "add"), inputs: [x, c], outputNames: ["s"])
    let s = g.valueID(named: "s")!
    let relu = try g.addNode(Node(opType: "Relu", name: "relu"), inputs: [s], outputNames: ["y"])
    g.setOutputs([g.valueID(named: "y")!])
    return (g, add, relu)
}

@Suite struct GraphEditingTests {
    @Test func useDefChainsAreKeptBothWays() throws {
        let (g, add, relu) = try smallGraph()
        try g.checkInvariants()
        let s = g.valueID(named: "s")!
        #expect(g[value: s].producer == add)
        #expect(g[value: s].uses == [Use(node: relu, index: 0)])
        #expect(g.consumers(of: g.valueID(named: "x")!) == [add])
        #expect(g[node: relu].inputs == [s])
    }

    @Test func setInputMovesTheUse() throws {
        var (g, add, relu) = try smallGraph()
        let x = g.valueID(named: "x")!
        let s = g.valueID(named: "s")!
        g.setInput(of: relu, at: 0, to: x)
        #expect(g[value: s].uses.isEmpty)
        #expect(Set(g[value: x].uses) == [Use(node: add, index: 0), Use(node: relu, index: 0)])
        try g.checkInvariants()
    }

    @Test func replaceAllUsesKeepsGraphOutputsUnlessAsked() throws {
        var (g, _, relu) = try smallGraph()
        let y = g.valueID(named: "y")!
        let x = g.valueID(named: "x")!
        let id = try g.addNode(Node(opType: "Identity"), inputs: [y], outputNames: ["z"])
        g.replaceAllUses(of: y, with: x)
        #expect(g[node: id].inputs == [x])
        #expect(g.outputs == [y])
        g.replaceAllUses(of: y, with: x, includingGraphOutputs: true)
        #expect(g.outputs == [x])
        _ = relu
        try g.checkInvariants()
    }

    @Test func removingAUsedNodeFailsAndLeavesTheGraphUntouched() throws {
        var (g, add, _) = try smallGraph()
        let before = g
        #expect(throws: KilnError.self) { try g.removeNode(add) }
        #expect(g == before)
    }

    @Test func removeNodesRemovesAChainAtOnce() throws {
        var (g, add, relu) = try smallGraph()
        g.setOutputs([g.valueID(named: "x")!])
        try g.removeNodes([add, relu])
        #expect(g.nodeCount == 0)
        #expect(g.valueID(named: "s") == nil)
        #expect(g.valueID(named: "y") == nil)
        #expect(g[value: g.valueID(named: "x")!].uses.isEmpty)
        try g.checkInvariants()
    }

    @Test func duplicateProducersAreRejected() throws {
        var (g, _, _) = try smallGraph()
        let s = g.valueID(named: "s")!
        #expect(throws: KilnError.self) {
            try g.addNode(Node(opType: "Neg"), inputs: [g.valueID(named: "x")!], outputs: [s])
        }
        try g.checkInvariants()
    }

    @Test func renameUpdatesTheNameTable() throws {
        var (g, _, _) = try smallGraph()
        let s = g.valueID(named: "s")!
        try g.rename(s, to: "sum")
        #expect(g.valueID(named: "sum") == s)
        #expect(g.valueID(named: "s") == nil)
        #expect(throws: KilnError.self) { try g.rename(s, to: "x") }
        try g.checkInvariants()
    }

    @Test func uniqueNamesDeriveFromTheBase() throws {
        var (g, _, _) = try smallGraph()
        #expect(g.uniqueName("s") == "s_1")
        _ = try g.addValue(named: "s_1")
        #expect(g.uniqueName("s") == "s_2")
        #expect(g.uniqueName("fresh") == "fresh")
    }

    @Test func insertBeforeAndAfterPlaceNodes() throws {
        var (g, add, relu) = try smallGraph()
        let x = g.valueID(named: "x")!
        let a = try g.addNode(Node(opType: "Neg", name: "a"), inputs: [x], outputNames: ["na"], at: .before(add))
        let b = try g.addNode(Node(opType: "Neg", name: "b"), inputs: [x], outputNames: ["nb"], at: .after(add))
        #expect(g.order == [a, add, b, relu])
    }

    @Test func topologicalSortIsStableAndFindsCycles() throws {
        var (g, add, relu) = try smallGraph()
        #expect(try g.topologicalOrder() == [add, relu])
        // Put the consumer first; sorting restores producer-before-consumer.
        let x = g.valueID(named: "x")!
        let late = try g.addNode(Node(opType: "Neg", name: "late"), inputs: [g.valueID(named: "y")!], outputNames: ["n"], at: .start)
        let free = try g.addNode(Node(opType: "Neg", name: "free"), inputs: [x], outputNames: ["m"], at: .start)
        #expect(!g.isTopologicallySorted)
        try g.sortTopologically()
        #expect(g.order == [free, add, relu, late])
        #expect(g.isTopologicallySorted)

        // A cycle: add reads the output of relu.
        g.setInput(of: add, at: 1, to: g.valueID(named: "y")!)
        #expect(throws: KilnError.self) { try g.topologicalOrder() }
    }

    @Test func invariantCheckReportsABrokenEdge() throws {
        var (g, _, relu) = try smallGraph()
        // Corrupt one end of an edge directly (only possible inside the module).
        g[node: relu].inputs[0] = g.valueID(named: "x")!
        #expect(throws: KilnError.self) { try g.checkInvariants() }
    }

    @Test func copiesAreIndependent() throws {
        let (g, _, relu) = try smallGraph()
        var copy = g
        copy[node: relu].name = "changed"
        #expect(g[node: relu].name == "relu")
        #expect(copy[node: relu].name == "changed")
    }
}
