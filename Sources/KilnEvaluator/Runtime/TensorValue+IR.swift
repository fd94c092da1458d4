import KilnIR

extension TensorValue {
    /// The runtime tensor holding an IR tensor's elements (initializer, attribute, `.pb` file).
    ///
    /// Typed-field payloads go through their `raw_data` layout first, so one little-endian reader
    /// handles every storage form. Throws `.unsupported` for data types the evaluator cannot hold
    /// (float8, 4-bit and 2-bit types, complex).
    public init(_ tensor: Tensor) throws {
        guard let n64 = tensor.elementCount, n64 <= Int64(Int.max / 16) else {
            throw KilnError(.invalidInput, "tensor '\(tensor.name)' has invalid dims \(tensor.dims)")
        }
        let n = Int(n64)
        let shape = tensor.dims.map { Int($0) }
        if tensor.dataType == .string {
            var strings = ContiguousArray<String>()
            if case .stringData(let s) = tensor.storage {
                strings.append(contentsOf: s.map { String(decoding: $0, as: UTF8.self) })
            }
            guard strings.count == n else {
                throw KilnError(.invalidInput, "tensor '\(tensor.name)' holds \(strings.count) strings, dims \(tensor.dims) need \(n)")
            }
            self.init(shape: shape, storage: .string(strings))
            return
        }
        let bytes: TensorBytes
        switch tensor.storage {
        case .raw(let b): bytes = b
        case .none: bytes = .empty
        default:
            guard let b = tensor.rawLayoutBytes else {
                throw KilnError(.unsupported, "tensor '\(tensor.name)': cannot read \(tensor.dataType.name) from its typed field")
            }
            bytes = b
        }
        let storage = try bytes.withUnsafeBytes { raw in
            try dispatchAny(tensor.dataType) { LittleEndianReader(raw: raw, count: n, name: tensor.name) }
        }
        self.init(shape: shape, storage: storage)
    }

    /// An IR tensor holding these elements (`raw_data`, or `string_data` for strings).
    public func irTensor(name: String = "") -> Tensor {
        let dims = shape.map { Int64($0) }
        if case .string(let s) = storage {
            return Tensor(name: name, dataType: .string, dims: dims, storage: .stringData(s.map { Array($0.utf8) }))
        }
        let bytes = storage.visit(RawBytesVisitor())
        return Tensor(name: name, dataType: dataType, dims: dims, storage: .raw(bytes))
    }
}

/// Reads `count` little-endian elements of `T` from raw bytes.
private struct LittleEndianReader: TypeVisitor {
    let raw: UnsafeRawBufferPointer
    let count: Int
    let name: String

    func visit<T: TensorElement>(_ type: T.Type) throws -> TensorStorage {
        let bitWidth = T.dataType.bitWidth
        if bitWidth < 8, let narrow = T.self as? any NarrowElement.Type {
            // Packed: element i sits in byte i * bitWidth / 8, low bits first.
            let need = T.dataType.byteCount(elements: count)
            guard raw.count == need else {
                throw KilnError(.invalidInput, "tensor '\(name)' has \(raw.count) bytes of data, \(count) \(T.dataType.name) elements need \(need)")
            }
            let perByte = 8 / bitWidth, mask = UInt8((1 << bitWidth) - 1)
            return unpack(narrow, perByte: perByte, mask: mask, bitWidth: bitWidth)
        }
        let width = MemoryLayout<T>.stride
        guard raw.count == count * width else {
            throw KilnError(.invalidInput,
                            "tensor '\(name)' has \(raw.count) bytes of data, \(count) \(T.dataType.name) elements need \(count * width)")
        }
        if T.self == Bool.self {
            // Any nonzero byte is true; Swift's Bool must hold exactly 0 or 1.
            return .bool(ContiguousArray(raw.map { $0 != 0 }))
        }
        guard T.self != String.self else { throw unsupportedType(.string, "raw_data") }
        var out = ContiguousArray<T>(repeating: T.zero, count: count)
        if count > 0 {
            out.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
        }
        return T.wrap(out)
    }
}

extension LittleEndianReader {
    func unpack<N: NarrowElement>(_ type: N.Type, perByte: Int, mask: UInt8, bitWidth: Int) -> TensorStorage {
        var out = ContiguousArray<N>()
        out.reserveCapacity(count)
        for i in 0..<count {
            out.append(N(bitPattern: (raw[i / perByte] >> UInt8((i % perByte) * bitWidth)) & mask))
        }
        return N.wrap(out)
    }
}

private struct RawBytesVisitor: ElementVisitor {
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> TensorBytes {
        let bitWidth = T.dataType.bitWidth
        if bitWidth < 8, let narrow = e as? any NarrowArray {
            return TensorBytes(narrow.packed(bitWidth: bitWidth))
        }
        return e.withUnsafeBytes { TensorBytes(copying: $0) }
    }
}

/// Packs narrow elements into `raw_data` bytes, low bits first.
private protocol NarrowArray {
    func packed(bitWidth: Int) -> [UInt8]
}

extension ContiguousArray: NarrowArray where Element: NarrowElement {
    func packed(bitWidth: Int) -> [UInt8] {
        let perByte = 8 / bitWidth
        var bytes = [UInt8](repeating: 0, count: (count + perByte - 1) / perByte)
        for (i, e) in enumerated() { bytes[i / perByte] |= e.bitPattern << UInt8((i % perByte) * bitWidth) }
        return bytes
    }
}
