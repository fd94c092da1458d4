import KilnIR

extension Evaluator {
    /// Runs a single node on given input values, outside any graph: what constant folding needs.
    /// The node's operator is resolved in `registry` at the opset of its domain in `opsets`
    /// (`""` for `ai.onnx`). Nodes with graph attributes (If, Loop, Scan) are refused: fold those by
    /// running a model. Returns one value per output slot (`nil` for an empty optional slot).
    public static func evaluate(
        node: Node, inputs: [RuntimeValue?], opsets: [String: Int], registry: KernelRegistry = .standard
    ) throws -> [RuntimeValue?] {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        guard let version = opsets[domain] else {
            throw KilnError(.unsupported, "\(node.label): the model imports no opset for domain '\(domain)'")
        }
        guard !node.hasSubgraphs else {
            throw KilnError(.unsupported, "\(node.label): nodes with subgraphs cannot be evaluated alone")
        }
        guard let entry = registry.resolve(node.opType, domain: domain, version: version) else {
            throw KilnError(.unsupported, "\(node.label): no kernel for \(domain.isEmpty ? "ai.onnx" : domain)::\(node.opType) at opset \(version)")
        }
        let context = KernelContext(node: node, opsetVersion: version, inputs: inputs,
                                    outputUsed: Array(repeating: true, count: node.outputs.count),
                                    subgraphs: SubgraphRunner(plans: [:], scope: [:]))
        return try entry.kernel(context)
    }
}
