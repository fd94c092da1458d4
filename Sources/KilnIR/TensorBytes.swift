/// Where the bytes of a `ByteStorage` live in a file, so writers can copy them file-to-file
/// (`copy_file_range`) without bringing them into memory.
public struct FileOrigin: Sendable, Hashable {
    /// An open, read-only file descriptor owned by the storage.
    public var descriptor: Int32
    /// Offset in the file of the storage's first byte.
    public var offset: Int64
    public var path: String

    public init(descriptor: Int32, offset: Int64, path: String) {
        self.descriptor = descriptor
        self.offset = offset
        self.path = path
    }
}

/// An immutable block of bytes: heap memory or a read-only memory-mapped file region.
///
/// Storage is shared by every `TensorBytes` slicing it and released (freed or unmapped) when the last
/// one goes away. It is never written after creation, which is what makes it `Sendable`.
public final class ByteStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    public let origin: FileOrigin?
    private let release: @Sendable (UnsafeRawPointer, Int) -> Void

    /// Wraps memory the caller allocated; `release` runs once, when the storage dies.
    public init(base: UnsafeRawPointer, count: Int, origin: FileOrigin?,
                release: @escaping @Sendable (UnsafeRawPointer, Int) -> Void) {
        self.base = base
        self.count = count
        self.origin = origin
        self.release = release
    }

    /// Copies `bytes` into new heap storage.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        // Contiguous sources (arrays, slices) are one memcpy; the generic element-by-element copy is
        // an unspecialized iterator loop across the module boundary (seconds on 100 MB).
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { src in
            if let base = src.baseAddress, n > 0 { p.copyMemory(from: base, byteCount: n) }
            return true
        }
        if copied == nil {
            _ = UnsafeMutableRawBufferPointer(start: p, count: n).initializeMemory(as: UInt8.self, from: bytes)
        }
        self.init(base: UnsafeRawPointer(p), count: n, origin: nil) { ptr, _ in
            UnsafeMutableRawPointer(mutating: ptr).deallocate()
        }
    }

    deinit { release(base, count) }
}

/// A slice of a `ByteStorage`: the payload of a tensor. Copying a `TensorBytes` never copies bytes.
public struct TensorBytes: Sendable, Hashable, CustomStringConvertible {
    public let storage: ByteStorage
    public let offset: Int
    public let count: Int

    public init(storage: ByteStorage, offset: Int = 0, count: Int? = nil) {
        let n = count ?? (storage.count - offset)
        precondition(offset >= 0 && n >= 0 && offset + n <= storage.count, "TensorBytes slice out of range")
        self.storage = storage
        self.offset = offset
        self.count = n
    }

    /// Heap copy of raw memory (a `memcpy`).
    public init(copying bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 16)
        if n > 0 { p.copyMemory(from: bytes.baseAddress!, byteCount: n) }
        self.init(storage: ByteStorage(base: UnsafeRawPointer(p), count: n, origin: nil) { ptr, _ in
            UnsafeMutableRawPointer(mutating: ptr).deallocate()
        })
    }

    /// Heap copy of `bytes`.
    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        self.init(storage: ByteStorage(copying: bytes))
    }

    public static let empty = TensorBytes([UInt8]())

    /// The file and offset these bytes come from, when they are a mapped file region.
    public var fileOrigin: FileOrigin? {
        guard var o = storage.origin else { return nil }
        o.offset += Int64(offset)
        return o
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base + offset, count: count))
    }

    public var array: [UInt8] { withUnsafeBytes { Array($0) } }

    public func slice(_ range: Range<Int>) -> TensorBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return TensorBytes(storage: storage, offset: offset + range.lowerBound, count: range.count)
    }

    public static func == (a: TensorBytes, b: TensorBytes) -> Bool {
        if a.storage === b.storage && a.offset == b.offset && a.count == b.count { return true }
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in pa.elementsEqual(pb) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(64))) }
    }

    public var description: String { "TensorBytes(\(count) bytes)" }
}
