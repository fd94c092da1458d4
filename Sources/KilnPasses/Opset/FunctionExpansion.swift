import KilnIR
import KilnOpset
import KilnONNX

/// Inlines a schema's function body in place of a node (the expansion used when a lower opset
/// lacks an operator or its version).
///
/// Rules:
/// 1. The body is the schema's body with the largest opset not above the current one; it is
///    usable only when every operator it calls resolves to the same schema at the body's opset
///    and at the current one (so the body means at the current opset what it meant at its own),
///    and no body node holds a subgraph (Range's Loop body is not inlined).
/// 2. Formal inputs bind to the node's inputs (a missing optional input is an empty slot),
///    formal outputs to the node's outputs; every other body value gets a fresh name.
/// 3. An attribute that refers to a function attribute (`ref_attr_name`) takes the node's value,
///    else the schema's default, else the function's default, else it is left out.
/// 4. The inlined nodes are valid at the current opset; they are converted in the same step.
enum FunctionExpansion {
    static func usableBody(_ schema: OperatorSchema, at opset: Int, registry: SchemaRegistry) -> OperatorSchema.FunctionBody? {
        guard let body = schema.functionBody(forOpset: opset), let function = decode(body) else { return nil }
        for id in function.body.order {
            let n = function.body[node: id]
            let d = OperatorDomain.canonical(n.domain)
            guard d == OperatorDomain.onnx, !n.hasSubgraphs,
                  let a = registry.schema(domain: d, op: n.opType, opset: body.opset),
                  let b = registry.schema(domain: d, op: n.opType, opset: opset), a == b else { return nil }
        }
        return body
    }

    /// Decodes a serialized `FunctionProto` by wrapping it as the only function of a `ModelProto`
    /// (field 25, after `ir_version` = 10 in field 1), so the one codec decodes it.
    static func decode(_ body: OperatorSchema.FunctionBody) -> Function? {
        var bytes: [UInt8] = [0x08, 0x0A, 0xCA, 0x01]
        var n = body.serializedFunctionProto.count
        repeat {
            let low = UInt8(n & 0x7F)
            n >>= 7
            bytes.append(n == 0 ? low : low | 0x80)
        } while n != 0
        bytes += body.serializedFunctionProto
        guard let model = try? ModelFile.decode(bytes: bytes) else { return nil }
        return model.functions.first
    }

    static func expand(_ rw: inout OpsetRewriter, _ id: NodeID, schema: OperatorSchema) throws {
        guard let body = usableBody(schema, at: rw.from, registry: rw.registry), let function = decode(body) else {
            throw rw.refusal(id, "\(schema) has no function body usable at opset \(rw.from)")
        }
        try inline(&rw, id, function: function, schema: schema)
    }

    /// Replaces node `id` with the nodes of `function` (rules 2-4).
    static func inline(_ rw: inout OpsetRewriter, _ id: NodeID, function: Function, schema: OperatorSchema?) throws {
        let node = rw.graph[node: id]
        let fbody = function.body
        var map: [String: ValueID?] = [:]
        for (k, formal) in fbody.inputs.enumerated() {
            map[fbody.name(of: formal)] = k < node.inputs.count ? node.inputs[k] : nil
        }
        var outputs: [ValueID] = []
        for k in fbody.outputs.indices {
            if k < node.outputs.count, let v = node.outputs[k] {
                try rw.graph.setOutput(of: id, at: k, to: nil)
                outputs.append(v)
            } else {
                outputs.append(try rw.graph.addValue(named: rw.freshName(node.name + "_unused")))
            }
        }
        let outputIndex = Dictionary(fbody.outputs.enumerated().map { (fbody.name(of: $1), $0) }, uniquingKeysWith: { a, _ in a })
        func attribute(_ a: Attribute) -> Attribute? {
            guard let ref = a.refAttrName else { return a }
            let value = node.attribute(ref)?.value
                ?? schema?.attribute(named: ref)?.defaultValue?.value
                ?? function.attributeDefaults.first { $0.name == ref }?.value
            guard let value else { return nil }
            return Attribute(a.name, value)
        }
        let base = node.name.isEmpty ? node.opType : node.name
        for bid in fbody.order {
            let b = fbody[node: bid]
            let ins: [ValueID?] = try b.inputs.map { slot in
                guard let slot else { return nil }
                let name = fbody.name(of: slot)
                if let bound = map[name] { return bound }
                throw rw.refusal(id, "the function body of \(node.opType) reads '\(name)' before defining it")
            }
            var outs: [ValueID?] = []
            for slot in b.outputs {
                guard let slot else { outs.append(nil); continue }
                let name = fbody.name(of: slot)
                let v: ValueID
                if let k = outputIndex[name] { v = outputs[k] }
                else { v = try rw.graph.addValue(named: rw.freshName("\(base)_\(name)")) }
                map[name] = v
                outs.append(v)
            }
            var n = Node(opType: b.opType, domain: b.domain, name: rw.freshName("\(base)_\(b.opType)"),
                         attributes: b.attributes.compactMap(attribute))
            n.overload = b.overload
            let new = try rw.graph.addNode(n, inputs: ins, outputs: outs, at: .before(id))
            rw.pending.append(new)
        }
        // A formal output that is a formal input (no node produces it) becomes an Identity.
        for (k, formal) in fbody.outputs.enumerated() where rw.graph[value: outputs[k]].producer == nil {
            let src = map[fbody.name(of: formal)] ?? nil
            let new = try rw.graph.addNode(Node(opType: OpType.identity, name: rw.freshName("\(base)_Identity")),
                                           inputs: [src], outputs: [outputs[k]], at: .before(id))
            rw.pending.append(new)
        }
        for case let v? in node.inputs { rw.released.insert(v) }
        try rw.graph.removeNode(id)
    }
}
