/// How `Calibrator.calibrate` chooses ranges (Docs/Calibration.md).
public struct CalibrationOptions: Sendable {
    /// minmax, percentile, entropy or mse.
    public var method: CalibrationMethod = .minmax
    /// For `.percentile`: the quantile of |x| (in percent) taken as the range's magnitude.
    public var percentile: Double = 99.999
    /// Histogram bins for percentile, entropy and mse (merged histograms never hold more).
    public var bins: Int = 2048
    /// Evaluator threads (nil: `EvaluatorOptions.defaultThreads`).
    public var threads: Int?
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    public var progress: Bool = false

    public init() {}

    /// `|x|` at or above this (and NaN, ±Inf) is a mask fill, not data: counted, kept out of the
    /// ranges and histograms. float32's lowest value (-3.4e38), which attention masks add, is one.
    public static let maskMagnitude: Float = 1e30
}
