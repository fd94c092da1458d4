import KilnIR

/// What one consumer of Kiln's output accepts, as data: the consumer version it describes, the public
/// document it comes from, the default-domain opset range, the operators it rejects, and its data-type
/// rules. Quantization rules are `QuantizationRules` (one place); `TargetCheck` applies both.
///
/// Each entry is either transcribed from the named document or measured against the real consumer
/// (Tests/Interop/test_targets.py); Docs/Targets.md says which.
public struct TargetProfile: Sendable {
    public var target: QuantizationConfig.Target
    /// The consumer and version the rules describe.
    public var consumer: String
    /// The public document the rules come from (title and URL).
    public var source: String
    /// Default-domain (ai.onnx) opsets the consumer parses.
    public var opsets: ClosedRange<Int64>
    /// Default-domain operators the consumer rejects, with the reason.
    public var unsupportedOps: [String: String]
    /// Data types the consumer rejects or changes, with the reason.
    public var dataTypes: [DataType: String]
    /// Custom domains the consumer runs (nodes of any other non-standard domain are flagged).
    public var domains: Set<String>
    /// INT64 constants outside the INT32 range are clamped: TensorRT up to 9.x casts INT64 down to INT32
    /// ("clamping values to +-INT_MAX"); 10.x keeps INT64 only in the layers its matrix lists, so a value
    /// that needs 64 bits is still a portability risk across the 10.x line and older engines.
    public var clampsInt64: Bool

    public static func of(_ target: QuantizationConfig.Target) -> TargetProfile {
        switch target {
        case .tensorrt: tensorrt
        case .openvino: openvino
        case .tvm: tvm
        case .onnxruntime: onnxruntime
        }
    }

    static let sequenceOps = ["ConcatFromSequence", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
                              "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "SplitToSequence"]

    public static let tensorrt = TargetProfile(
        target: .tensorrt,
        consumer: "TensorRT 10.15 ONNX parser (onnx-tensorrt 10.15)",
        source: "onnx-tensorrt, docs/operators.md \"Supported ONNX Operators\" "
            + "(https://github.com/onnx/onnx-tensorrt/blob/main/docs/operators.md); TensorRT Developer Guide, "
            + "\"Explicit Quantization\" (https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html)",
        opsets: 9...24,
        unsupportedOps: Dictionary(uniqueKeysWithValues:
            (["AffineGrid", "Bernoulli", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "CenterCropPad",
              "Col2Im", "Compress", "ConvInteger", "DFT", "Det", "DynamicQuantizeLinear", "ImageDecoder", "MatMulInteger",
              "MaxRoiPool", "MaxUnpool", "MelWeightMatrix", "Multinomial", "NegativeLogLikelihoodLoss", "Optional",
              "OptionalGetElement", "OptionalHasElement", "QLinearConv", "QLinearMatMul", "RegexFullMatch",
              "SoftmaxCrossEntropyLoss", "StringConcat", "StringNormalizer", "StringSplit", "TfIdfVectorizer",
              "Unique"] + sequenceOps)
                .map { ($0, "marked unsupported (N) in the onnx-tensorrt 10.15 operator matrix") }),
        dataTypes: [
            .double: "TensorRT casts DOUBLE down to FLOAT, clamping to +-FLT_MAX (precision lost)",
            .string: "TensorRT has no string tensors",
            .complex64: "TensorRT has no complex tensors", .complex128: "TensorRT has no complex tensors",
            .uint16: "not a TensorRT type", .uint32: "not a TensorRT type", .uint64: "not a TensorRT type",
            .int16: "not a TensorRT type",
        ],
        domains: [],
        clampsInt64: true)

    public static let openvino = TargetProfile(
        target: .openvino,
        consumer: "OpenVINO 2026.4 ONNX frontend (CPU plugin), pip package openvino",
        source: "OpenVINO documentation, \"Supported Operations - ONNX frontend\" "
            + "(https://docs.openvino.ai/2026/documentation/compatibility-and-support/supported-operations.html); "
            + "opset range measured with openvino 2026.4.1 (Tests/Interop/test_targets.py)",
        opsets: 7...28,
        // Measured: Kiln's QOperator (QLinearConv, MatMulInteger) and dynamic (DynamicQuantizeLinear,
        // ConvInteger) outputs compile on CPU too; no default-domain operator is recorded as rejected.
        unsupportedOps: [:],
        dataTypes: [.complex64: "OpenVINO has no complex tensors", .complex128: "OpenVINO has no complex tensors"],
        domains: [],
        clampsInt64: false)

    public static let tvm = TargetProfile(
        target: .tvm,
        consumer: "Apache TVM 0.27 Relax ONNX frontend (tvm.relax.frontend.onnx.from_onnx), LLVM CPU target",
        source: "Apache TVM, python/tvm/relax/frontend/onnx/onnx_frontend.py (convert map) "
            + "(https://github.com/apache/tvm/blob/main/python/tvm/relax/frontend/onnx/onnx_frontend.py); "
            + "operator list = the onnx 1.23 default-domain operators missing from `_get_convert_map()` of "
            + "apache-tvm 0.27.0 (measured; Tests/Interop/test_targets.py re-measures it)",
        opsets: 7...28,
        unsupportedOps: Dictionary(uniqueKeysWithValues:
            ["Bernoulli", "BitCast", "BlackmanWindow", "CausalConvWithState", "Celu", "CenterCropPad", "Col2Im",
             "ConvInteger", "CumProd", "DFT", "DeformConv", "Det", "GRU", "HammingWindow", "HannWindow", "If",
             "ImageDecoder", "LSTM", "LinearAttention", "Loop", "LpNormalization", "MelWeightMatrix", "Multinomial",
             "NegativeLogLikelihoodLoss", "QLinearConv", "QLinearMatMul", "RNN", "RandomNormal", "RandomNormalLike",
             "RandomUniform", "RandomUniformLike", "RegexFullMatch", "ReverseSequence", "RotaryEmbedding", "STFT",
             "Scan", "SequenceMap", "SoftmaxCrossEntropyLoss", "StringConcat", "StringNormalizer", "StringSplit",
             "SwiGLU", "Swish", "TensorScatter", "TfIdfVectorizer"]
                .map { ($0, "not in the Relax ONNX frontend's convert map (apache-tvm 0.27: OpNotImplemented)") }),
        dataTypes: [.string: "TVM has no string tensors",
                    .complex64: "TVM has no complex tensors", .complex128: "TVM has no complex tensors"],
        domains: [],
        clampsInt64: false)

    public static let onnxruntime = TargetProfile(
        target: .onnxruntime,
        consumer: "onnxruntime 1.32 CPU execution provider (pip package onnxruntime)",
        source: "ONNX Runtime, docs/OperatorKernels.md "
            + "(https://github.com/microsoft/onnxruntime/blob/main/docs/OperatorKernels.md); "
            + "opset range measured with onnxruntime 1.32.0 (Tests/Interop/test_targets.py)",
        opsets: 7...28,
        unsupportedOps: [:],
        dataTypes: [:],
        domains: ["com.microsoft", "com.microsoft.nchwc", "ai.onnx.ml"],
        clampsInt64: false)
}
