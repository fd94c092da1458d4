import Testing
import KilnIR
@testable import KilnONNX

/// `PendingGraphEncoding` encodes a big graph's nodes and initializers on another thread while the
/// caller edits value types; `write` uses that work only while the graph still has what was
/// encoded. Either way the bytes must be those of a plain write.
@Suite struct PendingEncodingTests {
    func chain(_ count: Int) throws -> Model { try chainModel(count) }

    func bytes(_ model: Model, pending: PendingGraphEncoding? = nil) throws -> [UInt8] {
        var out: [UInt8] = []
        for piece in try ModelFile.encodePieces(model, plan: ExternalDataPlan(mode: .preserve), pending: pending) {
            switch piece {
            case .bytes(let b): out += b
            case .payload(let t): t.withUnsafeBytes { out += $0 }
            }
        }
        return out
    }

    /// What shape inference does: a type on every node output, each listed in value_info.
    func inferTypes(_ g: inout Graph) {
        for id in g.order {
            for out in g.outputs(of: id) {
                guard let out else { continue }
                g[value: out].type = .tensor(.float, Shape(static: [1, 8]))
                g.appendValueInfo(out)
            }
        }
    }

    @Test func typesWrittenMeanwhileUseTheEncodedNodes() throws {
        var model = try chain(PendingGraphEncoding.threshold + 100)
        let pending = try #require(PendingGraphEncoding(model))
        inferTypes(&model.graph)
        let results = pending.results(for: model.graph)
        #expect(results.nodes != nil && results.initializers != nil, "the worker's nodes and initializers are used")
        #expect(try bytes(model, pending: pending) == bytes(model))
        #expect(try ModelFile.decode(bytes: bytes(model, pending: pending)).graph.valueInfo.count == model.graph.valueInfo.count)
    }

    @Test func smallGraphsAreNotEncodedAhead() throws {
        #expect(PendingGraphEncoding(try chain(100)) == nil)
    }

    /// Each edit after the snapshot makes `write` encode the graph itself, and the bytes show it.
    @Test(arguments: ["rename", "attribute", "initializer", "remove", "none"])
    func editsAfterTheSnapshotAreWritten(edit: String) throws {
        var model = try chain(PendingGraphEncoding.threshold + 100)
        let snapshot = model.graph.writeSnapshot()
        let pending = try #require(PendingGraphEncoding(model))
        let before = try bytes(model)
        let g = model.graph
        switch edit {
        case "rename": try model.graph.rename(g.valueID(named: "t7")!, to: "renamed")
        case "attribute": model.graph[node: g.order[9]].attributes.append(Attribute("note", .int(3)))
        case "initializer": model.graph[value: g.valueID(named: "c4")!].initializer = .float32([42], dims: [1])
        case "remove":
            // The last node: its input becomes the output.
            let last = g.order.last!
            model.graph.setOutputs([g.inputs(of: last)[0]!])
            try model.graph.removeNode(last)
        default: break
        }
        #expect(snapshot.isCurrent(in: model.graph) == (edit == "none"))
        let expected = try bytes(model)
        #expect(try bytes(model, pending: pending) == expected)
        #expect((expected == before) == (edit == "none"))
    }

    /// A tensor attribute large enough to be streamed from its source is left to `write`; a small
    /// one is encoded ahead. The bytes are a plain write's either way.
    @Test(arguments: [4, 4096])
    func constantNodes(elements: Int) throws {
        var model = try chain(PendingGraphEncoding.threshold + 100)
        let value = Tensor(dataType: .float, dims: [Int64(elements)],
                           storage: .raw([UInt8](repeating: 7, count: elements * 4).withUnsafeBytes { TensorBytes(copying: $0) }))
        try model.graph.addNode(Node(opType: "Constant", name: "k", attributes: [Attribute("value", .tensor(value))]),
                                inputs: [], outputNames: ["k_out"])
        let pending = try #require(PendingGraphEncoding(model))
        inferTypes(&model.graph)
        #expect((pending.results(for: model.graph).nodes != nil) == (elements == 4))
        #expect(try bytes(model, pending: pending) == bytes(model))
    }
}
