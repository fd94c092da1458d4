/// A constant tensor: an initializer, an attribute value, or the values/indices of a sparse tensor.
///
/// Tensors are values. Their payload (`storage`) shares bytes rather than copying them: a tensor read
/// from a file keeps a slice of the memory-mapped file, and writing it streams that slice back out.
public struct Tensor: Hashable, Sendable, CustomStringConvertible {
    /// The payload, in the ONNX field it was (or will be) stored in.
    public enum Storage: Hashable, Sendable {
        /// `raw_data`: little-endian packed elements (also the bytes of external data).
        case raw(TensorBytes)
        case floatData(ContiguousArray<Float>)
        case int32Data(ContiguousArray<Int32>)
        case int64Data(ContiguousArray<Int64>)
        case doubleData(ContiguousArray<Double>)
        case uint64Data(ContiguousArray<UInt64>)
        case stringData([[UInt8]])
        /// No data field at all (a zero-size tensor, or data not present).
        case none
    }

    public struct Segment: Hashable, Sendable {
        public var begin: Int64?
        public var end: Int64?
        public var preserved = PreservedFields()
        public init(begin: Int64?, end: Int64?) { self.begin = begin; self.end = end }
    }

    public var name: String
    public var dataType: DataType
    public var dims: [Int64]
    public var storage: Storage
    /// Set when the tensor's payload lives in an external file: the `external_data` entries as read
    /// (location, offset, length, checksum, ...), in order. `storage` then holds the mapped bytes.
    public var externalData: [StringPair]?
    /// The raw `data_location` field when present (0 default, 1 external).
    public var dataLocation: Int32?
    public var docString: String
    public var segment: Segment?
    public var metadata: [StringPair]
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(name: String = "", dataType: DataType, dims: [Int64], storage: Storage) {
        self.name = name
        self.dataType = dataType
        self.dims = dims
        self.storage = storage
        self.externalData = nil
        self.dataLocation = nil
        self.docString = ""
        self.segment = nil
        self.metadata = []
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }

    /// Builds a float32 tensor stored as `raw_data`.
    public static func float32(_ values: [Float], dims: [Int64], name: String = "") -> Tensor {
        let bytes = values.withUnsafeBytes { TensorBytes($0) }
        return Tensor(name: name, dataType: .float, dims: dims, storage: .raw(bytes))
    }

    /// Builds an int64 tensor stored as `raw_data`.
    public static func int64(_ values: [Int64], dims: [Int64], name: String = "") -> Tensor {
        let bytes = values.withUnsafeBytes { TensorBytes($0) }
        return Tensor(name: name, dataType: .int64, dims: dims, storage: .raw(bytes))
    }

    /// Number of elements: the product of `dims`; nil when a dimension is negative or the product
    /// overflows (a corrupt or hostile file).
    public var elementCount: Int64? {
        var n: Int64 = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// Bytes the elements take in `raw_data` layout (packed for sub-byte types); for strings, the
    /// total length of the stored strings. Nil when `elementCount` is.
    public var dataByteCount: Int64? {
        if dataType == .string {
            if case .stringData(let s) = storage { return Int64(s.reduce(0) { $0 + $1.count }) }
            return 0
        }
        guard let n = elementCount else { return nil }
        let (bits, overflow) = n.multipliedReportingOverflow(by: Int64(dataType.bitWidth))
        return overflow ? nil : (bits + 7) / 8
    }

    /// Whether the payload came from (and by default goes back to) an external file.
    public var isExternal: Bool { externalData != nil }

    /// Size of the payload in bytes as stored.
    public var payloadByteCount: Int {
        switch storage {
        case .raw(let b): return b.count
        case .floatData(let a): return a.count * 4
        case .int32Data(let a): return a.count * 4
        case .int64Data(let a): return a.count * 8
        case .doubleData(let a): return a.count * 8
        case .uint64Data(let a): return a.count * 8
        case .stringData(let s): return s.reduce(0) { $0 + $1.count }
        case .none: return 0
        }
    }

    /// Value of the external-data key `key` (`location`, `offset`, `length`, `checksum`).
    public func externalValue(_ key: String) -> String? {
        externalData?.first { $0.key == key }?.value
    }

    public var description: String {
        "Tensor(\(name.isEmpty ? "<unnamed>" : name): \(dataType)\(dims))"
    }
}

/// A sparse tensor (COO): `values` at `indices` in a tensor of shape `dims`.
public struct SparseTensor: Hashable, Sendable {
    public var values: Tensor?
    public var indices: Tensor?
    public var dims: [Int64]
    public var preserved: PreservedFields

    public init(values: Tensor?, indices: Tensor?, dims: [Int64]) {
        self.values = values
        self.indices = indices
        self.dims = dims
        self.preserved = PreservedFields()
    }

    /// The name of the sparse tensor is the name of its values tensor.
    public var name: String { values?.name ?? "" }
}
