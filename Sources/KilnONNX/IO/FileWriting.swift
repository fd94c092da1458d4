import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files atomically: into a temporary file beside the target, then renamed over it. A
/// failure leaves no partial output and the previous file (possibly the input) untouched.
struct AtomicFile {
    let target: String
    let temporary: String
    private(set) var descriptor: Int32

    /// The folder and file name of `target`; throws when the folder does not exist.
    static func checkFolder(of target: String) throws -> (dir: String, base: String) {
        let dir: String
        let base: String
        if let slash = target.lastIndex(of: "/") {
            dir = String(target[..<slash]).isEmpty ? "/" : String(target[..<slash])
            base = String(target[target.index(after: slash)...])
        } else {
            dir = "."
            base = target
        }
        var st = stat()
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw KilnError(.invalidInput, "output folder '\(dir)' does not exist", at: .init(file: target))
        }
        return (dir, base)
    }

    /// Creates the temporary file for `target`. Fails when the target's folder does not exist.
    init(target: String) throws {
        let (dir, base) = try Self.checkFolder(of: target)
        var template = Array("\(dir)/.\(base).kiln-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw KilnError(.io, "cannot create a temporary file in '\(dir)': \(MappedFile.errnoText())", at: .init(file: target))
        }
        fchmod(fd, 0o644)
        self.target = target
        self.temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.descriptor = fd
    }

    /// Creates the folders between `base` (which must exist) and `target`'s parent, for external
    /// data locations such as `weights/part0.bin`.
    static func createParentFolders(of target: String, below base: String) throws {
        guard let slash = target.lastIndex(of: "/") else { return }
        let parent = String(target[..<slash])
        guard parent.count > base.count, parent.hasPrefix(base) else { return }
        var path = base
        for part in parent.dropFirst(base.count).split(separator: "/") {
            path += "/" + part
            var st = stat()
            if stat(path, &st) == 0 { continue }
            guard mkdir(path, 0o755) == 0 else {
                throw KilnError(.io, "cannot create folder '\(path)': \(MappedFile.errnoText())", at: .init(file: target))
            }
        }
    }

    /// Writes `pieces` in order. A payload still in its source file is copied file to file by the
    /// kernel (`copy_file_range`: no page of it enters this process, and on file systems that
    /// share extents no byte is copied); otherwise, or where the kernel refuses (another file
    /// system, an old kernel), mapped payloads are written in chunks whose pages are released from
    /// the resident set after writing, so peak memory stays flat however large the model.
    mutating func write(_ pieces: [OutputPiece]) throws -> Int {
        var total = 0
        for piece in pieces {
            switch piece {
            case .bytes(let b):
                try b.withUnsafeBytes { try writeAll($0) }
                total += b.count
            case .payload(let p):
                let chunk = 16 << 20
                var start = try copyFromOrigin(p)
                while start < p.count {
                    let slice = p.slice(start..<min(start + chunk, p.count))
                    try slice.withUnsafeBytes { try writeAll($0) }
                    MappedFile.release(slice)
                    start += chunk
                }
                total += p.count
            }
        }
        return total
    }

    typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32,
                                              UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int
    /// glibc's `copy_file_range` (2.27 and later; the Glibc module does not export it), or nil.
    static let copyFileRange: CopyFileRange? = {
        guard getenv("KILN_NO_COPY_FILE_RANGE") == nil,
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
    }()

    /// Copies as much of `p` as the kernel will from its source file to this one, at the current
    /// position; returns how many bytes (0 when `p` is not in a file or the kernel cannot).
    private func copyFromOrigin(_ p: TensorBytes) throws -> Int {
        guard let origin = p.storage.origin, let copy = Self.copyFileRange, p.count > 0 else { return 0 }
        var from = origin.offset + Int64(p.offset)
        var done = 0
        while done < p.count {
            let n = copy(origin.descriptor, &from, descriptor, nil, min(p.count - done, 1 << 30), 0)
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            break  // EXDEV, EINVAL, ENOSYS, EOPNOTSUPP...: the rest is written from memory
        }
        return done
    }

    private func writeAll(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw KilnError(.io, "write failed: \(MappedFile.errnoText())", at: .init(file: target))
            }
            offset += n
        }
    }

    /// Flushes and closes the temporary file.
    mutating func finish() throws {
        guard descriptor >= 0 else { return }
        if fsync(descriptor) != 0 && errno != EINVAL {
            throw KilnError(.io, "fsync failed: \(MappedFile.errnoText())", at: .init(file: target))
        }
        close(descriptor)
        descriptor = -1
    }

    /// Renames the temporary file over the target.
    func commit() throws {
        guard rename(temporary, target) == 0 else {
            throw KilnError(.io, "cannot rename '\(temporary)' to the output: \(MappedFile.errnoText())", at: .init(file: target))
        }
    }

    /// Removes the temporary file (after a failure).
    mutating func discard() {
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
        unlink(temporary)
    }
}
