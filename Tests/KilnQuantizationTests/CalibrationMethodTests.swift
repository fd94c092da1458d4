import KilnEvaluator
import Testing
@testable import KilnQuantization

#if canImport(Glibc)
import Glibc
#endif

/// Each method's numbers on distributions with known answers.
@Suite struct CalibrationMethodTests {
    static func uniform(_ n: Int, _ lo: Float, _ hi: Float, seed: UInt64 = 1) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in lo + (hi - lo) * Float(g.unit()) }
    }

    /// Laplace(0, b): heavy-ish tails, max ≈ b ln n.
    static func laplace(_ n: Int, b: Double = 1, seed: UInt64 = 2) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            let u = g.unit() - 0.5
            return Float(-b * (u < 0 ? -1 : 1) * log(1 - 2 * abs(u)))
        }
    }

    static func stats(_ chunks: [[Float]], method: CalibrationMethod, bins: Int = 2048) -> TensorStatistics {
        let s = TensorStatistics(bins: method == .minmax ? nil : bins)
        for c in chunks { s.add(TensorValue(shape: [c.count], c)) }
        return s
    }

    static func options(_ method: CalibrationMethod, percentile: Double = 99.999) -> CalibrationOptions {
        var o = CalibrationOptions()
        o.method = method
        o.percentile = percentile
        return o
    }

    @Test func minmaxIsTheRunningExtremes() throws {
        let s = Self.stats([[1, -2, 3], [0.5], [-7, 2]], method: .minmax)
        #expect(s.range(Self.options(.minmax)) == TensorRange(min: -7, max: 3))
        #expect(s.observed == TensorRange(min: -7, max: 3))
    }

    @Test func percentileOfUniformMagnitudes() throws {
        // |x| of U(-1, 1) is U(0, 1): the p-th percentile of |x| is p/100.
        let data = Self.uniform(1_000_000, -1, 1)
        let s = Self.stats([data], method: .percentile)
        for p in [90.0, 99.0, 99.9] {
            let r = try #require(s.range(Self.options(.percentile, percentile: p)))
            #expect(abs(r.max - Float(p / 100)) < 0.002, "p\(p): \(r)")
            #expect(abs(r.min + Float(p / 100)) < 0.002, "p\(p): \(r)")
        }
        let all = try #require(s.range(Self.options(.percentile, percentile: 100)))
        #expect(all == s.range(Self.options(.minmax)))
    }

    @Test func percentileKeepsOneSidedTensorsOneSided() throws {
        let data = Self.uniform(100_000, 0.5, 4)
        let r = try #require(Self.stats([data], method: .percentile).range(Self.options(.percentile, percentile: 99)))
        #expect(r.min >= 0.5)
        #expect(abs(r.max - 3.965) < 0.01)  // 99% of U(0.5, 4)
    }

    @Test func entropyClipsHeavyTailsButNotUniformData() throws {
        let heavy = Self.laplace(1_000_000)
        let minmax = try #require(Self.stats([heavy], method: .minmax).range(Self.options(.minmax)))
        let entropy = try #require(Self.stats([heavy], method: .entropy).range(Self.options(.entropy)))
        // Laplace(1) over 1e6 samples reaches |x| ≈ 13-16; the KL search keeps less (≈10.5).
        #expect(entropy.max < 0.85 * minmax.max, "entropy \(entropy) vs minmax \(minmax)")
        #expect(entropy.max > 3, "entropy \(entropy)")  // but not absurdly little
        #expect(entropy.min == -entropy.max || entropy.min == minmax.min)

        let flat = Self.uniform(1_000_000, -1, 1)
        let flatMax = try #require(Self.stats([flat], method: .minmax).range(Self.options(.minmax)))
        let flatEntropy = try #require(Self.stats([flat], method: .entropy).range(Self.options(.entropy)))
        #expect(flatEntropy.max >= 0.99 * flatMax.max, "\(flatEntropy) vs \(flatMax)")
    }

    @Test func reluZerosDoNotPullThresholdsDown() throws {
        // Relu(N(0, 1)): half the values are exactly 0. They quantize exactly at any threshold, so the
        // searches must pick what they pick on the positive half alone.
        var g = SplitMix64(seed: 11)
        let positive = (0..<200_000).map { _ in Float(abs(g.normal())) }
        let relu = positive + [Float](repeating: 0, count: 200_000)
        for method in [CalibrationMethod.entropy, .mse] {
            let a = try #require(Self.stats([positive], method: method).range(Self.options(method)))
            let b = try #require(Self.stats([relu], method: method).range(Self.options(method)))
            #expect(b.min == 0)
            #expect(abs(a.max - b.max) <= 0.01 * a.max, "\(method): \(a) vs \(b)")
        }
    }

    @Test func entropyIsARealSearchNotMinmax() throws {
        // A Gaussian body with a few far outliers: minmax is set by the outliers, entropy by the body.
        var g = SplitMix64(seed: 9)
        var data = (0..<200_000).map { _ in Float(g.normal()) }
        data += [60, -55, 80]
        let entropy = try #require(Self.stats([data], method: .entropy).range(Self.options(.entropy)))
        #expect(entropy.max < 8 && entropy.max > 3, "\(entropy)")
    }

    @Test func mseMatchesTheKnownLaplaceOptimum() throws {
        // For 8 bits on Laplace(b) the MSE-optimal clipping is about 9.9 b (Banner et al., ACIQ).
        let data = Self.laplace(2_000_000, b: 0.5)
        let r = try #require(Self.stats([data], method: .mse).range(Self.options(.mse)))
        #expect(abs(r.max - 4.95) < 0.6, "\(r)")
        // Uniform data: the optimum clips only ~1/255 of the range.
        let flat = Self.uniform(1_000_000, -2, 2)
        let f = try #require(Self.stats([flat], method: .mse).range(Self.options(.mse)))
        #expect(f.max > 1.97 && f.max <= 2, "\(f)")
    }

    @Test func maskFillsAreCountedApartAndKeepRangesMeaningful() throws {
        // BERT's additive mask: float32's lowest value in a fraction of the scores; plus a NaN and an Inf.
        var data = Self.laplace(100_000)
        for i in stride(from: 0, to: data.count, by: 4) { data[i] = -Float.greatestFiniteMagnitude }
        data[1] = .nan
        data[2] = .infinity
        for method in CalibrationMethod.allCases {
            let s = Self.stats([Array(data[0..<50_000]), Array(data[50_000...])], method: method)
            #expect(s.excluded == 25_000 + 2)
            #expect(s.regular == 100_000 - 25_002)
            let r = try #require(s.range(Self.options(method)))
            #expect(r.min > -20 && r.max < 20, "\(method): \(r)")
            #expect(s.observed == TensorRange(min: -.greatestFiniteMagnitude, max: .greatestFiniteMagnitude))
        }
        // A tensor of nothing but fills still gets a (raw, finite) range.
        let fills = Self.stats([[-.greatestFiniteMagnitude, 0]], method: .entropy)
        #expect(fills.range(Self.options(.entropy)) == TensorRange(min: 0, max: 0))
        let only = Self.stats([[-.greatestFiniteMagnitude]], method: .entropy)
        #expect(only.range(Self.options(.entropy)) == TensorRange(min: -.greatestFiniteMagnitude, max: -.greatestFiniteMagnitude))
    }

    @Test func constantTensorsNeverGetAnInvertedRange() throws {
        for value: Float in [1, -1, 0.25] {
            for method in CalibrationMethod.allCases {
                let r = try #require(Self.stats([[Float](repeating: value, count: 1000)], method: method).range(Self.options(method)))
                #expect(r.min <= r.max, "\(method) on \(value): \(r)")
                #expect(abs(r.max - value) < 0.01 || abs(r.min - value) < 0.01, "\(method) on \(value): \(r)")
            }
        }
    }

    @Test func streamingMergeMatchesOneHistogramWithinABin() throws {
        // Chunks whose range keeps growing force several re-binnings.
        let chunks = (0..<8).map { k in Self.laplace(50_000, b: Double(k + 1) * 0.3, seed: UInt64(k)) }
        let whole = Self.stats([chunks.flatMap { $0 }], method: .percentile)
        let streamed = Self.stats(chunks, method: .percentile)
        #expect(streamed.histogram!.counts.count == 2048)
        #expect(streamed.histogram!.total == whole.histogram!.total)
        #expect(streamed.histogram!.maxMagnitude == whole.histogram!.maxMagnitude)
        let width = streamed.histogram!.width
        for p in [50.0, 99.0, 99.99] {
            let a = try #require(whole.range(Self.options(.percentile, percentile: p)))
            let b = try #require(streamed.range(Self.options(.percentile, percentile: p)))
            #expect(abs(a.max - b.max) <= width, "p\(p): \(a) vs \(b), bin \(width)")
        }
        for method in [CalibrationMethod.entropy, .mse] {
            let a = try #require(Self.stats([chunks.flatMap { $0 }], method: method).range(Self.options(method)))
            let b = try #require(Self.stats(chunks, method: method).range(Self.options(method)))
            #expect(abs(a.max - b.max) <= 0.1 * a.max, "\(method): \(a) vs \(b)")
        }
    }

    @Test func histogramRebinningIsExact() throws {
        var h = Histogram(bins: 8)
        let first: [Float] = [0.1, 0.9, 1.5, 2.0]
        h.cover(2); first.withUnsafeBufferPointer { h.add($0, limit: 1e30, clean: true) }
        #expect(h.width == 0.25)
        #expect(h.counts == [1, 0, 0, 1, 0, 0, 1, 1])
        let second: [Float] = [-7.9]
        h.cover(7.9); second.withUnsafeBufferPointer { h.add($0, limit: 1e30, clean: true) }
        #expect(h.width == 1)
        #expect(h.counts == [2, 2, 0, 0, 0, 0, 0, 1])
        #expect(h.total == 5)
    }

    @Test func threadedStatisticsEqualSerial() throws {
        var data = Self.laplace(300_001)
        data[123_456] = -.greatestFiniteMagnitude
        let more = Self.laplace(200_000, b: 3, seed: 7)
        let serial = TensorStatistics(bins: 2048, threads: 1), threaded = TensorStatistics(bins: 2048, threads: 4)
        for s in [serial, threaded] {
            s.add(TensorValue(shape: [data.count], data))
            s.add(TensorValue(shape: [more.count], more))
        }
        #expect(threaded.histogram == serial.histogram)
        #expect(threaded.min == serial.min && threaded.max == serial.max && threaded.excluded == 1)
        #expect(threaded.observed == serial.observed)
    }

    @Test func simdScanAgreesWithAPlainLoop() throws {
        for n in [1, 15, 16, 17, 100, 1001] {
            var data = Self.uniform(n, -3, 5, seed: UInt64(n))
            let s = data.withUnsafeBufferPointer { TensorStatistics.scan($0, limit: 1e30) }
            #expect(s.rawMin == data.min()! && s.rawMax == data.max()! && s.clean)
            data[n / 2] = .nan
            #expect(!data.withUnsafeBufferPointer { TensorStatistics.scan($0, limit: 1e30) }.clean)
        }
    }
}
