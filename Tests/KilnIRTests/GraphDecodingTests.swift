import Testing
@testable import KilnIR

/// The codec's append path (`Graph+Decoding.swift`): values by name, conflicts refused with the
/// graph left as it was, and the batch form giving the same graph as one-by-one appends.
@Suite struct GraphDecodingTests {
    /// `x -> Relu -> a -> Add(a, c) -> b -> Relu -> y`, one node at a time.
    func chainOneByOne() throws -> Graph {
        var g = Graph(name: "g")
        g.appendInput(g.value(named: "x"))
        try g.appendNode(Node(opType: "Relu", name: "r1"), inputNames: ["x"], outputNames: ["a"])
        try g.appendNode(Node(opType: "Add", name: "add"), inputNames: ["a", "c"], outputNames: ["b"])
        try g.appendNode(Node(opType: "Relu", name: "r2"), inputNames: ["b", ""], outputNames: ["y", ""])
        g.setOutputs([g.valueID(named: "y")!])
        return g
    }

    @Test func appendNodeLinksValuesByName() throws {
        let g = try chainOneByOne()
        try g.checkInvariants()
        let add = g.order[1]
        let a = g.valueID(named: "a")!, c = g.valueID(named: "c")!
        #expect(g[node: add].inputs == [a, c])
        #expect(g[value: a].producer == g.order[0])
        #expect(g[value: a].uses == [Use(node: add, index: 0)])
        #expect(g[value: c].producer == nil)  // read before anything defines it (an initializer later)
        #expect(g[node: g.order[2]].inputs == [g.valueID(named: "b")!, nil])
        #expect(g[node: g.order[2]].outputs == [g.valueID(named: "y")!, nil])
    }

    @Test func conflictsLeaveTheGraphAsItWas() throws {
        var g = try chainOneByOne()
        let before = g
        #expect(throws: Graph.OutputConflict.self) {
            try g.appendNode(Node(opType: "Relu"), inputNames: ["fresh_input"], outputNames: ["fresh", "a"])
        }
        #expect(g == before)
        #expect(g.valueID(named: "fresh") == nil && g.valueID(named: "fresh_input") == nil)
        do {
            try g.appendNode(Node(opType: "Split"), inputNames: ["x"], outputNames: ["p", "p"])
            Issue.record("a name listed twice was accepted")
        } catch {
            guard case .listedTwice(let name) = error else { Issue.record("wrong conflict \(error)"); return }
            #expect(name == "p")
        }
        #expect(g == before)
        try g.checkInvariants()
    }

    @Test func batchAppendGivesTheSameGraph() throws {
        var g = Graph(name: "g")
        g.appendInput(g.value(named: "x"))
        let nodes: ContiguousArray<Node> = [Node(opType: "Relu", name: "r1"), Node(opType: "Add", name: "add"),
                                            Node(opType: "Relu", name: "r2")]
        try g.appendNodes(nodes, names: ["x", "a", "a", "c", "b", "b", "", "y", ""],
                          counts: [.init(inputs: 1, outputs: 1), .init(inputs: 2, outputs: 1),
                                   .init(inputs: 2, outputs: 2)])
        g.setOutputs([g.valueID(named: "y")!])
        try g.checkInvariants()
        #expect(g == (try chainOneByOne()))
    }

    @Test func batchAppendNamesTheRefusedNode() throws {
        var g = Graph(name: "g")
        g.appendInput(g.value(named: "x"))
        let nodes: ContiguousArray<Node> = [Node(opType: "Relu", name: "r1"), Node(opType: "Relu"),
                                            Node(opType: "Relu", name: "r3")]
        do {
            try g.appendNodes(nodes, names: ["x", "a", "a", "a"], counts: [.init(inputs: 1, outputs: 1),
                                                                        .init(inputs: 1, outputs: 1),
                                                                        .init(inputs: 0, outputs: 0)])
            Issue.record("an output produced twice was accepted")
        } catch {
            #expect(error.offset == 1)
            #expect(error.label == "Relu")  // no name: the operator
            guard case .alreadyProduced(let name, _) = error.conflict else { Issue.record("\(error)"); return }
            #expect(name == "a")
        }
        #expect(g.nodeCount == 1)  // the node before the refused one stays
        try g.checkInvariants()
    }
}
