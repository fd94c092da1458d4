import KilnIR
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Converts decoded protobuf messages into the IR. One decoder per file: it knows the lifted
/// payloads (slices of the mapped model file) and resolves external data relative to the model.
struct ProtoDecoder {
    /// Payloads lifted out of the model file, indexed by placeholder.
    let payloads: [TensorBytes]
    /// Node lists lifted out of graphs (each node's serialized `NodeProto`), by placeholder.
    let nodeLists: [[TensorBytes]]
    /// Initializer lists lifted out of graphs (each a serialized `TensorProto`), by placeholder.
    let initializerLists: [[TensorBytes]]
    /// Resolves external data; not shared between threads (it caches mapped files).
    var external: ExternalDataResolver?

    /// swift-protobuf options for every message Kiln decodes: deep enough for nested subgraphs.
    static let decodingOptions: BinaryDecodingOptions = {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 256
        return options
    }()

    init(payloads: [TensorBytes], nodeLists: [[TensorBytes]] = [], initializerLists: [[TensorBytes]] = [],
         external: ExternalDataResolver?) {
        self.payloads = payloads
        self.nodeLists = nodeLists
        self.initializerLists = initializerLists
        self.external = external
    }

    func error(_ message: String) -> KilnError {
        KilnError(.invalidInput, message)
    }

    /// Runs `body`; an error thrown inside gets `component` prepended to its location path
    /// (`graph`, `node[3](conv1)`, ...). The component is built only when an error happens.
    mutating func within<T>(_ component: @autoclosure () -> String, _ body: (inout ProtoDecoder) throws -> T) rethrows -> T {
        do {
            return try body(&self)
        } catch let e as KilnError {
            throw e.within(component())
        }
    }

    // MARK: Model

    mutating func decodeModel(_ m: Onnx_ModelProto) throws -> Model {
        var graph = Graph()
        if m.hasGraph {
            graph = try within("graph") { try $0.decodeGraph(m.graph) }
        }
        var model = Model(graph: graph, irVersion: m.irVersion, opsetImports: m.opsetImport.map(decodeOpset))
        model.hasGraph = m.hasGraph
        var p = FieldPresence()
        if m.hasIrVersion { p.insert(field: 1) }
        if m.hasProducerName { p.insert(field: 2) }
        if m.hasProducerVersion { p.insert(field: 3) }
        if m.hasDomain { p.insert(field: 4) }
        if m.hasModelVersion { p.insert(field: 5) }
        if m.hasDocString { p.insert(field: 6) }
        model.presence = p
        model.producerName = m.producerName
        model.producerVersion = m.producerVersion
        model.domain = m.domain
        model.modelVersion = m.modelVersion
        model.docString = m.docString
        model.metadata = m.metadataProps.map(decodePair)
        model.trainingInfo = try m.trainingInfo.enumerated().map { i, t in
            try within("training_info[\(i)]") { try $0.decodeTrainingInfo(t) }
        }
        model.functions = try m.functions.enumerated().map { i, f in
            try within("functions[\(i)](\(f.name))") { try $0.decodeFunction(f) }
        }
        var opaque = Onnx_ModelProto()
        opaque.configuration = m.configuration
        model.preserved = try preserved(opaque, m.unknownFields)
        return model
    }

    func decodeOpset(_ o: Onnx_OperatorSetIdProto) -> OpsetImport {
        var r = OpsetImport(domain: o.domain, version: o.version)
        if o.hasDomain { r.presence.insert(field: 1) }
        if o.hasVersion { r.presence.insert(field: 2) }
        r.preserved = PreservedFields(Array(o.unknownFields.data))
        return r
    }

    func decodePair(_ e: Onnx_StringStringEntryProto) -> StringPair {
        var r = StringPair(e.key, e.value)
        if e.hasKey { r.presence.insert(field: 1) }
        if e.hasValue { r.presence.insert(field: 2) }
        r.preserved = PreservedFields(Array(e.unknownFields.data))
        return r
    }

    /// Serialized bytes of `opaque` (a message holding only fields the IR keeps opaquely) followed by
    /// the unknown fields.
    func preserved<M: SwiftProtobuf.Message>(_ opaque: M, _ unknown: UnknownStorage) throws -> PreservedFields {
        var bytes: [UInt8] = try opaque.serializedBytes()
        bytes.append(contentsOf: unknown.data)
        return PreservedFields(bytes)
    }

    mutating func decodeTrainingInfo(_ t: Onnx_TrainingInfoProto) throws -> TrainingInfo {
        let initGraph = t.hasInitialization ? try within("initialization") { try $0.decodeGraph(t.initialization) } : nil
        let algo = t.hasAlgorithm ? try within("algorithm") { try $0.decodeGraph(t.algorithm) } : nil
        var r = TrainingInfo(initialization: initGraph, algorithm: algo)
        r.initializationBinding = t.initializationBinding.map(decodePair)
        r.updateBinding = t.updateBinding.map(decodePair)
        r.preserved = PreservedFields(Array(t.unknownFields.data))
        return r
    }

    mutating func decodeFunction(_ f: Onnx_FunctionProto) throws -> Function {
        var body = Graph()
        for name in f.input {
            body.appendInput(try definedValue(name, in: &body, role: "input"))
        }
        try decodeNodes(f.node, into: &body)
        for name in f.output {
            body.appendOutput(try definedValue(name, in: &body, role: "output"))
        }
        var assigned = Set<ValueID>()
        for (i, vi) in f.valueInfo.enumerated() {
            try within("value_info[\(i)]") { d in
                let (id, rec) = try d.decodeValueInfo(vi, in: &body)
                d.assignInfo(rec, to: id, slot: .valueInfo(body.valueInfo.count), in: &body, assigned: &assigned)
                body.appendValueInfo(id)
            }
        }
        var r = Function(name: f.name, domain: f.domain, body: body)
        r.overload = f.overload
        r.attributeNames = f.attribute
        r.attributeDefaults = try f.attributeProto.enumerated().map { i, a in
            try within("attribute_proto[\(i)](\(a.name))") { try $0.decodeAttribute(a) }
        }
        r.opsetImports = f.opsetImport.map(decodeOpset)
        r.docString = f.docString
        r.metadata = f.metadataProps.map(decodePair)
        if f.hasName { r.presence.insert(field: 1) }
        if f.hasDocString { r.presence.insert(field: 8) }
        if f.hasDomain { r.presence.insert(field: 10) }
        if f.hasOverload { r.presence.insert(field: 13) }
        r.preserved = PreservedFields(Array(f.unknownFields.data))
        return r
    }

    private func definedValue(_ name: String, in g: inout Graph, role: String) throws -> ValueID {
        guard !name.isEmpty else { throw error("a function \(role) has an empty name") }
        return g.value(named: name)
    }

    // MARK: Graph

    mutating func decodeGraph(_ p: Onnx_GraphProto) throws -> Graph {
        var g = Graph(name: p.name)
        let lifted = try splitPlaceholders(p.unknownFields).0
        guard lifted.payload.allSatisfy({ $0 < nodeLists.count }),
              lifted.initializers.allSatisfy({ $0 < initializerLists.count }) else {
            throw error("internal: graph placeholder out of range")
        }
        // The lifted nodes of a large graph are parsed on another core while this one decodes the
        // initializers and the rest; they are added after them, in order, as before.
        let wireNodes = lifted.payload.count == 1 ? nodeLists[lifted.payload[0]] : lifted.payload.flatMap { nodeLists[$0] }
        var parse: NodeParseTask? = nil
        if wireNodes.count >= NodeParseTask.threshold {
            var parser = self
            parser.external = external.map { ExternalDataResolver(sharing: $0) }
            parse = NodeParseTask(parser: parser, nodes: wireNodes, firstIndex: p.node.count)
        }
        defer { parse?.wait() }  // never left running when decoding fails first
        let nodeCount = p.node.count + wireNodes.count
        let initializerCount = p.initializer.count + lifted.initializers.reduce(0) { $0 + initializerLists[$1].count }
        // Most nodes have one output: reserving for that (the arenas grow if not) keeps the name
        // table half the size a two-outputs guess gives, and its pages are all touched by hashing.
        g.reserveCapacity(nodes: nodeCount,
                          values: nodeCount + initializerCount + p.input.count + p.output.count)
        g.docString = p.docString
        if p.hasName { g.presence.insert(field: 2) }
        if p.hasDocString { g.presence.insert(field: 10) }
        g.metadata = p.metadataProps.map(decodePair)
        let (placeholders, unknown) = try splitPlaceholders(p.unknownFields)
        g.preserved = PreservedFields(unknown)
        g.quantizationAnnotations = p.quantizationAnnotation.map { a in
            var r = TensorAnnotation(tensorName: a.tensorName, quantParameterTensorNames: a.quantParameterTensorNames.map(decodePair))
            if a.hasTensorName { r.presence.insert(field: 1) }
            r.preserved = PreservedFields(Array(a.unknownFields.data))
            return r
        }

        var assigned = Set<ValueID>()
        for (i, t) in p.initializer.enumerated() {
            try within("initializer[\(i)](\(t.name))") { d in
                guard !t.name.isEmpty else { throw d.error("initializer has no name") }
                let id = g.value(named: t.name)
                guard !g.isConstant(id) else { throw d.error("initializer '\(t.name)' is defined twice") }
                g.attachInitializer(try d.decodeTensor(t), to: id)
            }
        }
        // One list in the usual case: used as is rather than copied by `flatMap`.
        let liftedInitializers = placeholders.initializers.count == 1
            ? initializerLists[placeholders.initializers[0]] : placeholders.initializers.flatMap { initializerLists[$0] }
        do {
            for (j, bytes) in liftedInitializers.enumerated() {
                let i = p.initializer.count + j
                var tensor = Tensor(dataType: .undefined, dims: [], storage: .none)
                do {
                    tensor = try decodeWireTensor(bytes)
                } catch let e as KilnError {
                    throw e.within("initializer[\(i)]")
                }
                try within("initializer[\(i)](\(tensor.name))") { d in
                    guard !tensor.name.isEmpty else { throw d.error("initializer has no name") }
                    let id = g.value(named: tensor.name)
                    guard !g.isConstant(id) else { throw d.error("initializer '\(tensor.name)' is defined twice") }
                    g.attachInitializer(tensor, to: id)
                }
            }
        }
        for (i, s) in p.sparseInitializer.enumerated() {
            try within("sparse_initializer[\(i)](\(s.values.name))") { d in
                let sparse = try d.decodeSparse(s)
                guard !sparse.name.isEmpty else { throw d.error("sparse initializer has no name (values.name is empty)") }
                let id = g.value(named: sparse.name)
                guard !g.isConstant(id) else { throw d.error("initializer '\(sparse.name)' is defined twice") }
                g.attachSparseInitializer(sparse, to: id)
            }
        }
        for (i, vi) in p.input.enumerated() {
            try within("input[\(i)](\(vi.name))") { d in
                let (id, rec) = try d.decodeValueInfo(vi, in: &g)
                d.assignInfo(rec, to: id, slot: .input(g.inputs.count), in: &g, assigned: &assigned)
                g.appendInput(id)
            }
        }
        for (i, vi) in p.output.enumerated() {
            try within("output[\(i)](\(vi.name))") { d in
                let (id, rec) = try d.decodeValueInfo(vi, in: &g)
                d.assignInfo(rec, to: id, slot: .output(g.outputs.count), in: &g, assigned: &assigned)
                g.appendOutput(id)
            }
        }
        for (i, vi) in p.valueInfo.enumerated() {
            try within("value_info[\(i)](\(vi.name))") { d in
                let (id, rec) = try d.decodeValueInfo(vi, in: &g)
                d.assignInfo(rec, to: id, slot: .valueInfo(g.valueInfo.count), in: &g, assigned: &assigned)
                g.appendValueInfo(id)
            }
        }
        try decodeNodes(p.node, into: &g)
        if let parse {
            try parse.append(to: &g, decoder: self)
        } else if !wireNodes.isEmpty {
            try decodeWireNodes(wireNodes, into: &g, firstIndex: p.node.count)
        }
        return g
    }

    /// Separates a placeholder field (`payloadMarkerField`) from real unknown fields.
    func splitPlaceholder(_ unknown: UnknownStorage) throws -> (Int?, [UInt8]) {
        let (markers, rest) = try splitPlaceholders(unknown)
        return (markers.payload.last, rest)
    }

    /// Placeholder indices found among a message's unknown fields, in order (a message split over
    /// several occurrences in the file has one per occurrence).
    struct Placeholders {
        var payload: [Int] = []
        var initializers: [Int] = []
    }

    /// Separates the placeholder fields (`payloadMarkerField`, `initializerMarkerField`) from real
    /// unknown fields.
    func splitPlaceholders(_ unknown: UnknownStorage) throws -> (Placeholders, [UInt8]) {
        var found = Placeholders()
        if unknown.data.isEmpty { return (found, []) }
        let data = Array(unknown.data)
        var rest: [UInt8] = []
        try data.withUnsafeBytes { buf in
            var r = WireReader(buf, range: 0..<buf.count)
            while !r.isAtEnd {
                let f = try r.readField()
                if f.wireType == .varint && (f.number == payloadMarkerField || f.number == initializerMarkerField) {
                    var v = WireReader(buf, range: f.payload)
                    let index = Int(try v.readVarint())
                    if f.number == payloadMarkerField { found.payload.append(index) } else { found.initializers.append(index) }
                } else {
                    rest.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[f.whole]))
                }
            }
        }
        return (found, rest)
    }

    /// The first `ValueInfoProto` of a value becomes its info; later ones that differ are kept as
    /// overrides for their slot.
    func assignInfo(_ rec: ValueInfoRecord, to id: ValueID, slot: InfoSlot, in g: inout Graph,
                    assigned: inout Set<ValueID>) {
        if assigned.contains(id) {
            if g[value: id].info != rec { g.setInfoOverride(rec, for: slot) }
        } else {
            g[value: id].info = rec
            assigned.insert(id)
        }
    }

    /// Adds a decoded node: its inputs by name (empty names are empty slots), its outputs created.
    func appendNode(_ node: consuming Node, inputs: [String], outputs: [String], to g: inout Graph) throws {
        do throws(Graph.OutputConflict) {
            try g.appendNode(node, inputNames: inputs, outputNames: outputs)
        } catch {
            throw conflictError(error, in: g)
        }
    }

    /// The error for a node whose outputs `Graph` refused.
    func conflictError(_ conflict: Graph.OutputConflict, in g: Graph) -> KilnError {
        switch conflict {
        case .alreadyProduced(let name, let producer):
            return error("output '\(name)' is already produced by \(g[node: producer].label); ONNX graphs assign each name once")
        case .listedTwice(let name):
            return error("output '\(name)' is listed twice")
        }
    }

    mutating func decodeNodes(_ nodes: [Onnx_NodeProto], into g: inout Graph) throws {
        for (i, n) in nodes.enumerated() {
            try within("node[\(i)](\(n.name.isEmpty ? n.opType : n.name))") { d in
                var node = Node(opType: n.opType, domain: n.domain, name: n.name)
                node.overload = n.overload
                node.docString = n.docString
                if !n.metadataProps.isEmpty { node.metadata = n.metadataProps.map(d.decodePair) }
                var p = FieldPresence()
                if n.hasName { p.insert(field: 3) }
                if n.hasOpType { p.insert(field: 4) }
                if n.hasDocString { p.insert(field: 6) }
                if n.hasDomain { p.insert(field: 7) }
                if n.hasOverload { p.insert(field: 8) }
                node.presence = p
                if !n.deviceConfigurations.isEmpty {
                    var opaque = Onnx_NodeProto()
                    opaque.deviceConfigurations = n.deviceConfigurations
                    node.preserved = try d.preserved(opaque, n.unknownFields)
                } else if !n.unknownFields.data.isEmpty {
                    node.preserved = PreservedFields(Array(n.unknownFields.data))
                }
                if !n.attribute.isEmpty {
                    node.attributes = try n.attribute.enumerated().map { j, a in
                        try d.within("attribute[\(j)](\(a.name))") { try $0.decodeAttribute(a) }
                    }
                }
                try d.appendNode(node, inputs: n.input, outputs: n.output, to: &g)
            }
        }
    }
}

extension ExternalDataResolver {
    /// A resolver for the same model folder with its own cache of mapped files (a decoder on
    /// another thread gets one: the cache is not synchronized).
    convenience init(sharing other: ExternalDataResolver) {
        self.init(modelPath: other.baseDirectory + "/model.onnx")
    }
}
