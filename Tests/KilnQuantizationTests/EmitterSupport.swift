// Models, calibration and checks shared by the emitter tests.
import Foundation
import Testing
import KilnIR
import KilnAnalysis
import KilnEvaluator
import KilnONNX
import KilnQuantization
import KilnTestSupport

enum EmitterFixtures {
    static func floats(_ n: Int, seed: UInt64, scale: Double = 0.5) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(rng.normal() * scale) }
    }

    /// x [1,3,8,8] -> Conv(4, 3x3, pad 1, bias) -> Relu -> Conv(4, 3x3) -> GlobalAveragePool -> Flatten
    /// -> Gemm(transB, bias) -> y [1,5].
    static func cnn(opset: Int = 21) -> Model {
        var b = ModelBuilder(opset: opset)
        b.input("x", [1, 3, 8, 8])
        b.floats("w1", floats(4 * 3 * 9, seed: 1), [4, 3, 3, 3])
        b.floats("b1", floats(4, seed: 2, scale: 0.1), [4])
        b.floats("w2", floats(4 * 4 * 9, seed: 3, scale: 0.3), [4, 4, 3, 3])
        b.floats("b2", floats(4, seed: 4, scale: 0.1), [4])
        b.floats("wf", floats(5 * 4, seed: 5), [5, 4])
        b.floats("bf", floats(5, seed: 6, scale: 0.1), [5])
        b.node("Conv", ["x", "w1", "b1"], ["c1"], name: "conv1", [Attribute("pads", .ints([1, 1, 1, 1]))])
        b.node("Relu", ["c1"], ["r1"], name: "relu1")
        b.node("Conv", ["r1", "w2", "b2"], ["c2"], name: "conv2")
        b.node("GlobalAveragePool", ["c2"], ["p"], name: "pool")
        b.node("Flatten", ["p"], ["f"], name: "flatten")
        b.node("Gemm", ["f", "wf", "bf"], ["y"], name: "fc", [Attribute("transB", .int(1))])
        b.output("y", .float, [.value(1), .value(5)])
        return b.model
    }

    /// x [2,8] -> MatMul(w1 [8,16]) -> Add(b1) -> Relu -> MatMul(w2 [16,4]) -> y [2,4].
    static func mlp(opset: Int = 21) -> Model {
        var b = ModelBuilder(opset: opset)
        b.input("x", [2, 8])
        b.floats("w1", floats(8 * 16, seed: 11), [8, 16])
        b.floats("b1", floats(16, seed: 12, scale: 0.1), [16])
        b.floats("w2", floats(16 * 4, seed: 13), [16, 4])
        b.node("MatMul", ["x", "w1"], ["h"], name: "mm1")
        b.node("Add", ["h", "b1"], ["ha"], name: "add1")
        b.node("Relu", ["ha"], ["hr"], name: "relu")
        b.node("MatMul", ["hr", "w2"], ["y"], name: "mm2")
        b.output("y", .float, [.value(2), .value(4)])
        return b.model
    }

    /// Attention-like: q = x Wq, k = x Wk, s = q k^T (two activations), y = s.
    static func attention() -> Model {
        var b = ModelBuilder()
        b.input("x", [4, 8])
        b.floats("wq", floats(8 * 8, seed: 21), [8, 8])
        b.floats("wk", floats(8 * 8, seed: 22), [8, 8])
        b.node("MatMul", ["x", "wq"], ["q"], name: "q_proj")
        b.node("MatMul", ["x", "wk"], ["k"], name: "k_proj")
        b.node("Transpose", ["k"], ["kt"], name: "kt", [Attribute("perm", .ints([1, 0]))])
        b.node("MatMul", ["q", "kt"], ["y"], name: "scores")
        b.output("y", .float, [.value(4), .value(4)])
        return b.model
    }

    /// An LLM-style block: Gather(embedding [32,64], ids) -> MatMul(w [64,48]) -> y.
    static func embedding() -> Model {
        var b = ModelBuilder()
        b.input("ids", .int64, [.value(1), .value(3)])
        b.floats("emb", floats(32 * 64, seed: 31), [32, 64])
        b.floats("w", floats(64 * 48, seed: 32, scale: 0.2), [64, 48])
        b.node("Gather", ["emb", "ids"], ["e"], name: "embed")
        b.node("MatMul", ["e", "w"], ["y"], name: "proj")
        b.output("y", .float, [.value(1), .value(3), .value(48)])
        return b.model
    }

    /// x [1,4,5,5] -> ConvTranspose(w [4,3,3,3], bias, stride 2) -> y [1,3,11,11].
    static func convTranspose() -> Model {
        var b = ModelBuilder()
        b.input("x", [1, 4, 5, 5])
        b.floats("w", floats(4 * 3 * 9, seed: 51), [4, 3, 3, 3])
        b.floats("b", floats(3, seed: 52, scale: 0.1), [3])
        b.node("ConvTranspose", ["x", "w", "b"], ["y"], name: "up", [Attribute("strides", .ints([2, 2]))])
        b.output("y", .float, [.value(1), .value(3), .value(11), .value(11)])
        return b.model
    }

    /// Deterministic random float inputs for every float graph input (ids for int64 inputs).
    static func inputs(_ model: Model, seed: UInt64) -> [String: TensorValue] {
        var out: [String: TensorValue] = [:]
        for id in model.graph.inputs where model.graph.constantTensor(id) == nil {
            let v = model.graph[value: id]
            let shape = v.type!.tensorShape!.dims.map { d -> Int in if case .value(let n) = d { Int(n) } else { 1 } }
            let n = shape.reduce(1, *)
            if v.type!.tensorElementType == .int64 {
                out[v.name] = TensorValue(shape: shape, (0..<n).map { Int64(($0 * 7 + Int(seed)) % 32) })
            } else {
                out[v.name] = TensorValue(shape: shape, floats(n, seed: seed &+ 1000))
            }
        }
        return out
    }

    /// MinMax ranges of every graph input and node output over `samples` random inputs.
    static func calibrate(_ model: Model, samples: Int = 4) throws -> CalibrationTable {
        let evaluator = try Evaluator(model: model)
        var ranges: [String: TensorRange] = [:]
        func merge(_ name: String, _ t: TensorValue) {
            guard t.dataType == .float else { return }
            let d = t.doubles
            let r = TensorRange(min: Float(d.min() ?? 0), max: Float(d.max() ?? 0))
            ranges[name] = ranges[name].map { TensorRange(min: min($0.min, r.min), max: max($0.max, r.max)) } ?? r
        }
        for s in 0..<samples {
            let feed = inputs(model, seed: UInt64(s))
            for (k, v) in feed { merge(k, v) }
            let observer = RecordingObserver(names: nil)
            _ = try evaluator.run(feed.mapValues { .tensor($0) }, observer: observer)
            for (k, v) in observer.values { if let t = v.tensor { merge(k, t) } }
        }
        return CalibrationTable(method: .minmax, samples: samples, ranges: ranges)
    }

    /// Largest |a - b| over the outputs, and the largest |a|.
    static func maxError(_ a: Model, _ b: Model, seed: UInt64 = 1) throws -> (error: Double, magnitude: Double) {
        let feed = inputs(a, seed: seed)
        let x = try outputs(a, feed), y = try outputs(b, feed)
        var err = 0.0, mag = 0.0
        for (p, q) in zip(x, y) {
            #expect(p.shape == q.shape)
            for (u, v) in zip(p.doubles, q.doubles) { err = max(err, abs(u - v)); mag = max(mag, abs(u)) }
        }
        return (err, mag)
    }
}

/// A config with the options the tests vary.
func makeConfig(_ mode: QuantizationConfig.Mode, _ format: QuantizationConfig.Format = .qdq, perChannel: Bool = true,
                activation: DataType = .uint8, weight: DataType = .int8, symmetric: Bool = true) -> QuantizationConfig {
    var c = QuantizationConfig()
    c.mode = mode
    c.format = format
    c.perChannel = perChannel
    c.activationType = activation
    c.weightType = weight
    c.symmetricWeights = symmetric
    return c
}

/// A static-mode config in `format`.
func staticConfig(_ format: QuantizationConfig.Format = .qdq, perChannel: Bool = true,
                  activation: DataType = .uint8) -> QuantizationConfig {
    makeConfig(.static, format, perChannel: perChannel, activation: activation)
}

/// Kiln's checker finds nothing, and graph inputs/outputs keep their names and types.
func expectValidQuantized(_ q: Model, from original: Model, sourceLocation: SourceLocation = #_sourceLocation) {
    let report = Checker().check(q)
    #expect(report.issues.isEmpty, "checker: \(report.issues.map(\.description))", sourceLocation: sourceLocation)
    let io = { (m: Model) in (m.graph.inputs + m.graph.outputs).map { "\(m.graph.name(of: $0)):\(m.graph[value: $0].type.map(\.description) ?? "?")" } }
    #expect(io(q) == io(original), sourceLocation: sourceLocation)
}

extension Tensor {
    var floatValues: [Float] { (try? TensorValue(self).elements(as: Float.self)).flatMap { $0.map { Array($0) } } ?? [] }
}

extension Model {
    func ops(_ op: String) -> [Node] { graph.nodes.map(\.node).filter { $0.opType == op } }
    func constant(_ name: String) -> Tensor? { graph.valueID(named: name).flatMap { graph.constantTensor($0) } }
}

/// Runs `model` in onnxruntime (when /work/main/.venv exists) on the inputs of `seed` and compares with
/// Kiln's evaluator on the same model; returns the max abs difference, or nil when the venv is absent.
func onnxruntimeDifference(_ model: Model, seed: UInt64 = 1) throws -> Double? {
    let python = "/work/main/.venv/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        print("onnxruntime check skipped: \(python) not found")
        return nil
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-emit-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try ModelFile.write(model, to: dir + "/model.onnx")
    let feed = EmitterFixtures.inputs(model, seed: seed)
    for (k, v) in feed { try ValueFile.write(.tensor(v), name: k, to: "\(dir)/in_\(k).npy") }
    let expected = try outputs(model, feed)
    for (i, v) in expected.enumerated() { try ValueFile.write(.tensor(v), name: "o\(i)", to: "\(dir)/out_\(i).npy") }
    let script = """
    import glob, os, sys, numpy as np, onnx, onnxruntime as ort
    d = sys.argv[1]
    onnx.checker.check_model(onnx.load(d + '/model.onnx'), full_check=True)
    s = ort.InferenceSession(d + '/model.onnx', providers=['CPUExecutionProvider'])
    feed = {os.path.basename(p)[3:-4]: np.load(p) for p in glob.glob(d + '/in_*.npy')}
    outs = s.run(None, feed)
    print(max(float(np.max(np.abs(o.astype(np.float64) - np.load(d + f'/out_{i}.npy')))) for i, o in enumerate(outs)))
    """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script, dir]
    let pipe = Pipe(), errPipe = Pipe()
    process.standardOutput = pipe
    process.standardError = errPipe
    try process.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    let err = errPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let d = Double(String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        Issue.record("onnxruntime failed: \(String(decoding: err, as: UTF8.self).suffix(1500))")
        return .infinity
    }
    return d
}
