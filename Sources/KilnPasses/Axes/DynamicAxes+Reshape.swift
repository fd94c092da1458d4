import KilnIR

extension DynamicAxes {
    /// A product of a number and named sizes (an unknown dim counts as a name of its own), so the
    /// element counts of a partly symbolic shape can be compared.
    struct Product: Equatable {
        var number: Int64 = 1
        var names: [String: Int] = [:]

        mutating func multiply(_ d: Product) {
            number *= d.number
            for (k, v) in d.names { names[k, default: 0] += v }
        }

        /// `self / d` when it divides exactly.
        func divided(by d: Product) -> Product? {
            guard d.number != 0, number % d.number == 0 else { return nil }
            var out = Product(number: number / d.number, names: names)
            for (k, v) in d.names {
                guard let have = out.names[k], have >= v else { return nil }
                out.names[k] = have == v ? nil : have - v
            }
            return out
        }
    }

    /// What a Reshape's target becomes: a constant, or (rule 3d) elements taken from `Shape(data)`.
    enum NewTarget: Equatable {
        case constant([Int64])
        /// Per element: a number, or the data input's dim at that axis.
        case derived([Int64?], axes: [Int: Int])
    }

    /// Rule 3: the new target of a `Reshape` with a constant target whose data input carries new
    /// symbols. Targets that are computed (not constants) are already dynamic and stay. The old
    /// target is first resolved at the old sizes (0 copies the input dim, -1 takes the rest), and
    /// each new symbol (old size N, input axis `a`) is followed into the one output element whose
    /// span holds input axis `a` whole (same element count before it, or inside it):
    /// 3a. The element keeps the dim exactly (same count before, size N) at the same index `a`,
    ///     with `allowzero` 0: it becomes 0 ("copy the input's dim").
    /// 3b. The element holds the symbol times other sizes (a flatten `[1, 16 * 32]`) or is the
    ///     -1 already: it becomes -1; at most one element may be -1 in the end.
    /// 3c. The element keeps the dim exactly but at another index (or `allowzero` is 1), and a -1
    ///     is taken: it becomes `Gather(Shape(data), [a])`, the target a `Concat` (rule 3d).
    /// 3d. Refused, naming the node, the target and why: a symbol split over several elements or
    ///     merged away (a batch of 1 folded into the heads), or two elements that need -1.
    static func reshapeTarget(_ node: Node, in graph: Graph, sizes: [String: Int64]) throws -> NewTarget? {
        guard let target = try constantInts(node, 1, graph), let d = dims(node.inputs[0], graph) else { return nil }
        let allowZero = try node.int("allowzero", default: 0) != 0
        var symbols: [(axis: Int, name: String, size: Int64)] = []
        for (a, dim) in d.enumerated() {
            if case .symbol(let s) = dim, let n = sizes[s] { symbols.append((a, s, n)) }
        }
        guard !symbols.isEmpty else { return nil }
        func refuse(_ why: String) -> KilnError {
            KilnError(.checkFailed, "node '\(node.name)' (Reshape): the constant target \(target) bakes the size of "
                + symbols.map { "'\($0.name)' (old size \($0.size), input axis \($0.axis))" }.joined(separator: " and ")
                + " and cannot be rewritten safely: \(why)")
        }
        // The input's dims at the old sizes, and the old target resolved.
        let inDims: [Product] = d.enumerated().map { a, dim in
            switch dim {
            case .value(let v): return Product(number: v)
            case .symbol(let s): return sizes[s].map { Product(number: $0) } ?? Product(names: [s: 1])
            case .unknown: return Product(names: ["?\(a)": 1])
            }
        }
        var total = Product()
        for p in inDims { total.multiply(p) }
        var out: [Product?] = target.enumerated().map { j, t in
            if t == 0 && !allowZero { return j < inDims.count ? inDims[j] : nil }
            return t == -1 ? nil : Product(number: t)
        }
        if let minus = target.firstIndex(of: -1) {
            var known = Product()
            for (j, p) in out.enumerated() where j != minus { if let p { known.multiply(p) } }
            out[minus] = total.divided(by: known)
        }
        guard out.allSatisfy({ $0 != nil }) else { throw refuse("the old target does not fit the input") }
        let outDims = out.map { $0! }
        func prefix(_ ds: [Product], _ k: Int) -> Product {
            var p = Product()
            for x in ds[..<k] { p.multiply(x) }
            return p
        }
        var t = target
        var minusAt = target.firstIndex(of: -1)
        var derived: [Int: Int] = [:]  // element -> input axis
        for sym in symbols {
            let before = prefix(inDims, sym.axis)
            var through = before
            through.multiply(inDims[sym.axis])
            // The element whose span holds input axis `a` whole.
            guard let j = outDims.indices.first(where: { j in
                let start = prefix(outDims, j)
                var end = start
                end.multiply(outDims[j])
                return before.divided(by: start) != nil && end.divided(by: through) != nil
            }) else { throw refuse("'\(sym.name)' is split over several elements or merged away") }
            let exact = prefix(outDims, j) == before && outDims[j] == inDims[sym.axis]
            if exact && j == sym.axis && !allowZero {
                t[j] = 0  // 3a
            } else if minusAt == nil || minusAt == j, derived[j] == nil {
                t[j] = -1  // 3b
                minusAt = j
            } else if exact {
                derived[j] = sym.axis  // 3c
            } else {
                throw refuse("'\(sym.name)' shares element \(j) with other sizes and the -1 is taken")
            }
        }
        if derived.isEmpty { return .constant(t) }
        return .derived(t.enumerated().map { j, v in derived[j] == nil ? v : nil }, axes: derived)
    }

    /// Rule 3c: points the Reshape at `Concat(numbers..., Gather(Shape(data), [a]), ...)`.
    static func deriveTarget(_ graph: inout Graph, reshape: NodeID, elements: [Int64?], axes: [Int: Int]) throws {
        let node = graph[node: reshape]
        guard let data = node.inputs[0], let old = node.inputs[1] else { return }
        let base = graph.name(of: old)
        let shapeName = graph.uniqueName(base + "_shape")
        let shape = try graph.addNode(Node(opType: "Shape", name: shapeName), inputs: [data], outputNames: [shapeName], at: .before(reshape))
        let shapeOut = graph[node: shape].outputs[0]!
        var pieces: [ValueID] = []
        var run: [Int64] = []
        func flush() throws {
            guard !run.isEmpty else { return }
            let name = graph.uniqueName(base + "_part")
            pieces.append(try graph.addInitializer(named: name, .int64(run, dims: [Int64(run.count)], name: name)))
            run = []
        }
        for (j, e) in elements.enumerated() {
            if let e { run.append(e); continue }
            try flush()
            let idxName = graph.uniqueName(base + "_axis")
            let idx = try graph.addInitializer(named: idxName, .int64([Int64(axes[j]!)], dims: [1], name: idxName))
            let dimName = graph.uniqueName(base + "_dim")
            let g = try graph.addNode(Node(opType: "Gather", name: dimName), inputs: [shapeOut, idx], outputNames: [dimName], at: .before(reshape))
            pieces.append(graph[node: g].outputs[0]!)
        }
        try flush()
        let concatName = graph.uniqueName(base + "_derived")
        let concat = try graph.addNode(Node(opType: "Concat", name: concatName, attributes: [Attribute("axis", .int(0))]),
                                       inputs: pieces, outputNames: [concatName], at: .before(reshape))
        graph.setInput(of: reshape, at: 1, to: graph[node: concat].outputs[0]!)
        _ = graph.removeUnusedInitializers([old], captured: [])
    }
}
