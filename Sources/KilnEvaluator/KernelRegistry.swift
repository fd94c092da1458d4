import KilnIR

/// A kernel: computes a node's outputs from its inputs. `nil` outputs are optional outputs the
/// kernel does not produce (only allowed where the node leaves the slot empty).
public typealias Kernel = @Sendable (KernelContext) throws -> [RuntimeValue?]

/// Work a kernel does once per node, before any run, from the node and its constant inputs
/// (initializers that no graph input can override; nil for the others): Conv's Winograd-transformed
/// weights, for instance. The result reaches every run of the node as `KernelContext.prepared`;
/// nil means nothing to prepare, and the kernel must still work without it.
public typealias Preparer = @Sendable (_ node: Node, _ constants: [TensorValue?]) -> (any PreparedOperands)?

/// What a `Preparer` made: immutable, shared by concurrent runs of the prepared graph.
public protocol PreparedOperands: AnyObject, Sendable {}

/// Kernels keyed by (domain, operator), each registered with the opset version it implements
/// from (its since-version).
///
/// Resolution follows the ONNX reference (`onnx/reference/ops/_op_list.py`, guide rule 11): for a
/// model importing opset `v` of the node's domain, the kernel in force is the one with the largest
/// since-version `<= v`. Version differences are separate registrations, never `if opset >= 13`
/// branches inside a kernel.
public struct KernelRegistry: Sendable {
    public struct Key: Hashable, Sendable {
        public var domain: String
        public var opType: String
        public init(domain: String, opType: String) {
            self.domain = domain == "ai.onnx" ? "" : domain
            self.opType = opType
        }
    }

    public struct Entry: Sendable {
        public var sinceVersion: Int
        public var kernel: Kernel
        /// Work done once per node when a graph is prepared, from its constant inputs.
        public var prepare: Preparer?
    }

    private var entries: [Key: [Entry]] = [:]

    public init() {}

    /// Registers `kernel` for `opType` in `domain` from opset `since` on (until the next
    /// registration of the same operator).
    /// `prepare`, when given, runs once per node as a graph is prepared (see `Preparer`).
    public mutating func register(_ opType: String, domain: String = "", since: Int, prepare: Preparer? = nil,
                                  _ kernel: @escaping Kernel) {
        let key = Key(domain: domain, opType: opType)
        var list = entries[key, default: []]
        list.removeAll { $0.sinceVersion == since }
        list.append(Entry(sinceVersion: since, kernel: kernel, prepare: prepare))
        list.sort { $0.sinceVersion < $1.sinceVersion }
        entries[key] = list
    }

    /// Registers one kernel for several operators (a family sharing an implementation).
    public mutating func register(_ opTypes: [String], domain: String = "", since: Int, _ kernel: @escaping Kernel) {
        for op in opTypes { register(op, domain: domain, since: since, kernel) }
    }

    /// The entry in force for `opType` at opset `version` of `domain`.
    public func resolve(_ opType: String, domain: String, version: Int) -> Entry? {
        entries[Key(domain: domain, opType: opType)]?.last { $0.sinceVersion <= version }
    }

    /// Every registered (domain, operator) with its since-versions, sorted.
    public var registrations: [(key: Key, versions: [Int])] {
        entries.map { ($0.key, $0.value.map(\.sinceVersion)) }
            .sorted { ($0.key.domain, $0.key.opType) < ($1.key.domain, $1.key.opType) }
    }

    /// The kernels Kiln ships.
    public static let standard: KernelRegistry = {
        var r = KernelRegistry()
        UnaryKernels.register(into: &r)
        BinaryKernels.register(into: &r)
        LogicKernels.register(into: &r)
        CastKernels.register(into: &r)
        ReductionKernels.register(into: &r)
        ShapeKernels.register(into: &r)
        MovementKernels.register(into: &r)
        GeneratorKernels.register(into: &r)
        SoftmaxKernels.register(into: &r)
        LinearAlgebraKernels.register(into: &r)
        NormalizationKernels.register(into: &r)
        IndexingKernels.register(into: &r)
        ControlFlowKernels.register(into: &r)
        ConvolutionKernels.register(into: &r)
        LossKernels.register(into: &r)
        AttentionKernels.register(into: &r)
        QuantizationKernels.register(into: &r)
        QuantizationKernels.registerLinearAlgebra(into: &r)
        SequenceKernels.register(into: &r)
        WindowKernels.register(into: &r)
        ResizeKernels.register(into: &r)
        EinsumKernels.register(into: &r)
        DetectionKernels.register(into: &r)
        RecurrentKernels.register(into: &r)
        StringKernels.register(into: &r)
        GridSampleKernels.register(into: &r)
        SignalKernels.register(into: &r)
        CausalConvKernels.register(into: &r)
        TrainingKernels.register(into: &r)
        FlexAttentionKernels.register(into: &r)
        MachineLearningKernels.register(into: &r)
        return r
    }()
}
