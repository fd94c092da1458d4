import KilnAnalysis
import KilnEvaluator
import KilnIR
import KilnPasses

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How `Quantizer.run` works, beyond the `QuantizationConfig` of what to produce.
public struct QuantizeOptions: Sendable {
    /// Run cleanup and folding first (`kiln optimize --level 2`), so weights computed by
    /// Constant/ConstantOfShape/Cast chains become initializers the emitters can quantize.
    public var preOptimize = true
    /// Calibration method, percentile, bins, threads, progress.
    public var calibration = CalibrationOptions()
    /// Ranges to use instead of calibrating (static mode; `--calibration-cache` when the file exists).
    public var cachedTable: CalibrationTable?
    /// Measure accuracy (float vs quantized on the evaluation samples) for the report.
    public var measureAccuracy = false
    /// `--max-drop`: the largest accepted `1 - cosine` (worst float output, mean over samples).
    /// Layers are kept in float, most sensitive first, until the model is within it.
    public var maxDrop: Double?
    /// Up to this many quantized layers, sensitivity is measured one layer at a time (each kept in
    /// float alone); above it, layers are ranked by their SQNR.
    public var sensitivityLayerLimit = 32
    /// Evaluator threads for the accuracy runs (nil: default).
    public var threads: Int?

    public init() {}
}

/// What `Quantizer.run` returns.
public struct QuantizeResult: Sendable {
    /// The quantized model (checked with `Checker` and `QuantizationRules`).
    public var model: Model
    /// The accuracy report (`--report`, the table on stdout).
    public var report: QuantizationReport
    /// The ranges used (static mode), e.g. to write a calibration cache.
    public var table: CalibrationTable?
    /// The config the emitter ran with: the target preset applied, and layers `--max-drop` kept in float excluded.
    public var config: QuantizationConfig
}

/// `kiln quantize` as a library call: pre-optimize, apply the target preset, plan, calibrate (static
/// mode), emit, check, and measure accuracy.
///
/// Steps:
/// 1. Pre-optimization (`QuantizeOptions.preOptimize`): the optimize pipeline at level 2 (cleanup +
///    constant and shape folding; no fusions, which would hide MatMul/Conv inside fused ops).
/// 2. `QuantizationConfig.preset(target, base:)` when a target is set.
/// 3. `QuantizationEmitter.plan`: no quantizable node -> `KilnError(.invalidInput)`, before any sample is read.
/// 4. Static mode: `options.cachedTable`, else `Calibrator.calibrate` over `calibration` for the plan's
///    activation tensors (streaming: one sample in memory at a time).
/// 5. `QuantizationEmitter.emit`.
/// 6. `Checker` (no shape inference) and `QuantizationRules.findings` for the target (onnxruntime's rules
///    when none is set): any finding is a Kiln bug -> `KilnError(.internalError)` naming it; nothing is returned.
/// 7. Accuracy (`measureAccuracy` or `maxDrop`): the float model (after step 1) and the quantized model
///    run in the evaluator on `eval` (else `calibration`) samples; see `AccuracyMeter`.
/// 8. `maxDrop`: `Sensitivity.fit` keeps layers in float until `1 - cosine <= maxDrop`, or throws
///    `KilnError(.checkFailed)` (exit 1) saying how close it got.
public enum Quantizer {
    public static func run(model input: Model, config base: QuantizationConfig, calibration: CalibrationData?,
                           options: QuantizeOptions = QuantizeOptions(), eval: CalibrationData? = nil) throws -> QuantizeResult {
        var clock = Stopwatch()
        var timings = QuantizationReport.Timings()

        var model = input
        if options.preOptimize {
            _ = try Pipeline.optimize(&model, level: 2)
        }
        timings.preOptimize = clock.lap()

        let config = base.target.map { QuantizationConfig.preset($0, base: base) } ?? base
        let plan = try QuantizationEmitter.plan(model, config: config)
        guard !plan.nodes.isEmpty else {
            throw KilnError(.invalidInput, noQuantizableOpMessage(model, plan: plan, config: config))
        }

        var table: CalibrationTable? = nil
        if config.mode == .static {
            if let cached = options.cachedTable {
                let missing = plan.activationTensors.filter { cached.ranges[$0] == nil }.sorted()
                if !missing.isEmpty {
                    throw KilnError(.invalidInput, "the calibration cache has no range for \(missing.count) tensor(s) "
                                    + "this model needs (first: '\(missing[0])'); it was made for another model or "
                                    + "other options: delete it to calibrate again")
                }
                table = cached
            } else {
                guard let data = calibration else {
                    throw KilnError(.invalidInput, "static quantization needs calibration samples: give --calibration DATA "
                                    + "(or --calibration-cache FILE made by an earlier run)")
                }
                table = try Calibrator.calibrate(model: model, data: data, tensors: plan.activationTensors,
                                                 options: options.calibration)
            }
        }
        timings.calibration = clock.lap()

        var (quantized, emitted) = try emitChecked(model, config: config, table: table)
        timings.emit = clock.lap()

        var report = QuantizationReport(config: config, table: table, emit: emitted, preOptimized: options.preOptimize)
        var finalConfig = config
        let samples = eval ?? calibration
        if options.measureAccuracy || options.maxDrop != nil {
            guard let samples else {
                throw KilnError(.invalidInput, "measuring accuracy needs samples: give --eval DATA or --calibration DATA")
            }
            var meter = try AccuracyMeter(float: model, data: samples, threads: options.threads)
            var accuracy = try meter.measure(quantized: quantized, emit: emitted, layers: true)
            accuracy.source = eval != nil ? "eval" : "calibration"
            if let budget = options.maxDrop {
                let fit = try Sensitivity.fit(model: model, config: config, table: table, meter: &meter,
                                              first: (quantized, emitted, accuracy), budget: budget,
                                              oneAtATimeLimit: options.sensitivityLayerLimit)
                quantized = fit.model
                emitted = fit.emit
                finalConfig = fit.config
                accuracy = fit.accuracy
                accuracy.source = eval != nil ? "eval" : "calibration"
                report = QuantizationReport(config: finalConfig, table: table, emit: emitted, preOptimized: options.preOptimize)
                report.keptInFloat = fit.kept
                report.maxDrop = budget
            }
            report.accuracy = accuracy
        }
        timings.report = clock.lap()
        timings.total = clock.total
        report.seconds = timings
        return QuantizeResult(model: quantized, report: report, table: table, config: finalConfig)
    }

    /// `emit`, then the checker and the target's rules; a finding is Kiln's bug, reported by name.
    static func emitChecked(_ model: Model, config: QuantizationConfig,
                            table: CalibrationTable?) throws -> (model: Model, report: EmitReport) {
        let (quantized, emitted) = try QuantizationEmitter.emit(model, config: config, table: table)
        let check = Checker(inferShapes: false).check(quantized)
        if !check.valid {
            throw KilnError(.internalError, "the quantized model fails the checker (\(check.issues.count) problem(s)); "
                            + "first: \(check.issues[0].description)")
        }
        let findings = QuantizationRules.findings(quantized, target: config.target ?? .onnxruntime)
        if !findings.isEmpty {
            throw KilnError(.internalError, "the quantized model breaks \((config.target ?? .onnxruntime).rawValue)'s "
                            + "quantization rules (\(findings.count) finding(s)); first: \(findings[0])")
        }
        return (quantized, emitted)
    }

    /// "no quantizable op" with what the model has and what the config asked for.
    static func noQuantizableOpMessage(_ model: Model, plan: QuantizationPlan, config: QuantizationConfig) -> String {
        var ops: [String: Int] = [:]
        for (_, n) in model.graph.nodes { ops[n.opType, default: 0] += 1 }
        let have = ops.keys.sorted().prefix(12).joined(separator: ", ")
        var message = "the model has no quantizable op for --mode \(config.mode.rawValue)"
        if !config.includeNodes.isEmpty || !config.excludeNodes.isEmpty || !config.excludeOps.isEmpty {
            message += " after --include-node/--exclude-node/--exclude-op"
        }
        message += " (its ops: \(have.isEmpty ? "none" : have))"
        if let first = plan.skipped.first {
            message += "; e.g. node '\(first.node)' (\(first.opType)) skipped: \(first.reason)"
        }
        return message
    }
}

/// Wall-clock laps for the report's timings.
struct Stopwatch {
    private let start = Date()
    private var last = Date()

    mutating func lap() -> Double {
        let now = Date()
        defer { last = now }
        return now.timeIntervalSince(last)
    }

    var total: Double { Date().timeIntervalSince(start) }
}
