import Testing
import KilnIR
import KilnQuantization
import KilnTestSupport

/// onnxruntime runs every mode/format (onnx.checker full_check first) and agrees with Kiln's evaluator on
/// the same quantized model. Skipped with a message when /work/main/.venv is absent.
@Suite(.serialized) struct EmitterOnnxruntimeTests {
    static let cases: [(String, QuantizationConfig.Mode, QuantizationConfig.Format, QuantizationConfig.Target?)] = [
        ("dynamic", .dynamic, .qdq, nil), ("qdq", .static, .qdq, nil), ("qoperator", .static, .qoperator, nil),
        ("tensorrt", .static, .qdq, .tensorrt), ("weight-only", .weightOnly, .qdq, nil),
    ]

    @Test(arguments: cases.map(\.0))
    func onnxruntimeAgreesWithTheEvaluator(name: String) throws {
        let (_, mode, format, target) = Self.cases.first { $0.0 == name }!
        var config = QuantizationConfig()
        config.mode = mode
        config.format = format
        config.perChannel = true
        config.bits = 4
        config.blockSize = 16
        if let target { config = QuantizationConfig.preset(target, base: config) }
        var models = mode == .weightOnly ? [EmitterFixtures.embedding()] : [EmitterFixtures.cnn(), EmitterFixtures.mlp()]
        if mode == .static { models.append(EmitterFixtures.convTranspose()) }
        if mode == .dynamic { models.append(EmitterFixtures.embedding()) }
        for model in models {
            let table = mode == .static ? try EmitterFixtures.calibrate(model) : nil
            let (q, report) = try QuantizationEmitter.emit(model, config: config, table: table)
            guard let diff = try onnxruntimeDifference(q) else { return }
            // Integer kernels agree exactly up to float rounding; a rounding tie may move one step of
            // the output scale.
            let step = Double(report.tensors.map { $0.scale.max() ?? 0 }.max() ?? 0)
            #expect(diff <= max(1e-4, step), "\(name): onnxruntime vs evaluator max diff \(diff)")
            let (err, mag) = try EmitterFixtures.maxError(model, q)
            print("\(name) (\(model.graph.nodeCount)-node model): onnxruntime vs Kiln evaluator \(diff); quantized vs float max abs error \(err) of \(mag)")
        }
    }
}
