import CZlib
import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal reader for the zip archives `np.savez` / `np.savez_compressed` write: the central
/// directory (with zip64 extra fields), stored (method 0) and deflated (method 8) entries, CRC-32
/// checked. Opening reads only the directory; `data(of:)` reads and inflates one entry.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let path: String
    private(set) var entries: [Entry] = []

    init(path: String) throws {
        self.path = path
        let handle = try Self.open(path)
        defer { close(handle) }
        var st = stat()
        guard fstat(handle, &st) == 0 else { throw KilnError(.io, "cannot stat the file", at: .init(file: path)) }
        let fileSize = Int(st.st_size)
        // End of central directory: 22 bytes plus a comment of at most 64 KiB, at the end.
        let tailLength = min(fileSize, 22 + 65_535 + 20)
        let tail = try Self.read(handle, at: fileSize - tailLength, count: tailLength, path: path)
        guard let eocd = Self.lastIndex(of: [0x50, 0x4B, 0x05, 0x06], in: tail) else {
            throw KilnError(.invalidInput, "not a .npz (zip) archive: no end-of-central-directory record", at: .init(file: path))
        }
        var count = Int(Self.u16(tail, eocd + 10))
        var directorySize = Int(Self.u32(tail, eocd + 12))
        var directoryOffset = Int(Self.u32(tail, eocd + 16))
        // Zip64: the locator sits just before the record and points at the zip64 record.
        if eocd >= 20, Self.u32(tail, eocd - 20) == 0x0706_4B50 {
            let recordOffset = Int(Self.u64(tail, eocd - 20 + 8))
            let record = try Self.read(handle, at: recordOffset, count: 56, path: path)
            guard Self.u32(record, 0) == 0x0606_4B50 else {
                throw KilnError(.invalidInput, "corrupt zip64 end-of-central-directory record", at: .init(file: path))
            }
            count = Int(Self.u64(record, 32))
            directorySize = Int(Self.u64(record, 40))
            directoryOffset = Int(Self.u64(record, 48))
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset + directorySize <= fileSize else {
            throw KilnError(.invalidInput, "corrupt zip archive: the central directory lies outside the file", at: .init(file: path))
        }
        let directory = try Self.read(handle, at: directoryOffset, count: directorySize, path: path)
        var p = 0
        for _ in 0..<count {
            guard p + 46 <= directory.count, Self.u32(directory, p) == 0x0201_4B50 else {
                throw KilnError(.invalidInput, "corrupt zip archive: bad central directory entry", at: .init(file: path))
            }
            let nameLength = Int(Self.u16(directory, p + 28))
            let extraLength = Int(Self.u16(directory, p + 30))
            let commentLength = Int(Self.u16(directory, p + 32))
            guard p + 46 + nameLength + extraLength <= directory.count else {
                throw KilnError(.invalidInput, "corrupt zip archive: truncated central directory", at: .init(file: path))
            }
            var entry = Entry(name: String(decoding: directory[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self),
                              method: Self.u16(directory, p + 10), crc: Self.u32(directory, p + 16),
                              compressedSize: Int(Self.u32(directory, p + 20)), size: Int(Self.u32(directory, p + 24)),
                              localHeaderOffset: Int(Self.u32(directory, p + 42)))
            Self.applyZip64(directory, from: p + 46 + nameLength, length: extraLength, to: &entry)
            entries.append(entry)
            p += 46 + nameLength + extraLength + commentLength
        }
    }

    /// The zip64 extended-information extra field (id 1) carries, in order, whichever of size,
    /// compressed size and header offset are 0xFFFFFFFF in the fixed fields.
    private static func applyZip64(_ b: [UInt8], from start: Int, length: Int, to entry: inout Entry) {
        var q = start
        while q + 4 <= start + length {
            let id = u16(b, q), size = Int(u16(b, q + 2))
            if id == 1 {
                var r = q + 4
                let end = q + 4 + size
                if entry.size == 0xFFFF_FFFF, r + 8 <= end { entry.size = Int(u64(b, r)); r += 8 }
                if entry.compressedSize == 0xFFFF_FFFF, r + 8 <= end { entry.compressedSize = Int(u64(b, r)); r += 8 }
                if entry.localHeaderOffset == 0xFFFF_FFFF, r + 8 <= end { entry.localHeaderOffset = Int(u64(b, r)) }
                return
            }
            q += 4 + size
        }
    }

    /// The uncompressed bytes of `entry`, CRC-checked.
    func data(of entry: Entry) throws -> [UInt8] {
        let handle = try Self.open(path)
        defer { close(handle) }
        let header = try Self.read(handle, at: entry.localHeaderOffset, count: 30, path: path)
        guard Self.u32(header, 0) == 0x0403_4B50 else {
            throw KilnError(.invalidInput, "corrupt zip archive: bad local header for '\(entry.name)'", at: .init(file: path))
        }
        let start = entry.localHeaderOffset + 30 + Int(Self.u16(header, 26)) + Int(Self.u16(header, 28))
        let raw = try Self.read(handle, at: start, count: entry.compressedSize, path: path)
        let bytes: [UInt8]
        switch entry.method {
        case 0: bytes = raw
        case 8: bytes = try Self.inflate(raw, size: entry.size, entry: entry.name, path: path)
        default:
            throw KilnError(.unsupported, "zip entry '\(entry.name)' uses compression method \(entry.method); only stored and deflate are supported",
                            at: .init(file: path))
        }
        guard bytes.count == entry.size else {
            throw KilnError(.invalidInput, "zip entry '\(entry.name)' has \(bytes.count) bytes, the directory says \(entry.size)", at: .init(file: path))
        }
        let crc = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        guard crc == entry.crc else {
            throw KilnError(.invalidInput, "zip entry '\(entry.name)' fails its CRC-32 check (corrupt file)", at: .init(file: path))
        }
        return bytes
    }

    /// Raw deflate (no zlib header) of `input` into exactly `size` bytes.
    static func inflate(_ input: [UInt8], size: Int, entry: String, path: String) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var stream = z_stream()
        var status = inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw KilnError(.internalError, "zlib inflateInit2 failed (\(status))", at: .init(file: path))
        }
        defer { inflateEnd(&stream) }
        var produced = 0
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = UInt32(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = UInt32(dst.count)
                status = CZlib.inflate(&stream, Z_FINISH)
                produced = dst.count - Int(stream.avail_out)
            }
        }
        // An empty entry may end with Z_BUF_ERROR (no room to make progress) and still be complete.
        guard status == Z_STREAM_END || (status == Z_BUF_ERROR && size == 0) else {
            throw KilnError(.invalidInput, "zip entry '\(entry)' is not valid deflate data (zlib status \(status))", at: .init(file: path))
        }
        output.removeLast(size - produced)
        return output
    }

    private static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw KilnError(.io, "cannot open the file", at: .init(file: path)) }
        return fd
    }

    /// Exactly `count` bytes at `offset` (pread, retried on short reads).
    private static func read(_ fd: Int32, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset >= 0 else { throw KilnError(.invalidInput, "corrupt zip archive: negative offset", at: .init(file: path)) }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw KilnError(.invalidInput, "truncated zip archive", at: .init(file: path)) }
            done += n
        }
        return out
    }

    private static func lastIndex(of pattern: [UInt8], in b: [UInt8]) -> Int? {
        var i = b.count - pattern.count
        while i >= 0 {
            if b[i] == pattern[0], b[i + 1] == pattern[1], b[i + 2] == pattern[2], b[i + 3] == pattern[3] { return i }
            i -= 1
        }
        return nil
    }

    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(u16(b, i)) | UInt32(u16(b, i + 2)) << 16 }
    static func u64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(u32(b, i)) | UInt64(u32(b, i + 4)) << 32 }
}
