import KilnIR

/// A value read as a product `coefficient * factor_1 * ... * factor_n` through a tree of Mul, Div
/// by a constant, and Pow by a small integer constant, so that exporter variants (commuted
/// operands, `x / c` vs `x * (1/c)`, `Pow(x, 2)` vs `Mul(x, x)`, where the 0.5 sits) read the same.
struct Product {
    var coefficient: Double = 1
    /// Non-constant leaves, with multiplicity (`Pow(x, 3)` gives `x` three times), in visit order.
    var factors: [ValueID] = []
    /// The nodes read through; each one's output is interior (single use) except the root's.
    var nodes: [NodeID] = []

    /// How many times `v` is a factor.
    func power(of v: ValueID) -> Int { factors.filter { $0 == v }.count }

    /// The factors other than `v`.
    func factors(except v: ValueID) -> [ValueID] { factors.filter { $0 != v } }
}

extension Matcher {
    /// Reads `v` as a product. Interior values (every node output read through besides `v`) must be
    /// single-use; constants must hold one element and have a rank no larger than `maxConstantRank`
    /// (so broadcasting never enlarges the result).
    func product(_ v: ValueID, maxConstantRank: Int) -> Product {
        var p = Product()
        func visit(_ v: ValueID, isRoot: Bool) {
            if let t = constant(v), t.elementCount == 1, t.dims.count <= maxConstantRank, let c = scalar(v) {
                p.coefficient *= c
                return
            }
            // A cap on the nodes read keeps matching linear on long Mul chains.
            let readable = p.nodes.count < 32 && (isRoot || (try? interior(v)) != nil)
            if readable, let n = graph.producer(of: v), graph[node: n].outputs.count == 1 {
                let node = graph[node: n]
                let ins = node.inputs
                if node.opType == FusionOp.mul, ins.count == 2, let a = ins[0], let b = ins[1] {
                    p.nodes.append(n)
                    visit(a, isRoot: false)
                    visit(b, isRoot: false)
                    return
                }
                if node.opType == FusionOp.div, ins.count == 2, let a = ins[0], let b = ins[1], let c = scalarConstant(b, maxConstantRank) {
                    p.nodes.append(n)
                    p.coefficient /= c
                    visit(a, isRoot: false)
                    return
                }
                if node.opType == FusionOp.pow, ins.count == 2, let a = ins[0], let b = ins[1],
                   let k = scalar(b), k == k.rounded(), k >= 1, k <= 4 {
                    p.nodes.append(n)
                    for _ in 0..<Int(k) { visit(a, isRoot: false) }
                    return
                }
            }
            p.factors.append(v)
        }
        visit(v, isRoot: true)
        return p
    }

    /// The one element of constant `v` when its rank is at most `maxRank`.
    func scalarConstant(_ v: ValueID, _ maxRank: Int) -> Double? {
        guard let t = constant(v), t.elementCount == 1, t.dims.count <= maxRank else { return nil }
        return scalar(v)
    }

    /// For `Add(a, b)` (or a two-input `Sum`, as ONNX function bodies write it) with one operand a
    /// one-element constant: the constant and the other operand.
    func addOfConstant(_ v: ValueID, maxConstantRank: Int) -> (constant: Double, other: ValueID, node: NodeID)? {
        guard let n = producer(v, FusionOp.add) ?? producer(v, "Sum"), graph[node: n].inputs.count == 2,
              let a = optionalInput(n, 0), let b = optionalInput(n, 1) else { return nil }
        if let c = scalarConstant(b, maxConstantRank) { return (c, a, n) }
        if let c = scalarConstant(a, maxConstantRank) { return (c, b, n) }
        return nil
    }
}
