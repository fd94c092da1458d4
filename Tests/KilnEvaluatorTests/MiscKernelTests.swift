import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct MiscKernelTests {
    @Test func convTransposeScattersWithStride() throws {
        let x = floats([1, 1, 2], [1, 2]), w = floats([1, 1, 2], [1, 1])
        #expect(try runNode("ConvTranspose", [x, w])[0].floatValues == [1, 3, 2])
        let strided = try runNode("ConvTranspose", [x, w], attributes: [Attribute("strides", .ints([2]))])[0]
        #expect(strided.floatValues == [1, 1, 2, 2])
    }

    @Test func poolingAndNormalizations() throws {
        let lp = try runNode("LpPool", [floats([1, 1, 2], [3, 4])], attributes: [Attribute("kernel_shape", .ints([2]))], opset: 18)[0]
        #expect(close(lp.floatValues, [5]))
        #expect(close(try runNode("LpNormalization", [floats([1, 2], [3, 4])])[0].floatValues, [0.6, 0.8]))
        // Two groups of one channel each: (x - mean) / std, then scale 2 and bias 1.
        let g = try runNode("GroupNormalization", [floats([1, 2, 2], [0, 2, 5, 7]), floats([2], [2, 2]), floats([2], [1, 1])],
                            attributes: [Attribute("num_groups", .int(2)), Attribute("epsilon", .float(0))])[0]
        #expect(close(g.floatValues, [-1, 3, -1, 3]))
    }

    @Test func windowsDeterminantsAndCentreCrop() throws {
        let hann = try runNode("HannWindow", [TensorValue.scalar(Int64(4))], opset: 17)[0]
        #expect(close(hann.floatValues, [0, 0.5, 1, 0.5]))
        #expect(close(try runNode("Det", [floats([2, 2], [1, 2, 3, 4])])[0].floatValues, [-2]))
        let x = floats([5], [1, 2, 3, 4, 5])
        #expect(try runNode("CenterCropPad", [x, int64s([1], [3])], opset: 18)[0].floatValues == [2, 3, 4])
        #expect(try runNode("CenterCropPad", [x, int64s([1], [7])], opset: 18)[0].floatValues == [0, 1, 2, 3, 4, 5, 0])
        let rev = try runNode("ReverseSequence", [floats([3, 2], [1, 2, 3, 4, 5, 6]), int64s([2], [3, 1])])[0]
        // time axis 0, batch axis 1: column 0 reversed over 3 steps, column 1 over 1.
        #expect(rev.floatValues == [5, 2, 3, 4, 1, 6])
    }

    @Test func integerMatMuls() throws {
        let a = TensorValue(shape: [1, 2], [UInt8(2), UInt8(3)]), b = TensorValue(shape: [2, 1], [UInt8(1), UInt8(2)])
        let y = try runNode("MatMulInteger", [a, b, TensorValue(shape: [], [UInt8(1)])], opset: 10)[0]
        #expect(y.elements(as: Int32.self).map(Array.init) == [5])
        // (1*1 + 2*2) * (0.5 * 1 / 0.25) + 10 = 20.
        let q = try runNode("QLinearMatMul", [a, floats([], [0.5]), TensorValue(shape: [], [UInt8(1)]), b, floats([], [1]),
                                              TensorValue(shape: [], [UInt8(0)]), floats([], [0.25]), TensorValue(shape: [], [UInt8(10)])],
                            opset: 10)[0]
        #expect(q.elements(as: UInt8.self).map(Array.init) == [20])
        // Per row of A and per column of B: y[i][j] = rint(acc[i][j] * a_scale[i] * b_scale[j] / y_scale) + y_zp.
        let a2 = TensorValue(shape: [2, 2], [UInt8(3), UInt8(1), UInt8(2), UInt8(5)])
        let b2 = TensorValue(shape: [2, 3], [Int8(1), Int8(-2), Int8(3), Int8(4), Int8(0), Int8(-1)])
        let aZero = TensorValue(shape: [2], [UInt8(1), UInt8(2)]), bZero = TensorValue(shape: [3], [Int8(0), Int8(1), Int8(0)])
        let perAxis = try runNode("QLinearMatMul", [a2, floats([2], [0.5, 0.25]), aZero, b2, floats([3], [1, 2, 0.5]), bZero,
                                                    floats([], [0.25]), TensorValue(shape: [], [UInt8(100)])], opset: 21)[0]
        // Centered: a = [[2, 0], [0, 3]], b = [[1, -3, 3], [4, -1, -1]]; acc = [[2, -6, 6], [12, -3, -3]].
        let acc: [[Double]] = [[2, -6, 6], [12, -3, -3]], sa = [0.5, 0.25], sb = [1.0, 2, 0.5]
        var expected: [UInt8] = []
        for i in 0..<2 {
            for j in 0..<3 {
                let v: Double = (acc[i][j] * sa[i] * sb[j] / 0.25).rounded(.toNearestOrEven) + 100
                expected.append(UInt8(v))
            }
        }
        #expect(perAxis.elements(as: UInt8.self).map(Array.init) == expected)
    }
}
