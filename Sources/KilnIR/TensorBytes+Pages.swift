#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TensorBytes {
    /// Drops the whole pages of a memory-mapped payload from this process's resident set. They stay
    /// in the page cache and fault back in if read again. Reading every weight of a large model once
    /// (hashing, converting) would otherwise count the whole file in peak RSS. No effect on heap
    /// bytes or payloads under 64 KiB (neighbouring bytes stay resident).
    public func releaseMappedPages() {
        guard storage.origin != nil, count >= 1 << 16 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: storage.base) + offset
        let first = (start + page - 1) & ~(page - 1), end = (start + count) & ~(page - 1)
        if end > first { madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, Int32(MADV_DONTNEED)) }
    }
}
