import Testing
import KilnIR
import KilnEvaluator
import KilnQuantization
import KilnTestSupport

@Suite struct EmitterQDQTests {
    @Test(arguments: [false, true])
    func cnnStructureAndNumbers(perChannel: Bool) throws {
        let model = EmitterFixtures.cnn()
        let table = try EmitterFixtures.calibrate(model)
        let (q, report) = try QuantizationEmitter.emit(model, config: staticConfig(perChannel: perChannel), table: table)
        expectValidQuantized(q, from: model)
        #expect(report.quantizedNodes == ["conv1", "conv2", "fc"])
        // Weights: int8 initializers behind a DequantizeLinear; per-channel on the output-channel axis.
        let w1 = try #require(q.constant("w1_quantized"))
        #expect(w1.dataType == .int8 && w1.dims == [4, 3, 3, 3])
        #expect(q.constant("w1") == nil)  // the float weight is gone
        let dqW1 = try #require(q.ops("DequantizeLinear").first { $0.name == "w1_DequantizeLinear" })
        #expect((try? dqW1.int("axis")) == (perChannel ? 0 : nil))
        let wfParams = try #require(report.tensors.first { $0.tensor == "wf" })
        #expect(wfParams.axis == (perChannel ? 0 : nil))  // Gemm transB = 1: axis 0
        #expect(wfParams.scale.count == (perChannel ? 5 : 1))
        #expect(wfParams.zeroPoint.allSatisfy { $0 == 0 })
        // Bias: int32 with scale x_scale * w_scale, zero point 0.
        let b1 = try #require(q.constant("b1_quantized"))
        #expect(b1.dataType == .int32)
        let b1Params = try #require(report.tensors.first { $0.tensor == "b1" })
        let xParams = try #require(report.tensors.first { $0.tensor == "x" })
        let w1Params = try #require(report.tensors.first { $0.tensor == "w1" })
        #expect(abs(b1Params.scale[0] - xParams.scale[0] * w1Params.scale[0]) < 1e-12)
        #expect(xParams.type == "uint8")
        // Activations: one Q/DQ pair per tensor (x, c1, r1, c2, f; y is read by no node).
        let quantizeInputs = q.ops("QuantizeLinear").map { q.graph.name(of: $0.inputs[0]!) }
        #expect(Set(quantizeInputs) == ["x", "c1", "r1", "c2", "f"])
        #expect(report.floatEquivalents["y"] == "y")
        #expect(quantizeInputs.count == Set(quantizeInputs).count)
        #expect(report.floatEquivalents["c1"] == "c1_dequantized")
        // Numbers: the final Gemm reads f quantized with step s_f and weights with step s_w; its
        // own rounding bound is K * (max|w| * s_f + max|f| * s_w) / 2, and earlier layers add theirs:
        // allow four times that bound.
        let fScale = Double(try #require(report.tensors.first { $0.tensor == "f" }).scale[0])
        let fRange = try #require(EmitterFixtures.calibrate(model).ranges["f"])
        let wf = try #require(model.constant("wf")).floatValues
        let bound = 4 * (fScale * Double(wf.map(abs).max()!) + Double(wfParams.scale.max()!) * Double(max(-fRange.min, fRange.max))) / 2 * 4
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= bound, "max error \(err) (bound \(bound), output magnitude \(mag))")
        print("qdq cnn perChannel=\(perChannel): max abs error \(err) of output magnitude \(mag), bound \(bound)")
    }

    @Test func convTransposeWeightsArePerChannelOnAxisOne() throws {
        let model = EmitterFixtures.convTranspose()
        let (q, report) = try QuantizationEmitter.emit(model, config: staticConfig(), table: try EmitterFixtures.calibrate(model))
        expectValidQuantized(q, from: model)
        let dq = try #require(q.ops("DequantizeLinear").first { $0.name == "w_DequantizeLinear" })
        #expect((try? dq.int("axis")) == 1)
        #expect(report.tensors.first { $0.tensor == "w" }?.scale.count == 3)
        #expect(q.constant("b_quantized")?.dataType == .int32)
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.03 * mag, "max error \(err) of \(mag)")
        // Dynamic mode has no integer ConvTranspose: skipped with the reason, and nothing else to do.
        var dynamic = QuantizationConfig()
        dynamic.mode = .dynamic
        #expect { try QuantizationEmitter.emit(model, config: dynamic, table: nil) } throws: { error in
            (error as? KilnError)?.message.contains("no integer form") == true
        }
    }

    @Test func sharedActivationGetsOneQDQPair() throws {
        var b = ModelBuilder()
        b.input("x", [2, 4])
        b.floats("wa", EmitterFixtures.floats(12, seed: 1), [4, 3])
        b.floats("wb", EmitterFixtures.floats(12, seed: 2), [4, 3])
        b.node("MatMul", ["x", "wa"], ["a"], name: "ma")
        b.node("MatMul", ["x", "wb"], ["b"], name: "mb")
        b.node("Add", ["a", "b"], ["y"], name: "sum")
        b.output("y", .float, [.value(2), .value(3)])
        let model = b.model
        var config = staticConfig()
        config.target = .tensorrt  // inputs only
        let (q, _) = try QuantizationEmitter.emit(model, config: config, table: try EmitterFixtures.calibrate(model))
        expectValidQuantized(q, from: model)
        #expect(q.ops("QuantizeLinear").count == 1)
        let dq = try #require(q.graph.valueID(named: "x_dequantized"))
        #expect(q.graph[value: dq].uses.count == 2)
    }

    @Test func activationTimesActivationMatMulQuantizesBothInputs() throws {
        let model = EmitterFixtures.attention()
        let plan = try QuantizationEmitter.plan(model, config: staticConfig())
        #expect(plan.nodes == ["q_proj", "k_proj", "scores"])
        #expect(plan.activationTensors.isSuperset(of: ["q", "kt", "x"]))
        let (q, _) = try QuantizationEmitter.emit(model, config: staticConfig(), table: try EmitterFixtures.calibrate(model))
        expectValidQuantized(q, from: model)
        let scores = try #require(q.ops("MatMul").first { $0.name == "scores" })
        #expect(scores.inputs.map { q.graph.name(of: $0!) } == ["q_dequantized", "kt_dequantized"])
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func weightsFromConstantNodesAreFoldedAndQuantized() throws {
        var b = ModelBuilder()
        b.input("x", [2, 4])
        b.ints("shape", [4, 3])
        b.node("Constant", [], ["w"], name: "wconst",
               [Attribute("value", .tensor(.float32(EmitterFixtures.floats(12, seed: 3), dims: [4, 3])))])
        b.node("ConstantOfShape", ["shape"], ["w2"], name: "ones",
               [Attribute("value", .tensor(.float32([0.5], dims: [1])))])
        b.node("MatMul", ["x", "w"], ["h"], name: "m1")
        b.node("MatMul", ["x", "w2"], ["x2"], name: "m2")
        b.node("Add", ["h", "x2"], ["y"], name: "add")
        b.output("y", .float, [.value(2), .value(3)])
        let model = b.model
        let (q, report) = try QuantizationEmitter.emit(model, config: staticConfig(), table: try EmitterFixtures.calibrate(model))
        #expect(Set(report.quantizedNodes) == ["m1", "m2"])
        #expect(q.ops("Constant").isEmpty && q.ops("ConstantOfShape").isEmpty)
        #expect(report.notes.contains { $0.contains("folded") })
        expectValidQuantized(q, from: model)
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag)
    }

    @Test func skipReasonsAndSelection() throws {
        let model = EmitterFixtures.cnn()
        var config = staticConfig()
        config.excludeNodes = ["conv2"]
        config.excludeOps = ["Gemm"]
        let plan = try QuantizationEmitter.plan(model, config: config)
        #expect(plan.nodes == ["conv1"])
        #expect(plan.skipped.contains { $0.node == "conv2" && $0.reason.contains("--exclude-node") })
        #expect(plan.skipped.contains { $0.node == "fc" && $0.reason.contains("--exclude-op") })
        var include = staticConfig()
        include.includeNodes = ["fc"]
        let p2 = try QuantizationEmitter.plan(model, config: include)
        #expect(p2.nodes == ["fc"])
        #expect(p2.skipped.count == 2 && p2.skipped.allSatisfy { $0.reason.contains("--include-node") })
        // A MatMul whose weight is computed from an input is skipped in dynamic mode with its reason.
        var dynamic = QuantizationConfig()
        dynamic.mode = .dynamic
        let p3 = try QuantizationEmitter.plan(EmitterFixtures.attention(), config: dynamic)
        #expect(p3.skipped.contains { $0.node == "scores" && $0.reason.contains("not a constant") })
    }

    @Test func badInput() throws {
        var b = ModelBuilder()
        b.input("x", [2, 4])
        b.node("Relu", ["x"], ["y"], name: "relu")
        b.output("y", .float, [.value(2), .value(4)])
        #expect { try QuantizationEmitter.emit(b.model, config: staticConfig(), table: nil) } throws: { error in
            let e = try #require(error as? KilnError)
            return e.code == .invalidInput && e.message.contains("no quantizable op")
        }
        let model = EmitterFixtures.mlp()
        #expect { try QuantizationEmitter.emit(model, config: staticConfig(), table: nil) } throws: { error in
            (error as? KilnError)?.message.contains("calibration") == true
        }
        var table = try EmitterFixtures.calibrate(model)
        table.ranges["hr"] = nil
        #expect { try QuantizationEmitter.emit(model, config: staticConfig(), table: table) } throws: { error in
            let m = (error as? KilnError)?.message ?? ""
            return m.contains("'hr'") && m.contains("mm2")
        }
    }

    @Test func opsetIsRaisedForPerChannelOrRefusedNamingTheOp() throws {
        let model = EmitterFixtures.mlp(opset: 11)
        let table = try EmitterFixtures.calibrate(model)
        let (q, report) = try QuantizationEmitter.emit(model, config: staticConfig(), table: table)
        #expect(q.opsetVersion(for: "") == 13)
        #expect(report.notes.contains { $0.contains("raised from 11 to 13") })
        expectValidQuantized(q, from: model)
        // Per tensor needs no raise.
        let (p, _) = try QuantizationEmitter.emit(model, config: staticConfig(perChannel: false), table: table)
        #expect(p.opsetVersion(for: "") == 11)
        // A Softmax (axis semantics change at 13) blocks the plain raise: the model goes through the
        // opset converter instead (opset 6 -> 13), which rewrites the Softmax, and the note says so.
        var b = ModelBuilder(opset: 6)
        b.input("x", [2, 8])
        b.floats("w", EmitterFixtures.floats(32, seed: 9), [8, 4])
        b.node("MatMul", ["x", "w"], ["h"], name: "mm")
        b.node("Softmax", ["h"], ["y"], name: "sm")
        b.output("y", .float, [.value(2), .value(4)])
        let (c, converted) = try QuantizationEmitter.emit(b.model, config: staticConfig(), table: try EmitterFixtures.calibrate(b.model))
        #expect(c.opsetVersion(for: "") == 13)
        #expect(converted.notes.contains { $0.contains("converted from 6 to 13") && $0.contains("Softmax 'sm'") })
        expectValidQuantized(c, from: b.model)
    }

    /// Static mode stores embedding tables int8 behind a DequantizeLinear (BERT's word embeddings are
    /// a fifth of its weights); the Gather needs no activation range. Not for TensorRT.
    @Test func embeddingTablesAreQuantizedInStaticModeExceptForTensorRT() throws {
        let model = EmitterFixtures.embedding()
        let table = try EmitterFixtures.calibrate(model)
        for format in [QuantizationConfig.Format.qdq, .qoperator] {
            let plan = try QuantizationEmitter.plan(model, config: staticConfig(format))
            #expect(plan.nodes == ["embed", "proj"])
            #expect(!plan.activationTensors.contains("ids"))
            let (q, report) = try QuantizationEmitter.emit(model, config: staticConfig(format), table: table)
            expectValidQuantized(q, from: model)
            #expect(report.quantizedNodes.contains("embed"))
            #expect(q.constant("emb_quantized")?.dataType == .int8)
            #expect(q.graph.name(of: try #require(q.ops("Gather").first).inputs[0]!) == "emb_dequantized")
            let (err, mag) = try EmitterFixtures.maxError(model, q)
            #expect(err <= 0.05 * mag, "\(format): max error \(err) of \(mag)")
        }
        let trt = QuantizationConfig.preset(.tensorrt, base: staticConfig())
        #expect(try QuantizationEmitter.plan(model, config: trt).nodes == ["proj"])
    }

    @Test func inputModelIsNotModified() throws {
        let model = EmitterFixtures.cnn()
        let copy = model
        _ = try QuantizationEmitter.emit(model, config: staticConfig(), table: try EmitterFixtures.calibrate(model))
        #expect(model == copy)
    }
}
