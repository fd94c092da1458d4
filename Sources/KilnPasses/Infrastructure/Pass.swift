import KilnIR

/// One transformation of a model. A pass reads the model, changes it in place and says what it did.
///
/// Rules every pass follows (checked by `PassManager` in debug and test builds):
/// 1. The result is a valid graph: every edge consistent both ways, nodes in topological order.
/// 2. Graph inputs and outputs keep their names, order and types.
/// 3. `modified` is true exactly when the model changed; a pass run twice reports no change the
///    second time unless a fixed point needs more rounds (the manager iterates).
/// 4. Deterministic: the same model and options give the same result; new names derive from the
///    names of the nodes and values they replace.
public protocol Pass: Sendable {
    /// Stable name used by `--skip`/`--only` and in the report (kebab-case).
    var name: String { get }
    /// Whether value types and shapes must be up to date before the pass runs. The manager runs
    /// shape inference first when the model changed since the last inference.
    var needsShapes: Bool { get }
    func run(on model: inout Model, context: PassContext) throws -> PassResult
}

extension Pass {
    public var needsShapes: Bool { false }
}

/// What a pass did: whether it changed anything, and named counts for the report.
public struct PassResult: Sendable, Equatable {
    public var modified: Bool
    /// Named counts (`"nodes removed": 3`), merged across rounds by the manager.
    public var counts: [String: Int]

    public init(modified: Bool = false, counts: [String: Int] = [:]) {
        self.modified = modified
        self.counts = counts
    }

    public static let unchanged = PassResult()

    /// Adds `n` to count `key` (and marks the result modified when `n > 0`).
    public mutating func count(_ key: String, _ n: Int = 1) {
        guard n != 0 else { return }
        counts[key, default: 0] += n
        modified = true
    }

    /// Merges another result into this one.
    public mutating func merge(_ other: PassResult) {
        modified = modified || other.modified
        for (k, v) in other.counts { counts[k, default: 0] += v }
    }
}

/// Options shared by every pass of a run.
public struct PassOptions: Sendable {
    /// Constant folding never creates a tensor larger than this many bytes (unless the consumer
    /// needs a constant, such as a Conv weight). Default 1 MiB.
    public var foldSizeLimit: Int = 1 << 20
    /// Whether fusions may produce the standard fused operators the opset has (Gelu,
    /// LayerNormalization, RMSNormalization, Attention).
    public var opsetFusions: Bool = true
    /// Records why each pattern did not fire (for `--verbose`); costs time on big graphs.
    public var explainMisses: Bool = false

    public init() {}
}

/// Read-only context a pass gets: options, the model's opset imports, and a log.
public struct PassContext: Sendable {
    public var options: PassOptions
    /// The log the manager prints with `--verbose`.
    public let log: PassLog

    public init(options: PassOptions = PassOptions(), log: PassLog = PassLog()) {
        self.options = options
        self.log = log
    }
}

/// A thread-safe list of messages (pattern misses, notes) collected during a run.
public final class PassLog: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = Mutex()
    public let enabled: Bool

    public init(enabled: Bool = false) { self.enabled = enabled }

    public func note(_ message: @autoclosure () -> String) {
        guard enabled else { return }
        let m = message()
        lock.withLock { lines.append(m) }
    }

    public var messages: [String] { lock.withLock { lines } }
}

/// A minimal pthread mutex (Foundation-free).
final class Mutex: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
