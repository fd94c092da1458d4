import KilnIR

/// Resize (opset 11 on: inputs X, roi, scales, sizes), separable: one axis at a time, each output
/// position a weighted sum of `n` neighbors along that axis (onnx `reference/ops/op_resize.py`).
///
/// 1. Output size: `floor(scale * in)` from `scales`, or `sizes` (then `scale = out / in`, and with
///    `keep_aspect_ratio_policy` not_larger/not_smaller one scale for all `axes`, sizes rounded half up).
/// 2. Source coordinate `x` of output `y` by `coordinate_transformation_mode`: half_pixel
///    `(y + 0.5) / s - 0.5`, half_pixel_symmetric (centred), pytorch_half_pixel (-0.5 for a size-1
///    output), align_corners `y (in - 1) / (out - 1)`, asymmetric `y / s`, tf_crop_and_resize (roi;
///    outside the input gives `extrapolation_value`).
/// 3. Weights from the fraction `r` of `x` (1 when `x` is an integer): nearest (2 taps,
///    `nearest_mode`), linear `[1 - r, r]`, cubic (4 taps, `cubic_coeff_a`); with `antialias` and
///    `s < 1`, linear and cubic stretch their support by `1 / s` and normalize.
/// 4. Neighbors start at `floor(x)` shifted so the taps centre on `x`; out-of-range taps clamp to the
///    edge, or get weight 0 (renormalized) with `exclude_outside`.
/// Integer outputs round half to even and saturate.
enum ResizeKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Resize", since: 11) { ctx in try resize(ctx) }
    }

    /// Taps of one axis: for each output position, the source indices and weights.
    struct AxisTaps {
        var indices: [[Int]]
        var weights: [[Double]]
        var extrapolated: [Bool]
    }

    static func resize(_ ctx: KernelContext) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        let r = x.rank
        let mode = try ctx.string("mode", default: "nearest")
        let coordinateMode = try ctx.string("coordinate_transformation_mode", default: "half_pixel")
        let nearestMode = try ctx.string("nearest_mode", default: "round_prefer_floor")
        let a = Double(try ctx.float("cubic_coeff_a", default: -0.75))
        let excludeOutside = try ctx.int("exclude_outside", default: 0) != 0
        let extrapolation = Double(try ctx.float("extrapolation_value", default: 0))
        let antialias = try ctx.int("antialias", default: 0) != 0
        let policy = try ctx.string("keep_aspect_ratio_policy", default: "stretch")
        guard ["nearest", "linear", "cubic"].contains(mode) else { throw ctx.error("unknown mode '\(mode)'") }
        if antialias && mode == "nearest" { throw ctx.error("antialias does not apply to mode nearest") }
        let axes = try (ctx.ints("axes") ?? Array(0..<r)).map { try ctx.axis($0, rank: r, name: "axes") }

        let roiValues = try ctx.optionalTensor(1).map(\.doubles).flatMap { $0.isEmpty ? nil : $0 }
        var roi: [Double]? = nil
        if let roiValues {
            guard roiValues.count == 2 * axes.count else { throw ctx.error("roi must have \(2 * axes.count) elements") }
            var full = [Double](repeating: 0, count: r) + [Double](repeating: 1, count: r)
            for (i, d) in axes.enumerated() { full[d] = roiValues[i]; full[r + d] = roiValues[axes.count + i] }
            roi = full
        }
        var scales = [Double](repeating: 1, count: r)
        var sizes = x.shape
        if let s = try ctx.optionalTensor(2), s.count > 0 {
            guard s.count == axes.count else { throw ctx.error("scales must have \(axes.count) elements") }
            for (i, d) in axes.enumerated() { scales[d] = s.doubles[i]; sizes[d] = Int(scales[d] * Double(x.shape[d])) }
        } else if let given = try ctx.integers(3), !given.isEmpty {
            guard given.count == axes.count else { throw ctx.error("sizes must have \(axes.count) elements") }
            for (i, d) in axes.enumerated() { sizes[d] = given[i]; scales[d] = Double(given[i]) / Double(x.shape[d]) }
            if policy != "stretch" {
                let picked = axes.map { scales[$0] }
                guard let s = policy == "not_larger" ? picked.min() : policy == "not_smaller" ? picked.max() : nil else {
                    throw ctx.error("unknown keep_aspect_ratio_policy '\(policy)'")
                }
                for d in axes { scales[d] = s; sizes[d] = Int(s * Double(x.shape[d]) + 0.5) }
            }
        } else {
            throw ctx.error("one of scales and sizes is required")
        }

        var v = x.doubles
        var shape = x.shape
        for d in 0..<r {
            let inSize = shape[d], outSize = sizes[d], scale = scales[d]
            let trivialRoi = roi.map { abs($0[d]) < 1e-9 && abs($0[d + r] - 1) < 1e-9 } ?? true
            if abs(scale - 1) < 1e-9 && outSize == inSize && trivialRoi { continue }
            let taps = try axisTaps(inSize: inSize, outSize: outSize, scale: scale, roi: roi.map { ($0[d], $0[d + r]) },
                                    mode: mode, coordinateMode: coordinateMode, nearestMode: nearestMode, a: a,
                                    antialias: antialias, excludeOutside: excludeOutside, ctx)
            let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
            var out = [Double](repeating: 0, count: outer * outSize * inner)
            for o in 0..<outer {
                for j in 0..<outSize {
                    let dst = (o * outSize + j) * inner
                    if taps.extrapolated[j] {
                        for i in 0..<inner { out[dst + i] = extrapolation }
                        continue
                    }
                    for (k, src) in taps.indices[j].enumerated() {
                        let w = taps.weights[j][k]
                        if w == 0 { continue }
                        let base = (o * inSize + src) * inner
                        for i in 0..<inner { out[dst + i] += w * v[base + i] }
                    }
                }
            }
            v = out
            shape[d] = outSize
        }
        if !x.dataType.isFloatingPoint {
            let range = QuantizationKernels.ranges[x.dataType]
            v = v.map { value in
                let r = value.rounded(.toNearestOrEven)
                return range.map { min(max(r, $0.lowerBound), $0.upperBound) } ?? r
            }
        }
        return KernelContext.one(try castTensor(TensorValue(shape: shape, v), to: x.dataType))
    }

    static func axisTaps(inSize: Int, outSize: Int, scale: Double, roi: (Double, Double)?, mode: String,
                         coordinateMode: String, nearestMode: String, a: Double, antialias: Bool,
                         excludeOutside: Bool, _ ctx: KernelContext) throws -> AxisTaps {
        let outWidth = scale * Double(inSize)
        let inWidth = Double(inSize)
        var taps = AxisTaps(indices: [], weights: [], extrapolated: [])
        for j in 0..<outSize {
            let y = Double(j)
            var xo: Double
            var extrapolated = false
            switch coordinateMode {
            case "align_corners": xo = outWidth == 1 ? 0 : y * (inWidth - 1) / (outWidth - 1)
            case "asymmetric": xo = y / scale
            case "tf_crop_and_resize":
                guard let (start, end) = roi else { throw ctx.error("tf_crop_and_resize needs roi") }
                xo = outWidth == 1 ? (end - start) * (inWidth - 1) / 2 : y * (end - start) * (inWidth - 1) / (outWidth - 1)
                xo += start * (inWidth - 1)
                extrapolated = xo < 0 || xo > inWidth - 1
            case "pytorch_half_pixel": xo = outWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case "half_pixel": xo = (y + 0.5) / scale - 0.5
            case "half_pixel_symmetric":
                let adjustment = Double(outSize) / outWidth
                xo = inWidth / 2 * (1 - adjustment) + (y + 0.5) / scale - 0.5
            default: throw ctx.error("unknown coordinate_transformation_mode '\(coordinateMode)'")
            }
            let floorX = xo.rounded(.down)
            let ratio = xo == floorX ? 1 : xo - floorX
            var w = coefficients(ratio: ratio, scale: scale, mode: mode, nearestMode: nearestMode, a: a, antialias: antialias)
            let n = w.count
            let frac = xo - floorX
            let offset: Int
            if n % 2 == 0 { offset = frac == 0 ? -(n / 2) : -(n / 2) + 1 } else { offset = frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1 }
            let start = Int(floorX) + offset
            var idx = (0..<n).map { start + $0 }
            if excludeOutside {
                for k in 0..<n where idx[k] < 0 || idx[k] >= inSize { w[k] = 0 }
                let sum = w.reduce(0, +)
                if sum != 0 { w = w.map { $0 / sum } }
            }
            idx = idx.map { min(max($0, 0), inSize - 1) }
            taps.indices.append(idx)
            taps.weights.append(w)
            taps.extrapolated.append(extrapolated)
        }
        return taps
    }

    static func coefficients(ratio: Double, scale: Double, mode: String, nearestMode: String, a: Double, antialias: Bool) -> [Double] {
        switch mode {
        case "nearest":
            if ratio == 1 { return [0, 1] }
            switch nearestMode {
            case "round_prefer_ceil": return ratio < 0.5 ? [1, 0] : [0, 1]
            case "floor": return [1, 0]
            case "ceil": return [0, 1]
            default: return ratio <= 0.5 ? [1, 0] : [0, 1]
            }
        case "linear":
            guard antialias else { return [1 - ratio, ratio] }
            let s = min(scale, 1)
            let start = Int((-1 / s).rounded(.down)) + 1
            let footprint = 2 - 2 * start
            let c = (0..<footprint).map { k in min(max(1 - abs((Double(start + k) - ratio) * s), 0), 1) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        default:
            func cubic(_ t: Double) -> Double {
                let x = abs(t)
                if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
                if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
                return 0
            }
            guard antialias else { return [cubic(ratio + 1), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)] }
            let s = min(scale, 1)
            let start = Int((-2 / s).rounded(.down)) + 1, end = 2 - start
            let c = (start..<end).map { cubic(s * (Double($0) - ratio)) }
            let sum = c.reduce(0, +)
            return c.map { $0 / sum }
        }
    }
}
