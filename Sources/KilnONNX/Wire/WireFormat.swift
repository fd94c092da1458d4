import KilnIR

/// Minimal protobuf wire-format reading and writing, enough to walk ONNX messages without decoding
/// them: used to lift large `raw_data` payloads out of a file before swift-protobuf decodes the rest,
/// and to splice them back in when writing.
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

struct WireError: Error {
    var message: String
    var offset: Int
    /// The field being read when the error happened, when known.
    var field: Int? = nil
}

/// Reads fields from a byte range. Offsets are absolute positions in `buffer`.
/// A protobuf `string` field's bytes as a String, nil when they are not UTF-8. Names are almost
/// always ASCII, which needs no validation (one pass looking for a byte >= 0x80).
func wireString(_ bytes: UnsafeRawBufferPointer) -> String? {
    for b in bytes where b >= 0x80 { return String(validating: bytes, as: UTF8.self) }
    return String(decoding: bytes, as: UTF8.self)
}

struct WireReader {
    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, range: Range<Int>) {
        self.buffer = buffer
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = position
        while true {
            guard position < end else {
                throw WireError(message: "truncated varint", offset: start)
            }
            let b = buffer[position]
            position += 1
            if shift == 63 && b > 1 { throw WireError(message: "malformed varint (more than 64 bits)", offset: start) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw WireError(message: "malformed varint (more than 10 bytes)", offset: start) }
        }
    }

    /// One field: its number, wire type, the range of its payload (for length-delimited fields, the
    /// bytes after the length) and the range of the whole field including its tag.
    struct Field {
        var number: Int
        var wireType: WireType
        var payload: Range<Int>
        var whole: Range<Int>
    }

    mutating func readField() throws -> Field {
        let start = position
        let tag = try readVarint()
        guard let wt = WireType(rawValue: UInt8(tag & 7)) else {
            throw WireError(message: "invalid wire type \(tag & 7)", offset: start)
        }
        let number = Int(tag >> 3)
        guard number > 0 && number <= 536_870_911 else {
            throw WireError(message: "invalid field number \(number)", offset: start)
        }
        let payloadStart: Int
        let payloadEnd: Int
        switch wt {
        case .varint:
            payloadStart = position
            _ = try readVarint()
            payloadEnd = position
        case .fixed64:
            payloadStart = position
            guard end - position >= 8 else { throw WireError(message: "truncated fixed64 field \(number)", offset: start) }
            position += 8
            payloadEnd = position
        case .fixed32:
            payloadStart = position
            guard end - position >= 4 else { throw WireError(message: "truncated fixed32 field \(number)", offset: start) }
            position += 4
            payloadEnd = position
        case .lengthDelimited:
            let length = try readVarint()
            payloadStart = position
            guard length <= UInt64(end - position) else {
                throw WireError(
                    message: "declares \(length) bytes but only \(end - position) remain: the file is truncated or corrupt",
                    offset: start, field: number)
            }
            position += Int(length)
            payloadEnd = position
        case .startGroup:
            payloadStart = position
            try skipGroup(number: number, start: start)
            payloadEnd = position
        case .endGroup:
            throw WireError(message: "unexpected end-group tag for field \(number)", offset: start)
        }
        return Field(number: number, wireType: wt, payload: payloadStart..<payloadEnd, whole: start..<position)
    }

    private mutating func skipGroup(number: Int, start: Int) throws {
        while true {
            guard !isAtEnd else { throw WireError(message: "unterminated group \(number)", offset: start) }
            let save = position
            let tag = try readVarint()
            if tag & 7 == 4 {
                guard Int(tag >> 3) == number else { throw WireError(message: "mismatched end-group tag", offset: save) }
                return
            }
            position = save
            _ = try readField()
        }
    }
}

/// Appends protobuf encodings to a byte array.
enum WireWriter {
    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendTag(field: Int, wireType: WireType, to out: inout [UInt8]) {
        appendVarint(UInt64(field) << 3 | UInt64(wireType.rawValue), to: &out)
    }

    /// Appends a placeholder field: `field` (one of the marker fields) with varint `index`.
    static func appendPlaceholder(field: Int, index: Int, to out: inout [UInt8]) {
        appendTag(field: field, wireType: .varint, to: &out)
        appendVarint(UInt64(index), to: &out)
    }

    static func varintSize(_ value: UInt64) -> Int {
        var n = 1
        var v = value
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }
}

/// The ONNX messages the wire walkers descend into, and which of their fields hold such messages.
/// Only paths that can contain a `TensorProto` are listed.
enum WireMessage {
    case model, graph, node, attribute, tensor, sparseTensor, function, trainingInfo

    /// The message kind of field `number`, when it is one to descend into.
    func child(_ number: Int) -> WireMessage? {
        switch (self, number) {
        case (.model, 7): return .graph
        case (.model, 20): return .trainingInfo
        case (.model, 25): return .function
        case (.trainingInfo, 1), (.trainingInfo, 2): return .graph
        case (.graph, 1): return .node
        case (.graph, 5): return .tensor
        case (.graph, 15): return .sparseTensor
        case (.node, 5): return .attribute
        case (.function, 7): return .node
        case (.function, 11): return .attribute
        case (.attribute, 5), (.attribute, 10): return .tensor
        case (.attribute, 6), (.attribute, 11): return .graph
        case (.attribute, 22), (.attribute, 23): return .sparseTensor
        case (.sparseTensor, 1), (.sparseTensor, 2): return .tensor
        default: return nil
        }
    }

    /// The ONNX field name, for error locations.
    func fieldName(_ number: Int) -> String {
        switch (self, number) {
        case (.model, 7): return "graph"
        case (.model, 20): return "training_info"
        case (.model, 25): return "functions"
        case (.trainingInfo, 1): return "initialization"
        case (.trainingInfo, 2): return "algorithm"
        case (.graph, 1), (.function, 7): return "node"
        case (.graph, 5): return "initializer"
        case (.graph, 15): return "sparse_initializer"
        case (.node, 5): return "attribute"
        case (.function, 11): return "attribute_proto"
        case (.attribute, 5): return "t"
        case (.attribute, 6): return "g"
        case (.attribute, 10): return "tensors"
        case (.attribute, 11): return "graphs"
        case (.attribute, 22): return "sparse_tensor"
        case (.attribute, 23): return "sparse_tensors"
        case (.sparseTensor, 1): return "values"
        case (.sparseTensor, 2): return "indices"
        case (.tensor, 9): return "raw_data"
        default: return "field \(number)"
        }
    }
}

/// The field number of the placeholder that stands for a lifted `raw_data` payload while
/// swift-protobuf handles the message (the largest legal field number; never written to files).
let payloadMarkerField = 536_870_911

/// The placeholder field standing for a graph's lifted initializer list (varint list index).
let initializerMarkerField = 536_870_910

/// The placeholder field standing for a graph's inputs, outputs and value_info (fields 11-13).
let valueInfoMarkerField = 536_870_909
