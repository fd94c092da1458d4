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

    /// All fields live in one copy-on-write box: copying a tensor is one reference-count increment,
    /// however many fields it has (tensors are copied into and out of values, attributes and
    /// kernels all the time).
    final class Fields: @unchecked Sendable {
        var name: String
        var dataType: DataType
        var dims: [Int64]
        var storage: Storage
        var externalData: [StringPair]?
        var dataLocation: Int32?
        var docString: String
        var segment: Segment?
        var metadata: [StringPair]
        var presence: FieldPresence
        var preserved: PreservedFields

        init(name: String, dataType: DataType, dims: [Int64], storage: Storage) {
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

        func copy() -> Fields {
            let c = Fields(name: name, dataType: dataType, dims: dims, storage: storage)
            c.externalData = externalData
            c.dataLocation = dataLocation
            c.docString = docString
            c.segment = segment
            c.metadata = metadata
            c.presence = presence
            c.preserved = preserved
            return c
        }
    }

    private var fields: Fields

    /// Makes the box unique before a write (copy-on-write).
    private mutating func unique() -> Fields {
        if !isKnownUniquelyReferenced(&fields) { fields = fields.copy() }
        return fields
    }

    public var name: String {
        get { fields.name }
        set { unique().name = newValue }
    }
    public var dataType: DataType {
        get { fields.dataType }
        set { unique().dataType = newValue }
    }
    public var dims: [Int64] {
        get { fields.dims }
        set { unique().dims = newValue }
    }
    public var storage: Storage {
        get { fields.storage }
        set { unique().storage = newValue }
    }
    /// Set when the tensor's payload lives in an external file: the `external_data` entries as read
    /// (location, offset, length, checksum, ...), in order. `storage` then holds the mapped bytes.
    public var externalData: [StringPair]? {
        get { fields.externalData }
        set { unique().externalData = newValue }
    }
    /// The raw `data_location` field when present (0 default, 1 external).
    public var dataLocation: Int32? {
        get { fields.dataLocation }
        set { unique().dataLocation = newValue }
    }
    public var docString: String {
        get { fields.docString }
        set { unique().docString = newValue }
    }
    public var segment: Segment? {
        get { fields.segment }
        set { unique().segment = newValue }
    }
    public var metadata: [StringPair] {
        get { fields.metadata }
        set { unique().metadata = newValue }
    }
    public var presence: FieldPresence {
        get { fields.presence }
        set { unique().presence = newValue }
    }
    public var preserved: PreservedFields {
        get { fields.preserved }
        set { unique().preserved = newValue }
    }

    public init(name: String = "", dataType: DataType, dims: [Int64], storage: Storage) {
        self.fields = Fields(name: name, dataType: dataType, dims: dims, storage: storage)
    }

    /// Whether `other` is this very tensor (shares its fields, as a copy never edited does): a
    /// constant-time test, stronger than `==`.
    public func isIdentical(to other: Tensor) -> Bool { fields === other.fields }

    public static func == (a: Tensor, b: Tensor) -> Bool {
        if a.fields === b.fields { return true }
        return a.name == b.name && a.dataType == b.dataType && a.dims == b.dims && a.storage == b.storage
            && a.externalData == b.externalData && a.dataLocation == b.dataLocation && a.docString == b.docString
            && a.segment == b.segment && a.metadata == b.metadata && a.presence == b.presence
            && a.preserved == b.preserved
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(dataType)
        hasher.combine(dims)
        hasher.combine(storage)
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
    public var elementCount: Int64? { checkedElementCount(dims) }

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
