import KilnIR
import KilnEvaluator

/// Inlines an `If` whose condition is a constant: the taken branch's nodes move into the graph
/// holding the `If`, and the `If` goes.
///
/// Rules:
/// 1. The condition must be a true constant (an initializer that is not a graph input) holding
///    one bool (or number: nonzero is true).
/// 2. The branch's initializers become initializers of the parent, its nodes are inserted before
///    the `If` in branch order, and names the branch reads from outer scopes resolve to the
///    parent's values of those names. New names are the branch's names, made unique in the parent
///    (`name_1`, ...).
/// 3. Every use of output `k` of the `If` reads the branch's output `k`. A graph output keeps its
///    name; when the branch output cannot take it (an outer value or an initializer), an Identity
///    gives it the name. An output other subgraphs read by name keeps its name too: the branch node
///    making it takes the name.
/// 4. Not inlined: a branch with inputs (invalid for If), an `If` output read by a subgraph by
///    name that no branch node makes (or that the branch lists twice), or a branch whose nested
///    subgraphs read a branch value by a name that had to change.
public struct IfInliningPass: Pass {
    public let name = "if-inline"
    public init() {}

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var result = PassResult()
            for id in graph.order where graph.contains(id) && graph[node: id].opType == OpType.ifOp {
                let node = graph[node: id]
                guard node.opType == OpType.ifOp, node.isDefaultDomain,
                      let c = node.inputs.first ?? nil, let cond = graph.constantTensor(c), cond.elementCount == 1,
                      let taken = try? TensorValue(cond).doubles.first else { continue }  // rule 1
                let branch = try node.graph(taken != 0 ? "then_branch" : "else_branch")
                guard let branch else { continue }
                if try inline(branch, replacing: id, in: &graph, scope: scope) {
                    result.count("ifs inlined")
                }
            }
            return result
        }
    }

    /// Inlines `branch` in place of `ifNode`; false when rule 4 refuses it.
    func inline(_ branch: Graph, replacing ifNode: NodeID, in graph: inout Graph, scope: GraphScope) throws -> Bool {
        let node = graph[node: ifNode]
        guard branch.inputs.isEmpty, branch.outputs.count == node.outputs.count else { return false }
        // An output a subgraph reads by name must be made by a branch node: that node's output
        // then takes the name (rule 4).
        let branchMade = Set(branch.order.flatMap { branch[node: $0].outputs.compactMap { $0 } })
        var capturedSources = Set<ValueID>()
        for (k, slot) in node.outputs.enumerated() {
            guard let out = slot, scope.captured.contains(graph.name(of: out)) else { continue }
            guard branchMade.contains(branch.outputs[k]), capturedSources.insert(branch.outputs[k]).inserted,
                  branch.outputs.filter({ $0 == branch.outputs[k] }).count == 1 else { return false }
        }
        // Names the branch defines, and where each goes in the parent.
        var defined: [String] = branch.initializerOrder.map { branch.name(of: $0) }
        for bid in branch.order {
            for case let o? in branch[node: bid].outputs { defined.append(branch.name(of: o)) }
        }
        var newName: [String: String] = [:]
        var taken = Set<String>()
        for n in defined {
            var candidate = graph.uniqueName(n)
            var k = 1
            while taken.contains(candidate) { candidate = graph.uniqueName("\(n)_\(k)"); k += 1 }
            taken.insert(candidate)
            newName[n] = candidate
        }
        // Rule 4: nested subgraphs read branch values by name; those names must not change.
        for bid in branch.order where branch[node: bid].hasSubgraphs {
            for a in branch[node: bid].attributes {
                for g in a.subgraphs {
                    for ref in g.outerScopeReferences where newName[ref].map({ $0 != ref }) ?? false { return false }
                }
            }
        }
        // Rule 2.
        var map: [ValueID: ValueID] = [:]
        func resolve(_ v: ValueID) -> ValueID {
            if let m = map[v] { return m }
            let m = graph.value(named: branch.name(of: v))  // an outer-scope name
            map[v] = m
            return m
        }
        for bid in branch.initializerOrder {
            var t = branch[value: bid].initializer!
            let n = newName[branch.name(of: bid)]!
            t.name = n
            map[bid] = try graph.addInitializer(named: n, t)
        }
        for bid in branch.order {
            let inner = branch[node: bid]
            let ins = inner.inputs.map { $0.map(resolve) }
            var outs: [ValueID?] = []
            for o in inner.outputs {
                guard let o else { outs.append(nil); continue }
                let v = try graph.addValue(named: newName[branch.name(of: o)]!, type: branch[value: o].type)
                map[o] = v
                outs.append(v)
            }
            try graph.addNode(inner, inputs: ins, outputs: outs, at: .before(ifNode))
        }
        // Rule 3.
        var pairs: [(old: ValueID, new: ValueID)] = []
        var renames: [(value: ValueID, name: String, type: ValueType?)] = []
        for (k, slot) in node.outputs.enumerated() {
            guard let out = slot else { continue }
            var source = resolve(branch.outputs[k])
            if scope.captured.contains(graph.name(of: out)) {
                graph.replaceAllUses(of: out, with: source, includingGraphOutputs: true)
                renames.append((source, graph.name(of: out), graph[value: out].type))
                continue
            }
            if !graph.canForward(out, to: source, scope: scope) {
                let named = try graph.addValue(named: graph.uniqueName(graph.name(of: out) + "_branch"),
                                               type: graph[value: out].type)
                try graph.addNode(Node(opType: OpType.identity, name: graph.name(of: out) + "_branch"),
                                  inputs: [source], outputs: [named], at: .before(ifNode))
                source = named
            }
            pairs.append((out, source))
        }
        try graph.forward(pairs, scope: scope)
        if graph.contains(ifNode) { try graph.removeNodes([ifNode]) }
        for (value, name, type) in renames {
            try graph.rename(value, to: name)
            if let type { graph[value: value].type = type }
        }
        graph.removeUnusedInitializers(node.inputs.compactMap { $0 }, captured: scope.captured)
        return true
    }
}
