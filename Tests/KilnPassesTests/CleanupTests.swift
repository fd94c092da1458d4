import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

@Suite struct ConstantToInitializerTests {
    @Test(arguments: ["value", "value_float", "value_floats"])
    func constantBecomesAnInitializer(form: String) throws {
        var b = ModelBuilder()
        b.input("x", [3])
        let attr: Attribute
        switch form {
        case "value": attr = Attribute("value", .tensor(.float32([2, 2, 2], dims: [3])))
        case "value_float": attr = Attribute("value_float", .float(2))
        default: attr = Attribute("value_floats", .floats([2, 2, 2]))
        }
        b.node("Constant", [], ["c"], [attr])
        b.node("Mul", ["x", "c"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [ConstantToInitializerPass()])
        #expect(m.opTypes == ["Mul"])
        let c = try #require(m.graph.valueID(named: "c"))
        #expect(m.graph.constantTensor(c) != nil)
        try expectSameOutputs(b.model, m, ["x": sample([3])])
    }

    @Test func intAndStringFormsKeepTheirTypes() throws {
        let ints = try #require(try ConstantToInitializerPass.tensor(of: Node(opType: "Constant", attributes: [Attribute("value_ints", .ints([1, 2]))])))
        #expect(ints.dataType == .int64 && ints.dims == [2])
        let int = try #require(try ConstantToInitializerPass.tensor(of: Node(opType: "Constant", attributes: [Attribute("value_int", .int(7))])))
        #expect(int.dataType == .int64 && int.dims == [])
        let s = try #require(try ConstantToInitializerPass.tensor(of: Node(opType: "Constant", attributes: [Attribute("value_strings", .strings([[65], [66]]))])))
        #expect(s.dataType == .string && s.dims == [2])
    }

    @Test func constantThatIsAGraphOutputBecomesAnOutputInitializer() throws {
        var b = ModelBuilder()
        b.input("x", [1])
        b.node("Constant", [], ["y"], [Attribute("value_floats", .floats([1, 2]))])
        b.output("y", .float, [.value(2)])
        let (m, _) = try optimized(b.model, [ConstantToInitializerPass(), IdentityEliminationPass()])
        #expect(m.opTypes == [])
        #expect(m.outputNames == ["y"])
        #expect(m.graph.constantTensor(m.graph.outputs[0]) != nil)
        try expectSameOutputs(b.model, m, ["x": sample([1])])
    }
}

@Suite struct DeadCodeTests {
    @Test func deadChainsUnusedInitializersAndValueInfoGo() throws {
        var b = ModelBuilder()
        b.input("x", [2])
        b.floats("unused", [1, 2], [2])
        b.floats("w", [3, 4], [2])
        b.node("Mul", ["x", "w"], ["dead1"])
        b.node("Relu", ["dead1"], ["dead2"])
        b.node("Neg", ["x"], ["y"])
        b.output("y")
        var model = b.model
        let ghost = try model.graph.addValue(named: "ghost", type: .tensor(.float, Shape(static: [2])))
        model.graph.appendValueInfo(ghost)
        let (m, _) = try optimized(model, [DeadCodeEliminationPass()])
        #expect(m.opTypes == ["Neg"])
        #expect(m.graph.initializerOrder.isEmpty)
        #expect(m.graph.valueInfo.isEmpty)
        try expectSameOutputs(b.model, m, ["x": sample([2])])
    }
}

@Suite struct IdentityTests {
    @Test func identitiesGoAndOutputsKeepTheirNames() throws {
        var b = ModelBuilder()
        b.input("x", [4])
        b.node("Relu", ["x"], ["a"])
        b.node("Identity", ["a"], ["b"])
        b.node("Identity", ["b"], ["y"])
        b.node("Neg", ["b"], ["z"])
        b.output("y")
        b.output("z")
        let (m, _) = try optimized(b.model, [IdentityEliminationPass()])
        #expect(m.opTypes == ["Relu", "Neg"])
        #expect(m.outputNames == ["y", "z"])
        try expectSameOutputs(b.model, m, ["x": sample([4])])
    }

    @Test func identityFromAGraphInputToAnOutputStays() throws {
        var b = ModelBuilder()
        b.input("x", [4])
        b.node("Identity", ["x"], ["y"])
        b.output("y")
        let (m, report) = try optimized(b.model, [IdentityEliminationPass()])
        #expect(m.opTypes == ["Identity"])
        #expect(report.passes[0].changes == 0)
    }
}

@Suite struct NoOpTests {
    /// Each case: a node that changes nothing between x[2,3] and the output.
    static let cases: [(String, @Sendable (inout ModelBuilder, String) -> Void)] = [
        ("Dropout", { b, x in b.node("Dropout", [x], ["y"]) }),
        ("Cast", { b, x in b.node("Cast", [x], ["y"], [Attribute("to", .int(1))]) }),
        ("Reshape", { b, x in b.ints("s", [2, 3]); b.node("Reshape", [x, "s"], ["y"]) }),
        ("Expand", { b, x in b.ints("s", [1, 3]); b.node("Expand", [x, "s"], ["y"]) }),
        ("Transpose", { b, x in b.node("Transpose", [x], ["y"], [Attribute("perm", .ints([0, 1]))]) }),
        ("Pad", { b, x in b.ints("p", [0, 0, 0, 0]); b.node("Pad", [x, "p"], ["y"]) }),
        ("Slice", { b, x in b.ints("st", [0]); b.ints("en", [100]); b.node("Slice", [x, "st", "en"], ["y"]) }),
        ("Concat", { b, x in b.node("Concat", [x], ["y"], [Attribute("axis", .int(0))]) }),
        ("Split", { b, x in b.node("Split", [x], ["y"], [Attribute("axis", .int(1))]) }),
        ("Mul1", { b, x in b.floats("one", [1], [1]); b.node("Mul", ["one", x], ["y"]) }),
        ("Div1", { b, x in b.floats("one", [1, 1, 1], [3]); b.node("Div", [x, "one"], ["y"]) }),
        ("Add0", { b, x in b.floats("zero", [0], []); b.node("Add", [x, "zero"], ["y"]) }),
        ("Sub0", { b, x in b.floats("zero", [0], [1, 1]); b.node("Sub", [x, "zero"], ["y"]) }),
        ("Unsqueeze", { b, x in b.ints("ax", []); b.node("Unsqueeze", [x, "ax"], ["y"]) }),
    ]

    @Test(arguments: 0..<cases.count)
    func noOpIsRemoved(index: Int) throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.node("Relu", ["x"], ["r"])
        let (op, add) = Self.cases[index]
        add(&b, "r")
        b.node("Neg", ["y"], ["out"])
        b.output("out")
        let model = b.model
        let (m, _) = try optimized(model, [NoOpEliminationPass()])
        #expect(m.opTypes == ["Relu", "Neg"], "\(op)")
        try expectSameOutputs(model, m, ["x": sample([2, 3])])
    }

    @Test func broadcastingAddOfZeroStays() throws {
        var b = ModelBuilder()
        b.input("x", [3])
        b.floats("zero", [0, 0, 0, 0, 0, 0], [2, 3])
        b.node("Add", ["x", "zero"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [NoOpEliminationPass()])
        #expect(m.opTypes == ["Add"])
    }

    @Test func dropoutWithAConstantFalseTrainingModeGoes() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.floats("ratio", [0.5], [])
        b.initializer("train", Tensor(dataType: .bool, dims: [], storage: .raw(TensorBytes([0]))))
        b.node("Relu", ["x"], ["r"])
        b.node("Dropout", ["r", "ratio", "train"], ["y", ""])
        b.output("y")
        let (m, _) = try optimized(b.model, [NoOpEliminationPass()])
        #expect(m.opTypes == ["Relu"])
        #expect(m.outputNames == ["y"])
        try expectSameOutputs(b.model, m, ["x": sample([2, 3])])
    }

    @Test func trainingDropoutAndReversingSliceStay() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.initializer("train", Tensor(dataType: .bool, dims: [], storage: .raw(TensorBytes([1]))))
        b.node("Dropout", ["x", "", "train"], ["d"])
        b.ints("st", [-1]); b.ints("en", [Int64.min]); b.ints("ax", [1]); b.ints("step", [-1])
        b.node("Slice", ["d", "st", "en", "ax", "step"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [NoOpEliminationPass()])
        #expect(m.opTypes == ["Dropout", "Slice"])
    }
}

@Suite struct CSETests {
    @Test func sameComputationsMerge() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.node("Relu", ["x"], ["a1"])
        b.node("Relu", ["x"], ["a2"])
        b.node("Softmax", ["a1"], ["s1"], [Attribute("axis", .int(1))])
        b.node("Softmax", ["a2"], ["s2"], [Attribute("axis", .int(1))])
        b.node("Softmax", ["a2"], ["s3"], [Attribute("axis", .int(0))])
        b.node("Sum", ["s1", "s2", "s3"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [CommonSubexpressionEliminationPass()])
        #expect(m.opTypes == ["Relu", "Softmax", "Softmax", "Sum"])
        try expectSameOutputs(b.model, m, ["x": sample([2, 3])])
    }

    @Test func randomNodesAreNeverMerged() throws {
        var b = ModelBuilder()
        b.input("x", [2, 3])
        b.node("RandomNormalLike", ["x"], ["r1"])
        b.node("RandomNormalLike", ["x"], ["r2"])
        b.node("Add", ["r1", "r2"], ["z"])
        b.output("z")
        let (m, report) = try optimized(b.model, [CommonSubexpressionEliminationPass()])
        #expect(m.opTypes == ["RandomNormalLike", "RandomNormalLike", "Add"])
        #expect(report.passes[0].changes == 0)
    }

    @Test func mergedGraphOutputsKeepTheirNames() throws {
        var b = ModelBuilder()
        b.input("x", [2])
        b.node("Neg", ["x"], ["y1"])
        b.node("Neg", ["x"], ["y2"])
        b.node("Relu", ["y2"], ["z"])
        b.output("y1")
        b.output("z")
        let (m, _) = try optimized(b.model, [CommonSubexpressionEliminationPass()])
        #expect(m.opTypes == ["Neg", "Relu"])
        #expect(m.outputNames == ["y1", "z"])
        try expectSameOutputs(b.model, m, ["x": sample([2])])
    }
}

@Suite struct DuplicateInitializerTests {
    @Test func sameBytesMergeWhateverTheStorage() throws {
        var b = ModelBuilder()
        b.input("x", [3])
        b.floats("w1", [1, 2, 3], [3])
        b.initializer("w2", Tensor(dataType: .float, dims: [3], storage: .floatData([1, 2, 3])))
        b.floats("w3", [1, 2, 4], [3])
        b.node("Mul", ["x", "w1"], ["a"])
        b.node("Mul", ["x", "w2"], ["b"])
        b.node("Mul", ["x", "w3"], ["c"])
        b.node("Sum", ["a", "b", "c"], ["y"])
        b.output("y")
        let (m, _) = try optimized(b.model, [DuplicateInitializersPass()])
        #expect(m.graph.initializerOrder.map { m.graph.name(of: $0) } == ["w1", "w3"])
        try expectSameOutputs(b.model, m, ["x": sample([3])])
    }
}

@Suite struct IfInliningTests {
    func branch(_ name: String, op: String) -> Graph {
        var g = Graph(name: name)
        let x = g.value(named: "x")  // outer-scope reference
        let k = try! g.addInitializer(named: "k", .float32([2], dims: []))
        try! g.addNode(Node(opType: op, name: "\(name)_op"), inputs: [x, k], outputNames: ["r"])
        let r = g.valueID(named: "r")!
        try! g.addNode(Node(opType: "Neg", name: "\(name)_neg"), inputs: [r], outputNames: ["out"])
        g.appendOutput(g.valueID(named: "out")!)
        return g
    }

    @Test(arguments: [true, false])
    func constantConditionInlinesTheTakenBranch(condition: Bool) throws {
        var b = ModelBuilder()
        b.input("x", [3])
        b.initializer("cond", Tensor(dataType: .bool, dims: [], storage: .raw(TensorBytes([condition ? 1 : 0]))))
        b.floats("k", [5], [])  // clashes with the branch's initializer name
        b.node("If", ["cond"], ["y"], [Attribute("then_branch", .graph(branch("then", op: "Add"))),
                                       Attribute("else_branch", .graph(branch("else", op: "Mul")))])
        b.node("Add", ["y", "k"], ["z"])
        b.output("y")
        b.output("z")
        let (m, _) = try optimized(b.model, [IfInliningPass()])
        #expect(m.opTypes == [condition ? "Add" : "Mul", "Neg", "Add"])
        #expect(m.outputNames == ["y", "z"])
        #expect(m.graph.valueID(named: "k_1") != nil)
        try expectSameOutputs(b.model, m, ["x": sample([3])])
    }

    @Test func outputReadByAnotherSubgraphKeepsItsName() throws {
        var b = ModelBuilder()
        b.input("x", [3])
        b.input("c", [], .bool)
        b.initializer("cond", Tensor(dataType: .bool, dims: [], storage: .raw(TensorBytes([1]))))
        b.node("If", ["cond"], ["y"], [Attribute("then_branch", .graph(branch("then", op: "Add"))),
                                       Attribute("else_branch", .graph(branch("else", op: "Mul")))])
        var reader = Graph(name: "reader")
        let y = reader.value(named: "y")
        try reader.addNode(Node(opType: "Neg", name: "reader_neg"), inputs: [y], outputNames: ["r"])
        reader.appendOutput(reader.valueID(named: "r")!)
        var other = Graph(name: "other")
        let x = other.value(named: "x")
        try other.addNode(Node(opType: "Relu", name: "other_relu"), inputs: [x], outputNames: ["o"])
        other.appendOutput(other.valueID(named: "o")!)
        b.node("If", ["c"], ["z"], [Attribute("then_branch", .graph(reader)), Attribute("else_branch", .graph(other))])
        b.output("z")
        let (m, _) = try optimized(b.model, [IfInliningPass()])
        #expect(m.opTypes == ["Add", "Neg", "If"])
        #expect(m.graph.valueID(named: "y").flatMap { m.graph.producer(of: $0) }.map { m.graph[node: $0].opType } == "Neg")
        let t = TensorValue(shape: [], [true])
        let inputs = ["x": sample([3]), "c": t]
        let p = try Evaluator(model: b.model).run(inputs.mapValues { .tensor($0) })
        let q = try Evaluator(model: m).run(inputs.mapValues { .tensor($0) })
        #expect(p[0].tensor?.doubles == q[0].tensor?.doubles)
    }
}

