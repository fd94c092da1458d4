/// What writing a graph's nodes and initializers reads: the node order, the nodes, value names
/// and initializers. `Graph` provides it, and so does `Graph.WriteSnapshot`, a copy of just those
/// parts that another thread can encode while this one edits the graph's value types.
public protocol GraphWriteSource {
    var order: [NodeID] { get }
    var initializerOrder: [ValueID] { get }
    func name(of id: ValueID) -> String
    func initializer(of id: ValueID) -> Tensor?
    func withNode<R>(_ id: NodeID, _ body: (borrowing Node) throws -> R) rethrows -> R
}

extension Graph: GraphWriteSource {}

extension Graph {
    /// The nodes, node order, value names and initializers of a graph at one moment, apart from
    /// the value store: editing the graph's value types afterwards (as shape inference does) copies
    /// nothing, and `isCurrent(in:)` tells whether what it holds is still what the graph has.
    ///
    /// Taking one costs a copy of the value names (small names are stored inline: no allocation
    /// each) and of the initializer references; the nodes are shared, not copied.
    public struct WriteSnapshot: GraphWriteSource, Sendable {
        let nodes: ContiguousArray<Node>
        let live: ContiguousArray<Bool>
        public let order: [NodeID]
        let names: ContiguousArray<String>
        public let initializerOrder: [ValueID]
        /// By value index; nil for values without a dense initializer.
        let initializers: ContiguousArray<Tensor?>

        public func name(of id: ValueID) -> String { names[Int(id.index)] }

        public func initializer(of id: ValueID) -> Tensor? { initializers[Int(id.index)] }

        public func withNode<R>(_ id: NodeID, _ body: (borrowing Node) throws -> R) rethrows -> R {
            precondition(live[Int(id.index)], "node \(id) was removed")
            return try body(nodes[Int(id.index)])
        }

        /// Whether `g` still has exactly these nodes (the same storage: any edit to a node since
        /// would have copied it, as the snapshot shares it), node order, value names and
        /// initializers (the same tensors).
        public func isCurrent(in g: Graph) -> Bool {
            guard nodes.count == g.nodeStore.count, names.count == g.valueStore.count,
                  order == g.order, initializerOrder == g.initializerOrder else { return false }
            let sameNodes = nodes.withUnsafeBufferPointer { a in
                g.nodeStore.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress }
            }
            guard sameNodes, live == g.nodeLive else { return false }
            for i in 0..<names.count where names[i] != g.valueStore[i].name { return false }
            for id in initializerOrder {
                guard let a = initializers[Int(id.index)], let b = g.valueStore[Int(id.index)].initializer,
                      a.isIdentical(to: b) else { return false }
            }
            return true
        }
    }

    /// The parts of the graph that writing its nodes and initializers reads (see `WriteSnapshot`).
    public func writeSnapshot() -> WriteSnapshot {
        var names = ContiguousArray<String>()
        names.reserveCapacity(valueStore.count)
        var initializers = ContiguousArray<Tensor?>(repeating: nil, count: valueStore.count)
        valueStore.withUnsafeBufferPointer { values in
            // By index, reading one field: `for v in values` would copy (retain) every field.
            for i in values.indices { names.append(values[i].name) }
            for id in initializerOrder { initializers[Int(id.index)] = values[Int(id.index)].initializer }
        }
        return WriteSnapshot(nodes: nodeStore, live: nodeLive, order: order, names: names,
                             initializerOrder: initializerOrder, initializers: initializers)
    }
}
