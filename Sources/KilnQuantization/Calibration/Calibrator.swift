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
        let evaluatorOptions = EvaluatorOptions(threads: options.threads, prepareConstants: true)
        let observer = StatisticsObserver(tensors: tensors, bins: options.method == .minmax ? nil : options.bins,
                                          threads: evaluatorOptions.threads)
        // Graph inputs with an initializer are not in the samples (CalibrationData asks only for the
        // others): their value is the initializer, the same for every sample.
        for id in graph.inputs where tensors.contains(graph.name(of: id)) {
            if let t = graph[value: id].initializer { observer.observe(graph.name(of: id), .tensor(try TensorValue(t))) }
        }
        var progress = ProgressBar(total: data.count, enabled: options.progress)
        defer { progress.finish() }
        let workers = Swift.min(evaluatorOptions.threads, data.count)
        if options.method == .minmax && workers > 1 {
            try calibrateConcurrently(model: model, data: data, observer: observer, workers: workers, progress: &progress)
        } else {
            let evaluator = try Evaluator(model: model, options: evaluatorOptions)
            for index in 0..<data.count {
                try run(evaluator, data: data, index: index, observer: observer)
                progress.update(done: index + 1)
            }
        }
        let (ranges, observed) = finalRanges(observer.statistics, options: options)
        return CalibrationTable(method: options.method, samples: data.count, ranges: ranges, observed: observed)
    }

    /// One sample through `evaluator`; the sample's own tensors are observed first.
    private static func run(_ evaluator: Evaluator, data: CalibrationData, index: Int, observer: Observer) throws {
        let sample = try data.sample(index)
        for (name, value) in sample where observer.wants(name) { observer.observe(name, value) }
        do {
            _ = try evaluator.run(sample, observer: observer)
        } catch let e as KilnError {
            throw KilnError(e.code, "calibration sample '\(data.sampleNames[index])': \(e.message)", at: e.location, cause: e.cause)
        }
    }

    /// MinMax with `workers` samples in flight, each run single-threaded: at batch 1
    /// most graphs offer one node at a time, so one evaluator leaves the other cores idle (ResNet-50:
    /// the same wall time with 1 and 2 threads). Min, max and the counts are order-independent, so the
    /// table is the same as a sequential run's; the histogram methods stay sequential because their
    /// re-binning depends on the order samples arrive. Observations are serialized; memory grows by
    /// `workers` samples' activations (weights are shared), still independent of the sample count. The first failing sample
    /// (lowest index) is the error reported.
    private static func calibrateConcurrently(model: Model, data: CalibrationData, observer: StatisticsObserver,
                                              workers: Int, progress: inout ProgressBar) throws {
        // One prepared evaluator (weights converted once) shared by the workers: its plan is immutable
        // and each `run` keeps its own state.
        let evaluator = try Evaluator(model: model, options: EvaluatorOptions(threads: 1, prepareConstants: true))
        let serial = SerializedObserver(observer)
        // Touched only inside `serial.queue.sync`.
        let failures = MutableBox([(index: Int, error: Error)?](repeating: nil, count: workers))
        let done = MutableBox(0)
        let bar = MutableBox(progress)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for index in stride(from: w, to: data.count, by: workers) {
                do {
                    try run(evaluator, data: data, index: index, observer: serial)
                } catch {
                    serial.queue.sync { failures.value[w] = (index, error) }
                    return
                }
                serial.queue.sync {
                    done.value += 1
                    bar.value.update(done: done.value)
                }
            }
        }
        progress = bar.value
        if let first = failures.value.compactMap({ $0 }).min(by: { $0.index < $1.index }) { throw first.error }
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

/// A mutable reference shared by concurrent workers that synchronize access themselves.
final class MutableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Forwards to `inner` one observation at a time (concurrent MinMax calibration).
final class SerializedObserver: Observer, @unchecked Sendable {
    let inner: StatisticsObserver
    let queue = DispatchQueue(label: "kiln.calibration.observer")
    init(_ inner: StatisticsObserver) { self.inner = inner }
    func wants(_ valueName: String) -> Bool { inner.wants(valueName) }
    func observe(_ valueName: String, _ value: RuntimeValue) {
        // Without histograms the scan needs no shared state: only the merge waits for the lock.
        if inner.bins == nil, case .tensor(let t) = value, case .float(let a) = t.storage, !a.isEmpty {
            let summary = a.withUnsafeBufferPointer { TensorStatistics.summarize($0, threads: inner.threads) }
            queue.sync { inner.statistics(for: valueName).merge(summary) }
            return
        }
        queue.sync { inner.observe(valueName, value) }
    }
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
        statistics(for: valueName).add(t)
    }

    /// The statistics of `valueName`, created on first sight.
    func statistics(for valueName: String) -> TensorStatistics {
        if let s = statistics[valueName] { return s }
        let s = TensorStatistics(bins: bins, threads: threads)
        statistics[valueName] = s
        return s
    }
}
