import KilnIR
import SwiftProtobuf

extension ProtoDecoder {
    func dataType(_ raw: Int32, field: String) throws -> DataType {
        guard let t = DataType(rawValue: raw) else {
            throw error("\(field) is \(raw), which is not an ONNX data type (known: 0...\(DataType.allCases.last!.rawValue))")
        }
        return t
    }

    mutating func decodeValueInfo(_ vi: Onnx_ValueInfoProto, in g: inout Graph) throws -> (ValueID, ValueInfoRecord) {
        guard !vi.name.isEmpty else { throw error("value info has an empty name") }
        let id = g.value(named: vi.name)
        var rec = ValueInfoRecord(type: vi.hasType ? try decodeType(vi.type) : nil)
        rec.docString = vi.docString
        rec.metadata = vi.metadataProps.map(decodePair)
        if vi.hasName { rec.presence.insert(field: 1) }
        if vi.hasDocString { rec.presence.insert(field: 3) }
        rec.preserved = PreservedFields(Array(vi.unknownFields.data))
        return (id, rec)
    }

    func decodeType(_ t: Onnx_TypeProto) throws -> ValueType {
        var r: ValueType
        var inner = PreservedFields()
        switch t.value {
        case .tensorType(let x):
            r = ValueType(.tensor(elementType: x.hasElemType ? try dataType(x.elemType, field: "elem_type") : nil,
                                  shape: x.hasShape ? decodeShape(x.shape) : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case .sparseTensorType(let x):
            r = ValueType(.sparseTensor(elementType: x.hasElemType ? try dataType(x.elemType, field: "elem_type") : nil,
                                        shape: x.hasShape ? decodeShape(x.shape) : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case .sequenceType(let x):
            r = ValueType(.sequence(x.hasElemType ? try decodeType(x.elemType) : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case .optionalType(let x):
            r = ValueType(.optional(x.hasElemType ? try decodeType(x.elemType) : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case .mapType(let x):
            r = ValueType(.map(keyType: x.hasKeyType ? try dataType(x.keyType, field: "key_type") : nil,
                               valueType: x.hasValueType ? try decodeType(x.valueType) : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case .opaqueType(let x):
            r = ValueType(.opaque(domain: x.hasDomain ? x.domain : nil, name: x.hasName ? x.name : nil))
            inner = PreservedFields(Array(x.unknownFields.data))
        case nil:
            r = ValueType(.none)
        }
        r.denotation = t.hasDenotation ? t.denotation : nil
        r.preserved = PreservedFields(Array(t.unknownFields.data))
        r.innerPreserved = inner
        return r
    }

    func decodeShape(_ s: Onnx_TensorShapeProto) -> Shape {
        var dims: [Dim] = []
        dims.reserveCapacity(s.dim.count)
        var denotations: [String?] = []
        var anyDenotation = false
        var dimPreserved: [PreservedFields] = []
        var anyDimPreserved = false
        for d in s.dim {
            switch d.value {
            case .dimValue(let v): dims.append(.value(v))
            case .dimParam(let p): dims.append(.symbol(p))
            case nil: dims.append(.unknown)
            }
            denotations.append(d.hasDenotation ? d.denotation : nil)
            anyDenotation = anyDenotation || d.hasDenotation
            let u = PreservedFields(Array(d.unknownFields.data))
            anyDimPreserved = anyDimPreserved || !u.isEmpty
            dimPreserved.append(u)
        }
        var shape = Shape(dims, denotations: anyDenotation ? denotations : nil)
        shape.preserved = PreservedFields(Array(s.unknownFields.data))
        shape.dimPreserved = anyDimPreserved ? dimPreserved : nil
        return shape
    }

    mutating func decodeAttribute(_ a: Onnx_AttributeProto) throws -> Attribute {
        var p = FieldPresence()
        p.insert(field: 0)  // decoded: presence bits are authoritative
        if a.hasName { p.insert(field: 1) }
        if a.hasF { p.insert(field: 2) }
        if a.hasI { p.insert(field: 3) }
        if a.hasS { p.insert(field: 4) }
        if a.hasT { p.insert(field: 5) }
        if a.hasG { p.insert(field: 6) }
        if a.hasDocString { p.insert(field: 13) }
        if a.hasTp { p.insert(field: 14) }
        if a.hasType { p.insert(field: 20) }
        if a.hasSparseTensor { p.insert(field: 22) }

        let kind: Onnx_AttributeProto.AttributeType
        if a.hasType {
            kind = a.type
        } else if a.hasF { kind = .float }
        else if a.hasI { kind = .int }
        else if a.hasS { kind = .string }
        else if a.hasT { kind = .tensor }
        else if a.hasG { kind = .graph }
        else if a.hasSparseTensor { kind = .sparseTensor }
        else if a.hasTp { kind = .typeProto }
        else if !a.floats.isEmpty { kind = .floats }
        else if !a.ints.isEmpty { kind = .ints }
        else if !a.strings.isEmpty { kind = .strings }
        else if !a.tensors.isEmpty { kind = .tensors }
        else if !a.graphs.isEmpty { kind = .graphs }
        else if !a.sparseTensors.isEmpty { kind = .sparseTensors }
        else if !a.typeProtos.isEmpty { kind = .typeProtos }
        else { kind = .undefined }

        let value: Attribute.Value
        switch kind {
        case .undefined: value = .undefined
        case .float: value = .float(a.f)
        case .int: value = .int(a.i)
        case .string: value = .string(Array(a.s))
        case .tensor: value = .tensor(try within("t") { try $0.decodeTensor(a.t) })
        case .graph: value = .graph(try within("g") { try $0.decodeGraph(a.g) })
        case .sparseTensor: value = .sparseTensor(try within("sparse_tensor") { try $0.decodeSparse(a.sparseTensor) })
        case .typeProto: value = .type(try decodeType(a.tp))
        case .floats: value = .floats(a.floats)
        case .ints: value = .ints(a.ints)
        case .strings: value = .strings(a.strings.map { Array($0) })
        case .tensors:
            value = .tensors(try a.tensors.enumerated().map { i, t in try within("tensors[\(i)]") { try $0.decodeTensor(t) } })
        case .graphs:
            value = .graphs(try a.graphs.enumerated().map { i, g in try within("graphs[\(i)]") { try $0.decodeGraph(g) } })
        case .sparseTensors:
            value = .sparseTensors(try a.sparseTensors.enumerated().map { i, s in
                try within("sparse_tensors[\(i)]") { try $0.decodeSparse(s) }
            })
        case .typeProtos: value = .types(try a.typeProtos.map(decodeType))
        }
        var r = Attribute(a.name, value, refAttrName: a.hasRefAttrName ? a.refAttrName : nil)
        r.docString = a.docString
        r.presence = p
        r.preserved = try preservedExtras(of: a, kind: kind)
        return r
    }

    /// Value fields that do not belong to the attribute's type (`type: INT` with an `f` as well) are
    /// kept as preserved wire bytes, so writing gives the same message. Tensor, graph and sparse
    /// fields are refused instead: they may hold lifted payloads that bytes cannot carry.
    private func preservedExtras(of a: Onnx_AttributeProto, kind: Onnx_AttributeProto.AttributeType) throws -> PreservedFields {
        var extra = Onnx_AttributeProto()
        var any = false
        if a.hasF && kind != .float { extra.f = a.f; any = true }
        if a.hasI && kind != .int { extra.i = a.i; any = true }
        if a.hasS && kind != .string { extra.s = a.s; any = true }
        if a.hasTp && kind != .typeProto { extra.tp = a.tp; any = true }
        if !a.floats.isEmpty && kind != .floats { extra.floats = a.floats; any = true }
        if !a.ints.isEmpty && kind != .ints { extra.ints = a.ints; any = true }
        if !a.strings.isEmpty && kind != .strings { extra.strings = a.strings; any = true }
        if !a.typeProtos.isEmpty && kind != .typeProtos { extra.typeProtos = a.typeProtos; any = true }
        let mismatched: [(Bool, String)] = [
            (a.hasT && kind != .tensor, "t"), (a.hasG && kind != .graph, "g"),
            (a.hasSparseTensor && kind != .sparseTensor, "sparse_tensor"),
            (!a.tensors.isEmpty && kind != .tensors, "tensors"), (!a.graphs.isEmpty && kind != .graphs, "graphs"),
            (!a.sparseTensors.isEmpty && kind != .sparseTensors, "sparse_tensors"),
        ]
        if let field = mismatched.first(where: { $0.0 })?.1 {
            throw error("attribute '\(a.name)' has type \(kind) but also a '\(field)' value; an attribute holds one value")
        }
        guard any else { return PreservedFields(Array(a.unknownFields.data)) }
        var bytes: [UInt8] = try extra.serializedBytes()
        bytes.append(contentsOf: a.unknownFields.data)
        return PreservedFields(bytes)
    }
}
