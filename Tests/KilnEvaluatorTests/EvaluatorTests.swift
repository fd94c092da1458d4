import KilnIR
import KilnONNX
import Testing
@testable import KilnEvaluator

@Suite struct EvaluatorTests {
    /// x -> Relu -> a -> Neg -> b -> Add(a, b) -> y
    func chain(opset: Int64 = 17) throws -> Model {
        var g = Graph(name: "chain")
        let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
        let relu = try g.addNode(Node(opType: "Relu"), inputs: [x], outputNames: ["a"])
        let a = g[node: relu].outputs[0]!
        let neg = try g.addNode(Node(opType: "Neg"), inputs: [a], outputNames: ["b"])
        let b = g[node: neg].outputs[0]!
        let add = try g.addNode(Node(opType: "Add"), inputs: [a, b], outputNames: ["y"])
        g.setOutputs([g[node: add].outputs[0]!])
        return Model(graph: g, opsetImports: [OpsetImport(domain: "", version: opset)])
    }

    @Test func runsAGraphAndFreesIntermediatesAfterLastUse() throws {
        let evaluator = try Evaluator(model: chain())
        let y = try evaluator.run(["x": .tensor(floats([2], [-1, 2]))])
        #expect(y[0].tensor?.floatValues == [0, 0])
        // 'a' is last read by Add (step 2), 'b' too; x by Relu (step 0).
        let steps = evaluator.plan.steps
        #expect(steps[0].release.count == 1)
        #expect(steps[1].release.isEmpty)
        #expect(Set(steps[2].release).count == 2)
    }

    @Test func observerSeesRequestedIntermediates() throws {
        let evaluator = try Evaluator(model: chain())
        let observer = RecordingObserver(names: ["b"])
        _ = try evaluator.run(["x": .tensor(floats([2], [-1, 2]))], observer: observer)
        #expect(observer.values.keys.sorted() == ["b"])
        #expect(observer.values["b"]?.tensor?.floatValues == [0, -2])
    }

    @Test func inputsAreCheckedByName() throws {
        let evaluator = try Evaluator(model: chain())
        #expect(throws: KilnError.self) { try evaluator.run([:]) }
        do {
            _ = try evaluator.run(["x": .tensor(floats([3], [1, 2, 3]))])
            Issue.record("expected an error")
        } catch let e as KilnError {
            #expect(e.message.contains("input 'x'"))
        }
        #expect(throws: KilnError.self) { try evaluator.run(["x": .tensor(int64s([2], [1, 2]))]) }
    }

    @Test func unsupportedOperatorNamesOpDomainAndVersion() throws {
        var g = Graph(name: "g")
        let x = try g.addInput(named: "x", type: nil)
        let n = try g.addNode(Node(opType: "NoSuchOp", domain: "com.example", name: "weird"), inputs: [x], outputNames: ["y"])
        g.setOutputs([g[node: n].outputs[0]!])
        let model = Model(graph: g, opsetImports: [OpsetImport(domain: "", version: 17), OpsetImport(domain: "com.example", version: 3)])
        do {
            _ = try Evaluator(model: model)
            Issue.record("expected an error")
        } catch let e as KilnError {
            #expect(e.code == .unsupported)
            #expect(e.message.contains("NoSuchOp") && e.message.contains("com.example") && e.message.contains("opset 3"))
            #expect(e.location.description.contains("weird"))
        }
    }

    @Test func registryResolvesLargestSinceVersionAtOrBelowTheOpset() {
        var r = KernelRegistry()
        let k1: Kernel = { _ in [] }
        r.register("Op", since: 1, k1)
        r.register("Op", since: 13, k1)
        #expect(r.resolve("Op", domain: "", version: 12)?.sinceVersion == 1)
        #expect(r.resolve("Op", domain: "ai.onnx", version: 13)?.sinceVersion == 13)
        #expect(r.resolve("Op", domain: "", version: 20)?.sinceVersion == 13)
        #expect(r.resolve("Op", domain: "other", version: 20) == nil)
        // Binary arithmetic before opset 7 used the legacy broadcast attribute: refused.
        #expect(KernelRegistry.standard.resolve("Add", domain: "", version: 6) == nil)
    }

    @Test func initializersFeedNodesAndMayBeOverridden() throws {
        var g = Graph(name: "g")
        let x = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [2])))
        let w = try g.addInitializer(named: "w", Tensor.float32([10, 20], dims: [2]))
        let n = try g.addNode(Node(opType: "Mul"), inputs: [x, w], outputNames: ["y"])
        g.setOutputs([g[node: n].outputs[0]!])
        let evaluator = try Evaluator(model: Model(graph: g))
        #expect(try evaluator.run(["x": .tensor(floats([2], [1, 2]))])[0].tensor?.floatValues == [10, 40])
    }

    @Test func ifRunsTheChosenBranchWithCapturedValues() throws {
        func branch(_ op: String) throws -> Graph {
            var b = Graph(name: op)
            let outer = b.value(named: "x")
            let n = try b.addNode(Node(opType: op), inputs: [outer], outputNames: ["r_\(op)"])
            b.setOutputs([b[node: n].outputs[0]!])
            return b
        }
        var g = Graph(name: "g")
        let c = try g.addInput(named: "c", type: .tensor(.bool, Shape(static: [])))
        _ = try g.addInput(named: "x", type: .tensor(.float, Shape(static: [1])))
        let node = Node(opType: "If", attributes: [Attribute("then_branch", .graph(try branch("Neg"))),
                                                   Attribute("else_branch", .graph(try branch("Abs")))])
        let n = try g.addNode(node, inputs: [c], outputNames: ["y"])
        g.setOutputs([g[node: n].outputs[0]!])
        let evaluator = try Evaluator(model: Model(graph: g))
        let x = RuntimeValue.tensor(floats([1], [-3]))
        #expect(try evaluator.run(["c": .tensor(.scalar(true)), "x": x])[0].tensor?.floatValues == [3])
        #expect(try evaluator.run(["c": .tensor(.scalar(false)), "x": x])[0].tensor?.floatValues == [3])
        #expect(try evaluator.run(["c": .tensor(.scalar(true)), "x": .tensor(floats([1], [2]))])[0].tensor?.floatValues == [-2])
    }
}
