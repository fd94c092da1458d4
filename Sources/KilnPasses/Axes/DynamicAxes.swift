import KilnIR
import KilnAnalysis
import KilnEvaluator

/// Dynamic-axis rewriting for `kiln convert`: makes input axes symbolic and rewrites the constants
/// that bake the old size, renames symbols, and refreshes inferred output types.
///
/// Rules of `makeDynamic` (main graph; subgraphs are left as they are):
/// 1. Each `(input, axis, name)` names a graph input that is not an initializer, with a known rank
///    and `axis` in range; its dim becomes the symbol `name`. The old size is remembered when it
///    was static (a dim that was already symbolic or unknown has no baked size to look for).
/// 2. Shapes are inferred again (stale intermediate shapes cleared first), and nodes are visited in
///    graph order; after each rewrite shapes are inferred again, so later nodes see the symbol.
/// 3. `Reshape` with a constant target whose data input carries a new symbol (see
///    `DynamicAxes+Reshape.swift` for the target rules 3a-3d).
/// 4. `Expand` with a constant shape: an element equal to the old size, aligned (from the right)
///    with a data dim that is the new symbol, becomes 1 (broadcasting keeps the data's dim).
/// 5. `Slice` with constant `ends` (and constant or absent `axes`): an end equal to the old size on
///    an axis whose data dim is the new symbol becomes INT64_MAX ("to the end"), when the step is
///    positive.
/// 6. A rewritten constant is a new initializer (named after the old one, shared by every node
///    that read the old one and needs the same new values); the old one goes when nothing reads
///    it any more.
/// 7. A broadcasting elementwise node (`Add`, `Mul`, `Where`, ...) that lines a new symbol up
///    with a static dim equal to its old size N > 1 in another input is refused by name: that
///    input was built for the old size (a positional table, a causal mask) and inference would
///    silently turn the symbol back into N. 7a (`DynamicAxes+Positions.swift`): positional ids
///    `Gather(table, [0 .. N-1])` are computed from the input's shape instead, and the node is
///    visited again; 7b (same file): a `ConstantOfShape`/`Expand` shape holding N once takes that
///    element from the input's shape.
/// 8. Safety net: after the rewrites, shape inference must find no problem it did not find on the
///    input; a new one (a broadcast of the symbol against a baked size in an `Expand`, `Tile`,
///    `ConstantOfShape`, `Range`, a positional table ...) is an error naming that node.
/// 9. Graph outputs and listed `value_info` entries get the inferred types (carrying the symbol);
///    no other `value_info` is added.
public enum DynamicAxes {
    /// One axis to make symbolic.
    public struct AxisSpec: Hashable, Sendable {
        public var input: String
        public var axis: Int
        public var name: String
        public init(input: String, axis: Int, name: String) {
            self.input = input
            self.axis = axis
            self.name = name
        }
    }

    /// What `makeDynamic` did.
    public struct Report: Sendable {
        /// symbol -> the static size it replaced (absent when the dim was not static).
        public var oldSizes: [String: Int64] = [:]
        /// One line per rewritten constant: `node 'name' (Op): [1, 16, 4, 8] -> [1, 0, 4, 8]`.
        public var rewrites: [String] = []
    }

    /// `--dynamic-batch`: axis 0 of every graph input (not an initializer) of rank >= 1, named `batch`.
    public static func batchSpecs(_ model: Model, name: String = "batch") -> [AxisSpec] {
        let g = model.graph
        return g.inputs.filter { !g.isConstant($0) && (g[value: $0].type?.tensorShape?.rank ?? 0) >= 1 }
            .map { AxisSpec(input: g.name(of: $0), axis: 0, name: name) }
    }

    /// Makes the axes symbolic and rewrites the constants that bake their old sizes (rules 1-8).
    public static func makeDynamic(_ model: inout Model, dims: [AxisSpec]) throws -> Report {
        var report = Report()
        var sources: [String: (input: ValueID, axis: Int)] = [:]
        var m = model
        let baseline = problems(m)
        // Rule 1.
        for spec in dims {
            let g = m.graph
            guard let id = g.valueID(named: spec.input), g.isGraphInput(id), !g.isConstant(id) else {
                let names = g.inputs.filter { !g.isConstant($0) }.map { g.name(of: $0) }
                throw KilnError(.invalidInput, "--dim: '\(spec.input)' is not a graph input (inputs: \(names.joined(separator: ", ")))")
            }
            guard let elem = g[value: id].type?.tensorElementType, var shape = g[value: id].type?.tensorShape else {
                throw KilnError(.invalidInput, "--dim: input '\(spec.input)' has no known rank")
            }
            guard spec.axis >= 0 && spec.axis < shape.rank else {
                throw KilnError(.invalidInput, "--dim: input '\(spec.input)' has rank \(shape.rank); axis \(spec.axis) is out of range")
            }
            guard !spec.name.isEmpty, Int64(spec.name) == nil else {
                throw KilnError(.invalidInput, "--dim: '\(spec.name)' is not a symbol name")
            }
            if let old = shape.dims[spec.axis].staticValue {
                if let prior = report.oldSizes[spec.name], prior != old {
                    throw KilnError(.invalidInput, "--dim: symbol '\(spec.name)' replaces sizes \(prior) and \(old); give them different names")
                }
                report.oldSizes[spec.name] = old
            }
            if sources[spec.name] == nil { sources[spec.name] = (id, spec.axis) }
            shape.dims[spec.axis] = .symbol(spec.name)
            m.graph[value: id].type = .tensor(elem, shape)
        }
        let listed = Set(m.graph.valueInfo.map { m.graph.name(of: $0) })
        reinfer(&m)
        // Rules 2-6.
        if !report.oldSizes.isEmpty {
            var made: [String: ValueID] = [:]  // rule 6: one new initializer per (old constant, new values)
            var index = 0
            while index < m.graph.order.count {
                let id = m.graph.order[index]
                index += 1
                let node = m.graph[node: id]
                guard node.domain.isEmpty || node.domain == "ai.onnx" else { continue }
                if let hit = broadcastHit(node, in: m.graph, sizes: report.oldSizes) {
                    // Rule 7a, then rule 7.
                    guard let source = sources[hit.symbol], try rewritePositions(
                        &m.graph, baked: hit.baked, symbol: hit.symbol, size: hit.size, source: source,
                        opset: m.opsetVersion(for: "") ?? 0)
                        || rewriteShapeConstant(&m.graph, baked: hit.baked, size: hit.size, source: source) else {
                        throw KilnError(.checkFailed, "node '\(node.name)' (\(node.opType)) broadcasts '\(hit.symbol)' against "
                            + "'\(m.graph.name(of: hit.baked))', whose dim is the old size \(hit.size): it was built for that size "
                            + "(a positional table, a mask) and cannot be rewritten safely")
                    }
                    report.rewrites.append("node '\(node.name)' (\(node.opType)): '\(m.graph.name(of: hit.baked))' computed from '\(hit.symbol)'")
                    reinfer(&m)
                    index = (m.graph.order.firstIndex(of: id) ?? index)  // visit this node again
                    continue
                }
                let change: (slot: Int, values: [Int64])?
                switch node.opType {
                case PassOp.reshape:
                    switch try reshapeTarget(node, in: m.graph, sizes: report.oldSizes) {
                    case .constant(let values)?: change = (1, values)
                    case .derived(let elements, let axes)?:
                        let before = try constantInts(node, 1, m.graph) ?? []
                        try deriveTarget(&m.graph, reshape: id, elements: elements, axes: axes)
                        report.rewrites.append("node '\(node.name)' (Reshape): \(before) -> "
                            + elements.enumerated().map { j, e in e.map(String.init) ?? "shape[\(axes[j]!)]" }.joined(separator: ", "))
                        reinfer(&m)
                        index = (m.graph.order.firstIndex(of: id) ?? index) + 1
                        continue
                    case nil: change = nil
                    }
                case "Expand": change = try expandShape(node, in: m.graph, sizes: report.oldSizes)
                case "Slice": change = try sliceEnds(node, in: m.graph, sizes: report.oldSizes)
                default: change = nil
                }
                guard let change, let old = node.inputs[change.slot] else { continue }
                let before = try TensorValue(m.graph[value: old].initializer!).int64s
                guard before != change.values else { continue }
                let key = m.graph.name(of: old) + "\u{0}" + change.values.map(String.init).joined(separator: ",")
                let c: ValueID
                if let reused = made[key], m.graph.contains(reused) {
                    c = reused
                } else {
                    let fresh = m.graph.uniqueName(m.graph.name(of: old) + "_dynamic")
                    c = try m.graph.addInitializer(named: fresh, .int64(change.values, dims: [Int64(change.values.count)], name: fresh))
                    made[key] = c
                }
                m.graph.setInput(of: id, at: change.slot, to: c)
                _ = m.graph.removeUnusedInitializers([old], captured: [])
                report.rewrites.append("node '\(node.name)' (\(node.opType)): \(before) -> \(change.values)")
                reinfer(&m)
            }
        }
        // Rule 8.
        let known = Set(baseline.map(\.message))
        if let bad = problems(m).first(where: { !known.contains($0.message) }) {
            let name = bad.nodeName.map { "node '\($0)'" + (bad.op.map { " (\($0))" } ?? "") } ?? "the graph"
            throw KilnError(.checkFailed, "cannot make the axes dynamic safely: \(name) still bakes a size that is now symbolic: \(bad.message)")
        }
        // Rule 9.
        keepListedValueInfo(&m.graph, listed: listed)
        model = m
        return report
    }

    /// `--input-shape` and friends: infers shapes again after input types changed, so graph outputs
    /// (and listed `value_info`) carry the new dims; adds no `value_info`.
    public static func refreshTypes(_ model: inout Model) {
        let listed = Set(model.graph.valueInfo.map { model.graph.name(of: $0) })
        reinfer(&model)
        keepListedValueInfo(&model.graph, listed: listed)
    }

    /// `--rename-dim OLD=NEW`: every dim named `old` (inputs, outputs, `value_info`, every graph)
    /// becomes `new`. Throws when no dim is named `old`. Returns how many dims changed.
    @discardableResult
    public static func renameDim(_ model: inout Model, from old: String, to new: String) throws -> Int {
        guard !new.isEmpty, Int64(new) == nil else {
            throw KilnError(.invalidInput, "--rename-dim: '\(new)' is not a symbol name")
        }
        var count = 0
        model.transformGraphs { graph, _ in
            for id in graph.valueIDs {
                guard let type = graph[value: id].type, let elem = type.tensorElementType,
                      var shape = type.tensorShape, shape.dims.contains(.symbol(old)) else { continue }
                for i in shape.dims.indices where shape.dims[i] == .symbol(old) {
                    shape.dims[i] = .symbol(new)
                    count += 1
                }
                var t = type
                t.kind = ValueType.tensor(elem, shape).kind
                graph[value: id].type = t
            }
            return .unchanged
        }
        guard count > 0 else {
            throw KilnError(.invalidInput, "--rename-dim: no dimension is named '\(old)'")
        }
        return count
    }

    // MARK: helpers

    /// Clears the shapes of every value a node produces (keeping element types), then infers again.
    static func reinfer(_ model: inout Model) {
        for id in model.graph.valueIDs where model.graph.producer(of: id) != nil {
            guard let type = model.graph[value: id].type, let elem = type.tensorElementType else { continue }
            var t = type
            t.kind = ValueType.tensor(elem, nil).kind
            model.graph[value: id].type = t
        }
        _ = ShapeInference().infer(&model)
    }

    static func problems(_ model: Model) -> [CheckIssue] {
        var m = model
        reinfer(&m)
        return ShapeInference().problems(in: m)
    }

    static func keepListedValueInfo(_ graph: inout Graph, listed: Set<String>) {
        let keep = graph.valueInfo.filter { listed.contains(graph.name(of: $0)) }
        if keep.count != graph.valueInfo.count { graph.setValueInfo(keep) }
    }

    /// The int64 elements of a constant input (nil when absent or not a constant).
    static func constantInts(_ node: Node, _ slot: Int, _ graph: Graph) throws -> [Int64]? {
        guard slot < node.inputs.count, let v = node.inputs[slot], let t = graph[value: v].initializer,
              !graph.isGraphInput(v) else { return nil }
        return try TensorValue(t).int64s
    }

    /// The dims of a value as inferred, or an initializer's own dims.
    static func dims(_ v: ValueID?, _ graph: Graph) -> [Dim]? {
        guard let v else { return nil }
        if let d = graph[value: v].type?.tensorShape?.dims { return d }
        return graph[value: v].initializer.map { $0.dims.map(Dim.value) }
    }

    static let broadcasting: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Greater",
        "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "BitShift", "PRelu",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    ]

    /// Rule 7: the new symbol and the input whose static dim bakes its old size, if any.
    static func broadcastHit(_ node: Node, in graph: Graph, sizes: [String: Int64]) -> (symbol: String, baked: ValueID, size: Int64)? {
        guard broadcasting.contains(node.opType), node.inputs.count >= 2 else { return nil }
        let shapes = node.inputs.map { dims($0, graph) }
        let rank = shapes.map { $0?.count ?? 0 }.max() ?? 0
        for k in 0..<rank {
            var symbol: String?
            var baked: (input: ValueID, size: Int64)?
            for (slot, d) in shapes.enumerated() {
                guard let d, let v = node.inputs[slot], k >= rank - d.count else { continue }
                switch d[k - (rank - d.count)] {
                case .symbol(let s) where sizes[s] != nil: symbol = s
                case .value(let n) where n != 1: baked = (v, n)
                default: break
                }
            }
            if let s = symbol, let b = baked, sizes[s] == b.size { return (s, b.input, b.size) }
        }
        return nil
    }

    /// Rule 4.
    static func expandShape(_ node: Node, in graph: Graph, sizes: [String: Int64]) throws -> (slot: Int, values: [Int64])? {
        guard var shape = try constantInts(node, 1, graph), let d = dims(node.inputs[0], graph) else { return nil }
        let offset = shape.count - d.count
        for (i, dim) in d.enumerated() {
            guard case .symbol(let s) = dim, let n = sizes[s], i + offset >= 0, shape[i + offset] == n else { continue }
            shape[i + offset] = 1
        }
        return (1, shape)
    }

    /// Rule 5.
    static func sliceEnds(_ node: Node, in graph: Graph, sizes: [String: Int64]) throws -> (slot: Int, values: [Int64])? {
        guard var ends = try constantInts(node, 2, graph), let d = dims(node.inputs[0], graph) else { return nil }
        let axes: [Int64]
        if node.inputs.count > 3, node.inputs[3] != nil {
            guard let a = try constantInts(node, 3, graph) else { return nil }
            axes = a
        } else {
            axes = (0..<Int64(ends.count)).map { $0 }
        }
        let steps = try constantInts(node, 4, graph) ?? Array(repeating: 1, count: ends.count)
        guard axes.count == ends.count, steps.count == ends.count else { return nil }
        for k in ends.indices {
            let axis = Int(axes[k] < 0 ? axes[k] + Int64(d.count) : axes[k])
            guard axis >= 0, axis < d.count, steps[k] > 0, case .symbol(let s) = d[axis], let n = sizes[s],
                  ends[k] == n else { continue }
            ends[k] = Int64.max
        }
        return (2, ends)
    }
}
