import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// `kiln quantize IN -o OUT`: dynamic, static (calibrated) or weight-only quantization, with an
/// accuracy report.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model: dynamic or static INT8 (QDQ or QOperator), or weight-only INT4/INT8.",
        discussion: """
        Static mode calibrates activation ranges on --calibration DATA (a folder: one .npz per sample, \
        <sample>/<input>.npy folders, or ONNX test_data_set_* folders), streaming one sample at a time. \
        --target applies a runtime's rules (TensorRT: symmetric int8 QDQ, zero points 0, per-channel \
        weights) and the result is checked against them before it is written. --report FILE.json and \
        --max-drop measure float vs quantized outputs on --eval DATA (default: the calibration samples). \
        See Docs/Commands/quantize.md. Exit status: 0 written, 1 --max-drop cannot be met, 2 bad input \
        (empty or mismatching samples, NaN, no quantizable op) or usage error; nothing is written on failure.
        """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case dynamic, `static`, weightOnly = "weight-only" }
    enum Format: String, ExpressibleByArgument, CaseIterable { case qdq, qoperator }
    enum Target: String, ExpressibleByArgument, CaseIterable { case tensorrt, openvino, onnxruntime, tvm }
    enum Method: String, ExpressibleByArgument, CaseIterable { case minmax, percentile, entropy, mse }
    enum IntType: String, ExpressibleByArgument, CaseIterable { case int8, uint8 }

    @Argument(help: "The input float .onnx model.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the quantized model.")
    var output: String

    @Option(help: "dynamic, static or weight-only (default: static when --calibration or --calibration-cache is given, else dynamic).")
    var mode: Mode?

    @Option(help: "qdq (QuantizeLinear/DequantizeLinear pairs) or qoperator (QLinearConv, QLinearMatMul, ...).")
    var format: Format = .qdq

    @Option(help: "Folder of calibration samples (static mode; also the default --eval set).")
    var calibration: String?

    @Option(help: "Calibration method: minmax, percentile, entropy (KL divergence) or mse.")
    var method: Method = .minmax

    @Option(help: "For --method percentile: the percentile of |x| kept (e.g. 99.99).")
    var percentile: Double = 99.999

    @Option(help: "Ranges cache: read when FILE exists (no calibration), else written after a successful run.")
    var calibrationCache: String?

    @Flag(help: "Weights per output channel instead of per tensor.")
    var perChannel = false

    @Flag(help: "Symmetric activations (zero point 0 for int8, 128 for uint8).")
    var symmetric = false

    @Option(help: "Activation type: int8 or uint8.")
    var activationType: IntType?

    @Option(help: "Weight type: int8 or uint8 (int4/uint4 with --mode weight-only --bits 4).")
    var weightType: IntType?

    @Option(parsing: .upToNextOption, help: "Op types to leave in float (e.g. Gemm Conv).")
    var excludeOp: [String] = []

    @Option(parsing: .upToNextOption, help: "Node names to leave in float.")
    var excludeNode: [String] = []

    @Option(parsing: .upToNextOption, help: "Quantize only these nodes (by name).")
    var includeNode: [String] = []

    @Option(help: "Apply a runtime's quantization rules: tensorrt, openvino, onnxruntime or tvm.")
    var target: Target?

    @Option(help: "Weight-only: 4 or 8 bits.")
    var bits: Int = 8

    @Option(help: "Weight-only: block size along the reduction axis (32, 64, 128, ...; 0: per channel).")
    var blockSize: Int = 128

    @Option(help: "Write the accuracy report (JSON) here.")
    var report: String?

    @Option(help: "Folder of samples to measure accuracy on (same layouts as --calibration).")
    var eval: String?

    @Option(help: "Largest accepted 1 - cosine of the worst output; sensitive layers stay in float until it holds.")
    var maxDrop: Double?

    @Flag(help: "Skip the cleanup and folding run before quantizing.")
    var noPreoptimize = false

    @Option(help: "Evaluator threads (calibration and accuracy runs).")
    var threads: Int?

    @Flag(help: "Print the report as JSON instead of the table.")
    var json = false

    var resolvedMode: Mode { mode ?? (calibration != nil || calibrationCache != nil ? .static : .dynamic) }

    func validate() throws {
        if !(percentile > 0 && percentile <= 100) { throw ValidationError("--percentile must be in (0, 100]") }
        if ![4, 8].contains(bits) { throw ValidationError("--bits must be 4 or 8") }
        if blockSize != 0 && (blockSize < 16 || blockSize & (blockSize - 1) != 0) {
            throw ValidationError("--block-size must be 0 (per channel) or a power of two, at least 16")
        }
        if bits == 4 && resolvedMode != .weightOnly { throw ValidationError("--bits 4 needs --mode weight-only") }
        if let d = maxDrop, !(d >= 0 && d < 1) { throw ValidationError("--max-drop must be in [0, 1) (a 1 - cosine budget, e.g. 0.01)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if resolvedMode != .static && calibrationCache != nil { throw ValidationError("--calibration-cache needs --mode static") }
        if format == .qoperator && resolvedMode != .static { throw ValidationError("--format qoperator needs --mode static") }
    }

    func config() -> QuantizationConfig {
        var c = QuantizationConfig()
        c.mode = switch resolvedMode { case .dynamic: .dynamic; case .static: .static; case .weightOnly: .weightOnly }
        c.format = format == .qdq ? .qdq : .qoperator
        if let a = activationType { c.activationType = a == .int8 ? .int8 : .uint8 }
        if let w = weightType { c.weightType = w == .int8 ? .int8 : .uint8 }
        if bits == 4 { c.weightType = c.weightType == .uint8 ? .uint4 : .int4 }
        c.perChannel = perChannel
        c.symmetricActivations = symmetric
        c.excludeOps = Set(excludeOp)
        c.excludeNodes = Set(excludeNode)
        c.includeNodes = Set(includeNode)
        c.bits = bits
        c.blockSize = blockSize
        c.target = target.flatMap { QuantizationConfig.Target(rawValue: $0.rawValue) }
        return c
    }

    func run() throws {
        try ModelFile.checkOutputPath(output)
        if let r = report { try ModelFile.checkOutputPath(r) }
        let model = try ModelFile.read(input)
        let check = Checker(inferShapes: false).check(model, file: input)
        if !check.valid {
            for issue in check.issues.prefix(20) { FileHandleStderr.write("kiln: \(input): \(issue.description)\n") }
            throw KilnError(.invalidInput, "\(check.issues.count) problem(s) found by the checker; first: \(check.issues[0].description)",
                            at: .init(file: input))
        }

        var options = QuantizeOptions()
        options.preOptimize = !noPreoptimize
        options.calibration.method = CalibrationMethod(rawValue: method.rawValue)!
        options.calibration.percentile = percentile
        options.calibration.threads = threads
        options.calibration.progress = !json
        options.threads = threads
        options.measureAccuracy = report != nil || eval != nil
        options.maxDrop = maxDrop
        var writeCache = false
        if let cache = calibrationCache {
            if FileManager.default.fileExists(atPath: cache) {
                options.cachedTable = try CalibrationCache.read(cache)
            } else {
                writeCache = true
            }
        }
        let samples = try calibration.map { try CalibrationData(path: $0, model: model) }
        let evalSamples = try eval.map { try CalibrationData(path: $0, model: model) }
        if resolvedMode == .static && samples == nil && options.cachedTable == nil {
            throw KilnError(.invalidInput, "--mode static needs --calibration DATA (or an existing --calibration-cache FILE)")
        }

        let result: QuantizeResult
        do {
            result = try Quantizer.run(model: model, config: config(), calibration: samples, options: options, eval: evalSamples)
        } catch let e as KilnError where e.location.file == nil && e.code != .checkFailed {
            throw KilnError(e.code, e.message, at: .init(file: input, path: e.location.path), cause: e.cause)
        }

        let written = try ModelFile.write(result.model, to: output)
        if writeCache, let cache = calibrationCache, let table = result.table {
            try CalibrationCache.write(table, to: cache)
        }
        var summary = QuantizeSummary(input: input, output: output, outputBytes: written.modelBytes,
                                      inputBytes: ModelStats(model).bytes, report: result.report)
        summary.calibrationCache = calibrationCache
        if let path = report {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do {
                try encoder.encode(summary).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw KilnError(.io, "cannot write the report: \(error)", at: .init(file: path))
            }
        }
        if json {
            try printJSON(summary)
        } else {
            print(result.report.table())
            print("wrote \(output) (\(written.modelBytes) bytes; float initializers \(summary.inputBytes) bytes) in "
                  + String(format: "%.3f", result.report.seconds.total) + " s")
        }
        // --target: the consumer's whole rule set (opset range, operators, types) on the written model,
        // as `convert`/`optimize --target` do; its quantization rules already held before writing.
        if let t = config().target { try TargetFindings.report(result.model, target: t, toStderr: json) }
        withExtendedLifetime((model, result)) { exitSuccessfully() }
    }
}

/// `kiln quantize --json` and `--report FILE.json`: the report plus where things went.
struct QuantizeSummary: Encodable {
    var input: String
    var output: String
    var outputBytes: Int
    /// Bytes of the input's initializers.
    var inputBytes: Int64
    var calibrationCache: String?
    var report: QuantizationReport

    init(input: String, output: String, outputBytes: Int, inputBytes: Int64, report: QuantizationReport) {
        self.input = input; self.output = output; self.outputBytes = outputBytes; self.inputBytes = inputBytes
        self.report = report
    }
}
