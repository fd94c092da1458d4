extension Histogram {
    /// Percentile method: the magnitude below which `percent` % of the histogrammed |x| lie,
    /// interpolated linearly inside the bin where the cumulative count crosses the target. 100 (or
    /// more) gives the largest magnitude.
    func percentileThreshold(_ percent: Double) -> Float {
        let (h, w) = trimmed()
        let total = h.reduce(0, +)
        guard total > 0, percent < 100, w > 0 else { return maxMagnitude }
        let target = Swift.max(0, percent) / 100 * total
        var cumulative = 0.0
        for (i, c) in h.enumerated() {
            if c > 0, cumulative + c >= target {
                let fraction = (target - cumulative) / c
                return Swift.min(maxMagnitude, Float((Double(i) + fraction) * Double(w)))
            }
            cumulative += c
        }
        return maxMagnitude
    }
}
