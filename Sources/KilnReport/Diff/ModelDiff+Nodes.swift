import KilnIR
import KilnEvaluator

extension ModelDiff {
    /// How a paired node differs: attributes, constant inputs (values compared), rewired inputs.
    static func nodeChange(_ al: GraphAlignment, _ x: NodeID, _ y: NodeID, _ la: String, _ lb: String) -> NodeChange {
        let ga = al.a.graph, gb = al.b.graph
        let nx = ga[node: x], ny = gb[node: y]
        var attrs: [AttributeChange] = []
        let ax = Dictionary(nx.attributes.map { ($0.name, $0) }, uniquingKeysWith: { f, _ in f })
        let ay = Dictionary(ny.attributes.map { ($0.name, $0) }, uniquingKeysWith: { f, _ in f })
        for name in Set(ax.keys).union(ay.keys).sorted() {
            let hx = ax[name].map { a in StableHash.of { a.value.stableHash(into: &$0) } }
            let hy = ay[name].map { a in StableHash.of { a.value.stableHash(into: &$0) } }
            if hx != hy {
                attrs.append(AttributeChange(name: name, a: ax[name].map { render($0.value) }, b: ay[name].map { render($0.value) }))
            }
        }
        var weights: [WeightChange] = []
        var rewired: [Int] = []
        for slot in 0..<min(nx.inputs.count, ny.inputs.count) {
            let sx = al.a.source(x, slot), sy = al.b.source(y, slot)
            if case .constant(let hx) = sx, case .constant(let hy) = sy {
                if hx != hy, let vx = nx.inputs[slot], let vy = ny.inputs[slot],
                   let tx = ga[value: vx].initializer, let ty = gb[value: vy].initializer {
                    weights.append(weightChange(slot, tx, ty, ga.name(of: vx), gb.name(of: vy)))
                }
                continue
            }
            if !al.corresponds(al.resolved(al.a, x, slot, paired: al.aToB), al.resolved(al.b, y, slot, paired: al.bToA)) {
                rewired.append(slot)
            }
        }
        let counts = nx.inputs.count == ny.inputs.count ? nil : [nx.inputs.count, ny.inputs.count]
        return NodeChange(a: la, b: lb, op: nx.qualifiedOp, attributes: attrs, weights: weights, rewired: rewired, inputCount: counts)
    }

    static func weightChange(_ slot: Int, _ x: Tensor, _ y: Tensor, _ nameA: String, _ nameB: String) -> WeightChange {
        var c = WeightChange(input: slot, a: nameA, b: nameB, dtypeA: x.dataType.name, dtypeB: y.dataType.name,
                             shapeA: x.dims, shapeB: y.dims, maxAbsDiff: nil, cosine: nil)
        guard x.dataType == y.dataType, x.dims == y.dims, x.dataType != .string,
              let vx = try? TensorValue(x), let vy = try? TensorValue(y) else { return c }
        let (m, cos) = compareValues(vx, vy)
        c.maxAbsDiff = m
        c.cosine = cos
        return c
    }

    /// Max absolute difference and cosine similarity of two same-shape tensors.
    static func compareValues(_ x: TensorValue, _ y: TensorValue) -> (maxAbs: Double, cosine: Double) {
        let a = x.doubles, b = y.doubles
        var m = 0.0, dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<min(a.count, b.count) {
            let d = abs(a[i] - b[i])
            if d > m || d.isNaN { m = d.isNaN ? .infinity : d }
            dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]
        }
        let cos = na == 0 && nb == 0 ? 1 : (na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot()))
        return (m, cos)
    }

    /// A short rendering of an attribute value.
    static func render(_ v: Attribute.Value) -> String {
        func list<T>(_ xs: [T]) -> String {
            xs.count <= 8 ? "[" + xs.map { "\($0)" }.joined(separator: ",") + "]"
                : "[" + xs.prefix(8).map { "\($0)" }.joined(separator: ",") + ",... (\(xs.count))]"
        }
        switch v {
        case .float(let f): return "\(f)"
        case .int(let i): return "\(i)"
        case .string(let s): return "\"\(String(decoding: s, as: UTF8.self))\""
        case .floats(let fs): return list(fs)
        case .ints(let xs): return list(xs)
        case .strings(let ss): return list(ss.map { String(decoding: $0, as: UTF8.self) })
        case .tensor(let t): return "tensor(\(t.dataType.name), \(t.dims))"
        case .graph(let g): return "graph(\(g.nodeCount) nodes)"
        case .graphs(let gs): return "graphs(\(gs.count))"
        default: return v.typeName.lowercased()
        }
    }

    /// Groups removed, added and changed nodes into connected regions and describes each as
    /// `ops in A -> ops in B`; equal descriptions are counted once.
    static func rewrites(_ al: GraphAlignment, changedA: Set<NodeID>, labelA: [NodeID: String], labelB: [NodeID: String]) -> [Rewrite] {
        let ga = al.a.graph, gb = al.b.graph
        let aIndex = Dictionary(uniqueKeysWithValues: al.a.order.enumerated().map { ($1, $0) })
        let bIndex = Dictionary(uniqueKeysWithValues: al.b.order.enumerated().map { ($1, $0 + al.a.order.count) })
        var inA = Set<NodeID>(changedA), inB = Set<NodeID>()
        for x in al.a.order where al.aToB[x] == nil { inA.insert(x) }
        for y in al.b.order where al.bToA[y] == nil { inB.insert(y) }
        for x in changedA { inB.insert(al.aToB[x]!) }
        var parent = Array(0..<(al.a.order.count + al.b.order.count))
        func find(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        func union(_ i: Int, _ j: Int) { let (ri, rj) = (find(i), find(j)); if ri != rj { parent[max(ri, rj)] = min(ri, rj) } }
        for x in inA {
            for v in ga[node: x].inputs { if let v, let p = ga.producer(of: v), inA.contains(p) { union(aIndex[x]!, aIndex[p]!) } }
            if let y = al.aToB[x] { union(aIndex[x]!, bIndex[y]!) }
        }
        for y in inB {
            for v in gb[node: y].inputs { if let v, let p = gb.producer(of: v), inB.contains(p) { union(bIndex[y]!, bIndex[p]!) } }
        }
        // A region of A and one of B feeding the same input slot of a paired consumer (or the same
        // graph output) replaced each other: MatMul + Add in A and Gemm in B both feed the Relu.
        for x in al.a.order {
            guard let y = al.aToB[x] else { continue }
            let ix = ga[node: x].inputs, iy = gb[node: y].inputs
            for k in 0..<min(ix.count, iy.count) {
                guard let va = ix[k], let vb = iy[k], let p = ga.producer(of: va), let q = gb.producer(of: vb),
                      inA.contains(p), inB.contains(q) else { continue }
                union(aIndex[p]!, bIndex[q]!)
            }
        }
        for (k, va) in ga.outputs.enumerated() where k < gb.outputs.count {
            if let p = ga.producer(of: va), let q = gb.producer(of: gb.outputs[k]), inA.contains(p), inB.contains(q) {
                union(aIndex[p]!, bIndex[q]!)
            }
        }
        var regions: [Int: (a: [NodeID], b: [NodeID])] = [:]
        var regionOrder: [Int] = []
        for x in al.a.order where inA.contains(x) {
            let r = find(aIndex[x]!)
            if regions[r] == nil { regions[r] = ([], []); regionOrder.append(r) }
            regions[r]!.a.append(x)
        }
        for y in al.b.order where inB.contains(y) {
            let r = find(bIndex[y]!)
            if regions[r] == nil { regions[r] = ([], []); regionOrder.append(r) }
            regions[r]!.b.append(y)
        }
        func ops(_ ids: [NodeID], _ g: Graph) -> String {
            var counts: [String: Int] = [:]
            var order: [String] = []
            for id in ids {
                let op = g[node: id].qualifiedOp
                if counts[op] == nil { order.append(op) }
                counts[op, default: 0] += 1
            }
            return order.map { counts[$0]! > 1 ? "\($0) x\(counts[$0]!)" : $0 }.joined(separator: " + ")
        }
        var out: [Rewrite] = []
        var byDescription: [String: Int] = [:]
        for r in regionOrder {
            let (xs, ys) = regions[r]!
            let d: String
            if xs.isEmpty {
                d = "\(ops(ys, gb)) inserted"
            } else if ys.isEmpty {
                d = "\(ops(xs, ga)) removed"
            } else if xs.count == 1 && ys.count == 1 && al.aToB[xs[0]] == ys[0] {
                d = "\(ga[node: xs[0]].qualifiedOp) changed"
            } else {
                d = "\(ops(xs, ga)) -> \(ops(ys, gb))"
            }
            if let k = byDescription[d] {
                out[k].count += 1
            } else {
                byDescription[d] = out.count
                out.append(Rewrite(description: d, count: 1,
                                   example: ys.isEmpty ? xs.map { labelA[$0]! } : ys.map { labelB[$0]! }))
            }
        }
        return out
    }
}
