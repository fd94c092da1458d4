import KilnIR

/// Operators that rearrange or resize without computing: Reshape, Flatten, Squeeze, Unsqueeze,
/// Transpose, Concat, Split, Expand, Tile, Pad, DepthToSpace, SpaceToDepth.
///
/// Cases:
/// 1. Reshape (the `shape` attribute in Reshape-1): the shape input's elements (constant or propagated, possibly symbolic); 0 copies the
///    input dim (unless `allowzero`), -1 is the input's element count divided by the product of the
///    others (exact symbolic division, else unknown). Shape unknown but of known length: that rank.
/// 2. Flatten: [prod(dims before axis), prod(dims from axis)].
/// 3. Squeeze/Unsqueeze: axes as attribute before opset 13, as input from 13. Squeeze without axes
///    removes constant 1s (unknown rank if any dim is not constant). Elements propagate.
/// 4. Concat: dims equal except `axis`, which sums; 1-D elements concatenate (an input of static
///    length whose elements are not known contributes unknown elements).
/// 5. Split: `split` attribute (< 13) or input (>= 13), else `num_outputs` (18) or equal parts
///    (ceil division, the last part takes the rest).
/// 6. Expand: broadcast of the input with the shape input's elements. Tile: dims times repeats
///    (Tile-1: dim `axis` times `tiles`, both scalar inputs).
///    Pad: dims plus the pads of each axis (attribute `pads` before 11, input from 11; `axes` from 18).
/// 7. CenterCropPad: dims on `axes` become the shape input's elements.
enum ShapeOpRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("Reshape") { ctx in
            var shifted = ctx
            shifted.replaceValues(1, with: try ctx.node.ints("shape").map(SymDim.constant))
            try reshape(&shifted)
            ctx.setOutput(0, shifted.outputTypes[0])
        }
        r.register("Reshape", since: 5) { ctx in try reshape(&ctx) }
        r.register("Flatten") { ctx in
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
            var axis = try ctx.node.int("axis", default: 1)
            if axis < 0 { axis += Int64(x.count) }
            guard axis >= 0 && axis <= Int64(x.count) else { throw ctx.error("axis \(axis) out of range") }
            let a = Int(axis)
            ctx.setOutput(0, ctx.elementType(0), [Array(x[..<a]).product, Array(x[a...]).product])
        }
        r.register("Squeeze") { ctx in try squeeze(&ctx, axes: try ctx.intsAttribute("axes")) }
        r.register("Squeeze", since: 13) { ctx in
            if ctx.hasInput(1) {
                guard let axes = ctx.constantValues(1) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
                try squeeze(&ctx, axes: axes)
            } else {
                try squeeze(&ctx, axes: nil)
            }
        }
        r.register("Unsqueeze") { ctx in try unsqueeze(&ctx, axes: try ctx.node.ints("axes")) }
        r.register("Unsqueeze", since: 13) { ctx in
            guard let axes = ctx.constantValues(1) else {
                let n = ctx.dims(1)?.first?.constantValue
                let rank = ctx.rank(0).flatMap { r in n.map { r + Int($0) } }
                return ctx.setOutput(0, ctx.elementType(0), rank.map { Array(repeating: .unknown, count: $0) })
            }
            try unsqueeze(&ctx, axes: axes)
        }
        r.register("Transpose") { ctx in
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
            let perm = try ctx.node.ints("perm", default: (0..<Int64(x.count)).reversed())
            guard perm.count == x.count, Set(perm).count == perm.count else {
                throw ctx.error("perm \(perm) is not a permutation of \(x.count) axes")
            }
            ctx.setOutput(0, ctx.elementType(0), try perm.map { x[try ctx.axis($0, rank: x.count, what: "perm entry")] })
        }
        r.register("Concat") { ctx in try concat(&ctx) }
        r.register("Split") { ctx in try split(&ctx, sizes: try ctx.intsAttribute("split"), sizesKnown: true) }
        r.register("Split", since: 13) { ctx in
            let given = ctx.hasInput(1)
            try split(&ctx, sizes: given ? ctx.constantValues(1) : nil, sizesKnown: !given || ctx.constantValues(1) != nil)
        }
        r.register("Expand", since: 8) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            if let shape = ctx.values(1) {
                return ctx.setOutput(0, type, try Broadcast.shapes([x, shape], ctx: ctx))
            }
            guard let n = ctx.dims(1)?.first?.constantValue else { return ctx.setOutput(0, type, nil) }
            let unknown = [SymDim](repeating: .unknown, count: Int(n))
            ctx.setOutput(0, type, try Broadcast.shapes([x, unknown], ctx: ctx))
        }
        r.register("Tile", since: 1) { ctx in  // scalar `tiles` copies along scalar `axis`
            let type = ctx.elementType(0)
            guard var x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            guard let axis = ctx.constantValues(2)?.first else {
                return ctx.setOutput(0, type, Array(repeating: .unknown, count: x.count))
            }
            let a = try ctx.axis(axis, rank: x.count)
            x[a] = ctx.values(1)?.first.map { x[a] * $0 } ?? .unknown
            ctx.setOutput(0, type, x)
        }
        r.register("Tile", since: 6) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            guard let reps = ctx.values(1) else { return ctx.setOutput(0, type, Array(repeating: .unknown, count: x.count)) }
            guard reps.count == x.count else { throw ctx.error("repeats has \(reps.count) values for rank \(x.count)") }
            ctx.setOutput(0, type, zip(x, reps).map { $0 * $1 })
        }
        r.register("Pad") { ctx in try pad(&ctx, pads: try ctx.node.ints("paddings"), axes: nil) }
        r.register("Pad", since: 2) { ctx in try pad(&ctx, pads: try ctx.node.ints("pads"), axes: nil) }
        r.register("Pad", since: 11) { ctx in
            guard let pads = ctx.constantValues(1) else {
                return ctx.setOutput(0, ctx.elementType(0), ctx.rank(0).map { Array(repeating: .unknown, count: $0) })
            }
            var axes: [Int64]? = nil
            if ctx.hasInput(3) {
                guard let a = ctx.constantValues(3) else {
                    return ctx.setOutput(0, ctx.elementType(0), ctx.rank(0).map { Array(repeating: .unknown, count: $0) })
                }
                axes = a
            }
            try pad(&ctx, pads: pads, axes: axes)
        }
        r.register("CenterCropPad", since: 18) { ctx in
            let type = ctx.elementType(0)
            guard var x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            let axes = try (ctx.intsAttribute("axes") ?? (0..<Int64(x.count)).map { $0 }).map { try ctx.axis($0, rank: x.count) }
            let shape = ctx.values(1)
            guard shape == nil || shape!.count == axes.count else { throw ctx.error("shape has \(shape!.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() { x[a] = shape?[k] ?? .unknown }
            ctx.setOutput(0, type, x)
        }
        r.register(["DepthToSpace", "SpaceToDepth"]) { ctx in
            let type = ctx.elementType(0)
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            guard x.count == 4 else { throw ctx.error("input must have rank 4") }
            let b = SymDim.constant(try ctx.node.int("blocksize"))
            if ctx.node.opType == "DepthToSpace" {
                ctx.setOutput(0, type, [x[0], x[1] / (b * b), x[2] * b, x[3] * b])
            } else {
                ctx.setOutput(0, type, [x[0], x[1] * b * b, x[2] / b, x[3] / b])
            }
        }
    }

    static func reshape(_ ctx: inout NodeContext) throws {
        let type = ctx.elementType(0)
        guard let shape = ctx.values(1) else {
            let n = ctx.dims(1)?.first?.constantValue
            return ctx.setOutput(0, type, n.map { Array(repeating: .unknown, count: Int($0)) })
        }
        let allowZero = try ctx.node.int("allowzero", default: 0) != 0
        let x = ctx.dims(0)
        var out: [SymDim] = []
        var inferIndex: Int? = nil
        for (i, v) in shape.enumerated() {
            if v.constantValue == 0 && !allowZero {
                guard let x else { out.append(.unknown); continue }
                guard i < x.count else { throw ctx.error("shape entry \(i) is 0 but the input has rank \(x.count)") }
                out.append(x[i])
            } else if v.constantValue == -1 {
                guard inferIndex == nil else { throw ctx.error("shape has more than one -1") }
                inferIndex = i
                out.append(.unknown)
            } else if let c = v.constantValue, c < -1 {
                throw ctx.error("shape entry \(c) is invalid")
            } else {
                out.append(v)
            }
        }
        if let k = inferIndex, let x {
            var others = out
            others.remove(at: k)
            let known = others.product
            if known.constantValue != 0 { out[k] = x.product / known }
        }
        ctx.setOutput(0, type, out)
    }

    static func squeeze(_ ctx: inout NodeContext, axes: [Int64]?) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        let remove: Set<Int>
        if let axes, !axes.isEmpty {
            remove = Set(try axes.map { try ctx.axis($0, rank: x.count) })
            for a in remove {
                if let c = x[a].constantValue, c != 1 { throw ctx.error("cannot squeeze axis \(a) of size \(c)") }
            }
        } else {
            guard x.allSatisfy({ $0.constantValue != nil }) else { return ctx.setOutput(0, type, nil) }
            remove = Set(x.indices.filter { x[$0].constantValue == 1 })
        }
        ctx.setOutput(0, type, x.enumerated().filter { !remove.contains($0.offset) }.map(\.element))
        ctx.setValues(0, ctx.values(0))
    }

    static func unsqueeze(_ ctx: inout NodeContext, axes: [Int64]) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        let rank = x.count + axes.count
        let inserted = Set(try axes.map { try ctx.axis($0, rank: rank) })
        guard inserted.count == axes.count else { throw ctx.error("axes \(axes) repeat an axis") }
        var out: [SymDim] = []
        var next = x.makeIterator()
        for k in 0..<rank { out.append(inserted.contains(k) ? .constant(1) : next.next()!) }
        ctx.setOutput(0, type, out)
        ctx.setValues(0, ctx.values(0))
    }

    static func concat(_ ctx: inout NodeContext) throws {
        let present = (0..<ctx.inputCount).filter { ctx.hasInput($0) }
        let type = ctx.firstElementType(present)
        var shapes: [[SymDim]] = []
        for i in present {
            guard let d = ctx.dims(i) else {
                let rank = present.compactMap { ctx.rank($0) }.first
                return ctx.setOutput(0, type, rank.map { Array(repeating: .unknown, count: $0) })
            }
            shapes.append(d)
        }
        guard let rank = shapes.first?.count else { return ctx.setOutput(0, type, nil) }
        guard shapes.allSatisfy({ $0.count == rank }) else { throw ctx.error("inputs have different ranks") }
        let axis = try ctx.axis(try ctx.node.int("axis"), rank: rank)
        var out = shapes[0]
        for k in 0..<rank {
            if k == axis {
                out[k] = shapes.map { $0[k] }.reduce(SymDim.constant(0), +)
            } else {
                let column = shapes.map { $0[k] }
                let constants = Set(column.compactMap(\.constantValue))
                if constants.count > 1 { throw ctx.error("inputs differ in dimension \(k): \(column.map(\.description))") }
                if let c = constants.first { out[k] = .constant(c) }
                else { out[k] = column.allSatisfy({ $0 == column[0] }) ? column[0] : .unknown }
            }
        }
        ctx.setOutput(0, type, out)
        if rank == 1 {
            var values: [SymDim] = []
            for i in present {
                // An input with unknown elements but a static length contributes unknown elements.
                if let v = ctx.values(i) { values += v }
                else if let n = ctx.dims(i)?.first?.constantValue, n <= NodeContext.maxPropagatedElements {
                    values += Array(repeating: .unknown, count: Int(n))
                } else { return }
            }
            if values.allSatisfy(\.isUnknown) { return }
            ctx.setValues(0, values)
        }
    }

    static func split(_ ctx: inout NodeContext, sizes: [Int64]?, sizesKnown: Bool) throws {
        let type = ctx.elementType(0)
        let n = ctx.outputCount
        guard let x = ctx.dims(0) else {
            for k in 0..<n { ctx.setOutput(k, type, nil) }
            return
        }
        let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.count)
        var parts: [SymDim]
        if let sizes, !sizes.isEmpty {
            guard sizes.count == n else { throw ctx.error("split has \(sizes.count) sizes for \(n) outputs") }
            if let total = x[axis].constantValue, sizes.reduce(0, +) != total {
                throw ctx.error("split sizes \(sizes) do not add up to \(total)")
            }
            parts = sizes.map(SymDim.constant)
        } else if !sizesKnown {
            parts = Array(repeating: .unknown, count: n)
        } else if let total = x[axis].constantValue {
            let chunk = (total + Int64(n) - 1) / Int64(n)
            parts = (0..<Int64(n)).map { .constant(max(0, min(chunk, total - $0 * chunk))) }
        } else {
            let equal = x[axis] / .constant(Int64(n))
            parts = Array(repeating: equal, count: n)
        }
        for k in 0..<n {
            var d = x
            d[axis] = parts[k]
            ctx.setOutput(k, type, d)
        }
    }

    static func pad(_ ctx: inout NodeContext, pads: [Int64], axes: [Int64]?) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        let axes = try (axes ?? (0..<Int64(x.count)).map { $0 }).map { try ctx.axis($0, rank: x.count) }
        guard pads.count == 2 * axes.count else {
            throw ctx.error("pads has \(pads.count) values for \(axes.count) axes")
        }
        var out = x
        for (k, a) in axes.enumerated() { out[a] = x[a] + .constant(pads[k] + pads[k + axes.count]) }
        ctx.setOutput(0, type, out)
    }
}
