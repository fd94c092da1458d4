import KilnIR

/// A 64-bit hash that is the same in every process (Swift's `Hasher` is seeded per process), so
/// fingerprints can be compared across runs and never depend on dictionary order.
struct StableHash {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(_ x: UInt64) {
        value = (value ^ x) &* 0x0000_0100_0000_01b3
        value ^= value >> 29
    }

    mutating func combine(_ x: Int) { combine(UInt64(bitPattern: Int64(x))) }
    mutating func combine(_ x: Int64) { combine(UInt64(bitPattern: x)) }

    mutating func combine(_ s: String) {
        combine(s.utf8.count)
        for b in s.utf8 { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }

    mutating func combine(bytes: UnsafeRawBufferPointer) {
        combine(bytes.count)
        let words = bytes.count / 8
        for i in 0..<words { combine(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        for i in (words * 8)..<bytes.count { combine(UInt64(bytes[i])) }
    }

    static func of(_ body: (inout StableHash) -> Void) -> UInt64 {
        var h = StableHash()
        body(&h)
        return h.value
    }
}

extension Tensor {
    /// A hash of dtype, dims and element values (not the name or the storage field used).
    var contentHash: UInt64 {
        StableHash.of { h in
            h.combine(Int(dataType.rawValue))
            h.combine(dims.count)
            for d in dims { h.combine(d) }
            if case .stringData(let strings) = storage {
                for s in strings { s.withUnsafeBytes { h.combine(bytes: $0) } }
            } else if case .raw(let bytes) = storage {
                bytes.withUnsafeBytes { h.combine(bytes: $0) }
            } else if let bytes = rawLayoutBytes {
                bytes.withUnsafeBytes { h.combine(bytes: $0) }
            }
        }
    }
}

extension Attribute.Value {
    /// A stable hash of the attribute value (subgraphs by their operator sequence and size).
    func stableHash(into h: inout StableHash) {
        h.combine(typeName)
        switch self {
        case .float(let f): h.combine(UInt64(f.bitPattern))
        case .int(let i): h.combine(i)
        case .string(let s): h.combine(String(decoding: s, as: UTF8.self))
        case .tensor(let t): h.combine(t.contentHash)
        case .graph(let g): g.structureHash(into: &h)
        case .floats(let fs): h.combine(fs.count); for f in fs { h.combine(UInt64(f.bitPattern)) }
        case .ints(let xs): h.combine(xs.count); for x in xs { h.combine(x) }
        case .strings(let ss): h.combine(ss.count); for s in ss { h.combine(String(decoding: s, as: UTF8.self)) }
        case .tensors(let ts): h.combine(ts.count); for t in ts { h.combine(t.contentHash) }
        case .graphs(let gs): h.combine(gs.count); for g in gs { g.structureHash(into: &h) }
        case .sparseTensor(let s): h.combine(s.dims.count); if let v = s.values { h.combine(v.contentHash) }
        case .sparseTensors(let ss): h.combine(ss.count)
        case .type(let t): h.combine(t.description)
        case .types(let ts): for t in ts { h.combine(t.description) }
        case .undefined: break
        }
    }
}

extension Graph {
    /// Operator sequence, attribute values and initializer contents of a (sub)graph.
    func structureHash(into h: inout StableHash) {
        h.combine(order.count)
        for id in order {
            let n = self[node: id]
            h.combine(n.localKey)
        }
        for id in initializerOrder { if let t = self[value: id].initializer { h.combine(t.contentHash) } }
    }
}

extension Node {
    /// Domain, operator and attributes (sorted by name): what a node is, apart from its wiring.
    var localKey: UInt64 {
        StableHash.of { h in
            h.combine(domain == "ai.onnx" ? "" : domain)
            h.combine(opType)
            for a in attributes.sorted(by: { $0.name < $1.name }) {
                h.combine(a.name)
                a.value.stableHash(into: &h)
            }
        }
    }

    var qualifiedOp: String {
        domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain):\(opType)"
    }
}
