import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct GridSampleAndSignalTests {
    @Test func gridSampleLinearAndNearest() throws {
        // X = [[0, 1], [2, 3]]; align_corners: -1 and 1 are pixel centres 0 and 1.
        let x = floats([1, 1, 2, 2], [0, 1, 2, 3])
        let grid = floats([1, 1, 2, 2], [0, 0, 1, -1])  // (x, y): centre, top-right
        let linear = try runNode("GridSample", [x, grid], attributes: [Attribute("align_corners", .int(1))], opset: 20)[0]
        #expect(linear.shape == [1, 1, 1, 2])
        #expect(close(linear.floatValues, [1.5, 1]))
        let nearest = try runNode("GridSample", [x, floats([1, 1, 1, 2], [0.9, 0.9])],
                                  attributes: [Attribute("align_corners", .int(1)), Attribute("mode", .string(Array("nearest".utf8)))], opset: 20)[0]
        #expect(nearest.floatValues == [3])
        // Outside with zeros padding reads 0; with border padding the edge pixel.
        let outside = floats([1, 1, 1, 2], [3, 3])
        #expect(try runNode("GridSample", [x, outside], attributes: [Attribute("align_corners", .int(1))], opset: 20)[0].floatValues == [0])
        #expect(try runNode("GridSample", [x, outside], attributes: [Attribute("align_corners", .int(1)),
                                                                   Attribute("padding_mode", .string(Array("border".utf8)))], opset: 20)[0].floatValues == [3])
    }

    @Test func stftFramesTheSignal() throws {
        // Frames [1, 2] and [3, 4]: two-point DFTs [3, -1] and [7, -1].
        let y = try runNode("STFT", [floats([1, 4, 1], [1, 2, 3, 4]), int64s([], [2]), nil, int64s([], [2])], opset: 17)[0]
        #expect(y.shape == [1, 2, 2, 2])
        #expect(close(y.floatValues, [3, 0, -1, 0, 7, 0, -1, 0]))
    }

    @Test func dftForwardOnesidedAndInverse() throws {
        // Real signal [1, 2, 3, 4] along axis 1: X = [10, -2+2i, -2, -2-2i].
        let x = floats([1, 4, 1], [1, 2, 3, 4])
        let f = try runNode("DFT", [x], opset: 20)[0]
        #expect(f.shape == [1, 4, 2])
        #expect(close(f.floatValues, [10, 0, -2, 2, -2, 0, -2, -2]))
        let half = try runNode("DFT", [x], attributes: [Attribute("onesided", .int(1))], opset: 20)[0]
        #expect(half.shape == [1, 3, 2])
        let back = try runNode("DFT", [f], attributes: [Attribute("inverse", .int(1))], opset: 20)[0]
        #expect(close(back.floatValues, [1, 0, 2, 0, 3, 0, 4, 0]))
        let real = try runNode("DFT", [half], attributes: [Attribute("inverse", .int(1)), Attribute("onesided", .int(1))], opset: 20)[0]
        #expect(real.shape == [1, 4, 1])
        #expect(close(real.floatValues, [1, 2, 3, 4]))
    }
}
