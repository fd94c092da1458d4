#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Histogram {
    /// Entropy method (the KL-divergence threshold search TensorRT describes), on the |x| histogram
    /// `h` of `n` bins (after trimming):
    ///
    /// 1. For every candidate `i` in `levels...n` (threshold `T = i * width`):
    ///    reference `P` = `h[0..<i]` with the mass beyond (`outliers = Σ h[i...]`) added to bin `i-1`.
    /// 2. Candidate `Q`: `h[0..<i]` merged into `levels` equal groups, each group's sum spread evenly
    ///    over the group's bins that are non-empty in `P` (empty bins stay 0).
    /// 3. `KL(P‖Q) = Σ P_j log(P_j / Q_j)` with both normalised; pick the `i` with the smallest KL
    ///    (the largest `i` on ties). Where `Q` is 0 but `P` is not (outliers piled onto an empty last
    ///    group), `Q` is smoothed to `epsilon` (1e-4 of the mass, as TensorRT's and onnxruntime's
    ///    smoothing): clipping a few far outliers costs their (tiny) mass, not an infinite divergence.
    ///
    /// Closed form used so each candidate costs O(levels), not O(i): with prefix sums `H` of `h`,
    /// `L` of `h log h` and `Z` of non-empty bins, and group sums `S_g` / `P_g` (of `h` / of `p`)
    /// and non-empty counts `nz_g`:
    /// `KL = (Σ p log p − Σ_g P_g log(S_g / nz_g)) / |p| − log |p| + log |q|`, `|p|` the total and
    /// `|q| = H[i]`.
    ///
    /// `levels` is 128 for signed data (int8 has 128 magnitudes) and 256 when every value is >= 0
    /// (uint8 over `[0, T]`).
    static let epsilon = 1e-4

    func entropyThreshold(levels: Int) -> Float {
        let (h, w) = trimmed(zeros: false)
        let n = h.count
        guard w > 0, n > levels, levels > 0 else { return maxMagnitude }
        let total = h.reduce(0, +)
        guard total > 0 else { return maxMagnitude }
        func xlogx(_ x: Double) -> Double { x > 0 ? x * log(x) : 0 }
        var H = [Double](repeating: 0, count: n + 1), L = H, Z = H
        for j in 0..<n {
            H[j + 1] = H[j] + h[j]
            L[j + 1] = L[j] + xlogx(h[j])
            Z[j + 1] = Z[j] + (h[j] > 0 ? 1 : 0)
        }
        var best = Double.infinity, bestIndex = n
        for i in levels...n {
            let outliers = total - H[i]
            let lastP = h[i - 1] + outliers
            let pLogP = L[i - 1] + xlogx(lastP)
            var cross = 0.0
            for g in 0..<levels {
                let a = g * i / levels, b = (g + 1) * i / levels
                let s = H[b] - H[a]
                var nz = Z[b] - Z[a]
                var pg = s
                if g == levels - 1 {
                    pg += outliers
                    if h[i - 1] == 0, outliers > 0 { nz += 1 }
                }
                guard pg > 0 else { continue }
                cross += s > 0 ? pg * log(s / nz) : pg * log(Self.epsilon * H[i])
            }
            let kl = (pLogP - cross) / total - log(total) + log(H[i])
            if kl <= best + 1e-12 * Swift.max(1, abs(best)) { best = kl; bestIndex = i }
        }
        return Swift.min(maxMagnitude, Float(bestIndex) * w)
    }
}
