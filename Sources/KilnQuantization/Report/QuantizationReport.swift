import KilnIR

/// What `kiln quantize` reports (`--report FILE.json`, `--json`, and the table on stdout).
///
/// Schema 1 (documented in Docs/Commands/quantize.md):
/// - `tensors`: every quantized tensor with its scale(s) and zero point(s); for activations in static mode
///   also the observed range, the chosen (calibrated) range, and `clippedFraction`, the share of the observed
///   range that lies outside the chosen one: `1 - width(observed ∩ chosen) / width(observed)` (0 = nothing clipped).
/// - `accuracy`: float vs quantized model on the evaluation samples: per output the mean and smallest cosine
///   similarity, the largest absolute error and (for classifier outputs [N, C]) top-1 agreement; per quantized
///   layer the SQNR in dB, `10 log10(Σx² / Σ(x - x̂)²)` over every sample (`null` when the outputs are equal);
///   `drop` is the metric `--max-drop` bounds: `1 - cosine` of the worst output.
/// - `keptInFloat`: the layers `--max-drop` left unquantized, in the order they were chosen, and why.
public struct QuantizationReport: Codable, Sendable {
    public var schema = 1
    public var mode: String
    public var format: String
    public var target: String?
    public var method: String?
    public var calibrationSamples: Int?
    public var preOptimized: Bool
    public var quantizedNodes: [String]
    public var skipped: [QuantizationPlan.Skip]
    /// The emitter's notes on choices it made (opset raised, per-channel fallbacks, ...).
    public var notes: [String]
    public var tensors: [TensorEntry]
    public var accuracy: Accuracy?
    public var maxDrop: Double?
    public var keptInFloat: [KeptLayer] = []
    public var seconds = Timings()

    public struct TensorEntry: Codable, Sendable {
        public var tensor: String
        public var type: String
        public var scale: [Float]
        public var zeroPoint: [Int32]
        public var axis: Int?
        public var blockSize: Int?
        public var observed: TensorRange?
        public var chosen: TensorRange?
        public var clippedFraction: Double?
    }

    public struct OutputAgreement: Codable, Sendable {
        public var name: String
        /// Mean over samples of the cosine similarity of the flattened output.
        public var cosine: Double
        public var minCosine: Double
        public var maxAbsError: Double
        /// Share of rows whose arg-max agrees (outputs shaped [N, C], C > 1); nil for other outputs.
        public var top1Agreement: Double?
    }

    public struct LayerError: Codable, Sendable {
        public var node: String
        public var opType: String
        public var output: String
        /// dB; nil when the quantized output equals the float one.
        public var sqnr: Double?
    }

    public struct Accuracy: Codable, Sendable {
        public var samples: Int
        /// "eval" (`--eval DATA`) or "calibration".
        public var source: String
        public var metric = "1 - cosine"
        /// `1 - cosine` of the worst float output (the `--max-drop` metric).
        public var drop: Double
        public var outputs: [OutputAgreement]
        public var layers: [LayerError]
    }

    public struct KeptLayer: Codable, Sendable {
        public var node: String
        public var opType: String
        /// How much keeping this layer in float alone lowered the metric (one-layer-at-a-time), when measured.
        public var gain: Double?
        public var sqnr: Double?
        public var reason: String
    }

    public struct Timings: Codable, Sendable {
        public var preOptimize = 0.0
        public var calibration = 0.0
        public var emit = 0.0
        public var report = 0.0
        public var total = 0.0
    }

    public init(config: QuantizationConfig, table: CalibrationTable?, emit: EmitReport, preOptimized: Bool) {
        mode = config.mode.rawValue
        format = config.format.rawValue
        target = config.target?.rawValue
        method = table?.method.rawValue
        calibrationSamples = table?.samples
        self.preOptimized = preOptimized
        quantizedNodes = emit.quantizedNodes
        skipped = emit.skipped
        notes = emit.notes
        tensors = emit.tensors.map { p in
            let observed = table?.observed[p.tensor]
            let chosen = table?.ranges[p.tensor]
            return TensorEntry(tensor: p.tensor, type: p.type, scale: p.scale, zeroPoint: p.zeroPoint, axis: p.axis,
                               blockSize: p.blockSize, observed: observed, chosen: chosen,
                               clippedFraction: Self.clippedFraction(observed: observed, chosen: chosen))
        }
    }

    /// `1 - width(observed ∩ chosen) / width(observed)`; 0 for a constant tensor; nil without both ranges.
    public static func clippedFraction(observed: TensorRange?, chosen: TensorRange?) -> Double? {
        guard let o = observed, let c = chosen else { return nil }
        let width = Double(o.max) - Double(o.min)
        guard width > 0, width.isFinite else { return 0 }
        let kept = max(0, min(Double(o.max), Double(c.max)) - max(Double(o.min), Double(c.min)))
        return max(0, 1 - kept / width)
    }
}
