import KilnIR

/// Operators that change only the shape, or read it: Reshape, Flatten, Squeeze, Unsqueeze, Shape,
/// Size, Identity, Expand, Dropout (inference). Elements are shared, never copied.
enum ShapeKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Reshape", since: 5) { ctx in
            let x = try ctx.tensor(0)
            guard let spec = try ctx.integers(1) else { throw ctx.error("input 'shape' is required") }
            let allowZero = try ctx.int("allowzero", default: 0) != 0
            return KernelContext.one(x.reshaped(try reshapeTarget(x.shape, spec, allowZero: allowZero, ctx)))
        }
        r.register("Flatten", since: 1) { ctx in
            let x = try ctx.tensor(0)
            let raw = try ctx.int("axis", default: 1)
            let axis = raw < 0 ? raw + x.rank : raw
            guard axis >= 0 && axis <= x.rank else { throw ctx.error("axis \(raw) is out of range for rank \(x.rank)") }
            return KernelContext.one(x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)]))
        }
        r.register("Squeeze", since: 1) { ctx in KernelContext.one(try squeeze(ctx.tensor(0), ctx.ints("axes"), ctx)) }
        r.register("Squeeze", since: 13) { ctx in KernelContext.one(try squeeze(ctx.tensor(0), ctx.integers(1), ctx)) }
        r.register("Unsqueeze", since: 1) { ctx in
            guard let axes = try ctx.ints("axes") else { throw ctx.error("attribute 'axes' is required") }
            return KernelContext.one(try unsqueeze(ctx.tensor(0), axes, ctx))
        }
        r.register("Unsqueeze", since: 13) { ctx in
            guard let axes = try ctx.integers(1) else { throw ctx.error("input 'axes' is required") }
            return KernelContext.one(try unsqueeze(ctx.tensor(0), axes, ctx))
        }
        r.register("Shape", since: 1) { ctx in
            let x = try ctx.tensor(0)
            let rank = x.rank
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
            let start = clamp(try ctx.int("start", default: 0)), end = clamp(try ctx.int("end", default: rank))
            let dims = start < end ? x.shape[start..<end].map { Int64($0) } : []
            return KernelContext.one(TensorValue(shape: [dims.count], dims))
        }
        r.register("Size", since: 1) { ctx in KernelContext.one(.scalar(Int64(try ctx.tensor(0).count))) }
        r.register("Identity", since: 1) { ctx in
            guard let v = ctx.inputs.first ?? nil else { throw ctx.error("input 0 is required") }
            return [v]
        }
        r.register("Expand", since: 8) { ctx in
            let x = try ctx.tensor(0)
            guard let shape = try ctx.integers(1) else { throw ctx.error("input 'shape' is required") }
            guard let out = Broadcast.shape([x.shape, shape]) else {
                throw ctx.error("shape \(x.shape) cannot be expanded to \(shape)")
            }
            return KernelContext.one(TensorValue(shape: out, storage: x.storage.gathering(Broadcast.sourceIndices(of: x.shape, in: out))))
        }
        r.register("Dropout", since: 1) { ctx in
            let x = try ctx.tensor(0)
            if let training = try ctx.optionalTensor(2), training.int64s.first == 1 {
                let ratio = try ctx.optionalTensor(1)?.doubles.first ?? 0.5
                if ratio != 0 { throw ctx.unsupported("training mode with a nonzero ratio is random; not supported") }
            }
            var out: [RuntimeValue?] = [.tensor(x)]
            if ctx.outputCount > 1 {
                out.append(.tensor(TensorValue(shape: x.shape, elements: ContiguousArray(repeating: true, count: x.count))))
            }
            return out
        }
    }

    /// The shape Reshape produces: `0` copies the input dimension (unless `allowzero`), `-1` is
    /// inferred.
    static func reshapeTarget(_ shape: [Int], _ spec: [Int], allowZero: Bool, _ ctx: KernelContext) throws -> [Int] {
        var out = spec
        var inferred: Int?
        for (i, d) in spec.enumerated() {
            if d == 0 && !allowZero {
                guard i < shape.count else { throw ctx.error("shape \(spec) copies dimension \(i), input has rank \(shape.count)") }
                out[i] = shape[i]
            } else if d == -1 {
                guard inferred == nil else { throw ctx.error("shape \(spec) has more than one -1") }
                inferred = i
            } else if d < 0 {
                throw ctx.error("shape \(spec) has a negative dimension")
            }
        }
        let total = shapeCount(shape)
        if let i = inferred {
            let known = out.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            guard known > 0, total % known == 0 else { throw ctx.error("cannot reshape \(shape) to \(spec)") }
            out[i] = total / known
        }
        guard shapeCount(out) == total else { throw ctx.error("cannot reshape \(shape) (\(total) elements) to \(spec)") }
        return out
    }

    static func squeeze(_ x: TensorValue, _ axes: [Int]?, _ ctx: KernelContext) throws -> TensorValue {
        guard let axes, !axes.isEmpty else { return x.reshaped(x.shape.filter { $0 != 1 }) }
        let normalized = Set(try axes.map { try ctx.axis($0, rank: x.rank) })
        for a in normalized where x.shape[a] != 1 {
            throw ctx.error("cannot squeeze axis \(a) of shape \(x.shape): its size is not 1")
        }
        return x.reshaped(x.shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element))
    }

    static func unsqueeze(_ x: TensorValue, _ axes: [Int], _ ctx: KernelContext) throws -> TensorValue {
        let rank = x.rank + axes.count
        let normalized = Set(try axes.map { try ctx.axis($0, rank: rank) })
        guard normalized.count == axes.count else { throw ctx.error("axes \(axes) has duplicates") }
        var shape: [Int] = []
        var it = x.shape.makeIterator()
        for i in 0..<rank { shape.append(normalized.contains(i) ? 1 : it.next()!) }
        return x.reshaped(shape)
    }
}
