import KilnIR
import KilnOpset

extension CheckContext {
    enum GraphKind {
        case main, training, subgraph, function
    }

    /// Checks one graph; `outer` holds the names visible from enclosing graphs.
    mutating func checkGraph(_ g: Graph, path: String, outer: Set<String>, opsets: [String: Int], kind: GraphKind) {
        // Subgraph and function inputs and outputs may leave their types to inference; the main
        // graph's must be declared.
        if kind == .main {
            for (slot, list) in [("input", g.inputs), ("output", g.outputs)] {
                for (i, id) in list.enumerated() {
                    let v = g[value: id]
                    if let problem = Self.incompleteType(v.type) {
                        report("value-info.type", "graph \(slot) '\(v.name)' \(problem)", graph: path, field: "\(slot)[\(i)]")
                    }
                }
            }
        }
        if kind == .main && model.irVersion < 4 {
            let inputs = Set(g.inputs)
            for id in g.initializerOrder where !inputs.contains(id) {
                report("graph.initializer-not-input",
                       "initializer '\(g.name(of: id))' is not a graph input, which IR version \(model.irVersion) (< 4) requires",
                       graph: path, field: "initializer(\(g.name(of: id)))")
            }
        }
        for id in g.initializerOrder {
            let name = g.name(of: id)  // the message closure captures the name, not the graph
            checkTensor(g.initializer(of: id)!, graph: path, field: "initializer(\(name))")
        }

        // Values defined so far in this graph (by ID: graph inputs, initializers, earlier node
        // outputs); names of enclosing scopes are in `outer`.
        let valueCount = g.valueIndexBound
        var definedHere = [Bool](repeating: false, count: valueCount)
        for id in g.inputs { definedHere[Int(id.index)] = true }
        for id in g.initializerOrder { definedHere[Int(id.index)] = true }
        for id in g.sparseInitializerOrder { definedHere[Int(id.index)] = true }
        var isInput = [Bool](repeating: false, count: valueCount)
        for id in g.inputs { isInput[Int(id.index)] = true }
        var position: [NodeID: Int]?  // built on the first ordering problem only
        var types = TypeCache(valueCount: valueCount)

        for (index, id) in g.order.enumerated() {
            // In place: a copy of each node would retain and release every one of its fields.
            g.withNode(id) { node in
                let here = NodeAt(index, node)
                for (slot, input) in node.inputs.enumerated() {
                    guard let input else { continue }
                    if definedHere[Int(input.index)] { continue }
                    let name = g.name(of: input)
                    if outer.contains(name) { continue }
                    if position == nil { position = g.positions() }
                    if let p = g.producer(of: input), let pp = position![p], pp > index {
                        report("graph.topological-order",
                               "input \(slot) '\(name)' is produced by a later node (\(g[node: p].label)); nodes must be topologically sorted",
                               graph: path, node: here, field: "input[\(slot)]")
                    } else {
                        report("graph.undefined-input",
                               "input \(slot) '\(name)' is not a graph input, an initializer, or an output of an earlier node",
                               graph: path, node: here, field: "input[\(slot)]")
                    }
                }
                checkNode(node, index: index, graph: g, path: path, opsets: opsets, inFunction: kind == .function,
                          types: &types)
                for a in node.attributes {
                    let subs = a.subgraphs
                    if !subs.isEmpty {
                        var visible = outer
                        for v in g.valueIDs where definedHere[Int(v.index)] { visible.insert(g.name(of: v)) }
                        for (k, sub) in subs.enumerated() {
                            let label = node.name.isEmpty ? node.opType : node.name
                            let subPath = "\(path)/\(label).\(a.name)" + (subs.count > 1 ? "[\(k)]" : "")
                            checkGraph(sub, path: subPath, outer: visible, opsets: opsets, kind: .subgraph)
                        }
                    }
                    a.forEachTensor { t, _ in
                        checkTensor(t, graph: path, field: "attribute(\(a.name))", node: here)
                    }
                }
                for (slot, output) in node.outputs.enumerated() {
                    guard let output else { continue }
                    if isInput[Int(output.index)] || g.isConstant(output) || (kind != .training && !outer.isEmpty && outer.contains(g.name(of: output))) {
                        report("graph.ssa",
                               "output '\(g.name(of: output))' is already defined (graph input, initializer or enclosing graph); each name is assigned once",
                               graph: path, node: here, field: "output[\(slot)]")
                    }
                    definedHere[Int(output.index)] = true
                }
            }
        }
        for (i, id) in g.outputs.enumerated() where !definedHere[Int(id.index)] && !outer.contains(g.name(of: id)) {
            report("graph.undefined-output", "graph output '\(g.name(of: id))' is not defined in the graph",
                   graph: path, field: "output[\(i)]")
        }
    }

    /// What is missing from a graph input or output type, or nil when it is complete.
    static func incompleteType(_ type: ValueType?) -> String? {
        guard let type else { return "has no type" }
        switch type.kind {
        case .tensor(let e, _), .sparseTensor(let e, _):
            return e == nil || e == .undefined ? "has no element type" : nil
        case .sequence(let e), .optional(let e):
            guard let e else { return "has no element type" }
            return incompleteType(e)
        case .map(let k, let v):
            guard k != nil, let v else { return "has an incomplete map type" }
            return incompleteType(v)
        case .opaque:
            return nil
        case .none:
            return "has an empty type"
        }
    }
}
