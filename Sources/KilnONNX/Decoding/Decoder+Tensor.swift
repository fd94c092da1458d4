import KilnIR
import SwiftProtobuf

extension ProtoDecoder {
    mutating func decodeTensor(_ t: Onnx_TensorProto) throws -> Tensor {
        let type: DataType = t.hasDataType ? try dataType(t.dataType, field: "data_type") : .undefined

        // Separate the payload placeholder (if the raw data was lifted) from real unknown fields.
        let (lifted, unknown) = try splitPlaceholder(t.unknownFields)

        var fieldCount = 0
        if t.hasRawData || lifted != nil { fieldCount += 1 }
        if !t.floatData.isEmpty { fieldCount += 1 }
        if !t.int32Data.isEmpty { fieldCount += 1 }
        if !t.int64Data.isEmpty { fieldCount += 1 }
        if !t.doubleData.isEmpty { fieldCount += 1 }
        if !t.uint64Data.isEmpty { fieldCount += 1 }
        if !t.stringData.isEmpty { fieldCount += 1 }
        guard fieldCount <= 1 else {
            throw error("tensor '\(t.name)' stores data in \(dataFieldNames(t, lifted: lifted != nil).joined(separator: " and ")); ONNX allows one")
        }

        var storage: Tensor.Storage = .none
        if let k = lifted {
            guard k < payloads.count else { throw error("internal: payload placeholder out of range") }
            storage = .raw(payloads[k])
        } else if t.hasRawData {
            storage = .raw(t.rawData.withUnsafeBytes { TensorBytes(copying: $0) })
        } else if !t.floatData.isEmpty {
            storage = .floatData(ContiguousArray(t.floatData))
        } else if !t.int32Data.isEmpty {
            storage = .int32Data(ContiguousArray(t.int32Data))
        } else if !t.int64Data.isEmpty {
            storage = .int64Data(ContiguousArray(t.int64Data))
        } else if !t.doubleData.isEmpty {
            storage = .doubleData(ContiguousArray(t.doubleData))
        } else if !t.uint64Data.isEmpty {
            storage = .uint64Data(ContiguousArray(t.uint64Data))
        } else if !t.stringData.isEmpty {
            storage = .stringData(t.stringData.map { Array($0) })
        }

        var r = Tensor(name: t.name, dataType: type, dims: t.dims, storage: storage)
        var p = FieldPresence()
        if t.hasDataType { p.insert(field: 2) }
        if t.hasName { p.insert(field: 8) }
        if t.hasRawData || lifted != nil { p.insert(field: 9) }
        if t.hasDocString { p.insert(field: 12) }
        r.presence = p
        r.docString = t.docString
        if !t.metadataProps.isEmpty { r.metadata = t.metadataProps.map(decodePair) }
        if t.hasSegment {
            var s = Tensor.Segment(begin: t.segment.hasBegin ? t.segment.begin : nil, end: t.segment.hasEnd ? t.segment.end : nil)
            s.preserved = PreservedFields(Array(t.segment.unknownFields.data))
            r.segment = s
        }
        if t.hasDataLocation { r.dataLocation = Int32(t.dataLocation.rawValue) }
        if !t.externalData.isEmpty { r.externalData = t.externalData.map(decodePair) }
        r.preserved = PreservedFields(unknown)

        if t.hasDataLocation && t.dataLocation == .external {
            guard case .none = storage else {
                throw error("tensor '\(t.name)' has data_location EXTERNAL but also stores data inline in \(dataFieldNames(t, lifted: lifted != nil)[0])")
            }
            r.storage = .raw(try loadExternal(r))
            if r.externalData == nil { r.externalData = [] }
        }
        return r
    }

    private func dataFieldNames(_ t: Onnx_TensorProto, lifted: Bool) -> [String] {
        var fields: [String] = []
        if t.hasRawData || lifted { fields.append("raw_data") }
        if !t.floatData.isEmpty { fields.append("float_data") }
        if !t.int32Data.isEmpty { fields.append("int32_data") }
        if !t.int64Data.isEmpty { fields.append("int64_data") }
        if !t.doubleData.isEmpty { fields.append("double_data") }
        if !t.uint64Data.isEmpty { fields.append("uint64_data") }
        if !t.stringData.isEmpty { fields.append("string_data") }
        return fields
    }

    private func loadExternal(_ t: Tensor) throws -> TensorBytes {
        guard let external else {
            throw error("tensor '\(t.name)' uses external data but the model was not read from a file")
        }
        guard let location = t.externalValue("location") else {
            throw error("tensor '\(t.name)' has data_location EXTERNAL but no 'location' in external_data")
        }
        func integer(_ key: String) throws -> Int64? {
            guard let s = t.externalValue(key) else { return nil }
            guard let v = Int64(s), v >= 0 else {
                throw error("tensor '\(t.name)': external_data '\(key)' is '\(s)', not a non-negative integer")
            }
            return v
        }
        do {
            return try external.bytes(location: location, offset: try integer("offset") ?? 0, length: try integer("length"))
        } catch let e as KilnError {
            var copy = e
            copy.message = "tensor '\(t.name)': " + e.message
            throw copy
        }
    }

    mutating func decodeSparse(_ s: Onnx_SparseTensorProto) throws -> SparseTensor {
        let values = s.hasValues ? try within("values") { try $0.decodeTensor(s.values) } : nil
        let indices = s.hasIndices ? try within("indices") { try $0.decodeTensor(s.indices) } : nil
        var r = SparseTensor(values: values, indices: indices, dims: s.dims)
        r.preserved = PreservedFields(Array(s.unknownFields.data))
        return r
    }
}

extension ProtoDecoder {
    /// Decodes a serialized `TensorProto` lifted out of a graph. The common case (only dims,
    /// data_type, name and raw_data) is read straight from the wire and its payload is a slice of
    /// the input, whatever its size; anything else goes through swift-protobuf after lifting the
    /// tensor's own large payload.
    func decodeWireTensor(_ bytes: TensorBytes) throws -> Tensor {
        if let simple = try bytes.withUnsafeBytes({ try decodeSimpleTensor($0, bytes) }) {
            return simple
        }
        return try bytes.withUnsafeBytes { buf in
            var lifter = PayloadLifter(buffer: buf, threshold: 1024)
            let structure: [UInt8]
            do {
                structure = try lifter.lift(as: .tensor)
            } catch let e as KilnError {
                throw KilnError(.invalidInput, "not a valid TensorProto: " + e.message)
            }
            let proto: Onnx_TensorProto
            do {
                proto = try Onnx_TensorProto(serializedBytes: structure, options: ProtoDecoder.decodingOptions)
            } catch {
                throw self.error("not a valid TensorProto: \(error)")
            }
            let local = ProtoDecoder(payloads: lifter.payloads.map { bytes.slice($0) }, external: external)
            var copy = local
            return try copy.decodeTensor(proto)
        }
    }

    /// The fast path of `decodeWireTensor`: nil when the message has any field besides dims (1),
    /// data_type (2), the typed data fields (4, 5, 7, 10, 11), name (8) and raw_data (9), more than
    /// one data field, or a field with an unexpected wire type.
    private func decodeSimpleTensor(_ buf: UnsafeRawBufferPointer, _ bytes: TensorBytes) throws -> Tensor? {
        var reader = WireReader(buf, range: 0..<buf.count)
        var dims: [Int64] = []
        var type: Int32?
        var name: String?
        var raw: Range<Int>?
        var typed: Tensor.Storage?
        var dataField: Int?
        func varints(_ f: WireReader.Field) throws -> [UInt64] {
            var v = WireReader(buf, range: f.payload)
            var out: [UInt64] = []
            if f.wireType == .varint { return [try v.readVarint()] }
            while !v.isAtEnd { out.append(try v.readVarint()) }
            return out
        }
        func fixed<T>(_ f: WireReader.Field, _ type: T.Type) -> ContiguousArray<T> {
            let size = MemoryLayout<T>.size
            let n = f.payload.count / size
            var out = ContiguousArray<T>()
            out.reserveCapacity(n)
            for k in 0..<n {
                out.append(UnsafeRawBufferPointer(rebasing: buf[(f.payload.lowerBound + k * size)...]).loadUnaligned(as: T.self))
            }
            return out
        }
        while !reader.isAtEnd {
            let f = try reader.readField()
            switch (f.number, f.wireType) {
            case (1, .varint), (1, .lengthDelimited):
                // Straight into `dims` (no temporary arrays: this runs for every initializer).
                var v = WireReader(buf, range: f.payload)
                if f.wireType == .varint {
                    dims.append(Int64(bitPattern: try v.readVarint()))
                } else {
                    while !v.isAtEnd { dims.append(Int64(bitPattern: try v.readVarint())) }
                }
            case (2, .varint):
                var v = WireReader(buf, range: f.payload)
                type = Int32(truncatingIfNeeded: try v.readVarint())
            case (8, .lengthDelimited):
                let s = UnsafeRawBufferPointer(rebasing: buf[f.payload])
                guard let text = wireString(s) else { return nil }
                name = text
            case (9, .lengthDelimited):
                guard dataField == nil || dataField == 9 else { return nil }
                dataField = 9
                raw = f.payload
            case (4, .lengthDelimited), (4, .fixed32), (10, .lengthDelimited), (10, .fixed64),
                 (5, .lengthDelimited), (5, .varint), (7, .lengthDelimited), (7, .varint),
                 (11, .lengthDelimited), (11, .varint):
                guard dataField == nil || dataField == f.number else { return nil }
                dataField = f.number
                if f.wireType == .lengthDelimited && f.payload.isEmpty { continue }
                switch (f.number, typed) {
                case (4, .floatData(var a)?): a.append(contentsOf: fixed(f, Float.self)); typed = .floatData(a)
                case (4, _): typed = .floatData(fixed(f, Float.self))
                case (10, .doubleData(var a)?): a.append(contentsOf: fixed(f, Double.self)); typed = .doubleData(a)
                case (10, _): typed = .doubleData(fixed(f, Double.self))
                case (5, .int32Data(var a)?):
                    a.append(contentsOf: try varints(f).map { Int32(truncatingIfNeeded: $0) }); typed = .int32Data(a)
                case (5, _): typed = .int32Data(ContiguousArray(try varints(f).map { Int32(truncatingIfNeeded: $0) }))
                case (7, .int64Data(var a)?):
                    a.append(contentsOf: try varints(f).map { Int64(bitPattern: $0) }); typed = .int64Data(a)
                case (7, _): typed = .int64Data(ContiguousArray(try varints(f).map { Int64(bitPattern: $0) }))
                case (11, .uint64Data(var a)?): a.append(contentsOf: try varints(f)); typed = .uint64Data(a)
                default: typed = .uint64Data(ContiguousArray(try varints(f)))
                }
            default:
                return nil
            }
        }
        let dataType: DataType = try type.map { try self.dataType($0, field: "data_type") } ?? .undefined
        var t = Tensor(name: name ?? "", dataType: dataType, dims: dims,
                       storage: raw.map { .raw(bytes.slice($0)) } ?? typed ?? .none)
        var p = FieldPresence()
        if type != nil { p.insert(field: 2) }
        if name != nil { p.insert(field: 8) }
        if raw != nil { p.insert(field: 9) }
        t.presence = p
        return t
    }
}
