import KilnIR

/// Lifts large `raw_data` payloads out of a serialized `ModelProto` without copying them.
///
/// It walks the wire format along the message paths that can hold a `TensorProto`
/// (`WireMessage.child`), copies everything else verbatim, and replaces each `raw_data` of at least
/// `threshold` bytes by a small placeholder field (`payloadMarkerField`, varint payload index). The
/// result is the model's structure, small enough for swift-protobuf to decode quickly; the payloads
/// stay in the caller's buffer (a memory-mapped file) as byte ranges. Submessages shorter than the
/// threshold cannot hold a large payload and are copied without being walked.
struct PayloadLifter {
    let buffer: UnsafeRawBufferPointer
    let threshold: Int
    private(set) var payloads: [Range<Int>] = []
    /// The nodes of each walked graph, lifted out of the structure so that `ProtoDecoder` decodes
    /// them straight from the wire (the graph keeps a placeholder with the list's index).
    private(set) var nodeLists: [[NodeSource]] = []
    /// The initializers of each walked graph, as byte ranges of the input: `ProtoDecoder` decodes
    /// them straight from the wire, slicing `raw_data` out of the mapping whatever its size.
    private(set) var initializerLists: [[Range<Int>]] = []
    /// Nodes that needed walking themselves (they hold large payloads), re-encoded.
    private(set) var side: [UInt8] = []
    private var path: [String] = []

    /// Where the bytes of one lifted node are: in the input buffer or in `side`.
    enum NodeSource {
        case input(Range<Int>)
        case side(Range<Int>)
    }

    init(buffer: UnsafeRawBufferPointer, threshold: Int) {
        self.buffer = buffer
        self.threshold = max(threshold, 16)
    }

    /// Returns the structure of the model in `buffer` with large payloads replaced by placeholders.
    /// Errors name the field path where the bytes stop making sense.
    mutating func liftModel() throws -> [UInt8] {
        try lift(as: .model)
    }

    /// Lifts the whole buffer taken as a message of kind `kind`.
    mutating func lift(as kind: WireMessage) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(buffer.count, 1 << 20))
        try walk(0..<buffer.count, as: kind, into: &out)
        return out
    }

    private mutating func walk(_ range: Range<Int>, as kind: WireMessage, into out: inout [UInt8]) throws {
        var reader = WireReader(buffer, range: range)
        // Occurrences so far of each field number below 32 (for error paths such as initializer[3]).
        var counts = [Int](repeating: 0, count: 32)
        // Fields copied verbatim are copied in runs: `pending` is the start of the current run.
        var pending = range.lowerBound
        func flush(upTo end: Int, _ out: inout [UInt8]) {
            if end > pending { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[pending..<end])) }
        }
        var nodes: [NodeSource] = []
        var initializers: [Range<Int>] = []
        while !reader.isAtEnd {
            let field: WireReader.Field
            do {
                field = try reader.readField()
            } catch let e as WireError {
                var where_ = path
                if let n = e.field { where_.append(kind.fieldName(n)) }
                throw KilnError(.invalidInput, "\(e.message) (at byte \(e.offset))", at: .init(path: where_))
            }
            let index = field.number < 32 ? counts[field.number] : 0
            if field.number < 32 { counts[field.number] += 1 }
            if kind == .graph && field.number == 1 && field.wireType == .lengthDelimited {
                flush(upTo: field.whole.lowerBound, &out)
                pending = field.whole.upperBound
                if field.payload.count < threshold {
                    nodes.append(.input(field.payload))
                } else {
                    path.append("node[\(index)]")
                    var inner: [UInt8] = []
                    try walk(field.payload, as: .node, into: &inner)
                    path.removeLast()
                    let start = side.count
                    side.append(contentsOf: inner)
                    nodes.append(.side(start..<side.count))
                }
                continue
            }
            if kind == .graph && field.number == 5 && field.wireType == .lengthDelimited {
                flush(upTo: field.whole.lowerBound, &out)
                pending = field.whole.upperBound
                initializers.append(field.payload)
                continue
            }
            // Graphs are always walked (their nodes and initializers are lifted whatever their size, so
            // a graph split over several occurrences keeps one order); other messages only when large.
            guard field.wireType == .lengthDelimited,
                  field.payload.count >= threshold || kind.child(field.number) == .graph else { continue }
            if kind == .tensor && field.number == 9 && field.payload.count >= threshold {
                flush(upTo: field.whole.lowerBound, &out)
                WireWriter.appendPlaceholder(field: payloadMarkerField, index: payloads.count, to: &out)
                payloads.append(field.payload)
                pending = field.whole.upperBound
            } else if let child = kind.child(field.number) {
                flush(upTo: field.whole.lowerBound, &out)
                path.append("\(kind.fieldName(field.number))[\(index)]")
                var inner: [UInt8] = []
                try walk(field.payload, as: child, into: &inner)
                path.removeLast()
                WireWriter.appendTag(field: field.number, wireType: .lengthDelimited, to: &out)
                WireWriter.appendVarint(UInt64(inner.count), to: &out)
                out.append(contentsOf: inner)
                pending = field.whole.upperBound
            }
        }
        flush(upTo: range.upperBound, &out)
        if !nodes.isEmpty {
            WireWriter.appendPlaceholder(field: payloadMarkerField, index: nodeLists.count, to: &out)
            nodeLists.append(nodes)
        }
        if !initializers.isEmpty {
            WireWriter.appendPlaceholder(field: initializerMarkerField, index: initializerLists.count, to: &out)
            initializerLists.append(initializers)
        }
    }
}

/// One piece of an output file: bytes built in memory, or a payload streamed from where it lives.
enum OutputPiece {
    case bytes([UInt8])
    case payload(TensorBytes)

    var count: Int {
        switch self {
        case .bytes(let b): return b.count
        case .payload(let p): return p.count
        }
    }
}

/// Puts payloads back where `PayloadLifter`-style placeholders stand, producing the pieces of the
/// final file. Enclosing length prefixes are recomputed; `raw_data` is put at its field-number
/// position within the tensor (after field 8), as protobuf serializers order fields.
struct PayloadSplicer {
    let payloads: [TensorBytes]
    /// Serialized node lists (`field 1` entries) standing behind graph placeholders, and whether
    /// each holds placeholders itself (else it is copied as is).
    let nodeBlobs: [(bytes: [UInt8], hasPlaceholders: Bool)]
    /// Serialized initializer lists (`field 5` entries, payloads as pieces) behind graph placeholders.
    var initializerBlobs: [[OutputPiece]] = []
    /// Serialized inputs, outputs and value_info (fields 11-13) behind graph placeholders.
    var valueInfoBlobs: [[UInt8]] = []

    struct Pieces {
        private(set) var items: [OutputPiece] = []
        private var tail: [UInt8] = []
        private(set) var count = 0
        private(set) var hasPayload = false
        /// Whether anything differs from the walked bytes (a payload or node list was put back).
        var changed = false

        mutating func append(_ bytes: UnsafeRawBufferPointer) {
            count += bytes.count
            tail.append(contentsOf: bytes)
        }

        mutating func append(_ bytes: [UInt8]) {
            count += bytes.count
            tail.append(contentsOf: bytes)
        }

        mutating func append(payload: TensorBytes) {
            flush()
            items.append(.payload(payload))
            count += payload.count
            hasPayload = true
            changed = true
        }

        /// Appends a whole byte array as its own piece (no copy).
        mutating func append(piece bytes: [UInt8]) {
            flush()
            items.append(.bytes(bytes))
            count += bytes.count
        }

        mutating func append(pieces: [OutputPiece]) {
            for p in pieces {
                switch p {
                case .bytes(let b): b.count > 4096 ? append(piece: b) : append(b)
                case .payload(let t): append(payload: t)
                }
            }
        }

        mutating func append(_ other: Pieces) {
            changed = changed || other.changed
            for p in other.finished {
                switch p {
                case .bytes(let b): b.count > 4096 ? append(piece: b) : append(b)
                case .payload(let t): append(payload: t)
                }
            }
        }

        private mutating func flush() {
            if !tail.isEmpty {
                items.append(.bytes(tail))
                tail = []
            }
        }

        var finished: [OutputPiece] {
            var copy = self
            copy.flush()
            return copy.items
        }
    }

    func splice(_ buffer: UnsafeRawBufferPointer) throws -> [OutputPiece] {
        if payloads.isEmpty && nodeBlobs.isEmpty && initializerBlobs.isEmpty && valueInfoBlobs.isEmpty {
            return [.bytes(Array(buffer))]
        }
        return try walk(buffer, 0..<buffer.count, as: .model).finished
    }

    private func walk(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>, as kind: WireMessage) throws -> Pieces {
        var reader = WireReader(buffer, range: range)
        var fields: [WireReader.Field] = []
        var marker: Int?
        var initializerMarker: Int?
        var valueInfoMarker: Int?
        while !reader.isAtEnd {
            let f = try reader.readField()
            if (kind == .tensor || kind == .graph) && f.number == payloadMarkerField && f.wireType == .varint {
                var r = WireReader(buffer, range: f.payload)
                marker = Int(try r.readVarint())
                continue
            }
            if kind == .graph && f.number == initializerMarkerField && f.wireType == .varint {
                var r = WireReader(buffer, range: f.payload)
                initializerMarker = Int(try r.readVarint())
                continue
            }
            if kind == .graph && f.number == valueInfoMarkerField && f.wireType == .varint {
                var r = WireReader(buffer, range: f.payload)
                valueInfoMarker = Int(try r.readVarint())
                continue
            }
            fields.append(f)
        }
        var out = Pieces()
        if kind == .graph && (marker != nil || initializerMarker != nil || valueInfoMarker != nil) {
            // Nodes are field 1, the first a serializer writes.
            if let m = marker {
                guard m < nodeBlobs.count else { throw KilnError(.internalError, "node list placeholder \(m) out of range") }
                if nodeBlobs[m].hasPlaceholders {
                    try nodeBlobs[m].bytes.withUnsafeBytes { blob in
                        out.append(try walk(blob, 0..<blob.count, as: .graph))
                    }
                } else {
                    out.append(piece: nodeBlobs[m].bytes)
                }
            }
            // Initializers are field 5: after the name (2), before doc_string (10) and the rest.
            // Inputs, outputs and value_info are fields 11-13: before quantization_annotation (14).
            var pendingInitializers = initializerMarker
            var pendingValueInfo = valueInfoMarker
            if let m = pendingInitializers, m >= initializerBlobs.count {
                throw KilnError(.internalError, "initializer list placeholder \(m) out of range")
            }
            if let m = pendingValueInfo, m >= valueInfoBlobs.count {
                throw KilnError(.internalError, "value info placeholder \(m) out of range")
            }
            func flushPending(before number: Int, _ out: inout Pieces) {
                if let m = pendingInitializers, number > 5 {
                    out.append(pieces: initializerBlobs[m])
                    pendingInitializers = nil
                }
                if let m = pendingValueInfo, number > 13 {
                    out.append(piece: valueInfoBlobs[m])
                    pendingValueInfo = nil
                }
            }
            for f in fields {
                flushPending(before: f.number, &out)
                try appendField(f, of: kind, from: buffer, to: &out)
            }
            flushPending(before: Int.max, &out)
            out.changed = true
            return out
        }
        if kind == .tensor, let m = marker {
            guard m < payloads.count else { throw KilnError(.internalError, "payload placeholder \(m) out of range") }
            var placed = false
            for f in fields {
                if !placed && f.number > 9 {
                    appendRawData(payloads[m], to: &out)
                    placed = true
                }
                out.append(UnsafeRawBufferPointer(rebasing: buffer[f.whole]))
            }
            if !placed { appendRawData(payloads[m], to: &out) }
            return out
        }
        for f in fields {
            try appendField(f, of: kind, from: buffer, to: &out)
        }
        return out
    }

    private func appendField(_ f: WireReader.Field, of kind: WireMessage, from buffer: UnsafeRawBufferPointer,
                             to out: inout Pieces) throws {
        if f.wireType == .lengthDelimited, let child = kind.child(f.number), payloads.count > 0 || child != .tensor {
            let inner = try walk(buffer, f.payload, as: child)
            if inner.changed {
                var head: [UInt8] = []
                WireWriter.appendTag(field: f.number, wireType: .lengthDelimited, to: &head)
                WireWriter.appendVarint(UInt64(inner.count), to: &head)
                out.append(head)
                out.append(inner)
                return
            }
        }
        out.append(UnsafeRawBufferPointer(rebasing: buffer[f.whole]))
    }

    private func appendRawData(_ payload: TensorBytes, to out: inout Pieces) {
        var head: [UInt8] = []
        WireWriter.appendTag(field: 9, wireType: .lengthDelimited, to: &head)
        WireWriter.appendVarint(UInt64(payload.count), to: &head)
        out.append(head)
        out.append(payload: payload)
    }
}
