/// Building a graph from a file: the codec's append path. It does in one pass, with one hash per
/// name, what `value(named:)` and `addNode(_:inputs:outputs:)` do together, without the checks a
/// node read from a file cannot fail (its values are this graph's, it goes at the end).
extension Graph {
    /// Why `appendNode(_:inputNames:outputNames:)` refused a node.
    public enum OutputConflict: Error, Sendable {
        /// The output name is already produced by another node (ONNX assigns each name once).
        case alreadyProduced(output: String, producer: NodeID)
        /// The node lists the same output name twice.
        case listedTwice(output: String)
    }

    /// How many input and output names a node of `appendNodes` takes from the name list.
    public struct NameCounts: Sendable {
        public var inputs: Int32
        public var outputs: Int32
        public init(inputs: Int, outputs: Int) {
            self.inputs = Int32(inputs)
            self.outputs = Int32(outputs)
        }
    }

    /// Why `appendNodes` stopped: node `offset` of the batch (named `label`: its name, or its
    /// operator when it has none) was refused.
    public struct BatchConflict: Error, Sendable {
        public var offset: Int
        public var label: String
        public var conflict: OutputConflict
    }

    /// Appends `node` at the end of the graph order, reading the values named `inputNames` and
    /// writing those named `outputNames` (an empty name is an empty optional slot). Values are
    /// created on first mention, as `value(named:)` does. Throws, leaving the graph as it was
    /// (values this call created are removed again), when an output already has a producer or is
    /// listed twice. The node's own input and output lists are replaced.
    @discardableResult
    public mutating func appendNode(_ node: consuming Node, inputNames: [String],
                                    outputNames: [String]) throws(OutputConflict) -> NodeID {
        let id = NodeID(nodeStore.count)
        let (inputs, outputs) = try resolveNames(inputNames[...], outputNames[...], for: id)
        node.inputs = inputs
        node.outputs = outputs
        nodeStore.append(node)
        nodeLive.append(true)
        order.append(id)
        return id
    }

    /// Appends `nodes` in order, as `appendNode(_:inputNames:outputNames:)` does one by one. The
    /// names of all nodes are in one list: node k's inputs, then its outputs, `counts[k]` of each.
    /// A graph without nodes adopts the array's storage, so nodes decoded elsewhere (on another
    /// thread) are not copied. On a conflict, the nodes before the refused one stay appended and
    /// the error says which node it was.
    public mutating func appendNodes(_ nodes: consuming ContiguousArray<Node>, names: [String],
                                     counts: [NameCounts]) throws(BatchConflict) {
        precondition(nodes.count == counts.count, "appendNodes: one name count per node")
        let first = nodeStore.count
        if first == 0 { nodeStore = nodes } else { nodeStore.append(contentsOf: nodes) }
        let n = counts.count
        nodeLive.append(contentsOf: repeatElement(true, count: n))
        order.reserveCapacity(order.count + n)
        var cursor = 0
        var previous: ArraySlice<String> = []  // the previous node's output names
        for k in 0..<n {
            let i = Int(counts[k].inputs), o = Int(counts[k].outputs)
            let id = NodeID(first + k)
            do throws(OutputConflict) {
                let outputNames = names[cursor + i..<cursor + i + o]
                let (inputs, outputs) = try resolveNames(names[cursor..<cursor + i], outputNames, for: id,
                                                         previous: previous, previousNode: k > 0 ? NodeID(first + k - 1) : nil)
                previous = outputNames
                nodeStore[first + k].inputs = inputs
                nodeStore[first + k].outputs = outputs
            } catch {
                let label = nodeStore[first + k].name.isEmpty ? nodeStore[first + k].opType : nodeStore[first + k].name
                nodeStore.removeLast(n - k)
                nodeLive.removeLast(n - k)
                throw BatchConflict(offset: k, label: label, conflict: error)
            }
            order.append(id)
            cursor += i + o
        }
    }

    /// The values a new node `id` reads and writes, by name, with both ends of each edge recorded
    /// (producers and uses). Throws, leaving the graph as it was, on an output conflict.
    ///
    /// `previous` are the output names of `previousNode`, the node appended just before: an input
    /// naming one of them (a chain, the usual case) is found there by comparing names, without
    /// hashing the name into the name table.
    private mutating func resolveNames(_ inputNames: ArraySlice<String>, _ outputNames: ArraySlice<String>,
                                       for id: NodeID, previous: ArraySlice<String> = [],
                                       previousNode: NodeID? = nil) throws(OutputConflict) -> ([ValueID?], [ValueID?]) {
        let firstNewValue = valueStore.count
        var inputs: [ValueID?] = []
        inputs.reserveCapacity(inputNames.count)
        names: for name in inputNames {
            if name.isEmpty { inputs.append(nil); continue }
            if let p = previousNode {
                for (slot, candidate) in zip(0..., previous) where candidate == name {
                    if let v = nodeStore[Int(p.index)].outputs[slot] {
                        inputs.append(v)
                        continue names
                    }
                }
            }
            inputs.append(findOrAddValue(named: name))
        }
        var outputs: [ValueID?] = []
        outputs.reserveCapacity(outputNames.count)
        for name in outputNames {
            if name.isEmpty { outputs.append(nil); continue }
            let v = findOrAddValue(named: name)
            if let p = valueStore[Int(v.index)].producer {
                dropValues(from: firstNewValue)
                throw .alreadyProduced(output: name, producer: p)
            }
            if outputs.contains(v) {
                dropValues(from: firstNewValue)
                throw .listedTwice(output: name)
            }
            outputs.append(v)
        }
        for slot in outputs.indices {
            guard let v = outputs[slot] else { continue }
            valueStore[Int(v.index)].producer = id
            valueStore[Int(v.index)].producerOutputIndex = slot
        }
        for slot in inputs.indices {
            guard let v = inputs[slot] else { continue }
            valueStore[Int(v.index)].uses.append(Use(node: id, index: slot))
        }
        return (inputs, outputs)
    }

    /// The value named `name` (non-empty), created when missing; one hash of the name either way
    /// (the name table's `default:` subscript finds or inserts in one probe).
    @inline(__always)
    mutating func findOrAddValue(named name: String) -> ValueID {
        let fresh = ValueID(valueStore.count)
        let id = nameTable.findOrInsert(name, fresh: fresh, in: valueStore)
        if id == fresh {
            valueStore.append(Value(name: name))
            valueLive.append(true)
        }
        return id
    }

    /// Removes the values appended from index `first` on (none of them is referenced yet).
    private mutating func dropValues(from first: Int) {
        while valueStore.count > first {
            nameTable.remove(valueStore[valueStore.count - 1].name, in: valueStore)
            valueStore.removeLast()
            valueLive.removeLast()
        }
    }
}
