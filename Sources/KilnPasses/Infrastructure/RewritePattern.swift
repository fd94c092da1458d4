import KilnIR

/// The outcome of matching a pattern at one node: a patch to apply, or why it does not apply.
public enum MatchResult: Sendable {
    case matched(Patch)
    case failed(String)
}

/// A local rewrite: looks at a node (the root, the last node of the matched subgraph) and its
/// neighbourhood, mutates nothing, and returns a patch or the reason it does not apply.
public protocol RewritePattern: Sendable {
    var name: String { get }
    /// Op types (default domain unless `rootDomain` says otherwise) this pattern can root at.
    var rootOps: Set<String> { get }
    var rootDomain: String { get }
    /// Whether the pattern may fire at this opset of the default domain.
    func applies(opset: Int, options: PassOptions) -> Bool
    func match(_ root: NodeID, in graph: Graph, scope: GraphScope, options: PassOptions) -> MatchResult
}

extension RewritePattern {
    public var rootDomain: String { "" }
    public func applies(opset: Int, options: PassOptions) -> Bool { true }
}

/// Runs a set of patterns over every graph until none fires (at most `maxSweeps` sweeps per graph).
/// Each sweep visits a snapshot of the node order; a node removed by an earlier patch is skipped.
public struct PatternRewritePass: Pass {
    public let name: String
    public let patterns: [any RewritePattern]
    public let needsShapes: Bool
    public var maxSweeps: Int

    public init(name: String, patterns: [any RewritePattern], needsShapes: Bool = false, maxSweeps: Int = 16) {
        self.name = name
        self.patterns = patterns
        self.needsShapes = needsShapes
        self.maxSweeps = maxSweeps
    }

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            try rewrite(&graph, scope: scope, context: context)
        }
    }

    /// Applies the patterns to one graph.
    public func rewrite(_ graph: inout Graph, scope: GraphScope, context: PassContext) throws -> PassResult {
        let active = patterns.filter { $0.applies(opset: scope.opset, options: context.options) }
        guard !active.isEmpty else { return .unchanged }
        var byOp: [String: [any RewritePattern]] = [:]
        for p in active {
            for op in p.rootOps { byOp["\(p.rootDomain)/\(op)", default: []].append(p) }
        }
        var result = PassResult()
        for _ in 0..<maxSweeps {
            var changed = false
            for id in graph.order {
                guard graph.contains(id) else { continue }
                let node = graph[node: id]
                let domain = node.domain == "ai.onnx" ? "" : node.domain
                guard let candidates = byOp["\(domain)/\(node.opType)"] else { continue }
                for p in candidates {
                    switch p.match(id, in: graph, scope: scope, options: context.options) {
                    case .failed(let reason):
                        context.log.note("\(p.name) at \(node.label): \(reason)")
                    case .matched(let patch):
                        do {
                            let effect = try graph.apply(patch, anchor: id, scope: scope)
                            result.count(p.name)
                            result.counts["nodes removed", default: 0] += effect.nodesRemoved
                            result.counts["nodes added", default: 0] += effect.nodesAdded
                            changed = true
                        } catch {
                            context.log.note("\(p.name) at \(node.label): patch refused: \(error)")
                        }
                    }
                    if !graph.contains(id) { break }
                }
            }
            if !changed { break }
        }
        if result.modified && invariantChecksEnabled { try graph.checkInvariants() }
        return result
    }
}
