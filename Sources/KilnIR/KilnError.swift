/// Errors raised anywhere in Kiln.
///
/// An error carries a stable `code` (mapped to exit status by the CLI), a human message that says what
/// went wrong and how to fix it, an optional location (file, then graph, node and field), and an
/// optional underlying cause.
public struct KilnError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input could not be read or is not a valid ONNX file.
        case invalidInput
        /// A file system operation failed (open, map, write, rename).
        case io
        /// The graph would become inconsistent (bad edge, duplicate name, ...).
        case invalidGraph
        /// A request is not supported (by name, never approximated).
        case unsupported
        /// An internal invariant failed; a bug in Kiln.
        case internalError
        /// The command's own check failed (e.g. `kiln check` found problems).
        case checkFailed
    }

    public var code: Code
    public var message: String
    public var location: Location
    public var cause: String?

    public init(_ code: Code, _ message: String, at location: Location = Location(), cause: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.cause = cause
    }

    /// Where an error happened: the file, then a path inside the model such as
    /// `graph.node[3](conv1).attribute(kernel_shape)`.
    public struct Location: Sendable, CustomStringConvertible {
        public var file: String?
        public var path: [String]

        public init(file: String? = nil, path: [String] = []) {
            self.file = file
            self.path = path
        }

        public var description: String {
            var parts: [String] = []
            if let file { parts.append(file) }
            if !path.isEmpty { parts.append(path.joined(separator: ".")) }
            return parts.joined(separator: ": ")
        }
    }

    /// Returns a copy whose location has `file` set (when not already set).
    public func inFile(_ file: String) -> KilnError {
        var copy = self
        if copy.location.file == nil { copy.location.file = file }
        return copy
    }

    /// Returns a copy with `component` prepended to the location path.
    public func within(_ component: String) -> KilnError {
        var copy = self
        copy.location.path.insert(component, at: 0)
        return copy
    }

    public var description: String {
        var text = ""
        let loc = location.description
        if !loc.isEmpty { text += loc + ": " }
        text += message
        if let cause { text += " (\(cause))" }
        return text
    }
}
