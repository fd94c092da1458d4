import ArgumentParser
import Kiln

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kiln run MODEL [INPUT ...]`: evaluate a model on the CPU reference evaluator.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on the CPU evaluator and summarize (or save) its outputs.",
        discussion: """
        Inputs are `name=file.pb` (TensorProto, SequenceProto or OptionalProto), `name=file.npy`, or a \
        folder in the ONNX test-data layout (input_0.pb, input_1.pb, ... in graph-input order, \
        initializers excluded). With --output-dir the outputs are written as output_0.pb, output_1.pb, \
        ... in graph-output order (or .npy with --format npy). See Docs/Commands/run.md.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case pb, npy }

    @Argument(help: "The .onnx model to run.")
    var model: String

    @Argument(help: "Inputs: name=file.pb, name=file.npy, or a test-data folder.")
    var inputs: [String] = []

    @Option(help: "Write the outputs to this folder (output_N.pb or output_N.npy).")
    var outputDir: String?

    @Option(help: "File format of written outputs: pb or npy.")
    var format: Format = .pb

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Worker threads per kernel (default: KILN_THREADS, else the number of cores).")
    var threads: Int?

    @Option(help: "Run the model this many times (after one warm-up run when more than 1) and report the latency.")
    var `repeat`: Int = 1

    @Flag(help: "Report load and run times (on stderr in text mode).")
    var time = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
        for input in inputs where !input.contains("=") {
            guard (try? FileManager.default.contentsOfDirectory(atPath: input)) != nil else {
                throw ValidationError("input '\(input)' is neither name=FILE nor a test-data folder")
            }
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let loadStart = clock.now
        let model = try ModelFile.read(self.model)
        let evaluator = try Evaluator(model: model, options: EvaluatorOptions(threads: threads))
        let loadTime = clock.now - loadStart
        var values: [String: RuntimeValue] = [:]
        let types = Dictionary(evaluator.inputs.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        for input in inputs {
            if let eq = input.firstIndex(of: "=") {
                let name = String(input[..<eq]), path = String(input[input.index(after: eq)...])
                guard let type = types[name] else {
                    throw KilnError(.invalidInput, "'\(name)' is not an input of the graph (inputs: \(evaluator.inputs.map(\.name).joined(separator: ", ")))")
                }
                values[name] = try ValueFile.read(path, type: type).value
            } else {
                for (name, value) in try TestData.readInputs(input, evaluator: evaluator) { values[name] = value }
            }
        }
        var outputs = try evaluator.run(values)
        var runTimes: [Duration] = [], cpuTimes: [Double] = []
        if `repeat` > 1 {
            // The first run above is the warm-up (page faults on the weights, BLAS start-up).
            for _ in 0..<`repeat` {
                let start = clock.now, cpuStart = processCPUMilliseconds()
                outputs = try evaluator.run(values)
                runTimes.append(clock.now - start)
                cpuTimes.append(processCPUMilliseconds() - cpuStart)
            }
        }
        let timing = time || `repeat` > 1
            ? RunTiming(loadMs: loadTime.milliseconds, runsMs: runTimes.map(\.milliseconds), cpuMs: cpuTimes,
                        threads: evaluator.options.threads)
            : nil
        var files: [String?] = Array(repeating: nil, count: outputs.count)
        if let dir = outputDir {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw KilnError(.io, "cannot create the output folder (\(error.localizedDescription))", at: .init(file: dir))
            }
            for (i, value) in outputs.enumerated() {
                let path = "\(dir)/output_\(i).\(format.rawValue)"
                try ValueFile.write(value, name: evaluator.outputNames[i], to: path)
                files[i] = path
            }
        }
        let summaries = outputs.enumerated().map { i, v in OutputSummary(name: evaluator.outputNames[i], value: v, file: files[i]) }
        if json {
            try printJSON(RunReport(model: self.model, outputs: summaries, timing: timing))
        } else {
            for s in summaries { print(s.text) }
            if let timing { FileHandleStderr.write(timing.text + "\n") }
        }
        withExtendedLifetime(model) { exitSuccessfully() }
    }
}

/// `kiln run --json` (schema 1, documented in Docs/Commands/run.md).
struct RunReport: Encodable {
    var schema = 1
    var model: String
    var outputs: [OutputSummary]
    /// With --time or --repeat N > 1.
    var timing: RunTiming?
}

/// Wall-clock times measured in process: reading and preparing the model, and each timed run.
struct RunTiming: Encodable {
    var loadMs: Double
    /// One entry per timed run (after a warm-up); empty with --repeat 1.
    var runsMs: [Double]
    var medianMs: Double?
    /// CPU time of the process (all threads, user + system) per timed run: what a run costs
    /// regardless of how busy the machine is.
    var cpuMs: [Double]
    var medianCpuMs: Double?
    var threads: Int

    init(loadMs: Double, runsMs: [Double], cpuMs: [Double], threads: Int) {
        self.loadMs = loadMs
        self.runsMs = runsMs
        self.cpuMs = cpuMs
        self.threads = threads
        medianMs = Self.median(runsMs)
        medianCpuMs = Self.median(cpuMs)
    }

    static func median(_ values: [Double]) -> Double? {
        let sorted = values.sorted()
        return sorted.isEmpty ? nil : (sorted[(sorted.count - 1) / 2] + sorted[sorted.count / 2]) / 2
    }

    enum CodingKeys: String, CodingKey {
        case loadMs = "load_ms", runsMs = "runs_ms", medianMs = "median_ms", cpuMs = "cpu_ms", medianCpuMs = "median_cpu_ms", threads
    }

    var text: String {
        var line = "load \(String(format: "%.1f", loadMs)) ms, threads \(threads)"
        if let medianMs {
            line += ", \(runsMs.count) runs: median \(String(format: "%.2f", medianMs)) ms"
                + " (min \(String(format: "%.2f", runsMs.min()!)), max \(String(format: "%.2f", runsMs.max()!)))"
                + (medianCpuMs.map { ", median CPU \(String(format: "%.2f", $0)) ms" } ?? "")
        }
        return line
    }
}

/// CPU time used so far by every thread of this process, in milliseconds.
func processCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1000 + Double(t.tv_nsec) / 1e6
}

extension Duration {
    var milliseconds: Double {
        let (s, atto) = components
        return Double(s) * 1000 + Double(atto) / 1e15
    }
}

struct OutputSummary: Encodable {
    var name: String
    /// tensor, sequence or optional.
    var kind: String
    var dtype: String?
    var shape: [Int]?
    var elements: Int?
    var min: Double?
    var max: Double?
    var mean: Double?
    var file: String?

    init(name: String, value: RuntimeValue, file: String?) {
        self.name = name
        self.file = file
        switch value {
        case .tensor(let t):
            kind = "tensor"
            dtype = t.dataType.name
            shape = t.shape
            elements = t.count
            if t.dataType != .string && t.count > 0 {
                let d = t.doubles.filter { !$0.isNaN }
                if !d.isEmpty {
                    min = d.min()
                    max = d.max()
                    mean = d.reduce(0, +) / Double(d.count)
                }
            }
        case .sequence(let ts, let type):
            kind = "sequence"
            dtype = type.name
            elements = ts.count
        case .optional(let v, _):
            kind = "optional"
            elements = v == nil ? 0 : 1
        }
    }

    var text: String {
        var line = "\(name): \(kind)"
        if let dtype { line += "(\(dtype))" }
        if let shape { line += "[" + shape.map(String.init).joined(separator: ", ") + "]" }
        else if let elements { line += " of \(elements)" }
        if let min, let max, let mean { line += "  min \(fmt(min))  max \(fmt(max))  mean \(fmt(mean))" }
        if let file { line += "  -> \(file)" }
        return line
    }

    private func fmt(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return String(format: "%.6g", d)
    }
}
