import KilnIR

/// numpy's `.npy` format (versions 1 to 3), little-endian numeric and bool arrays in C order.
public enum NumpyFile {
    static let descriptors: [(String, DataType)] = [
        ("f4", .float), ("f8", .double), ("f2", .float16), ("i1", .int8), ("i2", .int16), ("i4", .int32),
        ("i8", .int64), ("u1", .uint8), ("u2", .uint16), ("u4", .uint32), ("u8", .uint64), ("b1", .bool),
    ]

    public static func decode(_ bytes: [UInt8]) throws -> TensorValue {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw KilnError(.invalidInput, "not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int, start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw KilnError(.invalidInput, "truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            start = 12
        }
        guard bytes.count >= start + headerLength else { throw KilnError(.invalidInput, "truncated .npy header") }
        let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        guard let descr = quotedValue(header, key: "descr") else { throw KilnError(.invalidInput, ".npy header has no descr") }
        if header.contains("'fortran_order': True") {
            throw KilnError(.unsupported, ".npy arrays in Fortran order are not supported; save with np.ascontiguousarray")
        }
        let order = descr.first!
        let code = String(descr.dropFirst())
        guard order == "<" || order == "|" || (order == "=" ), let type = descriptors.first(where: { $0.0 == code })?.1 else {
            throw KilnError(.unsupported, ".npy dtype '\(descr)' is not supported (little-endian numeric or bool)")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw KilnError(.invalidInput, ".npy header has no shape")
        }
        let shape = try header[open.upperBound..<close].split(separator: ",").map { part -> Int64 in
            guard let d = Int64(part.trimmingCharacters()) else { throw KilnError(.invalidInput, ".npy shape is malformed") }
            return d
        }
        let payload = Array(bytes[(start + headerLength)...])
        let tensor = Tensor(dataType: type, dims: shape, storage: .raw(TensorBytes(payload)))
        return try TensorValue(tensor)
    }

    public static func encode(_ t: TensorValue) throws -> [UInt8] {
        guard let code = descriptors.first(where: { $0.1 == t.dataType })?.0 else {
            throw KilnError(.unsupported, "\(t.dataType.name) tensors cannot be written as .npy")
        }
        let dims = t.shape.map(String.init)
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '\(code == "b1" || code.hasSuffix("1") ? "|" : "<")\(code)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        let n = header.utf8.count
        out.append(UInt8(n & 0xFF)); out.append(UInt8(n >> 8))
        out.append(contentsOf: header.utf8)
        if case .raw(let bytes) = t.irTensor().storage { out.append(contentsOf: bytes.array) }
        return out
    }

    private static func quotedValue(_ header: String, key: String) -> String? {
        guard let k = header.range(of: "'\(key)':") else { return nil }
        let rest = header[k.upperBound...]
        guard let q1 = rest.firstIndex(of: "'") else { return nil }
        let after = rest[rest.index(after: q1)...]
        guard let q2 = after.firstIndex(of: "'") else { return nil }
        return String(after[..<q2])
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " { s.removeFirst() }
        while let l = s.last, l == " " { s.removeLast() }
        return s
    }
}
