import Testing
import KilnIR
@testable import KilnPasses

/// BatchNormalization, constant scale, Gemm and Pad fusions.
@Suite struct FusionLayerTests {
    func bn(_ n: inout Net, _ x: ValueID, _ c: Int64, _ tag: String, attributes: [Attribute] = []) -> ValueID {
        n.op("BatchNormalization", [x, n.random("\(tag)_g", [c], in: 0.5...1.5), n.random("\(tag)_b", [c]),
                                    n.random("\(tag)_m", [c]), n.random("\(tag)_v", [c], in: 0.5...2)], attributes)
    }

    @Test(arguments: [true, false])
    func batchNormIntoConv(withBias: Bool) throws {
        var n = Net(opset: 15)
        let x = n.input("x", [2, 4, 6, 6])
        let w = n.random("w", [6, 2, 3, 3])
        let conv = n.op("Conv", withBias ? [x, w, n.random("cb", [6])] : [x, w], [int("group", 2), ints("strides", [2, 2])])
        n.output(bn(&n, conv, 6, "bn"))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Conv"])
        #expect(m.graph.initializerOrder.count == 2)
    }

    /// Double weights take the typed path of `scaledBlocks` (float32 reads the payload directly).
    @Test func batchNormIntoDoubleConv() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [1, 2, 4, 4], .double)
        func d(_ name: String, _ dims: [Int64], in range: ClosedRange<Float> = -1...1) -> ValueID {
            let count = Int(dims.reduce(1, *))
            let values = pseudoRandom(count, seed: UInt64(name.count * 7 + count), in: range).map { Double($0) }
            return n.tensor(name, makeTensor(values, dims: dims, type: .double))
        }
        let conv = n.op("Conv", [x, d("w", [3, 2, 3, 3])], [ints("pads", [1, 1, 1, 1])])
        n.output(n.op("BatchNormalization", [conv, d("g", [3], in: 0.5...1.5), d("b", [3]), d("mean", [3]), d("var", [3], in: 0.5...2)]))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Conv"])
    }

    @Test func batchNormIntoGroupedConvTranspose() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [1, 4, 5, 5])
        let conv = n.op("ConvTranspose", [x, n.random("w", [4, 3, 2, 2]), n.random("cb", [6])],
                        [int("group", 2), ints("strides", [2, 2])])
        n.output(bn(&n, conv, 6, "bn"))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["ConvTranspose"])
    }

    @Test func batchNormIntoGemmAndMatMul() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [3, 5])
        let g = n.op("Gemm", [x, n.random("b", [4, 5]), n.random("c", [4])], [int("transB", 1), float("alpha", 0.5), float("beta", 2)])
        let y = bn(&n, g, 4, "bn1")
        let mm = n.op("MatMul", [y, n.random("w2", [4, 3])])
        n.output(bn(&n, mm, 3, "bn2"))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Gemm", "Gemm"])
    }

    @Test func batchNormNotFusedWhenConvOutputHasTwoUses() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [1, 2, 4, 4])
        let conv = n.op("Conv", [x, n.random("w", [3, 2, 1, 1])])
        n.output(bn(&n, conv, 3, "bn"))
        n.output(n.op("Relu", [conv]))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Conv", "BatchNormalization", "Relu"])
    }

    @Test func batchNormWhoseOutputHasTwoUsesStillFolds() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [1, 2, 4, 4])
        let y = bn(&n, n.op("Conv", [x, n.random("w", [3, 2, 1, 1])]), 3, "bn")
        n.output(n.op("Relu", [y]))
        n.output(n.op("Sigmoid", [y]))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Conv", "Relu", "Sigmoid"])
    }

    @Test func batchNormAfterGemmWithFullBiasIsKept() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [3, 5])
        let g = n.op("Gemm", [x, n.random("b", [5, 4]), n.random("c", [3, 4])])
        n.output(bn(&n, g, 4, "bn"))
        let m = try fuse(n.model, ["fuse-batchnorm"])
        #expect(ops(m) == ["Gemm", "BatchNormalization"])
    }

    @Test func batchNormInTrainingModeIsKept() throws {
        var n = Net(opset: 15)
        let x = n.input("x", [1, 2, 4, 4])
        let conv = n.op("Conv", [x, n.random("w", [3, 2, 1, 1])])
        n.output(bn(&n, conv, 3, "bn", attributes: [int("training_mode", 1)]))
        let m = n.model
        let p = BatchNormIntoProducer().match(m.graph.order[1], in: m.graph, scope: scope(m), options: PassOptions())
        guard case .failed(let reason) = p else { Issue.record("fused a training-mode BatchNormalization"); return }
        #expect(reason.contains("training"))
    }

    @Test func constantScaleAndShiftIntoConv() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 3, 5, 5])
        let conv = n.op("Conv", [x, n.random("w", [4, 3, 3, 3]), n.random("cb", [4])])
        let a = n.op("Mul", [n.random("s", [4, 1, 1]), conv])
        let b = n.op("Add", [a, n.random("t", [1, 4, 1, 1])])
        let c = n.op("Sub", [n.random("u", [4, 1, 1]), b])
        n.output(n.op("Div", [c, n.scalar("d", 3)]))
        let m = try fuse(n.model, ["fuse-constant-scale"])
        #expect(ops(m) == ["Conv"])
    }

    @Test func constantScaleIntoGemm() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 5])
        let g = n.op("Gemm", [x, n.random("b", [5, 3])], [float("alpha", 2)])
        let a = n.op("Mul", [g, n.random("s", [3])])
        n.output(n.op("Add", [a, n.random("t", [1, 3])]))
        let m = try fuse(n.model, ["fuse-constant-scale"])
        #expect(ops(m) == ["Gemm"])
    }

    @Test func spatialConstantIsNotFolded() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 3, 4, 4])
        let conv = n.op("Conv", [x, n.random("w", [2, 3, 1, 1])])
        n.output(n.op("Mul", [conv, n.random("s", [1, 1, 4, 4])]))
        let m = try fuse(n.model, ["fuse-constant-scale"])
        #expect(ops(m) == ["Conv", "Mul"])
    }

    @Test func matMulAddBecomesGemmAndTransposesFold() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [5, 4])
        let t = n.op("Transpose", [x], [ints("perm", [1, 0])])
        let mm = n.op("MatMul", [t, n.random("w", [5, 3])])
        let y = n.op("Add", [n.random("bias", [3]), mm])
        n.output(n.op("Gemm", [n.op("Transpose", [y]), n.random("w2", [4, 2])]))
        let m = try fuse(n.model, ["fuse-gemm"])
        #expect(ops(m) == ["Gemm", "Gemm"])
        let first = m.graph[node: m.graph.order[0]]
        #expect(try first.int("transA", default: 0) == 1)
    }

    @Test func matMulWith3DInputStaysMatMul() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [2, 5, 4])
        let mm = n.op("MatMul", [x, n.random("w", [4, 3])])
        n.output(n.op("Add", [mm, n.random("bias", [3])]))
        let m = try fuse(n.model, ["fuse-gemm"])
        #expect(ops(m) == ["MatMul", "Add"])
    }

    @Test func padIntoConvAndAveragePool() throws {
        var n = Net(opset: 18)
        let x = n.input("x", [1, 2, 6, 6])
        let p = n.op("Pad", [x, n.ints("pads", [1, 2, 0, 1]), n.scalar("zero", 0), n.ints("axes", [2, 3])])
        let c = n.op("Conv", [p, n.random("w", [3, 2, 3, 3])], [ints("pads", [0, 1, 0, 1])])
        let q = n.op("Pad", [c, n.ints("pads2", [0, 0, 1, 1, 0, 0, 1, 1])])
        n.output(n.op("AveragePool", [q], [ints("kernel_shape", [3, 3])]))
        let m = try fuse(n.model, ["fuse-pad"])
        #expect(ops(m) == ["Conv", "AveragePool"])
        let pool = m.graph[node: m.graph.order[1]]
        #expect(try pool.int("count_include_pad", default: 0) == 1)
        #expect(try m.graph[node: m.graph.order[0]].ints("pads") == [1, 3, 0, 2])
    }

    @Test func averagePoolExcludingItsOwnPaddingIsKept() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 2, 6, 6])
        let p = n.op("Pad", [x, n.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
        n.output(n.op("AveragePool", [p], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])]))
        let m = try fuse(n.model, ["fuse-pad"])
        #expect(ops(m) == ["Pad", "AveragePool"])
    }

    @Test func zeroPadIntoMaxPoolOnlyForNonNegativeInput() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 2, 6, 6])
        let r = n.op("Relu", [x])
        let p = n.op("Pad", [r, n.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
        n.output(n.op("MaxPool", [p], [ints("kernel_shape", [3, 3]), ints("strides", [2, 2])]))
        let signed = n.op("Pad", [x, n.ints("pads2", [0, 0, 1, 1, 0, 0, 1, 1])])
        n.output(n.op("MaxPool", [signed], [ints("kernel_shape", [3, 3])]))
        let m = try fuse(n.model, ["fuse-pad"])
        #expect(ops(m) == ["Relu", "MaxPool", "Pad", "MaxPool"])
    }

    @Test func attributePadIntoConvBeforeOpset11() throws {
        var n = Net(opset: 10)
        let x = n.input("x", [1, 2, 5, 5])
        let p = n.op("Pad", [x], [ints("pads", [0, 0, 2, 1, 0, 0, 0, 1]), float("value", 0)])
        n.output(n.op("Conv", [p, n.random("w", [2, 2, 3, 3])]))
        let m = try fuse(n.model, ["fuse-pad"])
        #expect(ops(m) == ["Conv"])
        #expect(try m.graph[node: m.graph.order[0]].ints("pads") == [2, 1, 0, 1])
    }

    @Test func maxPoolWhoseIndicesAreUsedKeepsItsPad() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 1, 4, 4])
        let p = n.op("Pad", [x, n.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), n.scalar("ninf", -.infinity)])
        let pool = n.op("MaxPool", [p], [ints("kernel_shape", [2, 2])], outputs: 2)
        n.output(pool)
        n.output(n.graph.valueID(named: "maxpool2_1")!)
        let m = n.model
        guard case .failed(let reason) = PadIntoConsumer().match(m.graph.order[1], in: m.graph, scope: scope(m), options: PassOptions()) else {
            Issue.record("fused a MaxPool whose Indices are used"); return
        }
        #expect(reason.contains("another used output"))
    }

    @Test func minusInfinityPadIntoMaxPoolOnSignedInput() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 2, 5, 5])
        let p = n.op("Pad", [x, n.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), n.scalar("ninf", -.infinity)])
        n.output(n.op("MaxPool", [p], [ints("kernel_shape", [2, 2])]))
        let m = try fuse(n.model, ["fuse-pad"])
        #expect(ops(m) == ["MaxPool"])
    }
}

func scope(_ m: Model) -> GraphScope {
    GraphScope(opset: Int(m.opsetImports[0].version), opsets: m.opsetTable, depth: 0, captured: [])
}
