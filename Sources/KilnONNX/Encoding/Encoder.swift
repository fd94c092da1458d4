import Dispatch
import KilnIR
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Converts the IR back into protobuf messages. Large tensor payloads are not copied into the
/// messages: each is replaced by a placeholder and streamed into the output later
/// (`PayloadSplicer`), or written to an external data file (`ExternalDataPlan`).
struct ProtoEncoder {
    /// Payloads standing behind placeholders, by index.
    var payloads: [TensorBytes] = []
    /// Graph node lists encoded straight to wire format, behind graph placeholders.
    var nodeBlobs: [(bytes: [UInt8], hasPlaceholders: Bool)] = []
    /// Graph initializer lists encoded straight to wire format, behind graph placeholders.
    var initializerBlobs: [[OutputPiece]] = []
    /// Graph inputs, outputs and value_info encoded straight to wire format, behind placeholders.
    var valueInfoBlobs: [[UInt8]] = []
    /// Payloads at least this large are lifted instead of copied into the message.
    let liftThreshold: Int
    /// Decides which tensors go to external files; nil writes everything inline.
    let externalPlan: ExternalDataPlan?
    /// The main graph's nodes and initializers, already encoded (`PendingGraphEncoding`).
    var preEncodedMain: PendingGraphEncoding.Results = (nil, nil)

    init(liftThreshold: Int = 1024, externalPlan: ExternalDataPlan?) {
        self.liftThreshold = liftThreshold
        self.externalPlan = externalPlan
    }

    func apply<M: SwiftProtobuf.Message>(_ preserved: PreservedFields, to message: inout M) throws {
        if !preserved.isEmpty { try message.merge(serializedBytes: preserved.bytes) }
    }

    // MARK: Model

    mutating func encodeModel(_ model: Model) throws -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        let p = model.presence
        if p.contains(field: 1) || model.irVersion != 0 { m.irVersion = model.irVersion }
        m.opsetImport = try model.opsetImports.map(encodeOpset)
        if p.contains(field: 2) || !model.producerName.isEmpty { m.producerName = model.producerName }
        if p.contains(field: 3) || !model.producerVersion.isEmpty { m.producerVersion = model.producerVersion }
        if p.contains(field: 4) || !model.domain.isEmpty { m.domain = model.domain }
        if p.contains(field: 5) || model.modelVersion != 0 { m.modelVersion = model.modelVersion }
        if p.contains(field: 6) || !model.docString.isEmpty { m.docString = model.docString }
        if model.hasGraph {
            m.graph = try encodeGraph(model.graph, tensorsMayGoExternal: true, preEncoded: preEncodedMain)
            preEncodedMain = (nil, nil)
        }
        m.metadataProps = try model.metadata.map(encodePair)
        m.trainingInfo = try model.trainingInfo.map { t in
            var r = Onnx_TrainingInfoProto()
            if let g = t.initialization { r.initialization = try encodeGraph(g, tensorsMayGoExternal: true) }
            if let g = t.algorithm { r.algorithm = try encodeGraph(g, tensorsMayGoExternal: true) }
            r.initializationBinding = try t.initializationBinding.map(encodePair)
            r.updateBinding = try t.updateBinding.map(encodePair)
            try apply(t.preserved, to: &r)
            return r
        }
        m.functions = try model.functions.map { try encodeFunction($0) }
        try apply(model.preserved, to: &m)
        return m
    }

    func encodeOpset(_ o: OpsetImport) throws -> Onnx_OperatorSetIdProto {
        var r = Onnx_OperatorSetIdProto()
        if o.presence.contains(field: 1) || !o.domain.isEmpty { r.domain = o.domain }
        if o.presence.contains(field: 2) || o.version != 0 { r.version = o.version }
        try apply(o.preserved, to: &r)
        return r
    }

    func encodePair(_ e: StringPair) throws -> Onnx_StringStringEntryProto {
        var r = Onnx_StringStringEntryProto()
        if e.presence.contains(field: 1) || !e.key.isEmpty { r.key = e.key }
        if e.presence.contains(field: 2) || !e.value.isEmpty { r.value = e.value }
        try apply(e.preserved, to: &r)
        return r
    }

    mutating func encodeFunction(_ f: Function) throws -> Onnx_FunctionProto {
        var r = Onnx_FunctionProto()
        let p = f.presence
        if p.contains(field: 1) || !f.name.isEmpty { r.name = f.name }
        let body = f.body
        r.input = body.inputs.map { body[value: $0].name }
        r.output = body.outputs.map { body[value: $0].name }
        r.attribute = f.attributeNames
        r.attributeProto = try f.attributeDefaults.map { try encodeAttribute($0, tensorsMayGoExternal: false) }
        r.node = try encodeNodes(body, tensorsMayGoExternal: false)
        if p.contains(field: 8) || !f.docString.isEmpty { r.docString = f.docString }
        r.opsetImport = try f.opsetImports.map(encodeOpset)
        if p.contains(field: 10) || !f.domain.isEmpty { r.domain = f.domain }
        if p.contains(field: 13) || !f.overload.isEmpty { r.overload = f.overload }
        r.valueInfo = try body.valueInfo.enumerated().map { i, id in
            try encodeValueInfo(name: body[value: id].name, body.infoOverrides[.valueInfo(i)] ?? body[value: id].info)
        }
        r.metadataProps = try f.metadata.map(encodePair)
        try apply(f.preserved, to: &r)
        return r
    }

    // MARK: Graph

    mutating func encodeGraph(_ g: Graph, tensorsMayGoExternal: Bool,
                              preEncoded: PendingGraphEncoding.Results = (nil, nil)) throws -> Onnx_GraphProto {
        // A graph with many value infos (a shape-inferred one lists every value) has them written on
        // another core while this one writes the nodes and initializers; the bytes are the same.
        let valueInfoCount = g.inputs.count + g.outputs.count + g.valueInfo.count
        // With the nodes and initializers encoded already, this core has nothing else to do: it
        // writes the second half of value_info while the other writes the first.
        let split = preEncoded.nodes != nil && preEncoded.initializers != nil ? g.valueInfo.count / 2 : g.valueInfo.count
        let concurrentValueInfo = valueInfoCount >= ProtoEncoder.concurrentValueInfoThreshold
            ? ValueInfoTask(g, valueInfo: 0..<split) : nil
        var r = Onnx_GraphProto()
        if !g.order.isEmpty {
            let before = (payloads.count, nodeBlobs.count)
            let blob = try preEncoded.nodes ?? encodeNodesWire(g, tensorsMayGoExternal: tensorsMayGoExternal)
            let nested = before != (payloads.count, nodeBlobs.count)
            var marker: [UInt8] = []
            WireWriter.appendPlaceholder(field: payloadMarkerField, index: nodeBlobs.count, to: &marker)
            nodeBlobs.append((blob, nested))
            try r.merge(serializedBytes: marker)
        }
        if g.presence.contains(field: 2) || !g.name.isEmpty { r.name = g.name }
        if let pieces = preEncoded.initializers ?? encodeSimpleInitializers(g) {
            var marker: [UInt8] = []
            WireWriter.appendPlaceholder(field: initializerMarkerField, index: initializerBlobs.count, to: &marker)
            initializerBlobs.append(pieces)
            try r.merge(serializedBytes: marker)
        } else {
            r.initializer = try g.initializerOrder.map { id in
                let v = g[value: id]
                var t = v.initializer!
                t.name = v.name
                t.presence.insert(field: 8)
                return try encodeTensor(t, mayGoExternal: tensorsMayGoExternal)
            }
        }
        r.sparseInitializer = try g.sparseInitializerOrder.map { id in
            let v = g[value: id]
            var s = v.sparseInitializer!
            s.values?.name = v.name
            return try encodeSparse(s)
        }
        if g.presence.contains(field: 10) || !g.docString.isEmpty { r.docString = g.docString }
        if !(g.inputs.isEmpty && g.outputs.isEmpty && g.valueInfo.isEmpty) {
            var marker: [UInt8] = []
            WireWriter.appendPlaceholder(field: valueInfoMarkerField, index: valueInfoBlobs.count, to: &marker)
            if let concurrentValueInfo {
                let rest = split < g.valueInfo.count ? ValueInfoWire.graphFields(g, valueInfo: split..<g.valueInfo.count) : []
                valueInfoBlobs.append(concurrentValueInfo.result() + rest)
            } else {
                valueInfoBlobs.append(ValueInfoWire.graphFields(g))
            }
            try r.merge(serializedBytes: marker)
        }
        r.quantizationAnnotation = try g.quantizationAnnotations.map { a in
            var q = Onnx_TensorAnnotation()
            if a.presence.contains(field: 1) || !a.tensorName.isEmpty { q.tensorName = a.tensorName }
            q.quantParameterTensorNames = try a.quantParameterTensorNames.map(encodePair)
            try apply(a.preserved, to: &q)
            return q
        }
        r.metadataProps = try g.metadata.map(encodePair)
        try apply(g.preserved, to: &r)
        return r
    }

    mutating func encodeNodes(_ g: Graph, tensorsMayGoExternal: Bool) throws -> [Onnx_NodeProto] {
        var out: [Onnx_NodeProto] = []
        out.reserveCapacity(g.order.count)
        for id in g.order {
            let n = g[node: id]
            var r = Onnx_NodeProto()
            r.input = n.inputs.map { $0.map { g.name(of: $0) } ?? "" }
            r.output = n.outputs.map { $0.map { g.name(of: $0) } ?? "" }
            let p = n.presence
            if p.contains(field: 3) || !n.name.isEmpty { r.name = n.name }
            if p.contains(field: 4) || !n.opType.isEmpty { r.opType = n.opType }
            r.attribute = try n.attributes.map { try encodeAttribute($0, tensorsMayGoExternal: tensorsMayGoExternal) }
            if p.contains(field: 6) || !n.docString.isEmpty { r.docString = n.docString }
            if p.contains(field: 7) || !n.domain.isEmpty { r.domain = n.domain }
            if p.contains(field: 8) || !n.overload.isEmpty { r.overload = n.overload }
            r.metadataProps = try n.metadata.map(encodePair)
            try apply(n.preserved, to: &r)
            out.append(r)
        }
        return out
    }

    func encodeValueInfo(name: String, _ info: ValueInfoRecord) throws -> Onnx_ValueInfoProto {
        var r = Onnx_ValueInfoProto()
        r.name = name
        if let t = info.type { r.type = try encodeType(t) }
        if info.presence.contains(field: 3) || !info.docString.isEmpty { r.docString = info.docString }
        r.metadataProps = try info.metadata.map(encodePair)
        try apply(info.preserved, to: &r)
        return r
    }

    func encodeType(_ t: ValueType) throws -> Onnx_TypeProto {
        var r = Onnx_TypeProto()
        switch t.kind {
        case .tensor(let e, let s):
            var x = Onnx_TypeProto.Tensor()
            if let e { x.elemType = e.rawValue }
            if let s { x.shape = try encodeShape(s) }
            try apply(t.innerPreserved, to: &x)
            r.tensorType = x
        case .sparseTensor(let e, let s):
            var x = Onnx_TypeProto.SparseTensor()
            if let e { x.elemType = e.rawValue }
            if let s { x.shape = try encodeShape(s) }
            try apply(t.innerPreserved, to: &x)
            r.sparseTensorType = x
        case .sequence(let e):
            var x = Onnx_TypeProto.Sequence()
            if let e { x.elemType = try encodeType(e) }
            try apply(t.innerPreserved, to: &x)
            r.sequenceType = x
        case .optional(let e):
            var x = Onnx_TypeProto.Optional()
            if let e { x.elemType = try encodeType(e) }
            try apply(t.innerPreserved, to: &x)
            r.optionalType = x
        case .map(let k, let v):
            var x = Onnx_TypeProto.Map()
            if let k { x.keyType = k.rawValue }
            if let v { x.valueType = try encodeType(v) }
            try apply(t.innerPreserved, to: &x)
            r.mapType = x
        case .opaque(let d, let n):
            var x = Onnx_TypeProto.Opaque()
            if let d { x.domain = d }
            if let n { x.name = n }
            try apply(t.innerPreserved, to: &x)
            r.opaqueType = x
        case .none:
            break
        }
        if let d = t.denotation { r.denotation = d }
        try apply(t.preserved, to: &r)
        return r
    }

    func encodeShape(_ s: Shape) throws -> Onnx_TensorShapeProto {
        var r = Onnx_TensorShapeProto()
        r.dim = try s.dims.enumerated().map { i, d in
            var x = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .value(let v): x.dimValue = v
            case .symbol(let p): x.dimParam = p
            case .unknown: break
            }
            if let den = s.denotations, i < den.count, let text = den[i] { x.denotation = text }
            if let dp = s.dimPreserved, i < dp.count { try apply(dp[i], to: &x) }
            return x
        }
        try apply(s.preserved, to: &r)
        return r
    }

    mutating func encodeAttribute(_ a: Attribute, tensorsMayGoExternal: Bool) throws -> Onnx_AttributeProto {
        var r = Onnx_AttributeProto()
        let p = a.presence
        let decoded = p.contains(field: 0)
        if !decoded || p.contains(field: 1) || !a.name.isEmpty { r.name = a.name }
        if let ref = a.refAttrName { r.refAttrName = ref }
        if p.contains(field: 13) || !a.docString.isEmpty { r.docString = a.docString }
        let type: Onnx_AttributeProto.AttributeType
        switch a.value {
        case .undefined: type = .undefined
        case .float(let v):
            type = .float
            if !decoded || p.contains(field: 2) || v != 0 { r.f = v }
        case .int(let v):
            type = .int
            if !decoded || p.contains(field: 3) || v != 0 { r.i = v }
        case .string(let v):
            type = .string
            if !decoded || p.contains(field: 4) || !v.isEmpty { r.s = Data(v) }
        case .tensor(let t):
            type = .tensor
            r.t = try encodeTensor(t, mayGoExternal: tensorsMayGoExternal)
        case .graph(let g):
            type = .graph
            r.g = try encodeGraph(g, tensorsMayGoExternal: tensorsMayGoExternal)
        case .sparseTensor(let s):
            type = .sparseTensor
            r.sparseTensor = try encodeSparse(s)
        case .type(let t):
            type = .typeProto
            r.tp = try encodeType(t)
        case .floats(let v): type = .floats; r.floats = v
        case .ints(let v): type = .ints; r.ints = v
        case .strings(let v): type = .strings; r.strings = v.map { Data($0) }
        case .tensors(let v):
            type = .tensors
            r.tensors = try v.map { try encodeTensor($0, mayGoExternal: tensorsMayGoExternal) }
        case .graphs(let v):
            type = .graphs
            r.graphs = try v.map { try encodeGraph($0, tensorsMayGoExternal: tensorsMayGoExternal) }
        case .sparseTensors(let v): type = .sparseTensors; r.sparseTensors = try v.map { try encodeSparse($0) }
        case .types(let v): type = .typeProtos; r.typeProtos = try v.map(encodeType)
        }
        if !decoded || p.contains(field: 20) { r.type = type }
        try apply(a.preserved, to: &r)
        return r
    }
}

extension ProtoEncoder {
    /// Value infos from which `encodeGraph` writes them concurrently with the rest of the graph.
    static let concurrentValueInfoThreshold = 4096
}

/// `ValueInfoWire.graphFields` of one graph, computed on another thread; `result` waits for it.
final class ValueInfoTask: @unchecked Sendable {
    private let group = DispatchGroup()
    // Written once by the worker before `group.leave()`, read after `group.wait()`.
    private var bytes: [UInt8] = []

    init(_ g: Graph, valueInfo part: Range<Int>) {
        DispatchQueue.global().async(group: group) { [self] in
            bytes = ValueInfoWire.graphFields(g, valueInfo: part)
        }
    }

    func result() -> [UInt8] {
        group.wait()
        return bytes
    }
}
