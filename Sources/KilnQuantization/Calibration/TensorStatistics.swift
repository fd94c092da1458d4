import Dispatch
import KilnEvaluator

/// What calibration keeps about one tensor across samples: O(bins) memory, whatever the sample count.
///
/// Values with `|x| >= CalibrationOptions.maskMagnitude` or NaN/±Inf (attention-mask fills such as
/// float32's lowest value) are *excluded*: counted in `excluded`, kept out of `min`/`max` and the
/// histogram, but seen by `rawMin`/`rawMax` (the table's `observed`).
final class TensorStatistics {
    /// Extremes of the regular values.
    private(set) var min = Float.infinity, max = -Float.infinity
    /// Extremes of every non-NaN value, mask fills included.
    private(set) var rawMin = Float.infinity, rawMax = -Float.infinity
    private(set) var regular = 0
    private(set) var excluded = 0
    private(set) var histogram: Histogram?

    /// Threads for large tensors (split into contiguous chunks, partial results combined).
    let threads: Int

    init(bins: Int?, threads: Int = 1) {
        histogram = bins.map(Histogram.init(bins:))
        self.threads = Swift.max(1, threads)
    }

    /// Elements per chunk below which a tensor is not split.
    static let grain = 1 << 16

    func add(_ value: TensorValue) {
        switch value.storage {
        case .float(let a): a.withUnsafeBufferPointer { add($0) }
        default:
            // Other element types (half, double, integers) are rare among activations: convert once.
            let floats = ContiguousArray(value.doubles.map { Float($0) })
            floats.withUnsafeBufferPointer { add($0) }
        }
    }

    /// What one tensor contributes apart from the histogram: it needs no shared state, so
    /// concurrent calibration workers make it outside their lock and only `merge` inside.
    struct Summary {
        var rawMin: Float, rawMax: Float
        /// Extremes, count and zeros of the regular values.
        var min: Float, max: Float, regular: Int, zeros: Int
        var excluded: Int
        var clean: Bool
    }

    static func summarize(_ values: UnsafeBufferPointer<Float>, threads: Int) -> Summary {
        let limit = CalibrationOptions.maskMagnitude
        let scan = parallelScan(values, limit: limit, threads: threads)
        let lo: Float, hi: Float, count: Int, zeros: Int
        if scan.clean {
            (lo, hi, count, zeros) = (scan.rawMin, scan.rawMax, values.count, scan.zeros)
        } else {
            (lo, hi, count, zeros) = regularExtremes(values, limit: limit)
        }
        return Summary(rawMin: scan.rawMin, rawMax: scan.rawMax, min: lo, max: hi, regular: count, zeros: zeros,
                       excluded: values.count - count, clean: scan.clean)
    }

    /// Folds in a summary (no histogram: MinMax).
    func merge(_ s: Summary) {
        rawMin = Swift.min(rawMin, s.rawMin)
        rawMax = Swift.max(rawMax, s.rawMax)
        regular += s.regular
        excluded += s.excluded
        guard s.regular > 0 else { return }
        min = Swift.min(min, s.min)
        max = Swift.max(max, s.max)
    }

    func add(_ values: UnsafeBufferPointer<Float>) {
        guard !values.isEmpty else { return }
        let s = Self.summarize(values, threads: threads)
        merge(s)
        if histogram != nil && s.regular > 0 {
            let limit = CalibrationOptions.maskMagnitude
            histogram!.cover(Swift.max(-s.min, s.max))
            histogram!.add(values, limit: limit, clean: s.clean, threads: threads)
            histogram!.noteZeros(s.zeros)
        }
    }

    /// `scan` over up to `threads` chunks, combined.
    static func parallelScan(_ values: UnsafeBufferPointer<Float>, limit: Float, threads: Int)
        -> (rawMin: Float, rawMax: Float, clean: Bool, zeros: Int) {
        let chunks = Swift.min(threads, values.count / grain)
        guard chunks > 1 else { return scan(values, limit: limit) }
        var parts = [(rawMin: Float, rawMax: Float, clean: Bool, zeros: Int)](repeating: (0, 0, true, 0), count: chunks)
        let per = (values.count + chunks - 1) / chunks
        parts.withUnsafeMutableBufferPointer { out in
            let box = UncheckedBox((values, out))
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let (v, o) = box.value
                let range = (c * per)..<Swift.min(v.count, (c + 1) * per)
                o[c] = scan(UnsafeBufferPointer(rebasing: v[range]), limit: limit)
            }
        }
        return (parts.map(\.rawMin).min()!, parts.map(\.rawMax).max()!, parts.allSatisfy(\.clean), parts.map(\.zeros).reduce(0, +))
    }

    /// One pass, 16 lanes at a time: min and max of the non-NaN values, whether every value is
    /// regular (finite with magnitude below `limit`), and how many are exactly 0.
    static func scan(_ values: UnsafeBufferPointer<Float>, limit: Float) -> (rawMin: Float, rawMax: Float, clean: Bool, zeros: Int) {
        typealias V = SIMD16<Float>
        let n = values.count, lanes = V.scalarCount
        var lo = V(repeating: .infinity), hi = V(repeating: -.infinity)
        var bad = SIMDMask<V.MaskStorage>(repeating: false)
        var zeroLanes = V.MaskStorage.zero
        let bound = V(repeating: limit), negativeBound = V(repeating: -limit)
        let raw = UnsafeRawPointer(values.baseAddress!)
        var i = 0
        while i + lanes <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: V.self)
            lo = lo.replacing(with: v, where: v .< lo)
            hi = hi.replacing(with: v, where: v .> hi)
            bad .|= .!((v .< bound) .& (v .> negativeBound))
            zeroLanes &-= V.MaskStorage(truncatingIfNeeded: (v .== V.zero)._storage)
            i += lanes
        }
        var l = lo.min(), h = hi.max(), isBad = any(bad), zeros = Int(zeroLanes.wrappedSum())
        while i < n {
            let x = values[i]
            if x < l { l = x }
            if x > h { h = x }
            if !(x.magnitude < limit) { isBad = true }
            if x == 0 { zeros += 1 }
            i += 1
        }
        return (l, h, !isBad, zeros)
    }

    /// Min, max, count and zeros of the regular values (the slow path, when some are not).
    static func regularExtremes(_ values: UnsafeBufferPointer<Float>, limit: Float) -> (Float, Float, Int, Int) {
        var lo = Float.infinity, hi = -Float.infinity, count = 0, zeros = 0
        for x in values where x.magnitude < limit {
            if x < lo { lo = x }
            if x > hi { hi = x }
            if x == 0 { zeros += 1 }
            count += 1
        }
        return (lo, hi, count, zeros)
    }

    /// The table's `observed` entry: raw extremes, infinities as float32's extremes (JSON has no
    /// infinity); nil when nothing but NaN was seen.
    var observed: TensorRange? {
        guard rawMin <= rawMax else { return nil }
        func finite(_ x: Float) -> Float { Swift.min(Swift.max(x, -.greatestFiniteMagnitude), .greatestFiniteMagnitude) }
        return TensorRange(min: finite(rawMin), max: finite(rawMax))
    }

    /// The calibrated range for `options.method`. The histogram methods pick a magnitude `T` on |x|
    /// and clip the regular extremes to `[-T, T]`. A tensor with no regular value at all gets its
    /// observed range.
    func range(_ options: CalibrationOptions) -> TensorRange? {
        guard regular > 0 else { return observed }
        let t: Float
        switch options.method {
        case .minmax: return TensorRange(min: min, max: max)
        case .percentile: t = histogram?.percentileThreshold(options.percentile) ?? Swift.max(-min, max)
        case .entropy: t = histogram?.entropyThreshold(levels: min >= 0 ? 256 : 128) ?? Swift.max(-min, max)
        case .mse: t = histogram?.mseThreshold(steps: min >= 0 ? 255 : 127) ?? Swift.max(-min, max)
        }
        var lo = Swift.max(min, -t), hi = Swift.min(max, t)
        // One-sided data lying wholly beyond T (a constant just above the chosen edge): clip all to T.
        if lo > hi { if min >= 0 { lo = hi } else { hi = lo } }
        return TensorRange(min: lo, max: hi)
    }
}
