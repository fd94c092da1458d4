import KilnIR
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ProtoEncoder {
    mutating func encodeTensor(_ t: Tensor, mayGoExternal: Bool) throws -> Onnx_TensorProto {
        var r = Onnx_TensorProto()
        let p = t.presence
        r.dims = t.dims
        if p.contains(field: 2) || t.dataType != .undefined { r.dataType = t.dataType.rawValue }
        if let s = t.segment {
            var seg = Onnx_TensorProto.Segment()
            if let b = s.begin { seg.begin = b }
            if let e = s.end { seg.end = e }
            try apply(s.preserved, to: &seg)
            r.segment = seg
        }
        if p.contains(field: 8) || !t.name.isEmpty { r.name = t.name }
        if p.contains(field: 12) || !t.docString.isEmpty { r.docString = t.docString }
        r.metadataProps = try t.metadata.map(encodePair)

        var placedExternally = false
        if mayGoExternal, let plan = externalPlan {
            // Typed-field tensors move too when asked to (single / per-tensor), in raw layout.
            var bytes: TensorBytes?
            if case .raw(let b) = t.storage { bytes = b } else if plan.movesTypedTensors { bytes = t.rawLayoutBytes }
            if let bytes, let entries = try plan.place(t, bytes) {
                r.externalData = try entries.map(encodePair)
                r.dataLocation = .external
                placedExternally = true
            }
        }
        if !placedExternally {
            switch t.storage {
            case .raw(let bytes):
                if case .raw = t.storage, bytes.count >= liftThreshold {
                    var marker: [UInt8] = []
                    WireWriter.appendPlaceholder(field: payloadMarkerField, index: payloads.count, to: &marker)
                    payloads.append(bytes)
                    try r.merge(serializedBytes: marker)
                } else {
                    r.rawData = bytes.withUnsafeBytes { Data($0) }
                }
            case .floatData(let a): r.floatData = Array(a)
            case .int32Data(let a): r.int32Data = Array(a)
            case .int64Data(let a): r.int64Data = Array(a)
            case .doubleData(let a): r.doubleData = Array(a)
            case .uint64Data(let a): r.uint64Data = Array(a)
            case .stringData(let s): r.stringData = s.map { Data($0) }
            case .none: break
            }
            // A tensor read from external data and written inline drops its external fields, as
            // onnx.load does; other tensors keep whatever they carried.
            if !(t.dataLocation == 1) {
                if let entries = t.externalData, !entries.isEmpty { r.externalData = try entries.map(encodePair) }
                if let dl = t.dataLocation, let loc = Onnx_TensorProto.DataLocation(rawValue: Int(dl)) { r.dataLocation = loc }
            }
        }
        try apply(t.preserved, to: &r)
        return r
    }

    mutating func encodeSparse(_ s: SparseTensor) throws -> Onnx_SparseTensorProto {
        var r = Onnx_SparseTensorProto()
        if let v = s.values { r.values = try encodeTensor(v, mayGoExternal: false) }
        if let i = s.indices { r.indices = try encodeTensor(i, mayGoExternal: false) }
        r.dims = s.dims
        try apply(s.preserved, to: &r)
        return r
    }
}

extension ProtoEncoder {
    /// The graph's initializers written straight to wire format (a sequence of field-5 entries),
    /// when every one is a plain tensor: `raw_data` storage and only dims, data_type, name, with no
    /// doc string, metadata, segment, external data or preserved fields, and no external data plan
    /// that could move it. Large payloads stay pieces streamed from where they live. Nil when any
    /// initializer needs the general path.
    func encodeSimpleInitializers<G: GraphWriteSource>(_ g: G) -> [OutputPiece]? {
        guard !g.initializerOrder.isEmpty else { return nil }
        if let plan = externalPlan, plan.mode != .preserve { return nil }
        var pieces: [OutputPiece] = []
        var tail: [UInt8] = []
        tail.reserveCapacity(g.initializerOrder.count * 32)
        var message: [UInt8] = []
        for id in g.initializerOrder {
            guard let t = g.initializer(of: id), t.externalData == nil,
                  t.dataLocation == nil, t.segment == nil, t.docString.isEmpty, !t.presence.contains(field: 12),
                  t.metadata.isEmpty, t.preserved.isEmpty else { return nil }
            message.removeAll(keepingCapacity: true)
            for d in t.dims {
                WireWriter.appendTag(field: 1, wireType: .varint, to: &message)
                WireWriter.appendVarint(UInt64(bitPattern: d), to: &message)
            }
            if t.presence.contains(field: 2) || t.dataType != .undefined {
                WireWriter.appendTag(field: 2, wireType: .varint, to: &message)
                WireWriter.appendVarint(UInt64(bitPattern: Int64(t.dataType.rawValue)), to: &message)
            }
            appendTypedData(t.storage, to: &message)
            var name = g.name(of: id)
            name.withUTF8 { utf8 in
                WireWriter.appendTag(field: 8, wireType: .lengthDelimited, to: &message)
                WireWriter.appendVarint(UInt64(utf8.count), to: &message)
                message.append(contentsOf: utf8)
            }
            var payload = TensorBytes.empty
            switch t.storage {
            case .raw(let b):
                WireWriter.appendTag(field: 9, wireType: .lengthDelimited, to: &message)
                WireWriter.appendVarint(UInt64(b.count), to: &message)
                payload = b
            case .stringData, .none:
                return nil
            default:
                appendLateTypedData(t.storage, to: &message)
            }
            let bytes = payload
            let total = message.count + bytes.count
            WireWriter.appendTag(field: 5, wireType: .lengthDelimited, to: &tail)
            WireWriter.appendVarint(UInt64(total), to: &tail)
            tail.append(contentsOf: message)
            if case .raw = t.storage, bytes.count >= liftThreshold {
                pieces.append(.bytes(tail))
                tail = []
                pieces.append(.payload(bytes))
            } else {
                bytes.withUnsafeBytes { tail.append(contentsOf: $0) }
            }
        }
        if !tail.isEmpty { pieces.append(.bytes(tail)) }
        return pieces
    }
}

/// The packed typed data fields numbered before `name` (8), as protobuf serializers write them:
/// float_data (4) as little-endian floats, int32_data (5) and int64_data (7) as varints (negative
/// int32 sign-extended to 64 bits). double_data and uint64_data come after `name`:
/// `appendLateTypedData`.
func appendTypedData(_ storage: Tensor.Storage, to out: inout [UInt8]) {
    func packed(_ field: Int, _ body: (inout [UInt8]) -> Void) {
        var payload: [UInt8] = []
        body(&payload)
        WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
        WireWriter.appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }
    switch storage {
    case .floatData(let a) where !a.isEmpty:
        packed(4) { p in a.withUnsafeBytes { p.append(contentsOf: $0) } }
    case .int32Data(let a) where !a.isEmpty:
        packed(5) { p in for v in a { WireWriter.appendVarint(UInt64(bitPattern: Int64(v)), to: &p) } }
    case .int64Data(let a) where !a.isEmpty:
        packed(7) { p in for v in a { WireWriter.appendVarint(UInt64(bitPattern: v), to: &p) } }
    default:
        break
    }
}

/// The typed data fields numbered after `name` and `raw_data`: double_data (10), uint64_data (11).
func appendLateTypedData(_ storage: Tensor.Storage, to out: inout [UInt8]) {
    func packed(_ field: Int, _ payload: [UInt8]) {
        WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
        WireWriter.appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }
    switch storage {
    case .doubleData(let a) where !a.isEmpty:
        packed(10, a.withUnsafeBytes { Array($0) })
    case .uint64Data(let a) where !a.isEmpty:
        var p: [UInt8] = []
        for v in a { WireWriter.appendVarint(v, to: &p) }
        packed(11, p)
    default:
        break
    }
}
