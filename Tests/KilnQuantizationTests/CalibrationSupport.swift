import KilnEvaluator
import KilnIR
import KilnTestSupport
import Testing
@testable import KilnQuantization

import Foundation

/// Helpers shared by the calibration tests: temp folders, sample files, a stored-zip writer (for
/// `.npz` without Python) and the repository's venv Python (for `np.savez` / `np.savez_compressed`).
enum CalibrationFixture {
    static func tempFolder(_ tag: String = "calib") throws -> String {
        let path = NSTemporaryDirectory() + "kiln-\(tag)-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func folder(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// x [1, 4] float -> Relu -> r; r + x -> y; y * 2 -> out.
    static var model: Model {
        var b = ModelBuilder()
        b.input("x", [1, 4])
        b.floats("two", [2], [1])
        b.node("Relu", ["x"], ["r"])
        b.node("Add", ["r", "x"], ["y"])
        b.node("Mul", ["y", "two"], ["out"])
        b.output("out")
        return b.model
    }

    /// Two inputs: a [2, 3] float and b [2] int64.
    static var twoInputModel: Model {
        var m = ModelBuilder()
        m.input("a", [2, 3])
        m.input("b", [2], .int64)
        m.node("Cast", ["b"], ["bf"], [Attribute("to", .int(Int64(DataType.float.rawValue)))])
        m.node("Relu", ["a"], ["ra"])
        m.output("ra")
        m.output("bf")
        return m.model
    }

    static func x(_ values: [Float]) -> RuntimeValue { .tensor(TensorValue(shape: [1, 4], values)) }

    /// A zip of stored entries (what `np.savez` writes, minus the zip64 extras).
    static func storedZip(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], directory: [UInt8] = []
        func u16(_ v: Int, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { u16(Int(v & 0xFFFF), &b); u16(Int(v >> 16), &b) }
        for (name, data) in entries {
            let offset = UInt32(out.count), crc = crc32(data), nameBytes = Array(name.utf8)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out)
            u16(nameBytes.count, &out); u16(0, &out); out += nameBytes; out += data
            u32(0x0201_4B50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(crc, &directory); u32(UInt32(data.count), &directory)
            u32(UInt32(data.count), &directory); u16(nameBytes.count, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(0, &directory); u32(offset, &directory); directory += nameBytes
        }
        let start = UInt32(out.count)
        out += directory
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(UInt32(directory.count), &out); u32(start, &out); u16(0, &out)
        return out
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func writeNpz(_ arrays: [(String, TensorValue)], to path: String) throws {
        let entries = try arrays.map { ("\($0.0).npy", try NumpyFile.encode($0.1)) }
        try Data(storedZip(entries)).write(to: URL(fileURLWithPath: path))
    }

    /// The repository's venv Python, when set up (`make setup`).
    static var python: String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = root.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }

    static func runPython(_ script: String) throws {
        guard let python else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python failed: \(script)")
    }
}

/// Expects `body` to throw a KilnError whose text contains every string in `parts`.
func expectCalibrationError(_ parts: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(parts)", sourceLocation: sourceLocation)
    } catch let e as KilnError {
        for p in parts where !e.description.contains(p) {
            Issue.record("error '\(e.description)' does not mention '\(p)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
