import Testing
import KilnIR
import KilnEvaluator
import KilnTestSupport
@testable import KilnQuantization

// Structure and numbers of `PrecisionConversion` (kiln convert --fp16 / --bf16) on small graphs
// built inline. Numbers come from the evaluator, which runs float16 kernels in float16.

/// Runs `model` on float32 `inputs`, casting each to the type the model declares for it.
func precisionRun(_ model: Model, _ inputs: [String: TensorValue]) throws -> [TensorValue] {
    var feeds: [String: RuntimeValue] = [:]
    for (name, value) in inputs {
        let id = try #require(model.graph.valueID(named: name))
        let type = model.graph[value: id].type?.tensorElementType ?? .float
        feeds[name] = .tensor(precisionCast(value, to: type))
    }
    return try Evaluator(model: model).run(feeds).map { try #require($0.tensor) }
}

/// `value` (float32) with its elements in `type` (float16, bfloat16 or float32).
func precisionCast(_ value: TensorValue, to type: DataType) -> TensorValue {
    let f = value.doubles.map { Float($0) }
    switch type {
    case .float16: return TensorValue(shape: value.shape, f.map { Float16($0) })
    case .bfloat16: return TensorValue(shape: value.shape, f.map { BFloat16($0) })
    case .float: return TensorValue(shape: value.shape, f)
    default: return value
    }
}

/// max |a - b| / max |a| over one output.
func precisionRelativeError(_ a: TensorValue, _ b: TensorValue) -> Double {
    let x = a.doubles, y = b.doubles
    let scale = max(x.map(abs).max() ?? 0, 1e-12)
    return zip(x, y).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

/// Expects the converted model to give the original's outputs within `tolerance` (relative to
/// each output's largest magnitude).
func expectPrecisionClose(_ original: Model, _ converted: Model, _ inputs: [String: TensorValue], tolerance: Double = 1e-2,
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    let a = try precisionRun(original, inputs), b = try precisionRun(converted, inputs)
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(x.shape == y.shape, sourceLocation: sourceLocation)
        let e = precisionRelativeError(x, y)
        #expect(e <= tolerance, "relative error \(e)", sourceLocation: sourceLocation)
    }
}

func precisionConverted(_ model: Model, _ options: PrecisionOptions = PrecisionOptions()) throws -> (Model, PrecisionReport) {
    var m = model
    let report = try PrecisionConversion.convert(&m, options: options)
    try m.graph.checkInvariants()
    #expect(m.graph.isTopologicallySorted)
    return (m, report)
}

extension Model {
    func precisionNodes(_ op: String) -> [Node] { graph.order.map { graph[node: $0] }.filter { $0.opType == op } }
    func precisionType(_ name: String) -> DataType? {
        graph.valueID(named: name).flatMap { graph[value: $0].type?.tensorElementType ?? graph[value: $0].initializer?.dataType }
    }
    func precisionCastTargets() -> [Int64] { precisionNodes("Cast").compactMap { try? $0.int("to") } }
}

/// x[2,8] -> MatMul(w1) -> Add(b1) -> Relu -> MatMul(w2) -> y[2,4]
func precisionMLP(opset: Int = 17) -> Model {
    var b = ModelBuilder(opset: opset)
    b.input("x", [2, 8])
    b.floats("w1", (0..<64).map { Float(($0 * 7) % 13) / 13 - 0.5 }, [8, 8])
    b.floats("b1", (0..<8).map { Float($0) / 10 }, [8])
    b.floats("w2", (0..<32).map { Float(($0 * 5) % 11) / 11 - 0.5 }, [8, 4])
    b.node("MatMul", ["x", "w1"], ["h0"])
    b.node("Add", ["h0", "b1"], ["h1"])
    b.node("Relu", ["h1"], ["h2"])
    b.node("MatMul", ["h2", "w2"], ["y"])
    b.output("y", .float, [.value(2), .value(4)])
    return b.model
}

@Suite struct PrecisionStructureTests {
    @Test func everythingFloatBecomesFloat16() throws {
        let (m, r) = try precisionConverted(precisionMLP())
        for name in ["x", "w1", "b1", "w2", "y"] { #expect(m.precisionType(name) == .float16, "\(name)") }
        #expect(m.precisionNodes("Cast").isEmpty)
        #expect(r.tensorsConverted == 3)
        #expect(r.elementsConverted == 64 + 8 + 32)
        #expect(r.nodesConverted == 4)
        #expect(r.kept.isEmpty)
        try expectPrecisionClose(precisionMLP(), m, ["x": sample([2, 8])])
    }

    @Test func keepIOTypesKeepsNamesAndFloat32() throws {
        let (m, r) = try precisionConverted(precisionMLP(), PrecisionOptions(keepIOTypes: true))
        #expect(m.graph.inputs.map { m.graph.name(of: $0) } == ["x"])
        #expect(m.outputNames == ["y"])
        #expect(m.precisionType("x") == .float)
        #expect(m.precisionType("y") == .float)
        #expect(m.precisionType("w1") == .float16)
        // One Cast in (x -> float16), one out (float16 -> y).
        #expect(m.precisionCastTargets().sorted() == [1, 10])
        #expect(r.castsInserted == 2)
        let y = try #require(m.graph.valueID(named: "y"))
        #expect(m.graph[node: try #require(m.graph.producer(of: y))].opType == "Cast")
        try expectPrecisionClose(precisionMLP(), m, ["x": sample([2, 8])])
    }

    @Test func bfloat16() throws {
        let (m, r) = try precisionConverted(precisionMLP(), PrecisionOptions(target: .bfloat16))
        #expect(m.precisionType("w1") == .bfloat16)
        #expect(m.precisionType("y") == .bfloat16)
        #expect(r.kept.isEmpty)
        try expectPrecisionClose(precisionMLP(), m, ["x": sample([2, 8])], tolerance: 2e-2)
    }

    @Test func bfloat16NeedsOpset13() throws {
        var m = precisionMLP(opset: 11)
        #expect(throws: KilnError.self) { try PrecisionConversion.convert(&m, options: PrecisionOptions(target: .bfloat16)) }
        #expect(m == precisionMLP(opset: 11))
    }

    @Test func blockedOpGetsOneCastEachWay() throws {
        // x -> Mul(s) -> Exp -> Add(b) -> y; Exp stays float32 (e^x passes 65504 at 11.1).
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.floats("s", [0.5], [1])
        b.floats("b", [1, 2, 3, 4], [4])
        b.node("Mul", ["x", "s"], ["m"])
        b.node("Exp", ["m"], ["e"])
        b.node("Add", ["e", "b"], ["y"])
        b.node("Neg", ["m"], ["n"])
        b.output("y")
        b.output("n")
        let (m, r) = try precisionConverted(b.model)
        #expect(r.kept.map(\.op) == ["Exp"])
        #expect(r.kept.first?.reason.contains("65504") == true)
        let exp = try #require(m.precisionNodes("Exp").first)
        let ein = try #require(exp.inputs[0]), eout = try #require(exp.outputs[0])
        #expect(m.graph[node: try #require(m.graph.producer(of: ein))].opType == "Cast")
        #expect(m.graph[value: ein].type?.tensorElementType == .float)
        // Exp's float32 output is cast back once for Add.
        let readers = m.graph.consumers(of: eout).map { m.graph[node: $0] }
        #expect(readers.map(\.opType) == ["Cast"])
        #expect(try readers[0].int("to") == 10)
        #expect(m.precisionCastTargets().sorted() == [1, 10])
        try expectPrecisionClose(b.model, m, ["x": TensorValue(shape: [4], [0.5, -1, 2, 3] as [Float])])
    }

    @Test func blockOpOptionAndUnknownName() throws {
        let (m, r) = try precisionConverted(precisionMLP(), PrecisionOptions(blockedOps: ["Relu"]))
        #expect(r.kept.map(\.op) == ["Relu"])
        #expect(r.kept.first?.reason == "--block-op Relu")
        let relu = try #require(m.precisionNodes("Relu").first)
        #expect(m.precisionType(m.graph.name(of: relu.outputs[0]!)) != .float16)
        #expect(m.precisionCastTargets().sorted() == [1, 10])
        try expectPrecisionClose(precisionMLP(), m, ["x": sample([2, 8])])
        var bad = precisionMLP()
        #expect(throws: KilnError.self) { try PrecisionConversion.convert(&bad, options: PrecisionOptions(blockedOps: ["Rleu"])) }
    }

    @Test func noDefaultBlocks() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.node("Exp", ["x"], ["y"])
        b.output("y")
        let (m, r) = try precisionConverted(b.model, PrecisionOptions(defaultBlocks: false))
        #expect(r.kept.isEmpty)
        #expect(m.precisionNodes("Cast").isEmpty)
    }

    @Test func castToFloatFollowsItsReaders() throws {
        // i (int64) -> Cast(to float) -> Add(x) : converted, so `to` becomes float16.
        // i -> Cast(to float) -> Exp (kept)     : stays `to` float.
        var b = ModelBuilder(opset: 17)
        b.input("x", [3])
        b.input("i", [3], .int64)
        b.node("Cast", ["i"], ["f1"], [Attribute("to", .int(1))])
        b.node("Add", ["f1", "x"], ["y"])
        b.node("Cast", ["i"], ["f2"], [Attribute("to", .int(1))])
        b.node("Exp", ["f2"], ["z"])
        b.output("y", .float, [.value(3)])
        b.output("z", .float, [.value(3)])
        let (m, _) = try precisionConverted(b.model, PrecisionOptions(keepIOTypes: true))
        let casts = m.precisionNodes("Cast")
        #expect(try casts.first { $0.name == "f1" }?.int("to") == 10)
        #expect(try casts.first { $0.name == "f2" }?.int("to") == 1)
        #expect(m.precisionType("z") == .float)
        #expect(m.precisionType("y") == .float)
        try expectPrecisionClose(b.model, m, ["x": sample([3]), "i": TensorValue(shape: [3], [1, 2, 3] as [Int64])])
    }

    @Test func cancellingCastsAreRemoved() throws {
        // A half-converted model: Relu -> Cast(float16) -> Cast(float) -> Relu. After conversion
        // both Casts are identities on float16 and go.
        var b = ModelBuilder(opset: 17)
        b.input("x", [4])
        b.node("Relu", ["x"], ["a"])
        b.node("Cast", ["a"], ["h"], [Attribute("to", .int(10))])
        b.node("Cast", ["h"], ["f"], [Attribute("to", .int(1))])
        b.node("Relu", ["f"], ["y"])
        b.output("y")
        let (m, r) = try precisionConverted(b.model)
        #expect(m.precisionNodes("Cast").isEmpty)
        #expect(r.castsRemoved == 2)
        try expectPrecisionClose(b.model, m, ["x": sample([4])])
    }

    @Test func constantsAndConstantOfShape() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [2, 3])
        b.ints("shape", [2, 3])
        b.node("ConstantOfShape", ["shape"], ["zeros"])
        b.node("Constant", [], ["c"], [Attribute("value_float", .float(1.5))])
        b.node("Constant", [], ["d"], [Attribute("value_floats", .floats([1, 2, 3]))])
        b.node("Add", ["x", "zeros"], ["s0"])
        b.node("Mul", ["s0", "c"], ["s1"])
        b.node("Add", ["s1", "d"], ["y"])
        b.output("y")
        let (m, _) = try precisionConverted(b.model)
        let cos = try #require(m.precisionNodes("ConstantOfShape").first)
        #expect(try cos.tensor("value")?.dataType == .float16)
        for c in m.precisionNodes("Constant") {
            #expect(try c.tensor("value")?.dataType == .float16)
            #expect(c.attribute("value_float") == nil && c.attribute("value_floats") == nil)
        }
        #expect(m.precisionNodes("Cast").isEmpty)
        try expectPrecisionClose(b.model, m, ["x": sample([2, 3])])
    }

    @Test func sharedWeightGetsAFloat16Copy() throws {
        // w feeds a converted MatMul and a kept Exp: w stays float32 for Exp, MatMul reads a copy.
        var b = ModelBuilder(opset: 17)
        b.input("x", [2, 2])
        b.floats("w", [0.1, 0.2, 0.3, 0.4], [2, 2])
        b.node("MatMul", ["x", "w"], ["y"])
        b.node("Exp", ["w"], ["z"])
        b.output("y")
        b.output("z")
        let (m, _) = try precisionConverted(b.model)
        #expect(m.precisionType("w") == .float)
        #expect(m.precisionType("w_fp16") == .float16)
        #expect(m.precisionNodes("MatMul").first?.inputs[1].map { m.graph.name(of: $0) } == "w_fp16")
        try expectPrecisionClose(b.model, m, ["x": sample([2, 2])])
    }
}

@Suite struct PrecisionRuleTests {
    func reduce(_ op: String, dims: [Dim], axes: [Int64]) -> Model {
        var b = ModelBuilder(opset: 17)
        b.input("x", .float, dims)
        b.node(op, ["x"], ["y"], [Attribute("axes", .ints(axes)), Attribute("keepdims", .int(0))])
        b.output("y")
        return b.model
    }

    @Test func reductionsByCount() throws {
        #expect(try precisionConverted(reduce("ReduceSum", dims: [.value(2), .value(64)], axes: [1])).1.kept.isEmpty)
        let big = try precisionConverted(reduce("ReduceSum", dims: [.value(2), .value(2048)], axes: [1])).1
        #expect(big.kept.first?.reason == "reduces 2048 elements (more than 1024)")
        let symbolic = try precisionConverted(reduce("ReduceMean", dims: [.value(2), .symbol("seq")], axes: [-1])).1
        #expect(symbolic.kept.first?.reason == "reduces an unknown number of elements")
        #expect(try precisionConverted(reduce("ReduceMean", dims: [.value(2), .value(2048)], axes: [1])).1.kept.isEmpty)
        #expect(try precisionConverted(reduce("ReduceMax", dims: [.value(2), .symbol("seq")], axes: [1])).1.kept.isEmpty)
        // Overflow-only rules apply to float16, not bfloat16.
        let square = reduce("ReduceSumSquare", dims: [.value(2), .value(8)], axes: [1])
        #expect(try precisionConverted(square).1.kept.map(\.op) == ["ReduceSumSquare"])
        #expect(try precisionConverted(square, PrecisionOptions(target: .bfloat16)).1.kept.isEmpty)
    }

    @Test func powByExponent() throws {
        func pow(_ e: Float) throws -> [String] {
            var b = ModelBuilder(opset: 17)
            b.input("x", [4])
            b.floats("e", [e], [])
            b.node("Pow", ["x", "e"], ["y"])
            b.output("y")
            return try precisionConverted(b.model).1.kept.map(\.op)
        }
        #expect(try pow(0.5) == [])
        #expect(try pow(2) == ["Pow"])
    }

    @Test func reductionAfterRangeBlockedProducer() throws {
        // Pow(x, 2) is kept; the ReduceMean of its output stays float32 with it (variance).
        var b = ModelBuilder(opset: 17)
        b.input("x", [2, 8])
        b.floats("two", [2], [])
        b.node("Pow", ["x", "two"], ["sq"])
        b.node("ReduceMean", ["sq"], ["var"], [Attribute("axes", .ints([1]))])
        b.node("Sqrt", ["var"], ["y"])
        b.output("y")
        let (m, r) = try precisionConverted(b.model)
        #expect(r.kept.map(\.op) == ["Pow", "ReduceMean"])
        // No Cast between Pow and ReduceMean.
        let mean = try #require(m.precisionNodes("ReduceMean").first)
        #expect(m.graph[node: try #require(m.graph.producer(of: mean.inputs[0]!))].opType == "Pow")
        try expectPrecisionClose(b.model, m, ["x": sample([2, 8])])
    }

    @Test func schemaWithoutTargetTypeKeepsTheNode() throws {
        // Conv-11 allows float16 but not bfloat16 (bfloat16 comes with Conv-22).
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 1, 4, 4])
        b.floats("w", [Float](repeating: 0.25, count: 4), [1, 1, 2, 2])
        b.node("Conv", ["x", "w"], ["c"])
        b.node("Relu", ["c"], ["y"])
        b.output("y")
        let bf = try precisionConverted(b.model, PrecisionOptions(target: .bfloat16)).1
        #expect(bf.kept.map(\.op) == ["Conv"])
        #expect(bf.kept.first?.reason.contains("allows no bfloat16") == true)
        let (m, fp) = try precisionConverted(b.model)
        #expect(fp.kept.isEmpty)
        #expect(m.precisionType("w") == .float16)
    }

    @Test func rmsNormalizationComputesInOneType() throws {
        // RMSNormalization-23: X is T (input only), scale and Y are V. X is not taken as it comes:
        // it converts with the node, so X, scale and Y are all float16.
        var b = ModelBuilder(opset: 23)
        b.input("x", [2, 4])
        b.floats("scale", [1, 2, 3, 4], [4])
        b.node("RMSNormalization", ["x", "scale"], ["y"], [Attribute("axis", .int(-1))])
        b.output("y", .float, [.value(2), .value(4)])
        let (m, r) = try precisionConverted(b.model, PrecisionOptions(keepIOTypes: true))
        #expect(r.kept.isEmpty)
        let node = try #require(m.precisionNodes("RMSNormalization").first)
        #expect(m.graph[node: try #require(m.graph.producer(of: node.inputs[0]!))].opType == "Cast")
        #expect(m.precisionType("scale") == .float16)
        try expectPrecisionClose(b.model, m, ["x": sample([2, 4])])
    }

    @Test func scatterReductionsStayFloat32() throws {
        func scatter(_ reduction: String) throws -> [String] {
            var b = ModelBuilder(opset: 18)
            b.input("x", [4])
            b.initializer("i", .int64([1, 1], dims: [2, 1]))
            b.floats("u", [1, 2], [2])
            b.node("ScatterND", ["x", "i", "u"], ["y"], [Attribute("reduction", .string(Array(reduction.utf8)))])
            b.output("y", .float, [.value(4)])
            return try precisionConverted(b.model).1.kept.map(\.op)
        }
        #expect(try scatter("none") == [])
        #expect(try scatter("add") == ["ScatterND"])
        #expect(try scatter("max") == ["ScatterND"])
    }

    @Test func resizeKeepsScalesAndRoiFloat32() throws {
        var b = ModelBuilder(opset: 17)
        b.input("x", [1, 1, 2, 2])
        b.floats("roi", [], [0])
        b.floats("scales", [1, 1, 2, 2], [4])
        b.node("Resize", ["x", "roi", "scales"], ["y"], [Attribute("mode", .string(Array("nearest".utf8)))])
        b.output("y", .float, [.value(1), .value(1), .value(4), .value(4)])
        let (m, r) = try precisionConverted(b.model)
        #expect(r.kept.isEmpty)
        #expect(m.precisionType("scales") == .float)
        #expect(m.precisionType("roi") == .float)
        #expect(m.precisionType("y") == .float16)
        try expectPrecisionClose(b.model, m, ["x": sample([1, 1, 2, 2])])
    }
}

@Suite struct PrecisionWeightTests {
    @Test func clampAndFlushAreCounted() throws {
        var c = PrecisionTensorConverter(target: .float16)
        let bits = c.convert([1e6, -1e6, 1e-6, -1e-6, 0.5, .infinity, 65504, 7e-5])
        #expect(c.clamped == 2)
        #expect(c.flushed == 2)
        let h = bits.map { Float(Float16(bitPattern: $0)) }
        #expect(h[0] == 65504 && h[1] == -65504)
        #expect(h[2] == 0 && h[3] == 0 && h[3].sign == .minus)
        #expect(h[4] == 0.5 && h[5] == .infinity && h[6] == 65504)
        #expect(abs(h[7] - 7e-5) < 1e-7)
        var bf = PrecisionTensorConverter(target: .bfloat16)
        let b = bf.convert([3.4e38, 1e-39, 1.5])
        #expect(bf.clamped == 1 && bf.flushed == 1)
        #expect(BFloat16(bitPattern: b[2]).floatValue == 1.5)
        #expect(BFloat16(bitPattern: b[0]).floatValue.isFinite)
    }
}
