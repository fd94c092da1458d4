import Testing
import KilnIR
import KilnEvaluator
import KilnQuantization
import KilnTestSupport

@Suite struct EmitterWeightOnlyTests {
    func config(bits: Int, blockSize: Int, weight: DataType = .int8, symmetric: Bool = true) -> QuantizationConfig {
        var c = QuantizationConfig()
        c.mode = .weightOnly
        c.bits = bits
        c.blockSize = blockSize
        c.weightType = weight
        c.symmetricWeights = symmetric
        return c
    }

    @Test(arguments: [(4, DataType.int8, true), (4, .uint8, false), (8, .int8, true), (8, .uint8, false)])
    func blockWiseStructureAndNumbers(bits: Int, weight: DataType, symmetric: Bool) throws {
        let model = EmitterFixtures.embedding()
        let (q, report) = try QuantizationEmitter.emit(model, config: config(bits: bits, blockSize: 16, weight: weight, symmetric: symmetric),
                                                       table: nil)
        expectValidQuantized(q, from: model)
        #expect(report.quantizedNodes == ["embed", "proj"])
        let type: DataType = bits == 4 ? (weight == .int8 ? .int4 : .uint4) : weight
        let w = try #require(q.constant("w_quantized"))
        #expect(w.dataType == type && w.dims == [64, 48])
        if bits == 4 { #expect(w.payloadByteCount == 64 * 48 / 2) }  // two 4-bit values per byte
        #expect(q.constant("w_scale")?.dims == [4, 48])  // 64 / 16 blocks along K
        #expect(q.constant("emb_scale")?.dims == [32, 4])  // Gather table: blocks along D
        let dq = try #require(q.ops("DequantizeLinear").first { $0.name == "w_DequantizeLinear" })
        #expect((try? dq.int("block_size")) == 16 && (try? dq.int("axis")) == 0)
        #expect(dq.inputs.count == (symmetric && weight == .int8 ? 2 : 3))
        #expect(q.ops("MatMul").count == 1 && q.ops("Gather").count == 1)  // activations stay float
        let p = try #require(report.tensors.first { $0.tensor == "w" })
        #expect(p.blockSize == 16 && p.scale.count == 4 * 48)
        let (err, mag) = try EmitterFixtures.maxError(model, q)
        #expect(err <= (bits == 4 ? 0.2 : 0.02) * mag, "max error \(err) of \(mag)")
    }

    @Test func int4NibblesArePackedLowFirst() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2])
        b.floats("w", [0.7, -0.1, 0.2, -0.7], [2, 2])
        b.node("MatMul", ["x", "w"], ["y"], name: "mm")
        b.output("y", .float, [.value(1), .value(2)])
        let (q, _) = try QuantizationEmitter.emit(b.model, config: config(bits: 4, blockSize: 2), table: nil)
        let w = try #require(q.constant("w_quantized"))
        // Column 0 block {0.7, 0.2}: scale 0.1 -> {7, 2}; column 1 {-0.1, -0.7}: scale 0.1 -> {-1, -7}.
        // Row-major [7, -1, 2, -7] as nibbles: 0x7, 0xF, 0x2, 0x9 -> bytes 0xF7, 0x92.
        guard case .raw(let bytes) = w.storage else { Issue.record("not raw"); return }
        #expect(Array(bytes.withUnsafeBytes { Array($0) }) == [0xF7, 0x92])
        #expect(q.opsetVersion(for: "") == 21 && q.irVersion >= 10)
    }

    @Test func opsetBelow21IsRaisedOrRefused() throws {
        let (q, report) = try QuantizationEmitter.emit(EmitterFixtures.mlp(opset: 17), config: config(bits: 4, blockSize: 4), table: nil)
        #expect(q.opsetVersion(for: "") == 21)
        #expect(report.notes.contains { $0.contains("17 to 21") })
        // ReduceMean's axes move from attribute to input at 18: the model is converted, not just relabeled.
        var b = ModelBuilder(opset: 17)
        b.input("x", [2, 8])
        b.floats("w", EmitterFixtures.floats(32, seed: 9), [8, 4])
        b.node("MatMul", ["x", "w"], ["h"], name: "mm")
        b.node("ReduceMean", ["h"], ["y"], name: "mean", [Attribute("axes", .ints([1]))])
        b.output("y", .float, [.value(2), .value(1)])
        let (c, r2) = try QuantizationEmitter.emit(b.model, config: config(bits: 8, blockSize: 4), table: nil)
        #expect(c.opsetVersion(for: "") == 21)
        #expect(r2.notes.contains { $0.contains("converted from 17 to 21") && $0.contains("ReduceMean 'mean'") })
        expectValidQuantized(c, from: b.model)
        let (err, mag) = try EmitterFixtures.maxError(b.model, c)
        #expect(err <= 0.02 * mag, "max error \(err) of \(mag)")
    }

    @Test func perChannelWhenBlockSizeIsZero() throws {
        let model = EmitterFixtures.embedding()
        let (q, _) = try QuantizationEmitter.emit(model, config: config(bits: 8, blockSize: 0), table: nil)
        expectValidQuantized(q, from: model)
        #expect(q.constant("w_scale")?.dims == [48])
        #expect(q.ops("DequantizeLinear").allSatisfy { $0.attribute("block_size") == nil })
    }
}
