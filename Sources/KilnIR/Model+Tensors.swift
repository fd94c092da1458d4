/// Where a visited tensor sits.
public enum TensorRole: Sendable {
    case initializer
    case sparseInitializer
    case attribute
}

extension Graph {
    /// Visits every tensor in this graph and its subgraphs: dense and sparse initializers (values and
    /// indices) and attribute tensors.
    public func forEachTensor(_ body: (Tensor, TensorRole) throws -> Void) rethrows {
        for id in initializerOrder {
            try body(self[value: id].initializer!, .initializer)
        }
        for id in sparseInitializerOrder {
            let s = self[value: id].sparseInitializer!
            if let v = s.values { try body(v, .sparseInitializer) }
            if let i = s.indices { try body(i, .sparseInitializer) }
        }
        for id in order {
            for a in self[node: id].attributes {
                try a.forEachTensor(body)
            }
        }
    }
}

extension Attribute {
    public func forEachTensor(_ body: (Tensor, TensorRole) throws -> Void) rethrows {
        switch value {
        case .tensor(let t): try body(t, .attribute)
        case .tensors(let ts): for t in ts { try body(t, .attribute) }
        case .sparseTensor(let s):
            if let v = s.values { try body(v, .attribute) }
            if let i = s.indices { try body(i, .attribute) }
        case .sparseTensors(let ss):
            for s in ss {
                if let v = s.values { try body(v, .attribute) }
                if let i = s.indices { try body(i, .attribute) }
            }
        case .graph(let g): try g.forEachTensor(body)
        case .graphs(let gs): for g in gs { try g.forEachTensor(body) }
        default: break
        }
    }
}

extension Model {
    /// Visits every tensor of the model: main graph, training graphs and local functions.
    public func forEachTensor(_ body: (Tensor, TensorRole) throws -> Void) rethrows {
        try graph.forEachTensor(body)
        for t in trainingInfo {
            try t.initialization?.forEachTensor(body)
            try t.algorithm?.forEachTensor(body)
        }
        for f in functions {
            try f.body.forEachTensor(body)
            for a in f.attributeDefaults { try a.forEachTensor(body) }
        }
    }

    /// Every graph of the model, subgraphs included, with a readable path (`graph`,
    /// `graph/node(loop_1).body`, ...).
    public func forEachGraph(_ body: (Graph, String) throws -> Void) rethrows {
        func walk(_ g: Graph, _ path: String) throws {
            try body(g, path)
            for id in g.order {
                let n = g[node: id]
                for a in n.attributes {
                    let subs = a.subgraphs
                    for (i, s) in subs.enumerated() {
                        let label = n.name.isEmpty ? n.opType : n.name
                        try walk(s, "\(path)/\(label).\(a.name)" + (subs.count > 1 ? "[\(i)]" : ""))
                    }
                }
            }
        }
        try walk(graph, "graph")
        for (i, t) in trainingInfo.enumerated() {
            if let g = t.initialization { try walk(g, "training_info[\(i)].initialization") }
            if let g = t.algorithm { try walk(g, "training_info[\(i)].algorithm") }
        }
        for f in functions { try walk(f.body, "function(\(f.domain):\(f.name))") }
    }
}
