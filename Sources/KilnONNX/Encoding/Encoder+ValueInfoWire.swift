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

    /// One `ValueInfoProto` (name, type, doc_string, metadata_props, preserved).
    static func valueInfo(name: String, _ info: ValueInfoRecord) -> [UInt8] {
        var out: [UInt8] = []
        appendString(1, name, to: &out)
        if let t = info.type { appendMessage(2, typeProto(t), to: &out) }
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
        var out: [UInt8] = []
        var inner: [UInt8] = []
        let field: Int?
        switch t.kind {
        case .tensor(let e, let s), .sparseTensor(let e, let s):
            if let e { appendVarintField(1, Int64(e.rawValue), to: &inner) }
            if let s { appendMessage(2, shape(s), to: &inner) }
            if case .tensor = t.kind { field = 1 } else { field = 8 }
        case .sequence(let e):
            if let e { appendMessage(1, typeProto(e), to: &inner) }
            field = 4
        case .optional(let e):
            if let e { appendMessage(1, typeProto(e), to: &inner) }
            field = 9
        case .map(let k, let v):
            if let k { appendVarintField(1, Int64(k.rawValue), to: &inner) }
            if let v { appendMessage(2, typeProto(v), to: &inner) }
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
        return out
    }

    static func shape(_ s: Shape) -> [UInt8] {
        var out: [UInt8] = []
        var dim: [UInt8] = []
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
        return out
    }

    /// The graph's inputs (11), outputs (12) and value_info (13) as one run of fields.
    static func graphFields(_ g: Graph) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((g.inputs.count + g.outputs.count + g.valueInfo.count) * 48)
        for (i, id) in g.inputs.enumerated() {
            appendMessage(11, valueInfo(name: g.name(of: id), g.infoOverrides[.input(i)] ?? g[value: id].info), to: &out)
        }
        for (i, id) in g.outputs.enumerated() {
            appendMessage(12, valueInfo(name: g.name(of: id), g.infoOverrides[.output(i)] ?? g[value: id].info), to: &out)
        }
        for (i, id) in g.valueInfo.enumerated() {
            appendMessage(13, valueInfo(name: g.name(of: id), g.infoOverrides[.valueInfo(i)] ?? g[value: id].info), to: &out)
        }
        return out
    }
}
