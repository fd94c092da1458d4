import Testing
import KilnIR
@testable import KilnQuantization

@Suite struct EmitterMathTests {
    @Test func asymmetricUint8CoversTheRangeWithZeroExact() throws {
        let p = try QuantMath.params(min: -1, max: 3, type: .uint8, symmetric: false, tensor: "t")
        #expect(abs(p.scale - 4 / 255) < 1e-7)
        #expect(p.zeroPoint == 64)  // rint(0 - (-1) / (4/255)) = rint(63.75)
        let q = try QuantMath.integerRange(.uint8)
        #expect(QuantMath.quantize(0, p, q) == p.zeroPoint)
        #expect(QuantMath.quantize(3, p, q) == 255)
        #expect(QuantMath.quantize(-1, p, q) == 0)
    }

    @Test func rangeIsWidenedToIncludeZero() throws {
        let p = try QuantMath.params(min: 2, max: 4, type: .uint8, symmetric: false, tensor: "t")
        #expect(p.zeroPoint == 0)
        #expect(abs(p.scale - 4 / 255) < 1e-7)
        let n = try QuantMath.params(min: -4, max: -2, type: .int8, symmetric: false, tensor: "t")
        #expect(n.zeroPoint == 127)
    }

    @Test func symmetricInt8HasZeroPointZeroAndUint8HasMidpoint() throws {
        let s = try QuantMath.params(min: -0.5, max: 2.54, type: .int8, symmetric: true, tensor: "t")
        #expect(s.zeroPoint == 0 && abs(s.scale - 0.02) < 1e-7)
        let u = try QuantMath.params(min: -0.5, max: 2.54, type: .uint8, symmetric: true, tensor: "t")
        #expect(u.zeroPoint == 128 && abs(u.scale - 0.02) < 1e-7)
        let r = try QuantMath.integerRange(.int8, reduceRange: true)
        #expect(r == -127...127)
        #expect(QuantMath.quantize(-100, s, r) == -127)
    }

    @Test func degenerateAndBadRanges() throws {
        let z = try QuantMath.params(min: 0, max: 0, type: .uint8, symmetric: false, tensor: "t")
        #expect(z == QuantParams(scale: 1, zeroPoint: 0))
        let zs = try QuantMath.params(min: 0, max: 0, type: .int8, symmetric: true, tensor: "t")
        #expect(zs == QuantParams(scale: 1, zeroPoint: 0))
        #expect(throws: KilnError.self) { try QuantMath.params(min: -.infinity, max: 1, type: .int8, symmetric: false, tensor: "t") }
        #expect(throws: KilnError.self) { try QuantMath.params(min: 2, max: 1, type: .int8, symmetric: false, tensor: "t") }
    }

    @Test func perChannelWeightsUseEachChannelsRange() throws {
        // Conv weight [2, 1, 1, 2]: channel 0 in [-1, 1], channel 1 in [-0.1, 0.05].
        let w: [Float] = [-1, 1, -0.1, 0.05]
        let q = try QuantizedWeight.make(w, dims: [2, 1, 1, 2], axis: 0, type: .int8, symmetric: true, reduceRange: false, name: "w")
        #expect(q.scales.count == 2)
        #expect(abs(q.scales[0] - 1 / 127) < 1e-7 && abs(q.scales[1] - 0.1 / 127) < 1e-7)
        #expect(q.values == [-127, 127, -127, 64])  // 0.05 / (0.1/127) = 63.5 -> 64 (half to even)
        // MatMul weight [K=2, N=2], axis 1: columns.
        let m = try QuantizedWeight.make([1, -0.5, -2, 0.25], dims: [2, 2], axis: 1, type: .int8, symmetric: true,
                                         reduceRange: false, name: "m")
        #expect(abs(m.scales[0] - 2 / 127) < 1e-7 && abs(m.scales[1] - 0.5 / 127) < 1e-7)
    }

    /// The 16-lane `quantize(_:into:)` and the parallel `make` give exactly the scalar formula 6:
    /// halves round to even, NaN goes to the zero point, outliers clamp, every type and tail length.
    @Test(arguments: [DataType.int8, .uint8, .int4, .uint4])
    func vectorQuantizeMatchesTheScalarFormula(type: DataType) throws {
        let q = try QuantMath.integerRange(type)
        // Many exact halves after scaling, then the special values.
        var x: [Float] = (0..<1003).map { (i: Int) -> Float in Float(i % 41) * 0.25 - 5 }
        let special: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 0, -0.0, 2.5, 3.5, -2.5]
        x += special
        for p in [QuantParams(scale: 0.5, zeroPoint: q.lowerBound < 0 ? 0 : 8), QuantParams(scale: 0.037, zeroPoint: q.upperBound / 2)] {
            var out = [Int32](repeating: 99, count: x.count)
            x.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { QuantMath.quantize(src.baseAddress!, into: $0.baseAddress!, count: src.count, p, q) }
            }
            #expect(out == x.map { QuantMath.quantize($0, p, q) }, "\(type.name) scale \(p.scale)")
        }
        // Per channel on axis 0 of a weight large enough to be split across threads.
        let dims: [Int64] = [64, 32, 3, 3]
        let w: [Float] = (0..<(64 * 32 * 9)).map { (i: Int) -> Float in
            let base = Float((i * 7919) % 2001) / 1000 - 1
            return base + Float(i / 288) * 0.01
        }
        let qw = try QuantizedWeight.make(w, dims: dims, axis: 0, type: type, symmetric: false, reduceRange: false, name: "w")
        // Per column of a [K, N] MatMul weight (channels interleave in runs of 1), and runs of 3.
        for (rows, cols, axisDims) in [(96, 700, [Int64(96), 700]), (40, 2100, [Int64(40), 700, 3])] {
            let big: [Float] = (0..<(rows * cols)).map { (i: Int) -> Float in Float((i * 7919) % 2001) / 1000 - 1 + Float(i % 7) * 0.1 }
            let m = try QuantizedWeight.make(big, dims: axisDims, axis: 1, type: type,
                                             symmetric: false, reduceRange: false, name: "m")
            let inner = axisDims.count == 3 ? 3 : 1
            for c in [0, 5, 699] {
                let members = (0..<rows).flatMap { r in (0..<inner).map { r * cols + c * inner + $0 } }
                let column = members.map { big[$0] }
                let p = try QuantMath.params(min: column.min()!, max: column.max()!, type: type, symmetric: false, tensor: "m")
                #expect(m.scales[c] == p.scale && m.zeroPoints[c] == p.zeroPoint)
                #expect(members.map { m.values[$0] } == column.map { QuantMath.quantize($0, p, q) })
            }
        }
        for c in [0, 17, 63] {
            let slice = w[(c * 288)..<((c + 1) * 288)]
            let p = try QuantMath.params(min: slice.min()!, max: slice.max()!, type: type, symmetric: false, tensor: "w")
            #expect(qw.scales[c] == p.scale && qw.zeroPoints[c] == p.zeroPoint)
            #expect(Array(qw.values[(c * 288)..<((c + 1) * 288)]) == slice.map { QuantMath.quantize($0, p, q) })
        }
    }

    @Test func biasScaleIsInputScaleTimesWeightScale() {
        let (q, s) = QuantMath.quantizeBias([0.5, -0.25], inputScale: 0.1, weightScales: [0.01, 0.05], channelOf: { $0 })
        #expect(s == [0.1 * 0.01, 0.1 * 0.05])
        #expect(q == [500, -50])
    }

    @Test func blocksAlongTheReductionAxis() throws {
        // [K=4, N=1] with block 2: blocks {1.5, -2} and {0.5, 0.3}.
        let q = try QuantizedWeight.blocked([1.5, -2, 0.5, 0.3], dims: [4, 1], axis: 0, blockSize: 2, type: .int4,
                                            symmetric: true, name: "w")
        #expect(q.paramDims == [2, 1])
        #expect(abs(q.scales[0] - 2 / 7) < 1e-6 && abs(q.scales[1] - 0.5 / 7) < 1e-6)
        #expect(q.values == [5, -7, 7, 4])  // 1.5 / (2/7) = 5.25 -> 5; 0.3 / (0.5/7) = 4.2 -> 4
        let u = try QuantizedWeight.blocked([1.5, -2, 0.5, 0.3], dims: [4, 1], axis: 0, blockSize: 2, type: .uint4,
                                            symmetric: false, name: "w")
        #expect(u.zeroPoints[0] == 9 && u.zeroPoints[1] == 0)  // block 0: scale 3.5/15, rint(2 / scale) = rint(8.57) = 9
    }
}
