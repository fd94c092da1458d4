import KilnIR
import KilnEvaluator

/// Checks a model made dynamic by `DynamicAxes.makeDynamic` by running the evaluator.
///
/// Rules:
/// 1. Inputs are seeded pseudo-random (floats in [-1, 1), integers 0, booleans false); a dim is
///    the size chosen for its symbol, else the original's static dim at that place, else 1.
/// 2. At the old sizes the rewritten model gives the original's outputs (rtol 1e-4, atol 1e-5).
/// 3. For each new symbol (old size N), the rewritten model runs at a second size (4 when N is 1,
///    else N + 1, odd so a wrongly placed -1 shows); every output dim typed with the symbol has
///    that size at run time.
/// 4. Batch-independence: when N is 1 and the symbol sits only on axis 0 of every input and output
///    that has it, the run at size 4 equals 4 runs of the original at size 1, concatenated.
/// Any evaluator error or mismatch throws `checkFailed` saying which check and which output.
public enum AxesVerification {
    public static let rtol = 1e-4
    public static let atol = 1e-5

    /// Runs the checks; returns one line per check that passed.
    public static func run(original: Model, rewritten: Model, oldSizes: [String: Int64]) throws -> [String] {
        var lines: [String] = []
        let base = oldSizes
        let inputs = try makeInputs(rewritten, original: original, sizes: base)
        // Rule 2.
        let expected = try evaluate(original, inputs, what: "the original at the old sizes")
        let got = try evaluate(rewritten, inputs, what: "the rewritten model at the old sizes")
        try compare(expected, got, names: outputNames(rewritten), what: "at the old sizes")
        lines.append("old sizes (\(describe(base))): outputs equal the original's")
        for (symbol, n) in oldSizes.sorted(by: { $0.key < $1.key }) {
            // Rule 3.
            let k: Int64 = n == 1 ? 4 : n + 1
            var sizes = base
            sizes[symbol] = k
            let xs = try makeInputs(rewritten, original: original, sizes: sizes)
            let ys = try evaluate(rewritten, xs, what: "the rewritten model at \(symbol)=\(k)")
            let g = rewritten.graph
            for (i, out) in g.outputs.enumerated() where i < ys.count {
                guard let dims = g[value: out].type?.tensorShape?.dims else { continue }
                for (a, d) in dims.enumerated() where d == .symbol(symbol) {
                    guard a < ys[i].shape.count, ys[i].shape[a] == Int(k) else {
                        throw KilnError(.checkFailed, "verification failed: at \(symbol)=\(k) output '\(g.name(of: out))' has shape \(ys[i].shape), axis \(a) should be \(k)")
                    }
                }
            }
            lines.append("\(symbol)=\(k): runs, outputs carry the size")
            // Rule 4.
            guard n == 1, onlyLeading(symbol, rewritten) else { continue }
            var parts: [[TensorValue]] = []
            for b in 0..<Int(k) {
                let item = xs.mapValues { Self.slice($0, b, of: Int(k)) }
                parts.append(try evaluate(original, item, what: "the original on batch item \(b)"))
            }
            let joined = (0..<ys.count).map { j in concat(parts.map { $0[j] }) }
            try compare(joined, ys, names: outputNames(rewritten), what: "at \(symbol)=\(k) against \(k) runs at \(symbol)=1")
            lines.append("\(symbol)=\(k): equals \(k) runs of the original at \(symbol)=1, concatenated")
        }
        return lines
    }

    static func describe(_ sizes: [String: Int64]) -> String {
        sizes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    static func outputNames(_ m: Model) -> [String] { m.graph.outputs.map { m.graph.name(of: $0) } }

    static func evaluate(_ model: Model, _ inputs: [String: TensorValue], what: String) throws -> [TensorValue] {
        do {
            let outs = try Evaluator(model: model).run(inputs.mapValues { .tensor($0) })
            return try outs.map { v in
                guard let t = v.tensor else { throw KilnError(.checkFailed, "an output is not a tensor") }
                return t
            }
        } catch let e as KilnError {
            throw KilnError(.checkFailed, "verification failed running \(what): \(e.message)")
        }
    }

    /// Rule 1.
    static func makeInputs(_ model: Model, original: Model, sizes: [String: Int64]) throws -> [String: TensorValue] {
        let g = model.graph, o = original.graph
        var out: [String: TensorValue] = [:]
        for (index, id) in g.inputs.enumerated() where !g.isConstant(id) {
            let name = g.name(of: id)
            guard let type = g[value: id].type, let elem = type.tensorElementType, let dims = type.tensorShape?.dims else {
                throw KilnError(.checkFailed, "verification: input '\(name)' has no known tensor shape")
            }
            let origDims = o.valueID(named: name).flatMap { o[value: $0].type?.tensorShape?.dims }
            let shape: [Int] = dims.enumerated().map { a, d in
                if case .symbol(let s) = d, let v = sizes[s] { return Int(v) }
                if let v = d.staticValue { return Int(v) }
                if let od = origDims, a < od.count, let v = od[a].staticValue { return Int(v) }
                return 1
            }
            let count = shape.reduce(1, *)
            var state = UInt64(0x9E37_79B9_7F4A_7C15) &* UInt64(index + 1)
            switch elem {
            case .float:
                var xs = [Float](repeating: 0, count: count)
                for i in xs.indices {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    xs[i] = Float(Double(state >> 11) / Double(1 << 53) * 2 - 1)
                }
                out[name] = TensorValue(shape: shape, xs)
            case .double:
                var xs = [Double](repeating: 0, count: count)
                for i in xs.indices {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    xs[i] = Double(state >> 11) / Double(1 << 53) * 2 - 1
                }
                out[name] = TensorValue(shape: shape, xs)
            case .int64: out[name] = TensorValue(shape: shape, [Int64](repeating: 0, count: count))
            case .int32: out[name] = TensorValue(shape: shape, [Int32](repeating: 0, count: count))
            case .bool: out[name] = TensorValue(shape: shape, [Bool](repeating: false, count: count))
            default:
                throw KilnError(.checkFailed, "verification: input '\(name)' has element type \(elem), which it cannot generate; use --no-verify")
            }
        }
        return out
    }

    /// Whether `symbol` appears only on axis 0 of the inputs and outputs, and on every output.
    static func onlyLeading(_ symbol: String, _ model: Model) -> Bool {
        let g = model.graph
        for id in g.inputs + g.outputs {
            guard let dims = g[value: id].type?.tensorShape?.dims else { return false }
            if dims.dropFirst().contains(.symbol(symbol)) { return false }
            if g.isGraphOutput(id) && dims.first != .symbol(symbol) { return false }
        }
        return true
    }

    /// Item `b` of `k` along axis 0 (axis 0 splits the row-major storage into equal chunks).
    static func slice(_ t: TensorValue, _ b: Int, of k: Int) -> TensorValue {
        var shape = t.shape
        shape[0] /= k
        let n = shape.reduce(1, *)
        switch t.dataType {
        case .float: return TensorValue(shape: shape, Array(t.elements(as: Float.self)![(b * n)..<((b + 1) * n)]))
        case .double: return TensorValue(shape: shape, Array(t.elements(as: Double.self)![(b * n)..<((b + 1) * n)]))
        case .int64: return TensorValue(shape: shape, Array(t.elements(as: Int64.self)![(b * n)..<((b + 1) * n)]))
        case .int32: return TensorValue(shape: shape, Array(t.elements(as: Int32.self)![(b * n)..<((b + 1) * n)]))
        default: return TensorValue(shape: shape, Array(t.elements(as: Bool.self)![(b * n)..<((b + 1) * n)]))
        }
    }

    /// Concatenation along axis 0, as doubles (only compared, never run).
    static func concat(_ parts: [TensorValue]) -> TensorValue {
        var shape = parts[0].shape
        shape[0] = parts.reduce(0) { $0 + ($1.shape.first ?? 1) }
        return TensorValue(shape: shape, parts.flatMap(\.doubles))
    }

    static func compare(_ expected: [TensorValue], _ got: [TensorValue], names: [String], what: String) throws {
        guard expected.count == got.count else {
            throw KilnError(.checkFailed, "verification failed \(what): \(got.count) outputs, expected \(expected.count)")
        }
        for (i, (e, g)) in zip(expected, got).enumerated() {
            let name = i < names.count ? names[i] : "#\(i)"
            guard e.shape == g.shape else {
                throw KilnError(.checkFailed, "verification failed \(what): output '\(name)' has shape \(g.shape), expected \(e.shape)")
            }
            for (j, (u, v)) in zip(e.doubles, g.doubles).enumerated() where !(abs(u - v) <= atol + rtol * abs(u)) && !(u.isNaN && v.isNaN) {
                throw KilnError(.checkFailed, "verification failed \(what): output '\(name)' element \(j) is \(v), expected \(u)")
            }
        }
    }
}
