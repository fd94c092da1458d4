import KilnEvaluator
import KilnIR
import KilnTestSupport
import Testing
@testable import KilnQuantization

import Foundation

@Suite struct CalibrationRunTests {
    typealias F = CalibrationFixture

    static func folder(_ samples: [[Float]]) throws -> String {
        let dir = try F.tempFolder()
        for (i, s) in samples.enumerated() {
            try F.folder("\(dir)/\(i)")
            try ValueFile.write(F.x(s), name: "x", to: "\(dir)/\(i)/x.npy")
        }
        return dir
    }

    @Test func minmaxOverSamplesAndGraphInputs() throws {
        let dir = try Self.folder([[1, -2, 3, 0], [-4, 0.5, 2, 1]])
        let data = try CalibrationData(path: dir, model: F.model)
        let table = try Calibrator.calibrate(model: F.model, data: data, tensors: ["x", "r", "y", "out"], options: CalibrationOptions())
        #expect(table.method == .minmax)
        #expect(table.samples == 2)
        // x is observed from the samples; r = relu(x); y = r + x; out = 2y.
        #expect(table.ranges["x"] == TensorRange(min: -4, max: 3))
        #expect(table.ranges["r"] == TensorRange(min: 0, max: 3))
        #expect(table.ranges["y"] == TensorRange(min: -4, max: 6))
        #expect(table.ranges["out"] == TensorRange(min: -8, max: 12))
        #expect(table.observed == table.ranges)
        // Only what was asked for.
        let some = try Calibrator.calibrate(model: F.model, data: data, tensors: ["r"], options: CalibrationOptions())
        #expect(Array(some.ranges.keys) == ["r"])
    }

    /// MinMax runs samples concurrently when it has threads; the table must equal the one-thread run's,
    /// and a bad sample is still reported (the lowest failing index).
    @Test func concurrentMinmaxMatchesSequential() throws {
        var g = SplitMix64(seed: 11)
        let samples = (0..<7).map { _ in (0..<4).map { _ in Float(g.normal()) * 3 } }
        let data = try CalibrationData(path: try Self.folder(samples), model: F.model)
        var one = CalibrationOptions(), two = CalibrationOptions()
        one.threads = 1
        two.threads = 2
        let a = try Calibrator.calibrate(model: F.model, data: data, tensors: ["x", "r", "y", "out"], options: one)
        let b = try Calibrator.calibrate(model: F.model, data: data, tensors: ["x", "r", "y", "out"], options: two)
        #expect(a == b)
        #expect(b.ranges["x"] == TensorRange(min: samples.joined().min()!, max: samples.joined().max()!))
        var bad = samples
        bad[4][2] = .nan
        let badData = try CalibrationData(path: try Self.folder(bad), model: F.model)
        #expect(throws: KilnError.self) {
            _ = try Calibrator.calibrate(model: F.model, data: badData, tensors: ["x"], options: two)
        }
    }

    @Test func everyMethodRunsEndToEnd() throws {
        var g = SplitMix64(seed: 3)
        let samples = (0..<6).map { _ in (0..<4).map { _ in Float(g.normal()) } }
        let dir = try Self.folder(samples)
        let data = try CalibrationData(path: dir, model: F.model)
        let all = samples.flatMap { $0 }
        for method in CalibrationMethod.allCases {
            var o = CalibrationOptions()
            o.method = method
            o.threads = 1
            let table = try Calibrator.calibrate(model: F.model, data: data, tensors: ["x", "y"], options: o)
            let x = try #require(table.ranges["x"])
            #expect(x.min >= all.min()! && x.max <= all.max()!, "\(method): \(x)")
            #expect(x.max > 0 && x.min < 0)
            #expect(table.observed["x"] == TensorRange(min: all.min()!, max: all.max()!))
        }
    }

    @Test func attentionMaskFillsDoNotBreakHistogramMethods() throws {
        // scores + (1 - mask) * float32.lowest, as BERT exports: onnxruntime's Entropy/Percentile fail here.
        var b = ModelBuilder()
        b.input("scores", [1, 8])
        b.input("mask", [1, 8])
        b.floats("one", [1], [1])
        b.floats("lowest", [-Float.greatestFiniteMagnitude], [1])
        b.node("Sub", ["one", "mask"], ["inv"])
        b.node("Mul", ["inv", "lowest"], ["fill"])
        b.node("Add", ["scores", "fill"], ["masked"])
        b.node("Softmax", ["masked"], ["probs"])
        b.output("probs")
        let model = b.model
        let dir = try F.tempFolder()
        var g = SplitMix64(seed: 5)
        for i in 0..<4 {
            let scores = TensorValue(shape: [1, 8], (0..<8).map { _ in Float(g.normal()) * 3 })
            let mask = TensorValue(shape: [1, 8], [Float](repeating: 1, count: 6) + [0, 0])
            try F.writeNpz([("scores", scores), ("mask", mask)], to: "\(dir)/s\(i).npz")
        }
        let data = try CalibrationData(path: dir, model: model)
        for method in CalibrationMethod.allCases {
            var o = CalibrationOptions()
            o.method = method
            let table = try Calibrator.calibrate(model: model, data: data, tensors: ["masked", "fill"], options: o)
            let r = try #require(table.ranges["masked"])
            #expect(r.min > -20 && r.max < 20, "\(method): \(r)")
            #expect(table.observed["masked"]!.min == -.greatestFiniteMagnitude)
            // The fill tensor itself is 0 or float32.lowest: its range is the regular part, 0.
            #expect(table.ranges["fill"] == TensorRange(min: 0, max: 0))
        }
    }

    @Test func graphInputsWithAnInitializerUseIt() throws {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.input("bias", [4])
        var bias = Tensor.float32([-3, 0, 1, 5], dims: [4])
        bias.name = "bias"
        b.graph.attachInitializer(bias, to: b.graph.valueID(named: "bias")!)
        b.node("Add", ["x", "bias"], ["y"])
        b.output("y")
        let dir = try Self.folder([[1, 1, 1, 1]])
        let data = try CalibrationData(path: dir, model: b.model)
        #expect(data.inputs.map(\.name) == ["x"])
        let table = try Calibrator.calibrate(model: b.model, data: data, tensors: ["bias", "y"], options: CalibrationOptions())
        #expect(table.ranges["bias"] == TensorRange(min: -3, max: 5))
        #expect(table.ranges["y"] == TensorRange(min: -2, max: 6))
    }

    @Test func unknownTensorsAndBadOptionsAreRefused() throws {
        let dir = try Self.folder([[1, 2, 3, 4]])
        let data = try CalibrationData(path: dir, model: F.model)
        expectCalibrationError(["'two'", "neither"]) {
            _ = try Calibrator.calibrate(model: F.model, data: data, tensors: ["two"], options: CalibrationOptions())
        }
        var o = CalibrationOptions()
        o.method = .percentile
        o.percentile = 0
        expectCalibrationError(["percentile"]) { _ = try Calibrator.calibrate(model: F.model, data: data, tensors: ["r"], options: o) }
    }

    @Test func progressLine() {
        let line = ProgressBar.line(done: 3, total: 8, elapsed: 1.5, width: 10)
        #expect(line.contains("[===>      ] 3/8 samples  2.0 samples/s  ETA 3s"))
        #expect(ProgressBar.duration(125) == "2m5s")
    }
}
