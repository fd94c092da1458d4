import KilnIR

/// Indexing and shape queries: Shape, Size, Gather, GatherElements, GatherND, Slice, Scatter*,
/// TopK, OneHot, NonZero, Compress.
///
/// Cases:
/// 1. Shape: int64 [rank] (from opset 15 the slice [start, end)); its elements are the input's dims,
///    symbols included (the start of every data-propagation chain). Size: int64 scalar, the product.
/// 2. Gather: data dims before `axis`, then the indices dims, then data dims after `axis`; with
///    known 1-D data elements and constant indices the elements propagate.
/// 3. Slice: per sliced axis with constant starts/ends/steps (attributes before 10, inputs from 10),
///    clamped as numpy does; a non-constant dim stays itself for the full slice [0, INT_MAX) with
///    step 1, and is unknown otherwise. 1-D elements propagate.
/// 4. GatherElements: indices' shape. Scatter*: data's shape. TopK: dim `axis` becomes k.
/// 5. OneHot: indices' dims with `depth` inserted at `axis`; NonZero: [rank, ?]; Compress: unknown count.
/// 6. Unique: unknown count along `axis` (or flattened); inverse_indices has the input's count.
///    NonMaxSuppression: int64 [?, 3]. TensorScatter: past_cache's type. ImageDecoder: uint8
///    [?, ?, ?]. StringSplit: the input's dims plus one unknown (substrings), the input's (length).
enum IndexingRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("Shape") { ctx in try shape(&ctx, start: 0, end: nil) }
        r.register("Shape", since: 15) { ctx in
            try shape(&ctx, start: try ctx.node.int("start", default: 0), end: try ctx.node.attribute("end").map { _ in try ctx.node.int("end") })
        }
        r.register("Size") { ctx in
            ctx.setOutput(0, .int64, [])
            if let x = ctx.dims(0) { ctx.setValues(0, [x.product]) }
        }
        r.register("Gather") { ctx in try gather(&ctx) }
        r.register("GatherElements", since: 11) { ctx in ctx.setOutput(0, ctx.elementType(0), ctx.dims(1)) }
        r.register(["ScatterND", "ScatterElements", "Scatter"]) { ctx in ctx.passThrough() }
        r.register("GatherND", since: 11) { ctx in
            let type = ctx.elementType(0)
            guard let data = ctx.dims(0), let idx = ctx.dims(1), let last = idx.last?.constantValue else {
                return ctx.setOutput(0, type, nil)
            }
            let b = Int(try ctx.node.int("batch_dims", default: 0))
            let tail = b + Int(last)
            guard tail <= data.count else { throw ctx.error("indices last dimension \(last) too large for data rank \(data.count)") }
            ctx.setOutput(0, type, Array(idx.dropLast()) + Array(data[tail...]))
        }
        r.register("Slice") { ctx in
            let starts = try ctx.node.ints("starts"), ends = try ctx.node.ints("ends")
            try slice(&ctx, starts: starts, ends: ends, axes: try ctx.intsAttribute("axes"), steps: nil)
        }
        r.register("Slice", since: 10) { ctx in
            let type = ctx.elementType(0)
            guard let starts = ctx.constantValues(1), let ends = ctx.constantValues(2) else {
                return ctx.setOutput(0, type, try slicedAxesUnknown(&ctx))
            }
            var axes: [Int64]? = nil, steps: [Int64]? = nil
            if ctx.hasInput(3) {
                guard let a = ctx.constantValues(3) else {
                    return ctx.setOutput(0, type, ctx.rank(0).map { Array(repeating: .unknown, count: $0) })
                }
                axes = a
            }
            if ctx.hasInput(4) {
                guard let s = ctx.constantValues(4) else {
                    return ctx.setOutput(0, type, ctx.rank(0).map { Array(repeating: .unknown, count: $0) })
                }
                steps = s
            }
            try slice(&ctx, starts: starts, ends: ends, axes: axes, steps: steps)
        }
        r.register("TopK") { ctx in try topK(&ctx, k: .constant(try ctx.node.int("k"))) }
        r.register("TopK", since: 10) { ctx in try topK(&ctx, k: ctx.values(1)?.first ?? .unknown) }
        r.register("OneHot", since: 9) { ctx in
            let type = ctx.elementType(2)
            guard let idx = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            let depth: SymDim
            if let t = ctx.tensor(1), let v = t.doubleValues(limit: 1)?.first { depth = .constant(Int64(v)) }
            else { depth = ctx.values(1)?.first ?? .unknown }
            var out = idx
            let axis = try ctx.axis(try ctx.node.int("axis", default: -1), rank: idx.count + 1)
            out.insert(depth, at: axis)
            ctx.setOutput(0, type, out)
        }
        r.register("TensorScatter", since: 24) { ctx in ctx.passThrough() }
        r.register("ImageDecoder", since: 20) { ctx in ctx.setOutput(0, .uint8, [.unknown, .unknown, .unknown]) }
        r.register("StringSplit", since: 20) { ctx in
            ctx.setOutput(0, .string, ctx.dims(0).map { $0 + [.unknown] })
            ctx.setOutput(1, .int64, ctx.dims(0))
        }
        r.register("NonMaxSuppression", since: 10) { ctx in ctx.setOutput(0, .int64, [.unknown, .constant(3)]) }
        r.register("Unique", since: 11) { ctx in
            let type = ctx.elementType(0)
            if let axis = try ctx.node.attribute("axis").map({ _ in try ctx.node.int("axis") }) {
                guard var x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
                let a = try ctx.axis(axis, rank: x.count)
                let n = x[a]
                x[a] = .unknown
                ctx.setOutput(0, type, x)
                if ctx.hasOutput(2) { ctx.setOutput(2, .int64, [n]) }
            } else {
                ctx.setOutput(0, type, [.unknown])
                if ctx.hasOutput(2) { ctx.setOutput(2, .int64, [ctx.dims(0)?.product ?? .unknown]) }
            }
            for k in [1, 3] where ctx.hasOutput(k) { ctx.setOutput(k, .int64, [.unknown]) }
        }
        r.register("NonZero", since: 9) { ctx in
            ctx.setOutput(0, .int64, ctx.rank(0).map { [.constant(Int64($0)), .unknown] })
        }
        r.register("Compress", since: 9) { ctx in
            let type = ctx.elementType(0)
            guard let axis = try ctx.node.attribute("axis").map({ _ in try ctx.node.int("axis") }) else {
                return ctx.setOutput(0, type, [.unknown])
            }
            guard var x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
            x[try ctx.axis(axis, rank: x.count)] = .unknown
            ctx.setOutput(0, type, x)
        }
    }

    static func shape(_ ctx: inout NodeContext, start: Int64, end: Int64?) throws {
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, .int64, [.unknown]) }
        let r = Int64(x.count)
        func clamp(_ v: Int64) -> Int { Int(min(max(v < 0 ? v + r : v, 0), r)) }
        let s = clamp(start), e = clamp(end ?? r)
        let dims = s < e ? Array(x[s..<e]) : []
        ctx.setOutput(0, .int64, [.constant(Int64(dims.count))])
        ctx.setValues(0, dims)
    }

    static func gather(_ ctx: inout NodeContext) throws {
        let type = ctx.elementType(0)
        guard let data = ctx.dims(0), let idx = ctx.dims(1) else { return ctx.setOutput(0, type, nil) }
        let axis = try ctx.axis(try ctx.node.int("axis", default: 0), rank: data.count)
        ctx.setOutput(0, type, Array(data[..<axis]) + idx + Array(data[(axis + 1)...]))
        if data.count == 1, let values = ctx.values(0), let indices = ctx.constantValues(1) {
            let n = Int64(values.count)
            var out: [SymDim] = []
            for i in indices {
                let k = i < 0 ? i + n : i
                guard k >= 0 && k < n else { throw ctx.error("index \(i) out of range for \(n) elements") }
                out.append(values[Int(k)])
            }
            ctx.setValues(0, out)
        }
    }

    /// Slice with starts or ends not known: only the sliced axes become unknown; the others keep the
    /// input's dims (axes from the constant `axes` input, else the first `len(starts)` axes).
    static func slicedAxesUnknown(_ ctx: inout NodeContext) throws -> [SymDim]? {
        guard let x = ctx.dims(0) else { return nil }
        let unknown = Array(repeating: SymDim.unknown, count: x.count)
        let axes: [Int64]
        if ctx.hasInput(3) {
            guard let a = ctx.constantValues(3) else { return unknown }
            axes = a
        } else {
            guard let n = ctx.values(1)?.count ?? ctx.values(2)?.count ?? ctx.dims(1)?.first?.constantValue.map(Int.init)
            else { return unknown }
            axes = (0..<Int64(n)).map { $0 }
        }
        var out = x
        for a in axes { out[try ctx.axis(a, rank: x.count)] = .unknown }
        return out
    }

    static func slice(_ ctx: inout NodeContext, starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?) throws {
        let type = ctx.elementType(0)
        guard let x = ctx.dims(0) else { return ctx.setOutput(0, type, nil) }
        let axes = axes ?? (0..<Int64(starts.count)).map { $0 }
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ctx.error("starts, ends, axes and steps have different lengths")
        }
        var out = x
        var ranges: [Int: (Int64, Int64, Int64)] = [:]
        for k in starts.indices {
            let a = try ctx.axis(axes[k], rank: x.count)
            let step = steps[k]
            guard step != 0 else { throw ctx.error("step must not be 0") }
            guard let n = x[a].constantValue else {
                out[a] = (starts[k] == 0 && ends[k] >= Int64(Int32.max) && step == 1) ? x[a] : .unknown
                continue
            }
            var s = starts[k] < 0 ? starts[k] + n : starts[k]
            var e = ends[k] < 0 ? ends[k] + n : ends[k]
            if step > 0 {
                s = min(max(s, 0), n); e = min(max(e, 0), n)
                out[a] = .constant(e > s ? (e - s + step - 1) / step : 0)
            } else {
                s = min(max(s, -1), n - 1); e = min(max(e, -1), n - 1)
                out[a] = .constant(s > e ? (s - e - step - 1) / (-step) : 0)
            }
            ranges[a] = (s, e, step)
        }
        ctx.setOutput(0, type, out)
        if x.count == 1, let values = ctx.values(0), let (s, e, step) = ranges[0] {
            var picked: [SymDim] = []
            var i = s
            while step > 0 ? i < e : i > e { picked.append(values[Int(i)]); i += step }
            ctx.setValues(0, picked)
        } else if x.count == 1, ranges.isEmpty, let values = ctx.values(0), out[0] == x[0] {
            ctx.setValues(0, values)
        }
    }

    static func topK(_ ctx: inout NodeContext, k: SymDim) throws {
        guard var x = ctx.dims(0) else {
            ctx.setOutput(0, ctx.elementType(0), nil)
            return ctx.setOutput(1, .int64, nil)
        }
        x[try ctx.axis(try ctx.node.int("axis", default: -1), rank: x.count)] = k
        ctx.setOutput(0, ctx.elementType(0), x)
        ctx.setOutput(1, .int64, x)
    }
}
