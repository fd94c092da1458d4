import KilnIR

extension QuantizationConfig {
    /// The target's rules applied over `base`:
    /// - TensorRT: QDQ only; int8 activations and weights, symmetric (zero point 0 everywhere), weights in
    ///   [-127, 127] (reduce range) and per channel, activations per tensor, Q/DQ on inputs only.
    ///   Dynamic mode stays refused by the emitter (TensorRT has no dynamic quantization).
    /// - OpenVINO: QDQ (it turns each Q/DQ pair into FakeQuantize); asymmetric ranges allowed.
    /// - onnxruntime: as given (QDQ or QOperator).
    /// - TVM: QDQ, per tensor or per channel, no block size and no 4-bit types
    ///   (weight-only becomes 8-bit per channel).
    public static func preset(_ target: Target, base: QuantizationConfig) -> QuantizationConfig {
        var c = base
        c.target = target
        switch target {
        case .tensorrt:
            c.format = .qdq
            c.activationType = .int8
            c.weightType = c.mode == .weightOnly && c.bits == 4 ? .int4 : .int8
            c.symmetricActivations = true
            c.symmetricWeights = true
            c.reduceRange = true
            c.perChannel = true
        case .openvino:
            c.format = .qdq
        case .onnxruntime:
            break
        case .tvm:
            c.format = .qdq
            if c.mode == .weightOnly { c.blockSize = 0; c.bits = 8 }
        }
        return c
    }
}
