import KilnEvaluator
import KilnIR
import KilnONNX
import KilnTestSupport
import Testing
@testable import KilnQuantization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The committed fixtures of `kiln quantize` (Scripts/make_quantize_fixtures.py).
enum QuantizeFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/quantize").path

    static func model(_ name: String) throws -> Model { try ModelFile.read(folder + "/\(name).onnx") }

    static func data(_ name: String, _ model: Model) throws -> CalibrationData {
        try CalibrationData(path: folder + "/\(name)", model: model)
    }

    static func staticConfig(perChannel: Bool = false, target: QuantizationConfig.Target? = nil) -> QuantizationConfig {
        var c = QuantizationConfig()
        c.mode = .static
        c.perChannel = perChannel
        c.target = target
        return c
    }

    /// The op types of a model's main graph.
    static func ops(_ m: Model) -> [String] { m.graph.nodes.map(\.node.opType) }
}

@Suite struct QuantizerTests {
    @Test func staticPipelineQuantizesTheCNNAndKeepsItsOutputs() throws {
        let model = try QuantizeFixtures.model("cnn")
        let data = try QuantizeFixtures.data("cnn_calib", model)
        var options = QuantizeOptions()
        options.measureAccuracy = true
        let result = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: data, options: options)
        let ops = QuantizeFixtures.ops(result.model)
        #expect(ops.contains("QuantizeLinear") && ops.contains("DequantizeLinear"))
        #expect(result.model.graph.inputs.map { result.model.graph.name(of: $0) } == ["input"])
        #expect(result.model.graph.outputs.map { result.model.graph.name(of: $0) } == ["logits"])
        let report = result.report
        #expect(report.mode == "static" && report.method == "minmax" && report.calibrationSamples == 8)
        #expect(Set(report.quantizedNodes).isSuperset(of: ["/stem/Conv", "/block/Conv", "/head/Gemm"]))
        #expect(report.tensors.contains { $0.chosen != nil && $0.clippedFraction == 0 }, "minmax clips nothing")
        let accuracy = try #require(report.accuracy)
        #expect(accuracy.samples == 8 && accuracy.source == "calibration")
        let logits = try #require(accuracy.outputs.first { $0.name == "logits" })
        #expect(logits.cosine > 0.999 && logits.top1Agreement == 1)
        #expect(accuracy.layers.count == report.quantizedNodes.count)
        #expect(accuracy.layers.allSatisfy { ($0.sqnr ?? 100) > 20 }, "int8 convolutions keep > 20 dB SQNR")
        #expect(result.table != nil)
    }

    @Test func cachedTableGivesTheSameModelAsCalibrating() throws {
        let model = try QuantizeFixtures.model("cnn")
        let data = try QuantizeFixtures.data("cnn_calib", model)
        let first = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(perChannel: true), calibration: data)
        var options = QuantizeOptions()
        options.cachedTable = try #require(first.table)
        let second = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(perChannel: true), calibration: nil,
                                       options: options)
        #expect(second.model == first.model)
    }

    @Test func cacheOfAnotherModelIsRefusedByName() throws {
        let model = try QuantizeFixtures.model("cnn")
        var options = QuantizeOptions()
        options.cachedTable = CalibrationTable(method: .minmax, samples: 1, ranges: ["unrelated": TensorRange(min: -1, max: 1)])
        let error = #expect(throws: KilnError.self) {
            try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: nil, options: options)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("calibration cache has no range") == true)
    }

    @Test func staticWithoutSamplesIsAnInputError() throws {
        let model = try QuantizeFixtures.model("cnn")
        let error = #expect(throws: KilnError.self) {
            try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: nil)
        }
        #expect(error?.code == .invalidInput && error?.message.contains("--calibration") == true)
    }

    @Test func modelWithoutQuantizableOpIsAnInputError() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["r"], name: "relu")
        b.node("Add", ["r", "x"], ["y"], name: "add")
        b.output("y")
        var config = QuantizationConfig()
        config.mode = .dynamic
        let error = #expect(throws: KilnError.self) { try Quantizer.run(model: b.model, config: config, calibration: nil) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("no quantizable op") == true)
    }

    /// Pre-optimization turns a weight computed by a Constant node into an initializer, which dynamic
    /// quantization then quantizes (onnxruntime's quantize_dynamic fails on such models).
    @Test func weightFromAConstantNodeIsQuantized() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [2, 8])
        let w = Tensor.float32((0..<64).map { Float($0 % 7) / 7 - 0.4 }, dims: [8, 8])
        b.node("Constant", [], ["w"], name: "w_const", [Attribute("value", .tensor(w))])
        b.node("MatMul", ["x", "w"], ["y"], name: "mm")
        b.output("y")
        var config = QuantizationConfig()
        config.mode = .dynamic
        let result = try Quantizer.run(model: b.model, config: config, calibration: nil)
        #expect(result.report.quantizedNodes == ["mm"])
        #expect(QuantizeFixtures.ops(result.model).contains("MatMulInteger"))
        let x = TensorValue(shape: [2, 8], (0..<16).map { Float($0) / 8 - 1 })
        let want = try outputs(b.model, ["x": x])[0].doubles
        let got = try outputs(result.model, ["x": x])[0].doubles
        for (p, q) in zip(want, got) { #expect(abs(p - q) < 0.05 * max(1, abs(p))) }
    }

    @Test func tensorRTPresetPassesTheRulesAndUsesInt8ZeroPoints() throws {
        let model = try QuantizeFixtures.model("transformer")
        let data = try QuantizeFixtures.data("transformer_calib", model)
        let result = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(target: .tensorrt), calibration: data)
        #expect(QuantizationRules.findings(result.model, target: .tensorrt).isEmpty)
        #expect(result.config.perChannel && result.config.activationType == .int8)
        for t in result.report.tensors where t.type == "int8" { #expect(t.zeroPoint.allSatisfy { $0 == 0 }, "\(t.tensor)") }
        #expect(!QuantizeFixtures.ops(result.model).contains { $0.hasPrefix("QLinear") || $0.hasSuffix("Integer") })
    }

    @Test func maxDropThatCannotBeMetIsACheckFailure() throws {
        let model = try QuantizeFixtures.model("cnn")
        let data = try QuantizeFixtures.data("cnn_calib", model)
        var options = QuantizeOptions()
        options.maxDrop = 0
        let error = #expect(throws: KilnError.self) {
            try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: data, options: options)
        }
        #expect(error?.code == .checkFailed)
        #expect(error?.message.contains("cannot be met") == true)
    }

    @Test func maxDropWithinBudgetKeepsEverythingQuantized() throws {
        let model = try QuantizeFixtures.model("cnn")
        let data = try QuantizeFixtures.data("cnn_calib", model)
        var options = QuantizeOptions()
        options.maxDrop = 0.5
        let result = try Quantizer.run(model: model, config: QuantizeFixtures.staticConfig(), calibration: data, options: options)
        #expect(result.report.keptInFloat.isEmpty && result.report.maxDrop == 0.5)
        #expect(try #require(result.report.accuracy).drop <= 0.5)
    }
}
