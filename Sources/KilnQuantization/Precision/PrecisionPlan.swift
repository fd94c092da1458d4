import KilnIR
import KilnOpset

/// How one node runs after the conversion (decided per graph by `PrecisionGraph.decideModes`).
enum PrecisionMode {
    /// No float32 value and no subgraph: nothing to do.
    case untouched
    /// Runs in the target type where its schema allows.
    case converted(PrecisionTyping)
    /// Stays float32: every float32 input is cast back to float32, outputs stay float32.
    case kept(PrecisionPolicy.Block)
}

/// The types a converted node reads and writes.
struct PrecisionTyping {
    /// Input slot -> the type it must read (float32 inputs only; absent: takes what it gets).
    var inputNeed: [Int: DataType]
    /// Output slot -> the type it writes (float32 outputs only).
    var outputType: [Int: DataType]
    /// All float32 values are outputs (or inputs taken as they come): Constant, ConstantOfShape,
    /// Cast to float, RandomNormal... Such a node converts only when no consumer wants float32.
    var sourceLike: Bool
}

/// How a value of the original model is typed: the element type decides everything.
enum PrecisionValueKind {
    case float32, otherTensor, unknown, floatContainer, none
}

/// The per-graph state of a conversion: the graph being rewritten, the same graph with inferred
/// types (`typed`: same node and value IDs), node modes, value needs and chosen types, and the
/// subgraphs of its nodes. See `PrecisionConversion` for the phases.
final class PrecisionGraph {
    var graph: Graph
    let typed: Graph
    let path: String
    unowned let parent: PrecisionGraph?
    /// The type float32 formal inputs and outputs get: main graph: float32 with --keep-io-types,
    /// else the target; a subgraph: its node's (the target when the node converts).
    let ioType: DataType
    var modes: [NodeID: PrecisionMode] = [:]
    var signatures: [NodeID: PrecisionSignature] = [:]
    /// Subgraphs of each node: (attribute index, index in a GRAPHS list or nil, state).
    var children: [NodeID: [(attribute: Int, element: Int?, work: PrecisionGraph)]] = [:]
    /// Types the readers of each float32 value want.
    var needs: [ValueID: Set<DataType>] = [:]
    /// The type of each float32 value after the conversion.
    var chosen: [ValueID: DataType] = [:]

    init(graph: Graph, typed: Graph, path: String, parent: PrecisionGraph?, ioType: DataType) {
        self.graph = graph
        self.typed = typed
        self.path = path
        self.parent = parent
        self.ioType = ioType
    }

    var isMain: Bool { parent == nil }

    func kind(_ id: ValueID) -> PrecisionValueKind {
        // Values added by the rewrite are not in `typed`; they are never float32 originals.
        guard typed.contains(id) else { return .none }
        // A captured name has the type of its definition in an enclosing graph.
        if isOuterReference(id), let k = parent?.kind(named: typed.name(of: id)) { return k }
        if typed.isConstant(id) {
            // Initializers (dense or sparse: both read as dense tensors) carry their own type.
            let v = typed[value: id]
            if let e = v.initializer?.dataType ?? v.sparseInitializer?.values?.dataType {
                return e == .float ? .float32 : .otherTensor
            }
        }
        guard let t = typed[value: id].type else { return .unknown }
        func containsFloat(_ t: ValueType?) -> Bool {
            guard let t else { return false }
            switch t.kind {
            case .tensor(let e, _), .sparseTensor(let e, _): return e == .float
            case .sequence(let e), .optional(let e): return containsFloat(e)
            case .map(_, let v): return containsFloat(v)
            default: return false
            }
        }
        switch t.kind {
        case .tensor(let e, _):
            guard let e, e != .undefined else { return .unknown }
            return e == .float ? .float32 : .otherTensor
        case .sparseTensor(let e, _):
            return e == .float ? .floatContainer : .otherTensor
        case .none: return .unknown
        default: return containsFloat(t) ? .floatContainer : .none
        }
    }

    /// The kind of the value called `name` here or in an enclosing graph.
    func kind(named name: String) -> PrecisionValueKind? {
        if let id = typed.valueID(named: name) { return kind(id) }
        return parent?.kind(named: name)
    }

    /// A value with no producer that is neither a graph input nor a constant: a name read from an
    /// enclosing graph.
    func isOuterReference(_ id: ValueID) -> Bool {
        graph.producer(of: id) == nil && !graph.isConstant(id) && !graph.isGraphInput(id)
    }

    /// The float32 input slots of a node.
    func floatInputs(_ id: NodeID) -> [(slot: Int, value: ValueID)] {
        graph[node: id].inputs.enumerated().compactMap { i, v in v.flatMap { kind($0) == .float32 ? (i, $0) : nil } }
    }

    func floatOutputs(_ id: NodeID) -> [(slot: Int, value: ValueID)] {
        graph[node: id].outputs.enumerated().compactMap { i, v in v.flatMap { kind($0) == .float32 ? (i, $0) : nil } }
    }

    /// The type node `id` needs at input `slot` (a float32 input); nil: any.
    func need(_ id: NodeID, _ slot: Int) -> DataType? {
        switch modes[id] ?? .untouched {
        case .untouched: return nil
        case .kept: return .float
        case .converted(let t): return t.inputNeed[slot]
        }
    }

    /// The type node `id` writes at output `slot` (a float32 output).
    func outputType(_ id: NodeID, _ slot: Int) -> DataType {
        if case .converted(let t)? = modes[id] { return t.outputType[slot] ?? .float }
        return .float
    }

    /// The chosen type of the value called `name` here or in an enclosing graph.
    func chosenType(named name: String) -> DataType? {
        if let id = graph.valueID(named: name), !isOuterReference(id) { return chosen[id] }
        return parent?.chosenType(named: name)
    }

    /// Every graph of the tree, this one first.
    func forEach(_ body: (PrecisionGraph) throws -> Void) rethrows {
        try body(self)
        for id in graph.order { for c in children[id] ?? [] { try c.work.forEach(body) } }
    }
}

// MARK: Phase 1: modes

/// What phase 1 needs besides the graph.
struct PrecisionContext {
    let options: PrecisionOptions
    let policy: PrecisionPolicy
    let registry: SchemaRegistry
    let opsets: [String: Int]
    let localFunctions: Set<String>

    func opset(_ domain: String) -> Int? { opsets[domain == "ai.onnx" ? "" : domain] }
}

extension PrecisionGraph {
    /// Decides every node's mode, in graph order (a reduction looks at its producer's), and builds
    /// the subgraph states.
    func decideModes(_ ctx: PrecisionContext) {
        let target = ctx.options.target
        for id in graph.order {
            let node = graph[node: id]
            let mode = decide(id, node, ctx)
            modes[id] = mode
            guard node.hasSubgraphs else { continue }
            var childIO: DataType = .float
            if case .converted = mode { childIO = target }
            let typedNode = typed[node: id]
            for (a, attr) in node.attributes.enumerated() {
                let label = node.name.isEmpty ? node.opType : node.name
                switch (attr.value, typedNode.attributes[a].value) {
                case (.graph(let g), .graph(let tg)):
                    let w = PrecisionGraph(graph: g, typed: tg, path: "\(path)/\(label).\(attr.name)", parent: self, ioType: childIO)
                    w.decideModes(ctx)
                    children[id, default: []].append((a, nil, w))
                case (.graphs(let gs), .graphs(let tgs)):
                    for k in gs.indices {
                        let w = PrecisionGraph(graph: gs[k], typed: tgs[k], path: "\(path)/\(label).\(attr.name)[\(k)]",
                                               parent: self, ioType: childIO)
                        w.decideModes(ctx)
                        children[id, default: []].append((a, k, w))
                    }
                default: break
                }
            }
        }
    }

    private func decide(_ id: NodeID, _ node: Node, _ ctx: PrecisionContext) -> PrecisionMode {
        let target = ctx.options.target
        let ins = floatInputs(id), outs = floatOutputs(id)
        let all = node.inputs.compactMap { $0 } + node.outputs.compactMap { $0 }
        if let odd = all.first(where: { kind($0) == .floatContainer }) {
            return .kept(.init(reason: "'\(graph.name(of: odd))' is a sequence, optional or sparse tensor of float (Cast cannot convert it)", kind: .precision))
        }
        if ins.isEmpty && outs.isEmpty && !node.hasSubgraphs { return .untouched }
        if let odd = all.first(where: { kind($0) == .unknown }) {
            return .kept(.init(reason: "the type of '\(graph.name(of: odd))' is unknown", kind: .precision))
        }
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        if ctx.localFunctions.contains("\(domain):\(node.opType)") {
            return .kept(.init(reason: "a call of a model-local function (its body is left as is)", kind: .precision))
        }
        if domain != "" {
            return .kept(.init(reason: "operators of domain '\(domain)' keep their float32 contract", kind: .precision))
        }
        guard let opset = ctx.opset(domain), let schema = ctx.registry.schema(domain: domain, op: node.opType, opset: opset) else {
            return .kept(.init(reason: "no schema for \(node.opType) at opset \(ctx.opset(domain) ?? 0)", kind: .precision))
        }
        if ctx.options.blockedOps.contains(node.opType) {
            return .kept(.init(reason: "--block-op \(node.opType)", kind: .precision))
        }
        if ctx.options.defaultBlocks {
            var producerKind: PrecisionPolicy.Kind?
            if let x = node.inputs.first ?? nil, let p = graph.producer(of: x), case .kept(let b)? = modes[p] {
                producerKind = b.kind
            }
            if let b = ctx.policy.block(node, in: graph, types: typed, opset: opset, producerKind: producerKind) {
                return .kept(b)
            }
        }
        let sig = PrecisionSignature(schema: schema, inputs: node.inputs.count, outputs: node.outputs.count)
        signatures[id] = sig
        let keptParams = PrecisionPolicy.keptParameters[node.opType] ?? []
        func convertible(_ p: String) -> Bool { sig.isTypeParameter(p) && sig.allows(p, target) && !keptParams.contains(p) }
        var typing = PrecisionTyping(inputNeed: [:], outputType: [:], sourceLike: !outs.isEmpty && !node.hasSubgraphs)
        var typeParams = Set<String>(), converts = false
        for (slot, _) in ins {
            guard let p = sig.inputParams[slot] else {
                return .kept(.init(reason: "input \(slot) is beyond \(schema)'s signature", kind: .precision))
            }
            if sig.isTypeParameter(p) { typeParams.insert(p) }
            let agnostic = sig.isTypeParameter(p) && !sig.bindsOutput(p) && sig.inputSlots(of: p).count == 1
                && sig.allows(p, target) && !keptParams.contains(p) && !outputParamsReadInputs(sig)
            if agnostic { continue }
            typing.sourceLike = false
            typing.inputNeed[slot] = convertible(p) ? target : .float
            converts = converts || convertible(p)
        }
        for (slot, _) in outs {
            guard let p = sig.outputParams[slot] else {
                return .kept(.init(reason: "output \(slot) is beyond \(schema)'s signature", kind: .precision))
            }
            if sig.isTypeParameter(p) { typeParams.insert(p) }
            typing.outputType[slot] = convertible(p) ? target : .float
            converts = converts || convertible(p)
        }
        // A node with float type parameters none of which can take the target stays float32
        // (inputs taken as they come, Shape's or Cast's, need nothing and do not count).
        let needsSomething = !typing.inputNeed.isEmpty || !typing.outputType.isEmpty
        if !converts && needsSomething && !typeParams.isEmpty {
            let names = typeParams.sorted().joined(separator: ", ")
            return .kept(.init(reason: "\(schema) allows no \(target.name) for \(names) at opset \(opset)", kind: .precision))
        }
        return .converted(typing)
    }
}

/// Whether a type parameter of the node's outputs also binds an input (RMSNormalization's `V`:
/// scale and Y). Then the node computes in its inputs' types and no input is taken as it comes:
/// an input-only parameter (`T` of X) converts with the node.
private func outputParamsReadInputs(_ sig: PrecisionSignature) -> Bool {
    sig.outputParams.contains { p in p.map { !sig.inputSlots(of: $0).isEmpty } ?? false }
}

// MARK: Phase 2: needs

extension PrecisionGraph {
    /// Records what every reader wants of each float32 value, subgraph readers included, and
    /// returns the wants for names this graph reads from enclosing graphs.
    @discardableResult
    func collectNeeds() -> [String: Set<DataType>] {
        var outer: [String: Set<DataType>] = [:]
        for id in graph.order {
            for (slot, v) in floatInputs(id) {
                if let t = need(id, slot) { needs[v, default: []].insert(t) }
            }
            for c in children[id] ?? [] {
                for (name, wants) in c.work.collectNeeds() {
                    if let v = graph.valueID(named: name), !isOuterReference(v) {
                        if kind(v) == .float32 { needs[v, default: []].formUnion(wants) }
                    } else {
                        outer[name, default: []].formUnion(wants)
                    }
                }
            }
        }
        for v in graph.outputs where kind(v) == .float32 { needs[v, default: []].insert(ioType) }
        for v in graph.valueIDs where isOuterReference(v) && kind(v) == .float32 {
            if let n = needs[v] { outer[graph.name(of: v), default: []].formUnion(n) }
        }
        return outer
    }
}

// MARK: Phase 3: chosen types

extension PrecisionGraph {
    /// Settles source-like nodes by their readers, then the type of every float32 value; then the
    /// subgraphs (which look up captured names here).
    func choose(target: DataType) {
        for id in graph.order {
            guard case .converted(var t)? = modes[id], t.sourceLike else { continue }
            let wants = floatOutputs(id).reduce(into: Set<DataType>()) { $0.formUnion(needs[$1.value] ?? []) }
            if wants.contains(.float) {
                for k in t.outputType.keys { t.outputType[k] = .float }
                modes[id] = .converted(t)
            }
        }
        for v in graph.valueIDs where kind(v) == .float32 {
            if let p = graph.producer(of: v) {
                chosen[v] = outputType(p, graph[value: v].producerOutputIndex)
            } else if graph.isGraphInput(v) {
                chosen[v] = ioType
            } else if graph.isConstant(v) {
                chosen[v] = (needs[v] ?? []).isSubset(of: [target]) ? target : .float
            } else {
                chosen[v] = parent?.chosenType(named: graph.name(of: v)) ?? .float
            }
        }
        for id in graph.order { for c in children[id] ?? [] { c.work.choose(target: target) } }
    }
}
