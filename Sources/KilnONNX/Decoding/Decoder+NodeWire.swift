import Dispatch
import KilnIR
import SwiftProtobuf

extension ProtoDecoder {
    /// Decodes graph nodes straight from their serialized `NodeProto` bytes (lifted out of the graph
    /// by `PayloadLifter`), without building `Onnx_NodeProto` values. Attributes and metadata entries
    /// still go through swift-protobuf; fields the IR does not model (device configurations,
    /// unknown fields) are kept as wire bytes in order.
    mutating func decodeWireNodes(_ nodes: [TensorBytes], into g: inout Graph, firstIndex: Int) throws {
        var inputs: [String] = []
        var outputs: [String] = []
        for (i, bytes) in nodes.enumerated() {
            inputs.removeAll(keepingCapacity: true)
            outputs.removeAll(keepingCapacity: true)
            var node = try parseWireNode(bytes, index: firstIndex + i, inputs: &inputs, outputs: &outputs)
            // Taken before the node moves into the graph (no copy of the node on the hot path).
            let label = node.name.isEmpty ? node.opType : node.name
            do {
                try appendNode(consume node, inputs: inputs, outputs: outputs, to: &g)
            } catch let e as KilnError {
                throw e.within("node[\(firstIndex + i)](\(label))")
            }
        }
    }

    /// Decodes the nodes without adding them to a graph (for `Graph.appendNodes`): the nodes, all
    /// their input and output names in one list, and how many of each every node has. Used on a
    /// second core while the first decodes the graph's initializers.
    mutating func parseWireNodes(_ nodes: [TensorBytes], firstIndex: Int, into parsed: inout ContiguousArray<Node>,
                                 names: inout [String], counts: inout [Graph.NameCounts]) throws {
        parsed.reserveCapacity(nodes.count)
        counts.reserveCapacity(nodes.count)
        names.reserveCapacity(nodes.count * 3)
        var outputs: [String] = []
        for (i, bytes) in nodes.enumerated() {
            let start = names.count
            outputs.removeAll(keepingCapacity: true)
            let node = try parseWireNode(bytes, index: firstIndex + i, inputs: &names, outputs: &outputs)
            counts.append(Graph.NameCounts(inputs: names.count - start, outputs: outputs.count))
            names.append(contentsOf: outputs)
            parsed.append(node)
        }
    }

    /// One node from its wire bytes; its input and output names are appended to `inputs` and
    /// `outputs`. Errors name the node (`node[i](name)`).
    private mutating func parseWireNode(_ bytes: TensorBytes, index: Int, inputs: inout [String],
                                        outputs: inout [String]) throws -> Node {
        var node = Node(opType: "")
        do {
            try bytes.withUnsafeBytes { buf in
                try decodeWireNode(buf, into: &node, inputs: &inputs, outputs: &outputs)
            }
        } catch let e as KilnError {
            throw e.within("node[\(index)](\(node.name.isEmpty ? node.opType : node.name))")
        } catch let e as WireError {
            throw KilnError(.invalidInput, "not a valid NodeProto: \(e.message)")
                .within("node[\(index)](\(node.name.isEmpty ? node.opType : node.name))")
        }
        return node
    }

    private mutating func decodeWireNode(_ buf: UnsafeRawBufferPointer, into node: inout Node,
                                         inputs: inout [String], outputs: inout [String]) throws {
        var reader = WireReader(buf, range: 0..<buf.count)
        var presence = FieldPresence()
        var preserved: [UInt8] = []
        while !reader.isAtEnd {
            let f = try reader.readField()
            guard f.wireType == .lengthDelimited else {
                preserved.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[f.whole]))
                continue
            }
            let payload = UnsafeRawBufferPointer(rebasing: buf[f.payload])
            switch f.number {
            case 1: inputs.append(try string(payload, field: "input"))
            case 2: outputs.append(try string(payload, field: "output"))
            case 3: node.name = try string(payload, field: "name"); presence.insert(field: 3)
            case 4: node.opType = try string(payload, field: "op_type"); presence.insert(field: 4)
            case 5:
                let index = node.attributes.count
                let attribute = try decodeMessage(Onnx_AttributeProto.self, payload, field: "attribute")
                node.attributes.append(try within("attribute[\(index)](\(attribute.name))") { try $0.decodeAttribute(attribute) })
            case 6: node.docString = try string(payload, field: "doc_string"); presence.insert(field: 6)
            case 7: node.domain = try string(payload, field: "domain"); presence.insert(field: 7)
            case 8: node.overload = try string(payload, field: "overload"); presence.insert(field: 8)
            case 9: node.metadata.append(decodePair(try decodeMessage(Onnx_StringStringEntryProto.self, payload, field: "metadata_props")))
            default:
                preserved.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[f.whole]))
            }
        }
        node.presence = presence
        if !preserved.isEmpty { node.preserved = PreservedFields(preserved) }
    }

    private func string(_ bytes: UnsafeRawBufferPointer, field: String) throws -> String {
        guard let s = wireString(bytes) else {
            throw error("field '\(field)' is not valid UTF-8")
        }
        return s
    }

    private func decodeMessage<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer, field: String) throws -> M {
        do {
            return try M(serializedBytes: Array(bytes), options: ProtoDecoder.decodingOptions)
        } catch {
            throw self.error("field '\(field)' is not a valid \(M.protoMessageName): \(error)")
        }
    }
}

/// `ProtoDecoder.parseWireNodes` on another thread; `append` waits for it and adds the nodes.
final class NodeParseTask: @unchecked Sendable {
    /// Lifted nodes from which a graph's nodes are parsed concurrently with its initializers.
    static let threshold = 4096

    private let group = DispatchGroup()
    private let firstIndex: Int
    // Written by the worker before `group.leave()`, read after `group.wait()`.
    private var parser: ProtoDecoder
    private var nodes = ContiguousArray<Node>()
    private var names: [String] = []
    private var counts: [Graph.NameCounts] = []
    private var failure: (any Error)?

    init(parser: ProtoDecoder, nodes wire: [TensorBytes], firstIndex: Int) {
        self.parser = parser
        self.firstIndex = firstIndex
        DispatchQueue.global().async(group: group) { [self] in
            do {
                try self.parser.parseWireNodes(wire, firstIndex: firstIndex, into: &nodes, names: &names, counts: &counts)
            } catch {
                failure = error
            }
        }
    }

    func wait() { group.wait() }

    /// Appends the parsed nodes to `g` (after the nodes it has), or throws the parse error.
    func append(to g: inout Graph, decoder: ProtoDecoder) throws {
        group.wait()
        if let failure { throw failure }
        let batch = nodes
        nodes = []  // `batch` is then the only reference: the graph adopts its storage uncopied
        do throws(Graph.BatchConflict) {
            try g.appendNodes(batch, names: names, counts: counts)
        } catch {
            throw decoder.conflictError(error.conflict, in: g).within("node[\(firstIndex + error.offset)](\(error.label))")
        }
    }
}
