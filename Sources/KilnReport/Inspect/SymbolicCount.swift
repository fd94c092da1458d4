import KilnIR

/// A count that may depend on symbolic dimensions: a polynomial with one term per product of
/// symbols (`4.1G*batch + 12M`). Unknown dimensions make it `unknown`.
public struct SymbolicCount: Sendable, Equatable, Encodable {
    /// Monomial (symbols joined by `*`, sorted; `""` for the constant term) -> coefficient.
    public internal(set) var terms: [String: Double]
    public internal(set) var unknown: Bool

    public init(_ constant: Double = 0) {
        terms = constant == 0 ? [:] : ["": constant]
        unknown = false
    }

    public static let one = SymbolicCount(1)
    public static var unknownCount: SymbolicCount { var c = SymbolicCount(); c.unknown = true; return c }

    /// The product of `dims`.
    public static func product(_ dims: [Dim]) -> SymbolicCount {
        var c = SymbolicCount.one
        for d in dims { c = c * d }
        return c
    }

    public static func * (a: SymbolicCount, d: Dim) -> SymbolicCount {
        switch d {
        case .value(let v): return a * Double(v)
        case .symbol(let s):
            var out = SymbolicCount()
            out.unknown = a.unknown
            for (k, v) in a.terms {
                let key = (k.isEmpty ? [s] : (k.split(separator: "*").map(String.init) + [s])).sorted().joined(separator: "*")
                out.terms[key, default: 0] += v
            }
            return out
        case .unknown: return .unknownCount
        }
    }

    public static func * (a: SymbolicCount, k: Double) -> SymbolicCount {
        var out = a
        if k == 0 { out.terms = [:] } else { for key in out.terms.keys { out.terms[key]! *= k } }
        return out
    }

    public static func + (a: SymbolicCount, b: SymbolicCount) -> SymbolicCount {
        var out = a
        out.unknown = a.unknown || b.unknown
        for (k, v) in b.terms { out.terms[k, default: 0] += v }
        return out
    }

    public static func += (a: inout SymbolicCount, b: SymbolicCount) { a = a + b }

    /// The value when no symbol is involved.
    public var staticValue: Double? {
        guard !unknown else { return nil }
        if terms.isEmpty { return 0 }
        return terms.count == 1 ? terms[""] : nil
    }

    /// The value with every symbol set to `value` (for ordering).
    func magnitude(symbolValue: Double = 1) -> Double {
        terms.reduce(0) { acc, t in
            let degree = t.key.isEmpty ? 0 : t.key.split(separator: "*").count
            return acc + t.value * pow(symbolValue, Double(degree))
        }
    }

    /// `4.1G*batch + 12M`, `?` when unknown (`>= ...` when partly known).
    public var text: String {
        let ordered = terms.filter { $0.value != 0 }.sorted { x, y in
            let dx = x.key.isEmpty ? 0 : x.key.split(separator: "*").count
            let dy = y.key.isEmpty ? 0 : y.key.split(separator: "*").count
            return dx != dy ? dx > dy : x.key < y.key
        }
        let body = ordered.isEmpty ? "0" : ordered.map { k, v in
            k.isEmpty ? Self.si(v) : "\(Self.si(v))*\(k)"
        }.joined(separator: " + ")
        return unknown ? (ordered.isEmpty ? "?" : ">= " + body) : body
    }

    static func si(_ v: Double) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
        for (scale, suffix) in units where abs(v) >= scale {
            let x = (v / scale * 10).rounded() / 10
            return (x == x.rounded() ? String(Int(x)) : String(x)) + suffix
        }
        return v == v.rounded() ? String(Int(v)) : String((v * 100).rounded() / 100)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

private func pow(_ x: Double, _ n: Double) -> Double {
    var r = 1.0
    for _ in 0..<Int(n) { r *= x }
    return r
}
