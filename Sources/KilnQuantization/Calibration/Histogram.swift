import Dispatch

/// A histogram of |x| over `[0, width * counts.count)` with a fixed number of equal bins.
///
/// Streaming: when a new batch holds a magnitude beyond the covered range, the bin width doubles
/// (as often as needed) and adjacent bins merge pairwise, so re-binning is exact (no mass is spread
/// by assumption) and memory stays at `bins` counters however many samples arrive. The price is at
/// most a factor 2 in resolution against a histogram built over the final range in one go; the
/// methods work on `trimmed()`, which drops empty bins above the largest value.
struct Histogram: Sendable, Equatable {
    private(set) var counts: [Double]
    /// Bin width; 0 until a non-zero magnitude has been seen (all mass so far is exactly 0, in bin 0).
    private(set) var width: Float = 0
    /// Largest magnitude added.
    private(set) var maxMagnitude: Float = 0

    init(bins: Int) { counts = [Double](repeating: 0, count: Swift.max(1, bins)) }

    var total: Double { counts.reduce(0, +) }

    /// Makes the range cover `magnitude`: sets the width on the first non-zero batch, else doubles it.
    mutating func cover(_ magnitude: Float) {
        maxMagnitude = Swift.max(maxMagnitude, magnitude)
        guard magnitude > 0 else { return }
        let n = counts.count
        if width == 0 {
            width = magnitude / Float(n)
            // A width that rounds to 0 (subnormal magnitudes) cannot bin: use the smallest normal.
            if !(width > 0) { width = Float.leastNormalMagnitude }
            return
        }
        var doublings = 0, grown = width
        while grown * Float(n) < magnitude { grown *= 2; doublings += 1 }
        guard doublings > 0 else { return }
        var merged = [Double](repeating: 0, count: n)
        for i in 0..<n { merged[doublings >= Int.bitWidth - 1 ? 0 : i >> doublings] += counts[i] }
        counts = merged
        width = grown
    }

    /// `add` over up to `threads` chunks, each into its own counters, then summed (counts are
    /// integers held exactly in Double, so the order of summation does not matter).
    mutating func add(_ values: UnsafeBufferPointer<Float>, limit: Float, clean: Bool, threads: Int) {
        let chunks = Swift.min(threads, values.count / TensorStatistics.grain)
        guard chunks > 1, width > 0 else { return add(values, limit: limit, clean: clean) }
        let per = (values.count + chunks - 1) / chunks
        var partial = [Histogram](repeating: Histogram(empty: self), count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let box = UncheckedBox((values, out))
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let (v, o) = box.value
                let range = (c * per)..<Swift.min(v.count, (c + 1) * per)
                o[c].add(UnsafeBufferPointer(rebasing: v[range]), limit: limit, clean: clean)
            }
        }
        for p in partial { for i in counts.indices { counts[i] += p.counts[i] } }
    }

    /// An empty histogram with `other`'s bins and width.
    private init(empty other: Histogram) {
        counts = [Double](repeating: 0, count: other.counts.count)
        width = other.width
        maxMagnitude = other.maxMagnitude
    }

    /// Adds |x| of every element of `values` whose magnitude is below `limit` (NaN never is).
    /// `clean`: the caller knows every element qualifies, so the check is skipped.
    mutating func add(_ values: UnsafeBufferPointer<Float>, limit: Float, clean: Bool) {
        let n = counts.count
        let last = n - 1
        if width == 0 {
            // Only zeros so far (cover saw no non-zero magnitude): they all fall in bin 0.
            var zeros = 0
            for x in values where x == 0 { zeros += 1 }
            counts[0] += Double(zeros)
            return
        }
        let scale = 1 / width
        counts.withUnsafeMutableBufferPointer { c in
            if clean {
                for x in values {
                    let b = Int(x.magnitude * scale)
                    c[b < last ? b : last] += 1
                }
            } else {
                for x in values {
                    let m = x.magnitude
                    guard m < limit else { continue }
                    let b = Int(m * scale)
                    c[b < last ? b : last] += 1
                }
            }
        }
    }

    /// Bins up to the last non-empty one (at least one bin).
    func trimmed() -> (counts: [Double], width: Float) {
        var end = counts.count
        while end > 1, counts[end - 1] == 0 { end -= 1 }
        return (Array(counts[0..<end]), width)
    }
}
