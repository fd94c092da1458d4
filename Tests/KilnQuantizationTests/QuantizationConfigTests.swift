import Foundation
import Testing
import KilnQuantization

@Suite struct QuantizationConfigTests {
    @Test func calibrationTableRoundTripsThroughJSON() throws {
        let table = CalibrationTable(method: .entropy, samples: 3, ranges: ["x": TensorRange(min: -1, max: 2)],
                                     observed: ["x": TensorRange(min: -4, max: 2)])
        let data = try JSONEncoder().encode(table)
        #expect(try JSONDecoder().decode(CalibrationTable.self, from: data) == table)
    }
}
