import Testing
import KilnIR
import KilnEvaluator
import KilnQuantization
import KilnTestSupport

/// Deliberately wrong models, each flagged by `TargetCheck` with the right rule and reason; Kiln's own
/// `--target` quantize outputs pass with no finding.
@Suite struct TargetCheckTests {
    typealias Target = QuantizationConfig.Target

    static func int8(_ values: [Int8], dims: [Int]) -> Tensor { TensorValue(shape: dims, values).irTensor(name: "") }
    static func uint8(_ values: [UInt8], dims: [Int]) -> Tensor { TensorValue(shape: dims, values).irTensor(name: "") }

    /// x -> QuantizeLinear(s, zp) -> DequantizeLinear(s, zp) -> y with a given zero point.
    static func qdq(zeroPoint: Tensor, opset: Int = 21) -> Model {
        var b = ModelBuilder(opset: opset)
        b.input("x", [4])
        b.floats("s", [0.1], [])
        b.initializer("zp", zeroPoint)
        b.node("QuantizeLinear", ["x", "s", "zp"], ["q"], name: "q")
        b.node("DequantizeLinear", ["q", "s", "zp"], ["y"], name: "dq")
        b.output("y", .float, [.value(4)])
        return b.model
    }

    static func weightOnly(bits: Int, blockSize: Int) -> QuantizationConfig {
        var c = makeConfig(.weightOnly)
        c.bits = bits
        c.blockSize = blockSize
        return c
    }

    static func rules(_ f: [TargetFinding], node: String) -> [String] { f.filter { $0.node == node }.map(\.rule) }

    @Test func cleanFloatModelPassesEveryTarget() {
        for target in Target.allCases {
            #expect(TargetCheck.findings(EmitterFixtures.cnn(), target: target) == [], "\(target)")
        }
    }

    @Test func nonZeroZeroPointIsFlaggedForTensorRTOnly() {
        let m = Self.qdq(zeroPoint: Self.int8([3], dims: []))
        let f = TargetCheck.findings(m, target: .tensorrt)
        #expect(f.contains { $0.node == "q" && $0.rule == "quantization" && $0.reason.contains("zero point 3 is not 0") })
        #expect(f.contains { $0.node == "dq" && $0.reason.contains("zero point 3 is not 0") })
        #expect(f.allSatisfy { $0.fix == "kiln quantize --target tensorrt (on the float model)" })
        #expect(TargetCheck.findings(m, target: .openvino) == [])
        #expect(TargetCheck.findings(m, target: .onnxruntime) == [])
        #expect(TargetCheck.findings(Self.qdq(zeroPoint: Self.int8([0], dims: [])), target: .tensorrt) == [])
        let u = TargetCheck.findings(Self.qdq(zeroPoint: Self.uint8([128], dims: [])), target: .tensorrt)
        #expect(u.contains { $0.reason.contains("uint8 is not supported") })
    }

    @Test func qoperatorAndIntegerOpsAreFlagged() throws {
        let model = EmitterFixtures.cnn()
        let table = try EmitterFixtures.calibrate(model)
        let (qop, _) = try QuantizationEmitter.emit(model, config: staticConfig(.qoperator), table: table)
        // TensorRT: its quantization rule names the operator (one finding per node); TVM: the operator list.
        for (target, rule) in [(Target.tensorrt, "quantization"), (.tvm, "op.unsupported")] {
            let f = TargetCheck.findings(qop, target: target)
            #expect(f.filter { $0.node == "conv1_quant" }.map(\.rule) == [rule], "\(target)")
            #expect(f.contains { $0.node == "conv1_quant" && $0.op == "QLinearConv"
                                 && $0.fix == "kiln quantize --target \(target.rawValue) (on the float model)" }, "\(target)")
        }
        // TVM 0.27 converts MatMulInteger; TensorRT does not. OpenVINO compiles both forms (measured).
        #expect(TargetCheck.findings(qop, target: .tensorrt).contains { $0.op == "MatMulInteger" && $0.rule == "quantization" })
        #expect(!TargetCheck.findings(qop, target: .tvm).contains { $0.op == "MatMulInteger" })
        #expect(TargetCheck.findings(qop, target: .openvino) == [])
        #expect(TargetCheck.findings(qop, target: .onnxruntime) == [])
        let (dyn, _) = try QuantizationEmitter.emit(model, config: makeConfig(.dynamic), table: nil)
        let f = TargetCheck.findings(dyn, target: .tensorrt)
        #expect(f.filter { $0.op == "DynamicQuantizeLinear" }.allSatisfy { $0.rule == "quantization" })
        #expect(f.contains { $0.op == "DynamicQuantizeLinear" && $0.reason.contains("TensorRT parses QuantizeLinear/DequantizeLinear only") })
        #expect(TargetCheck.findings(dyn, target: .tvm).contains { $0.op == "ConvInteger" && $0.rule == "op.unsupported" })
    }

    @Test(arguments: [(Target.tensorrt, Int64(8), "kiln convert --opset 9"), (.tensorrt, 25, "kiln convert --opset 24"),
                      (.openvino, 6, nil), (.onnxruntime, 6, nil)] as [(Target, Int64, String?)])
    func opsetOutOfRange(target: Target, opset: Int64, fix: String?) {
        var b = ModelBuilder(opset: Int(opset))
        b.input("x", [2])
        b.node("Relu", ["x"], ["y"], name: "relu")
        b.output("y", .float, [.value(2)])
        let f = TargetCheck.findings(b.model, target: target)
        #expect(f == [TargetFinding(node: nil, op: nil, rule: "opset.range",
                                    reason: "ai.onnx opset \(opset) is outside \(TargetProfile.of(target).opsets.lowerBound)...\(TargetProfile.of(target).opsets.upperBound) (\(TargetProfile.of(target).consumer))",
                                    fix: fix)])
    }

    @Test func float64AndInt64AreFlaggedForTensorRT() {
        var b = ModelBuilder()
        b.input("x", [2], .double)
        b.ints("big", [Int64(Int32.max) + 1, 1])
        b.ints("starts", [0])
        b.ints("ends", [Int64.max])
        b.node("Cast", ["x"], ["xf"], name: "cast", [Attribute("to", .int(Int64(DataType.float.rawValue)))])
        b.node("Slice", ["xf", "starts", "ends"], ["s"], name: "slice")
        b.node("Cast", ["big"], ["bf"], name: "cast_big", [Attribute("to", .int(Int64(DataType.float.rawValue)))])
        b.node("Add", ["s", "bf"], ["y"], name: "add")
        b.output("y", .float, [.value(2)])
        let f = TargetCheck.findings(b.model, target: .tensorrt)
        #expect(f.contains { $0.node == nil && $0.rule == "dtype.double" && $0.reason.contains("'x'") && $0.reason.contains("FLT_MAX") })
        #expect(Self.rules(f, node: "cast_big") == ["dtype.int64-clamped"])
        #expect(f.first { $0.node == "cast_big" }?.reason.contains("2147483648") == true)
        #expect(Self.rules(f, node: "slice") == [])  // Slice ends of INT64_MAX are exempt.
        #expect(TargetCheck.findings(b.model, target: .openvino) == [])
    }

    @Test func stringAndContribOps() {
        var b = ModelBuilder()
        b.input("x", [2])
        b.node("FusedMatMul", ["x", "x"], ["m"], name: "fused", domain: "com.microsoft")
        b.node("Cast", ["m"], ["y"], name: "to_string", [Attribute("to", .int(Int64(DataType.string.rawValue)))])
        b.output("y", .string, [.value(2)])
        var model = b.model
        model.opsetImports.append(OpsetImport(domain: "com.microsoft", version: 1))
        let trt = TargetCheck.findings(model, target: .tensorrt)
        #expect(trt.contains { $0.node == "fused" && $0.rule == "op.domain" && $0.reason.contains("not portable") })
        #expect(trt.contains { $0.node == "to_string" && $0.rule == "dtype.string" })
        #expect(TargetCheck.findings(model, target: .tvm).contains { $0.node == "to_string" && $0.rule == "dtype.string" })
        #expect(TargetCheck.findings(model, target: .onnxruntime) == [])
        #expect(TargetCheck.findings(model, target: .openvino).map(\.rule) == ["op.domain"])
    }

    @Test func blockQuantizedDequantizeIsFlaggedForTVM() throws {
        let (q, _) = try QuantizationEmitter.emit(EmitterFixtures.embedding(), config: Self.weightOnly(bits: 4, blockSize: 16), table: nil)
        let f = TargetCheck.findings(q, target: .tvm)
        #expect(f.contains { $0.node == "w_DequantizeLinear" && $0.rule == "quantization" && $0.reason.contains("block_size 16") })
        #expect(f.contains { $0.reason.contains("int4 is not supported by TVM") && $0.fix == "kiln quantize --target tvm (on the float model)" })
        #expect(TargetCheck.findings(q, target: .onnxruntime) == [])
    }

    @Test func sequenceOpsForTensorRTAndCeluForTVM() {
        var b = ModelBuilder()
        b.input("x", [2])
        b.node("SequenceConstruct", ["x", "x"], ["seq"], name: "seq")
        b.node("ConcatFromSequence", ["seq"], ["c"], name: "cat", [Attribute("axis", .int(0))])
        b.node("Celu", ["c"], ["y"], name: "celu")
        b.output("y", .float, [.value(4)])
        let trt = TargetCheck.findings(b.model, target: .tensorrt)
        #expect(Self.rules(trt, node: "seq") == ["op.unsupported"] && Self.rules(trt, node: "cat") == ["op.unsupported"])
        #expect(Self.rules(trt, node: "celu") == [])
        let tvm = TargetCheck.findings(b.model, target: .tvm)
        #expect(tvm.map(\.node) == ["celu"] && tvm[0].reason.contains("convert map"))
        #expect(TargetCheck.findings(b.model, target: .openvino) == [])
    }

    @Test(arguments: Target.allCases)
    func kilnTargetQuantizeOutputsPass(target: Target) throws {
        for model in [EmitterFixtures.cnn(), EmitterFixtures.mlp(), EmitterFixtures.attention(), EmitterFixtures.convTranspose()] {
            let table = try EmitterFixtures.calibrate(model)
            let config = QuantizationConfig.preset(target, base: staticConfig())
            let (q, _) = try QuantizationEmitter.emit(model, config: config, table: table)
            #expect(TargetCheck.findings(q, target: target) == [], "\(target)")
        }
        let wo = QuantizationConfig.preset(target, base: Self.weightOnly(bits: 8, blockSize: 16))
        let (q, _) = try QuantizationEmitter.emit(EmitterFixtures.embedding(), config: wo, table: nil)
        #expect(TargetCheck.findings(q, target: target) == [], "\(target)")
    }

    @Test func findingDescriptionNamesNodeRuleAndFix() {
        let f = TargetFinding(node: "n", op: "QLinearConv", rule: "op.unsupported", reason: "r", fix: "kiln quantize --target tensorrt")
        #expect(f.description == "node 'n' (QLinearConv): [op.unsupported] r (fix: kiln quantize --target tensorrt)")
    }

    /// `kiln optimize --target` leaves out fusions into operators a consumer rejects or that its opset
    /// range does not reach (Gelu 20, LayerNormalization 17, RMSNormalization 23, Attention 23).
    @Test func fusionsIntoRejectedOrTooNewOperatorsAreSkipped() {
        #expect(TargetProfile.tensorrt.fusionPassesToSkip().isEmpty)  // opsets 9-24: all four exist
        var old = TargetProfile.tensorrt
        old.opsets = 9...17
        #expect(old.fusionPassesToSkip() == ["fuse-gelu", "fuse-rmsnorm", "fuse-attention"])
        var rejects = TargetProfile.onnxruntime
        rejects.unsupportedOps["Gelu"] = "planted"
        #expect(rejects.fusionPassesToSkip() == ["fuse-gelu"])
    }
}
