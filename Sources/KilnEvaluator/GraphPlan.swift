import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A graph prepared to run: nodes in topological order with their kernels resolved, value slots,
/// initializers converted once, and the slots each step releases (the values whose last use it
/// is), so intermediates are freed as soon as nothing else reads them.
final class GraphPlan: @unchecked Sendable {
    struct Step {
        let node: Node
        let position: Int
        let kernel: Kernel
        let opsetVersion: Int
        let inputs: [Int?]
        let outputs: [Int?]
        let outputNames: [String]
        /// Slots to free after this step runs.
        let release: [Int]
        /// Prepared subgraphs by attribute name.
        let subgraphs: [String: GraphPlan]
        /// Outer-scope names the subgraphs read, with their slots here.
        let captures: [(name: String, slot: Int)]
        /// What the kernel's preparer made from the node's constant inputs.
        let prepared: (any PreparedOperands)?
    }

    let name: String
    let slotCount: Int
    /// Initializers: slot and value.
    let constants: [(slot: Int, value: RuntimeValue)]
    /// Graph inputs: slot, name and declared type.
    let inputs: [(slot: Int, name: String, type: ValueType?, hasDefault: Bool)]
    let outputs: [(slot: Int, name: String)]
    /// Names this graph reads from enclosing graphs, with their slots.
    let outerReferences: [(name: String, slot: Int)]
    let steps: [Step]

    /// `prepare`: run the kernels' preparers (`EvaluatorOptions.prepareConstants`).
    init(graph: Graph, opsets: [String: Int], registry: KernelRegistry, prepare: Bool = false) throws {
        name = graph.name
        let ids = graph.valueIDs
        slotCount = (ids.map { Int($0.index) }.max() ?? -1) + 1

        var constants: [(Int, RuntimeValue)] = []
        for id in graph.initializerOrder {
            let t = graph[value: id].initializer!
            do {
                constants.append((Int(id.index), .tensor(try TensorValue(t))))
                Self.dropMappedPages(of: t)
            } catch let e as KilnError {
                throw e.within("initializer(\(t.name))")
            }
        }
        self.constants = constants
        let initialized = Set(graph.initializerOrder)
        inputs = graph.inputs.map {
            (Int($0.index), graph.name(of: $0), graph[value: $0].type, initialized.contains($0))
        }
        outputs = graph.outputs.map { (Int($0.index), graph.name(of: $0)) }
        let inputSet = Set(graph.inputs)
        outerReferences = ids.compactMap { id in
            let v = graph[value: id]
            guard v.producer == nil, !v.isConstant, !inputSet.contains(id) else { return nil }
            return (v.name, Int(id.index))
        }

        // Constants a preparer may use: initializers that are not also graph inputs (a caller may
        // override those). Only collected when preparers run.
        var fixed: [Int: TensorValue] = [:]
        if prepare {
            let inputSlots = Set(inputs.map(\.slot))
            for (slot, value) in constants where !inputSlots.contains(slot) {
                if case .tensor(let t) = value { fixed[slot] = t }
            }
        }

        // Steps, with the last reader of each slot.
        let order = try graph.topologicalOrder()
        var lastUse: [Int: Int] = [:]
        var steps: [Step] = []
        steps.reserveCapacity(order.count)
        for (position, id) in order.enumerated() {
            let node = graph[node: id]
            let domain = node.domain == "ai.onnx" ? "" : node.domain
            let location = "node[\(position)](\(node.name.isEmpty ? node.opType : node.name))"
            guard let version = opsets[domain] else {
                throw KilnError(.invalidGraph, "\(node.label): the model does not import domain '\(domain.isEmpty ? "ai.onnx" : domain)'")
                    .within(location)
            }
            guard let entry = registry.resolve(node.opType, domain: domain, version: version) else {
                throw KilnError(.unsupported,
                                "no kernel for \(node.opType) (domain '\(domain.isEmpty ? "ai.onnx" : domain)', opset \(version))")
                    .within(location)
            }
            var subgraphs: [String: GraphPlan] = [:]
            var captures: [(String, Int)] = []
            var captured = Set<String>()
            for a in node.attributes {
                guard case .graph(let g) = a.value else { continue }
                let sub: GraphPlan
                do { sub = try GraphPlan(graph: g, opsets: opsets, registry: registry, prepare: prepare) } catch let e as KilnError {
                    throw e.within("\(location).\(a.name)")
                }
                subgraphs[a.name] = sub
                for ref in sub.outerReferences + sub.nestedCaptures where captured.insert(ref.name).inserted {
                    if let v = graph.valueID(named: ref.name) { captures.append((ref.name, Int(v.index))) }
                    else { captures.append((ref.name, -1)) }
                }
            }
            let ins = node.inputs.map { $0.map { Int($0.index) } }
            let prepared = prepare ? entry.prepare.flatMap { preparer in preparer(node, ins.map { $0.flatMap { fixed[$0] } }) } : nil
            for case let s? in ins { lastUse[s] = position }
            for (_, s) in captures where s >= 0 { lastUse[s] = position }
            steps.append(Step(node: node, position: position, kernel: entry.kernel, opsetVersion: version,
                              inputs: ins, outputs: node.outputs.map { $0.map { Int($0.index) } },
                              outputNames: node.outputs.map { $0.map { graph.name(of: $0) } ?? "" },
                              release: [], subgraphs: subgraphs, captures: captures, prepared: prepared))
        }
        // Release lists: after a slot's last reader; unread outputs right after their producer.
        let kept = Set(outputs.map(\.slot))
        var release = [[Int]](repeating: [], count: steps.count)
        for (slot, position) in lastUse where !kept.contains(slot) { release[position].append(slot) }
        for (position, step) in steps.enumerated() {
            for case let s? in step.outputs where lastUse[s] == nil && !kept.contains(s) { release[position].append(s) }
        }
        self.steps = steps.enumerated().map { i, s in
            Step(node: s.node, position: s.position, kernel: s.kernel, opsetVersion: s.opsetVersion, inputs: s.inputs,
                 outputs: s.outputs, outputNames: s.outputNames, release: release[i], subgraphs: s.subgraphs,
                 captures: s.captures, prepared: s.prepared)
        }
    }

    /// Drops the pages of a memory-mapped initializer's bytes from the resident set once they are
    /// converted (the evaluator holds its own copy): otherwise a run's peak RSS counts the weights
    /// twice. The pages stay in the page cache and fault back in if the model reads them again.
    static func dropMappedPages(of tensor: Tensor) {
        if case .raw(let bytes) = tensor.storage { bytes.releaseMappedPages() }
    }

    /// Outer names read by subgraphs nested in this graph that this graph does not define either.
    var nestedCaptures: [(name: String, slot: Int)] {
        steps.flatMap { $0.captures.filter { $0.slot < 0 } }
    }
}
