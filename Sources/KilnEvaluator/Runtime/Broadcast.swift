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

    /// `f` applied elementwise to `a` and `b` broadcast to `outShape`.
    static func binary<A, B, R>(_ a: ContiguousArray<A>, _ aShape: [Int], _ b: ContiguousArray<B>, _ bShape: [Int],
                                outShape: [Int], _ f: (A, B) -> R) -> ContiguousArray<R> {
        let n = shapeCount(outShape)
        var out = ContiguousArray<R>()
        out.reserveCapacity(n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                if aShape == bShape {
                    for i in 0..<n { out.append(f(pa[i], pb[i])) }
                } else if pb.count == 1 && a.count == n {
                    let y = pb[0]
                    for i in 0..<n { out.append(f(pa[i], y)) }
                } else if pa.count == 1 && b.count == n {
                    let x = pa[0]
                    for i in 0..<n { out.append(f(x, pb[i])) }
                } else {
                    let sa = strides(of: aShape, in: outShape)
                    // Walk with a's offsets; b's offset is tracked by a second odometer.
                    let ib = sourceIndices(of: bShape, in: outShape)
                    forEachIndex(outShape, { linear, oa in out.append(f(pa[oa], pb[ib[linear]])) }, offsets: sa)
                }
            }
        }
        return out
    }
}
