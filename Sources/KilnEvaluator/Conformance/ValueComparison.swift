import KilnIR

/// Compares a computed value with an expected one the way ONNX's backend tests do:
/// `numpy.testing.assert_allclose(expected, actual, rtol, atol)` for floating-point tensors (NaN
/// equals NaN, infinities must match), exact equality for integers, bools and strings; data types
/// and shapes must match.
public struct Tolerance: Sendable, Codable {
    public var rtol: Double
    public var atol: Double
    public init(rtol: Double = 1e-3, atol: Double = 1e-7) { self.rtol = rtol; self.atol = atol }
    public static let onnx = Tolerance()
}

public enum ValueComparison {
    /// Nil when `actual` matches `expected`, otherwise what differs.
    public static func mismatch(expected: RuntimeValue, actual: RuntimeValue, tolerance: Tolerance = .onnx) -> String? {
        switch (expected, actual) {
        case (.tensor(let e), .tensor(let a)):
            return mismatch(expected: e, actual: a, tolerance: tolerance)
        case (.sequence(let es, _), .sequence(let as_, _)):
            guard es.count == as_.count else { return "sequence has \(as_.count) elements, expected \(es.count)" }
            for (i, (e, a)) in zip(es, as_).enumerated() {
                if let m = mismatch(expected: e, actual: a, tolerance: tolerance) { return "sequence element \(i): \(m)" }
            }
            return nil
        case (.optional(let e, _), .optional(let a, _)):
            switch (e, a) {
            case (nil, nil): return nil
            case (let e?, let a?): return mismatch(expected: e, actual: a, tolerance: tolerance)
            default: return "optional is \(a == nil ? "empty" : "set"), expected \(e == nil ? "empty" : "set")"
            }
        case (.optional(let e?, _), let a), (let e, .optional(let a?, _)):
            return mismatch(expected: e, actual: a, tolerance: tolerance)
        default:
            return "got \(actual), expected \(expected)"
        }
    }

    public static func mismatch(expected e: TensorValue, actual a: TensorValue, tolerance: Tolerance) -> String? {
        guard e.dataType == a.dataType else { return "data type \(a.dataType.name), expected \(e.dataType.name)" }
        guard e.shape == a.shape else { return "shape \(a.shape), expected \(e.shape)" }
        if e.dataType.isFloatingPoint {
            let ev = e.doubles, av = a.doubles
            var worst: (index: Int, excess: Double)?
            var bad = 0
            for i in 0..<ev.count {
                let x = ev[i], y = av[i]
                if x.isNaN || y.isNaN {
                    if x.isNaN != y.isNaN { bad += 1; if worst == nil { worst = (i, .infinity) } }
                    continue
                }
                if x.isInfinite || y.isInfinite {
                    if x != y { bad += 1; if worst == nil { worst = (i, .infinity) } }
                    continue
                }
                let excess = abs(x - y) - (tolerance.atol + tolerance.rtol * abs(x))
                if excess > 0 {
                    bad += 1
                    if worst == nil || excess > worst!.excess { worst = (i, excess) }
                }
            }
            if let w = worst {
                return "\(bad) of \(ev.count) elements differ beyond rtol \(tolerance.rtol), atol \(tolerance.atol); e.g. at \(w.index): \(av[w.index]), expected \(ev[w.index])"
            }
            return nil
        }
        if case .string(let es) = e.storage, case .string(let as_) = a.storage {
            if let i = es.indices.first(where: { es[$0] != as_[$0] }) {
                return "element \(i) is \"\(as_[i])\", expected \"\(es[i])\""
            }
            return nil
        }
        let ev = e.int64s, av = a.int64s
        if let i = (0..<ev.count).first(where: { ev[$0] != av[$0] }) {
            return "element \(i) is \(av[i]), expected \(ev[i]) (exact comparison)"
        }
        return nil
    }
}
