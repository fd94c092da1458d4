import KilnIR

extension DynamicAxes {
    /// Rule 3: the new constant target of a `Reshape` whose data input carries a new symbol `s`
    /// (old size N) at input axis `a`. Targets that are computed (not constants) are already
    /// dynamic and stay.
    /// 3a. Same axis: an element at position `a` equal to N (or already 0) becomes 0 ("copy the
    ///     input's dim"), when `allowzero` is 0.
    /// 3b. The target already holds a -1: it absorbs every symbol 3a did not place (the remaining
    ///     size is exact since every other element is).
    /// 3c. Otherwise, with one symbol left: the one element equal to N becomes -1; when none or
    ///     several equal N, the one element that N divides (N > 1) becomes -1 (a flattened
    ///     `[1, 16 * 32]` -> `[1, -1]`).
    /// 3d. Anything else (two symbols and no -1, no element that can carry the symbol, several
    ///     candidates) cannot be rewritten safely: the error names the node, the target and why.
    static func reshapeTarget(_ node: Node, in graph: Graph, sizes: [String: Int64]) throws -> (slot: Int, values: [Int64])? {
        guard let target = try constantInts(node, 1, graph), let d = dims(node.inputs[0], graph) else { return nil }
        let allowZero = try node.int("allowzero", default: 0) != 0
        var symbols: [(axis: Int, name: String, size: Int64)] = []
        for (a, dim) in d.enumerated() {
            if case .symbol(let s) = dim, let n = sizes[s] { symbols.append((a, s, n)) }
        }
        guard !symbols.isEmpty else { return nil }
        var t = target
        var copied = Set<Int>()
        var left: [(axis: Int, name: String, size: Int64)] = []
        for sym in symbols {
            // 3a.
            if !allowZero, sym.axis < t.count, t[sym.axis] == sym.size || t[sym.axis] == 0, !copied.contains(sym.axis) {
                t[sym.axis] = 0
                copied.insert(sym.axis)
            } else {
                left.append(sym)
            }
        }
        if left.isEmpty || t.contains(-1) { return (1, t) }  // 3b.
        func refuse(_ why: String) -> KilnError {
            KilnError(.checkFailed, "node '\(node.name)' (Reshape): the constant target \(target) bakes the size of "
                + left.map { "'\($0.name)' (old size \($0.size), input axis \($0.axis))" }.joined(separator: " and ")
                + " and cannot be rewritten safely: \(why)")
        }
        guard left.count == 1, let sym = left.first else {  // 3d.
            throw refuse("more than one symbolic size would need a -1")
        }
        // 3c.
        let free = t.indices.filter { !copied.contains($0) }
        var candidates = free.filter { t[$0] == sym.size }
        if candidates.count != 1, sym.size > 1 {
            candidates = free.filter { t[$0] > 0 && t[$0] % sym.size == 0 }
        }
        guard candidates.count == 1, let j = candidates.first else {
            throw refuse(candidates.isEmpty ? "no element can carry it" : "elements \(candidates) could each carry it")
        }
        t[j] = -1
        return (1, t)
    }
}
