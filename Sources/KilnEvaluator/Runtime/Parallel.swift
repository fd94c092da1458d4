import Dispatch

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the evaluator uses the machine. `threads` is the number of cores a kernel may split its
/// work across (elementwise rows, GEMM row or column blocks, convolution channels); BLAS itself
/// runs one thread per call (`KILN_BLAS_THREADS`, read when OpenBLAS loads), so the two never
/// oversubscribe each other.
public struct EvaluatorOptions: Sendable {
    /// Worker threads per kernel (1: everything on the calling thread).
    public var threads: Int
    /// Whether kernels may keep prepared copies of constant operands across runs (kernel
    /// preparers: Winograd-transformed 3x3 filters, 16/9 the size of those weights). Faster for
    /// repeated runs (calibration, accuracy over many samples; ResNet-50 batch 1: 85 -> 72 ms per
    /// run on one thread) at the price of that memory, so off by default: a single run then stays
    /// within weights + 2x the live activations.
    public var prepareConstants: Bool

    public init(threads: Int? = nil, prepareConstants: Bool = false) {
        self.threads = max(1, threads ?? EvaluatorOptions.defaultThreads)
        self.prepareConstants = prepareConstants
    }

    /// `KILN_THREADS` when set to a positive integer, else the number of active cores.
    public static var defaultThreads: Int {
        if let s = ProcessInfo.processInfo.environment["KILN_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// Splits `0..<count` into at most `threads` contiguous chunks of at least `grain` items and runs
/// `body` on each, in parallel when there is more than one chunk. `body` must only write to
/// places no other chunk writes.
@inline(__always)
func parallelChunks(_ count: Int, threads: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = Swift.min(threads, Swift.max(1, count / Swift.max(grain, 1)))
    if chunks <= 1 { body(0..<count); return }
    let per = (count + chunks - 1) / chunks
    // concurrentPerform wants a @Sendable closure; `body` captures raw buffers whose chunks are
    // disjoint by construction, and it does not outlive this call (concurrentPerform returns after
    // every iteration has run).
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * per, end = Swift.min(count, start + per)
            if start < end { box.value(start..<end) }
        }
    }
}

/// Carries a value the compiler cannot prove Sendable across `concurrentPerform`.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Elementwise work is split only when a chunk gets at least this many elements (below it the
/// dispatch costs more than the loop).
let elementGrain = 32_768

/// `f` over every element, split across `threads` for large arrays.
func mapElements<T, R>(_ e: ContiguousArray<T>, threads: Int, _ f: (T) -> R) -> ContiguousArray<R> {
    withoutActuallyEscaping(f) { f in mapElements(e, threads: threads, function: ClosureUnary(f: f)) }
}

/// An elementwise function of one operand, as a type (so generic loops specialize and inline it).
protocol ElementwiseUnary {
    associatedtype A
    associatedtype R
    func callAsFunction(_ a: A) -> R
}

private struct ClosureUnary<A, R>: ElementwiseUnary {
    let f: (A) -> R
    @inline(__always) func callAsFunction(_ a: A) -> R { f(a) }
}

/// `f` over every element (inlined into the loop), split across `threads` for large arrays.
func mapElements<F: ElementwiseUnary>(_ e: ContiguousArray<F.A>, threads: Int, function f: F) -> ContiguousArray<F.R> {
    let n = e.count
    return ContiguousArray(unsafeUninitializedCapacity: n) { out, count in
        e.withUnsafeBufferPointer { src in
            let s = src.baseAddress, o = out.baseAddress
            parallelChunks(n, threads: threads, grain: elementGrain) { range in
                for i in range { (o! + i).initialize(to: f(s![i])) }
            }
        }
        count = n
    }
}

/// `count` elements written by `body`, which must initialize every one of them (trivial element
/// types: Float, Int, ...). `body` is not called for an empty array.
@inline(__always)
func filledArray<T>(_ count: Int, _ body: (UnsafeMutablePointer<T>) -> Void) -> ContiguousArray<T> {
    ContiguousArray(unsafeUninitializedCapacity: count) { out, initialized in
        if count > 0 { body(out.baseAddress!) }
        initialized = count
    }
}
