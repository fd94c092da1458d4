import KilnEvaluator
import KilnIR
import KilnTestSupport
import Testing
@testable import KilnQuantization

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

@Suite struct ReportTests {
    @Test(arguments: [
        (TensorRange(min: -1, max: 1), TensorRange(min: -1, max: 1), 0.0),
        (TensorRange(min: -1, max: 1), TensorRange(min: -2, max: 2), 0.0),
        (TensorRange(min: -1, max: 1), TensorRange(min: -0.5, max: 1), 0.25),
        (TensorRange(min: 0, max: 4), TensorRange(min: 0, max: 1), 0.75),
        (TensorRange(min: 2, max: 2), TensorRange(min: 0, max: 1), 0.0),
    ])
    func clippedFraction(observed: TensorRange, chosen: TensorRange, want: Double) throws {
        let got = try #require(QuantizationReport.clippedFraction(observed: observed, chosen: chosen))
        #expect(abs(got - want) < 1e-9)
    }

    @Test func clippedFractionNeedsBothRanges() {
        #expect(QuantizationReport.clippedFraction(observed: nil, chosen: TensorRange(min: 0, max: 1)) == nil)
    }

    @Test func outputMeterCosineErrorAndTopOne() {
        var m = OutputMeter()
        // two rows of 3 classes: the first agrees (arg-max 2), the second does not (1 vs 0)
        let a = TensorValue(shape: [2, 3], [Float(0), 1, 3, 1, 2, 0])
        let b = TensorValue(shape: [2, 3], [Float(0), 1, 3, 2.5, 2, 0])
        m.add(a, b)
        let s = m.summary(name: "logits")
        let dot = 0.0 + 1 + 9 + 2.5 + 4, na = (1.0 + 9 + 1 + 4).squareRoot(), nb = (1.0 + 9 + 6.25 + 4).squareRoot()
        #expect(abs(s.cosine - dot / (na * nb)) < 1e-12)
        #expect(s.minCosine == s.cosine)
        #expect(s.maxAbsError == 1.5)
        #expect(s.top1Agreement == 0.5)
    }

    @Test func outputMeterZeroVectorsAndNonClassifierOutputs() {
        var m = OutputMeter()
        m.add(TensorValue(shape: [4], [Float](repeating: 0, count: 4)), TensorValue(shape: [4], [Float](repeating: 0, count: 4)))
        #expect(m.summary(name: "y").cosine == 1 && m.summary(name: "y").top1Agreement == nil)
        m.add(TensorValue(shape: [4], [Float](repeating: 0, count: 4)), TensorValue(shape: [4], [Float(1), 0, 0, 0]))
        #expect(m.summary(name: "y").minCosine == 0 && m.summary(name: "y").cosine == 0.5)
    }

    /// The float model against itself: every output has cosine 1, drop 0, and the identity layer pairs are exact.
    @Test func meterOnIdenticalModelsReportsNoError() throws {
        let model = try QuantizeFixtures.model("cnn")
        let data = try QuantizeFixtures.data("cnn_calib", model)
        var meter = try AccuracyMeter(float: model, data: data, threads: 1)
        let emit = EmitReport(quantizedNodes: ["/stem/Conv"], floatEquivalents: ["/stem/Conv_output_0": "/stem/Conv_output_0"])
        let a = try meter.measure(quantized: model, emit: emit, layers: true)
        #expect(a.samples == 8 && a.drop == 0)
        #expect(a.outputs.map(\.name) == ["logits"] && a.outputs[0].maxAbsError == 0 && a.outputs[0].top1Agreement == 1)
        #expect(a.layers.count == 1 && a.layers[0].node == "/stem/Conv" && a.layers[0].opType == "Conv" && a.layers[0].sqnr == nil)
    }

    /// SQNR is 10 log10(signal / noise): a model whose output is scaled by 1.1 has noise 0.01 x signal, 20 dB.
    @Test func sqnrOfAKnownPerturbation() throws {
        func model(_ k: Float) -> Model {
            var b = ModelBuilder(opset: 17)
            b.input("x", [1, 4])
            b.floats("k", [k], [1])
            b.node("Mul", ["x", "k"], ["y"], name: "scale")
            b.output("y")
            return b.model
        }
        let folder = try CalibrationFixture.tempFolder("report")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try CalibrationFixture.writeNpz([("x", TensorValue(shape: [1, 4], [Float(1), -2, 3, 0.5]))], to: folder + "/s0.npz")
        let data = try CalibrationData(path: folder, model: model(1))
        var meter = try AccuracyMeter(float: model(1), data: data, threads: 1)
        let a = try meter.measure(quantized: model(1.1), emit: EmitReport(floatEquivalents: ["y": "y"]), layers: true)
        let sqnr = try #require(a.layers.first?.sqnr)
        #expect(abs(sqnr - 20) < 1e-3)
        #expect(abs(a.drop) < 1e-9, "a scaled output keeps cosine 1")
        #expect(abs(a.outputs[0].maxAbsError - 0.3) < 1e-6)
    }

    @Test func reportEncodesTheDocumentedFieldsAndRendersATable() throws {
        let emit = EmitReport(quantizedNodes: ["conv"], tensors: [
            .init(tensor: "x", scale: [0.1], zeroPoint: [128], type: "uint8"),
            .init(tensor: "w", scale: [0.01, 0.02], zeroPoint: [0, 0], type: "int8", axis: 0),
        ], skipped: [.init(node: "add", opType: "Add", reason: "not a quantizable op")])
        let table = CalibrationTable(method: .percentile, samples: 3, ranges: ["x": TensorRange(min: -1, max: 1)],
                                     observed: ["x": TensorRange(min: -2, max: 2)])
        var config = QuantizationConfig()
        config.target = .tensorrt
        var report = QuantizationReport(config: config, table: table, emit: emit, preOptimized: true)
        report.accuracy = .init(samples: 3, source: "eval", drop: 0.01,
                                outputs: [.init(name: "y", cosine: 0.99, minCosine: 0.98, maxAbsError: 0.5, top1Agreement: 1)],
                                layers: [.init(node: "conv", opType: "Conv", output: "c", sqnr: 31.5)])
        report.keptInFloat = [.init(node: "fc", opType: "Gemm", gain: 0.02, sqnr: 12, reason: "most sensitive")]
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as! [String: Any]
        for key in ["schema", "mode", "format", "target", "method", "calibrationSamples", "preOptimized", "quantizedNodes",
                    "skipped", "notes", "tensors", "accuracy", "keptInFloat", "seconds"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let tensors = json["tensors"] as! [[String: Any]]
        #expect(tensors[0]["clippedFraction"] as? Double == 0.5)
        #expect(tensors[1]["axis"] as? Int == 0 && tensors[1]["observed"] == nil)
        let text = report.table()
        #expect(text.contains("target tensorrt") && text.contains("method percentile on 3 sample(s)"))
        #expect(text.contains("50.00%") && text.contains("31.5") && text.contains("kept in float by --max-drop"))
        #expect(text.contains("fc (Gemm): most sensitive"))
    }

    /// `--max-drop` between the fully quantized drop and 0 keeps layers in float, most sensitive first, and
    /// ends within the budget (or says it cannot).
    @Test func sensitivityKeepsLayersUntilWithinBudget() throws {
        let model = try QuantizeFixtures.model("transformer")
        let data = try QuantizeFixtures.data("transformer_calib", model)
        var options = QuantizeOptions()
        options.measureAccuracy = true
        let full = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: data, options: options)
        let drop = try #require(full.report.accuracy).drop
        #expect(drop > 0)
        options.maxDrop = drop / 2
        do {
            let fit = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: data, options: options)
            #expect(!fit.report.keptInFloat.isEmpty)
            #expect(try #require(fit.report.accuracy).drop <= drop / 2)
            #expect(fit.config.excludeNodes == Set(fit.report.keptInFloat.map(\.node)))
            #expect(fit.report.keptInFloat.allSatisfy { $0.gain != nil && !$0.reason.isEmpty })
            #expect(Set(fit.report.quantizedNodes).isDisjoint(with: fit.config.excludeNodes))
        } catch let e as KilnError {
            #expect(e.code == .checkFailed)
        }
    }
}
