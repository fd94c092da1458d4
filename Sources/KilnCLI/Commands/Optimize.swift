import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `kiln optimize IN -o OUT`: cleanup, folding and fusion passes to a fixed point.
struct Optimize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Simplify a model: remove dead and no-op nodes, fold constants and shapes, fuse layers.",
        discussion: """
        Levels: 1 cleanup, 2 + constant and shape folding, 3 (default) + fusions. The model is checked \
        first; --verify N runs the original and the optimized model on N random inputs (two sizes per \
        dynamic dim) and writes nothing when an output differs. The output is written to a temporary \
        file and renamed; the input is never modified. See Docs/Commands/optimize.md. Exit status: 0 \
        written, 1 invalid model or verification failed, 2 usage or I/O error.
        """
    )

    enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }

    @Argument(help: "The input .onnx model.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the optimized model.")
    var output: String

    @Option(help: "1 cleanup, 2 + folding, 3 + fusions.")
    var level: Int = 3

    @Option(parsing: .upToNextOption, help: "Passes to leave out (by name; see --only).")
    var skip: [String] = []

    @Option(parsing: .upToNextOption, help: "Run only these passes (by name, in pipeline order).")
    var only: [String] = []

    @Option(help: "Fix the dims of a graph input before optimizing: NAME:1x3x224x224 (repeatable).")
    var inputShape: [String] = []

    @Option(help: "Folding never creates a constant larger than this many bytes (unless a weight needs it).")
    var foldSizeLimit: Int = 1 << 20

    @Option(help: "Whether fusions may produce standard fused operators (Gelu, LayerNormalization, ...): on or off.")
    var opsetFusions: Switch = .on

    @Option(help: "Check the result on N random inputs (two sizes per dynamic dim) with the evaluator.")
    var verify: Int = 0

    @Option(help: "Seed for the --verify inputs.")
    var seed: UInt64 = 0

    @Option(help: "Where tensor data goes: preserve, single (one file), per-tensor, none (all inline).")
    var externalData: Convert.ExternalData?

    @Option(help: "With single or per-tensor: only tensors with at least this many bytes go external.")
    var externalDataThreshold: Int = 1024

    @Flag(help: "Print a line per pass (runs, changes, time, counts) and why patterns did not fire.")
    var verbose = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Prepare for a consumer (tensorrt, openvino, tvm, onnxruntime): no fusion into an operator it rejects, opset brought into its range, then its check (Docs/Targets.md).")
    var target: Quantize.Target?

    func validate() throws {
        if !(1...3).contains(level) { throw ValidationError("--level must be 1, 2 or 3") }
        if foldSizeLimit < 0 { throw ValidationError("--fold-size-limit must be zero or more") }
        if verify < 0 { throw ValidationError("--verify must be zero or more") }
        if externalDataThreshold < 0 { throw ValidationError("--external-data-threshold must be zero or more") }
        _ = try InputShape.parse(inputShape)
        do {
            _ = try Pipeline.select(level: level, skip: skip, only: only)
        } catch let e as KilnError {
            throw ValidationError(e.message)
        }
    }

    func run() throws {
        let started = monotonicSeconds()
        try ModelFile.checkOutputPath(output)
        var model = try ModelFile.read(input)
        let check = Checker(inferShapes: false).check(model, file: input)
        if !check.valid {
            for issue in check.issues.prefix(20) { FileHandleStderr.write("kiln: \(input): \(issue.description)\n") }
            throw KilnError(.checkFailed, "\(check.issues.count) problem(s) found by the checker; first: \(check.issues[0].description)",
                            at: .init(file: input))
        }
        try InputShape.apply(try InputShape.parse(inputShape), to: &model, file: input)
        let original = model
        let before = ModelStats(model)

        var options = PassOptions()
        options.foldSizeLimit = foldSizeLimit
        options.opsetFusions = opsetFusions == .on
        options.explainMisses = verbose
        let log = PassLog(enabled: verbose)
        let profile = target.flatMap { QuantizationConfig.Target(rawValue: $0.rawValue) }.map(TargetProfile.of)
        let targetSkips = (profile?.fusionPassesToSkip() ?? []).filter { !skip.contains($0) }
        let report = try Pipeline.optimize(&model, level: level, skip: skip + targetSkips, only: only, options: options, log: log)
        var targetLines = targetSkips.map { "target \(profile!.target.rawValue): skipped \($0) (creates an operator it rejects)" }
        if let profile, let to = profile.opsetToConvert(model) {
            do {
                let r = try OpsetConverter().convert(&model, to: to)
                targetLines.append("target \(profile.target.rawValue): opset \(r.from) -> \(r.to)")
            } catch let e as KilnError { throw e.inFile(input) }
        }

        if ProcessInfo.processInfo.environment["KILN_OPTIMIZE_INJECT_FAULT"] == "1" {
            try FaultInjection.apply(&model)
        }
        var verification: Verification? = nil
        if verify > 0 {
            let v = try Verification.run(original: original, optimized: model, samples: verify, seed: seed)
            verification = v
            if let failure = v.failure {
                if json { try printJSON(OptimizeReport(self, report, before, ModelStats(model), v, nil, started)) }
                throw KilnError(.checkFailed, "verification failed: \(failure); nothing written", at: .init(file: input))
            }
        }

        var writeOptions = ModelFile.WriteOptions()
        switch externalData {
        case nil: writeOptions.externalData = nil
        case .preserve: writeOptions.externalData = .preserve
        case .some(.none): writeOptions.externalData = ExternalDataMode.none
        case .perTensor: writeOptions.externalData = .perTensor(threshold: externalDataThreshold)
        case .single:
            writeOptions.externalData = .single(location: ModelFile.defaultDataLocation(for: output),
                                                threshold: externalDataThreshold)
        }
        let written = try ModelFile.write(model, to: output, options: writeOptions)
        let after = ModelStats(model)
        let summary = OptimizeReport(self, report, before, after, verification, written.modelBytes, started)
        if json {
            try printJSON(summary)
        } else {
            if verbose {
                print(summary.passTable())
                for line in log.messages.prefix(200) { print("  miss: \(line)") }
                print("")
            }
            print(summary.statsTable())
            if let v = verification { print("verified: \(v.runs) run(s), outputs equal (rtol \(Verification.rtol), atol \(Verification.atol))") }
            print("wrote \(output) (\(written.modelBytes) bytes) in \(String(format: "%.3f", summary.seconds)) s")
        }
        if let profile { try TargetFindings.report(model, target: profile.target, notes: targetLines, toStderr: json) }
        withExtendedLifetime((model, original)) { exitSuccessfully() }
    }
}

// MARK: statistics and report

/// Node, initializer and parameter counts of a model (subgraphs included).
struct ModelStats: Encodable {
    var nodes = 0
    var nodesByOp: [String: Int] = [:]
    var initializers = 0
    var parameters: Int64 = 0
    var bytes: Int64 = 0

    init(_ model: Model) {
        model.forEachGraph { g, _ in
            nodes += g.nodeCount
            for id in g.order {
                let n = g[node: id]
                let op = n.isDefault ? n.opType : "\(n.domain).\(n.opType)"
                nodesByOp[op, default: 0] += 1
            }
            for id in g.initializerOrder {
                let t = g[value: id].initializer!
                initializers += 1
                parameters += t.elementCount ?? 0
                bytes += Int64(t.payloadByteCount)
            }
        }
    }
}

extension Node {
    fileprivate var isDefault: Bool { domain.isEmpty || domain == "ai.onnx" }
}

/// `kiln optimize --json` (schema 1, documented in Docs/Commands/optimize.md).
struct OptimizeReport: Encodable {
    var schema = 1
    var input: String
    var output: String?
    var level: Int
    var rounds: Int
    var fixedPoint: Bool
    var seconds: Double
    var inferenceSeconds: Double
    var inferenceRuns: Int
    var passes: [PassManager.PassStats]
    var before: ModelStats
    var after: ModelStats
    var verification: Verification?
    var outputBytes: Int?

    init(_ c: Optimize, _ r: PassManager.Report, _ before: ModelStats, _ after: ModelStats, _ v: Verification?,
         _ outputBytes: Int?, _ started: Double) {
        input = c.input
        output = outputBytes == nil ? nil : c.output
        level = c.level
        rounds = r.rounds
        fixedPoint = r.reachedFixedPoint
        seconds = monotonicSeconds() - started
        inferenceSeconds = r.inferenceSeconds
        inferenceRuns = r.inferenceRuns
        passes = r.passes
        self.before = before
        self.after = after
        verification = v
        self.outputBytes = outputBytes
    }

    func passTable() -> String {
        var lines = [pad("pass", 28) + lpad("runs", 6) + lpad("changes", 9) + lpad("ms", 10) + "  counts"]
        for p in passes {
            let counts = p.counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            lines.append(pad(p.name, 28) + lpad(String(p.runs), 6) + lpad(String(p.changes), 9)
                         + lpad(String(format: "%.1f", p.seconds * 1000), 10) + "  " + counts)
        }
        lines.append(pad("shape inference", 28) + lpad(String(inferenceRuns), 6) + lpad("", 9)
                     + lpad(String(format: "%.1f", inferenceSeconds * 1000), 10))
        lines.append("rounds: \(rounds)\(fixedPoint ? " (fixed point)" : " (step cap reached)")")
        return lines.joined(separator: "\n")
    }

    func statsTable() -> String {
        var lines = [pad("", 28) + lpad("before", 12) + lpad("after", 12)]
        let ops = Set(before.nodesByOp.keys).union(after.nodesByOp.keys).sorted()
        for op in ops {
            lines.append(pad("  " + op, 28) + lpad(String(before.nodesByOp[op] ?? 0), 12) + lpad(String(after.nodesByOp[op] ?? 0), 12))
        }
        lines.append(pad("nodes", 28) + lpad(String(before.nodes), 12) + lpad(String(after.nodes), 12))
        lines.append(pad("initializers", 28) + lpad(String(before.initializers), 12) + lpad(String(after.initializers), 12))
        lines.append(pad("parameters", 28) + lpad(String(before.parameters), 12) + lpad(String(after.parameters), 12))
        lines.append(pad("initializer bytes", 28) + lpad(String(before.bytes), 12) + lpad(String(after.bytes), 12))
        return lines.joined(separator: "\n")
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    private func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}

// MARK: fault injection (test hook)

/// `KILN_OPTIMIZE_INJECT_FAULT=1`: corrupts the optimized model on purpose so tests can prove
/// that `--verify` catches a wrong result. The first graph output gets 1 added (Not for bools);
/// when it cannot (not a tensor of a numeric type, or a graph input), the first float initializer
/// gets 1 added to its first element.
enum FaultInjection {
    static func apply(_ model: inout Model) throws {
        var g = model.graph
        if let y = g.outputs.first, !g.inputs.contains(y), let type = g[value: y].type,
           let dt = type.tensorElementType, dt == .bool || one(dt) != nil {
            let name = g.name(of: y)
            try g.rename(y, to: g.uniqueName(name + "_before_fault"))
            let out = try g.addValue(named: name, type: type)
            if dt == .bool {
                try g.addNode(Node(opType: "Not", name: name + "_fault"), inputs: [y], outputs: [out])
            } else {
                let c = try g.addInitializer(named: g.uniqueName(name + "_fault_one"), one(dt)!)
                try g.addNode(Node(opType: "Add", name: name + "_fault"), inputs: [y, c], outputs: [out])
            }
            var outs = g.outputs
            outs[0] = out
            g.setOutputs(outs)
            model.graph = g
            return
        }
        for id in g.initializerOrder {
            let t = g[value: id].initializer!
            guard t.dataType == .float, let tv = try? TensorValue(t), var xs = tv.elements(as: Float.self), !xs.isEmpty else { continue }
            xs[0] += 1
            g[value: id].initializer = TensorValue(shape: tv.shape, elements: xs).irTensor(name: t.name)
            model.graph = g
            return
        }
        throw KilnError(.unsupported, "KILN_OPTIMIZE_INJECT_FAULT: no numeric graph output or float initializer to perturb")
    }

    /// A scalar 1 of `type` in raw little-endian layout.
    static func one(_ type: DataType) -> Tensor? {
        let bytes: [UInt8]
        switch type {
        case .float: bytes = [0x00, 0x00, 0x80, 0x3f]
        case .double: bytes = [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
        case .float16: bytes = [0x00, 0x3c]
        case .bfloat16: bytes = [0x80, 0x3f]
        case .int8, .uint8: bytes = [1]
        case .int16, .uint16: bytes = [1, 0]
        case .int32, .uint32: bytes = [1, 0, 0, 0]
        case .int64, .uint64: bytes = [1, 0, 0, 0, 0, 0, 0, 0]
        default: return nil
        }
        return Tensor(dataType: type, dims: [], storage: .raw(TensorBytes(bytes)))
    }
}

// MARK: --verify

/// `--verify N`: the original and the optimized model run in the evaluator on the same random
/// inputs, N samples at each of two sizes per dynamic dim (one size when every dim is static).
/// Sizes come from the model's `kiln.optimize.dims` metadata (`{"batch": [1, 4]}`), else 2 and 3;
/// integer inputs are drawn from `kiln.optimize.ranges` (`{"ids": [0, 100]}`), else [0, 2).
struct Verification: Encodable {
    static let rtol = 1e-3, atol = 1e-4
    var runs = 0
    var maxAbsError = 0.0
    var failure: String?

    static func run(original: Model, optimized: Model, samples: Int, seed: UInt64) throws -> Verification {
        let a: Evaluator, b: Evaluator
        do { a = try Evaluator(model: original) } catch let e as KilnError {
            throw KilnError(.unsupported, "--verify: the evaluator cannot run the original model: \(e.message)")
        }
        do { b = try Evaluator(model: optimized) } catch let e as KilnError {
            return Verification(failure: "the evaluator cannot load the optimized model: \(e.message)")
        }
        let inputs = a.requiredInputs
        var dynamic: [String] = []
        var shapes: [[(fixed: Int?, key: String)]] = []
        for (name, type) in inputs {
            guard case .tensor(_, let shape?)? = type?.kind else {
                throw KilnError(.unsupported, "--verify: input '\(name)' has no tensor type of known rank; fix it with --input-shape")
            }
            var dims: [(Int?, String)] = []
            for (axis, d) in shape.dims.enumerated() {
                switch d {
                case .value(let v): dims.append((Int(v), ""))
                case .symbol(let s): dims.append((nil, s)); if !dynamic.contains(s) { dynamic.append(s) }
                case .unknown:
                    let key = "?\(name):\(axis)"
                    dims.append((nil, key)); dynamic.append(key)
                }
            }
            shapes.append(dims)
        }
        let sizeMeta = metadata(original, "kiln.optimize.dims")
        let rangeMeta = metadata(original, "kiln.optimize.ranges")
        var result = Verification()
        for sample in 0..<samples {
            for variant in 0..<(dynamic.isEmpty ? 1 : 2) {
                var rng = SplitMix64(seed: seed &+ UInt64(sample) &* 7919 &+ UInt64(variant))
                var feed: [String: RuntimeValue] = [:]
                var label: [String] = []
                for (k, (name, type)) in inputs.enumerated() {
                    let shape = shapes[k].map { d -> Int in
                        if let f = d.fixed { return f }
                        let sizes = sizeMeta[d.key] ?? [2, 3]
                        return Int(sizes[min(variant, sizes.count - 1)])
                    }
                    label.append("\(name)\(shape)")
                    let range = rangeMeta[name].map { ($0.first ?? 0, $0.count > 1 ? $0[1] : 2) } ?? (0, 2)
                    feed[name] = .tensor(try randomTensor(type!.tensorElementType, shape: shape, range: range, name: name, rng: &rng))
                }
                let want: [RuntimeValue]
                do { want = try a.run(feed) } catch let e as KilnError {
                    throw KilnError(.unsupported, "--verify: the evaluator cannot run the original model on \(label.joined(separator: ", ")): \(e.message)")
                }
                let got: [RuntimeValue]
                do { got = try b.run(feed) } catch let e as KilnError {
                    result.failure = "the optimized model fails on \(label.joined(separator: ", ")): \(e.message)"
                    return result
                }
                result.runs += 1
                for (i, name) in a.outputNames.enumerated() {
                    let other = b.outputNames.firstIndex(of: name) ?? i
                    guard other < got.count else {
                        result.failure = "output '\(name)' is missing from the optimized model"
                        return result
                    }
                    if let problem = compare(want[i], got[other], maxError: &result.maxAbsError) {
                        result.failure = "output '\(name)' differs on \(label.joined(separator: ", ")): \(problem)"
                        return result
                    }
                }
            }
        }
        return result
    }

    /// Why two values differ beyond tolerance, or nil.
    static func compare(_ x: RuntimeValue, _ y: RuntimeValue, maxError: inout Double) -> String? {
        switch (x, y) {
        case (.tensor(let a), .tensor(let b)):
            guard a.dataType == b.dataType else { return "element type \(a.dataType.name) -> \(b.dataType.name)" }
            guard a.shape == b.shape else { return "shape \(a.shape) -> \(b.shape)" }
            if case .string(let sa) = a.storage, case .string(let sb) = b.storage {
                return sa == sb ? nil : "strings differ"
            }
            let da = a.doubles, db = b.doubles
            var worst = 0.0, worstIndex = -1
            let exact = !a.dataType.isFloatingPoint
            for i in 0..<da.count {
                let p = da[i], q = db[i]
                if p.isNaN && q.isNaN { continue }
                if p == q { continue }
                let err = abs(p - q)
                let bad = exact || err.isNaN || err > atol + rtol * abs(p)
                if err > maxError || err.isNaN { maxError = err.isNaN ? .infinity : max(maxError, err) }
                if bad && (worstIndex < 0 || err > worst || err.isNaN) { worst = err.isNaN ? .infinity : err; worstIndex = i }
            }
            if worstIndex >= 0 {
                return "max error \(worst) at element \(worstIndex) (\(da[worstIndex]) -> \(db[worstIndex]))"
            }
            return nil
        case (.sequence(let a, _), .sequence(let b, _)):
            guard a.count == b.count else { return "sequence length \(a.count) -> \(b.count)" }
            for (k, (p, q)) in zip(a, b).enumerated() {
                if let m = compare(.tensor(p), .tensor(q), maxError: &maxError) { return "element \(k): \(m)" }
            }
            return nil
        case (.optional(let a, _), .optional(let b, _)):
            switch (a, b) {
            case (nil, nil): return nil
            case (let p?, let q?): return compare(p, q, maxError: &maxError)
            default: return "optional presence differs"
            }
        default:
            return "kind differs (\(x) -> \(y))"
        }
    }

    static func randomTensor(_ type: DataType?, shape: [Int], range: (Int64, Int64), name: String,
                             rng: inout SplitMix64) throws -> TensorValue {
        let n = shape.reduce(1, *)
        let (lo, hi) = (range.0, max(range.1, range.0 + 1))
        func ints<T: FixedWidthInteger & TensorElement>(_: T.Type) -> TensorValue {
            TensorValue(shape: shape, (0..<n).map { _ in T(truncatingIfNeeded: lo + Int64(rng.next() % UInt64(hi - lo))) })
        }
        switch type {
        case .float?: return TensorValue(shape: shape, (0..<n).map { _ in Float(rng.normal()) })
        case .double?: return TensorValue(shape: shape, (0..<n).map { _ in rng.normal() })
        case .float16?: return TensorValue(shape: shape, (0..<n).map { _ in Float16(rng.normal()) })
        case .int64?: return ints(Int64.self)
        case .int32?: return ints(Int32.self)
        case .int16?: return ints(Int16.self)
        case .int8?: return ints(Int8.self)
        case .uint64?: return ints(UInt64.self)
        case .uint32?: return ints(UInt32.self)
        case .uint16?: return ints(UInt16.self)
        case .uint8?: return ints(UInt8.self)
        case .bool?: return TensorValue(shape: shape, (0..<n).map { _ in rng.next() & 1 == 1 })
        default:
            throw KilnError(.unsupported, "--verify: no random generator for input '\(name)' of type \(type?.name ?? "unknown")")
        }
    }

    /// A JSON object of integer lists from the model's metadata (`{"batch": [1, 4]}`).
    static func metadata(_ model: Model, _ key: String) -> [String: [Int64]] {
        guard let text = model.metadata.first(where: { $0.key == key })?.value,
              let object = try? JSONDecoder().decode([String: [Double]].self, from: Data(text.utf8)) else { return [:] }
        var out: [String: [Int64]] = [:]
        for (k, v) in object { out[k] = v.map { Int64($0) } }
        return out
    }
}
