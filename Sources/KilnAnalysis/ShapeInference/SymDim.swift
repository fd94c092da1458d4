import KilnIR

/// A dimension during shape inference: unknown, or a polynomial with integer coefficients over
/// named symbols (`batch`, `seq`). Constants, symbols and the expressions exporters produce
/// (`2*seq`, `seq+1`, `batch*seq`, `a+b`) are all polynomials, kept in a canonical form so that
/// equal expressions compare equal.
///
/// Rules:
/// 1. A term is a coefficient times a sorted product of symbols (a monomial); a polynomial is a
///    sum of terms with distinct monomials and non-zero coefficients; the constant term has the
///    empty monomial.
/// 2. `+`, `-`, `*` are exact. Division by a constant is exact only when it divides every
///    coefficient; otherwise the result is unknown. Any arithmetic with unknown is unknown.
/// 3. A dim_param read from a model is one opaque symbol, never parsed: `2*seq` written by an
///    exporter stays the symbol "2*seq" (it then matches itself).
/// 4. Written back, a constant becomes `dim_value`, anything else `dim_param` with the printed form
///    (`2*seq+1`, `batch*seq`); terms print in a stable order (higher degree first, then by name).
public struct SymDim: Hashable, Sendable, CustomStringConvertible {
    // Storage, normalized so that equal dimensions are equal values (rule 1): a polynomial whose
    // only term is the constant one is always stored as a constant, so the common case (a
    // constant dimension) allocates nothing and compares as one integer. Unknown: both nil.
    // (Two optionals rather than an enum with a payload: with that enum, Swift 6.3's release
    // optimizer crashes in CopyPropagation on a ConvolutionRules closure.)

    /// The value when the dimension is a constant.
    public let constantValue: Int64?
    /// The terms of a non-constant polynomial: at least one non-empty monomial, no zero coefficient.
    private let polynomial: [[String]: Int64]?

    /// Monomial (sorted symbol names, with repeats for powers) -> coefficient. `nil`: unknown.
    public var terms: [[String]: Int64]? {
        if let c = constantValue { return c == 0 ? [:] : [[]: c] }
        return polynomial
    }

    init(terms: [[String]: Int64]?) {
        guard let terms else { self.init(constant: nil, polynomial: nil); return }
        let t = terms.filter { $0.value != 0 }
        if t.isEmpty {
            self.init(constant: 0, polynomial: nil)
        } else if t.count == 1, let c = t[[]] {
            self.init(constant: c, polynomial: nil)
        } else {
            self.init(constant: nil, polynomial: t)
        }
    }

    private init(constant: Int64?, polynomial: [[String]: Int64]?) {
        self.constantValue = constant
        self.polynomial = polynomial
    }

    public static let unknown = SymDim(constant: nil, polynomial: nil)

    public static func constant(_ v: Int64) -> SymDim { SymDim(constant: v, polynomial: nil) }

    public static func symbol(_ name: String) -> SymDim { SymDim(constant: nil, polynomial: [[name]: 1]) }

    public init(_ dim: Dim) {
        switch dim {
        case .value(let v): self = .constant(v)
        case .symbol(let s): self = s.isEmpty ? .unknown : .symbol(s)
        case .unknown: self = .unknown
        }
    }

    public var isUnknown: Bool { constantValue == nil && polynomial == nil }

    /// The IR dimension: a value, a symbol named by the printed expression, or unknown.
    public var dim: Dim {
        if let c = constantValue { return .value(c) }
        if polynomial == nil { return .unknown }
        return .symbol(description)
    }

    public var description: String {
        if let c = constantValue { return String(c) }
        guard let t = polynomial else { return "?" }
        return Self.describe(t)
    }

    private static func describe(_ t: [[String]: Int64]) -> String {
        let ordered = t.sorted { a, b in
            if a.key.count != b.key.count { return a.key.count > b.key.count }
            return a.key.lexicographicallyPrecedes(b.key)
        }
        var out = ""
        for (i, (mono, coef)) in ordered.enumerated() {
            var c = coef
            if i > 0 { out += c < 0 ? "-" : "+" ; c = abs(c) }
            else if c < 0 && !mono.isEmpty && c == -1 { out += "-"; c = 1 }
            if mono.isEmpty { out += String(c); continue }
            if c != 1 { out += "\(c)*" }
            out += mono.joined(separator: "*")
        }
        return out
    }

    // MARK: Arithmetic (rule 2)

    public static func + (a: SymDim, b: SymDim) -> SymDim {
        if let p = a.constantValue, let q = b.constantValue {
            let (s, o) = p.addingReportingOverflow(q)
            return o ? .unknown : .constant(s)
        }
        guard var x = a.terms, let y = b.terms else { return .unknown }
        for (m, c) in y {
            let (s, o) = x[m, default: 0].addingReportingOverflow(c)
            if o { return .unknown }
            x[m] = s
        }
        return SymDim(terms: x)
    }

    public static prefix func - (a: SymDim) -> SymDim {
        if let c = a.constantValue { return .constant(0 &- c) }
        guard let x = a.terms else { return .unknown }
        return SymDim(terms: x.mapValues { 0 &- $0 })
    }

    public static func - (a: SymDim, b: SymDim) -> SymDim { a + (-b) }

    public static func * (a: SymDim, b: SymDim) -> SymDim {
        if let p = a.constantValue, let q = b.constantValue {
            let (m, o) = p.multipliedReportingOverflow(by: q)
            return o ? .unknown : .constant(m)
        }
        guard let x = a.terms, let y = b.terms else { return .unknown }
        var out: [[String]: Int64] = [:]
        for (m1, c1) in x {
            for (m2, c2) in y {
                let (p, o) = c1.multipliedReportingOverflow(by: c2)
                if o { return .unknown }
                let m = (m1 + m2).sorted()
                let (s, o2) = out[m, default: 0].addingReportingOverflow(p)
                if o2 { return .unknown }
                out[m] = s
            }
        }
        return SymDim(terms: out)
    }

    /// Exact division: by a constant dividing every coefficient, or of a product by one of its
    /// factors (`batch*seq / seq`); unknown otherwise.
    public static func / (a: SymDim, b: SymDim) -> SymDim {
        guard let x = a.terms, let y = b.terms else { return .unknown }
        if let d = b.constantValue {
            guard d != 0, x.values.allSatisfy({ $0 % d == 0 }) else { return .unknown }
            return SymDim(terms: x.mapValues { $0 / d })
        }
        // Single-term divisor c*m: divide each term whose monomial contains m.
        guard y.count == 1, let (mono, coef) = y.first else { return .unknown }
        var out: [[String]: Int64] = [:]
        for (m, c) in x {
            guard c % coef == 0, let rest = removing(mono, from: m) else { return .unknown }
            out[rest, default: 0] += c / coef
        }
        return SymDim(terms: out)
    }

    /// Floor division by a positive constant, for pooling and convolution output sizes; exact on
    /// constants, exact division otherwise.
    public func floorDiv(_ d: Int64) -> SymDim {
        guard d > 0 else { return .unknown }
        if let c = constantValue {
            let q = c / d
            return .constant((c % d != 0 && c < 0) ? q - 1 : q)
        }
        return self / .constant(d)
    }

    /// Ceiling division by a positive constant.
    public func ceilDiv(_ d: Int64) -> SymDim {
        guard d > 0 else { return .unknown }
        return (self + .constant(d - 1)).floorDiv(d)
    }

    private static func removing(_ factor: [String], from m: [String]) -> [String]? {
        var rest = m
        for f in factor {
            guard let i = rest.firstIndex(of: f) else { return nil }
            rest.remove(at: i)
        }
        return rest
    }
}

extension SymDim: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .constant(value) }
}

extension Array where Element == SymDim {
    /// The product of the dimensions (1 for none).
    var product: SymDim { reduce(SymDim.constant(1), *) }
}
