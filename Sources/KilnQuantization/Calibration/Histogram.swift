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
    /// How many of the values counted (in bin 0) are exactly 0. Exact zeros are quantized exactly
    /// whatever the threshold, so the entropy and mse searches leave them out (`trimmed(zeros: false)`):
    /// after Relu they are often half the mass, and as one spike they would push both searches
    /// towards needlessly small thresholds.
    private(set) var zeros: Double = 0

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
        // The UInt32 counters below must not overflow: bin at most 2^31 elements per pass.
        if values.count > 1 << 31 {
            let half = values.count / 2
            add(UnsafeBufferPointer(rebasing: values[..<half]), limit: limit, clean: clean)
            add(UnsafeBufferPointer(rebasing: values[half...]), limit: limit, clean: clean)
            return
        }
        let last = counts.count - 1
        if width == 0 {
            // Only zeros so far (cover saw no non-zero magnitude): they all fall in bin 0.
            var found = 0
            for x in values where x == 0 { found += 1 }
            counts[0] += Double(found)
            return
        }
        // Counted into 4 interleaved UInt32 sub-histograms, folded into `counts` at the end: integer
        // increments, and consecutive elements in the same bin (the zeros after a Relu) do not form
        // one long read-modify-write dependency chain.
        let scale = 1 / width, bins = counts.count, ways = 4
        var local = [UInt32](repeating: 0, count: ways * bins)
        local.withUnsafeMutableBufferPointer { c in
            let base = c.baseAddress!
            if clean {
                var i = 0
                let count = values.count
                while i + ways <= count {
                    for lane in 0..<ways {
                        let b = Int(values[i &+ lane].magnitude * scale)
                        base[lane &* bins &+ (b < last ? b : last)] &+= 1
                    }
                    i &+= ways
                }
                while i < count {
                    let b = Int(values[i].magnitude * scale)
                    base[b < last ? b : last] &+= 1
                    i &+= 1
                }
            } else {
                for x in values {
                    let m = x.magnitude
                    guard m < limit else { continue }
                    let b = Int(m * scale)
                    base[b < last ? b : last] &+= 1
                }
            }
        }
        for lane in 0..<ways {
            for b in 0..<bins { counts[b] += Double(local[lane * bins + b]) }
        }
    }

    /// Records that `count` of the values added were exactly 0 (the caller counts them in its
    /// min/max pass, which is vectorized; the binning loop stays compare-free).
    mutating func noteZeros(_ count: Int) { zeros += Double(count) }

    /// Bins up to the last non-empty one (at least one bin); without the exact zeros when `zeros`
    /// is false.
    func trimmed(zeros keepZeros: Bool = true) -> (counts: [Double], width: Float) {
        var c = counts
        if !keepZeros { c[0] -= zeros }
        var end = c.count
        while end > 1, c[end - 1] == 0 { end -= 1 }
        return (Array(c[0..<end]), width)
    }
}
