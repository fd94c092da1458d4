import KilnIR
import KilnEvaluator

/// Runs two models on the same inputs and compares their outputs and every pair of intermediate
/// values the alignment matched, like a layer-wise comparison: the report names the first value, in
/// A's graph order, where the two diverge beyond tolerance.
///
/// Rules:
/// 1. A value passes when every element satisfies `|a - b| <= atol + rtol * |b|` (NaN equal to NaN);
///    integers and bools must be equal. Shapes must agree.
/// 2. Random inputs are seeded: floats uniform in [-1, 1), integers in [0, 2), bools alternating.
///    Every dynamic dimension (a symbol or unknown) gets the same size for the same symbol within a
///    run; each run uses the next size from `sizes` (default 2, then 3), so a model that bakes a
///    dimension into a constant fails on at least one of them.
/// 3. Intermediates compared are the outputs of paired nodes, slot by slot, when both models
///    produced them (a value folded into a constant in one model is not observed there); a pair
///    whose shapes differ is not comparable and only counted (`intermediatesSkipped`).
public struct NumericDiff: Encodable, Sendable {
    public struct Comparison: Encodable, Sendable, Equatable {
        public var a: String
        public var b: String
        public var node: String?
        public var shapeA: [Int]
        public var shapeB: [Int]
        public var maxAbsDiff: Double
        public var maxRelDiff: Double
        public var cosine: Double
        public var withinTolerance: Bool
    }

    public struct Run: Encodable, Sendable {
        public var inputShapes: [String: [Int]]
        public var outputs: [Comparison]
        public var intermediatesCompared: Int
        public var intermediatesDiverged: Int
        /// Paired intermediates of different shapes (a rewrite changed the layout, e.g. a fused
        /// attention reads K untransposed): not comparable, so not counted as divergences.
        public var intermediatesSkipped: Int
        /// The first intermediate (in A's order) outside tolerance.
        public var firstDivergence: Comparison?
    }

    public var rtol: Double
    public var atol: Double
    public var runs: [Run]
    public var withinTolerance: Bool { runs.allSatisfy { $0.outputs.allSatisfy(\.withinTolerance) } }

    /// Compares `ma` and `mb`. `inputs`, when given, is used for one run instead of random inputs.
    public init(_ ma: Model, _ mb: Model, inputs: [String: RuntimeValue]? = nil, sizes: [Int] = [2, 3],
                rtol: Double = 1e-3, atol: Double = 1e-4, seed: UInt64 = 0, intermediates: Bool = true) throws {
        self.rtol = rtol
        self.atol = atol
        let ea = try Evaluator(model: ma), eb = try Evaluator(model: mb)
        let al = GraphAlignment(ma.graph, mb.graph)
        let labels = InspectHTML.nodeKeys(ma.graph)
        let pairs = intermediates ? Self.pairedValues(al, labels: labels) : []
        let sizeList = inputs == nil ? sizes : [0]
        var runs: [Run] = []
        for (r, size) in sizeList.enumerated() {
            let given = try inputs ?? Self.randomInputs(for: ma, size: size, seed: seed &+ UInt64(r))
            let recA = RecordingObserver(names: Set(pairs.map(\.0)))
            let recB = RecordingObserver(names: Set(pairs.map(\.1)))
            let outA = try ea.run(given, observer: intermediates ? recA : nil)
            let bInputs = given.filter { name, _ in eb.inputs.contains { $0.name == name } }
            let outB = try eb.run(bInputs, observer: intermediates ? recB : nil)
            var outputs: [Comparison] = []
            for k in 0..<min(outA.count, outB.count) {
                if let c = Self.compare(outA[k], outB[k], ea.outputNames[k], eb.outputNames[k], node: nil, rtol: rtol, atol: atol) { outputs.append(c) }
            }
            var compared = 0, diverged = 0, skipped = 0
            var first: Comparison?
            for (na, nb, label) in pairs {
                guard let va = recA.values[na], let vb = recB.values[nb],
                      let c = Self.compare(va, vb, na, nb, node: label, rtol: rtol, atol: atol) else { continue }
                if c.shapeA != c.shapeB { skipped += 1; continue }
                compared += 1
                if !c.withinTolerance {
                    diverged += 1
                    if first == nil { first = c }
                }
            }
            var shapes: [String: [Int]] = [:]
            for (k, v) in given { if let t = v.tensor { shapes[k] = t.shape } }
            runs.append(Run(inputShapes: shapes, outputs: outputs, intermediatesCompared: compared,
                            intermediatesDiverged: diverged, intermediatesSkipped: skipped, firstDivergence: first))
        }
        self.runs = runs
    }

    /// Intermediate values of A and B that should hold the same numbers, in A's order (rule 3):
    /// what paired consumers read at the same input slot (so the output of a fused Conv pairs with
    /// the BatchNormalization output it replaced), then the outputs of paired nodes not paired yet.
    static func pairedValues(_ al: GraphAlignment, labels: [NodeID: String]) -> [(String, String, String)] {
        let ga = al.a.graph, gb = al.b.graph
        var bOf: [ValueID: ValueID] = [:]
        var taken = Set<ValueID>()
        func link(_ va: ValueID, _ vb: ValueID) {
            guard bOf[va] == nil, !taken.contains(vb), ga.producer(of: va) != nil, gb.producer(of: vb) != nil else { return }
            bOf[va] = vb
            taken.insert(vb)
        }
        for x in al.a.order {
            guard let y = al.aToB[x] else { continue }
            let ix = ga[node: x].inputs, iy = gb[node: y].inputs
            for k in 0..<min(ix.count, iy.count) { if let va = ix[k], let vb = iy[k] { link(va, vb) } }
        }
        for (k, va) in ga.outputs.enumerated() where k < gb.outputs.count { link(va, gb.outputs[k]) }
        for x in al.a.order {
            guard let y = al.aToB[x] else { continue }
            let ox = ga[node: x].outputs, oy = gb[node: y].outputs
            for k in 0..<min(ox.count, oy.count) { if let va = ox[k], let vb = oy[k] { link(va, vb) } }
        }
        var out: [(String, String, String)] = []
        for x in al.a.order {
            for va in ga[node: x].outputs {
                guard let va, let vb = bOf[va] else { continue }
                out.append((ga.name(of: va), gb.name(of: vb), labels[x]!))
            }
        }
        return out
    }

    static func compare(_ x: RuntimeValue, _ y: RuntimeValue, _ na: String, _ nb: String, node: String?,
                        rtol: Double, atol: Double) -> Comparison? {
        guard let a = x.tensor, let b = y.tensor else { return nil }
        var c = Comparison(a: na, b: nb, node: node, shapeA: a.shape, shapeB: b.shape, maxAbsDiff: 0, maxRelDiff: 0,
                           cosine: 1, withinTolerance: a.shape == b.shape)
        guard a.shape == b.shape, a.dataType != .string, b.dataType != .string else {
            if a.shape != b.shape { c.maxAbsDiff = .infinity; c.maxRelDiff = .infinity; c.cosine = 0 }
            return c
        }
        let exact = !(a.dataType.isFloatingPoint && b.dataType.isFloatingPoint)
        let da = a.doubles, db = b.doubles
        var dot = 0.0, n1 = 0.0, n2 = 0.0
        for i in 0..<da.count {
            let p = da[i], q = db[i]
            if p.isNaN && q.isNaN { continue }
            let d = abs(p - q)
            let bad = exact ? p != q : !(d <= atol + rtol * abs(q))
            if bad { c.withinTolerance = false }
            if d > c.maxAbsDiff || d.isNaN { c.maxAbsDiff = d.isNaN ? .infinity : d }
            let rel = d / max(abs(q), 1e-12)
            if rel > c.maxRelDiff || rel.isNaN { c.maxRelDiff = rel.isNaN ? .infinity : rel }
            if p.isFinite && q.isFinite { dot += p * q; n1 += p * p; n2 += q * q }
        }
        c.cosine = n1 == 0 && n2 == 0 ? 1 : (n1 == 0 || n2 == 0 ? 0 : dot / (n1.squareRoot() * n2.squareRoot()))
        return c
    }

    /// Seeded random inputs for every required graph input of `model` (rule 2).
    public static func randomInputs(for model: Model, size: Int, seed: UInt64) throws -> [String: RuntimeValue] {
        var rng = SplitMix64(seed: seed)
        var symbols: [String: Int] = [:]
        var out: [String: RuntimeValue] = [:]
        let g = model.graph
        for id in g.inputs where !g.isConstant(id) {
            let v = g[value: id]
            guard let type = v.type, case .tensor(let e, let s) = type.kind, let dtype = e else {
                throw KilnError(.unsupported, "input '\(v.name)': random inputs need a tensor type with an element type")
            }
            guard let dims = s?.dims else {
                throw KilnError(.unsupported, "input '\(v.name)': random inputs need a known rank; pass inputs instead")
            }
            let shape = dims.map { d -> Int in
                switch d {
                case .value(let x): return Int(x)
                case .symbol(let name):
                    if let k = symbols[name] { return k }
                    symbols[name] = size
                    return size
                case .unknown: return size
                }
            }
            let n = shape.reduce(1, *)
            let t: TensorValue
            switch dtype {
            case .float: t = TensorValue(shape: shape, (0..<n).map { _ in Float(rng.unit() * 2 - 1) })
            case .double: t = TensorValue(shape: shape, (0..<n).map { _ in rng.unit() * 2 - 1 })
            case .int64: t = TensorValue(shape: shape, (0..<n).map { _ in Int64(rng.next() % 2) })
            case .int32: t = TensorValue(shape: shape, (0..<n).map { _ in Int32(rng.next() % 2) })
            case .bool: t = TensorValue(shape: shape, (0..<n).map { $0 % 2 == 0 })
            default:
                throw KilnError(.unsupported, "input '\(v.name)': random \(dtype.name) inputs are not supported; pass inputs instead")
            }
            out[v.name] = .tensor(t)
        }
        return out
    }
}
