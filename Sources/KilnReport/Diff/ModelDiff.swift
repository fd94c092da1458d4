import KilnIR

/// What `kiln diff A B` reports: model fields, the IO signature, and a node-level alignment of the
/// two main graphs with changes grouped into recognizable rewrites. Encodable with a stable shape
/// documented in Docs/Commands/diff.md (field `schema`); nodes are named by node name (or
/// `Op#index` in graph order when unnamed), never by internal IDs.
public struct ModelDiff: Encodable, Sendable {
    public struct FieldChange: Encodable, Sendable, Equatable {
        public var field: String
        public var a: String?
        public var b: String?
    }

    public struct IOChange: Encodable, Sendable, Equatable {
        /// `input` or `output`.
        public var kind: String
        public var name: String
        /// `added`, `removed`, `changed` or `renamed`.
        public var change: String
        public var a: String?
        public var b: String?
    }

    public struct AttributeChange: Encodable, Sendable, Equatable {
        public var name: String
        public var a: String?
        public var b: String?
    }

    public struct WeightChange: Encodable, Sendable, Equatable {
        public var input: Int
        public var a: String
        public var b: String
        public var dtypeA: String
        public var dtypeB: String
        public var shapeA: [Int64]
        public var shapeB: [Int64]
        /// Only when dtype and shape agree and the values are numeric.
        public var maxAbsDiff: Double?
        public var cosine: Double?
    }

    public struct NodeChange: Encodable, Sendable, Equatable {
        public var a: String
        public var b: String
        public var op: String
        public var attributes: [AttributeChange]
        public var weights: [WeightChange]
        /// Input slots whose source changed (a different producer, graph input or constant).
        public var rewired: [Int]
        public var inputCount: [Int]?
    }

    public struct NodeRef: Encodable, Sendable, Equatable {
        public var name: String
        public var op: String
    }

    /// A connected region of removed, added and changed nodes, described as `A ops -> B ops`.
    public struct Rewrite: Encodable, Sendable, Equatable {
        public var description: String
        public var count: Int
        /// Names of the B-side nodes (or A-side when nothing was added) of the first occurrence.
        public var example: [String]
    }

    public struct Summary: Encodable, Sendable, Equatable {
        public var nodesA: Int
        public var nodesB: Int
        public var identical: Int
        public var paired: Int
        public var changed: Int
        public var removed: Int
        public var added: Int
        /// Paired nodes whose output names differ (renames only; not a structural change).
        public var renamedOutputs: Int
        public var parametersA: Int64
        public var parametersB: Int64
    }

    public var schema: Int = 1
    public var fileA: String?
    public var fileB: String?
    public var model: [FieldChange]
    public var io: [IOChange]
    public var summary: Summary
    public var changed: [NodeChange]
    public var removed: [NodeRef]
    public var added: [NodeRef]
    public var rewrites: [Rewrite]
    /// Filled by a numeric comparison (`NumericDiff`), when asked for.
    public var numeric: NumericDiff?

    public var metadataChanged: Bool { !model.isEmpty }
    public var ioChanged: Bool { !io.isEmpty }
    public var structureChanged: Bool { !changed.isEmpty || !removed.isEmpty || !added.isEmpty }
    public var identical: Bool { !metadataChanged && !ioChanged && !structureChanged && (numeric?.withinTolerance ?? true) }
}

extension ModelDiff {
    /// Compares two models.
    public init(_ ma: Model, _ mb: Model, fileA: String? = nil, fileB: String? = nil) {
        self.fileA = fileA
        self.fileB = fileB
        model = Self.modelFields(ma, mb)
        io = Self.ioChanges(ma.graph, mb.graph)
        let al = GraphAlignment(ma.graph, mb.graph)
        let ga = ma.graph, gb = mb.graph
        let labelA = InspectHTML.nodeKeys(ga), labelB = InspectHTML.nodeKeys(gb)

        var changedA = Set<NodeID>()
        var changes: [NodeChange] = []
        var renamed = 0
        for x in al.a.order {
            guard let y = al.aToB[x] else { continue }
            let nx = ga[node: x], ny = gb[node: y]
            if nx.outputs.map({ $0.map { ga.name(of: $0) } }) != ny.outputs.map({ $0.map { gb.name(of: $0) } }) { renamed += 1 }
            if al.identical.contains(x) { continue }
            let c = Self.nodeChange(al, x, y, labelA[x]!, labelB[y]!)
            if !c.attributes.isEmpty || !c.weights.isEmpty || !c.rewired.isEmpty || c.inputCount != nil {
                changes.append(c)
                changedA.insert(x)
            }
        }
        changed = changes
        removed = al.a.order.filter { al.aToB[$0] == nil }.map { NodeRef(name: labelA[$0]!, op: ga[node: $0].qualifiedOp) }
        added = al.b.order.filter { al.bToA[$0] == nil }.map { NodeRef(name: labelB[$0]!, op: gb[node: $0].qualifiedOp) }
        rewrites = Self.rewrites(al, changedA: changedA, labelA: labelA, labelB: labelB)
        if let va = ma.opsetVersion(for: ""), let vb = mb.opsetVersion(for: ""), va != vb {
            let touched = changes.count + (ga.nodeCount - al.aToB.count) + (gb.nodeCount - al.bToA.count)
            rewrites.insert(Rewrite(description: "opset \(va) -> \(vb): \(touched) nodes rewritten", count: 1, example: []), at: 0)
        }
        summary = Summary(
            nodesA: ga.nodeCount, nodesB: gb.nodeCount, identical: al.identical.count, paired: al.aToB.count,
            changed: changes.count, removed: removed.count, added: added.count, renamedOutputs: renamed,
            parametersA: Self.parameters(ga), parametersB: Self.parameters(gb))
    }

    static func parameters(_ g: Graph) -> Int64 {
        g.initializerOrder.reduce(Int64(0)) { $0 + (g[value: $1].initializer?.elementCount ?? 0) }
    }

    static func modelFields(_ a: Model, _ b: Model) -> [FieldChange] {
        var out: [FieldChange] = []
        func cmp(_ field: String, _ x: String, _ y: String) {
            if x != y { out.append(FieldChange(field: field, a: x, b: y)) }
        }
        cmp("ir_version", "\(a.irVersion)", "\(b.irVersion)")
        cmp("producer_name", a.producerName, b.producerName)
        cmp("producer_version", a.producerVersion, b.producerVersion)
        cmp("domain", a.domain, b.domain)
        cmp("model_version", "\(a.modelVersion)", "\(b.modelVersion)")
        func table(_ m: Model) -> [String: Int64] {
            var t: [String: Int64] = [:]
            for o in m.opsetImports { t[o.domain == "ai.onnx" ? "" : o.domain] = o.version }
            return t
        }
        let oa = table(a), ob = table(b)
        for d in Set(oa.keys).union(ob.keys).sorted() where oa[d] != ob[d] {
            out.append(FieldChange(field: "opset_import[\(d.isEmpty ? "ai.onnx" : d)]",
                                   a: oa[d].map { "\($0)" }, b: ob[d].map { "\($0)" }))
        }
        let ma = Dictionary(a.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        let mb = Dictionary(b.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        for k in Set(ma.keys).union(mb.keys).sorted() where ma[k] != mb[k] {
            out.append(FieldChange(field: "metadata_props[\(k)]", a: ma[k], b: mb[k]))
        }
        let fa = a.functions.map { "\($0.domain):\($0.name)" }, fb = b.functions.map { "\($0.domain):\($0.name)" }
        if fa != fb { out.append(FieldChange(field: "functions", a: fa.joined(separator: ","), b: fb.joined(separator: ","))) }
        return out
    }

    static func signature(_ v: Value) -> String {
        guard let t = v.type else { return "?" }
        return t.description
    }

    static func ioChanges(_ a: Graph, _ b: Graph) -> [IOChange] {
        var out: [IOChange] = []
        func compare(_ kind: String, _ xs: [ValueID], _ ys: [ValueID]) {
            let na = xs.map { a.name(of: $0) }, nb = ys.map { b.name(of: $0) }
            let setA = Set(na), setB = Set(nb)
            for (i, id) in xs.enumerated() {
                let name = na[i]
                if let j = nb.firstIndex(of: name) {
                    let sa = signature(a[value: id]), sb = signature(b[value: ys[j]])
                    if sa != sb { out.append(IOChange(kind: kind, name: name, change: "changed", a: sa, b: sb)) }
                } else if i < ys.count, !setA.contains(nb[i]),
                          signature(a[value: id]) == signature(b[value: ys[i]]) {
                    out.append(IOChange(kind: kind, name: name, change: "renamed", a: name, b: nb[i]))
                } else {
                    out.append(IOChange(kind: kind, name: name, change: "removed", a: signature(a[value: id]), b: nil))
                }
            }
            for (j, id) in ys.enumerated() where !setA.contains(nb[j]) {
                let renamedHere = j < xs.count && !setB.contains(na[j]) && signature(a[value: xs[j]]) == signature(b[value: id])
                if !renamedHere { out.append(IOChange(kind: kind, name: nb[j], change: "added", a: nil, b: signature(b[value: id]))) }
            }
        }
        compare("input", a.inputs.filter { !a.isConstant($0) }, b.inputs.filter { !b.isConstant($0) })
        compare("output", a.outputs, b.outputs)
        return out
    }
}
