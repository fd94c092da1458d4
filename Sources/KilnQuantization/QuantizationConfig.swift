import KilnIR

/// The shared vocabulary of `KilnQuantization`: what calibration produces (`TensorRange`,
/// `CalibrationTable`) and what the emitters consume (`QuantizationConfig`).
///
/// Calibration (Calibration/) turns samples into a `CalibrationTable`; an emitter (Emitters/) turns a
/// float model, a config and (for static mode) a table into a quantized model. Neither side knows the
/// other's internals.

/// The float range chosen for one tensor (before scale/zero-point derivation). `min <= 0 <= max` is not
/// required here; the emitter widens the range to include 0 when it derives a scale.
public struct TensorRange: Codable, Sendable, Equatable {
    public var min: Float
    public var max: Float
    public init(min: Float, max: Float) { self.min = min; self.max = max }
}

/// Calibration methods (`--method`).
public enum CalibrationMethod: String, Codable, Sendable, CaseIterable {
    case minmax, percentile, entropy, mse
}

/// Per-tensor ranges chosen by calibration, keyed by value name (graph inputs and node outputs of
/// the main graph). Also what `--calibration-cache` stores.
public struct CalibrationTable: Codable, Sendable, Equatable {
    public var method: CalibrationMethod
    /// Samples the table was computed from.
    public var samples: Int
    public var ranges: [String: TensorRange]
    /// The observed (unclipped) min/max per tensor, for the report's clipping ratio.
    public var observed: [String: TensorRange]
    public init(method: CalibrationMethod, samples: Int, ranges: [String: TensorRange],
                observed: [String: TensorRange] = [:]) {
        self.method = method; self.samples = samples; self.ranges = ranges; self.observed = observed
    }
}

/// What `kiln quantize` is asked to produce.
public struct QuantizationConfig: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case dynamic, `static`, weightOnly = "weight-only" }
    public enum Format: String, Sendable, CaseIterable { case qdq, qoperator }
    public enum Target: String, Sendable, CaseIterable { case tensorrt, openvino, onnxruntime, tvm }

    public var mode: Mode = .static
    public var format: Format = .qdq
    /// int8 or uint8 for activations.
    public var activationType: DataType = .uint8
    /// int8 or uint8 for weights (int4/uint4 for weight-only with bits 4).
    public var weightType: DataType = .int8
    public var perChannel = false
    /// Symmetric activations (zero point 0 for int8, 128 for uint8).
    public var symmetricActivations = false
    /// Symmetric weights (default: yes).
    public var symmetricWeights = true
    /// Weights restricted to [-127, 127] (TensorRT).
    public var reduceRange = false
    /// Op types to quantize; empty = the emitter's default set.
    public var opTypes: Set<String> = []
    public var excludeOps: Set<String> = []
    public var excludeNodes: Set<String> = []
    /// When non-empty, only these nodes are quantized.
    public var includeNodes: Set<String> = []
    /// Weight-only: 4 or 8 bits, block size along the reduction axis.
    public var bits = 8
    public var blockSize = 128
    public var target: Target?

    public init() {}
}
