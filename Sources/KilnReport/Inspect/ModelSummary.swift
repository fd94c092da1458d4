import KilnIR

/// What `kiln inspect` reports about a model. Codable with a stable shape, documented in
/// Docs/Commands/inspect.md (schema version `schema`).
public struct ModelSummary: Encodable, Sendable {
    public struct Opset: Codable, Sendable, Equatable {
        public var domain: String
        public var version: Int64
    }

    public struct IO: Codable, Sendable, Equatable {
        public var name: String
        /// `float32`-style element type name, or the kind (`seq(tensor(float))`) for non-tensors.
        public var dtype: String
        /// Dimensions: integers, symbol strings, or null for unknown; null when the rank is unknown.
        public var shape: [DimValue]?
    }

    public enum DimValue: Codable, Sendable, Equatable {
        case value(Int64)
        case symbol(String)
        case unknown

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .unknown }
            else if let v = try? c.decode(Int64.self) { self = .value(v) }
            else { self = .symbol(try c.decode(String.self)) }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .value(let v): try c.encode(v)
            case .symbol(let s): try c.encode(s)
            case .unknown: try c.encodeNil()
            }
        }
    }

    public struct DTypeStats: Codable, Sendable, Equatable {
        public var dtype: String
        public var tensors: Int
        public var elements: Int64
        public var bytes: Int64
    }

    public struct ExternalFile: Codable, Sendable, Equatable {
        public var location: String
        public var tensors: Int
        public var bytes: Int64
    }

    public struct Counts: Codable, Sendable, Equatable {
        /// Nodes in the main graph.
        public var nodes: Int
        /// Nodes in every graph, subgraphs and functions included.
        public var nodesTotal: Int
        public var initializers: Int
        public var sparseInitializers: Int
        public var subgraphs: Int
        public var functions: Int
        public var valueInfo: Int
    }

    public var schema: Int = 1
    public var file: String?
    public var irVersion: Int64
    public var producerName: String
    public var producerVersion: String
    public var domain: String
    public var modelVersion: Int64
    public var graphName: String
    public var opsets: [Opset]
    public var inputs: [IO]
    public var outputs: [IO]
    /// Operator counts over every graph (main, subgraphs, functions), keyed `Op` or `domain:Op`.
    public var ops: [String: Int]
    public var counts: Counts
    /// Parameter elements of main-graph initializers (dense and sparse values).
    public var parameters: Int64
    public var parameterBytes: Int64
    public var byDtype: [DTypeStats]
    public var externalData: [ExternalFile]
    public var functions: [String]
    public var metadata: [String: String]
    /// Compute and memory estimates (needs inferred shapes; see `ModelCost`). Nil when not asked.
    public var cost: ModelCost?

    public init(model: Model, file: String? = nil, cost: ModelCost? = nil) {
        self.cost = cost
        self.file = file
        irVersion = model.irVersion
        producerName = model.producerName
        producerVersion = model.producerVersion
        domain = model.domain
        modelVersion = model.modelVersion
        graphName = model.graph.name
        opsets = model.opsetImports.map { Opset(domain: $0.domain.isEmpty ? "ai.onnx" : $0.domain, version: $0.version) }
        let g = model.graph
        inputs = g.inputs.filter { !g[value: $0].isConstant }.map { ModelSummary.io(g[value: $0]) }
        outputs = g.outputs.map { ModelSummary.io(g[value: $0]) }

        var ops: [String: Int] = [:]
        var total = 0
        var subgraphs = -1
        model.forEachGraph { graph, path in
            if !path.hasPrefix("function(") { subgraphs += 1 }
            for id in graph.order {
                let n = graph[node: id]
                let key = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain):\(n.opType)"
                ops[key, default: 0] += 1
                total += 1
            }
        }
        self.ops = ops
        counts = Counts(nodes: g.nodeCount, nodesTotal: total, initializers: g.initializerOrder.count,
                        sparseInitializers: g.sparseInitializerOrder.count, subgraphs: max(subgraphs, 0),
                        functions: model.functions.count, valueInfo: g.valueInfo.count)

        var stats: [DataType: DTypeStats] = [:]
        var params: Int64 = 0
        var paramBytes: Int64 = 0
        // Sizes saturate instead of trapping: a corrupt file may declare absurd dimensions.
        func add(_ a: Int64, _ b: Int64) -> Int64 {
            let (s, overflow) = a.addingReportingOverflow(b)
            return overflow ? Int64.max : s
        }
        func account(_ t: Tensor) {
            let elements = t.elementCount ?? Int64.max
            let bytes = t.dataByteCount ?? Int64.max
            var s = stats[t.dataType] ?? DTypeStats(dtype: t.dataType.name, tensors: 0, elements: 0, bytes: 0)
            s.tensors += 1
            s.elements = add(s.elements, elements)
            s.bytes = add(s.bytes, bytes)
            stats[t.dataType] = s
            params = add(params, elements)
            paramBytes = add(paramBytes, bytes)
        }
        for id in g.initializerOrder { account(g[value: id].initializer!) }
        for id in g.sparseInitializerOrder {
            if let v = g[value: id].sparseInitializer!.values { account(v) }
        }
        parameters = params
        parameterBytes = paramBytes
        byDtype = stats.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.dtype < $1.dtype }

        var files: [String: ExternalFile] = [:]
        var fileOrder: [String] = []
        model.forEachTensor { t, _ in
            guard t.dataLocation == 1, let loc = t.externalValue("location") else { return }
            if files[loc] == nil { files[loc] = ExternalFile(location: loc, tensors: 0, bytes: 0); fileOrder.append(loc) }
            files[loc]!.tensors += 1
            files[loc]!.bytes = add(files[loc]!.bytes, Int64(t.payloadByteCount))
        }
        externalData = fileOrder.map { files[$0]! }
        functions = model.functions.map { $0.domain.isEmpty ? $0.name : "\($0.domain):\($0.name)" }
        var meta: [String: String] = [:]
        for p in model.metadata { meta[p.key] = p.value }
        metadata = meta
    }

    static func io(_ v: Value) -> IO {
        guard let t = v.type else { return IO(name: v.name, dtype: "?", shape: nil) }
        switch t.kind {
        case .tensor(let e, let s):
            return IO(name: v.name, dtype: e?.name ?? "?", shape: s.map { $0.dims.map(dim) })
        default:
            return IO(name: v.name, dtype: t.description, shape: nil)
        }
    }

    static func dim(_ d: Dim) -> DimValue {
        switch d {
        case .value(let v): return .value(v)
        case .symbol(let s): return .symbol(s)
        case .unknown: return .unknown
        }
    }
}
