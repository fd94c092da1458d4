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
            var node = Node(opType: "")
            do {
                try bytes.withUnsafeBytes { buf in
                    try decodeWireNode(buf, into: &node, inputs: &inputs, outputs: &outputs)
                }
                try appendNode(node, inputs: inputs, outputs: outputs, to: &g)
            } catch let e as KilnError {
                throw e.within("node[\(firstIndex + i)](\(node.name.isEmpty ? node.opType : node.name))")
            } catch let e as WireError {
                throw KilnError(.invalidInput, "not a valid NodeProto: \(e.message)")
                    .within("node[\(firstIndex + i)](\(node.name.isEmpty ? node.opType : node.name))")
            }
        }
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
