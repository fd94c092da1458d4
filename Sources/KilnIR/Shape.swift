/// One dimension of a shape: a known size, a named symbol (`batch`, `seq`), or unknown.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case value(Int64)
    case symbol(String)
    case unknown

    public var staticValue: Int64? {
        if case .value(let v) = self { return v }
        return nil
    }

    public var description: String {
        switch self {
        case .value(let v): return String(v)
        case .symbol(let s): return s
        case .unknown: return "?"
        }
    }
}

/// A tensor shape. A `nil` `Shape?` means the rank is unknown; an empty `dims` is a scalar.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public var dims: [Dim]
    /// Per-dimension denotations (`DATA_BATCH`, ...) when any is present; `nil` otherwise.
    public var denotations: [String?]?
    /// Unmodeled protobuf fields kept for lossless writing.
    public var preserved: PreservedFields
    /// Per-dimension preserved fields (kept only when some dimension had any).
    public var dimPreserved: [PreservedFields]?

    public init(_ dims: [Dim], denotations: [String?]? = nil) {
        self.dims = dims
        self.denotations = denotations
        self.preserved = PreservedFields()
        self.dimPreserved = nil
    }

    public init(static values: [Int64]) {
        self.init(values.map { .value($0) })
    }

    public var rank: Int { dims.count }

    /// The dimensions as integers when every one is known.
    public var staticValues: [Int64]? {
        var out: [Int64] = []
        out.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.staticValue else { return nil }
            out.append(v)
        }
        return out
    }

    /// Number of elements when static.
    public var elementCount: Int64? {
        staticValues.flatMap(checkedElementCount)
    }

    public var description: String {
        "[" + dims.map(\.description).joined(separator: ", ") + "]"
    }
}

/// The product of `dims`, or nil when one is negative or the product overflows (a corrupt or
/// hostile file must not trap).
func checkedElementCount(_ dims: [Int64]) -> Int64? {
    var n: Int64 = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        n = p
    }
    return n
}
