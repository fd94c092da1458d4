import KilnIR

/// Removes what nothing reads.
///
/// Rules:
/// 1. A node none of whose outputs is read by a node, listed as a graph output or read by a
///    subgraph by name is removed (one reverse sweep, so whole dead chains go at once).
/// 2. An initializer nothing reads is removed, unless it is a graph input (a default a caller may
///    override) or a graph output, or a subgraph reads it by name.
/// 3. A `value_info` entry for a value that nothing produces, reads or lists is removed with the
///    value (the entry describes nothing).
public struct DeadCodeEliminationPass: Pass {
    public let name = "dead-code"
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var result = PassResult()
            let dead = graph.deadNodes(captured: scope.captured)  // rule 1
            if !dead.isEmpty {
                try graph.removeNodes(dead)
                result.count("nodes removed", dead.count)
            }
            result.count("initializers removed", graph.removeUnusedInitializers(captured: scope.captured))  // rule 2
            // Rule 3: dangling values (value_info of removed or never-produced values).
            var dangling: [ValueID] = []
            let inputs = Set(graph.inputs), outputs = Set(graph.outputs)
            for id in graph.valueInfo {
                let v = graph[value: id]
                if v.producer == nil && v.uses.isEmpty && !v.isConstant && !inputs.contains(id) && !outputs.contains(id)
                    && !scope.captured.contains(v.name) {
                    dangling.append(id)
                }
            }
            if !dangling.isEmpty {
                let drop = Set(dangling)
                graph.setValueInfo(graph.valueInfo.filter { !drop.contains($0) })
                for id in dangling { try graph.removeValue(id) }
                result.count("value_info removed", dangling.count)
            }
            return result
        }
    }
}
