import Testing
import KilnIR
@testable import KilnPasses

/// Gelu, LayerNormalization, RMSNormalization and Attention from their decomposed exporter forms.
@Suite struct FusionTransformerTests {
    // MARK: Gelu

    /// torch: x * 0.5 * (1 + erf(x / sqrt 2)) written as Div, Erf, Add, Mul, Mul.
    func torchGelu(opset: Int64, half: Float = 0.5) -> Net {
        var n = Net(opset: opset)
        let x = n.input("x", [2, 7])
        let d = n.op("Div", [x, n.scalar("sqrt2", 1.4142135)])
        let a = n.op("Add", [n.op("Erf", [d]), n.scalar("one", 1)])
        n.output(n.op("Mul", [n.op("Mul", [x, a]), n.scalar("half", half)]))
        return n
    }

    @Test func erfGeluFromTorch() throws {
        let m = try fuse(torchGelu(opset: 20).model, ["fuse-gelu"])
        #expect(ops(m) == ["Gelu"])
        #expect(m.graph.initializerOrder.isEmpty)
    }

    /// Also the ONNX function body's spelling: `Sum(1, erf)` instead of Add.
    @Test func erfGeluWithHalfFirstAndReciprocalScale() throws {
        var n = Net(opset: 21)
        let x = n.input("x", [3, 4])
        let h = n.op("Mul", [n.scalar("half", 0.5), x])
        let e = n.op("Erf", [n.op("Mul", [x, n.scalar("rsqrt2", 0.70710677)])])
        n.output(n.op("Mul", [h, n.op("Sum", [n.scalar("one", 1), e])]))
        let m = try fuse(n.model, ["fuse-gelu"])
        #expect(ops(m) == ["Gelu"])
    }

    /// The inner sum as the ONNX function body writes it (`Sum`).
    @Test func tanhGeluWithPow() throws {
        var n = Net(opset: 20)
        let x = n.input("x", [2, 6])
        let c = n.op("Mul", [n.scalar("c", 0.044715), n.op("Pow", [x, n.scalar("three", 3)])])
        let t = n.op("Mul", [n.scalar("k", 0.7978845608), n.op("Sum", [x, c])])
        let a = n.op("Add", [n.scalar("one", 1), n.op("Tanh", [t])])
        n.output(n.op("Mul", [n.op("Mul", [n.scalar("half", 0.5), x]), a]))
        let m = try fuse(n.model, ["fuse-gelu"])
        #expect(ops(m) == ["Gelu"])
        #expect(try m.graph[node: m.graph.order[0]].string("approximate") == "tanh")
    }

    @Test func tanhGeluFactored() throws {
        var n = Net(opset: 20)
        let x = n.input("x", [2, 6])
        let q = n.op("Mul", [n.scalar("c", 0.044715), n.op("Mul", [x, x])])
        let s = n.op("Add", [n.scalar("one", 1), q])
        let t = n.op("Mul", [n.op("Mul", [n.scalar("k", 0.7978845608), x]), s])
        let a = n.op("Add", [n.op("Tanh", [t]), n.scalar("one2", 1)])
        n.output(n.op("Mul", [n.op("Mul", [x, n.scalar("half", 0.5)]), a]))
        let m = try fuse(n.model, ["fuse-gelu"])
        #expect(ops(m) == ["Gelu"])
    }

    @Test func geluWithWrongConstantIsKept() throws {
        let m = try fuse(torchGelu(opset: 20, half: 0.6).model, ["fuse-gelu"])
        #expect(ops(m) == ["Div", "Erf", "Add", "Mul", "Mul"])
    }

    @Test func geluNeedsOpset20AndOpsetFusions() throws {
        #expect(ops(try fuse(torchGelu(opset: 19).model, ["fuse-gelu"])).count == 5)
        var options = PassOptions()
        options.opsetFusions = false
        #expect(ops(try fuse(torchGelu(opset: 20).model, ["fuse-gelu"], options: options)).count == 5)
    }

    // MARK: LayerNormalization

    /// mean, Sub, Pow 2, mean, Add eps, Sqrt, Div, Mul gamma, Add beta over the last axis.
    func layerNorm(opset: Int64, eps: ValueID? = nil) -> Net {
        var n = Net(opset: opset)
        let x = n.input("x", dims: [nil, 5, 8])
        func mean(_ v: ValueID, _ tag: String) -> ValueID {
            opset >= 18 ? n.op("ReduceMean", [v, n.ints("axes_\(tag)", [-1])]) : n.op("ReduceMean", [v], [ints("axes", [-1])])
        }
        let d = n.op("Sub", [x, mean(x, "a")])
        let v = mean(n.op("Pow", [d, n.scalar("two", 2)]), "b")
        let epsilon = eps ?? n.scalar("eps", 1e-5)
        let s = n.op("Sqrt", [n.op("Add", [v, epsilon])])
        let y = n.op("Mul", [n.op("Div", [d, s]), n.random("gamma", [8], in: 0.5...1.5)])
        n.output(n.op("Add", [n.random("beta", [8]), y]))
        return n
    }

    @Test(arguments: [17, 18] as [Int64])
    func layerNormFromTorch(opset: Int64) throws {
        let m = try fuse(layerNorm(opset: opset).model, ["fuse-layernorm"])
        #expect(ops(m) == ["LayerNormalization"])
        let node = m.graph[node: m.graph.order[0]]
        #expect(try node.int("axis") == -1)
        #expect(try node.float("epsilon") == 1e-5)
        #expect(node.inputs.count == 3)
    }

    @Test func layerNormOverTwoAxesWithReciprocalAndSelfMul() throws {
        var n = Net(opset: 18)
        let x = n.input("x", [2, 4, 6])
        let d = n.op("Sub", [x, n.op("ReduceMean", [x, n.ints("ax1", [1, 2])])])
        let v = n.op("ReduceMean", [n.op("Mul", [d, d]), n.ints("ax2", [-2, -1])])
        let r = n.op("Reciprocal", [n.op("Sqrt", [n.op("Add", [n.scalar("eps", 1e-6), v])])])
        n.output(n.op("Mul", [n.random("gamma", [1, 4, 6], in: 0.5...1.5), n.op("Mul", [r, d])]))
        let m = try fuse(n.model, ["fuse-layernorm"])
        #expect(ops(m) == ["LayerNormalization"])
        #expect(try m.graph[node: m.graph.order[0]].int("axis") == -2)
    }

    /// `LN(x) * gamma + residual`: the residual is not a bias, so the LayerNorm ends at the Mul.
    @Test func layerNormBeforeAResidualAdd() throws {
        var n = Net(opset: 17)
        let x = n.input("x", [2, 3, 8]), residual = n.input("r", [2, 3, 8])
        let d = n.op("Sub", [x, n.op("ReduceMean", [x], [ints("axes", [-1])])])
        let v = n.op("ReduceMean", [n.op("Pow", [d, n.scalar("two", 2)])], [ints("axes", [-1])])
        let nrm = n.op("Div", [d, n.op("Sqrt", [n.op("Add", [v, n.scalar("eps", 1e-5)])])])
        let y = n.op("Mul", [nrm, n.random("gamma", [8], in: 0.5...1.5)])
        n.output(n.op("Add", [residual, y]))
        let m = try fuse(n.model, ["fuse-layernorm"])
        #expect(ops(m) == ["LayerNormalization", "Add"])
    }

    @Test func layerNormWithoutAffineGetsOnes() throws {
        var n = Net(opset: 17)
        let x = n.input("x", [3, 8])
        let d = n.op("Sub", [x, n.op("ReduceMean", [x], [ints("axes", [1])])])
        let v = n.op("ReduceMean", [n.op("Pow", [d, n.scalar("two", 2)])], [ints("axes", [1])])
        n.output(n.op("Div", [d, n.op("Sqrt", [n.op("Add", [v, n.scalar("eps", 1e-5)])])]))
        let m = try fuse(n.model, ["fuse-layernorm"])
        #expect(ops(m) == ["LayerNormalization"])
    }

    @Test func layerNormWithPerElementEpsilonIsKept() throws {
        var n = Net(opset: 17)
        let eps = n.constant("eps", [1e-5, 2e-5, 1e-5, 1e-5, 1e-5], [5, 1])
        let m = try fuse(layerNormWithEps(eps: eps, n: n).model, ["fuse-layernorm"])
        #expect(!ops(m).contains("LayerNormalization"))
    }

    func layerNormWithEps(eps: ValueID, n start: Net) -> Net {
        var n = start
        let x = n.input("x", [2, 5, 8])
        let d = n.op("Sub", [x, n.op("ReduceMean", [x], [ints("axes", [-1])])])
        let v = n.op("ReduceMean", [n.op("Pow", [d, n.scalar("two", 2)])], [ints("axes", [-1])])
        let s = n.op("Sqrt", [n.op("Add", [v, eps])])
        n.output(n.op("Div", [d, s]))
        return n
    }

    @Test func layerNormNeedsOpset17() throws {
        var n = Net(opset: 16)
        let eps = n.scalar("eps", 1e-5)
        let m = try fuse(layerNormWithEps(eps: eps, n: n).model, ["fuse-layernorm"])
        #expect(!ops(m).contains("LayerNormalization"))
    }

    // MARK: RMSNormalization

    @Test(arguments: [false, true])
    func rmsNorm(reciprocal: Bool) throws {
        var n = Net(opset: 23)
        let x = n.input("x", [2, 4, 8])
        let ms = n.op("ReduceMean", [n.op("Pow", [x, n.scalar("two", 2)]), n.ints("axes", [-1])])
        let s = n.op("Sqrt", [n.op("Add", [ms, n.scalar("eps", 1e-6)])])
        let normed = reciprocal ? n.op("Mul", [x, n.op("Reciprocal", [s])]) : n.op("Div", [x, s])
        n.output(n.op("Mul", [n.random("gamma", [8], in: 0.5...1.5), normed]))
        let m = try fuse(n.model, ["fuse-rmsnorm"])
        #expect(ops(m) == ["RMSNormalization"])
    }

    @Test func rmsNormNeedsOpset23() throws {
        var n = Net(opset: 22)
        let x = n.input("x", [2, 8])
        let ms = n.op("ReduceMean", [n.op("Mul", [x, x]), n.ints("axes", [-1])])
        n.output(n.op("Div", [x, n.op("Sqrt", [n.op("Add", [ms, n.scalar("eps", 1e-6)])])]))
        let m = try fuse(n.model, ["fuse-rmsnorm"])
        #expect(ops(m).count == 5)
    }

    // MARK: Attention

    /// Q, K, V from [B, S, H, D] through the exporter's transposes; scores divided by sqrt(D),
    /// plus a mask.
    func attention(opset: Int64, softmaxAxis: Int64 = -1) -> Net {
        var n = Net(opset: opset)
        let q0 = n.input("q", [2, 5, 3, 4]), k0 = n.input("k", [2, 6, 3, 4]), v0 = n.input("v", [2, 6, 3, 4])
        let mask = n.input("mask", [1, 1, 5, 6])
        let q = n.op("Transpose", [q0], [ints("perm", [0, 2, 1, 3])])
        let kt = n.op("Transpose", [k0], [ints("perm", [0, 2, 3, 1])])
        let v = n.op("Transpose", [v0], [ints("perm", [0, 2, 1, 3])])
        let s = n.op("Div", [n.op("MatMul", [q, kt]), n.scalar("sqrt_d", 2)])
        let p = n.op("Softmax", [n.op("Add", [s, mask])], [int("axis", softmaxAxis)])
        n.output(n.op("Transpose", [n.op("MatMul", [p, v])], [ints("perm", [0, 2, 1, 3])]))
        return n
    }

    @Test func attentionWithMask() throws {
        let m = try fuse(attention(opset: 23).model, ["fuse-attention"])
        #expect(ops(m).filter { $0 != "Transpose" } == ["Attention"])
        let att = try #require(m.graph.nodes.first { $0.node.opType == "Attention" }?.node)
        #expect(try att.float("scale") == 0.5)
        #expect(att.inputs.count == 4)
        let k = try #require(m.graph.producer(of: att.inputs[1]!))
        #expect(try m.graph[node: k].ints("perm") == [0, 2, 1, 3])
    }

    /// A padding mask [B, 1, 1, T] is expanded over the query length (onnxruntime does not broadcast
    /// it), with a constant shape or, for a dynamic length, one read from Q.
    @Test(arguments: [true, false])
    func attentionWithPaddingMask(staticLength: Bool) throws {
        var n = Net(opset: 23)
        let s: Dim = staticLength ? .value(5) : .symbol("seq")
        let q = n.input("q", shape: [.value(2), .value(2), s, .value(4)])
        let k = n.input("k", shape: [.value(2), .value(2), s, .value(4)])
        let v = n.input("v", shape: [.value(2), .value(2), s, .value(4)])
        let mask = n.input("mask", shape: [.value(2), .value(1), .value(1), s])
        let kt = n.op("Transpose", [k], [ints("perm", [0, 1, 3, 2])])
        let scores = n.op("Add", [mask, n.op("Mul", [n.op("MatMul", [q, kt]), n.scalar("c", 0.5)])])
        n.output(n.op("MatMul", [n.op("Softmax", [scores], [int("axis", -1)]), v]))
        let m = try fuse(n.model, ["fuse-attention"])
        #expect(ops(m) == (staticLength ? ["Expand", "Attention"] : ["Shape", "Concat", "Expand", "Attention"]))
    }

    @Test func attentionScaledByMulWithKInLayout() throws {
        var n = Net(opset: 23)
        let q = n.input("q", [1, 2, 3, 4]), k = n.input("k", [1, 2, 5, 4]), v = n.input("v", [1, 2, 5, 3])
        let kt = n.op("Transpose", [k], [ints("perm", [0, 1, 3, 2])])
        let s = n.op("Mul", [n.scalar("c", 0.3), n.op("MatMul", [q, kt])])
        n.output(n.op("MatMul", [n.op("Softmax", [s], [int("axis", -1)]), v]))
        let m = try fuse(n.model, ["fuse-attention"])
        #expect(ops(m) == ["Attention"])
    }

    @Test func attentionWithQAndKScaledBeforeTheProduct() throws {
        var n = Net(opset: 23)
        let q = n.input("q", [2, 2, 3, 4]), k = n.input("k", [2, 2, 5, 4]), v = n.input("v", [2, 2, 5, 4])
        let qs = n.op("Mul", [q, n.scalar("c1", 0.70710677)])
        let kt = n.op("Div", [n.op("Transpose", [k], [ints("perm", [0, 1, 3, 2])]), n.scalar("c2", 1.4142135)])
        let s = n.op("MatMul", [qs, kt])
        n.output(n.op("MatMul", [n.op("Softmax", [s], [int("axis", 3)]), v]))
        let m = try fuse(n.model, ["fuse-attention"])
        try #require(ops(m) == ["Attention"])
        let scale = try m.graph[node: m.graph.order[0]].float("scale")
        #expect(abs(scale - 0.5) < 1e-6)
    }

    @Test func float16GeluKeepsItsTolerance() throws {
        var n = Net(opset: 20)
        let x = n.input("x", [4, 5], .float16)
        func half(_ name: String, _ v: Float) -> ValueID {
            n.tensor(name, makeTensor([Double(v)], dims: [], type: .float16))
        }
        let d = n.op("Div", [x, half("sqrt2", 1.4142135)])
        let a = n.op("Add", [n.op("Erf", [d]), half("one", 1)])
        n.output(n.op("Mul", [n.op("Mul", [x, a]), half("half", 0.5)]))
        let m = try fuse(n.model, ["fuse-gelu"], tolerance: 2e-3)
        #expect(ops(m) == ["Gelu"])
    }

    @Test func attentionIsKeptForOtherSoftmaxAxisOrLowOpset() throws {
        #expect(!ops(try fuse(attention(opset: 23, softmaxAxis: 2).model, ["fuse-attention"])).contains("Attention"))
        #expect(!ops(try fuse(attention(opset: 22).model, ["fuse-attention"])).contains("Attention"))
    }
}
