import Testing
import KilnIR
import KilnQuantization
import KilnTestSupport

@Suite struct EmitterDynamicTests {
    func dynamicConfig(perChannel: Bool, weight: DataType = .int8, symmetric: Bool = true) -> QuantizationConfig {
        makeConfig(.dynamic, perChannel: perChannel, weight: weight, symmetric: symmetric)
    }

    @Test(arguments: [(false, DataType.int8), (true, .int8), (true, .uint8)])
    func cnnStructureAndNumbers(perChannel: Bool, weight: DataType) throws {
        let model = EmitterFixtures.cnn()
        let (q, report) = try QuantizationEmitter.emit(model, config: dynamicConfig(perChannel: perChannel, weight: weight), table: nil)
        expectValidQuantized(q, from: model)
        #expect(report.quantizedNodes == ["conv1", "conv2", "fc"])
        #expect(q.ops("Conv").isEmpty && q.ops("Gemm").isEmpty)
        #expect(q.ops("ConvInteger").count == 2 && q.ops("MatMulInteger").count == 1)
        #expect(q.ops("DynamicQuantizeLinear").count == 3)
        // ConvInteger's weight zero point is one scalar (onnxruntime needs that), scales per channel.
        let conv = try #require(q.ops("ConvInteger").first)
        let wz = try #require(q.graph.constantTensor(conv.inputs[3]!))
        #expect(wz.dims == [] && wz.dataType == weight)
        let ws = try #require(q.constant("w1_scale"))
        #expect(ws.dims == (perChannel ? [4, 1, 1] : []))
        // Conv attributes are kept (pads).
        #expect((try? conv.ints("pads")) == [1, 1, 1, 1])
        // Gemm transB weights are stored [K, N].
        #expect(q.constant("wf_quantized")?.dims == [4, 5])
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func mlpUsesPerColumnZeroPointsForAsymmetricWeights() throws {
        let model = EmitterFixtures.mlp()
        let (q, report) = try QuantizationEmitter.emit(model, config: dynamicConfig(perChannel: true, weight: .uint8, symmetric: false),
                                                       table: nil)
        expectValidQuantized(q, from: model)
        let mm = try #require(q.ops("MatMulInteger").first)
        #expect(q.graph.constantTensor(mm.inputs[3]!)?.dims == [16])
        #expect(report.tensors.first { $0.tensor == "w1" }?.zeroPoint.count == 16)
        // One DynamicQuantizeLinear per activation.
        #expect(q.ops("DynamicQuantizeLinear").count == 2)
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func embeddingTableIsStoredQuantizedBehindADequantizeLinear() throws {
        let model = EmitterFixtures.embedding()
        let (q, report) = try QuantizationEmitter.emit(model, config: dynamicConfig(perChannel: true), table: nil)
        expectValidQuantized(q, from: model)
        #expect(report.quantizedNodes == ["embed", "proj"])
        #expect(q.constant("emb_quantized")?.dataType == .int8)
        #expect(q.constant("emb_scale")?.dims == [32])  // per row
        let gather = try #require(q.ops("Gather").first)
        #expect(q.graph.name(of: gather.inputs[0]!) == "emb_dequantized")
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= 0.05 * mag, "max error \(err) of \(mag)")
    }

    @Test func asymmetricPerChannelConvFallsBackToPerTensorWithANote() throws {
        let (q, report) = try QuantizationEmitter.emit(EmitterFixtures.cnn(), config: dynamicConfig(perChannel: true, symmetric: false),
                                                       table: nil)
        #expect(report.notes.contains { $0.contains("conv1") && $0.contains("per tensor") })
        #expect(q.constant("w1_scale")?.dims == [])
    }

    @Test func tensorrtRefusesDynamicMode() {
        let config = QuantizationConfig.preset(.tensorrt, base: dynamicConfig(perChannel: false))
        #expect(throws: KilnError.self) { try QuantizationEmitter.emit(EmitterFixtures.mlp(), config: config, table: nil) }
    }
}
