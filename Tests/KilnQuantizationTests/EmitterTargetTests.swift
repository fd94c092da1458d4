import Testing
import KilnIR
import KilnQuantization
import KilnTestSupport

@Suite struct EmitterTargetTests {
    func base(_ mode: QuantizationConfig.Mode) -> QuantizationConfig {
        var c = QuantizationConfig()
        c.mode = mode
        return c
    }

    @Test func tensorrtPresetIsSymmetricInt8PerChannelQDQ() {
        var b = base(.static)
        b.format = .qoperator
        b.activationType = .uint8
        let c = QuantizationConfig.preset(.tensorrt, base: b)
        #expect(c.format == .qdq && c.activationType == .int8 && c.weightType == .int8)
        #expect(c.symmetricActivations && c.symmetricWeights && c.reduceRange && c.perChannel && c.target == .tensorrt)
        let t = QuantizationConfig.preset(.tvm, base: { var w = base(.weightOnly); w.bits = 4; return w }())
        #expect(t.blockSize == 0 && t.bits == 8)
    }

    @Test(arguments: QuantizationConfig.Target.allCases)
    func presetOutputsPassTheirOwnRules(target: QuantizationConfig.Target) throws {
        for model in [EmitterFixtures.cnn(), EmitterFixtures.mlp()] {
            let table = try EmitterFixtures.calibrate(model)
            let config = QuantizationConfig.preset(target, base: base(.static))
            let (q, _) = try QuantizationEmitter.emit(model, config: config, table: table)
            expectValidQuantized(q, from: model)
            #expect(QuantizationRules.findings(q, target: target) == [])
            if target == .tensorrt {
                // Inputs only: no Q/DQ on the outputs of quantized nodes; biases stay float.
                #expect(!q.ops("QuantizeLinear").contains { q.graph.name(of: $0.inputs[0]!) == "y" })
                #expect(q.graph.initializerOrder.allSatisfy { q.graph.constantTensor($0)?.dataType != .int32 })
                let (err, mag) = try EmitterFixtures.maxError(model, q)
                #expect(err <= 0.06 * mag, "max error \(err) of \(mag)")
            }
        }
        let wo = QuantizationConfig.preset(target, base: { var w = base(.weightOnly); w.bits = 8; w.blockSize = 16; return w }())
        let (q, _) = try QuantizationEmitter.emit(EmitterFixtures.embedding(), config: wo, table: nil)
        #expect(QuantizationRules.findings(q, target: target) == [])
    }

    @Test func tensorrtRulesFlagPlantedViolations() throws {
        let model = EmitterFixtures.cnn()
        let table = try EmitterFixtures.calibrate(model)
        // Asymmetric uint8 QDQ: non-zero zero points and uint8.
        var asym = base(.static)
        asym.activationType = .uint8
        let (qdq, _) = try QuantizationEmitter.emit(model, config: asym, table: table)
        let f1 = QuantizationRules.findings(qdq, target: .tensorrt)
        #expect(f1.contains { $0.contains("(QuantizeLinear): zero point") && $0.contains("is not 0") })
        #expect(f1.contains { $0.contains("uint8 is not supported") })
        #expect(f1.contains { $0.contains("'b1_DequantizeLinear' (DequantizeLinear): int32 input is not supported") })
        // QOperator: QLinearConv and MatMulInteger.
        var qop = base(.static)
        qop.format = .qoperator
        let (q2, _) = try QuantizationEmitter.emit(model, config: qop, table: table)
        let f2 = QuantizationRules.findings(q2, target: .tensorrt)
        #expect(f2.contains { $0.contains("'conv1_quant' (QLinearConv)") })
        #expect(f2.contains { $0.contains("(MatMulInteger)") })
        #expect(QuantizationRules.findings(q2, target: .onnxruntime) == [])
        // Dynamic: DynamicQuantizeLinear.
        let (q3, _) = try QuantizationEmitter.emit(model, config: base(.dynamic), table: nil)
        #expect(QuantizationRules.findings(q3, target: .tensorrt).contains { $0.contains("(DynamicQuantizeLinear)") })
        // An int8 weight holding -128 (full range, not reduced).
        var full = QuantizationConfig.preset(.tensorrt, base: base(.static))
        full.reduceRange = false
        full.symmetricWeights = false
        let (q4, _) = try QuantizationEmitter.emit(model, config: full, table: table)
        #expect(QuantizationRules.findings(q4, target: .tensorrt).contains { $0.contains("-128") })
    }

    @Test func tensorrtPutsQDQOnTheResidualInputOfAnAdd() throws {
        // x -> Conv -> Relu -> Conv -> Add(., s) where s = Sigmoid(x) is read by no quantized node.
        var b = ModelBuilder()
        b.input("x", [1, 2, 4, 4])
        b.floats("w1", EmitterFixtures.floats(2 * 2 * 9, seed: 61), [2, 2, 3, 3])
        b.floats("w2", EmitterFixtures.floats(2 * 2 * 9, seed: 62), [2, 2, 3, 3])
        let pads = Attribute("pads", .ints([1, 1, 1, 1]))
        b.node("Conv", ["x", "w1"], ["c1"], name: "conv1", [pads])
        b.node("Relu", ["c1"], ["r"], name: "relu")
        b.node("Conv", ["r", "w2"], ["c2"], name: "conv2", [pads])
        b.node("Sigmoid", ["x"], ["s"], name: "gate")
        b.node("Add", ["c2", "s"], ["y"], name: "residual")
        b.output("y", .float, [.value(1), .value(2), .value(4), .value(4)])
        let model = b.model
        let config = QuantizationConfig.preset(.tensorrt, base: base(.static))
        let plan = try QuantizationEmitter.plan(model, config: config)
        #expect(plan.activationTensors == ["x", "r", "s"])
        let (q, _) = try QuantizationEmitter.emit(model, config: config, table: try EmitterFixtures.calibrate(model))
        expectValidQuantized(q, from: model)
        let add = try #require(q.ops("Add").first)
        #expect(q.graph.name(of: add.inputs[1]!) == "s_dequantized")
        #expect(QuantizationRules.findings(q, target: .tensorrt) == [])
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func tvmRulesFlagBlockSizeAndInt4() throws {
        var wo = base(.weightOnly)
        wo.bits = 4
        wo.blockSize = 16
        let (q, _) = try QuantizationEmitter.emit(EmitterFixtures.embedding(), config: wo, table: nil)
        let f = QuantizationRules.findings(q, target: .tvm)
        #expect(f.contains { $0.contains("'w_DequantizeLinear' (DequantizeLinear): block_size 16") })
        #expect(f.contains { $0.contains("int4 is not supported by TVM") })
        #expect(QuantizationRules.findings(q, target: .onnxruntime) == [])
        var tvm = QuantizationConfig.preset(.tvm, base: wo)
        tvm.blockSize = 32
        #expect(throws: KilnError.self) { try QuantizationEmitter.emit(EmitterFixtures.embedding(), config: tvm, table: nil) }
    }

    @Test func rulesFlagBadScalesAndContribOps() {
        var b = ModelBuilder()
        b.input("x", [2])
        b.floats("s", [-1], [])
        b.initializer("z", .int64([0], dims: []))
        b.node("QuantizeLinear", ["x", "s"], ["q"], name: "bad_q")
        b.node("QLinearAdd", ["q", "s", "q", "s", "q", "s"], ["y"], name: "qadd", domain: "com.microsoft")
        b.output("y", .uint8, [.value(2)])
        let f = QuantizationRules.findings(b.model, target: .openvino)
        #expect(f.contains { $0.contains("'bad_q' (QuantizeLinear): scale -1") })
        #expect(f.contains { $0.contains("'qadd' (QLinearAdd)") && $0.contains("contrib") })
    }
}
