extension Histogram {
    /// MSE method: the threshold `T` minimising the expected squared quantization error of the
    /// histogrammed |x| (each bin's mass at its centre `c_j`), for `steps` quantization steps over
    /// `[0, T]` (step `s = T / steps`):
    ///
    /// `E(T) = Σ_{c_j < T} h_j s² / 12 + Σ_{c_j ≥ T} h_j (c_j − T)²`
    ///
    /// (rounding error of a value spread over a step, plus clipping error). Candidates are the bin
    /// edges `T = i * width`, `i = 1...n`; suffix sums of `h`, `h c` and `h c²` make each O(1). Ties
    /// go to the larger threshold. `steps` is 127 for signed data, 255 when every value is >= 0.
    func mseThreshold(steps: Int) -> Float {
        let (h, w) = trimmed(zeros: false)
        let n = h.count
        guard w > 0, steps > 0 else { return maxMagnitude }
        let width = Double(w)
        // Suffix sums from bin i: A = Σ h, B = Σ h c, C = Σ h c².
        var A = [Double](repeating: 0, count: n + 1), B = A, C = A
        for j in stride(from: n - 1, through: 0, by: -1) {
            let c = (Double(j) + 0.5) * width
            A[j] = A[j + 1] + h[j]
            B[j] = B[j + 1] + h[j] * c
            C[j] = C[j + 1] + h[j] * c * c
        }
        var best = Double.infinity, bestIndex = n
        for i in 1...n {
            let t = Double(i) * width
            let s = t / Double(steps)
            let inside = A[0] - A[i]
            let error = inside * s * s / 12 + (C[i] - 2 * t * B[i] + t * t * A[i])
            if error <= best * (1 + 1e-12) { best = error; bestIndex = i }
        }
        return Swift.min(maxMagnitude, Float(bestIndex) * w)
    }
}
