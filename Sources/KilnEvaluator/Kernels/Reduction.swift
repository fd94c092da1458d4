import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// All Reduce* operators through one reducer (after tract `ops/nn/reduce.rs`), plus ArgMax/ArgMin.
///
/// Versions: axes are an attribute until ReduceSum-13 and the others' opset 18, an optional input
/// from then on (with `noop_with_empty_axes`); each form is its own registration.
/// Floating-point types accumulate in Double; integer types in Int64 (wrapping) for sum, product,
/// min, max, L1 and sum of squares, in Double for the others; the result is converted back to the
/// input type.
enum ReductionKernels {
    enum Kind: Sendable {
        case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare
    }

    static let operators: [(String, Kind, inputSince: Int)] = [
        ("ReduceSum", .sum, 13), ("ReduceMean", .mean, 18), ("ReduceMax", .max, 18), ("ReduceMin", .min, 18),
        ("ReduceProd", .prod, 18), ("ReduceL1", .l1, 18), ("ReduceL2", .l2, 18), ("ReduceLogSum", .logSum, 18),
        ("ReduceLogSumExp", .logSumExp, 18), ("ReduceSumSquare", .sumSquare, 18),
    ]

    static func register(into r: inout KernelRegistry) {
        for (op, kind, inputSince) in operators {
            r.register(op, since: 1) { ctx in
                let x = try ctx.tensor(0)
                let axes = try ctx.ints("axes") ?? []
                return KernelContext.one(try reduce(x, kind: kind, axes: axes, keepDims: ctx.int("keepdims", default: 1) != 0,
                                                    noopWithEmptyAxes: false, ctx))
            }
            r.register(op, since: inputSince) { ctx in
                let x = try ctx.tensor(0)
                let axes = try ctx.integers(1) ?? []
                return KernelContext.one(try reduce(x, kind: kind, axes: axes, keepDims: ctx.int("keepdims", default: 1) != 0,
                                                    noopWithEmptyAxes: ctx.int("noop_with_empty_axes", default: 0) != 0, ctx))
            }
        }
        r.register("ArgMax", since: 1, argExtreme(max: true))
        r.register("ArgMin", since: 1, argExtreme(max: false))
    }

    static func reduce(_ x: TensorValue, kind: Kind, axes: [Int], keepDims: Bool, noopWithEmptyAxes: Bool,
                       _ ctx: KernelContext) throws -> TensorValue {
        if axes.isEmpty && noopWithEmptyAxes { return x }
        if x.dataType == .bool && (kind == .max || kind == .min) {
            let r = try reduce(castTensor(x, to: .uint8), kind: kind, axes: axes, keepDims: keepDims, noopWithEmptyAxes: false, ctx)
            return try castTensor(r, to: .bool)
        }
        var reduced = [Bool](repeating: axes.isEmpty, count: x.rank)
        for a in axes { reduced[try ctx.axis(a, rank: x.rank, name: "axis")] = true }
        var outShape: [Int] = [], keptShape: [Int] = []
        for (i, d) in x.shape.enumerated() {
            keptShape.append(reduced[i] ? 1 : d)
            if !reduced[i] || keepDims { outShape.append(reduced[i] ? 1 : d) }
        }
        // float32 over trailing axes (LayerNorm's statistics): contiguous rows, rows in parallel.
        if let xs = x.elements(as: Float.self), [.sum, .mean, .sumSquare, .l1, .l2].contains(kind),
           let first = reduced.firstIndex(of: true), reduced[first...].allSatisfy({ $0 }) {
            let n = x.shape[first...].reduce(1, *), rows = x.shape[..<first].reduce(1, *)
            return TensorValue(shape: outShape, elements: floatRows(xs, rows: rows, n: n, kind: kind, threads: ctx.threads))
        }
        // Offset in the output of each input element: output strides with 0 on reduced axes.
        let keptStrides = rowMajorStrides(keptShape)
        let strides = (0..<x.rank).map { reduced[$0] ? 0 : keptStrides[$0] }
        let outCount = shapeCount(keptShape)
        let groupSize = outCount == 0 ? 0 : x.count / max(outCount, 1)
        let plan = ReducePlan(shape: x.shape, strides: strides, outCount: outCount, groupSize: groupSize, kind: kind)
        let storage = try dispatchNumeric(x.dataType, ctx.node.opType, ReduceVisitor(x: x, plan: plan))
        return TensorValue(shape: outShape, storage: storage)
    }

    /// Sum-like reductions of contiguous float32 rows of `n`, accumulated in Double.
    static func floatRows(_ xs: ContiguousArray<Float>, rows: Int, n: Int, kind: Kind, threads: Int) -> ContiguousArray<Float> {
        ContiguousArray(unsafeUninitializedCapacity: rows) { out, count in
            count = rows
            let po = out.baseAddress
            xs.withUnsafeBufferPointer { px in
                parallelChunks(rows, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(n, 1))) { range in
                    for r in range {
                        let src = px.baseAddress! + r * n
                        var acc = 0.0
                        switch kind {
                        case .sumSquare, .l2: for k in 0..<n { let v = Double(src[k]); acc += v * v }
                        case .l1: for k in 0..<n { acc += Double(Swift.abs(src[k])) }
                        default: for k in 0..<n { acc += Double(src[k]) }
                        }
                        switch kind {
                        case .mean: acc /= Double(n)
                        case .l2: acc = acc.squareRoot()
                        default: break
                        }
                        po![r] = Float(acc)
                    }
                }
            }
        }
    }

    static func argExtreme(max: Bool) -> Kernel {
        { ctx in
            let x = try ctx.tensor(0)
            let axis = try ctx.axis(ctx.int("axis", default: 0), rank: x.rank)
            let keepDims = try ctx.int("keepdims", default: 1) != 0
            let last = try ctx.int("select_last_index", default: 0) != 0
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            guard n > 0 else { throw ctx.error("cannot take \(ctx.node.opType) over an empty axis") }
            let result = try dispatchNumeric(x.dataType, ctx.node.opType,
                                             ArgVisitor(x: x, outer: outer, n: n, inner: inner, max: max, last: last))
            var shape = x.shape
            if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) }
            return KernelContext.one(TensorValue(shape: shape, elements: result))
        }
    }
}

struct ReducePlan {
    let shape: [Int], strides: [Int], outCount: Int, groupSize: Int, kind: ReductionKernels.Kind
}

private struct ReduceVisitor: NumericTypeVisitor {
    let x: TensorValue
    let plan: ReducePlan

    func visit<T: NumericElement>(_ type: T.Type) -> TensorStorage {
        let e = x.elements(as: T.self)!
        let kind = plan.kind
        let integerPath = !T.isFloatingPoint && [.sum, .prod, .max, .min, .l1, .sumSquare, .mean].contains(kind)
        if integerPath {
            var acc = [Int64](repeating: kind == .prod ? 1 : (kind == .max ? Int64.min : (kind == .min ? Int64.max : 0)),
                              count: plan.outCount)
            e.withUnsafeBufferPointer { p in
                Broadcast.forEachIndex(plan.shape, { i, o in
                    let v = p[i].int64Value
                    switch kind {
                    case .sum, .mean: acc[o] &+= v
                    case .prod: acc[o] &*= v
                    case .max: if v > acc[o] { acc[o] = v }
                    case .min: if v < acc[o] { acc[o] = v }
                    case .l1: acc[o] &+= Swift.abs(v)
                    default: acc[o] &+= v &* v
                    }
                }, offsets: plan.strides)
            }
            if kind == .mean && plan.groupSize > 0 { acc = acc.map { $0 / Int64(plan.groupSize) } }
            return T.wrap(ContiguousArray(acc.map { T(int64: $0) }))
        }
        var peak = [Double](repeating: -.infinity, count: plan.outCount)
        if kind == .logSumExp {
            e.withUnsafeBufferPointer { p in
                Broadcast.forEachIndex(plan.shape, { i, o in peak[o] = Swift.max(peak[o], p[i].doubleValue) }, offsets: plan.strides)
            }
            peak = peak.map { $0.isFinite ? $0 : 0 }
        }
        let initial: Double = kind == .prod ? 1 : (kind == .max ? -.infinity : (kind == .min ? .infinity : 0))
        var acc = [Double](repeating: initial, count: plan.outCount)
        e.withUnsafeBufferPointer { p in
            Broadcast.forEachIndex(plan.shape, { i, o in
                let v = p[i].doubleValue
                switch kind {
                case .sum, .mean, .logSum: acc[o] += v
                case .prod: acc[o] *= v
                case .max: if v > acc[o] || v.isNaN { acc[o] = v }
                case .min: if v < acc[o] || v.isNaN { acc[o] = v }
                case .l1: acc[o] += Swift.abs(v)
                case .l2, .sumSquare: acc[o] += v * v
                case .logSumExp: acc[o] += exp(v - peak[o])
                }
            }, offsets: plan.strides)
        }
        let n = Double(plan.groupSize)
        let out: [Double]
        switch kind {
        case .mean: out = acc.map { $0 / n }
        case .l2: out = acc.map { $0.squareRoot() }
        case .logSum: out = acc.map { log($0) }
        case .logSumExp: out = zip(acc, peak).map { log($0) + $1 }
        default: out = acc
        }
        return T.wrap(ContiguousArray(out.map { T(double: $0) }))
    }
}

private struct ArgVisitor: NumericTypeVisitor {
    let x: TensorValue, outer: Int, n: Int, inner: Int, max: Bool, last: Bool
    func visit<T: NumericElement>(_ type: T.Type) -> ContiguousArray<Int64> {
        let e = x.elements(as: T.self)!
        var out = ContiguousArray<Int64>()
        out.reserveCapacity(outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var best = e[base], bestIndex = 0
                for k in 1..<n {
                    let v = e[base + k * inner]
                    if best.isNaN { break }
                    let better = v.isNaN || (max ? (last ? v >= best : v > best) : (last ? v <= best : v < best))
                    if better { best = v; bestIndex = k }
                }
                out.append(Int64(bestIndex))
            }
        }
        return out
    }
}
