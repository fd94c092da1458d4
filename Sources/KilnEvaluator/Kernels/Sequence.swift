import KilnIR

/// Sequence and optional operators: SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceAt,
/// SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence, Optional,
/// OptionalHasElement, OptionalGetElement.
///
/// Positions may be negative (counting from the end): `[-n, n-1]` for At/Erase, `[-n, n]` for
/// Insert; out of range is an error naming the node.
enum SequenceKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("SequenceEmpty", since: 11) { ctx in
            let raw = try ctx.int("dtype", default: Int(DataType.float.rawValue))
            guard let type = DataType(rawValue: Int32(raw)) else { throw ctx.error("dtype \(raw) is not a data type") }
            return [.sequence([], elementType: type)]
        }
        r.register("SequenceConstruct", since: 11) { ctx in
            let ts = try ctx.allTensors()
            guard let first = ts.first else { throw ctx.error("needs at least one tensor") }
            guard ts.allSatisfy({ $0.dataType == first.dataType }) else { throw ctx.error("tensors must share one element type") }
            return [.sequence(ts, elementType: first.dataType)]
        }
        r.register("SequenceInsert", since: 11) { ctx in
            var (items, type) = try sequence(ctx, 0)
            let t = try ctx.tensor(1)
            guard items.isEmpty || t.dataType == type else { throw ctx.error("cannot insert \(t.dataType.name) into a sequence of \(type.name)") }
            let at = try position(ctx, 2, count: items.count, inclusiveEnd: true) ?? items.count
            items.insert(t, at: at)
            return [.sequence(items, elementType: t.dataType)]
        }
        r.register("SequenceAt", since: 11) { ctx in
            let (items, _) = try sequence(ctx, 0)
            guard let at = try position(ctx, 1, count: items.count, inclusiveEnd: false) else { throw ctx.error("position is required") }
            return [.tensor(items[at])]
        }
        r.register("SequenceErase", since: 11) { ctx in
            var (items, type) = try sequence(ctx, 0)
            guard !items.isEmpty else { throw ctx.error("cannot erase from an empty sequence") }
            let at = try position(ctx, 1, count: items.count, inclusiveEnd: false) ?? items.count - 1
            items.remove(at: at)
            return [.sequence(items, elementType: type)]
        }
        r.register("SequenceLength", since: 11) { ctx in
            [.tensor(.scalar(Int64(try sequence(ctx, 0).items.count)))]
        }
        r.register("SplitToSequence", since: 11) { ctx in
            let x = try ctx.tensor(0)
            let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
            let n = x.shape[axis]
            var sizes: [Int]
            var squeeze = false
            if let split = try ctx.optionalTensor(1) {
                let v = split.int64s.map { Int($0) }
                if split.rank == 0 {
                    guard v[0] > 0 else { throw ctx.error("split must be positive, got \(v[0])") }
                    sizes = stride(from: 0, to: n, by: v[0]).map { min(v[0], n - $0) }
                } else {
                    sizes = v
                }
            } else {
                sizes = [Int](repeating: 1, count: n)
                squeeze = try ctx.int("keepdims", default: 1) == 0
            }
            guard sizes.reduce(0, +) == n, sizes.allSatisfy({ $0 >= 0 }) else {
                throw ctx.error("split sizes \(sizes) do not add up to \(n), the size of axis \(axis)")
            }
            var start = 0, parts: [TensorValue] = []
            for s in sizes {
                var part = try MovementKernels.slice(x, starts: [start], ends: [start + s], axes: [axis], steps: nil, ctx)
                if squeeze { part = part.reshaped(part.shape.enumerated().filter { $0.offset != axis }.map(\.element)) }
                parts.append(part)
                start += s
            }
            return [.sequence(parts, elementType: x.dataType)]
        }
        r.register("ConcatFromSequence", since: 11) { ctx in
            let (items, _) = try sequence(ctx, 0)
            guard let first = items.first else { throw ctx.error("cannot concatenate an empty sequence") }
            let newAxis = try ctx.int("new_axis", default: 0) != 0
            let rank = first.rank + (newAxis ? 1 : 0)
            let axis = try ctx.axis(ctx.int("axis"), rank: rank)
            let parts = newAxis ? items.map { t in t.reshaped(Array(t.shape[..<axis]) + [1] + Array(t.shape[axis...])) } : items
            return [.tensor(try MovementKernels.concat(parts, axis: axis))]
        }
        // SequenceMap: runs `body` once per element of the first sequence; later inputs are
        // sequences (element i passed) or tensors (passed whole); each output collects a sequence.
        r.register("SequenceMap", since: 17) { ctx in
            let (first, _) = try sequence(ctx, 0)
            var outputs = [[TensorValue]](repeating: [], count: ctx.outputCount)
            for i in 0..<first.count {
                var args: [RuntimeValue] = [.tensor(first[i])]
                for k in 1..<max(ctx.inputs.count, 1) {
                    guard let v = ctx.inputs[k] else { throw ctx.error("input \(k) is missing") }
                    if case .sequence(let items, _) = v {
                        guard items.count == first.count else { throw ctx.error("sequence input \(k) has \(items.count) elements, expected \(first.count)") }
                        args.append(.tensor(items[i]))
                    } else {
                        args.append(v)
                    }
                }
                let results = try ctx.subgraphs.run("body", inputs: args)
                guard results.count == ctx.outputCount else { throw ctx.error("body produced \(results.count) outputs, expected \(ctx.outputCount)") }
                for (o, value) in results.enumerated() {
                    guard case .tensor(let t) = value else { throw ctx.error("body output \(o) must be a tensor") }
                    outputs[o].append(t)
                }
            }
            // Empty input: element types come from the body's declared outputs when known.
            return outputs.map { items in .sequence(items, elementType: items.first?.dataType ?? .float) }
        }
        r.register("Optional", since: 15) { ctx in
            guard ctx.hasInput(0), let v = ctx.inputs[0] else {
                guard case .type(let t)? = ctx.node.attribute("type")?.value else {
                    throw ctx.error("an empty Optional needs the 'type' attribute")
                }
                return [.optional(nil, elementType: t)]
            }
            return [.optional(v, elementType: nil)]
        }
        r.register("OptionalHasElement", since: 15) { ctx in
            guard ctx.hasInput(0), let v = ctx.inputs[0] else { return [.tensor(.scalar(false))] }
            if case .optional(let inner, _) = v { return [.tensor(.scalar(inner != nil))] }
            return [.tensor(.scalar(true))]
        }
        r.register("OptionalGetElement", since: 15) { ctx in
            guard ctx.hasInput(0), let v = ctx.inputs[0] else { throw ctx.error("input is required") }
            if case .optional(let inner, _) = v {
                guard let inner else { throw ctx.error("the optional is empty") }
                return [inner]
            }
            return [v]
        }
    }

    static func sequence(_ ctx: KernelContext, _ i: Int) throws -> (items: [TensorValue], type: DataType) {
        guard i < ctx.inputs.count, let v = ctx.inputs[i] else { throw ctx.error("input \(i) is required but missing") }
        switch v {
        case .sequence(let items, let type): return (items, type)
        case .optional(.sequence(let items, let type)?, _): return (items, type)
        default: throw ctx.error("input \(i) must be a sequence, got \(v)")
        }
    }

    /// The position in input `i` normalized against `count`, or nil when absent.
    static func position(_ ctx: KernelContext, _ i: Int, count: Int, inclusiveEnd: Bool) throws -> Int? {
        guard let p = try ctx.integers(i)?.first else { return nil }
        let at = p < 0 ? p + count : p
        guard at >= 0 && (inclusiveEnd ? at <= count : at < count) else {
            throw ctx.error("position \(p) is out of range for a sequence of \(count)")
        }
        return at
    }
}
