#if canImport(Glibc)
import Glibc
#endif

/// Buffer reuse through the allocator. Every kernel returns a fresh array and the planner frees
/// each intermediate after its last reader; with glibc's defaults, arrays over the (adaptive,
/// at most 32 MiB) mmap threshold are mapped and unmapped per node, so every node's output pays
/// page faults and zeroing of new pages. Raising the mmap threshold to 256 MiB and the trim
/// threshold to 512 MiB keeps freed activation buffers in the heap, where the next node's
/// allocation of the same size reuses them without faults; peak RSS still follows the live set
/// (freed blocks are reused before the heap grows). Applied once, when the first evaluator is
/// prepared; `KILN_MALLOC_DEFAULTS=1` leaves glibc's settings alone.
enum AllocatorTuning {
    static let applied: Bool = {
        #if canImport(Glibc)
        // mallopt is declared in <malloc.h>, which the Glibc module does not export: look it up
        // (RTLD_DEFAULT is a null handle on glibc). M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
        if getenv("KILN_MALLOC_DEFAULTS") != nil { return false }
        guard let symbol = dlsym(nil, "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-3, 256 << 20)
        _ = mallopt(-1, 512 << 20)
        return true
        #else
        return false
        #endif
    }()
}
