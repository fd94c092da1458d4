import KilnIR

/// `ValueInfoProto`s (graph inputs, outputs, value_info) written straight to wire format. They
/// nest five deep (ValueInfo > Type > Tensor > Shape > Dimension), and swift-protobuf recomputes
/// nested sizes at every level, which made writing shape-inferred graphs slow; this writer builds
/// each message once, inner first. Fields go in field-number order with preserved (unknown) fields
/// last, as protobuf serializers write them, so the bytes are the same.
enum ValueInfoWire {
    static func appendString(_ field: Int, _ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in
            WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
            WireWriter.appendVarint(UInt64(utf8.count), to: &out)
            out.append(contentsOf: utf8)
        }
    }

    static func appendMessage(_ field: Int, _ body: [UInt8], to out: inout [UInt8]) {
        WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
        WireWriter.appendVarint(UInt64(body.count), to: &out)
        out.append(contentsOf: body)
    }

    static func appendVarintField(_ field: Int, _ value: Int64, to out: inout [UInt8]) {
        WireWriter.appendTag(field: field, wireType: .varint, to: &out)
        WireWriter.appendVarint(UInt64(bitPattern: value), to: &out)
    }

    /// Reusable buffers, one per nesting depth: each message is built in the buffer of its depth
    /// and then copied into its parent, so writing many value infos allocates nothing per value.
    struct Scratch {
        private var buffers: [[UInt8]] = []

        mutating func take(_ depth: Int) -> [UInt8] {
            while buffers.count <= depth { buffers.append([]) }
            var b = buffers[depth]
            buffers[depth] = []
            b.removeAll(keepingCapacity: true)
            return b
        }

        mutating func give(_ buffer: [UInt8], _ depth: Int) {
            buffers[depth] = buffer
        }
    }

    /// One `ValueInfoProto` (name, type, doc_string, metadata_props, preserved).
    static func valueInfo(name: String, _ info: ValueInfoRecord) -> [UInt8] {
        var scratch = Scratch()
        return valueInfo(name: name, info, scratch: &scratch, depth: 0)
    }

    /// `valueInfo` built in the scratch buffer of `depth` (the caller gives it back).
    static func valueInfo(name: String, _ info: ValueInfoRecord, scratch: inout Scratch, depth: Int) -> [UInt8] {
        var out = scratch.take(depth)
        appendString(1, name, to: &out)
        if let t = info.type {
            let type = typeProto(t, scratch: &scratch, depth: depth + 1)
            appendMessage(2, type, to: &out)
            scratch.give(type, depth + 1)
        }
        if info.presence.contains(field: 3) || !info.docString.isEmpty { appendString(3, info.docString, to: &out) }
        for m in info.metadata { appendMessage(4, pair(m), to: &out) }
        out.append(contentsOf: info.preserved.bytes)
        return out
    }

    static func pair(_ p: StringPair) -> [UInt8] {
        var out: [UInt8] = []
        if p.presence.contains(field: 1) || !p.key.isEmpty { appendString(1, p.key, to: &out) }
        if p.presence.contains(field: 2) || !p.value.isEmpty { appendString(2, p.value, to: &out) }
        out.append(contentsOf: p.preserved.bytes)
        return out
    }

    /// `TypeProto`: the value oneof at its field number (tensor 1, sequence 4, map 5, opaque 7,
    /// sparse 8, optional 9) interleaved with denotation (6) in number order.
    static func typeProto(_ t: ValueType) -> [UInt8] {
        var scratch = Scratch()
        return typeProto(t, scratch: &scratch, depth: 0)
    }

    /// `typeProto` built in the scratch buffer of `depth` (the caller gives it back).
    static func typeProto(_ t: ValueType, scratch: inout Scratch, depth: Int) -> [UInt8] {
        var out = scratch.take(depth)
        var inner = scratch.take(depth + 1)
        let field: Int?
        // A nested message built at `depth + 2` and appended to `inner`.
        func nestedType(_ f: Int, _ e: ValueType, _ inner: inout [UInt8], _ scratch: inout Scratch) {
            let body = typeProto(e, scratch: &scratch, depth: depth + 2)
            appendMessage(f, body, to: &inner)
            scratch.give(body, depth + 2)
        }
        switch t.kind {
        case .tensor(let e, let s), .sparseTensor(let e, let s):
            if let e { appendVarintField(1, Int64(e.rawValue), to: &inner) }
            if let s {
                let body = shape(s, scratch: &scratch, depth: depth + 2)
                appendMessage(2, body, to: &inner)
                scratch.give(body, depth + 2)
            }
            if case .tensor = t.kind { field = 1 } else { field = 8 }
        case .sequence(let e):
            if let e { nestedType(1, e, &inner, &scratch) }
            field = 4
        case .optional(let e):
            if let e { nestedType(1, e, &inner, &scratch) }
            field = 9
        case .map(let k, let v):
            if let k { appendVarintField(1, Int64(k.rawValue), to: &inner) }
            if let v { nestedType(2, v, &inner, &scratch) }
            field = 5
        case .opaque(let d, let n):
            if let d { appendString(1, d, to: &inner) }
            if let n { appendString(2, n, to: &inner) }
            field = 7
        case .none:
            field = nil
        }
        inner.append(contentsOf: t.innerPreserved.bytes)
        if let f = field, f < 6 { appendMessage(f, inner, to: &out) }
        if let d = t.denotation { appendString(6, d, to: &out) }
        if let f = field, f > 6 { appendMessage(f, inner, to: &out) }
        out.append(contentsOf: t.preserved.bytes)
        scratch.give(inner, depth + 1)
        return out
    }

    /// `TensorShapeProto`, built in the scratch buffer of `depth` (dimensions at `depth + 1`).
    static func shape(_ s: Shape, scratch: inout Scratch, depth: Int) -> [UInt8] {
        var out = scratch.take(depth)
        var dim = scratch.take(depth + 1)
        for (i, d) in s.dims.enumerated() {
            dim.removeAll(keepingCapacity: true)
            switch d {
            case .value(let v): appendVarintField(1, v, to: &dim)
            case .symbol(let p): appendString(2, p, to: &dim)
            case .unknown: break
            }
            if let den = s.denotations, i < den.count, let text = den[i] { appendString(3, text, to: &dim) }
            if let dp = s.dimPreserved, i < dp.count { dim.append(contentsOf: dp[i].bytes) }
            appendMessage(1, dim, to: &out)
        }
        out.append(contentsOf: s.preserved.bytes)
        scratch.give(dim, depth + 1)
        return out
    }

    /// The graph's inputs (11), outputs (12) and value_info (13) as one run of fields.
    /// The graph's inputs (field 11), outputs (12) and value_info (13). `valueInfo` selects part of
    /// the value_info list (the rest, written elsewhere, follows in order); inputs and outputs are
    /// written only with the part that starts at 0.
    static func graphFields(_ g: Graph, valueInfo part: Range<Int>? = nil) -> [UInt8] {
        let part = part ?? 0..<g.valueInfo.count
        let io = part.lowerBound == 0
        var out: [UInt8] = []
        out.reserveCapacity(((io ? g.inputs.count + g.outputs.count : 0) + part.count) * 48)
        var scratch = Scratch()
        let overrides = !g.infoOverrides.isEmpty  // most graphs have none: skip hashing a slot per value
        func append(_ field: Int, _ id: ValueID, _ slot: InfoSlot) {
            let override = overrides ? g.infoOverrides[slot] : nil
            // Most entries: a plain tensor type and nothing else, read without copying the record.
            if override == nil, g.infoHasOnlyType(id), let t = g.type(of: id),
               appendPlainTensor(field, name: g.name(of: id), t, to: &out) { return }
            let info = override ?? g.info(of: id)
            if appendPlainTensor(field, name: g.name(of: id), info, to: &out) { return }
            let body = valueInfo(name: g.name(of: id), info, scratch: &scratch, depth: 0)
            appendMessage(field, body, to: &out)
            scratch.give(body, 0)
        }
        if io {
            for (i, id) in g.inputs.enumerated() { append(11, id, .input(i)) }
            for (i, id) in g.outputs.enumerated() { append(12, id, .output(i)) }
        }
        for i in part { append(13, g.valueInfo[i], .valueInfo(i)) }
        return out
    }

    /// The common case written in one pass, sizes first: a tensor type with an element type and
    /// a shape of plain dimensions, nothing else set (no doc string, metadata, denotations or
    /// preserved fields). Returns false, writing nothing, for anything else.
    static func appendPlainTensor(_ field: Int, name: String, _ info: ValueInfoRecord, to out: inout [UInt8]) -> Bool {
        guard let t = info.type, info.docString.isEmpty, !info.presence.contains(field: 3),
              info.metadata.isEmpty, info.preserved.isEmpty else { return false }
        return appendPlainTensor(field, name: name, t, to: &out)
    }

    /// `appendPlainTensor` for a value info known to hold only its name and type `t`.
    static func appendPlainTensor(_ field: Int, name: String, _ t: ValueType, to out: inout [UInt8]) -> Bool {
        guard case .tensor(let element?, let shape?) = t.kind, t.denotation == nil,
              t.preserved.isEmpty, t.innerPreserved.isEmpty, shape.denotations == nil, shape.dimPreserved == nil,
              shape.preserved.isEmpty else { return false }
        func size(_ n: Int) -> Int { WireWriter.varintSize(UInt64(n)) }
        func dimBody(_ d: Dim) -> Int {
            switch d {
            case .value(let v): return 1 + WireWriter.varintSize(UInt64(bitPattern: v))
            case .symbol(let p): return 1 + size(p.utf8.count) + p.utf8.count
            case .unknown: return 0
            }
        }
        var shapeBody = 0
        for d in shape.dims { let b = dimBody(d); shapeBody += 1 + size(b) + b }
        let tensorBody = 1 + WireWriter.varintSize(UInt64(bitPattern: Int64(element.rawValue))) + 1 + size(shapeBody) + shapeBody
        let typeBody = 1 + size(tensorBody) + tensorBody
        let nameCount = name.utf8.count
        let body = 1 + size(nameCount) + nameCount + 1 + size(typeBody) + typeBody
        WireWriter.appendTag(field: field, wireType: .lengthDelimited, to: &out)
        WireWriter.appendVarint(UInt64(body), to: &out)
        appendString(1, name, to: &out)
        WireWriter.appendTag(field: 2, wireType: .lengthDelimited, to: &out)  // ValueInfoProto.type
        WireWriter.appendVarint(UInt64(typeBody), to: &out)
        WireWriter.appendTag(field: 1, wireType: .lengthDelimited, to: &out)  // TypeProto.tensor_type
        WireWriter.appendVarint(UInt64(tensorBody), to: &out)
        appendVarintField(1, Int64(element.rawValue), to: &out)  // elem_type
        WireWriter.appendTag(field: 2, wireType: .lengthDelimited, to: &out)  // shape
        WireWriter.appendVarint(UInt64(shapeBody), to: &out)
        for d in shape.dims {
            WireWriter.appendTag(field: 1, wireType: .lengthDelimited, to: &out)  // dim
            WireWriter.appendVarint(UInt64(dimBody(d)), to: &out)
            switch d {
            case .value(let v): appendVarintField(1, v, to: &out)
            case .symbol(let p): appendString(2, p, to: &out)
            case .unknown: break
            }
        }
        return true
    }
}
