import KilnIR
import KilnEvaluator

/// Structural checks of a quantized model against a consumer's quantization rules. Each finding names
/// the node, its operator and the rule.
///
/// Rules (target in brackets; "all" applies to every target):
/// 1. [all] A QuantizeLinear/DequantizeLinear scale is a constant, finite and > 0; a zero point is a
///    constant.
/// 2. [tensorrt, openvino, tvm] No com.microsoft (contrib) quantized operators: only onnxruntime runs them.
/// 3. [tensorrt] No DynamicQuantizeLinear, MatMulInteger, ConvInteger or QLinear* operator (TensorRT
///    parses Q/DQ only).
/// 4. [tensorrt] Q/DQ zero points are present, int8 (int4 for block-wise weight DequantizeLinear)
///    and 0: TensorRT supports symmetric quantization only, and its DequantizeLinear takes no int32
///    (biases stay float).
/// 5. [tensorrt] An activation QuantizeLinear is per tensor (scalar scale).
/// 6. [tensorrt] Quantized int8 weights lie in [-127, 127].
/// 7. [tvm] No block-wise DequantizeLinear (`block_size` > 0) and no 4-bit types: the Relax frontend
///    rejects them.
public enum QuantizationRules {
    static let integerOps: Set<String> = [QOp.dynamicQuantize, QOp.matMulInteger, QOp.convInteger]

    public static func findings(_ model: Model, target: QuantizationConfig.Target) -> [String] {
        var out: [String] = []
        model.forEachGraph { graph, _ in
            for (_, node) in graph.nodes {
                out += findings(node, graph, target: target)
            }
        }
        return out
    }

    static func findings(_ node: Node, _ graph: Graph, target: QuantizationConfig.Target) -> [String] {
        reasons(node, graph, target: target).map { "node '\(node.name)' (\(node.opType)): \($0)" }
    }

    /// The rules `node` breaks for `target`, without the node label (`TargetCheck` structures them).
    static func reasons(_ node: Node, _ graph: Graph, target: QuantizationConfig.Target) -> [String] {
        var out: [String] = []
        func flag(_ rule: String) { out.append(rule) }
        let isDefault = node.domain.isEmpty || node.domain == "ai.onnx"
        if node.domain == "com.microsoft" && target != .onnxruntime && node.opType.contains("Q") {  // rule 2
            flag("com.microsoft contrib operator runs in onnxruntime only (\(target.rawValue) rejects it)")
        }
        guard isDefault else { return out }
        if target == .tensorrt && (integerOps.contains(node.opType) || node.opType.hasPrefix("QLinear")) {  // rule 3
            flag("TensorRT parses QuantizeLinear/DequantizeLinear only; \(node.opType) is not supported (use --format qdq)")
        }
        guard node.opType == QOp.quantize || node.opType == QOp.dequantize else { return out }
        func constant(_ k: Int) -> TensorValue? {
            guard k < node.inputs.count, let v = node.inputs[k], let t = graph.constantTensor(v) else { return nil }
            return try? TensorValue(t)
        }
        let present = { (k: Int) in k < node.inputs.count && node.inputs[k] != nil }
        let scale = constant(1), zeroPoint = constant(2)
        if let scale {  // rule 1
            if let bad = scale.doubles.first(where: { !($0 > 0 && $0.isFinite) }) { flag("scale \(bad) is not a finite positive number") }
        } else if present(1) {
            flag("scale is not a constant")
        }
        if present(2) && zeroPoint == nil { flag("zero point is not a constant") }
        let blockSize = (try? node.int("block_size", default: 0)) ?? 0
        let input = node.inputs.first.flatMap { $0 }
        let weight = node.opType == QOp.dequantize ? constant(0) : nil
        switch target {
        case .tensorrt:
            let type = zeroPoint?.dataType ?? weight?.dataType
            let allowed: Set<DataType> = weight != nil && blockSize > 0 ? [.int8, .int4] : [.int8]
            if !present(2) && node.opType == QOp.quantize {  // rule 4
                flag("zero point omitted: QuantizeLinear then produces uint8 (TensorRT needs int8 with zero point 0)")
            } else if let type, !allowed.contains(type) {
                flag(type == .int32 ? "int32 input is not supported (TensorRT's DequantizeLinear takes int8/int4/fp8; keep biases float)"
                     : "quantized type \(type.name) is not supported (TensorRT needs symmetric int8)")
            }
            if let z = zeroPoint, let nz = z.int64s.first(where: { $0 != 0 }) {
                flag("zero point \(nz) is not 0 (TensorRT needs symmetric int8)")
            }
            if node.opType == QOp.quantize, let input, graph.constantTensor(input) == nil, let scale, scale.count != 1 {  // rule 5
                flag("activation scale has \(scale.count) elements; TensorRT quantizes activations per tensor")
            }
            if let weight, weight.dataType == .int8, weight.int64s.contains(-128) {  // rule 6
                flag("weight holds -128; TensorRT needs int8 weights in [-127, 127]")
            }
        case .tvm:  // rule 7
            if blockSize > 0 { flag("block_size \(blockSize): TVM's Relax frontend rejects block quantization") }
            let type = zeroPoint?.dataType ?? (input.flatMap { graph.constantTensor($0)?.dataType })
            if let type, [.int4, .uint4].contains(type) { flag("\(type.name) is not supported by TVM (int8/uint8 only)") }
        case .openvino, .onnxruntime:
            break
        }
        return out
    }
}
