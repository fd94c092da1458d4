import Foundation
import Testing
import KilnIR
@testable import KilnONNX

@Suite struct FileWriteTests {
    @Test func writeThenReadIsByteIdenticalAndAtomic() throws {
        let dir = try temporaryDirectory()
        let path = dir.path + "/m.onnx"
        try ModelFile.write(richModel(), to: path)
        let first = try Data(contentsOf: URL(fileURLWithPath: path))
        let model = try ModelFile.read(path)
        try ModelFile.write(model, to: path)  // over its own input
        let second = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(first == second)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("kiln-") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    /// Payloads read from a file are copied file to file (`copy_file_range`), after structure
    /// written from memory and between other pieces: the file must be the one `encode` gives.
    @Test func payloadsCopiedFromTheirSourceFile() throws {
        let dir = try temporaryDirectory()
        try ModelFile.write(richModel(), to: dir.path + "/in.onnx")
        let model = try ModelFile.read(dir.path + "/in.onnx")
        let id = try #require(model.graph.valueID(named: "big"))
        let big = try #require(model.graph.initializer(of: id))
        guard case .raw(let bytes) = big.storage else { Issue.record("big is not raw"); return }
        #expect(bytes.storage.origin != nil, "the payload is not read from the file: the copy path is not tested")
        #expect(AtomicFile.copyFileRange != nil)
        try ModelFile.write(model, to: dir.path + "/out.onnx")
        let written = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out.onnx"))
        #expect(written == Data(try ModelFile.encode(richModel())))
        // Also into an external data file, at the plan's offsets.
        try ModelFile.write(model, to: dir.path + "/ext.onnx", options: .init(externalData: .single(location: "w.data", threshold: 1024)))
        #expect(try ModelFile.encode(ModelFile.read(dir.path + "/ext.onnx")) == ModelFile.encode(richModel()))
    }

    @Test func singleExternalFileRoundTrips() throws {
        let dir = try temporaryDirectory()
        let path = dir.path + "/m.onnx"
        let report = try ModelFile.write(richModel(), to: path,
                                         options: .init(externalData: .single(location: "w.data", threshold: 1024)))
        #expect(report.externalFiles.map(\.name) == ["w.data"])
        #expect(report.externalFiles[0].bytes == 4096 * 4)
        let back = try ModelFile.read(path)
        let big = back.graph[value: back.graph.valueID(named: "big")!].initializer!
        #expect(big.externalValue("location") == "w.data")
        // Inline again: equal to the original inline encoding.
        #expect(try ModelFile.encode(back) == ModelFile.encode(richModel()))
        // Preserve mode keeps it external at the same offsets: byte-identical model file.
        try ModelFile.write(back, to: dir.path + "/copy.onnx")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/copy.onnx")) == Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func perTensorFilesAreNamedAfterTensors() throws {
        let dir = try temporaryDirectory()
        let report = try ModelFile.write(richModel(), to: dir.path + "/m.onnx", options: .init(externalData: .perTensor(threshold: 64)))
        #expect(Set(report.externalFiles.map(\.name)).isSuperset(of: ["big.bin"]))
        let back = try ModelFile.read(dir.path + "/m.onnx")
        #expect(try ModelFile.encode(back) == ModelFile.encode(richModel()))
    }

    @Test func oversizedModelsSwitchToExternalDataAutomatically() throws {
        let dir = try temporaryDirectory()
        var options = ModelFile.WriteOptions()
        options.inlineLimit = 8 << 10  // pretend protobuf's limit is 8 KiB; `big` alone is 16 KiB
        let report = try ModelFile.write(richModel(), to: dir.path + "/m.onnx", options: options)
        #expect(report.switchedToExternal)
        #expect(report.externalFiles.map(\.name) == ["m.onnx.data"])
        #expect(report.modelBytes < 8 << 10)
        #expect(try ModelFile.encode(ModelFile.read(dir.path + "/m.onnx")) == ModelFile.encode(richModel()))

        options.externalData = ExternalDataMode.none
        #expect(throws: KilnError.self) { try ModelFile.write(richModel(), to: dir.path + "/n.onnx", options: options) }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/n.onnx"))
    }

    @Test func externalFilesInSubfoldersAreCreated() throws {
        let dir = try temporaryDirectory()
        let report = try ModelFile.write(richModel(), to: dir.path + "/m.onnx",
                                         options: .init(externalData: .single(location: "weights/w.bin", threshold: 1024)))
        #expect(report.externalFiles.map(\.name) == ["weights/w.bin"])
        #expect(FileManager.default.fileExists(atPath: dir.path + "/weights/w.bin"))
        #expect(try ModelFile.encode(ModelFile.read(dir.path + "/m.onnx")) == ModelFile.encode(richModel()))
    }

    @Test func missingOutputFolderFailsWithoutWriting() throws {
        let dir = try temporaryDirectory()
        #expect(throws: KilnError.self) { try ModelFile.write(richModel(), to: dir.path + "/nope/m.onnx") }
    }

    @Test func missingExternalFileIsAnInputError() throws {
        let dir = try temporaryDirectory()
        let path = dir.path + "/m.onnx"
        try ModelFile.write(richModel(), to: path, options: .init(externalData: .single(location: "w.data", threshold: 1024)))
        try FileManager.default.removeItem(atPath: dir.path + "/w.data")
        do {
            _ = try ModelFile.read(path)
            Issue.record("expected failure")
        } catch let e as KilnError {
            #expect(e.description.contains("w.data") && e.description.contains("big") && e.description.contains(path))
        }
    }
}

@Suite struct TypedExternalDataTests {
    @Test func typedTensorsMoveInRawLayout() throws {
        let dir = try temporaryDirectory()
        var g = Graph(name: "g")
        _ = try g.addInitializer(named: "f", Tensor(dataType: .float, dims: [3], storage: .floatData([1, 2, 3])))
        _ = try g.addInitializer(named: "h", Tensor(dataType: .float16, dims: [2], storage: .int32Data([0x3C00, 0xC000])))
        _ = try g.addInitializer(named: "q", Tensor(dataType: .int4, dims: [3], storage: .int32Data([0x21, 0x03])))
        try ModelFile.write(Model(graph: g), to: dir.path + "/m.onnx", options: .init(externalData: .single(location: "d", threshold: 0)))
        let back = try ModelFile.read(dir.path + "/m.onnx")
        func raw(_ name: String) -> [UInt8]? {
            let t = back.graph[value: back.graph.valueID(named: name)!].initializer!
            #expect(t.externalValue("location") == "d")
            if case .raw(let b) = t.storage { return b.array }
            return nil
        }
        #expect(raw("f") == [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40])
        #expect(raw("h") == [0x00, 0x3C, 0x00, 0xC0])
        #expect(raw("q") == [0x21, 0x03])
    }
}
