import Testing
import KilnIR
@testable import KilnONNX

/// Graphs with at least `NodeParseTask.threshold` nodes are decoded on two threads (nodes parsed on
/// one while the other decodes the initializers): the graph and the errors must be those of the
/// one-thread path.
@Suite struct ConcurrentDecodeTests {
    func chain(_ count: Int) throws -> Model { try chainModel(count) }

    @Test func bigGraphsDecodeAsSmallOnesDo() throws {
        let count = NodeParseTask.threshold + 500
        let model = try chain(count)
        let bytes = try ModelFile.encode(model)
        let decoded = try ModelFile.decode(bytes: bytes)
        try decoded.graph.checkInvariants()
        #expect(decoded.graph.nodeCount == count)
        #expect(try ModelFile.encode(decoded) == bytes)
        // The same edges, by name, as the model written.
        func names(_ g: Graph, _ slots: [ValueID?]) -> [String] { slots.map { $0.map { g.name(of: $0) } ?? "" } }
        for (id, original) in zip(decoded.graph.order, model.graph.order) {
            #expect(decoded.graph[node: id].name == model.graph[node: original].name)
            #expect(names(decoded.graph, decoded.graph.inputs(of: id)) == names(model.graph, model.graph.inputs(of: original)))
            #expect(names(decoded.graph, decoded.graph.outputs(of: id)) == names(model.graph, model.graph.outputs(of: original)))
        }
        func uses(_ g: Graph) -> [String: [String]] {
            var out: [String: [String]] = [:]
            for id in g.valueIDs {
                out[g.name(of: id)] = g[value: id].uses.map { "\(g[node: $0.node].name):\($0.index)" }.sorted()
            }
            return out
        }
        #expect(uses(decoded.graph) == uses(model.graph))
    }

    @Test(arguments: [64, NodeParseTask.threshold + 64])
    func aSecondProducerIsNamedOnBothPaths(count: Int) throws {
        var bytes = try ModelFile.encode(chain(count))
        // Node 41 (a Relu) writes "t11", which node 11 already writes: rewrite its output field
        // (tag 2, length 3) in place.
        let from: [UInt8] = [0x12, 0x03] + Array("t41".utf8)
        let to: [UInt8] = [0x12, 0x03] + Array("t11".utf8)
        let at = try #require(bytes.indices.first { bytes[$0...].starts(with: from) })
        bytes.replaceSubrange(at..<at + from.count, with: to)
        do {
            _ = try ModelFile.decode(bytes: bytes)
            Issue.record("a second producer of t11 was accepted")
        } catch let e as KilnError {
            #expect(e.description.contains("node[41](n41)"), "\(e)")
            #expect(e.description.contains("output 't11' is already produced by Relu 'n11'"), "\(e)")
        }
    }
}
