import KilnIR

/// The little of the protobuf wire format the value files need (`TensorProto`, `SequenceProto`,
/// `OptionalProto` as written by `onnx.numpy_helper`). Model files go through `KilnONNX`.
enum ProtoWire {
    struct Field {
        var number: Int
        var wireType: Int
        /// Varint or fixed value (wire types 0, 1, 5).
        var scalar: UInt64
        /// Payload of a length-delimited field (wire type 2).
        var bytes: ArraySlice<UInt8>
    }

    /// The top-level fields of a message.
    static func fields(_ data: ArraySlice<UInt8>) throws -> [Field] {
        var out: [Field] = []
        var i = data.startIndex
        func varint() throws -> UInt64 {
            var result: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < data.endIndex, shift < 64 else { throw KilnError(.invalidInput, "truncated or malformed protobuf varint") }
                let b = data[i]; i += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
        }
        while i < data.endIndex {
            let key = try varint()
            let number = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: out.append(Field(number: number, wireType: 0, scalar: try varint(), bytes: []))
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard data.endIndex - i >= n else { throw KilnError(.invalidInput, "truncated protobuf field \(number)") }
                var v: UInt64 = 0
                for k in 0..<n { v |= UInt64(data[i + k]) << (8 * UInt64(k)) }
                i += n
                out.append(Field(number: number, wireType: wire, scalar: v, bytes: []))
            case 2:
                let n = Int(try varint())
                guard n >= 0, data.endIndex - i >= n else { throw KilnError(.invalidInput, "truncated protobuf field \(number)") }
                out.append(Field(number: number, wireType: 2, scalar: 0, bytes: data[i..<(i + n)]))
                i += n
            default:
                throw KilnError(.invalidInput, "unsupported protobuf wire type \(wire) (field \(number))")
            }
        }
        return out
    }

    static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    static func appendKey(_ number: Int, _ wire: Int, to out: inout [UInt8]) {
        appendVarint(UInt64(number << 3 | wire), to: &out)
    }

    static func appendBytes<C: Collection>(_ number: Int, _ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        appendKey(number, 2, to: &out)
        appendVarint(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    static func appendInt(_ number: Int, _ v: Int64, to out: inout [UInt8]) {
        appendKey(number, 0, to: &out)
        appendVarint(UInt64(bitPattern: v), to: &out)
    }
}
