import Testing
import KilnIR
import KilnOpset
@testable import KilnAnalysis

/// y = Relu(x + c), opset 17.
func validModel() throws -> Model {
    var g = Graph(name: "g")
    let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
    let c = try g.addInitializer(named: "c", .float32([1, 2], dims: [2]))
    _ = try g.addNode(Node(opType: "Add", name: "add"), inputs: [x, c], outputNames: ["s"])
    _ = try g.addNode(Node(opType: "Relu", name: "relu"), inputs: [g.valueID(named: "s")!], outputNames: ["y"])
    let y = g.valueID(named: "y")!
    g[value: y].type = .tensor(.float, Shape(static: [2]))
    g.setOutputs([y])
    return Model(graph: g, irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 17)])
}

@Suite struct CheckerTests {
    let checker = Checker()

    func rules(_ model: Model) -> [String] { checker.check(model).issues.map(\.rule) }

    @Test func aValidModelHasNoIssues() throws {
        #expect(checker.check(try validModel()).issues == [])
    }

    @Test func shapeInferenceInStrictModeFindsWhatStructureCannot() throws {
        var m = try validModel()
        let y = m.graph.valueID(named: "y")!
        m.graph[value: y].type = .tensor(.float, Shape(static: [3]))   // Relu of [2] declared [3]
        let conflict = checker.check(m).issues
        #expect(conflict.map(\.rule) == ["shape.conflict"])
        #expect(conflict.first?.nodeName == "relu" && conflict.first?.field == "output[0]")
        #expect(Checker(inferShapes: false).check(m).issues == [])

        var g = Graph(name: "g")
        let a = try g.addInput(named: "a", type: .tensor(.float, Shape(static: [2, 3])))
        let b = try g.addInput(named: "b", type: .tensor(.float, Shape(static: [4, 5])))
        _ = try g.addNode(Node(opType: "MatMul", name: "mm"), inputs: [a, b], outputNames: ["p"])
        let p = g.valueID(named: "p")!
        g[value: p].type = .tensor(.float, Shape(static: [2, 5]))
        g.setOutputs([p])
        let matmul = Model(graph: g, irVersion: 8, opsetImports: [OpsetImport(domain: "", version: 17)])
        let issues = checker.check(matmul).issues
        #expect(issues.map(\.rule) == ["shape.error"])
        #expect(issues.first?.nodeName == "mm" && issues.first?.op == "MatMul")
    }

    @Test func shapeInferenceRunsOnlyOnAStructurallyValidModel() throws {
        var m = try validModel()
        let relu = m.graph.order[1]
        m.graph[node: relu].attributes = [Attribute("alpha", .float(0.1))]
        m.graph[value: m.graph.valueID(named: "y")!].type = .tensor(.float, Shape(static: [3]))
        #expect(rules(m) == ["node.unknown-attribute"])
    }

    @Test func unknownOperatorAndMissingImport() throws {
        var m = try validModel()
        let relu = m.graph.order[1]
        m.graph[node: relu].opType = "Rectify"
        #expect(rules(m) == ["node.unknown-op"])
        m.graph[node: relu].opType = "Relu"
        m.graph[node: relu].domain = "com.example"
        #expect(rules(m) == ["node.domain-not-imported"])
    }

    @Test func attributesAreCheckedAgainstTheSchema() throws {
        var m = try validModel()
        let relu = m.graph.order[1]
        m.graph[node: relu].attributes = [Attribute("alpha", .float(0.1))]
        let issues = checker.check(m).issues
        #expect(issues.map(\.rule) == ["node.unknown-attribute"])
        #expect(issues[0].nodeName == "relu" && issues[0].op == "Relu" && issues[0].nodeIndex == 1)

        var g = m.graph
        let x = g.inputs[0]
        _ = try g.addNode(Node(opType: "Transpose", name: "t", attributes: [Attribute("perm", .float(1))]),
                          inputs: [x], outputNames: ["tx"])
        _ = try g.addNode(Node(opType: "Gather", name: "gather"), inputs: [x, x], outputNames: ["gx"])
        m.graph = g
        let all = rules(m)
        #expect(all.contains("node.attribute-type"))
        #expect(all.contains("node.type-constraint"), "Gather indices must be int32/int64")
    }

    @Test func orderAndAssignmentRules() throws {
        var m = try validModel()
        try m.graph.sortTopologically()
        try m.graph.setOrder(m.graph.order.reversed())
        #expect(rules(m) == ["graph.topological-order"])

        var m2 = try validModel()
        let add = m2.graph.order[0]
        m2.graph.setInput(of: add, at: 1, to: m2.graph.value(named: "nowhere"))
        #expect(rules(m2) == ["graph.undefined-input"])
    }

    @Test func arityAndRequiredInputs() throws {
        var m = try validModel()
        let add = m.graph.order[0]
        m.graph.setInput(of: add, at: 1, to: nil)
        #expect(rules(m) == ["node.missing-input"])
        m.graph.setInputs(of: add, to: [m.graph.inputs[0]])
        #expect(rules(m) == ["node.arity"])
    }

    @Test func tensorSizesMustMatchDims() throws {
        var m = try validModel()
        let c = m.graph.valueID(named: "c")!
        m.graph[value: c].initializer = .float32([1, 2, 3], dims: [2])
        #expect(rules(m) == ["tensor.size"])
    }

    @Test func modelLevelRules() throws {
        var m = try validModel()
        m.irVersion = 99
        m.opsetImports.append(OpsetImport(domain: "ai.onnx", version: 17))
        #expect(rules(m) == ["model.ir-version", "model.opset-duplicate"])
    }

    @Test func typeStrings() {
        #expect(ValueType.tensor(.float16, nil).onnxTypeString == "tensor(float16)")
        #expect(ValueType(.sequence(.tensor(.int64, nil))).onnxTypeString == "seq(tensor(int64))")
        #expect(ValueType(.map(keyType: .int64, valueType: .tensor(.float, nil))).onnxTypeString == "map(int64, tensor(float))")
    }
}
