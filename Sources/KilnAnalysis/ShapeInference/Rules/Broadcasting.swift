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
        var constant: Int64? = nil  // the constant other than 1, if any
        var conflict = false
        var first: SymDim? = nil  // the first dim other than constant 1
        var allSame = true
        for s in shapes {
            let k = pos - (rank - s.count)
            guard k >= 0 else { continue }
            let d = s[k]
            if let c = d.constantValue {
                if c == 1 { continue }
                if let seen = constant, seen != c { conflict = true } else { constant = c }
            }
            if let f = first {
                if allSame && d != f { allSame = false }
            } else {
                first = d
            }
        }
        if conflict {
            let dims = shapes.compactMap { s -> SymDim? in
                let k = pos - (rank - s.count)
                return k >= 0 ? s[k] : nil
            }
            throw ctx.error("cannot broadcast dimensions \(dims.map(\.description).joined(separator: ", ")) at position \(pos)")
        }
        if let c = constant { return .constant(c) }
        guard let first else { return .constant(1) }
        if first.isUnknown { return .unknown }
        return allSame ? first : .unknown
    }

    /// Broadcast of every present input, when every rank is known.
    static func inputs(_ ctx: NodeContext, _ indices: [Int]) throws -> [SymDim]? {
        var shapes: [[SymDim]] = []
        for i in indices where ctx.hasInput(i) {
            guard let d = ctx.dims(i) else { return nil }
            shapes.append(d)
        }
        return try Broadcast.shapes(shapes, ctx: ctx)
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
