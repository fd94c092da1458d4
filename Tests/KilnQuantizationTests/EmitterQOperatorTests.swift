import Testing
import KilnIR
import KilnQuantization
import KilnTestSupport

@Suite struct EmitterQOperatorTests {
    func config(perChannel: Bool = true, activation: DataType = .uint8) -> QuantizationConfig {
        staticConfig(.qoperator, perChannel: perChannel, activation: activation)
    }

    @Test(arguments: [DataType.uint8, .int8])
    func cnnChainsQLinearConvsWithoutDequantizingBetween(activation: DataType) throws {
        let model = EmitterFixtures.cnn()
        let table = try EmitterFixtures.calibrate(model)
        let (q, report) = try QuantizationEmitter.emit(model, config: config(activation: activation), table: table)
        expectValidQuantized(q, from: model)
        #expect(report.quantizedNodes == ["conv1", "conv2", "fc"])
        let convs = q.ops("QLinearConv")
        #expect(convs.count == 2)
        // Per-channel weights and int32 bias on conv1.
        let c1 = try #require(convs.first { $0.name == "conv1_quant" })
        #expect(q.graph.constantTensor(c1.inputs[4]!)?.dims == [4])
        #expect(q.graph.constantTensor(c1.inputs[8]!)?.dataType == .int32)
        #expect(q.graph.constantTensor(c1.inputs[7]!)?.dataType == activation)
        // Gemm: QuantizeLinear + MatMulInteger + rescale (no QLinear form in the standard domain).
        #expect(q.ops("MatMulInteger").count == 1 && q.ops("Gemm").isEmpty)
        // Entry Q on x only; conv1's output is dequantized for the float Relu, then re-quantized for conv2.
        let quantized = Set(q.ops("QuantizeLinear").map { q.graph.name(of: $0.inputs[0]!) })
        #expect(quantized == ["x", "r1", "f"])
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.06 * mag, "max error \(err) of \(mag)")
    }

    @Test func matMulChainReadsTheIntegerFormDirectly() throws {
        var b = ModelBuilder()
        b.input("x", [2, 8])
        b.floats("w1", EmitterFixtures.floats(64, seed: 41), [8, 8])
        b.floats("w2", EmitterFixtures.floats(32, seed: 42), [8, 4])
        b.node("MatMul", ["x", "w1"], ["h"], name: "mm1")
        b.node("MatMul", ["h", "w2"], ["y"], name: "mm2")
        b.output("y", .float, [.value(2), .value(4)])
        let model = b.model
        let (q, _) = try QuantizationEmitter.emit(model, config: config(), table: try EmitterFixtures.calibrate(model))
        expectValidQuantized(q, from: model)
        #expect(q.ops("QLinearMatMul").count == 2)
        #expect(q.ops("QuantizeLinear").count == 1)  // only at the entry
        #expect(q.ops("DequantizeLinear").count == 1)  // only at the exit (h is read by nobody in float)
        let mm2 = try #require(q.ops("QLinearMatMul").first { $0.name == "mm2_quant" })
        #expect(q.graph.name(of: mm2.inputs[0]!) == "h_quantized")
        #expect(q.graph.constantTensor(mm2.inputs[4]!)?.dims == [])  // per-tensor weights
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func int8ActivationsWithUint8WeightsAreRefused() {
        var c = config(activation: .int8)
        c.weightType = .uint8
        #expect(throws: KilnError.self) { try QuantizationEmitter.emit(EmitterFixtures.mlp(), config: c, table: nil) }
    }
}
