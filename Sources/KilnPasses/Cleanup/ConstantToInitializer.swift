import KilnIR

/// Turns `Constant` nodes into initializers, so every later pass sees one kind of constant.
///
/// Rules:
/// 1. A `Constant` of the default domain whose attribute is `value` (a tensor), `value_float`,
///    `value_floats`, `value_int`, `value_ints`, `value_string` or `value_strings` becomes an
///    initializer holding the same tensor (scalars for the singular forms, 1-D for the plural ones;
///    floats are float32, ints int64, strings string), named like the node's output.
/// 2. `sparse_value` is left alone (a dense copy could be far larger than the sparse form).
/// 3. A `Constant` whose output is an output of the main graph becomes an initializer listed as
///    the graph output (onnx and onnxruntime accept that); in a subgraph (an If branch, a Loop
///    body) it stays, since runtimes count only node outputs as what a subgraph produces.
public struct ConstantToInitializerPass: Pass {
    public let name = "constant-to-initializer"
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var items: [(value: ValueID, tensor: Tensor)] = []
            for id in graph.order where graph[node: id].opType == OpType.constant {
                let node = graph[node: id]
                guard node.opType == OpType.constant, node.domain.isEmpty || node.domain == "ai.onnx",
                      node.outputs.count == 1, let out = node.outputs[0], scope.isMain || !graph.isGraphOutput(out),
                      let tensor = try Self.tensor(of: node) else { continue }
                items.append((out, tensor))
            }
            guard !items.isEmpty else { return .unchanged }
            let (replaced, _) = try graph.replaceWithConstants(items, scope: scope)
            var result = PassResult()
            result.count("constants to initializers", replaced)
            return result
        }
    }

    /// The dense tensor a `Constant` node holds (rule 1); nil for `sparse_value` (rule 2).
    static func tensor(of node: Node) throws -> Tensor? {
        guard let attr = node.attributes.first else { return nil }
        guard node.attributes.count == 1 else {
            throw KilnError(.invalidInput, "\(node.label) must have exactly one value attribute, has \(node.attributes.count)")
        }
        switch (attr.name, attr.value) {
        case ("value", .tensor(let t)):
            return t
        case ("value_float", .float(let f)):
            return .float32([f], dims: [])
        case ("value_floats", .floats(let fs)):
            return .float32(fs, dims: [Int64(fs.count)])
        case ("value_int", .int(let i)):
            return .int64([i], dims: [])
        case ("value_ints", .ints(let is_)):
            return .int64(is_, dims: [Int64(is_.count)])
        case ("value_string", .string(let s)):
            return Tensor(dataType: .string, dims: [], storage: .stringData([s]))
        case ("value_strings", .strings(let ss)):
            return Tensor(dataType: .string, dims: [Int64(ss.count)], storage: .stringData(ss))
        default:
            return nil
        }
    }
}
