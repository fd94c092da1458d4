import KilnEvaluator
import KilnIR
import Testing
@testable import KilnQuantization

import Foundation

@Suite struct CalibrationDataTests {
    typealias F = CalibrationFixture

    @Test func npyFoldersInNaturalOrder() throws {
        let dir = try F.tempFolder()
        for i in [10, 2, 1] {
            try F.folder("\(dir)/s\(i)")
            try ValueFile.write(F.x([Float(i), 0, -1, 2]), name: "x", to: "\(dir)/s\(i)/x.npy")
        }
        let data = try CalibrationData(path: dir, model: F.model)
        #expect(data.layout == .npyFolders)
        #expect(data.count == 3)
        #expect(data.sampleNames == ["s1", "s2", "s10"])
        let x = try #require(data.sample(2)["x"]?.tensor)
        #expect(x.shape == [1, 4])
        #expect(x.elements(as: Float.self)! == [10, 0, -1, 2])
    }

    @Test func onnxTestDataByNameAndByPosition() throws {
        let dir = try F.tempFolder()
        // By TensorProto name, files in the other order than the model's inputs.
        try F.folder("\(dir)/test_data_set_0")
        try ValueFile.write(.tensor(TensorValue(shape: [2], [Int64(4), 5])), name: "b", to: "\(dir)/test_data_set_0/input_0.pb")
        try ValueFile.write(.tensor(TensorValue(shape: [2, 3], [Float](repeating: 1, count: 6))), name: "a",
                            to: "\(dir)/test_data_set_0/input_1.pb")
        // Unnamed: by position.
        try F.folder("\(dir)/test_data_set_1")
        try ValueFile.write(.tensor(TensorValue(shape: [2, 3], [Float](repeating: 2, count: 6))), name: "",
                            to: "\(dir)/test_data_set_1/input_0.pb")
        try ValueFile.write(.tensor(TensorValue(shape: [2], [Int64(6), 7])), name: "", to: "\(dir)/test_data_set_1/input_1.pb")
        let data = try CalibrationData(path: dir, model: F.twoInputModel)
        #expect(data.layout == .onnxTestData)
        #expect(data.count == 2)
        #expect(try data.sample(0)["b"]?.tensor?.elements(as: Int64.self)! == [4, 5])
        #expect(try data.sample(0)["a"]?.tensor?.elements(as: Float.self)!.first == 1)
        #expect(try data.sample(1)["a"]?.tensor?.elements(as: Float.self)!.first == 2)
        #expect(try data.sample(1)["b"]?.tensor?.elements(as: Int64.self)! == [6, 7])
        // A single test-data folder is one sample.
        let one = try CalibrationData(path: "\(dir)/test_data_set_1", model: F.twoInputModel)
        #expect(one.count == 1)
    }

    @Test func npzStoredWrittenInSwift() throws {
        let dir = try F.tempFolder()
        try F.writeNpz([("a", TensorValue(shape: [2, 3], [Float(1), 2, 3, 4, 5, 6])), ("b", TensorValue(shape: [2], [Int64(1), 2]))],
                       to: "\(dir)/sample0.npz")
        let data = try CalibrationData(path: dir, model: F.twoInputModel)
        #expect(data.layout == .npz)
        #expect(try data.sample(0)["a"]?.tensor?.elements(as: Float.self)! == [1, 2, 3, 4, 5, 6])
        #expect(try data.sample(0)["b"]?.tensor?.elements(as: Int64.self)! == [1, 2])
    }

    /// Real numpy archives: `np.savez` (stored, zip64 extras) and `np.savez_compressed` (deflate).
    @Test(.enabled(if: CalibrationFixture.python != nil)) func npzFromNumpy() throws {
        let dir = try F.tempFolder()
        try F.runPython("""
            import numpy as np
            rng = np.random.default_rng(0)
            a = rng.standard_normal((2, 3)).astype(np.float32)
            np.savez('\(dir)/s0.npz', a=a, b=np.array([1, 2], dtype=np.int64))
            np.savez_compressed('\(dir)/s1.npz', a=np.arange(6, dtype=np.float32).reshape(2, 3) / 7, b=np.array([3, 4], dtype=np.int64))
            np.save('\(dir)/a0.npy', a)
            """)
        let a0 = try ValueFile.read("\(dir)/a0.npy").value.tensor!.elements(as: Float.self)!
        try FileManager.default.removeItem(atPath: "\(dir)/a0.npy")
        let data = try CalibrationData(path: dir, model: F.twoInputModel)
        #expect(data.count == 2)
        #expect(try data.sample(0)["a"]?.tensor?.elements(as: Float.self)! == a0)
        let s1 = try data.sample(1)
        #expect(s1["a"]?.tensor?.elements(as: Float.self)! == ContiguousArray((0..<6).map { Float($0) / 7 }))
        #expect(s1["b"]?.tensor?.elements(as: Int64.self)! == [3, 4])
    }

    @Test func deflateEntryCorruptionIsReported() throws {
        let dir = try F.tempFolder()
        var bytes = F.storedZip([("x.npy", try NumpyFile.encode(TensorValue(shape: [1, 4], [Float(1), 2, 3, 4])))])
        bytes[bytes.count / 3] ^= 0xFF  // inside the payload: the CRC no longer matches
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/s.npz"))
        let data = try CalibrationData(path: dir, model: F.model)
        expectCalibrationError(["s.npz", "input 'x'"]) { _ = try data.sample(0) }
    }

    // MARK: bad input

    @Test func missingOrEmptyFolder() throws {
        let dir = try F.tempFolder()
        expectCalibrationError([dir, "empty"]) { _ = try CalibrationData(path: dir, model: F.model) }
        expectCalibrationError(["\(dir)/nope", "does not exist"]) { _ = try CalibrationData(path: "\(dir)/nope", model: F.model) }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: "\(dir)/readme.txt"))
        expectCalibrationError([dir, "no calibration samples"]) { _ = try CalibrationData(path: dir, model: F.model) }
    }

    @Test func missingAndExtraInputs() throws {
        let dir = try F.tempFolder()
        try F.writeNpz([("a", TensorValue(shape: [2, 3], [Float](repeating: 0, count: 6)))], to: "\(dir)/s0.npz")
        expectCalibrationError(["s0.npz", "input 'b' is missing"]) { _ = try CalibrationData(path: dir, model: F.twoInputModel) }

        let dir2 = try F.tempFolder()
        try F.folder("\(dir2)/s0")
        try ValueFile.write(F.x([1, 2, 3, 4]), name: "x", to: "\(dir2)/s0/x.npy")
        try ValueFile.write(F.x([1, 2, 3, 4]), name: "z", to: "\(dir2)/s0/z.npy")
        expectCalibrationError(["\(dir2)/s0", "'z'", "not an input"]) { _ = try CalibrationData(path: dir2, model: F.model) }

        let dir3 = try F.tempFolder()
        try F.folder("\(dir3)/test_data_set_0")
        try ValueFile.write(F.x([1, 2, 3, 4]), name: "", to: "\(dir3)/test_data_set_0/input_0.pb")
        expectCalibrationError(["test_data_set_0", "input_1.pb"]) { _ = try CalibrationData(path: dir3, model: F.twoInputModel) }
    }

    @Test func wrongShapeDtypeAndNaN() throws {
        let dir = try F.tempFolder()
        let cases: [(String, RuntimeValue, [String])] = [
            ("shape", .tensor(TensorValue(shape: [1, 5], [Float](repeating: 0, count: 5))), ["dimension 1 = 4", "[1, 5]"]),
            ("rank", .tensor(TensorValue(shape: [4], [Float](repeating: 0, count: 4))), ["rank 2"]),
            ("dtype", .tensor(TensorValue(shape: [1, 4], [Double](repeating: 0, count: 4))), ["must be float", "double"]),
            ("nan", F.x([0, .nan, 1, 2]), ["nan", "flat index 1", "finite"]),
            ("inf", F.x([0, 1, -.infinity, 2]), ["-inf", "flat index 2"]),
        ]
        for (tag, value, parts) in cases {
            let d = "\(dir)/\(tag)"
            try F.folder("\(d)/s0")
            try ValueFile.write(value, name: "x", to: "\(d)/s0/x.npy")
            let data = try CalibrationData(path: d, model: F.model)
            expectCalibrationError(["\(d)/s0/x.npy", "input 'x'"] + parts) { _ = try data.sample(0) }
            // The same error reaches the caller of calibrate, before anything is computed.
            expectCalibrationError(["\(d)/s0/x.npy", "input 'x'"]) {
                _ = try Calibrator.calibrate(model: F.model, data: data, tensors: ["r"], options: CalibrationOptions())
            }
        }
        // In an .npz the error names the archive and the input.
        try F.writeNpz([("x", TensorValue(shape: [1, 4], [Float(0), .nan, 0, 0]))], to: "\(dir)/bad.npz")
        let data = try CalibrationData(path: "\(dir)/bad.npz", model: F.model)
        expectCalibrationError(["bad.npz", "input 'x'", "nan"]) { _ = try data.sample(0) }
    }

    @Test func truncatedArraysAreErrorsNotCrashes() throws {
        let dir = try F.tempFolder()
        var npy = try NumpyFile.encode(TensorValue(shape: [1, 4], [Float(1), 2, 3, 4]))
        npy.removeLast(5)
        try F.folder("\(dir)/npy/s0")
        try Data(npy).write(to: URL(fileURLWithPath: "\(dir)/npy/s0/x.npy"))
        let data = try CalibrationData(path: "\(dir)/npy", model: F.model)
        expectCalibrationError(["\(dir)/npy/s0/x.npy", "input 'x'"]) { _ = try data.sample(0) }
        try Data(F.storedZip([("x.npy", npy)])).write(to: URL(fileURLWithPath: "\(dir)/t.npz"))
        let z = try CalibrationData(path: "\(dir)/t.npz", model: F.model)
        expectCalibrationError(["t.npz", "input 'x'"]) { _ = try z.sample(0) }
        try Data([0x50, 0x4B, 0x03, 0x04, 1, 2, 3]).write(to: URL(fileURLWithPath: "\(dir)/junk.npz"))
        expectCalibrationError(["junk.npz", "zip"]) { _ = try CalibrationData(path: "\(dir)/junk.npz", model: F.model) }
    }

    @Test func mixedLayoutsAreRefused() throws {
        let dir = try F.tempFolder()
        try F.writeNpz([("x", TensorValue(shape: [1, 4], [Float](repeating: 0, count: 4)))], to: "\(dir)/s0.npz")
        try F.folder("\(dir)/s1")
        expectCalibrationError(["mixes", "'s1'"]) { _ = try CalibrationData(path: dir, model: F.model) }
    }
}
