import KilnIR
import Testing
@testable import KilnQuantization

import Foundation

@Suite struct CalibrationCacheTests {
    @Test func roundTrip() throws {
        let dir = try CalibrationFixture.tempFolder()
        let table = CalibrationTable(method: .entropy, samples: 8,
                                     ranges: ["x": TensorRange(min: -1.25, max: 3.5), "/layer1/Relu_output_0": TensorRange(min: 0, max: 0.1)],
                                     observed: ["x": TensorRange(min: -.greatestFiniteMagnitude, max: 9)])
        let path = "\(dir)/cache.json"
        try CalibrationCache.write(table, to: path)
        #expect(try CalibrationCache.read(path) == table)
        // Overwrite in place; nothing else left in the folder (atomic rename).
        try CalibrationCache.write(CalibrationTable(method: .minmax, samples: 1, ranges: [:]), to: path)
        #expect(try CalibrationCache.read(path).method == .minmax)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["cache.json"])
    }

    @Test func badCachesNameTheFile() throws {
        let dir = try CalibrationFixture.tempFolder()
        expectCalibrationError(["\(dir)/missing.json", "cannot read"]) { _ = try CalibrationCache.read("\(dir)/missing.json") }
        try Data("{\"method\": \"minmax\", \"samples\": 1}".utf8).write(to: URL(fileURLWithPath: "\(dir)/a.json"))
        expectCalibrationError(["\(dir)/a.json", "'ranges'"]) { _ = try CalibrationCache.read("\(dir)/a.json") }
        try Data("{\"method\": \"kmeans\", \"samples\": 1, \"ranges\": {}, \"observed\": {}}".utf8).write(to: URL(fileURLWithPath: "\(dir)/b.json"))
        expectCalibrationError(["\(dir)/b.json", "not a calibration cache"]) { _ = try CalibrationCache.read("\(dir)/b.json") }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: "\(dir)/c.json"))
        expectCalibrationError(["\(dir)/c.json"]) { _ = try CalibrationCache.read("\(dir)/c.json") }
        expectCalibrationError(["\(dir)/no/such/folder/x.json"]) {
            try CalibrationCache.write(CalibrationTable(method: .minmax, samples: 1, ranges: [:]), to: "\(dir)/no/such/folder/x.json")
        }
    }
}
