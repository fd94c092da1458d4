import KilnIR
import SwiftProtobuf

extension ProtoEncoder {
    /// Encodes the nodes of `g` straight to wire format: a sequence of `GraphProto.node` fields
    /// (field 1), each a `NodeProto` with fields in number order, then its preserved fields, as
    /// protobuf serializers write them. Skips building a `NodeProto` per node, which dominated
    /// writing graphs of many small nodes.
    mutating func encodeNodesWire<G: GraphWriteSource>(_ g: G, tensorsMayGoExternal: Bool) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(g.order.count * 48)
        var node: [UInt8] = []
        for id in g.order {
            node.removeAll(keepingCapacity: true)
            // In place: `g[node: id]` would copy the node (a retain and release per field).
            try g.withNode(id) { n in
                for v in n.inputs { appendString(field: 1, v.map { g.name(of: $0) } ?? "", to: &node) }
                for v in n.outputs { appendString(field: 2, v.map { g.name(of: $0) } ?? "", to: &node) }
                let p = n.presence
                if p.contains(field: 3) || !n.name.isEmpty { appendString(field: 3, n.name, to: &node) }
                if p.contains(field: 4) || !n.opType.isEmpty { appendString(field: 4, n.opType, to: &node) }
                for a in n.attributes {
                    let bytes: [UInt8] = try encodeAttribute(a, tensorsMayGoExternal: tensorsMayGoExternal).serializedBytes()
                    appendBytes(field: 5, bytes, to: &node)
                }
                if p.contains(field: 6) || !n.docString.isEmpty { appendString(field: 6, n.docString, to: &node) }
                if p.contains(field: 7) || !n.domain.isEmpty { appendString(field: 7, n.domain, to: &node) }
                if p.contains(field: 8) || !n.overload.isEmpty { appendString(field: 8, n.overload, to: &node) }
                for m in n.metadata {
                    let bytes: [UInt8] = try encodePair(m).serializedBytes()
                    appendBytes(field: 9, bytes, to: &node)
                }
                node.append(contentsOf: n.preserved.bytes)
            }
            appendBytes(field: 1, node, to: &out)
        }
        return out
    }

    private func appendString(field: Int, _ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
            WireWriter.appendVarint(UInt64(utf8.count), to: &out)
            out.append(contentsOf: utf8)
        }
    }

    private func appendBytes(field: Int, _ bytes: [UInt8], to out: inout [UInt8]) {
        WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
        WireWriter.appendVarint(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }
}
