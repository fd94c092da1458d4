import KilnEvaluator
import KilnIR

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch

/// Static-quantization calibration: runs every sample through the evaluator once and turns the
/// values of the requested tensors into ranges (Docs/Calibration.md).
///
/// Streaming: one sample is in memory at a time, the evaluator frees activations as usual, and the
/// observer folds each requested value into running statistics (min/max, and for the histogram
/// methods a fixed-size merged histogram) as soon as it is produced. Memory is independent of the
/// number of samples.
public enum Calibrator {
    public static func calibrate(model: Model, data: CalibrationData, tensors: Set<String>,
                                 options: CalibrationOptions) throws -> CalibrationTable {
        let graph = model.graph
        let inputNames = Set(graph.inputs.map { graph.name(of: $0) })
        var produced = Set<String>()
        for (_, node) in graph.nodes { for case let o? in node.outputs { produced.insert(graph.name(of: o)) } }
        if let unknown = tensors.sorted().first(where: { !inputNames.contains($0) && !produced.contains($0) }) {
            throw KilnError(.invalidInput, "cannot calibrate '\(unknown)': it is neither a graph input nor a node output of the main graph")
        }
        guard options.bins >= 1 else { throw KilnError(.invalidInput, "calibration histogram bins must be at least 1 (got \(options.bins))") }
        if options.method == .percentile, !(options.percentile > 0 && options.percentile <= 100) {
            throw KilnError(.invalidInput, "--percentile must be in (0, 100] (got \(options.percentile))")
        }
        let evaluator = try Evaluator(model: model, options: EvaluatorOptions(threads: options.threads))
        let observer = StatisticsObserver(tensors: tensors, bins: options.method == .minmax ? nil : options.bins,
                                          threads: evaluator.options.threads)
        // Graph inputs with an initializer are not in the samples (CalibrationData asks only for the
        // others): their value is the initializer, the same for every sample.
        for id in graph.inputs where tensors.contains(graph.name(of: id)) {
            if let t = graph[value: id].initializer { observer.observe(graph.name(of: id), .tensor(try TensorValue(t))) }
        }
        var progress = ProgressBar(total: data.count, enabled: options.progress)
        defer { progress.finish() }
        for index in 0..<data.count {
            let sample = try data.sample(index)
            for (name, value) in sample where tensors.contains(name) { observer.observe(name, value) }
            do {
                _ = try evaluator.run(sample, observer: observer)
            } catch let e as KilnError {
                throw KilnError(e.code, "calibration sample '\(data.sampleNames[index])': \(e.message)", at: e.location, cause: e.cause)
            }
            progress.update(done: index + 1)
        }
        let (ranges, observed) = finalRanges(observer.statistics, options: options)
        return CalibrationTable(method: options.method, samples: data.count, ranges: ranges, observed: observed)
    }

    /// Each tensor's range from its statistics. The threshold searches are independent per tensor
    /// (the entropy search is ~250k candidate-group terms per tensor), so they run in parallel.
    static func finalRanges(_ statistics: [String: TensorStatistics], options: CalibrationOptions)
        -> (ranges: [String: TensorRange], observed: [String: TensorRange]) {
        let entries = statistics.sorted { $0.key < $1.key }
        var results = [TensorRange?](repeating: nil, count: entries.count)
        let threads = max(1, options.threads ?? EvaluatorOptions.defaultThreads)
        let work = UncheckedBox(entries.map(\.value))
        results.withUnsafeMutableBufferPointer { out in
            let slots = UncheckedBox(out)
            let chunks = min(threads, entries.count)
            DispatchQueue.concurrentPerform(iterations: max(1, chunks)) { c in
                // Each chunk writes only its own indices.
                for i in stride(from: c, to: work.value.count, by: max(1, chunks)) { slots.value[i] = work.value[i].range(options) }
            }
        }
        var ranges: [String: TensorRange] = [:], observed: [String: TensorRange] = [:]
        for (i, entry) in entries.enumerated() {
            if let r = results[i] { ranges[entry.key] = r }
            if let o = entry.value.observed { observed[entry.key] = o }
        }
        return (ranges, observed)
    }
}

/// Carries values across `concurrentPerform` whose disjoint use the compiler cannot prove.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Folds the requested values into `TensorStatistics` as the evaluator produces them.
final class StatisticsObserver: Observer {
    let tensors: Set<String>
    let bins: Int?
    let threads: Int
    private(set) var statistics: [String: TensorStatistics] = [:]

    init(tensors: Set<String>, bins: Int?, threads: Int = 1) {
        self.tensors = tensors
        self.bins = bins
        self.threads = threads
    }

    func wants(_ valueName: String) -> Bool { tensors.contains(valueName) }

    func observe(_ valueName: String, _ value: RuntimeValue) {
        guard case .tensor(let t) = value, t.dataType != .string, t.dataType != .bool else { return }
        let stats: TensorStatistics
        if let s = statistics[valueName] { stats = s } else {
            stats = TensorStatistics(bins: bins, threads: threads)
            statistics[valueName] = stats
        }
        stats.add(t)
    }
}
