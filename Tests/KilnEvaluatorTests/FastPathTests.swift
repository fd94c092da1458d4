import KilnIR
import Testing
@testable import KilnEvaluator

/// The float32 fast paths (sgemm Conv/MatMul/Gemm, collapsed broadcasting, strided Transpose,
/// row kernels for Softmax / reductions, BatchNorm, pooling), run on one thread and split across
/// several, against the generic path: the same node on float64 inputs (the generic kernels in
/// Double), or a plain loop worked out here.
@Suite struct FastPathTests {
    /// Deterministic pseudo-random floats in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state % 20_000) / 10_000 - 1
        }
    }

    static func random(_ shape: [Int], seed: UInt64) -> TensorValue {
        floats(shape, values(shape.reduce(1, *), seed: seed))
    }

    /// Runs `op` on float32 inputs with `threads` and on the same inputs as float64 (generic
    /// kernels); expects the float32 results to match within `tolerance`.
    func expectAgreement(_ op: String, _ inputs: [TensorValue?], attributes: [Attribute] = [], threads: Int,
                         tolerance: Float = 1e-4, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try runNode(op, inputs, attributes: attributes, threads: threads)[0]
        let wide = try runNode(op, inputs.map { try $0.map { try castTensor($0, to: .double) } }, attributes: attributes)[0]
        #expect(fast.dataType == .float, sourceLocation: sourceLocation)
        #expect(fast.shape == wide.shape, sourceLocation: sourceLocation)
        let expected = wide.doubles.map { Float($0) }
        #expect(close(fast.floatValues, expected, tolerance: tolerance), "\(op) differs from the float64 path",
                sourceLocation: sourceLocation)
    }

    @Test(arguments: [1, 3])
    func convolutionsThroughSgemm(threads: Int) throws {
        // Grouped, strided, padded 3x3 with bias (im2col), and a pointwise 1x1 (no im2col).
        try expectAgreement("Conv", [Self.random([2, 6, 9, 9], seed: 1), Self.random([4, 3, 3, 3], seed: 2), Self.random([4], seed: 3)],
                            attributes: [Attribute("group", .int(2)), Attribute("strides", .ints([2, 2])),
                                         Attribute("pads", .ints([1, 1, 1, 1]))], threads: threads)
        try expectAgreement("Conv", [Self.random([1, 8, 5, 5], seed: 4), Self.random([16, 8, 1, 1], seed: 5)], threads: threads)
        // Batches with small feature maps go through one GEMM over every image's positions.
        try expectAgreement("Conv", [Self.random([3, 8, 5, 5], seed: 20), Self.random([16, 8, 1, 1], seed: 21), Self.random([16], seed: 22)],
                            threads: threads)
        try expectAgreement("Conv", [Self.random([2, 4, 7, 7], seed: 23), Self.random([6, 4, 3, 3], seed: 24)],
                            attributes: [Attribute("pads", .ints([1, 1, 1, 1]))], threads: threads)
        try expectAgreement("Conv", [Self.random([1, 64, 16, 16], seed: 6), Self.random([32, 64, 3, 3], seed: 7)],
                            attributes: [Attribute("pads", .ints([1, 1, 1, 1]))], threads: threads)
    }

    /// 3x3 unit-stride convolutions with constant weights take the Winograd path (its preparer
    /// sees the initializer); the same node with the weights as a graph input takes im2col. Odd and
    /// even sizes (partial tiles), each padding form, batches, with and without bias.
    @Test(arguments: [1, 3])
    func winogradConvolutions(threads: Int) throws {
        let cases: [(x: [Int], m: Int, attributes: [Attribute])] = [
            ([1, 16, 14, 14], 32, [Attribute("pads", .ints([1, 1, 1, 1]))]),
            ([2, 16, 13, 15], 16, [Attribute("pads", .ints([1, 1, 1, 1]))]),
            ([1, 24, 17, 12], 16, []),
            ([1, 16, 12, 16], 20, [Attribute("pads", .ints([0, 2, 1, 0]))]),
            ([3, 16, 12, 13], 16, [Attribute("auto_pad", .string(Array("SAME_UPPER".utf8)))]),
            ([1, 32, 20, 20], 24, [Attribute("auto_pad", .string(Array("SAME_LOWER".utf8))), Attribute("kernel_shape", .ints([3, 3]))]),
        ]
        for (i, c) in cases.enumerated() {
            let seed = UInt64(100 + 3 * i)
            let x = Self.random(c.x, seed: seed), w = Self.random([c.m, c.x[1], 3, 3], seed: seed + 1)
            let b = i % 2 == 0 ? Self.random([c.m], seed: seed + 2) : nil
            let inputs = b.map { [x, w, $0] } ?? [x, w]
            let winograd = try runNode("Conv", inputs, attributes: c.attributes, threads: threads, initializers: [1])[0]
            let im2col = try runNode("Conv", inputs, attributes: c.attributes, threads: threads)[0]
            #expect(winograd.shape == im2col.shape, "case \(i)")
            #expect(close(winograd.floatValues, im2col.floatValues, tolerance: 1e-5), "case \(i): Winograd differs from im2col")
            #expect(winograd.floatValues != im2col.floatValues, "case \(i): the Winograd path did not run (identical bits)")
        }
        // Strided, dilated or grouped 3x3 convolutions, and maps under 36 tiles, keep im2col.
        let x = Self.random([1, 16, 14, 14], seed: 130), w = Self.random([16, 16, 3, 3], seed: 131)
        for attributes in [[Attribute("strides", .ints([2, 2]))], [Attribute("dilations", .ints([2, 2]))]] {
            let prepared = try runNode("Conv", [x, w], attributes: attributes, threads: threads, initializers: [1])[0]
            #expect(prepared.floatValues == (try runNode("Conv", [x, w], attributes: attributes, threads: threads)[0]).floatValues)
        }
        let small = Self.random([1, 16, 7, 7], seed: 132)
        let kept = try runNode("Conv", [small, w], threads: threads, initializers: [1])[0]
        #expect(kept.floatValues == (try runNode("Conv", [small, w], threads: threads)[0]).floatValues)
    }

    @Test(arguments: [1, 4])
    func matMulAndGemm(threads: Int) throws {
        // Shared B (a linear layer), batched with broadcasting, 1-D operands, Gemm with transposes and C.
        try expectAgreement("MatMul", [Self.random([2, 70, 48], seed: 8), Self.random([48, 300], seed: 9)], threads: threads)
        try expectAgreement("MatMul", [Self.random([2, 3, 20, 16], seed: 10), Self.random([3, 16, 24], seed: 11)], threads: threads)
        try expectAgreement("MatMul", [Self.random([16], seed: 12), Self.random([4, 16, 5], seed: 13)], threads: threads)
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let a = Self.random(ta == 1 ? [40, 30] : [30, 40], seed: 14), b = Self.random(tb == 1 ? [200, 40] : [40, 200], seed: 15)
            try expectAgreement("Gemm", [a, b, Self.random([200], seed: 16)],
                                attributes: [Attribute("transA", .int(Int64(ta))), Attribute("transB", .int(Int64(tb))),
                                             Attribute("alpha", .float(0.5)), Attribute("beta", .float(2))], threads: threads)
        }
        try expectAgreement("Gemm", [Self.random([3, 4], seed: 17), Self.random([4, 5], seed: 18), Self.random([3, 1], seed: 19)],
                            threads: threads)
    }

    @Test(arguments: [1, 4])
    func broadcastLayouts(threads: Int) throws {
        let pairs: [([Int], [Int])] = [
            ([8, 70, 96], [96]), ([8, 70, 96], [8, 70, 1]), ([4, 1, 70, 70], [4, 3, 1, 70]), ([3, 1, 5], [1, 4, 1]),
            ([2, 3, 4], []), ([], [2, 3]), ([1], [7]), ([50_000], [50_000]), ([6, 1, 1], [6, 9, 9]), ([2, 0, 3], [3]),
        ]
        for (i, (sa, sb)) in pairs.enumerated() {
            let a = Self.random(sa, seed: UInt64(20 + i)), b = Self.random(sb, seed: UInt64(40 + i))
            let y = try runNode("Sub", [a, b], threads: threads)[0]
            let out = Broadcast.shape([sa, sb])!
            #expect(y.shape == out)
            // Plain loop: decompose each output index, read both operands at their broadcast positions.
            let av = a.floatValues, bv = b.floatValues
            let ia = Broadcast.sourceIndices(of: sa, in: out), ib = Broadcast.sourceIndices(of: sb, in: out)
            #expect(y.floatValues == (0..<ia.count).map { av[ia[$0]] - bv[ib[$0]] }, "Sub \(sa) - \(sb)")
        }
        let ints = try runNode("Mul", [int64s([2, 3], [1, 2, 3, 4, 5, 6]), int64s([3], [10, 0, -1])], threads: threads)[0]
        #expect(ints.int64Values == [10, 0, -3, 40, 0, -6])
    }

    @Test(arguments: [1, 4])
    func transposeAsStridedCopy(threads: Int) throws {
        let x = Self.random([2, 70, 12, 64], seed: 60)
        let v = x.floatValues
        for perm in [[0, 2, 1, 3], [0, 1, 3, 2], [3, 2, 1, 0], [0, 1, 2, 3]] {
            let y = try runNode("Transpose", [x], attributes: [Attribute("perm", .ints(perm.map(Int64.init)))], threads: threads)[0]
            let strides = rowMajorStrides(x.shape)
            var reference: [Float] = []
            Broadcast.forEachIndex(perm.map { x.shape[$0] }, { _, o in reference.append(v[o]) }, offsets: perm.map { strides[$0] })
            #expect(y.shape == perm.map { x.shape[$0] })
            #expect(y.floatValues == reference, "perm \(perm)")
        }
    }

    @Test(arguments: [1, 4])
    func rowKernels(threads: Int) throws {
        let x = Self.random([4, 12, 70, 70], seed: 70)
        try expectAgreement("Softmax", [x], attributes: [Attribute("axis", .int(-1))], threads: threads, tolerance: 1e-5)
        try expectAgreement("LogSoftmax", [x], attributes: [Attribute("axis", .int(3))], threads: threads, tolerance: 1e-5)
        let h = Self.random([8, 70, 768], seed: 71)
        for op in ["ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceL1"] {
            let y = try runNode(op, [h, int64s([1], [-1])], threads: threads)[0]
            let wide = try runNode(op, [castTensor(h, to: .double), int64s([1], [-1])])[0]
            #expect(y.shape == [8, 70, 1])
            #expect(close(y.floatValues, wide.doubles.map { Float($0) }, tolerance: 1e-5), "\(op)")
        }
        // Reducing the last two axes, and every axis (no axes input).
        let two = try runNode("ReduceMean", [h, int64s([2], [1, 2])], attributes: [Attribute("keepdims", .int(0))], threads: threads)[0]
        #expect(two.shape == [8])
        let all = try runNode("ReduceSum", [floats([2, 2], [1, 2, 3, 4])], threads: threads)[0]
        #expect(all.shape == [1, 1] && all.floatValues == [10])
    }

    @Test(arguments: [1, 3])
    func normalizationAndPooling(threads: Int) throws {
        let x = Self.random([2, 16, 30, 30], seed: 80)
        let c = 16
        let params = [Self.random([c], seed: 81), Self.random([c], seed: 82), Self.random([c], seed: 83),
                      floats([c], Self.values(c, seed: 84).map { $0 * $0 + 0.5 })]
        try expectAgreement("BatchNormalization", [x] + params, threads: threads)
        try expectAgreement("MaxPool", [x], attributes: [Attribute("kernel_shape", .ints([3, 3])), Attribute("strides", .ints([2, 2])),
                                                         Attribute("pads", .ints([1, 1, 1, 1]))], threads: threads)
        try expectAgreement("AveragePool", [x], attributes: [Attribute("kernel_shape", .ints([3, 3])), Attribute("pads", .ints([1, 1, 1, 1])),
                                                             Attribute("count_include_pad", .int(1))], threads: threads)
        // Row-wise 2-D pooling: ceil mode, dilations, asymmetric pads, windows reaching past the end.
        let odd = Self.random([1, 3, 11, 9], seed: 86)
        for attributes in [
            [Attribute("kernel_shape", .ints([3, 2])), Attribute("strides", .ints([2, 3])), Attribute("ceil_mode", .int(1))],
            [Attribute("kernel_shape", .ints([2, 3])), Attribute("dilations", .ints([2, 2])), Attribute("pads", .ints([1, 0, 2, 1]))],
            [Attribute("kernel_shape", .ints([4, 4])), Attribute("auto_pad", .string(Array("SAME_UPPER".utf8))), Attribute("strides", .ints([3, 3]))],
        ] {
            try expectAgreement("MaxPool", [odd], attributes: attributes, threads: threads)
            if !attributes.contains(where: { $0.name == "dilations" }) {
                try expectAgreement("AveragePool", [odd], attributes: attributes, threads: threads)
            }
        }
        try expectAgreement("GlobalAveragePool", [x], threads: threads)
        try expectAgreement("GlobalMaxPool", [x], threads: threads)
        for op in ["Relu", "Erf", "Tanh", "Exp", "Sigmoid", "Sqrt"] {
            let input = op == "Sqrt" ? floats([100_000], Self.values(100_000, seed: 85).map(abs)) : Self.random([100_000], seed: 85)
            try expectAgreement(op, [input], threads: threads, tolerance: 1e-6)
        }
        try expectAgreement("Pow", [x, floats([], [2])], threads: threads, tolerance: 1e-6)
    }
}
