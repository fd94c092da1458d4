import KilnIR
import Testing
@testable import KilnEvaluator

/// Runs one node of `opType` with `inputs` at `opset` and returns its outputs. Inputs whose
/// indices are in `initializers` are the graph's initializers (what kernel preparers see), the
/// others its inputs.
func runNode(_ opType: String, _ inputs: [TensorValue?], attributes: [Attribute] = [], outputs: Int = 1,
             opset: Int64 = 21, domain: String = "", threads: Int = 1, initializers: Set<Int> = []) throws -> [TensorValue] {
    var g = Graph(name: "test")
    var inputIDs: [ValueID?] = []
    for (i, t) in inputs.enumerated() {
        guard let t else { inputIDs.append(nil); continue }
        if initializers.contains(i) {
            inputIDs.append(try g.addInitializer(named: "in\(i)", t.irTensor(name: "in\(i)")))
            continue
        }
        let id = try g.addInput(named: "in\(i)", type: .tensor(t.dataType, Shape(static: t.shape.map { Int64($0) })))
        inputIDs.append(id)
    }
    var node = Node(opType: opType, domain: domain, name: "n", attributes: attributes)
    node.attributes = attributes
    let outNames = (0..<outputs).map { "out\($0)" }
    let nodeID = try g.addNode(node, inputs: inputIDs, outputNames: outNames)
    g.setOutputs(g[node: nodeID].outputs.compactMap { $0 })
    let model = Model(graph: g, opsetImports: [OpsetImport(domain: domain, version: opset)])
    let evaluator = try Evaluator(model: model, options: EvaluatorOptions(threads: threads, prepareConstants: !initializers.isEmpty))
    var feed: [String: RuntimeValue] = [:]
    for (i, t) in inputs.enumerated() where !initializers.contains(i) { if let t { feed["in\(i)"] = .tensor(t) } }
    return try evaluator.run(feed).map { $0.tensor! }
}

func floats(_ shape: [Int], _ values: [Float]) -> TensorValue { TensorValue(shape: shape, values) }
func int64s(_ shape: [Int], _ values: [Int64]) -> TensorValue { TensorValue(shape: shape, values) }

extension TensorValue {
    var floatValues: [Float] { Array(elements(as: Float.self) ?? []) }
    var int64Values: [Int64] { Array(elements(as: Int64.self) ?? []) }
}

/// Whether `a` and `b` agree within `tolerance` elementwise.
func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

/// Runs one registered kernel directly on runtime values (sequences and optionals included).
func runKernel(_ op: String, _ inputs: [RuntimeValue?], attributes: [Attribute] = [], outputs: Int = 1,
               opset: Int = 21) throws -> [RuntimeValue?] {
    let entry = try #require(KernelRegistry.standard.resolve(op, domain: "", version: opset))
    let ctx = KernelContext(node: Node(opType: op, domain: "", name: "n", attributes: attributes), opsetVersion: opset,
                            inputs: inputs, outputUsed: [Bool](repeating: true, count: outputs),
                            subgraphs: SubgraphRunner(plans: [:], scope: [:]))
    return try entry.kernel(ctx)
}
