import KilnIR

/// numpy broadcasting, written once for every kernel that broadcasts (binary ops, Where, Expand,
/// variadic Sum/Max/Min/Mean).
enum Broadcast {
    /// The broadcast shape of `shapes` (numpy rules: align right, 1 stretches), or nil when two
    /// dimensions differ and neither is 1.
    static func shape(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let offset = rank - s.count
            for (i, d) in s.enumerated() {
                let o = out[offset + i]
                if o == d || d == 1 { continue }
                if o == 1 { out[offset + i] = d } else { return nil }
            }
        }
        return out
    }

    /// Strides of `shape` seen from `outShape` (0 along broadcast dimensions), aligned right.
    static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
        let own = rowMajorStrides(shape)
        let offset = outShape.count - shape.count
        var out = [Int](repeating: 0, count: outShape.count)
        for i in 0..<shape.count where shape[i] != 1 { out[offset + i] = own[i] }
        return out
    }

    /// For each element of `outShape` (row-major), the index of the element of a tensor of
    /// `shape` broadcast to it.
    static func sourceIndices(of shape: [Int], in outShape: [Int]) -> [Int] {
        let n = shapeCount(outShape)
        if shape == outShape { return Array(0..<n) }
        let st = strides(of: shape, in: outShape)
        var out = [Int]()
        out.reserveCapacity(n)
        forEachIndex(outShape, { _, offset in out.append(offset) }, offsets: st)
        return out
    }

    /// Walks `shape` in row-major order, calling `body(linear, offset)` where `offset` is the sum
    /// of index * stride for `strides` (an odometer: no division per element).
    static func forEachIndex(_ shape: [Int], _ body: (Int, Int) -> Void, offsets strides: [Int]) {
        let rank = shape.count
        let n = shapeCount(shape)
        if n == 0 { return }
        if rank == 0 { body(0, 0); return }
        var index = [Int](repeating: 0, count: rank)
        var offset = 0
        let last = rank - 1
        let inner = shape[last], innerStride = strides[last]
        var linear = 0
        while linear < n {
            var o = offset
            for _ in 0..<inner {
                body(linear, o)
                linear += 1
                o += innerStride
            }
            // Carry into the outer dimensions.
            var d = last - 1
            while d >= 0 {
                index[d] += 1
                offset += strides[d]
                if index[d] < shape[d] { break }
                offset -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
    }

    /// `f` applied elementwise to `a` and `b` broadcast to `outShape`, split across `threads`
    /// for large outputs.
    ///
    /// The shapes are first collapsed (`BinaryLayout`): size-1 axes dropped, neighbouring axes
    /// merged where both operands are contiguous (or both broadcast) across them. What is left is
    /// rows of `inner` elements in which each operand advances by 1 or 0 (the common cases: same
    /// shape, a scalar, a bias row, a per-row statistic, a mask), so the inner loop is a plain
    /// strided loop the compiler vectorizes; the outer axes are walked per row, not per element.
    ///
    /// `f` as a closure is called indirectly per element; kernels on hot paths pass an
    /// `ElementwiseBinary` value instead, whose call the compiler inlines into the loop.
    static func binary<A, B, R>(_ a: ContiguousArray<A>, _ aShape: [Int], _ b: ContiguousArray<B>, _ bShape: [Int],
                                outShape: [Int], threads: Int = 1, _ f: (A, B) -> R) -> ContiguousArray<R> {
        withoutActuallyEscaping(f) { f in
            binary(a, aShape, b, bShape, outShape: outShape, threads: threads, function: ClosureBinary(f: f))
        }
    }

    static func binary<F: ElementwiseBinary>(_ a: ContiguousArray<F.A>, _ aShape: [Int], _ b: ContiguousArray<F.B>, _ bShape: [Int],
                                             outShape: [Int], threads: Int = 1, function f: F) -> ContiguousArray<F.R> {
        let n = shapeCount(outShape)
        let layout = BinaryLayout(aShape, bShape, outShape)
        return ContiguousArray(unsafeUninitializedCapacity: n) { out, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let po = out.baseAddress!, xa = pa.baseAddress!, xb = pb.baseAddress!
                    let inner = layout.inner, sa = layout.innerA, sb = layout.innerB
                    let rows = inner == 0 ? 0 : n / inner
                    let grain = Swift.max(1, elementGrain / Swift.max(inner, 1))
                    parallelChunks(rows, threads: threads, grain: grain) { range in
                        for row in range {
                            let (oa, ob) = layout.offsets(row: row)
                            let o = po + row * inner, x = xa + oa, y = xb + ob
                            if sa == 1 && sb == 1 {
                                for j in 0..<inner { (o + j).initialize(to: f(x[j], y[j])) }
                            } else if sa == 1 && sb == 0 {
                                let v = y[0]
                                for j in 0..<inner { (o + j).initialize(to: f(x[j], v)) }
                            } else if sa == 0 && sb == 1 {
                                let v = x[0]
                                for j in 0..<inner { (o + j).initialize(to: f(v, y[j])) }
                            } else {
                                for j in 0..<inner { (o + j).initialize(to: f(x[j * sa], y[j * sb])) }
                            }
                        }
                    }
                }
            }
            count = n
        }
    }
}

/// An elementwise function of two operands, as a type (so generic loops specialize and inline it).
protocol ElementwiseBinary {
    associatedtype A
    associatedtype B
    associatedtype R
    func callAsFunction(_ a: A, _ b: B) -> R
}

private struct ClosureBinary<A, B, R>: ElementwiseBinary {
    let f: (A, B) -> R
    @inline(__always) func callAsFunction(_ a: A, _ b: B) -> R { f(a, b) }
}

/// Two operands broadcast to an output shape, collapsed to the fewest axes: `outer` axes walked
/// per row (with each operand's stride, 0 when broadcast) and one `inner` axis.
struct BinaryLayout {
    var outer: [Int] = [], outerA: [Int] = [], outerB: [Int] = []
    var inner = 1, innerA = 0, innerB = 0

    init(_ aShape: [Int], _ bShape: [Int], _ outShape: [Int]) {
        let sa = Broadcast.strides(of: aShape, in: outShape), sb = Broadcast.strides(of: bShape, in: outShape)
        // Merge from the right: (d, strideA, strideB) triples.
        var dims: [(Int, Int, Int)] = []
        for i in stride(from: outShape.count - 1, through: 0, by: -1) where outShape[i] != 1 {
            let d = outShape[i]
            if let last = dims.last,
               sa[i] == last.1 * last.0 || (sa[i] == 0 && last.1 == 0),
               sb[i] == last.2 * last.0 || (sb[i] == 0 && last.2 == 0) {
                dims[dims.count - 1] = (last.0 * d, last.1 == 0 && sa[i] == 0 ? 0 : last.1,
                                        last.2 == 0 && sb[i] == 0 ? 0 : last.2)
            } else {
                dims.append((d, sa[i], sb[i]))
            }
        }
        guard let first = dims.first else { return }
        inner = first.0; innerA = first.1; innerB = first.2
        for (d, a, b) in dims.dropFirst().reversed() { outer.append(d); outerA.append(a); outerB.append(b) }
    }

    /// Element offsets of row `row` (row-major over the outer axes) in each operand.
    @inline(__always)
    func offsets(row: Int) -> (Int, Int) {
        var r = row, oa = 0, ob = 0
        var i = outer.count - 1
        while i >= 0 {
            let d = outer[i]
            let q = r / d, idx = r - q * d
            oa += idx * outerA[i]; ob += idx * outerB[i]
            r = q
            i -= 1
        }
        return (oa, ob)
    }
}
