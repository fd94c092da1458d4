import KilnIR

/// A chain `x -> Add(c_i) / Relu -> ... -> y` of `count` nodes, an initializer per Add: a graph of
/// any size for the codec's many-node paths.
func chainModel(_ count: Int) throws -> Model {
    var g = Graph(name: "chain")
    var current = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [1, 8])))
    for i in 0..<count {
        let name = i == count - 1 ? "y" : "t\(i)"
        if i % 2 == 0 {
            let c = try g.addInitializer(named: "c\(i)", .float32([Float(i)], dims: [1]))
            try g.addNode(Node(opType: "Add", name: "n\(i)"), inputs: [current, c], outputNames: [name])
        } else {
            try g.addNode(Node(opType: "Relu", name: "n\(i)"), inputs: [current], outputNames: [name])
        }
        current = g.valueID(named: name)!
    }
    g.setOutputs([current])
    return Model(graph: g, irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 17)])
}
