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
            var dims: [SymDim] = []
            for s in shapes {
                let k = pos - (rank - s.count)
                if k >= 0 { dims.append(s[k]) }
            }
            out.append(try dim(dims, ctx: ctx, position: pos))
        }
        return out
    }

    static func dim(_ dims: [SymDim], ctx: NodeContext, position: Int) throws -> SymDim {
        let rest = dims.filter { $0.constantValue != 1 }
        if rest.isEmpty { return .constant(1) }
        let constants = Set(rest.compactMap(\.constantValue))
        if constants.count > 1 {
            throw ctx.error("cannot broadcast dimensions \(dims.map(\.description).joined(separator: ", ")) at position \(position)")
        }
        if let c = constants.first { return .constant(c) }
        let first = rest[0]
        if first.isUnknown { return .unknown }
        return rest.allSatisfy { $0 == first } ? first : .unknown
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
