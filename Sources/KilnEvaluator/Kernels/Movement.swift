import KilnIR

/// Data movement: Transpose, Concat, Split, Slice, Gather, GatherElements, Tile, Pad.
///
/// Each kernel computes, for every output element, the index of its source element and lets
/// `TensorStorage.gathering` copy them, so none of them is written per element type.
enum MovementKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Transpose", since: 1) { ctx in
            let x = try ctx.tensor(0)
            let perm = try ctx.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
                throw ctx.error("perm \(perm) is not a permutation of the \(x.rank) axes")
            }
            return KernelContext.one(transpose(x, perm, threads: ctx.threads))
        }
        r.register("Concat", since: 4) { ctx in
            let ts = try ctx.allTensors()
            guard let first = ts.first else { throw ctx.error("needs at least one input") }
            let axis = try ctx.axis(ctx.int("axis"), rank: first.rank)
            for t in ts {
                guard t.dataType == first.dataType, t.rank == first.rank,
                      (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] }) else {
                    throw ctx.error("inputs \(ts.map(\.description)) do not concatenate along axis \(axis)")
                }
            }
            return KernelContext.one(try concat(ts, axis: axis))
        }
        r.register("Split", since: 2) { ctx in
            try split(ctx, sizes: ctx.ints("split"))
        }
        r.register("Split", since: 13) { ctx in
            try split(ctx, sizes: ctx.integers(1))
        }
        r.register("Slice", since: 1) { ctx in
            let x = try ctx.tensor(0)
            guard let starts = try ctx.ints("starts"), let ends = try ctx.ints("ends") else {
                throw ctx.error("attributes 'starts' and 'ends' are required")
            }
            return KernelContext.one(try slice(x, starts: starts, ends: ends, axes: ctx.ints("axes"), steps: nil, ctx))
        }
        r.register("Slice", since: 10) { ctx in
            let x = try ctx.tensor(0)
            guard let starts = try ctx.integers(1), let ends = try ctx.integers(2) else {
                throw ctx.error("inputs 'starts' and 'ends' are required")
            }
            return KernelContext.one(try slice(x, starts: starts, ends: ends, axes: ctx.integers(3), steps: ctx.integers(4), ctx))
        }
        r.register("Gather", since: 1) { ctx in
            let (x, ind) = (try ctx.tensor(0), try ctx.tensor(1))
            let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
            let n = x.shape[axis]
            let indices = try ind.int64s.map { i -> Int in
                let j = i < 0 ? Int(i) + n : Int(i)
                guard j >= 0 && j < n else { throw ctx.error("index \(i) is out of range for axis \(axis) of size \(n)") }
                return j
            }
            let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
            var src: [Int] = []
            src.reserveCapacity(outer * indices.count * inner)
            for o in 0..<outer {
                for j in indices {
                    let base = (o * n + j) * inner
                    for k in 0..<inner { src.append(base + k) }
                }
            }
            let shape = Array(x.shape[..<axis]) + ind.shape + Array(x.shape[(axis + 1)...])
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        r.register("GatherElements", since: 11) { ctx in
            let (x, ind) = (try ctx.tensor(0), try ctx.tensor(1))
            let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
            guard ind.rank == x.rank else { throw ctx.error("indices must have the data's rank \(x.rank)") }
            let strides = rowMajorStrides(x.shape)
            let n = x.shape[axis]
            let values = ind.int64s
            var src = [Int](repeating: 0, count: ind.count)
            var failure: Int64?
            forEachMultiIndex(ind.shape) { linear, idx in
                var i = Int(values[linear])
                if i < 0 { i += n }
                if i < 0 || i >= n { failure = values[linear]; return }
                var off = 0
                for d in 0..<idx.count { off += (d == axis ? i : idx[d]) * strides[d] }
                src[linear] = off
            }
            if let failure { throw ctx.error("index \(failure) is out of range for axis \(axis) of size \(n)") }
            return KernelContext.one(TensorValue(shape: ind.shape, storage: x.storage.gathering(src)))
        }
        r.register("Tile", since: 6) { ctx in
            let x = try ctx.tensor(0)
            guard let repeats = try ctx.integers(1), repeats.count == x.rank, repeats.allSatisfy({ $0 >= 0 }) else {
                throw ctx.error("repeats must hold one non-negative count per axis (rank \(x.rank))")
            }
            let out = zip(x.shape, repeats).map { $0 * $1 }
            let strides = rowMajorStrides(x.shape)
            var src: [Int] = []
            src.reserveCapacity(shapeCount(out))
            forEachMultiIndex(out) { _, idx in
                var off = 0
                for d in 0..<idx.count { off += (idx[d] % x.shape[d]) * strides[d] }
                src.append(off)
            }
            return KernelContext.one(TensorValue(shape: out, storage: x.storage.gathering(src)))
        }
        // ReverseSequence: for batch b, the first sequence_lens[b] steps along time_axis reversed.
        r.register("ReverseSequence", since: 10) { ctx in
            let x = try ctx.tensor(0)
            guard let lens = try ctx.integers(1) else { throw ctx.error("sequence_lens is required") }
            let batchAxis = try ctx.axis(ctx.int("batch_axis", default: 1), rank: x.rank, name: "batch_axis")
            let timeAxis = try ctx.axis(ctx.int("time_axis", default: 0), rank: x.rank, name: "time_axis")
            guard batchAxis != timeAxis, lens.count == x.shape[batchAxis] else {
                throw ctx.error("sequence_lens must have \(x.shape[batchAxis]) elements and the axes must differ")
            }
            let strides = rowMajorStrides(x.shape)
            var src = [Int](repeating: 0, count: x.count)
            var bad: Int?
            forEachMultiIndex(x.shape) { linear, idx in
                let len = lens[idx[batchAxis]], t = idx[timeAxis]
                if len < 0 || len > x.shape[timeAxis] { bad = len; return }
                src[linear] = linear + (t < len ? (len - 1 - 2 * t) * strides[timeAxis] : 0)
            }
            if let bad { throw ctx.error("sequence length \(bad) is out of range") }
            return KernelContext.one(TensorValue(shape: x.shape, storage: x.storage.gathering(src)))
        }
        // CenterCropPad: each axis in `axes` cropped or zero-padded to `shape`, centred (offset
        // `|in - out| / 2`, rounded down).
        r.register("CenterCropPad", since: 18) { ctx in
            let x = try ctx.tensor(0)
            guard let target = try ctx.integers(1) else { throw ctx.error("shape is required") }
            let axes = try (ctx.ints("axes") ?? Array(0..<x.rank)).map { try ctx.axis($0, rank: x.rank, name: "axes") }
            guard target.count == axes.count else { throw ctx.error("shape must have \(axes.count) elements") }
            var shape = x.shape, shift = [Int](repeating: 0, count: x.rank)
            for (i, a) in axes.enumerated() {
                shape[a] = target[i]
                shift[a] = target[i] < x.shape[a] ? (x.shape[a] - target[i]) / 2 : -((target[i] - x.shape[a]) / 2)
            }
            let strides = rowMajorStrides(x.shape)
            var src = [Int](repeating: -1, count: shapeCount(shape))
            forEachMultiIndex(shape) { linear, idx in
                var off = 0
                for d in 0..<idx.count {
                    let s = idx[d] + shift[d]
                    if s < 0 || s >= x.shape[d] { return }
                    off += s * strides[d]
                }
                src[linear] = off
            }
            return KernelContext.one(TensorValue(shape: shape, storage: x.storage.gathering(src)))
        }
        r.register("Pad", since: 2) { ctx in
            let x = try ctx.tensor(0)
            guard let pads = try ctx.ints("pads") else { throw ctx.error("attribute 'pads' is required") }
            let value = try castTensor(.scalar(Double(try ctx.float("value", default: 0))), to: x.dataType)
            return KernelContext.one(try pad(x, pads: pads, axes: nil, mode: ctx.string("mode", default: "constant"), value: value, ctx))
        }
        r.register("Pad", since: 11) { ctx in
            let x = try ctx.tensor(0)
            guard let pads = try ctx.integers(1) else { throw ctx.error("input 'pads' is required") }
            let value = try ctx.optionalTensor(2)
            if let value, value.dataType != x.dataType { throw ctx.error("constant_value must have the input's type") }
            return KernelContext.one(try pad(x, pads: pads, axes: ctx.integers(3), mode: ctx.string("mode", default: "constant"),
                                             value: value, ctx))
        }
    }

    /// `x` with its axes permuted: a strided copy (collapsed axes, rows in parallel), no index list.
    static func transpose(_ x: TensorValue, _ perm: [Int], threads: Int = 1) -> TensorValue {
        let strides = rowMajorStrides(x.shape)
        let outShape = perm.map { x.shape[$0] }
        let outStrides = perm.map { strides[$0] }
        return TensorValue(shape: outShape, storage: x.storage.visit(StridedCopy(shape: outShape, strides: outStrides, threads: threads)))
    }

    static func concat(_ ts: [TensorValue], axis: Int) throws -> TensorValue {
        let first = ts[0]
        let outer = first.shape[..<axis].reduce(1, *), inner = first.shape[(axis + 1)...].reduce(1, *)
        var bases: [Int] = []
        var total = 0
        for t in ts { bases.append(total); total += t.count }
        var src: [Int] = []
        src.reserveCapacity(total)
        for o in 0..<outer {
            for (t, base) in zip(ts, bases) {
                let chunk = t.shape[axis] * inner
                let start = base + o * chunk
                for k in 0..<chunk { src.append(start + k) }
            }
        }
        let all = try TensorStorage.concatenating(ts.map(\.storage), type: first.dataType)
        var shape = first.shape
        shape[axis] = ts.reduce(0) { $0 + $1.shape[axis] }
        return TensorValue(shape: shape, storage: all.gathering(src))
    }

    static func split(_ ctx: KernelContext, sizes given: [Int]?) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
        let n = x.shape[axis]
        var sizes: [Int]
        if let given, !given.isEmpty {
            sizes = given
        } else {
            let parts = ctx.node.attribute("num_outputs") != nil ? try ctx.int("num_outputs") : ctx.outputCount
            guard parts > 0 else { throw ctx.error("cannot split into \(parts) parts") }
            let chunk = (n + parts - 1) / parts
            sizes = (0..<parts).map { i in max(0, min(chunk, n - i * chunk)) }
        }
        guard sizes.reduce(0, +) == n, sizes.allSatisfy({ $0 >= 0 }) else {
            throw ctx.error("split sizes \(sizes) do not add up to \(n), the size of axis \(axis)")
        }
        var start = 0
        var out: [RuntimeValue?] = []
        for s in sizes {
            out.append(.tensor(try slice(x, starts: [start], ends: [start + s], axes: [axis], steps: nil, ctx)))
            start += s
        }
        return out
    }

    /// numpy slicing along `axes`: starts and ends clamp, negative values count from the end,
    /// negative steps walk backwards.
    static func slice(_ x: TensorValue, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?,
                      _ ctx: KernelContext) throws -> TensorValue {
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ctx.error("starts, ends, axes and steps must have the same length")
        }
        var begin = [Int](repeating: 0, count: x.rank)
        var step = [Int](repeating: 1, count: x.rank)
        var shape = x.shape
        for (k, rawAxis) in axes.enumerated() {
            let a = try ctx.axis(rawAxis, rank: x.rank)
            let d = x.shape[a], s = steps[k]
            guard s != 0 else { throw ctx.error("steps must not be 0") }
            var b = starts[k], e = ends[k]
            if b < 0 { b += d }
            if e < 0 { e += d }
            if s > 0 {
                b = min(max(b, 0), d); e = min(max(e, 0), d)
                shape[a] = e > b ? (e - b + s - 1) / s : 0
            } else {
                b = min(max(b, -1), d - 1); e = min(max(e, -1), d - 1)
                shape[a] = b > e ? (b - e - s - 1) / (-s) : 0
            }
            begin[a] = b
            step[a] = s
        }
        let strides = rowMajorStrides(x.shape)
        var base = 0
        for d in 0..<x.rank where shape[d] > 0 { base += begin[d] * strides[d] }
        let walk = (0..<x.rank).map { step[$0] * strides[$0] }
        var src: [Int] = []
        src.reserveCapacity(shapeCount(shape))
        Broadcast.forEachIndex(shape, { _, o in src.append(base + o) }, offsets: walk)
        return TensorValue(shape: shape, storage: x.storage.gathering(src))
    }

    static func pad(_ x: TensorValue, pads: [Int], axes: [Int]?, mode: String, value: TensorValue?,
                    _ ctx: KernelContext) throws -> TensorValue {
        let axes = try (axes ?? Array(0..<x.rank)).map { try ctx.axis($0, rank: x.rank) }
        guard pads.count == 2 * axes.count else { throw ctx.error("pads must hold 2 values per padded axis") }
        var before = [Int](repeating: 0, count: x.rank), after = before
        for (k, a) in axes.enumerated() { before[a] = pads[k]; after[a] = pads[k + axes.count] }
        let out = (0..<x.rank).map { x.shape[$0] + before[$0] + after[$0] }
        guard out.allSatisfy({ $0 >= 0 }) else { throw ctx.error("pads \(pads) remove more than the input holds") }
        guard ["constant", "reflect", "edge", "wrap"].contains(mode) else { throw ctx.unsupported("mode '\(mode)' is not supported") }
        if mode != "constant" && x.count == 0 && shapeCount(out) > 0 {
            throw ctx.error("mode '\(mode)' cannot pad an empty tensor")
        }
        let strides = rowMajorStrides(x.shape)
        var src: [Int] = []
        src.reserveCapacity(shapeCount(out))
        forEachMultiIndex(out) { _, idx in
            var off = 0
            for d in 0..<idx.count {
                let n = x.shape[d]
                var i = idx[d] - before[d]
                if i < 0 || i >= n {
                    switch mode {
                    case "edge": i = min(max(i, 0), n - 1)
                    case "wrap": i = ((i % n) + n) % n
                    case "reflect":
                        if n == 1 { i = 0 } else {
                            let period = 2 * (n - 1)
                            i = ((i % period) + period) % period
                            if i >= n { i = period - i }
                        }
                    default: off = -1
                    }
                }
                if off < 0 { break }
                off += i * strides[d]
            }
            src.append(off)
        }
        return TensorValue(shape: out, storage: x.storage.gathering(src, fill: value?.storage))
    }
}

/// Calls `body(linear, index)` for every multi-index of `shape` in row-major order.
func forEachMultiIndex(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
    let n = shapeCount(shape)
    guard n > 0 else { return }
    var idx = [Int](repeating: 0, count: shape.count)
    for linear in 0..<n {
        body(linear, idx)
        var d = shape.count - 1
        while d >= 0 {
            idx[d] += 1
            if idx[d] < shape[d] { break }
            idx[d] = 0
            d -= 1
        }
    }
}

/// Copies the elements of a tensor read with `strides` (in elements, one per axis of `shape`) into
/// row-major order. Axes are collapsed where the source is contiguous across them, so the inner
/// loop is as long as possible; rows run in parallel.
struct StridedCopy: ElementVisitor {
    let shape: [Int], strides: [Int], threads: Int

    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> TensorStorage {
        var dims: [(size: Int, stride: Int)] = []
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if let last = dims.last, strides[i] == last.stride * last.size {
                dims[dims.count - 1] = (last.size * shape[i], last.stride)
            } else {
                dims.append((shape[i], strides[i]))
            }
        }
        let n = shapeCount(shape)
        let inner = dims.first?.size ?? 1, innerStride = dims.first?.stride ?? 0
        let outer = Array(dims.dropFirst().reversed())
        let rows = inner == 0 ? 0 : n / inner
        let out = ContiguousArray<T>(unsafeUninitializedCapacity: n) { out, count in
            e.withUnsafeBufferPointer { src in
                let po = out.baseAddress, ps = src.baseAddress
                parallelChunks(rows, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(inner, 1))) { range in
                    for row in range {
                        var r = row, offset = 0
                        for d in outer.indices.reversed() {
                            let q = r / outer[d].size
                            offset += (r - q * outer[d].size) * outer[d].stride
                            r = q
                        }
                        let dst = po! + row * inner, s = ps! + offset
                        if innerStride == 1 {
                            for j in 0..<inner { (dst + j).initialize(to: s[j]) }
                        } else {
                            for j in 0..<inner { (dst + j).initialize(to: s[j * innerStride]) }
                        }
                    }
                }
            }
            count = n
        }
        return T.wrap(out)
    }
}
