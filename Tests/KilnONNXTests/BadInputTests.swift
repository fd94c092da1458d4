import Foundation
import Testing
import KilnIR
@testable import KilnONNX

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct BadInputTests {
    func expectInvalid(_ bytes: [UInt8], mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ModelFile.decode(bytes: bytes)
            Issue.record("decoding should fail", sourceLocation: sourceLocation)
        } catch let e as KilnError {
            #expect(e.code == .invalidInput, sourceLocation: sourceLocation)
            #expect(e.description.contains(text), "message: \(e.description)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func emptyInput() { expectInvalid([], mentioning: "empty") }

    @Test func truncatedInput() throws {
        let bytes = try ModelFile.encode(richModel())
        expectInvalid(Array(bytes.prefix(bytes.count / 2)), mentioning: "not a valid ONNX model")
    }

    @Test func truncatedInsideAPayloadNamesTheField() throws {
        let bytes = try ModelFile.encode(richModel())
        // Cut in the middle of the 16 KiB `big` payload.
        let cut = Array(bytes.prefix(bytes.count - 4000))
        expectInvalid(cut, mentioning: "graph")
    }

    @Test func randomBytes() {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        expectInvalid(bytes, mentioning: "not")
    }

    @Test func aTensorProtoIsNotAModel() throws {
        // TensorProto{dims: [2], data_type: 1, raw_data: 8 bytes}
        let tensor: [UInt8] = [0x08, 0x02, 0x10, 0x01, 0x4A, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]
        expectInvalid(tensor, mentioning: "not")
    }

    @Test func unknownDataTypeIsNamed() throws {
        var g = Graph(name: "g")
        var t = Tensor.float32([1], dims: [1])
        t.dataType = .float
        _ = try g.addInitializer(named: "w", t)
        var bytes = try ModelFile.encode(Model(graph: g))
        // Rewrite data_type (field 2, varint 1) of the tensor to 99.
        let pattern: [UInt8] = [0x10, 0x01]
        let i = try #require((0..<(bytes.count - 1)).first { bytes[$0] == pattern[0] && bytes[$0 + 1] == pattern[1] })
        bytes[i + 1] = 99
        expectInvalid(bytes, mentioning: "99")
    }

    @Test func externalDataMustStayInTheModelFolder() throws {
        let dir = try temporaryDirectory()
        let resolver = ExternalDataResolver(modelPath: dir.path + "/model.onnx")
        #expect(throws: KilnError.self) { try resolver.validatedPath("../escape.data") }
        #expect(throws: KilnError.self) { try resolver.validatedPath("/etc/passwd") }
        #expect(throws: KilnError.self) { try resolver.validatedPath("missing.data") }
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/link.data", withDestinationPath: "/etc/hostname")
        #expect(throws: KilnError.self) { try resolver.validatedPath("link.data") }
        try Data([1, 2, 3, 4]).write(to: dir.appendingPathComponent("ok.data"))
        #expect(try resolver.validatedPath("ok.data").hasSuffix("/ok.data"))
        #expect(try resolver.bytes(location: "ok.data", offset: 1, length: 2).array == [2, 3])
        #expect(throws: KilnError.self) { try resolver.bytes(location: "ok.data", offset: 3, length: 2) }
        #expect(throws: KilnError.self) { try resolver.bytes(location: "ok.data", offset: 9, length: nil) }
    }
}
