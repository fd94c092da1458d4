import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only memory mapping of a whole file, as `ByteStorage` whose origin keeps the descriptor
/// open so writers can copy regions file-to-file.
enum MappedFile {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Maps `path`. An empty file gives empty heap storage.
    static func map(_ path: String) throws -> ByteStorage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let what = e == ENOENT ? "no such file" : String(cString: strerror(e))
            throw KilnError(.invalidInput, "cannot open: \(what)", at: .init(file: path))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let text = errnoText()
            close(fd)
            throw KilnError(.io, "cannot stat: \(text)", at: .init(file: path))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw KilnError(.invalidInput, "is a directory, not a file", at: .init(file: path))
        }
        let size = Int(st.st_size)
        if size == 0 {
            close(fd)
            return ByteStorage(copying: [UInt8]())
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            let text = errnoText()
            close(fd)
            throw KilnError(.io, "cannot map file: \(text)", at: .init(file: path))
        }
        return ByteStorage(base: UnsafeRawPointer(p), count: size,
                           origin: FileOrigin(descriptor: fd, offset: 0, path: path)) { ptr, n in
            munmap(UnsafeMutableRawPointer(mutating: ptr), n)
            close(fd)
        }
    }

    /// Drops the mapped pages of `bytes` from this process's resident set (they stay in the page
    /// cache), so streaming a large mapped payload does not grow peak RSS.
    static func release(_ bytes: TensorBytes) {
        guard bytes.storage.origin != nil, bytes.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: bytes.storage.base) + bytes.offset
        let alignedStart = start & ~(page - 1)
        let end = start + bytes.count
        madvise(UnsafeMutableRawPointer(bitPattern: alignedStart), end - alignedStart, Int32(MADV_DONTNEED))
    }
}
