/// Protobuf fields that the IR does not model, kept as raw wire bytes so that writing a model back
/// gives the same message: unknown fields (from newer ONNX versions or private extensions) and rarely
/// used known fields modeled opaquely (device configurations, sharding specs).
///
/// The bytes are a sequence of complete protobuf fields (tag + payload). Passes never look inside.
public struct PreservedFields: Hashable, Sendable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    public var isEmpty: Bool { bytes.isEmpty }
}

/// Records proto2 optional fields that were present in the input with their default value
/// (`doc_string: ""`, `domain: ""`, `i: 0`), so that writing keeps field presence exactly.
///
/// Bit `n` stands for field number `n` of the message the owner was decoded from. The IR itself uses
/// plain values with ONNX defaults; only the codec reads this.
public struct FieldPresence: Hashable, Sendable {
    public var bits: UInt64

    public init(bits: UInt64 = 0) { self.bits = bits }

    public func contains(field number: Int) -> Bool {
        number < 64 && bits & (1 << UInt64(number)) != 0
    }

    public mutating func insert(field number: Int) {
        if number < 64 { bits |= 1 << UInt64(number) }
    }

    public mutating func remove(field number: Int) {
        if number < 64 { bits &= ~(1 << UInt64(number)) }
    }
}

/// A `key: value` string pair, as in ONNX `metadata_props` and `external_data`.
public struct StringPair: Hashable, Sendable {
    public var key: String
    public var value: String
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }
}
