import KilnIR

/// Multidirectional (numpy) broadcasting of symbolic shapes.
///
/// Per aligned position (from the right; missing dims count as 1):
/// 1. Equal dims (same constant or same expression) give that dim.
/// 2. Constant 1s are dropped; if what remains is one distinct dim, that dim.
/// 3. A constant other than 1 wins over symbols and unknowns (they must equal it, or be 1).
/// 4. Two different constants other than 1 are an error; two different symbols give unknown.
enum Broadcast {
    static func shapes(_ shapes: [[SymDim]], ctx: NodeContext) throws -> [SymDim] {
        if shapes.count == 2 { return try pair(shapes[0], shapes[1], ctx: ctx) }
        let rank = shapes.map(\.count).max() ?? 0
        var out: [SymDim] = []
        out.reserveCapacity(rank)
        for pos in 0..<rank {
            out.append(try dim(at: pos, of: shapes, rank: rank, ctx: ctx))
        }
        return out
    }

    /// The broadcast dim at aligned position `pos` (rules 1-4), read in place: this runs for every
    /// dim of every broadcasting node, so it allocates nothing unless it fails.
    static func dim(at pos: Int, of shapes: [[SymDim]], rank: Int, ctx: NodeContext) throws -> SymDim {
        var merge = DimMerge()
        for s in shapes {
            let k = pos - (rank - s.count)
            guard k >= 0 else { continue }
            merge.add(s[k])
        }
        if merge.conflict {
            let dims = shapes.compactMap { s -> SymDim? in
                let k = pos - (rank - s.count)
                return k >= 0 ? s[k] : nil
            }
            throw conflict(dims, at: pos, node: ctx.node)
        }
        return merge.result
    }

    /// The broadcast of two shapes, the common case (binary operators), by the same rules as
    /// `shapes`. Allocates only when the result differs from the longer shape (which is returned
    /// as is otherwise: `[1, 64]` and `[1]` give the first array back, shared).
    static func pair(_ a: [SymDim], _ b: [SymDim], ctx: NodeContext) throws -> [SymDim] {
        try pair(a, b, node: ctx.node)
    }

    /// `pair` for `node` without a context (inference's shortcut for broadcasting operators).
    static func pair(_ a: [SymDim], _ b: [SymDim], node: Node) throws -> [SymDim] {
        switch merged(a, b) {
        case .success(let dims): return dims
        case .failure(let c):
            let offsetA = c.rank - a.count, offsetB = c.rank - b.count
            throw conflict([a[c.position - offsetA], b[c.position - offsetB]], at: c.position, node: node)
        }
    }

    /// `pair` where there is no node to name: nil when the shapes do not broadcast.
    static func compatiblePair(_ a: [SymDim], _ b: [SymDim]) -> [SymDim]? {
        if case .success(let dims) = merged(a, b) { return dims }
        return nil
    }

    /// Where two shapes fail to broadcast.
    struct PairConflict: Error {
        var position: Int
        var rank: Int
    }

    private static func merged(_ a: [SymDim], _ b: [SymDim]) -> Result<[SymDim], PairConflict> {
        if a == b { return .success(a) }  // rule 1 at every position
        let long = a.count >= b.count ? a : b
        let rank = long.count
        let offsetA = rank - a.count, offsetB = rank - b.count
        var out: [SymDim]? = nil  // built from the first position where the result leaves `long`
        for pos in 0..<rank {
            var merge = DimMerge()
            if pos >= offsetA { merge.add(a[pos - offsetA]) }
            if pos >= offsetB { merge.add(b[pos - offsetB]) }
            if merge.conflict { return .failure(PairConflict(position: pos, rank: rank)) }
            let d = merge.result
            if out == nil {
                if d == long[pos] { continue }
                var start = Array(long[..<pos])
                start.reserveCapacity(rank)
                out = start
            }
            out!.append(d)
        }
        return .success(out ?? long)
    }

    /// The error `NodeContext.error` gives for `node`.
    private static func conflict(_ dims: [SymDim], at pos: Int, node: Node) -> KilnError {
        KilnError(.invalidGraph,
                  "\(node.label): cannot broadcast dimensions \(dims.map(\.description).joined(separator: ", ")) at position \(pos)")
    }

    /// The dims met at one aligned position, folded by rules 1-4.
    private struct DimMerge {
        var constant: Int64? = nil  // the constant other than 1, if any
        var conflict = false
        var first: SymDim? = nil  // the first dim other than constant 1
        var allSame = true

        mutating func add(_ d: SymDim) {
            if let c = d.constantValue {
                if c == 1 { return }
                if let seen = constant, seen != c { conflict = true } else { constant = c }
            }
            if let f = first {
                if allSame && d != f { allSame = false }
            } else {
                first = d
            }
        }

        var result: SymDim {
            if let c = constant { return .constant(c) }
            guard let first else { return .constant(1) }
            if first.isUnknown { return .unknown }
            return allSame ? first : .unknown
        }
    }

    /// Broadcast of every present input, when every rank is known. One or two shapes (the usual
    /// case) are broadcast without collecting them into an array.
    static func inputs<Indices: Sequence<Int>>(_ ctx: NodeContext, _ indices: Indices) throws -> [SymDim]? {
        var first: [SymDim] = []
        var second: [SymDim] = []
        var count = 0
        for i in indices where ctx.hasInput(i) {
            guard let d = ctx.dims(i) else { return nil }
            if count == 0 { first = d } else if count == 1 { second = d }
            count += 1
        }
        switch count {
        case 0: return []
        case 1: return first  // one shape broadcasts to itself (rules 1-4 per position)
        case 2: return try pair(first, second, ctx: ctx)
        default:
            var shapes: [[SymDim]] = []
            for i in indices where ctx.hasInput(i) { shapes.append(ctx.dims(i)!) }
            return try Broadcast.shapes(shapes, ctx: ctx)
        }
    }
}

/// Small shared helpers for rules.
extension NodeContext {
    /// Integer attribute values, or the elements of a constant input (attributes moved to inputs in
    /// later versions).
    func intsAttribute(_ name: String) throws -> [Int64]? {
        guard node.attribute(name) != nil else { return nil }
        return try node.ints(name)
    }

    /// Element type of the first present input among `indices`.
    func firstElementType(_ indices: [Int]) -> DataType? {
        for i in indices { if let t = elementType(i) { return t } }
        return nil
    }
}
