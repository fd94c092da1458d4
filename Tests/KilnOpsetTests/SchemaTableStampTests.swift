import Foundation
import Testing
@testable import KilnOpset

/// The generated table is what Scripts/gen_schemas.py writes: its stamp matches it, and, where the
/// project's virtual environment exists, the onnx there is the one the table came from and
/// regenerating gives the same files.
@Suite struct SchemaTableStampTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let generated = root.appendingPathComponent("Sources/KilnOpset/Generated")
    static let python = root.appendingPathComponent(".venv/bin/python")

    /// `key value` lines of the stamp.
    func stamp() throws -> [String: String] {
        let text = try String(contentsOf: Self.generated.appendingPathComponent("SchemaTable.swift.stamp"), encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let space = line.lastIndex(of: " ") else { continue }
            fields[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return fields
    }

    @Test func sha256IsRight() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func stampMatchesTheGeneratedTable() throws {
        let stamp = try stamp()
        let table = try Data(contentsOf: Self.generated.appendingPathComponent("SchemaTable.swift"))
        #expect(stamp["generated sha256"] == SHA256.hex(Array(table)),
                "SchemaTable.swift was edited or regenerated without its stamp: run `make schemas`")
        let registry = SchemaRegistry.standard
        #expect(stamp["onnx"] == registry.onnxVersion)
        #expect(stamp["schemas"] == String(registry.allSchemas.count))
        #expect(stamp["operators"] == String(registry.operatorCount))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: python.path), "no .venv: run `make venv`"))
    func tableIsUpToDateWithTheVenvsOnnx() throws {
        let version = try run(["-c", "import onnx; print(onnx.__version__)"])
        #expect(version.status == 0)
        #expect(version.output.trimmingCharacters(in: .whitespacesAndNewlines) == (try stamp()["onnx"]),
                "the venv's onnx differs from the one the table was generated from: run `make schemas`")
        let check = try run([Self.root.appendingPathComponent("Scripts/gen_schemas.py").path, "--check"])
        #expect(check.status == 0, "\(check.output)")
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = Self.python
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
