import Dispatch
import KilnEvaluator
import KilnIR

/// The quantization arithmetic every emitter shares, in one place.
///
/// Formulas (referred to by number in the emitters and in Docs/Quantization.md):
/// 1. Integer range of a type: int8 [-128, 127], uint8 [0, 255], int4 [-8, 7], uint4 [0, 15];
///    `reduceRange` narrows int8 to [-127, 127] (TensorRT), int4 to [-7, 7].
/// 2. The float range is first widened to include 0 (`min' = min(min, 0)`, `max' = max(max, 0)`),
///    so real zero is exactly representable (zero padding, ReLU outputs).
/// 3. Asymmetric: `scale = (max' - min') / (qmax - qmin)`, `zp = clamp(round(qmin - min' / scale))`.
/// 4. Symmetric: `a = max(|min'|, |max'|)`, `scale = a / h` with `h = 127` (int8, uint8), `7` (int4,
///    uint4); `zp = 0` for signed types, the midpoint (128, 8) for unsigned ones, so `[-a, a]` maps to
///    `[-h, h]` around the zero point and the representable range is symmetric.
/// 5. Degenerate ranges (`max' == min'`, i.e. all zeros): `scale = 1`, zp as in 3/4. A range that is
///    not finite is an error naming the tensor.
/// 6. Quantize: `q = clamp(rint(x / scale) + zp)`, rounding half to even (as QuantizeLinear).
/// 7. Bias: `q = clamp(rint(b / (x_scale * w_scale[c])))` in int32, zero point 0; per output
///    channel `c` when the weight is per channel.
/// 8. Blocks (weight-only): formulas 3/4 over each block of `blockSize` elements along the reduction
///    axis, one scale (and zero point) per block.
public struct QuantParams: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32
    public init(scale: Float, zeroPoint: Int32) { self.scale = scale; self.zeroPoint = zeroPoint }
}

enum QuantMath {
    /// Formula 1.
    static func integerRange(_ type: DataType, reduceRange: Bool = false) throws -> ClosedRange<Int32> {
        switch type {
        case .int8: return reduceRange ? -127...127 : -128...127
        case .uint8: return 0...255
        case .int4: return reduceRange ? -7...7 : -8...7
        case .uint4: return 0...15
        case .int32: return Int32.min...Int32.max
        default:
            throw KilnError(.unsupported, "quantized type \(type.name) is not supported (int8, uint8, int4, uint4)")
        }
    }

    /// Formulas 2-5: scale and zero point for `range` in `type`.
    static func params(min lo: Float, max hi: Float, type: DataType, symmetric: Bool,
                       reduceRange: Bool = false, tensor: String) throws -> QuantParams {
        guard lo.isFinite, hi.isFinite else {
            throw KilnError(.invalidInput, "tensor '\(tensor)': range [\(lo), \(hi)] is not finite; cannot derive a scale")
        }
        guard lo <= hi else {
            throw KilnError(.invalidInput, "tensor '\(tensor)': range minimum \(lo) is above its maximum \(hi)")
        }
        let q = try integerRange(type, reduceRange: reduceRange)
        let mn = Swift.min(lo, 0), mx = Swift.max(hi, 0)  // formula 2
        let signed = q.lowerBound < 0
        if symmetric {  // formula 4
            let half: Float = (type == .int4 || type == .uint4) ? 7 : 127
            let zp: Int32 = signed ? 0 : (q.upperBound + 1) / 2
            let a = Swift.max(abs(mn), abs(mx))
            return QuantParams(scale: a > 0 ? a / half : 1, zeroPoint: zp)
        }
        let span = mx - mn  // formula 3
        guard span > 0 else { return QuantParams(scale: 1, zeroPoint: signed ? 0 : q.lowerBound) }  // formula 5
        let scale = span / Float(q.upperBound - q.lowerBound)
        let zp = (Float(q.lowerBound) - mn / scale).rounded(.toNearestOrEven)
        return QuantParams(scale: scale, zeroPoint: Int32(Swift.min(Swift.max(zp, Float(q.lowerBound)), Float(q.upperBound))))
    }

    /// Formula 6 for one value.
    @inline(__always)
    static func quantize(_ x: Float, _ p: QuantParams, _ q: ClosedRange<Int32>) -> Int32 {
        let v = (x / p.scale).rounded(.toNearestOrEven) + Float(p.zeroPoint)
        if v.isNaN { return Swift.max(q.lowerBound, Swift.min(q.upperBound, p.zeroPoint)) }
        return Int32(Swift.min(Swift.max(v, Float(q.lowerBound)), Float(q.upperBound)))
    }

    /// Smallest and largest of `count` values (NaN skipped; +inf, -inf when there are none), 16 lanes at a time.
    static func extremes(_ x: UnsafePointer<Float>, count: Int) -> (min: Float, max: Float) {
        typealias V = SIMD16<Float>
        var lo = V(repeating: .infinity), hi = V(repeating: -.infinity)
        var i = 0
        while i + V.scalarCount <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
            lo = lo.replacing(with: v, where: v .< lo)
            hi = hi.replacing(with: v, where: v .> hi)
            i += V.scalarCount
        }
        var l = lo.min(), h = hi.max()
        while i < count {
            if x[i] < l { l = x[i] }
            if x[i] > h { h = x[i] }
            i += 1
        }
        return (l, h)
    }

    /// Formula 6 over `count` values sharing one parameter pair, 16 lanes at a time (the same
    /// results as the scalar `quantize`: x / scale, round half to even, NaN to the zero point).
    static func quantize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Int32>, count: Int,
                         _ p: QuantParams, _ q: ClosedRange<Int32>) {
        typealias V = SIMD16<Float>
        var i = 0
        // Lanes convert through Float, exact for the 8- and 4-bit ranges (not for int32's).
        if q.lowerBound >= -(1 << 24) && q.upperBound <= 1 << 24 {
            let scale = V(repeating: p.scale), zero = V(repeating: Float(p.zeroPoint))
            let lo = V(repeating: Float(q.lowerBound)), hi = V(repeating: Float(q.upperBound))
            let nan = V(repeating: Float(Swift.max(q.lowerBound, Swift.min(q.upperBound, p.zeroPoint))))
            while i + V.scalarCount <= count {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(out + i).storeBytes(of: lanes(v, scale, zero, nan, lo, hi), as: SIMD16<Int32>.self)
                i += V.scalarCount
            }
        }
        while i < count {
            out[i] = quantize(x[i], p, q)
            i += 1
        }
    }

    /// Formula 6 with parameters per element (`scales[i]`, `zeroPoints[i]`, whole numbers as Float).
    static func quantize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Int32>, count: Int,
                         scales: UnsafePointer<Float>, zeroPoints: UnsafePointer<Float>, _ q: ClosedRange<Int32>) {
        typealias V = SIMD16<Float>
        var i = 0
        if q.lowerBound >= -(1 << 24) && q.upperBound <= 1 << 24 {
            let lo = V(repeating: Float(q.lowerBound)), hi = V(repeating: Float(q.upperBound))
            while i + V.scalarCount <= count {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
                let scale = UnsafeRawPointer(scales + i).loadUnaligned(as: V.self)
                let zero = UnsafeRawPointer(zeroPoints + i).loadUnaligned(as: V.self)
                let nan = zero.replacing(with: lo, where: zero .< lo).replacing(with: hi, where: zero .> hi)
                UnsafeMutableRawPointer(out + i).storeBytes(of: lanes(v, scale, zero, nan, lo, hi), as: SIMD16<Int32>.self)
                i += V.scalarCount
            }
        }
        while i < count {
            out[i] = quantize(x[i], QuantParams(scale: scales[i], zeroPoint: Int32(zeroPoints[i])), q)
            i += 1
        }
    }

    /// Formula 6 on 16 lanes: rint(v / scale) + zero, NaN to `nan`, clamped to [lo, hi].
    @inline(__always)
    private static func lanes(_ v: SIMD16<Float>, _ scale: SIMD16<Float>, _ zero: SIMD16<Float>, _ nan: SIMD16<Float>,
                              _ lo: SIMD16<Float>, _ hi: SIMD16<Float>) -> SIMD16<Int32> {
        var y = (v / scale).rounded(.toNearestOrEven) + zero
        y = y.replacing(with: nan, where: y .!= y)
        y = y.replacing(with: lo, where: y .< lo).replacing(with: hi, where: y .> hi)
        // y is a whole number of small magnitude: adding 1.5 * 2^23 puts it in the low mantissa
        // bits exactly (the standard library's lane-wise Float -> Int32 conversion is not vectorized).
        return unsafeBitCast(y + SIMD16<Float>(repeating: 12_582_912), to: SIMD16<Int32>.self) &- 0x4B40_0000
    }

    /// Formula 7: an int32 bias for per-channel (or one) weight scales.
    static func quantizeBias(_ bias: [Float], inputScale: Float, weightScales: [Float],
                             channelOf: (Int) -> Int) -> (values: [Int32], scales: [Float]) {
        var values = [Int32](), scales = [Float]()
        values.reserveCapacity(bias.count)
        for (c, b) in bias.enumerated() {
            let s = inputScale * weightScales[weightScales.count == 1 ? 0 : channelOf(c)]
            scales.append(s)
            let v = (Double(b) / Double(s)).rounded(.toNearestOrEven)
            values.append(Int32(Swift.min(Swift.max(v, Double(Int32.min)), Double(Int32.max))))
        }
        return (values, scales)
    }
}

/// A float weight quantized per tensor, per channel or per block, with its parameters.
struct QuantizedWeight {
    var values: [Int32]
    var dims: [Int64]
    var type: DataType
    var scales: [Float]
    var zeroPoints: [Int32]
    /// Per-channel / per-block axis; nil per tensor.
    var axis: Int?
    var blockSize: Int?
    /// Shape of the scale / zero-point tensors (`[]` per tensor, `[n]` per channel, blocked shape).
    var paramDims: [Int64]

    /// Per tensor (`axis == nil`) or per channel along `axis` (formulas 3-6, range of each slice).
    static func make(_ w: [Float], dims: [Int64], axis: Int?, type: DataType, symmetric: Bool,
                     reduceRange: Bool, name: String) throws -> QuantizedWeight {
        let q = try QuantMath.integerRange(type, reduceRange: reduceRange)
        let d = dims.map { Int($0) }
        let n = axis.map { d[$0] } ?? 1, inner = axis.map { d[($0 + 1)...].reduce(1, *) } ?? w.count
        if inner < 16 && n > 1 && !w.isEmpty {
            return try makeInterleaved(w, dims: dims, n: n, inner: inner, axis: axis!, type: type, symmetric: symmetric,
                                       reduceRange: reduceRange, name: name)
        }
        // Element i belongs to channel (i / inner) % n: the weight is `runs` runs of `inner`
        // elements, run r of channel r % n. Runs are split across threads (large weights), each
        // chunk keeping its own extremes, combined after.
        let runs = inner == 0 ? 0 : (w.count + inner - 1) / inner
        let split = WorkSplit(units: runs, elements: w.count)
        var partial = [Float](repeating: 0, count: 2 * n * split.threads)  // formula 2: 0 included
        w.withUnsafeBufferPointer { src in
            partial.withUnsafeMutableBufferPointer { out in
                split.run { t, block in
                    let lo = out.baseAddress! + 2 * n * t, hi = lo + n
                    for r in block {
                        let start = r * inner, c = r % n
                        let (l, h) = QuantMath.extremes(src.baseAddress! + start, count: Swift.min(inner, src.count - start))
                        lo[c] = Swift.min(lo[c], l)
                        hi[c] = Swift.max(hi[c], h)
                    }
                }
            }
        }
        var ps: [QuantParams] = []
        ps.reserveCapacity(n)
        for c in 0..<n {
            var lo: Float = 0, hi: Float = 0
            for t in 0..<split.threads { lo = Swift.min(lo, partial[2 * n * t + c]); hi = Swift.max(hi, partial[2 * n * t + n + c]) }
            ps.append(try QuantMath.params(min: lo, max: hi, type: type, symmetric: symmetric, reduceRange: reduceRange,
                                           tensor: axis == nil ? name : "\(name)[channel \(c)]"))
        }
        var values = [Int32](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                split.run { _, block in
                    for r in block {
                        let start = r * inner
                        QuantMath.quantize(src.baseAddress! + start, into: dst.baseAddress! + start,
                                           count: Swift.min(inner, src.count - start), ps[r % n], q)
                    }
                }
            }
        }
        return QuantizedWeight(values: values, dims: dims, type: type, scales: ps.map(\.scale),
                               zeroPoints: ps.map(\.zeroPoint), axis: axis, blockSize: nil,
                               paramDims: axis == nil ? [] : [Int64(n)])
    }

    /// Per channel when channels interleave in short runs (a MatMul weight [K, N] per column:
    /// runs of 1): the weight is rows of `n * inner` elements, position k of every row in channel
    /// k / inner. Extremes are kept per position (element-wise over rows, so the loop vectorizes),
    /// then combined per channel; quantization uses per-position parameter rows. Rows are split
    /// across threads for large weights.
    private static func makeInterleaved(_ w: [Float], dims: [Int64], n: Int, inner: Int, axis: Int, type: DataType,
                                        symmetric: Bool, reduceRange: Bool, name: String) throws -> QuantizedWeight {
        let q = try QuantMath.integerRange(type, reduceRange: reduceRange)
        let period = n * inner, rows = w.count / period
        let split = WorkSplit(units: rows, elements: w.count)
        var partial = [Float](repeating: 0, count: 2 * period * split.threads)  // formula 2: 0 included
        w.withUnsafeBufferPointer { src in
            partial.withUnsafeMutableBufferPointer { out in
                split.run { t, block in
                    let lo = out.baseAddress! + 2 * period * t, hi = lo + period
                    for r in block {
                        let x = src.baseAddress! + r * period
                        for k in 0..<period {
                            let v = x[k]
                            lo[k] = v < lo[k] ? v : lo[k]
                            hi[k] = v > hi[k] ? v : hi[k]
                        }
                    }
                }
            }
        }
        var ps: [QuantParams] = []
        ps.reserveCapacity(n)
        for c in 0..<n {
            var lo: Float = 0, hi: Float = 0
            for t in 0..<split.threads {
                for i in 0..<inner {
                    lo = Swift.min(lo, partial[2 * period * t + c * inner + i])
                    hi = Swift.max(hi, partial[2 * period * t + period + c * inner + i])
                }
            }
            ps.append(try QuantMath.params(min: lo, max: hi, type: type, symmetric: symmetric, reduceRange: reduceRange,
                                           tensor: "\(name)[channel \(c)]"))
        }
        let scales = (0..<period).map { ps[$0 / inner].scale }
        let zeros = (0..<period).map { Float(ps[$0 / inner].zeroPoint) }
        var values = [Int32](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                scales.withUnsafeBufferPointer { ps in
                    zeros.withUnsafeBufferPointer { pz in
                        split.run { _, block in
                            for r in block {
                                QuantMath.quantize(src.baseAddress! + r * period, into: dst.baseAddress! + r * period,
                                                   count: period, scales: ps.baseAddress!, zeroPoints: pz.baseAddress!, q)
                            }
                        }
                    }
                }
            }
        }
        return QuantizedWeight(values: values, dims: dims, type: type, scales: ps.map(\.scale),
                               zeroPoints: ps.map(\.zeroPoint), axis: axis, blockSize: nil, paramDims: [Int64(n)])
    }

    /// Formula 6 over `w`, element `i` with the parameters `params(i)`.
    private static func quantize(_ w: [Float], count: Int, _ params: (Int) -> QuantParams,
                                 range q: ClosedRange<Int32>) -> [Int32] {
        var out = [Int32](repeating: 0, count: count)
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count { dst[i] = QuantMath.quantize(src[i], params(i), q) }
            }
        }
        return out
    }

    /// Formula 8: blocks of `blockSize` along `axis` of a 2-D weight.
    static func blocked(_ w: [Float], dims: [Int64], axis: Int, blockSize: Int, type: DataType, symmetric: Bool,
                        name: String) throws -> QuantizedWeight {
        let q = try QuantMath.integerRange(type)
        let rows = Int(dims[0]), cols = Int(dims[1])
        let along = axis == 0 ? rows : cols
        let blocks = (along + blockSize - 1) / blockSize
        let pr = axis == 0 ? blocks : rows, pc = axis == 0 ? cols : blocks
        func param(_ r: Int, _ c: Int) -> Int { axis == 0 ? (r / blockSize) * pc + c : r * pc + c / blockSize }
        var lo = [Float](repeating: 0, count: pr * pc), hi = [Float](repeating: 0, count: pr * pc)  // formula 2
        w.withUnsafeBufferPointer { src in
            for r in 0..<rows {
                for c in 0..<cols {
                    let k = param(r, c), x = src[r * cols + c]
                    if x < lo[k] { lo[k] = x } else if x > hi[k] { hi[k] = x }
                }
            }
        }
        var ps: [QuantParams] = []
        ps.reserveCapacity(pr * pc)
        for k in 0..<(pr * pc) {
            ps.append(try QuantMath.params(min: lo[k], max: hi[k], type: type, symmetric: symmetric, tensor: "\(name)[block \(k)]"))
        }
        let values = quantize(w, count: w.count, { ps[param($0 / cols, $0 % cols)] }, range: q)
        return QuantizedWeight(values: values, dims: dims, type: type, scales: ps.map(\.scale),
                               zeroPoints: ps.map(\.zeroPoint), axis: axis, blockSize: blockSize,
                               paramDims: [Int64(pr), Int64(pc)])
    }

    /// The scale of output channel `c` (per tensor: the one scale).
    func scale(channel c: Int) -> Float { scales.count == 1 ? scales[0] : scales[c] }
    /// Whether every zero point is 0.
    var zeroPointsAreZero: Bool { zeroPoints.allSatisfy { $0 == 0 } }
}

/// Units of work over a weight of `elements` values, split into one contiguous block per thread
/// (one block below 64K elements).
struct WorkSplit {
    let units: Int, threads: Int, per: Int

    init(units: Int, elements: Int) {
        self.units = units
        threads = elements >= 1 << 16 ? Swift.max(1, Swift.min(EvaluatorOptions.defaultThreads, units)) : 1
        per = (units + threads - 1) / threads
    }

    /// `body(thread, block)` for every thread's block, in parallel; blocks are disjoint, so `body`
    /// may write wherever a block's units own.
    func run(_ body: (_ thread: Int, _ block: Range<Int>) -> Void) {
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                box.value(t, Swift.min(units, t * per)..<Swift.min(units, (t + 1) * per))
            }
        }
    }
}
