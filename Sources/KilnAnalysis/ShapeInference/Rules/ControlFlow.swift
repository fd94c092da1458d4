import KilnIR

/// Control flow: If, Loop (and the types given to a Loop body's inputs).
///
/// Cases:
/// 1. If: each output is the merge of the two branches' outputs: equal dims stay, differing dims
///    become unknown, differing ranks give unknown rank; element types must agree.
/// 2. Loop body inputs: iteration number int64 [], condition bool [], then the types of the loop's
///    carried inputs (case 5; declared body input types are merged in by the engine).
/// 4. Scan (opset 9+), N state and M scan inputs: body inputs are the states, then each scan
///    input without its scan axis; outputs are the body's N states, then each of the K scan
///    outputs with the sequence length inserted at its scan output axis.
/// 5. Loop and Scan bodies are first inferred with the carried values' exact types; when the body
///    gives back different carried types (a growing tensor), again with their dims free.
/// 3. Loop outputs: carried values have the body's output type where it agrees with the initial
///    value (differing dims unknown); scan outputs are the body's output with a leading unknown dim.
/// 6. Scan-8 (batch axis): inputs are an optional `sequence_lens`, N states [batch, ...] and M scan
///    inputs [batch, seq, ...]; the body gets the states without the batch dim and the scan inputs
///    without batch and sequence dims; outputs are the N states with the batch dim put back and
///    the K scan outputs as [batch, seq, ...body output].
/// 7. SequenceMap: body inputs are the element types of the sequence inputs and the types of the
///    tensor inputs; each output is a sequence of the body output's type.
enum ControlFlowRules {
    /// How a Scan lays out its inputs, by the version it starts at (guide rule 11).
    enum ScanLayout { case batched, axes }
    static let scanLayouts: [(since: Int, layout: ScanLayout)] = [(8, .batched), (9, .axes)]
    static func scanLayout(opset: Int) -> ScanLayout {
        scanLayouts.last { $0.since <= opset }?.layout ?? .axes
    }

    static func register(into r: inout ShapeRuleRegistry) {
        r.register(OpType.ifOp) { ctx in
            let a = ctx.subgraphOutputs["then_branch"] ?? [], b = ctx.subgraphOutputs["else_branch"] ?? []
            guard a.count == ctx.outputCount, b.count == ctx.outputCount else {
                throw ctx.error("branches have \(a.count) and \(b.count) outputs for \(ctx.outputCount) node outputs")
            }
            for k in 0..<ctx.outputCount { ctx.setOutput(k, try join(a[k], b[k], ctx)) }
        }
        r.register(OpType.scan, since: 8) { ctx in try scan8(&ctx) }
        r.register(OpType.scan, since: 9) { ctx in try scan(&ctx) }
        r.register("SequenceMap", since: 17) { ctx in
            let body = ctx.subgraphOutputs["body"] ?? []
            for k in 0..<ctx.outputCount {
                guard k < body.count, let t = body[k] else { continue }
                ctx.setOutput(k, .other(ValueType(.sequence(t.valueType(base: nil)))))
            }
        }
        r.register(OpType.loop) { ctx in
            let body = ctx.subgraphOutputs["body"] ?? []
            let carried = max(ctx.inputCount - 2, 0)
            for k in 0..<ctx.outputCount {
                let bodyType = 1 + k < body.count ? body[1 + k] : nil
                if k < carried {
                    ctx.setOutput(k, try join(bodyType, ctx.inputType(2 + k), ctx))
                } else if case .tensor(let t, let d)? = bodyType {
                    ctx.setOutput(k, t, d.map { [.unknown] + $0 })
                }
            }
        }
    }

    static func scanBodyInputTypes(_ node: Node, _ inputs: [InferredType?]) -> [InferredType?]? {
        guard let m = try? node.int("num_scan_inputs"), m <= inputs.count else { return nil }
        let n = inputs.count - Int(m)
        let axes = (try? node.ints("scan_input_axes", default: Array(repeating: 0, count: Int(m)))) ?? []
        guard axes.count == Int(m) else { return nil }
        var types = Array(inputs[..<n])
        for j in 0..<Int(m) {
            guard case .tensor(let t, let d)? = inputs[n + j], let d else { types.append(nil); continue }
            let a = axes[j] < 0 ? Int(axes[j]) + d.count : Int(axes[j])
            guard a >= 0 && a < d.count else { types.append(nil); continue }
            var slice = d
            slice.remove(at: a)
            types.append(.tensor(elementType: t, dims: slice))
        }
        return types
    }

    /// Case 6: the body input types of a Scan-8 (nil when the layout does not fit).
    static func scan8BodyInputTypes(_ node: Node, _ inputs: [InferredType?]) -> [InferredType?]? {
        guard let m = try? node.int("num_scan_inputs"), Int(m) + 1 <= inputs.count else { return nil }
        let n = inputs.count - 1 - Int(m)
        return (0..<(n + Int(m))).map { k in
            guard case .tensor(let t, let d)? = inputs[1 + k] else { return nil }
            let drop = k < n ? 1 : 2
            guard let d else { return .tensor(elementType: t, dims: nil) }
            return d.count >= drop ? .tensor(elementType: t, dims: Array(d.dropFirst(drop))) : nil
        }
    }

    /// Case 6.
    static func scan8(_ ctx: inout NodeContext) throws {
        let body = ctx.subgraphOutputs["body"] ?? []
        let m = Int(try ctx.node.int("num_scan_inputs"))
        let n = ctx.inputCount - 1 - m
        guard n >= 0 else { throw ctx.error("num_scan_inputs \(m) exceeds the \(ctx.inputCount - 1) state and scan inputs") }
        var batch = SymDim.unknown, length = SymDim.unknown
        for k in 1..<ctx.inputCount {
            if batch == .unknown, let d = ctx.dims(k), !d.isEmpty { batch = d[0] }
        }
        if m > 0, let d = ctx.dims(1 + n), d.count >= 2 { length = d[1] }
        for i in 0..<ctx.outputCount where i < body.count {
            guard case .tensor(let t, let d)? = body[i] else { continue }
            let lead: [SymDim] = i < n ? [batch] : [batch, length]
            let type = InferredType.tensor(elementType: t, dims: d.map { lead + $0 })
            ctx.setOutput(i, i < n ? try join(type, ctx.inputType(1 + i), ctx) : type)
        }
    }

    static func scan(_ ctx: inout NodeContext) throws {
        let body = ctx.subgraphOutputs["body"] ?? []
        let m = Int(try ctx.node.int("num_scan_inputs"))
        let n = ctx.inputCount - m
        guard n >= 0 else { throw ctx.error("num_scan_inputs \(m) exceeds the \(ctx.inputCount) inputs") }
        let inAxes = try ctx.node.ints("scan_input_axes", default: Array(repeating: 0, count: m))
        var length = SymDim.unknown
        if m > 0, let d = ctx.dims(n), !inAxes.isEmpty {
            length = d[try ctx.axis(inAxes[0], rank: d.count)]
        }
        let k = ctx.outputCount - n
        let outAxes = try ctx.node.ints("scan_output_axes", default: Array(repeating: 0, count: max(k, 0)))
        for i in 0..<ctx.outputCount where i < body.count {
            if i < n { ctx.setOutput(i, try join(body[i], ctx.inputType(i), ctx)); continue }
            guard case .tensor(let t, let d)? = body[i] else { continue }
            guard var dims = d, i - n < outAxes.count else { ctx.setOutput(i, t, nil); continue }
            let a = try ctx.axis(outAxes[i - n], rank: dims.count + 1)
            dims.insert(length, at: a)
            ctx.setOutput(i, t, dims)
        }
    }

    /// The type both `a` and `b` satisfy (case 1).
    static func join(_ a: InferredType?, _ b: InferredType?, _ ctx: NodeContext) throws -> InferredType? {
        guard let a, let b else { return nil }
        switch (a, b) {
        case (.tensor(let ta, let da), .tensor(let tb, let db)):
            if let ta, let tb, ta != tb { throw ctx.error("branch element types differ: \(ta) and \(tb)") }
            guard let da, let db, da.count == db.count else { return .tensor(elementType: ta ?? tb, dims: nil) }
            return .tensor(elementType: ta ?? tb, dims: zip(da, db).map { $0 == $1 ? $0 : .unknown })
        default:
            return a == b ? a : nil
        }
    }

    /// Cases 2, 4 and 5: candidate input types for a body, most specific first (nil: keep the
    /// declared types). Loop and Scan bodies are tried first with the loop-carried values' exact
    /// types, then with their dims left free.
    static func bodyInputCandidates(node: Node, attribute: String, nodeInputs: [InferredType?],
                                    opset: Int) -> [[InferredType?]?] {
        guard attribute == "body" else { return [nil] }
        switch node.opType {
        case OpType.scan where scanLayout(opset: opset) == .batched:
            guard let exact = scan8BodyInputTypes(node, nodeInputs),
                  let m = try? node.int("num_scan_inputs") else { return [nil] }
            var general = exact
            for k in 0..<(exact.count - Int(m)) { general[k] = freeDims(general[k]) }
            return [exact, general]
        case "SequenceMap":
            return [nodeInputs.map { t in
                if case .other(let v)? = t, case .sequence(let e) = v.kind { return e.map(InferredType.init) }
                return t
            }]
        case OpType.loop:
            let carried = Array(nodeInputs.dropFirst(2))
            let head: [InferredType?] = [.tensor(elementType: .int64, dims: []), .tensor(elementType: .bool, dims: [])]
            return [head + carried, head + carried.map(freeDims)]
        case OpType.scan:
            guard let exact = scanBodyInputTypes(node, nodeInputs),
                  let m = try? node.int("num_scan_inputs") else { return [nil] }
            let n = nodeInputs.count - Int(m)
            var general = exact
            for k in 0..<n { general[k] = freeDims(general[k]) }
            return [exact, general]
        default:
            return [nil]
        }
    }

    /// Case 5: whether the body's loop-carried outputs have the types its inputs assumed.
    static func isFixedPoint(node: Node, inputs: [InferredType?]?, outputs: [InferredType?]) -> Bool {
        guard let inputs else { return true }
        let pairs: [(Int, Int)]
        switch node.opType {
        case OpType.loop: pairs = (2..<inputs.count).map { ($0, $0 - 1) }
        case OpType.scan:
            let m = Int((try? node.int("num_scan_inputs")) ?? 0)
            pairs = (0..<max(0, inputs.count - m)).map { ($0, $0) }
        default: return true
        }
        return pairs.allSatisfy { i, o in o < outputs.count && outputs[o] == inputs[i] }
    }

    /// The type with its dims unknown (rank kept).
    static func freeDims(_ t: InferredType?) -> InferredType? {
        if case .tensor(let e, let d)? = t { return .tensor(elementType: e, dims: d.map { $0.map { _ in .unknown } }) }
        return t
    }
}
