import KilnIR

/// Merges initializers holding the same tensor: readers of the later one read the first.
///
/// Rules:
/// 1. Two initializers are the same when they have the same element type, dims and payload bytes
///    (in raw little-endian layout, whatever field stores them). Only initializers sharing element
///    type and dims with another are hashed (length and the first and last 4 KiB, so a large model is
///    not read whole), and bytes are compared in full only on a hash match.
/// 2. An initializer that is also a graph input (a default a caller may override) is never merged;
///    one a subgraph reads by name is kept (others may merge into it), never replaced.
/// 3. The first in initializer order is kept; the others are removed once unused.
public struct DuplicateInitializersPass: Pass {
    public let name = "dedup-initializers"
    public init() {}

    struct Shape: Hashable {
        var type: DataType
        var dims: [Int64]
    }

    public func run(on model: inout Model, context: PassContext) throws -> PassResult {
        try model.transformGraphs { graph, scope in
            var groups: [Shape: [ValueID]] = [:]
            var shapes: [Shape] = []
            let inputs = Set(graph.inputs)
            for id in graph.initializerOrder where !inputs.contains(id) {
                let t = graph[value: id].initializer!
                let s = Shape(type: t.dataType, dims: t.dims)
                if groups[s] == nil { shapes.append(s) }
                groups[s, default: []].append(id)
            }
            var pairs: [(old: ValueID, new: ValueID)] = []
            for s in shapes {
                guard let ids = groups[s], ids.count > 1 else { continue }
                var firstByContent: [Content: ValueID] = [:]
                for id in ids {
                    guard let content = Content(graph[value: id].initializer!) else { continue }
                    if let first = firstByContent[content] {
                        if !scope.captured.contains(graph.name(of: id)) { pairs.append((id, first)) }
                    } else {
                        firstByContent[content] = id
                    }
                }
            }
            guard !pairs.isEmpty else { return .unchanged }
            let (applied, effect) = try graph.forward(pairs, scope: scope)
            var result = PassResult()
            result.count("initializers merged", applied)
            result.count("initializers removed", effect.initializersRemoved)
            return result
        }
    }

    /// A tensor's payload in raw layout, hashed once; equality compares bytes.
    struct Content: Hashable {
        let bytes: TensorBytes?
        let strings: [[UInt8]]?
        let hash: Int

        init?(_ t: Tensor) {
            switch t.storage {
            case .raw(let b): bytes = b; strings = nil
            case .stringData(let s): bytes = nil; strings = s
            case .none: bytes = .empty; strings = nil
            default:
                guard let b = t.rawLayoutBytes else { return nil }
                bytes = b; strings = nil
            }
            var h = Hasher()
            if let bytes {
                // Hash the length and at most the first and last 4 KiB: tensors that differ almost
                // always differ there, so a large model is not read whole; equal hashes are
                // confirmed by comparing every byte.
                bytes.withUnsafeBytes { raw in
                    h.combine(raw.count)
                    if raw.count <= 8192 {
                        h.combine(bytes: raw)
                    } else {
                        h.combine(bytes: UnsafeRawBufferPointer(rebasing: raw[..<4096]))
                        h.combine(bytes: UnsafeRawBufferPointer(rebasing: raw[(raw.count - 4096)...]))
                    }
                }
            }
            if let strings { h.combine(strings) }
            hash = h.finalize()
        }

        static func == (a: Content, b: Content) -> Bool {
            guard a.hash == b.hash else { return false }
            defer { a.bytes?.releaseMappedPages(); b.bytes?.releaseMappedPages() }
            return a.bytes == b.bytes && a.strings == b.strings
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }
}
