import KilnIR

/// What `kiln convert --fp16 | --bf16` is asked to do. See Docs/Precision.md.
public struct PrecisionOptions: Sendable {
    /// `.float16` or `.bfloat16`.
    public var target: DataType
    /// Graph inputs and outputs of the main graph stay float32 (names unchanged); Casts are added
    /// inside. Without it they become `target`.
    public var keepIOTypes: Bool
    /// Operator types kept in float32 in addition to the default rules (`--block-op`).
    public var blockedOps: Set<String>
    /// Apply the default range and precision rules (`PrecisionPolicy`). Off: only the schema
    /// table and `blockedOps` keep nodes in float32.
    public var defaultBlocks: Bool

    public init(target: DataType = .float16, keepIOTypes: Bool = false, blockedOps: Set<String> = [],
                defaultBlocks: Bool = true) {
        self.target = target
        self.keepIOTypes = keepIOTypes
        self.blockedOps = blockedOps
        self.defaultBlocks = defaultBlocks
    }

    /// `fp16` / `bf16`, for messages and generated names.
    var shortName: String { target == .bfloat16 ? "bf16" : "fp16" }
}

/// What a precision conversion did.
public struct PrecisionReport: Sendable {
    /// A node left in float32, with the rule that kept it.
    public struct KeptNode: Sendable, Equatable {
        /// `graph` or a subgraph path (`graph/loop_1.body`).
        public var graph: String
        public var node: String
        public var op: String
        public var reason: String
    }

    public var target: DataType
    /// Float32 tensors (initializers, Constant values, attribute tensors) rewritten to `target`.
    public var tensorsConverted = 0
    /// Their element count.
    public var elementsConverted = 0
    /// Finite values beyond the target's largest finite value, clamped to it (±65504 for float16).
    public var clamped = 0
    /// Non-zero values below the target's smallest normal value, flushed to (signed) zero.
    public var flushed = 0
    /// Nodes that run in `target` after the conversion (they read or write a converted value).
    public var nodesConverted = 0
    public var castsInserted = 0
    /// Casts removed because they cancelled (a lossless widening followed by its inverse) or
    /// became identities.
    public var castsRemoved = 0
    public var kept: [KeptNode] = []

    public init(target: DataType) { self.target = target }

    /// One line for the CLI.
    public var summary: String {
        var line = "\(target.name): \(tensorsConverted) tensors converted (\(elementsConverted) values"
        if clamped > 0 { line += ", \(clamped) clamped to ±\(target == .float16 ? "65504" : "3.39e38")" }
        if flushed > 0 { line += ", \(flushed) subnormal flushed to zero" }
        line += "), \(nodesConverted) nodes in \(target.name), \(castsInserted) casts inserted"
        if castsRemoved > 0 { line += " (\(castsRemoved) cancelling removed)" }
        if kept.isEmpty {
            line += ", no node kept in float32"
        } else {
            var counts: [String: Int] = [:]
            for k in kept { counts[k.op, default: 0] += 1 }
            let ops = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { $0.value > 1 ? "\($0.key) x\($0.value)" : $0.key }
            line += ", \(kept.count) nodes kept in float32 (" + ops.joined(separator: ", ") + ")"
        }
        return line
    }
}
