import Foundation
import Testing
import KilnIR
@testable import KilnONNX

/// A model exercising the codec: subgraph with an outer-scope reference, attributes of many types,
/// a large raw initializer (lifted), typed-field tensors, metadata and doc strings.
func richModel() throws -> Model {
    var g = Graph(name: "main")
    let x = try g.addInput(named: "x", type: .tensor(.float, Shape([.symbol("batch"), .value(256), .unknown])))
    let big = try g.addInitializer(named: "big", .float32((0..<4096).map { Float($0) }, dims: [4096]))
    var typed = Tensor(name: "typed", dataType: .int64, dims: [3], storage: .int64Data([1, -2, 3]))
    typed.docString = "typed field storage"
    let t = try g.addInitializer(named: "typed", typed)
    let cond = try g.addInput(named: "cond", type: .tensor(.bool, Shape([])))

    var then = Graph(name: "then")
    let outer = then.value(named: "big")
    _ = try then.addNode(Node(opType: "Identity"), inputs: [outer], outputNames: ["then_out"])
    then.setOutputs([then.valueID(named: "then_out")!])
    var els = Graph(name: "else")
    let outerX = els.value(named: "x")
    _ = try els.addNode(Node(opType: "Neg"), inputs: [outerX], outputNames: ["else_out"])
    els.setOutputs([els.valueID(named: "else_out")!])

    var ifNode = Node(opType: "If", name: "branch")
    ifNode.attributes = [Attribute("then_branch", .graph(then)), Attribute("else_branch", .graph(els))]
    _ = try g.addNode(ifNode, inputs: [cond], outputNames: ["branched"])

    var conv = Node(opType: "Custom", domain: "com.example", name: "custom")
    conv.attributes = [
        Attribute("f", .float(0.5)), Attribute("i", .int(0)), Attribute("s", .string(Array("hi".utf8))),
        Attribute("fs", .floats([1, 2])), Attribute("is", .ints([3, 4])), Attribute("ss", .strings([[0x61]])),
        Attribute("t", .tensor(.int64([7, 8], dims: [2]))),
        Attribute("tp", .type(.tensor(.float16, Shape(static: [1])))),
    ]
    conv.docString = "custom op"
    conv.metadata = [StringPair("k", "v")]
    _ = try g.addNode(conv, inputs: [x, nil, t], outputNames: ["y", ""])
    g.setOutputs([g.valueID(named: "y")!, g.valueID(named: "branched")!])
    _ = big

    var model = Model(graph: g, irVersion: 10, opsetImports: [OpsetImport(domain: "", version: 21), OpsetImport(domain: "com.example", version: 1)])
    model.producerName = "kiln-tests"
    model.metadata = [StringPair("author", "kiln")]
    var fbody = Graph()
    let a = fbody.value(named: "a")
    fbody.appendInput(a)
    _ = try fbody.addNode(Node(opType: "Relu"), inputs: [a], outputNames: ["r"])
    fbody.appendOutput(fbody.valueID(named: "r")!)
    var f = Function(name: "MyRelu", domain: "com.example", body: fbody)
    f.opsetImports = [OpsetImport(domain: "", version: 21)]
    f.attributeDefaults = [Attribute("alpha", .float(1.0))]
    model.functions = [f]
    return model
}

@Suite struct CodecRoundTripTests {
    @Test func encodeDecodeGivesTheSameModel() throws {
        let model = try richModel()
        let bytes = try ModelFile.encode(model)
        let back = try ModelFile.decode(bytes: bytes)
        let again = try ModelFile.encode(back)
        #expect(bytes == again, "re-encoding a decoded model must give the same bytes")
        #expect(back.graph.nodeCount == 2)
        #expect(back.producerName == "kiln-tests")
        #expect(back.functions.first?.name == "MyRelu")
        try back.graph.checkInvariants()
    }

    @Test func subgraphOuterReferencesSurvive() throws {
        let back = try ModelFile.decode(bytes: ModelFile.encode(richModel()))
        let ifNode = back.graph.nodes.first { $0.node.opType == "If" }!.node
        let then = try #require(try ifNode.graph("then_branch"))
        #expect(then.outerScopeReferences == ["big"])
        // The If depends on `big` and `x` only through its subgraphs; topological order sees that.
        #expect(back.graph.isTopologicallySorted)
    }

    @Test func largeRawDataIsLiftedNotCopied() throws {
        let bytes = try ModelFile.encode(richModel())
        let storage = ByteStorage(copying: bytes)
        let model = try ModelFile.decode(storage: storage, external: nil, options: .init())
        let big = model.graph[value: model.graph.valueID(named: "big")!].initializer!
        guard case .raw(let payload) = big.storage else { Issue.record("big should be raw"); return }
        #expect(payload.storage === storage, "a large payload must be a slice of the input buffer")
        #expect(payload.count == 4096 * 4)
        payload.withUnsafeBytes { raw in
            #expect(raw.load(fromByteOffset: 4 * 10, as: Float.self) == 10)
        }
    }

    @Test func emptyOptionalSlotsAndAttributeTypesRoundTrip() throws {
        let back = try ModelFile.decode(bytes: ModelFile.encode(richModel()))
        let custom = back.graph.nodes.first { $0.node.opType == "Custom" }!.node
        #expect(custom.inputs.count == 3 && custom.inputs[1] == nil)
        #expect(custom.outputs.count == 2 && custom.outputs[1] == nil)
        #expect(try custom.float("f") == 0.5)
        #expect(try custom.int("i") == 0)
        #expect(try custom.string("s") == "hi")
        #expect(try custom.ints("is") == [3, 4])
        #expect(throws: KilnError.self) { try custom.int("f") }
        #expect(custom.domain == "com.example")
    }

    @Test func wrongTypedGetterNamesNodeAndAttribute() throws {
        let back = try ModelFile.decode(bytes: ModelFile.encode(richModel()))
        let custom = back.graph.nodes.first { $0.node.opType == "Custom" }!.node
        do {
            _ = try custom.ints("f")
            Issue.record("expected an error")
        } catch let e as KilnError {
            #expect(e.description.contains("'f'") && e.description.contains("custom") && e.description.contains("FLOAT"))
        }
    }
}

@Suite struct TensorFileTests {
    @Test func tensorProtoRoundTrips() throws {
        var t = Tensor(name: "input_0", dataType: .int64, dims: [3], storage: .int64Data([1, -2, 3]))
        t.docString = "typed"
        let bytes = try ModelFile.encodeTensor(t)
        let back = try ModelFile.decodeTensor(bytes: bytes)
        #expect(back.name == t.name && back.dataType == t.dataType && back.dims == t.dims)
        #expect(back.storage == t.storage && back.docString == "typed")
        #expect(try ModelFile.encodeTensor(back) == bytes)
        let raw = Tensor.float32([1, 2, 3, 4], dims: [2, 2], name: "x")
        #expect(try ModelFile.decodeTensor(bytes: ModelFile.encodeTensor(raw)).storage == raw.storage)
        #expect(throws: KilnError.self) { try ModelFile.decodeTensor(bytes: [0xFF, 0xFF]) }
    }
}
