import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// DFT and STFT. DFT (17: `axis` attribute, default 1; 20: `axis` input, default -2), as a direct O(n^2) sum in
/// Double. The last axis of the input is 1 (real) or 2 (real, imaginary); the output's is 2,
/// except for an inverse one-sided transform, which is real.
///
/// 1. The signal along `axis` is cut or zero-padded to `dft_length` L (default: its length, or
///    `2 (n - 1)` for an inverse one-sided transform).
/// 2. Forward: `X[k] = sum_j x[j] e^(-2 pi i jk / L)`; `onesided` keeps `k <= L / 2`.
/// 3. Inverse: `x[j] = 1/L sum_k X[k] e^(2 pi i jk / L)`; one-sided input is the half spectrum,
///    extended by Hermitian symmetry (numpy `irfft`: the imaginary parts of the DC and Nyquist
///    terms are ignored) and the result is real.
enum SignalKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("DFT", since: 17) { ctx in try dft(ctx, axis: ctx.int("axis", default: 1)) }
        r.register("DFT", since: 20) { ctx in try dft(ctx, axis: ctx.integers(2)?.first ?? -2) }
        // STFT (17): signal `[B, L, 1 or 2]`; frame f covers samples `f * frame_step` onwards (window
        // length, zero past the end), multiplied by `window` (default ones), then a forward DFT of
        // `frame_length` (default: the window's length) points; `onesided` (default 1) keeps
        // `frame_length / 2 + 1` bins. Frames: `1 + (L - frame_length) / frame_step`.
        r.register("STFT", since: 17) { ctx in
            let x = try ctx.tensor(0)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            guard x.rank == 3, x.shape[2] == 1 || x.shape[2] == 2 else { throw ctx.error("signal must be [B, L, 1 or 2], got \(x.shape)") }
            guard let step = try ctx.integers(1)?.first, step > 0 else { throw ctx.error("frame_step must be positive") }
            let window = try ctx.optionalTensor(2)?.doubles
            let length = try ctx.integers(3)?.first ?? window?.count ?? x.shape[1]
            let w = window ?? [Double](repeating: 1, count: length)
            let onesided = try ctx.int("onesided", default: 1) != 0
            let (batch, signal, comps) = (x.shape[0], x.shape[1], x.shape[2])
            guard length > 0, length <= signal else { throw ctx.error("frame_length \(length) does not fit the signal of \(signal)") }
            let frames = 1 + (signal - length) / step, bins = onesided ? length / 2 + 1 : length
            let v = x.doubles
            var y = [Double](repeating: 0, count: batch * frames * bins * 2)
            for b in 0..<batch {
                for f in 0..<frames {
                    var re = [Double](repeating: 0, count: length), im = re
                    for j in 0..<min(w.count, length) where f * step + j < signal {
                        let at = (b * signal + f * step + j) * comps
                        re[j] = v[at] * w[j]
                        im[j] = comps == 2 ? v[at + 1] * w[j] : 0
                    }
                    for k in 0..<bins {
                        var sr = 0.0, si = 0.0
                        for j in 0..<length {
                            let angle = -2 * .pi * Double((j * k) % length) / Double(length)
                            sr += re[j] * cos(angle) - im[j] * sin(angle)
                            si += re[j] * sin(angle) + im[j] * cos(angle)
                        }
                        let at = ((b * frames + f) * bins + k) * 2
                        y[at] = sr
                        y[at + 1] = si
                    }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: [batch, frames, bins, 2], y), to: x.dataType))
        }
    }

    static func dft(_ ctx: KernelContext, axis rawAxis: Int) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
        guard x.rank >= 2, let comps = x.shape.last, comps == 1 || comps == 2 else {
            throw ctx.error("the last axis must be 1 (real) or 2 (complex), got \(x.shape)")
        }
        let axis = try ctx.axis(rawAxis, rank: x.rank)
        guard axis < x.rank - 1 else { throw ctx.error("axis must not be the last (complex) axis") }
        let inverse = try ctx.int("inverse", default: 0) != 0, onesided = try ctx.int("onesided", default: 0) != 0
        let n = x.shape[axis]
        let length = try ctx.integers(1)?.first ?? (inverse && onesided ? 2 * (n - 1) : n)
        guard length > 0 else { throw ctx.error("dft_length must be positive, got \(length)") }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)..<(x.rank - 1)].reduce(1, *)
        let outLength = !inverse && onesided ? length / 2 + 1 : length
        let outComps = inverse && onesided ? 1 : 2
        let v = x.doubles
        var y = [Double](repeating: 0, count: outer * outLength * inner * outComps)
        for o in 0..<outer {
            for i in 0..<inner {
                // The signal (or spectrum) along the axis as complex numbers, cut or padded to L.
                var re = [Double](repeating: 0, count: length), im = re
                for j in 0..<min(n, length) {
                    let at = ((o * n + j) * inner + i) * comps
                    re[j] = v[at]
                    im[j] = comps == 2 ? v[at + 1] : 0
                }
                if inverse && onesided {
                    // Hermitian extension of the half spectrum (entries 0...L/2).
                    let half = length / 2
                    var fullRe = [Double](repeating: 0, count: length), fullIm = fullRe
                    for k in 0...half where k < n { fullRe[k] = re[k]; fullIm[k] = im[k] }
                    fullIm[0] = 0
                    if length % 2 == 0 { fullIm[half] = 0 }
                    for k in (half + 1)..<max(length, half + 1) { fullRe[k] = fullRe[length - k]; fullIm[k] = -fullIm[length - k] }
                    (re, im) = (fullRe, fullIm)
                }
                let sign = inverse ? 1.0 : -1.0
                for k in 0..<outLength {
                    var sr = 0.0, si = 0.0
                    for j in 0..<length where re[j] != 0 || im[j] != 0 {
                        let angle = sign * 2 * .pi * Double((j * k) % length) / Double(length)
                        let (c, s) = (cos(angle), sin(angle))
                        sr += re[j] * c - im[j] * s
                        si += re[j] * s + im[j] * c
                    }
                    if inverse { sr /= Double(length); si /= Double(length) }
                    let at = ((o * outLength + k) * inner + i) * outComps
                    y[at] = sr
                    if outComps == 2 { y[at + 1] = si }
                }
            }
        }
        var shape = x.shape
        shape[axis] = outLength
        shape[x.rank - 1] = outComps
        return KernelContext.one(try castTensor(TensorValue(shape: shape, y), to: x.dataType))
    }
}
