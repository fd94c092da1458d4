import KilnIR
import KilnEvaluator

/// Evaluates nodes whose inputs are all constants and replaces their outputs by initializers, with
/// the evaluator's own kernels (`Evaluator.evaluate(node:inputs:opsets:)`), so folding and running
/// can never disagree.
///
/// Rules:
/// 1. A node is folded when every present input is a true constant (an initializer that is not a
///    graph input, or the output of a node folded earlier in the same sweep) and its operator is
///    deterministic: never `Random*`, `Multinomial`, `Bernoulli`, `Dropout` (rule 1 of `no-op`
///    handles inference Dropout), nodes with subgraphs, `Constant` (see
///    `constant-to-initializer`), `Identity` (see `identity`) or `DequantizeLinear` (folding it
///    would turn quantized weights back into floats and break the QDQ form runtimes look for).
/// 2. Size policy: an output larger than `PassOptions.foldSizeLimit` bytes stays an op, unless a
///    consumer needs a constant there (the weight or bias of `Conv`, `ConvTranspose`, `Gemm`, the
///    second input of `MatMul`) or the outputs are no larger than the inputs. Sizes known from
///    the inferred types (or, for `ConstantOfShape`, `Expand` and `Tile`, from the constant
///    inputs) are checked before evaluating, so a huge tensor is never even computed.
/// 3. An operator without a kernel at the model's opset, or a data type the evaluator cannot hold,
///    is skipped (not folded). Any other kernel error propagates, naming the node: an evaluator
///    bug must never read as "not folded".
/// 4. Only outputs something still reads become initializers, named like the values they replace;
///    intermediate results of folded chains are never materialized. Outputs that are not plain
///    tensors (sequences, optionals) leave the node unfolded.
public struct ConstantFoldingPass: Pass {
    public let name = "constant-folding"
    public init() {}

    static let neverFolded: Set<String> = PassOp.nonDeterministic.union([
        OpType.constant, OpType.identity, PassOp.dequantizeLinear,
    ])

    /// (operator, input slot) pairs where a consumer needs a constant weight (rule 2).
    static let weightSlots: Set<String> = ["Conv/1", "Conv/2", "ConvTranspose/1", "ConvTranspose/2", "Gemm/1", "Gemm/2",
                                           "MatMul/1"]

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            try fold(&graph, scope: scope, limit: context.options.foldSizeLimit)
        }
    }

    func fold(_ graph: inout Graph, scope: GraphScope, limit: Int) throws -> PassResult {
        var known: [ValueID: TensorValue] = [:]
        var foldedOutputs: [ValueID] = []
        var foldedNodes = Set<NodeID>()
        for id in graph.order {
            let node = graph[node: id]
            guard !(node.isDefaultDomain && Self.neverFolded.contains(node.opType)), !node.hasSubgraphs,
                  !node.outputs.isEmpty else { continue }  // rule 1
            var inputs: [RuntimeValue?] = []
            var inputBytes = 0
            var constant = true
            for slot in node.inputs {
                guard let v = slot else { inputs.append(nil); continue }
                if let tv = known[v] {
                    inputs.append(.tensor(tv)); inputBytes += Self.bytes(tv)
                } else if let t = graph.constantTensor(v) {
                    guard let tv = try? TensorValue(t) else { constant = false; break }  // rule 3
                    inputs.append(.tensor(tv)); inputBytes += Self.bytes(tv)
                } else {
                    constant = false; break
                }
            }
            guard constant else { continue }
            let needsWeight = node.outputs.contains { out in
                guard let out else { return false }
                return graph[value: out].uses.contains { u in
                    let c = graph[node: u.node]
                    return c.isDefaultDomain && Self.weightSlots.contains("\(c.opType)/\(u.index)")
                }
            }
            // Rule 2, before evaluating.
            if !needsWeight, let estimate = estimatedOutputBytes(node, inputs: inputs, graph: graph),
               estimate > limit, estimate > inputBytes { continue }
            let outputs: [RuntimeValue?]
            do {
                outputs = try Evaluator.evaluate(node: node, inputs: inputs, opsets: scope.opsets)
            } catch let e as KilnError where e.code == .unsupported {
                continue  // rule 3
            } catch let e as KilnError {
                throw KilnError(e.code, "constant folding \(node.label): \(e.message)", cause: e.cause)
            }
            var results: [(ValueID, TensorValue)] = []
            var outputBytes = 0
            var plain = true
            for (k, slot) in node.outputs.enumerated() {
                guard let out = slot else { continue }
                guard k < outputs.count, case .tensor(let tv)? = outputs[k] else { plain = false; break }  // rule 4
                results.append((out, tv))
                outputBytes += Self.bytes(tv)
            }
            guard plain else { continue }
            if !needsWeight && outputBytes > limit && outputBytes > inputBytes { continue }  // rule 2, after
            for (out, tv) in results { known[out] = tv; foldedOutputs.append(out) }
            foldedNodes.insert(id)
        }
        guard !foldedNodes.isEmpty else { return .unchanged }
        // Rule 4: materialize what unfolded nodes, graph outputs or subgraphs still read.
        let outputSet = Set(graph.outputs)
        var items: [(value: ValueID, tensor: Tensor)] = []
        for out in foldedOutputs {
            let v = graph[value: out]
            let read = outputSet.contains(out) || scope.captured.contains(v.name)
                || v.uses.contains { !foldedNodes.contains($0.node) }
            if read { items.append((out, known[out]!.irTensor(name: v.name))) }
        }
        var result = PassResult()
        if items.isEmpty {
            // Everything folded is dead anyway; remove it.
            let dead = graph.deadNodes(startingFrom: foldedNodes, captured: scope.captured)
            try graph.removeNodes(dead)
            result.count("nodes removed", dead.count)
            return result
        }
        let (replaced, effect) = try graph.replaceWithConstants(items, scope: scope)
        result.count("values folded", replaced)
        result.count("nodes removed", effect.nodesRemoved)
        return result
    }

    static func bytes(_ tv: TensorValue) -> Int {
        tv.dataType == .string ? tv.count * 16 : tv.dataType.byteCount(elements: tv.count)
    }

    /// Output bytes known before evaluating: from the inferred output types, or from the constant
    /// shape inputs of the operators that make large tensors from small ones.
    func estimatedOutputBytes(_ node: Node, inputs: [RuntimeValue?], graph: Graph) -> Int? {
        var total = 0
        var known = true
        for case let out? in node.outputs {
            guard let type = graph[value: out].type, let dt = type.tensorElementType, dt != .undefined,
                  let n = type.tensorShape?.elementCount, n >= 0 else { known = false; break }
            total += dt.byteCount(elements: Int(min(n, Int64(Int.max / 16))))
        }
        if known { return total }
        func ints(_ i: Int) -> [Int64]? { i < inputs.count ? inputs[i]?.tensor.map(\.int64s) : nil }
        func product(_ xs: [Int64]) -> Int { xs.reduce(1) { $0 &* Int(max($1, 0)) } }
        guard node.isDefaultDomain else { return nil }
        switch node.opType {
        case PassOp.constantOfShape:
            guard let shape = ints(0) else { return nil }
            return product(shape) * 8
        case PassOp.expand:
            guard let x = inputs.first??.tensor, let shape = ints(1) else { return nil }
            let rank = max(x.rank, shape.count)
            var dims: [Int64] = []
            for i in 0..<rank {
                let a = i - (rank - x.rank) >= 0 ? Int64(x.shape[i - (rank - x.rank)]) : 1
                let b = i - (rank - shape.count) >= 0 ? shape[i - (rank - shape.count)] : 1
                dims.append(max(a, b))
            }
            return x.dataType.byteCount(elements: product(dims))
        case PassOp.tile:
            guard let x = inputs.first??.tensor, let repeats = ints(1) else { return nil }
            return x.dataType.byteCount(elements: x.count &* product(repeats))
        default:
            return nil
        }
    }
}
