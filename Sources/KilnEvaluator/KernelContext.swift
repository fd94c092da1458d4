import KilnIR

/// What a kernel sees: the node (attributes through typed getters), the opset version in force,
/// and the input values. Errors built here name the node, operator and input.
public struct KernelContext: Sendable {
    public let node: Node
    /// The model's opset version for the node's domain.
    public let opsetVersion: Int
    public let inputs: [RuntimeValue?]
    /// Number of output slots of the node (some may be empty).
    public let outputCount: Int
    /// Which outputs the graph uses (false for empty slots).
    public let outputUsed: [Bool]
    /// Runs the node's graph attributes.
    public let subgraphs: SubgraphRunner
    /// Cores the kernel may split its work across (`EvaluatorOptions.threads`).
    public let threads: Int
    /// What the kernel's `Preparer` made for this node when the graph was prepared (nil when it has
    /// none, or when the node runs alone).
    public let prepared: (any PreparedOperands)?

    public init(node: Node, opsetVersion: Int, inputs: [RuntimeValue?], outputUsed: [Bool], subgraphs: SubgraphRunner,
                threads: Int = 1, prepared: (any PreparedOperands)? = nil) {
        self.subgraphs = subgraphs
        self.prepared = prepared
        self.threads = max(1, threads)
        self.node = node
        self.opsetVersion = opsetVersion
        self.inputs = inputs
        self.outputCount = outputUsed.count
        self.outputUsed = outputUsed
    }

    /// Whether input `i` is present (not empty and within the node's inputs).
    public func hasInput(_ i: Int) -> Bool { i < inputs.count && inputs[i] != nil }

    /// The required tensor input `i`.
    public func tensor(_ i: Int) throws -> TensorValue {
        guard i < inputs.count, let v = inputs[i] else {
            throw error("input \(i) is required but missing")
        }
        guard case .tensor(let t) = v else { throw error("input \(i) must be a tensor, got \(v)") }
        return t
    }

    /// The optional tensor input `i` (nil when absent or an empty optional).
    public func optionalTensor(_ i: Int) throws -> TensorValue? {
        guard i < inputs.count, let v = inputs[i] else { return nil }
        switch v {
        case .tensor(let t): return t
        case .optional(nil, _): return nil
        case .optional(.tensor(let t)?, _): return t
        default: throw error("input \(i) must be a tensor, got \(v)")
        }
    }

    /// Every present tensor input (variadic operators).
    public func allTensors() throws -> [TensorValue] {
        try inputs.indices.compactMap { try optionalTensor($0) }
    }

    /// Input `i` as integers (a shape, axes, pads, ...): int32 or int64 elements.
    public func integers(_ i: Int) throws -> [Int]? {
        guard let t = try optionalTensor(i) else { return nil }
        guard t.dataType == .int64 || t.dataType == .int32 else {
            throw error("input \(i) must be int64 or int32, got \(t.dataType.name)")
        }
        return t.int64s.map { Int($0) }
    }

    /// An error naming this node; `.invalidInput` unless told otherwise.
    public func error(_ message: String, code: KilnError.Code = .invalidInput) -> KilnError {
        KilnError(code, "\(node.label): \(message)")
    }

    /// Refuses a semantic the kernel does not implement, by name.
    public func unsupported(_ message: String) -> KilnError {
        error(message, code: .unsupported)
    }

    // MARK: Attributes (typed getters name node and attribute on error)

    public func int(_ name: String, default d: Int? = nil) throws -> Int {
        Int(try node.int(name, default: d.map { Int64($0) }))
    }
    public func ints(_ name: String) throws -> [Int]? {
        node.attribute(name) == nil ? nil : try node.ints(name).map { Int($0) }
    }
    public func float(_ name: String, default d: Float? = nil) throws -> Float { try node.float(name, default: d) }
    public func floats(_ name: String) throws -> [Float]? {
        node.attribute(name) == nil ? nil : try node.floats(name)
    }
    public func string(_ name: String, default d: String? = nil) throws -> String { try node.string(name, default: d) }

    /// Normalizes `axis` (negative counts from the end) for rank `rank`, or throws naming it.
    public func axis(_ axis: Int, rank: Int, name: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 1) else { throw error("\(name) \(axis) is out of range for rank \(rank)") }
        return a
    }
}

extension KernelContext {
    /// The usual result: one tensor output.
    static func one(_ t: TensorValue) -> [RuntimeValue?] { [.tensor(t)] }
}
