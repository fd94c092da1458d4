import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves `external_data` locations relative to the model's folder, maps each data file once and
/// hands out slices. Security rule: a location must stay inside the model's folder: absolute paths,
/// `..` components and symbolic links that lead outside are refused.
final class ExternalDataResolver: @unchecked Sendable {
    let baseDirectory: String
    private let realBase: String
    private var files: [String: ByteStorage] = [:]

    init(modelPath: String) {
        let dir: String
        if let slash = modelPath.lastIndex(of: "/") {
            dir = String(modelPath[..<slash])
        } else {
            dir = "."
        }
        baseDirectory = dir.isEmpty ? "/" : dir
        realBase = ExternalDataResolver.realPath(baseDirectory) ?? baseDirectory
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Checks `location` against the security rule and returns the full path of the data file.
    func validatedPath(_ location: String) throws -> String {
        guard !location.isEmpty else {
            throw KilnError(.invalidInput, "external data has an empty 'location'")
        }
        if location.hasPrefix("/") || location.hasPrefix("\\") || (location.count > 1 && location.dropFirst().first == ":") {
            throw KilnError(.invalidInput, "external data location '\(location)' is an absolute path; locations must be relative to the model's folder")
        }
        let parts = location.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if parts.contains("..") {
            throw KilnError(.invalidInput, "external data location '\(location)' contains '..'; locations must stay inside the model's folder")
        }
        let full = baseDirectory + "/" + parts.joined(separator: "/")
        guard let real = ExternalDataResolver.realPath(full) else {
            throw KilnError(.invalidInput, "external data file '\(location)' not found (looked for \(full))")
        }
        guard real == realBase || real.hasPrefix(realBase.hasSuffix("/") ? realBase : realBase + "/") else {
            throw KilnError(.invalidInput, "external data location '\(location)' resolves to \(real), outside the model's folder (symbolic link?)")
        }
        return real
    }

    /// The bytes of an external tensor: `length` bytes at `offset` of `location` (to the end of the
    /// file when `length` is nil).
    func bytes(location: String, offset: Int64, length: Int64?) throws -> TensorBytes {
        let path = try validatedPath(location)
        let storage: ByteStorage
        if let s = files[path] {
            storage = s
        } else {
            storage = try MappedFile.map(path)
            files[path] = storage
        }
        let size = Int64(storage.count)
        guard offset >= 0, offset <= size else {
            throw KilnError(.invalidInput, "external data offset \(offset) is beyond the end of '\(location)' (\(size) bytes)")
        }
        let n = length ?? (size - offset)
        guard n >= 0, offset + n <= size else {
            throw KilnError(.invalidInput, "external data range \(offset)..<\(offset + n) is beyond the end of '\(location)' (\(size) bytes)")
        }
        return TensorBytes(storage: storage, offset: Int(offset), count: Int(n))
    }
}
