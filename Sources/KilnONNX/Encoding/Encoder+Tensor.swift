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
                if bytes.count >= liftThreshold {
                    var marker: [UInt8] = []
                    WireWriter.appendTag(field: payloadMarkerField, wireType: .varint, to: &marker)
                    WireWriter.appendVarint(UInt64(payloads.count), to: &marker)
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
