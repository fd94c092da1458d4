import KilnIR

/// Fresh names unique across every graph of a model (ONNX forbids a subgraph to redefine a name
/// of an enclosing graph).
final class PrecisionNames {
    private var taken: Set<String> = []

    init(_ model: Model) {
        model.forEachGraph { g, _ in
            for v in g.valueIDs { taken.insert(g.name(of: v)) }
            for id in g.order where !g[node: id].name.isEmpty { taken.insert(g[node: id].name) }
        }
    }

    func fresh(_ base: String) -> String {
        var name = base, i = 1
        while taken.contains(name) { name = "\(base)_\(i)"; i += 1 }
        taken.insert(name)
        return name
    }
}

/// What a rewrite needs from the whole conversion.
final class PrecisionRewriteState {
    let target: DataType
    let names: PrecisionNames
    var tensors: PrecisionTensorConverter
    var report: PrecisionReport

    init(target: DataType, names: PrecisionNames) {
        self.target = target
        self.names = names
        self.tensors = PrecisionTensorConverter(target: target)
        self.report = PrecisionReport(target: target)
    }

    func suffix(_ t: DataType) -> String {
        switch t {
        case .float16: return "fp16"
        case .bfloat16: return "bf16"
        default: return "fp32"
        }
    }
}

/// `type` with its tensor element type replaced.
func retyped(_ type: ValueType?, _ element: DataType) -> ValueType? {
    guard var t = type else { return type }
    switch t.kind {
    case .tensor(_, let shape): t.kind = .tensor(elementType: element, shape: shape)
    case .sparseTensor(_, let shape): t.kind = .sparseTensor(elementType: element, shape: shape)
    default: break
    }
    return t
}

// MARK: Phase 4: rewrite

extension PrecisionGraph {
    /// Rewrites this graph, then its subgraphs (which see `renames`, the graph outputs renamed by
    /// an enclosing graph), and stores them back into their nodes.
    func rewrite(_ state: PrecisionRewriteState, renames: [String: String]) throws {
        for (old, new) in renames {
            if let v = graph.valueID(named: old), isOuterReference(v) { try graph.rename(v, to: new) }
        }
        let originals = try convertValues(state)
        rewriteAttributes(state)
        var casts: [ValueID: [DataType: ValueID]] = [:]
        for id in graph.order {
            for (slot, v) in floatInputs(id) {
                guard let want = need(id, slot), let have = chosen[v], want != have else { continue }
                let c = try cast(v, to: want, originals: originals, casts: &casts, state)
                graph.setInput(of: id, at: slot, to: c)
            }
        }
        var myRenames = renames
        try fixOutputs(state, originals: originals, casts: &casts, renames: &myRenames)
        for id in graph.order {
            for c in children[id] ?? [] {
                try c.work.rewrite(state, renames: myRenames)
                switch graph[node: id].attributes[c.attribute].value {
                case .graph: graph[node: id].attributes[c.attribute].value = .graph(c.work.graph)
                case .graphs(var gs):
                    gs[c.element!] = c.work.graph
                    graph[node: id].attributes[c.attribute].value = .graphs(gs)
                default: break
                }
            }
        }
        report(state)
        state.report.castsRemoved += try removeCancellingCasts()
    }

    /// Retypes every float32 value to its chosen type and converts the constants chosen so.
    /// Returns the original float32 tensors of constants (for copies a float32 reader needs).
    private func convertValues(_ state: PrecisionRewriteState) throws -> [ValueID: Tensor] {
        var originals: [ValueID: Tensor] = [:]
        for (v, t) in chosen {
            if graph.isConstant(v), let dense = graph[value: v].initializer { originals[v] = dense }
            guard t != .float else { continue }
            graph[value: v].type = retyped(graph[value: v].type, t)
            if let dense = graph[value: v].initializer, dense.dataType == .float {
                graph.attachInitializer(try state.tensors.convert(dense), to: v)
            } else if var sparse = graph[value: v].sparseInitializer, let values = sparse.values, values.dataType == .float {
                sparse.values = try state.tensors.convert(values)
                graph.attachSparseInitializer(sparse, to: v)
            }
        }
        return originals
    }

    /// The value `v` read as `type`: a Cast right after its producer (or first in the graph), or
    /// for a dense constant a converted copy; one per (value, type), shared by every reader.
    private func cast(_ v: ValueID, to type: DataType, originals: [ValueID: Tensor],
                      casts: inout [ValueID: [DataType: ValueID]], _ state: PrecisionRewriteState) throws -> ValueID {
        if let c = casts[v]?[type] { return c }
        let name = state.names.fresh(graph.name(of: v) + "_" + state.suffix(type))
        let out: ValueID
        if let original = originals[v], !graph.isGraphInput(v), original.dataType == .float, type != .float {
            var copy = try state.tensors.convert(original)
            copy.name = name
            out = try graph.addInitializer(named: name, copy)
        } else {
            out = try graph.addValue(named: name, type: retyped(graph[value: v].type, type) ?? .tensor(type, nil))
            let position: Graph.Position = graph.producer(of: v).map { .after($0) } ?? .start
            try graph.addNode(Node(opType: "Cast", name: name, attributes: [Attribute("to", .int(Int64(type.rawValue)))]),
                              inputs: [v], outputs: [out], at: position)
            state.report.castsInserted += 1
        }
        casts[v, default: [:]][type] = out
        return out
    }

    /// Graph outputs get `ioType`. In the main graph a mismatched output keeps its name: its
    /// producer's value is renamed (`y_fp16`) and a Cast writes `y`; subgraphs name their outputs
    /// freely, so a Cast's value simply takes the slot.
    private func fixOutputs(_ state: PrecisionRewriteState, originals: [ValueID: Tensor],
                            casts: inout [ValueID: [DataType: ValueID]], renames: inout [String: String]) throws {
        var outputs = graph.outputs
        var done: [ValueID: ValueID] = [:]
        for (k, v) in outputs.enumerated() where kind(v) == .float32 {
            guard let have = chosen[v], have != ioType else { continue }
            if let d = done[v] { outputs[k] = d; continue }
            let replacement: ValueID
            if isMain {
                let old = graph.name(of: v)
                let new = state.names.fresh(old + "_" + state.suffix(have))
                try graph.rename(v, to: new)
                renames[old] = new
                replacement = try graph.addValue(named: old, type: retyped(graph[value: v].type, ioType))
                let position: Graph.Position = graph.producer(of: v).map { .after($0) } ?? .start
                try graph.addNode(Node(opType: "Cast", name: old, attributes: [Attribute("to", .int(Int64(ioType.rawValue)))]),
                                  inputs: [v], outputs: [replacement], at: position)
                state.report.castsInserted += 1
            } else {
                replacement = try cast(v, to: ioType, originals: originals, casts: &casts, state)
            }
            done[v] = replacement
            outputs[k] = replacement
        }
        if !done.isEmpty { graph.setOutputs(outputs) }
    }

    /// Attributes that carry a float32 type or value on nodes whose outputs became the target:
    /// Constant values, ConstantOfShape's value, Cast's `to`, the `dtype` of generators, and the
    /// explicit float32 precision of Attention's softmax.
    private func rewriteAttributes(_ state: PrecisionRewriteState) {
        let target = state.target
        for id in graph.order {
            guard case .converted(let typing)? = modes[id] else { continue }
            let outs = floatOutputs(id)
            let writes = outs.first.map { outputType(id, $0.slot) }
            var node = graph[node: id]
            var changed = false
            func set(_ name: String, _ value: Attribute.Value) {
                if let i = node.attributes.firstIndex(where: { $0.name == name }) { node.attributes[i].value = value }
                else { node.attributes.append(Attribute(name, value)) }
                changed = true
            }
            func dtype(_ name: String, defaultIsFloat: Bool) {
                guard let w = writes else { return }
                let current = node.attribute(name).flatMap { if case .int(let v) = $0.value { v } else { nil } }
                if current == nil && !defaultIsFloat { set(name, .int(Int64(w.rawValue))); return }
                if (current ?? 1) == 1 && w != .float { set(name, .int(Int64(w.rawValue))) }
            }
            guard node.domain.isEmpty || node.domain == "ai.onnx" else { continue }
            switch node.opType {
            case "Constant" where writes == target:
                for a in node.attributes {
                    switch a.value {
                    case .tensor(let t) where t.dataType == .float:
                        if let c = try? state.tensors.convert(t) { set(a.name, .tensor(c)) }
                    case .sparseTensor(var sp) where sp.values?.dataType == .float:
                        if let c = try? state.tensors.convert(sp.values!) { sp.values = c; set(a.name, .sparseTensor(sp)) }
                    case .float(let f) where a.name == "value_float":
                        node.attributes.removeAll { $0.name == a.name }
                        set("value", .tensor(state.tensors.tensor([f], dims: [])))
                    case .floats(let f) where a.name == "value_floats":
                        node.attributes.removeAll { $0.name == a.name }
                        set("value", .tensor(state.tensors.tensor(f, dims: [Int64(f.count)])))
                    default: break
                    }
                }
            case "ConstantOfShape" where writes == target:
                if let t = try? node.tensor("value") {
                    if t.dataType == .float, let c = try? state.tensors.convert(t) { set("value", .tensor(c)) }
                } else {
                    set("value", .tensor(state.tensors.tensor([0], dims: [1])))
                }
            case "Cast" where writes == target:
                if (try? node.int("to")) == Int64(DataType.float.rawValue) { set("to", .int(Int64(target.rawValue))) }
            case "RandomNormal", "RandomUniform":
                dtype("dtype", defaultIsFloat: true)
            case "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix":
                dtype("output_datatype", defaultIsFloat: true)
            case "RandomNormalLike", "RandomUniformLike", "EyeLike", "Bernoulli":
                dtype("dtype", defaultIsFloat: false)
            case "Attention" where !typing.inputNeed.isEmpty && node.attribute("softmax_precision") == nil:
                set("softmax_precision", .int(Int64(DataType.float.rawValue)))
            default: break
            }
            if changed { graph[node: id].attributes = node.attributes }
        }
    }

    /// Adds this graph's kept nodes and converted-node count to the report.
    private func report(_ state: PrecisionRewriteState) {
        for id in graph.order {
            switch modes[id] ?? .untouched {
            case .kept(let b):
                let n = graph[node: id]
                state.report.kept.append(.init(graph: path, node: n.name, op: n.opType, reason: b.reason))
            case .converted(let t):
                if t.inputNeed.values.contains(state.target) || t.outputType.values.contains(state.target) {
                    state.report.nodesConverted += 1
                }
            case .untouched: break
            }
        }
    }
}
