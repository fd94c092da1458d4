import Dispatch
import KilnIR

/// The main graph's nodes and initializers of a model, encoded on another core while the caller
/// works on the model in ways that leave them alone. `kiln infer-shapes` starts one after reading
/// and hands it to `ModelFile.write` after inference, which writes only value types: on a
/// 50,000-node graph, the ~15 ms of encoding nodes and initializers then overlap inference instead
/// of following it.
///
/// Safe whatever the caller does meanwhile: the work reads a `Graph.WriteSnapshot`, and `write`
/// uses it only when the graph still has those very nodes, names and initializers
/// (`WriteSnapshot.isCurrent(in:)`); otherwise it encodes as usual. Only plain node lists are
/// encoded ahead: a node with a subgraph, a sparse tensor, an external tensor or a tensor large
/// enough to be streamed from the input makes the worker leave the nodes to `write`.
public final class PendingGraphEncoding: @unchecked Sendable {
    /// Nodes below which starting a thread costs more than it saves.
    public static let threshold = 4096

    /// A graph's node list and initializer list as wire bytes; nil where not encoded ahead.
    typealias Results = (nodes: [UInt8]?, initializers: [OutputPiece]?)

    private let snapshot: Graph.WriteSnapshot
    private let group = DispatchGroup()
    // Written by the worker before `group.leave()`, read after `group.wait()`.
    private var nodes: [UInt8]?
    private var initializers: [OutputPiece]?

    /// Starts encoding `model`'s main graph; nil when the graph is too small to be worth it.
    public init?(_ model: Model) {
        guard model.hasGraph, model.graph.order.count >= Self.threshold else { return nil }
        snapshot = model.graph.writeSnapshot()
        DispatchQueue.global().async(group: group) { [self] in
            var encoder = ProtoEncoder(externalPlan: nil)
            if Self.inlineOnly(snapshot), let blob = try? encoder.encodeNodesWire(snapshot, tensorsMayGoExternal: false),
               encoder.payloads.isEmpty, encoder.nodeBlobs.isEmpty, encoder.initializerBlobs.isEmpty,
               encoder.valueInfoBlobs.isEmpty {
                nodes = blob
            }
            initializers = encoder.encodeSimpleInitializers(snapshot)
        }
    }

    /// Waits for the worker; then the encoded nodes and initializers that are still `g`'s (each
    /// nil where the worker did not encode it or `g` has changed since).
    func results(for g: Graph) -> Results {
        group.wait()
        guard snapshot.isCurrent(in: g) else { return (nil, nil) }
        return (nodes, initializers)
    }

    /// Whether every node attribute is written inline by `encodeNodesWire` whatever the external
    /// data plan (no subgraph, no sparse tensor, no tensor stored or placed externally).
    private static func inlineOnly(_ s: Graph.WriteSnapshot) -> Bool {
        for id in s.order {
            let plain = s.withNode(id) { n in
                n.attributes.allSatisfy { a in
                    switch a.value {
                    case .graph, .graphs, .sparseTensor, .sparseTensors: return false
                    case .tensor(let t): return t.externalData == nil && t.dataLocation == nil
                    case .tensors(let ts): return ts.allSatisfy { $0.externalData == nil && $0.dataLocation == nil }
                    default: return true
                    }
                }
            }
            if !plain { return false }
        }
        return true
    }
}
