import KilnEvaluator
import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the float and a quantized model in the evaluator on the same samples and compares them.
///
/// 1. Outputs: for every float graph output, per sample the cosine similarity of the flattened tensors
///    (1 when both are all zero, 0 when one is), the largest absolute error, and for outputs shaped [N, C]
///    (C > 1) whether each row's arg-max agrees. Reported: mean and smallest cosine, largest error, share of
///    agreeing rows. `drop` = `1 - mean cosine` of the worst output.
/// 2. Layers (when asked): for each quantized node's output `x` (float model) and its float equivalent `x̂` in
///    the quantized model (`EmitReport.floatEquivalents`), both recorded by an `Observer`:
///    SQNR = `10 log10(Σx² / Σ(x - x̂)²)` summed over every element of every sample.
/// Samples stream one at a time. The float model's outputs are kept (one set per sample) so that the repeated
/// measurements of `--max-drop` run only the quantized model.
struct AccuracyMeter {
    let float: Evaluator
    let floatGraph: Graph
    let data: CalibrationData
    let threads: Int?
    private var floatOutputs: [[String: TensorValue]]?

    init(float model: Model, data: CalibrationData, threads: Int?) throws {
        self.float = try Evaluator(model: model, options: EvaluatorOptions(threads: threads, prepareConstants: true))
        self.floatGraph = model.graph
        self.data = data
        self.threads = threads
    }

    mutating func measure(quantized: Model, emit: EmitReport, layers: Bool) throws -> QuantizationReport.Accuracy {
        let q = try Evaluator(model: quantized, options: EvaluatorOptions(threads: threads, prepareConstants: true))
        let pairs = layers ? emit.floatEquivalents.sorted { $0.key < $1.key } : []
        var signal = [Double](repeating: 0, count: pairs.count)
        var noise = [Double](repeating: 0, count: pairs.count)
        var observed = [Bool](repeating: false, count: pairs.count)
        var outputs: [String: OutputMeter] = [:]
        let runFloat = layers || floatOutputs == nil
        var cache: [[String: TensorValue]] = []

        for i in 0..<data.count {
            let name = data.sampleNames[i]
            let feed = try data.sample(i)
            let floatObserver = RecordingObserver(names: Set(pairs.map(\.key)))
            let want: [String: TensorValue]
            if runFloat {
                let values = try run(float, feed, observer: layers ? floatObserver : nil, sample: name, which: "float")
                want = Self.tensors(values, names: float.outputNames)
                if floatOutputs == nil { cache.append(want) }
            } else {
                want = floatOutputs![i]
            }
            let quantizedObserver = RecordingObserver(names: Set(pairs.map(\.value)))
            let got = Self.tensors(try run(q, feed, observer: layers ? quantizedObserver : nil, sample: name, which: "quantized"),
                                   names: q.outputNames)
            for outputName in float.outputNames {
                guard let a = want[outputName], a.dataType.isFloatingPoint, let b = got[outputName], a.shape == b.shape else { continue }
                outputs[outputName, default: OutputMeter()].add(a, b)
            }
            for (k, pair) in pairs.enumerated() {
                // Graph outputs are read from the results (an output may also be produced under its name directly).
                let observedA: TensorValue? = if case .tensor(let t)? = floatObserver.values[pair.key] { t } else { nil }
                let observedB: TensorValue? = if case .tensor(let t)? = quantizedObserver.values[pair.value] { t } else { nil }
                guard let a = observedA ?? want[pair.key], let b = observedB ?? got[pair.value] ?? got[pair.key],
                      a.shape == b.shape, a.dataType.isFloatingPoint, b.dataType.isFloatingPoint else { continue }
                observed[k] = true
                let x = a.doubles, y = b.doubles
                for j in 0..<x.count {
                    signal[k] += x[j] * x[j]
                    noise[k] += (x[j] - y[j]) * (x[j] - y[j])
                }
            }
        }
        if floatOutputs == nil && !cache.isEmpty { floatOutputs = cache }

        let agreements = float.outputNames.compactMap { n in outputs[n].map { $0.summary(name: n) } }
        let drop = agreements.map { 1 - $0.cosine }.max() ?? 0
        var layerErrors: [QuantizationReport.LayerError] = []
        for (k, pair) in pairs.enumerated() where observed[k] {
            let producer = floatGraph.valueID(named: pair.key).flatMap { floatGraph.producer(of: $0) }.map { floatGraph[node: $0] }
            let sqnr: Double? = noise[k] > 0 ? 10 * log10(max(signal[k], .leastNonzeroMagnitude) / noise[k]) : nil
            layerErrors.append(.init(node: producer?.name ?? pair.key, opType: producer?.opType ?? "", output: pair.key, sqnr: sqnr))
        }
        return QuantizationReport.Accuracy(samples: data.count, source: "calibration", drop: max(0, drop),
                                           outputs: agreements, layers: layerErrors)
    }

    private func run(_ evaluator: Evaluator, _ feed: [String: RuntimeValue], observer: Observer?, sample: String,
                     which: String) throws -> [RuntimeValue] {
        do {
            return try evaluator.run(feed, observer: observer)
        } catch let e as KilnError {
            throw KilnError(e.code, "sample '\(sample)': the \(which) model fails in the evaluator: \(e.message)",
                            at: e.location, cause: e.cause)
        }
    }

    private static func tensors(_ values: [RuntimeValue], names: [String]) -> [String: TensorValue] {
        var out: [String: TensorValue] = [:]
        for (name, v) in zip(names, values) { if case .tensor(let t) = v { out[name] = t } }
        return out
    }
}

/// Running cosine / error / top-1 statistics of one output over samples.
struct OutputMeter {
    var cosineSum = 0.0
    var minCosine = 1.0
    var samples = 0
    var maxAbsError = 0.0
    var rows = 0
    var agreeing = 0
    var classifier = false

    mutating func add(_ a: TensorValue, _ b: TensorValue) {
        let x = a.doubles, y = b.doubles
        var dot = 0.0, nx = 0.0, ny = 0.0
        for i in 0..<x.count {
            dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i]
            let e = abs(x[i] - y[i])
            if e > maxAbsError || e.isNaN { maxAbsError = e.isNaN ? .infinity : e }
        }
        let cosine: Double
        if nx == 0 && ny == 0 { cosine = 1 } else if nx == 0 || ny == 0 { cosine = 0 } else { cosine = dot / (nx.squareRoot() * ny.squareRoot()) }
        let c = cosine.isNaN ? 0 : min(1, cosine)
        cosineSum += c
        minCosine = min(minCosine, c)
        samples += 1
        if a.shape.count == 2, a.shape[1] > 1 {
            classifier = true
            let cols = a.shape[1]
            for r in 0..<a.shape[0] {
                rows += 1
                if Self.argmax(x, r * cols, cols) == Self.argmax(y, r * cols, cols) { agreeing += 1 }
            }
        }
    }

    func summary(name: String) -> QuantizationReport.OutputAgreement {
        .init(name: name, cosine: samples > 0 ? cosineSum / Double(samples) : 1, minCosine: minCosine,
              maxAbsError: maxAbsError, top1Agreement: classifier && rows > 0 ? Double(agreeing) / Double(rows) : nil)
    }

    static func argmax(_ xs: [Double], _ start: Int, _ count: Int) -> Int {
        var best = start
        for i in start..<(start + count) where xs[i] > xs[best] { best = i }
        return best - start
    }
}
