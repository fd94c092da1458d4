import KilnIR

/// Indexing and rearranging: Trilu, CumSum, CumProd, OneHot, Compress, NonZero, TopK,
/// DepthToSpace, SpaceToDepth, GatherND, ScatterElements, ScatterND.
enum IndexingKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Trilu", since: 14) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
            let k = try ctx.optionalTensor(1)?.int64s.first.map { Int($0) } ?? 0
            let upper = try ctx.int("upper", default: 1) != 0
            let (rows, cols) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
            let src = (0..<x.count).map { i -> Int in
                let j = i % cols, row = (i / cols) % max(rows, 1)
                return (upper ? j - row >= k : j - row <= k) ? i : -1
            }
            return KernelContext.one(TensorValue(shape: x.shape, storage: x.storage.gathering(src)))
        }
        r.register("CumSum", since: 11, cumulative(product: false))
        r.register("CumProd", since: 26, cumulative(product: true))
        r.register("OneHot", since: 9) { ctx in
            let (indices, depthT, values) = (try ctx.tensor(0), try ctx.tensor(1), try ctx.tensor(2))
            guard values.count == 2 else { throw ctx.error("values must hold [off, on]") }
            guard let d = depthT.doubles.first, d >= 1 else { throw ctx.error("depth must be a positive scalar") }
            let depth = Int(d)
            let rank = indices.rank + 1
            let axis = try ctx.axis(ctx.int("axis", default: -1), rank: rank)
            let outer = indices.shape[..<axis].reduce(1, *), inner = indices.shape[axis...].reduce(1, *)
            let ind = indices.doubles.map { v -> Int in let i = Int(v); return i < 0 ? i + depth : i }
            var src = [Int](repeating: 0, count: outer * depth * inner)
            for o in 0..<outer {
                for i in 0..<inner {
                    let v = ind[o * inner + i]
                    if v >= 0 && v < depth { src[(o * depth + v) * inner + i] = 1 }
                }
            }
            var shape = indices.shape
            shape.insert(depth, at: axis)
            return KernelContext.one(TensorValue(shape: shape, storage: values.storage.gathering(src)))
        }
        r.register("Compress", since: 9) { ctx in
            var x = try ctx.tensor(0)
            guard let cond = try ctx.tensor(1).elements(as: Bool.self) else { throw ctx.error("condition must be bool") }
            let axis: Int
            if ctx.node.attribute("axis") != nil {
                axis = try ctx.axis(ctx.int("axis"), rank: x.rank)
            } else {
                x = x.reshaped([x.count])
                axis = 0
            }
            guard cond.count <= x.shape[axis] else { throw ctx.error("condition is longer than axis \(axis)") }
            let keep = cond.indices.filter { cond[$0] }
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            var src: [Int] = []
            for o in 0..<outer { for k in keep { for i in 0..<inner { src.append((o * n + k) * inner + i) } } }
            var shape = x.shape
            shape[axis] = keep.count
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        r.register("NonZero", since: 9) { ctx in
            let x = try ctx.tensor(0)
            let nonzero: [Bool]
            if case .string(let s) = x.storage { nonzero = s.map { !$0.isEmpty } } else { nonzero = x.doubles.map { $0 != 0 } }
            var coords: [[Int64]] = Array(repeating: [], count: x.rank)
            forEachMultiIndex(x.shape) { linear, idx in
                if nonzero[linear] { for d in 0..<idx.count { coords[d].append(Int64(idx[d])) } }
            }
            let n = x.rank == 0 ? (nonzero.first == true ? 1 : 0) : coords.first?.count ?? 0
            return KernelContext.one(TensorValue(shape: [x.rank, n], coords.flatMap { $0 }))
        }
        r.register("TopK", since: 10) { ctx in
            let x = try ctx.tensor(0)
            guard let k = try ctx.integers(1)?.first, k >= 0 else { throw ctx.error("K must be a non-negative scalar") }
            let axis = try ctx.axis(ctx.int("axis", default: -1), rank: x.rank)
            guard k <= x.shape[axis] else { throw ctx.error("K \(k) is larger than axis \(axis) (\(x.shape[axis]))") }
            let largest = try ctx.int("largest", default: 1) != 0
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            let v = x.doubles
            var src = [Int](), picked = [Int64]()
            var positions = [[Int]](repeating: [], count: outer * inner)
            for o in 0..<outer {
                for i in 0..<inner {
                    let order = (0..<n).sorted { a, b in
                        let va = v[(o * n + a) * inner + i], vb = v[(o * n + b) * inner + i]
                        if va == vb { return a < b }
                        return largest ? va > vb : va < vb
                    }
                    positions[o * inner + i] = Array(order.prefix(k))
                }
            }
            for o in 0..<outer {
                for j in 0..<k {
                    for i in 0..<inner {
                        let p = positions[o * inner + i][j]
                        src.append((o * n + p) * inner + i)
                        picked.append(Int64(p))
                    }
                }
            }
            var shape = x.shape
            shape[axis] = k
            return [.tensor(TensorValue(shape: shape, storage: x.storage.gathering(src))), .tensor(TensorValue(shape: shape, picked))]
        }
        r.register("DepthToSpace", since: 1) { ctx in
            let x = try ctx.tensor(0)
            let b = try ctx.int("blocksize")
            guard x.rank == 4, b > 0, x.shape[1] % (b * b) == 0 else { throw ctx.error("needs a 4-D input with channels divisible by blocksize²") }
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let crd = try ctx.string("mode", default: "DCR") == "CRD"
            let staged = crd ? x.reshaped([n, c / (b * b), b, b, h, w]) : x.reshaped([n, b, b, c / (b * b), h, w])
            let moved = MovementKernels.transpose(staged, crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2])
            return KernelContext.one(moved.reshaped([n, c / (b * b), h * b, w * b]))
        }
        r.register("SpaceToDepth", since: 1) { ctx in
            let x = try ctx.tensor(0)
            let b = try ctx.int("blocksize")
            guard x.rank == 4, b > 0, x.shape[2] % b == 0, x.shape[3] % b == 0 else {
                throw ctx.error("needs a 4-D input with height and width divisible by blocksize")
            }
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let crd = try ctx.string("mode", default: "DCR") == "CRD"
            let moved = MovementKernels.transpose(x.reshaped([n, c, h / b, b, w / b, b]), crd ? [0, 1, 3, 5, 2, 4] : [0, 3, 5, 1, 2, 4])
            return KernelContext.one(moved.reshaped([n, c * b * b, h / b, w / b]))
        }
        r.register("GatherND", since: 11) { ctx in
            let (x, ind) = (try ctx.tensor(0), try ctx.tensor(1))
            let b = try ctx.int("batch_dims", default: 0)
            guard ind.rank >= 1, let k = ind.shape.last, b + k <= x.rank, b < ind.rank else {
                throw ctx.error("indices of shape \(ind.shape) do not fit data of shape \(x.shape) with batch_dims \(b)")
            }
            let strides = rowMajorStrides(x.shape)
            let slice = x.shape[(b + k)...].reduce(1, *)
            let batches = x.shape[..<b].reduce(1, *), perBatch = ind.count / max(k, 1) / max(batches, 1)
            let iv = ind.int64s
            var src: [Int] = []
            let tuples = k == 0 ? ind.count : ind.count / k
            for t in 0..<(k == 0 ? shapeCount(Array(ind.shape.dropLast())) : tuples) {
                let batch = perBatch == 0 ? 0 : t / perBatch
                var off = batch * (b > 0 ? strides[b - 1] : 0)
                for j in 0..<k {
                    var i = Int(iv[t * k + j])
                    let dim = x.shape[b + j]
                    if i < 0 { i += dim }
                    guard i >= 0 && i < dim else { throw ctx.error("index \(iv[t * k + j]) is out of range for axis \(b + j)") }
                    off += i * strides[b + j]
                }
                for s in 0..<slice { src.append(off + s) }
            }
            let shape = Array(ind.shape.dropLast()) + Array(x.shape[(b + k)...])
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        let scatterElements: Kernel = { ctx in
            let (x, ind, upd) = (try ctx.tensor(0), try ctx.tensor(1), try ctx.tensor(2))
            let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
            guard ind.shape == upd.shape, ind.rank == x.rank else { throw ctx.error("indices and updates must have the same shape and the data's rank") }
            let strides = rowMajorStrides(x.shape)
            let iv = ind.int64s
            var targets = [Int](repeating: 0, count: ind.count)
            var bad: Int64?
            forEachMultiIndex(ind.shape) { linear, idx in
                var i = Int(iv[linear])
                if i < 0 { i += x.shape[axis] }
                if i < 0 || i >= x.shape[axis] { bad = iv[linear]; return }
                var off = 0
                for d in 0..<idx.count { off += (d == axis ? i : idx[d]) * strides[d] }
                targets[linear] = off
            }
            if let bad { throw ctx.error("index \(bad) is out of range for axis \(axis)") }
            return KernelContext.one(try scatter(x, upd, targets: targets, reduction: ctx.string("reduction", default: "none"), ctx))
        }
        r.register("ScatterElements", since: 11, scatterElements)
        // Scatter (9, deprecated at 11): ScatterElements without `reduction`.
        r.register("Scatter", since: 9, scatterElements)
        // Unique: distinct elements (or slices along `axis`), sorted ascending (lexicographically
        // for slices) or in order of first occurrence; also first indices, inverse indices, counts.
        r.register("Unique", since: 11) { ctx in
            let x = try ctx.tensor(0)
            let sorted = try ctx.int("sorted", default: 1) != 0
            let axis: Int? = ctx.node.attribute("axis") == nil ? nil : try ctx.axis(ctx.int("axis"), rank: x.rank)
            let shape = axis == nil ? [x.count] : x.shape
            let a = axis ?? 0
            let n = shape[a], inner = shape[(a + 1)...].reduce(1, *), outer = shape[..<a].reduce(1, *)
            let values = x.doubles
            func sliceIndices(_ k: Int) -> [Int] {
                var idx: [Int] = []
                for o in 0..<outer { for i in 0..<inner { idx.append((o * n + k) * inner + i) } }
                return idx
            }
            let slices = (0..<n).map { sliceIndices($0).map { values[$0] } }
            var firstOf: [[Double]: Int] = [:]
            var order: [Int] = []
            for k in 0..<n where firstOf[slices[k]] == nil { firstOf[slices[k]] = k; order.append(k) }
            if sorted {
                order.sort { l, r in
                    for (p, q) in zip(slices[l], slices[r]) where p != q { return p < q }
                    return false
                }
            }
            let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { (slices[$1], $0) })
            let inverse = (0..<n).map { Int64(position[slices[$0]]!) }
            var counts = [Int64](repeating: 0, count: order.count)
            for i in inverse { counts[Int(i)] += 1 }
            var yShape = shape
            yShape[a] = order.count
            var src: [Int] = []
            for o in 0..<outer { for k in order { for i in 0..<inner { src.append((o * n + k) * inner + i) } } }
            let y = TensorValue(shape: yShape, storage: x.storage.gathering(src))
            return [.tensor(y), .tensor(TensorValue(shape: [order.count], order.map { Int64($0) })),
                    .tensor(TensorValue(shape: [n], inverse)), .tensor(TensorValue(shape: [order.count], counts))]
        }
        // TensorScatter (24): a copy of past_cache with `update` written along `axis` (default -2)
        // from `write_indices[batch]` (default 0) on, wrapping modulo the axis length in circular mode.
        r.register("TensorScatter", since: 24) { ctx in
            let past = try ctx.tensor(0), update = try ctx.tensor(1)
            guard past.dataType == update.dataType, past.rank == update.rank, past.rank >= 2 else { throw ctx.error("past_cache and update must have the same type and rank") }
            let axis = try ctx.axis(ctx.int("axis", default: -2), rank: past.rank)
            guard axis > 0 else { throw ctx.error("axis must not be the batch axis") }
            let mode = try ctx.string("mode", default: "linear")
            guard mode == "linear" || mode == "circular" else { throw ctx.error("mode must be linear or circular, got '\(mode)'") }
            for d in 0..<past.rank where d != axis && past.shape[d] != update.shape[d] || d == axis && update.shape[d] > past.shape[d] {
                throw ctx.error("update shape \(update.shape) does not fit past_cache shape \(past.shape)")
            }
            let starts = try ctx.integers(2) ?? [Int](repeating: 0, count: past.shape[0])
            let maxLength = past.shape[axis], length = update.shape[axis]
            let prefix = past.shape[..<axis].reduce(1, *), inner = past.shape[(axis + 1)...].reduce(1, *)
            let perBatch = prefix / past.shape[0]
            var src = Array(0..<past.count)
            for p in 0..<prefix {
                let batch = p / perBatch
                for s in 0..<length {
                    var at = starts[batch] + s
                    if mode == "circular" { at = ((at % maxLength) + maxLength) % maxLength }
                    guard at >= 0 && at < maxLength else { throw ctx.error("write index \(at) is outside the cache of length \(maxLength)") }
                    for i in 0..<inner { src[(p * maxLength + at) * inner + i] = past.count + (p * length + s) * inner + i }
                }
            }
            let both = try TensorStorage.concatenating([past.storage, update.storage], type: past.dataType)
            return KernelContext.one(TensorValue(shape: past.shape, storage: both.gathering(src)))
        }
        // MaxUnpool: X's values placed at `I` (flat indices into the unpooled shape
        // `(in - 1) stride - pads + kernel`), zeros elsewhere; `output_shape` pads at the end.
        r.register("MaxUnpool", since: 9) { ctx in
            let x = try ctx.tensor(0), ind = try ctx.tensor(1)
            guard ind.shape == x.shape, let kernel = try ctx.ints("kernel_shape"), kernel.count == x.rank - 2 else {
                throw ctx.error("I must have X's shape and kernel_shape one entry per spatial axis")
            }
            let r = kernel.count
            let strides = try ctx.ints("strides") ?? [Int](repeating: 1, count: r)
            let pads = try ctx.ints("pads") ?? [Int](repeating: 0, count: 2 * r)
            let inferred = Array(x.shape[..<2]) + (0..<r).map { (x.shape[$0 + 2] - 1) * strides[$0] - pads[$0] - pads[$0 + r] + kernel[$0] }
            let shape = try ctx.integers(2) ?? inferred
            guard shape.count == x.rank, zip(shape, inferred).allSatisfy({ $0 >= $1 }) else { throw ctx.error("output_shape \(shape) is smaller than \(inferred)") }
            var unpooled = [Int](repeating: -1, count: shapeCount(inferred))
            for (e, i) in ind.int64s.enumerated() {
                guard i >= 0 && Int(i) < unpooled.count else { throw ctx.error("index \(i) is out of range") }
                unpooled[Int(i)] = e
            }
            let inferredStrides = rowMajorStrides(inferred)
            var src = [Int](repeating: -1, count: shapeCount(shape))
            forEachMultiIndex(shape) { linear, idx in
                var off = 0
                for d in 0..<idx.count {
                    if idx[d] >= inferred[d] { return }
                    off += idx[d] * inferredStrides[d]
                }
                src[linear] = unpooled[off]
            }
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        r.register("ScatterND", since: 11) { ctx in
            let (x, ind, upd) = (try ctx.tensor(0), try ctx.tensor(1), try ctx.tensor(2))
            guard ind.rank >= 1, let k = ind.shape.last, k <= x.rank else { throw ctx.error("indices do not fit the data") }
            let strides = rowMajorStrides(x.shape)
            let slice = x.shape[k...].reduce(1, *)
            let iv = ind.int64s
            var targets: [Int] = []
            for t in 0..<(ind.count / max(k, 1)) {
                var off = 0
                for j in 0..<k {
                    var i = Int(iv[t * k + j])
                    if i < 0 { i += x.shape[j] }
                    guard i >= 0 && i < x.shape[j] else { throw ctx.error("index \(iv[t * k + j]) is out of range for axis \(j)") }
                    off += i * strides[j]
                }
                for s in 0..<slice { targets.append(off + s) }
            }
            guard targets.count == upd.count else { throw ctx.error("updates of shape \(upd.shape) do not match the indexed slices") }
            return KernelContext.one(try scatter(x, upd, targets: targets, reduction: ctx.string("reduction", default: "none"), ctx))
        }
    }

    /// `data` with `updates[j]` written (or combined by `reduction`) at `targets[j]`, in order.
    static func scatter(_ x: TensorValue, _ upd: TensorValue, targets: [Int], reduction: String, _ ctx: KernelContext) throws -> TensorValue {
        guard x.dataType == upd.dataType else { throw ctx.error("updates must have the data's type") }
        if reduction == "none" {
            var src = Array(0..<x.count)
            for (j, t) in targets.enumerated() { src[t] = x.count + j }
            let both = try TensorStorage.concatenating([x.storage, upd.storage], type: x.dataType)
            return TensorValue(shape: x.shape, storage: both.gathering(src))
        }
        guard ["add", "mul", "max", "min"].contains(reduction) else { throw ctx.unsupported("reduction '\(reduction)' is not supported") }
        return try dispatchNumeric(x.dataType, ctx.node.opType, ScatterReduce(x: x, upd: upd, targets: targets, reduction: reduction))
    }

    static func cumulative(product: Bool) -> Kernel {
        { ctx in
            let x = try ctx.tensor(0)
            guard let a = try ctx.integers(1)?.first else { throw ctx.error("input 'axis' is required") }
            let axis = try ctx.axis(a, rank: x.rank)
            let exclusive = try ctx.int("exclusive", default: 0) != 0, reverse = try ctx.int("reverse", default: 0) != 0
            return KernelContext.one(try dispatchNumeric(x.dataType, ctx.node.opType,
                                                         Cumulative(x: x, axis: axis, product: product, exclusive: exclusive, reverse: reverse)))
        }
    }
}

private struct ScatterReduce: NumericTypeVisitor {
    let x: TensorValue, upd: TensorValue, targets: [Int], reduction: String
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        var out = x.elements(as: T.self)!
        let u = upd.elements(as: T.self)!
        for (j, t) in targets.enumerated() {
            switch reduction {
            case "add": out[t] = T.add(out[t], u[j])
            case "mul": out[t] = T.multiply(out[t], u[j])
            case "max": out[t] = MaxOp().apply(out[t], u[j])
            default: out[t] = MinOp().apply(out[t], u[j])
            }
        }
        return TensorValue(shape: x.shape, elements: out)
    }
}

private struct Cumulative: NumericTypeVisitor {
    let x: TensorValue, axis: Int, product: Bool, exclusive: Bool, reverse: Bool
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        let e = x.elements(as: T.self)!
        var out = ContiguousArray<T>(repeating: T.zero, count: e.count)
        let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
        for o in 0..<outer {
            for i in 0..<inner {
                var acc = product ? T.one : T.zero
                for step in 0..<n {
                    let k = reverse ? n - 1 - step : step
                    let p = (o * n + k) * inner + i
                    if exclusive { out[p] = acc }
                    acc = product ? T.multiply(acc, e[p]) : T.add(acc, e[p])
                    if !exclusive { out[p] = acc }
                }
            }
        }
        return TensorValue(shape: x.shape, elements: out)
    }
}
