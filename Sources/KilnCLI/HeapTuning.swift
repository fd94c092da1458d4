#if canImport(Glibc)
import Glibc
#endif

/// Allocator settings for the commands whose memory is the graph IR itself (`check`,
/// `infer-shapes`, `inspect`, `convert`): tens of thousands of small nodes, values and arrays,
/// touched once (`convert`'s weights stay in the mapped input or are copied file to file).
///
/// With glibc's defaults every fresh 4 KiB page costs a page fault on first touch (about 14,000 on
/// a 50,000-node graph, a fifth of `infer-shapes`' time), and arrays of 128 KiB or more are each
/// mapped on their own. Here the heap is grown once by `padBytes` and that region is advised for
/// transparent huge pages (2 MiB pages: one fault instead of 512), and arrays below 32 MiB come
/// from it. Costs: up to `padBytes` of address space, and peak RSS rounded up to 2 MiB pages.
///
/// Not used by the commands that compute tensors (`run`, `optimize`, `quantize`, `diff`):
/// there, freed activation buffers must go back to the system to keep their memory bounds.
/// `KILN_HEAP_DEFAULTS=1` turns it off. Does nothing off glibc or where THP is disabled.
enum HeapTuning {
    static func preferHugePages(padBytes: Int = 64 << 20) {
        #if canImport(Glibc)
        if getenv("KILN_HEAP_DEFAULTS") != nil { return }
        // mallopt is declared in malloc.h, which the Glibc module does not export.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let hugePage = 2 << 20
        // glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD -1, M_TOP_PAD -2,
        // M_MMAP_THRESHOLD -3.
        _ = mallopt(-3, Int32(32 << 20))
        _ = mallopt(-1, Int32(256 << 20))
        _ = mallopt(-2, Int32(padBytes))
        // One allocation larger than the heap's free top grows the heap by it plus the pad; the
        // new range [before, after) is then advised, from its first 2 MiB boundary.
        guard let before = sbrk(0) else { return }
        // Through dlsym, as mallopt: the optimizer removes a malloc/free pair whose memory is unused.
        typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
        guard let mallocSymbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc"),
              let probe = unsafeBitCast(mallocSymbol, to: Malloc.self)(1 << 20) else { return }
        defer { free(probe) }
        guard let after = sbrk(0) else { return }
        let start = (Int(bitPattern: before) + hugePage - 1) & ~(hugePage - 1)
        let end = Int(bitPattern: after) & ~(hugePage - 1)
        guard end - start >= hugePage, let base = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(base, end - start, 14)  // MADV_HUGEPAGE; refused (harmless) where THP is off
        #endif
    }
}
