/// Typed attribute getters whose errors name the node, its operator and the attribute.
extension Node {
    private func typeError(_ attr: Attribute, expected: String) -> KilnError {
        KilnError(.invalidInput, "attribute '\(attr.name)' of \(label) is \(attr.value.typeName), expected \(expected)",
                  at: .init(path: ["node(\(name))", "attribute(\(attr.name))"]))
    }

    private func missing(_ attr: String) -> KilnError {
        KilnError(.invalidInput, "\(label) requires attribute '\(attr)'", at: .init(path: ["node(\(name))", "attribute(\(attr))"]))
    }

    /// The INT attribute `name`, or `defaultValue` when absent (throws when absent and no default).
    public func int(_ name: String, default defaultValue: Int64? = nil) throws -> Int64 {
        guard let a = attribute(name) else {
            if let d = defaultValue { return d }
            throw missing(name)
        }
        guard case .int(let v) = a.value else { throw typeError(a, expected: "INT") }
        return v
    }

    public func float(_ name: String, default defaultValue: Float? = nil) throws -> Float {
        guard let a = attribute(name) else {
            if let d = defaultValue { return d }
            throw missing(name)
        }
        guard case .float(let v) = a.value else { throw typeError(a, expected: "FLOAT") }
        return v
    }

    public func string(_ name: String, default defaultValue: String? = nil) throws -> String {
        guard let a = attribute(name) else {
            if let d = defaultValue { return d }
            throw missing(name)
        }
        guard case .string(let v) = a.value else { throw typeError(a, expected: "STRING") }
        return String(decoding: v, as: UTF8.self)
    }

    public func ints(_ name: String, default defaultValue: [Int64]? = nil) throws -> [Int64] {
        guard let a = attribute(name) else {
            if let d = defaultValue { return d }
            throw missing(name)
        }
        guard case .ints(let v) = a.value else { throw typeError(a, expected: "INTS") }
        return v
    }

    public func floats(_ name: String, default defaultValue: [Float]? = nil) throws -> [Float] {
        guard let a = attribute(name) else {
            if let d = defaultValue { return d }
            throw missing(name)
        }
        guard case .floats(let v) = a.value else { throw typeError(a, expected: "FLOATS") }
        return v
    }

    public func tensor(_ name: String) throws -> Tensor? {
        guard let a = attribute(name) else { return nil }
        guard case .tensor(let v) = a.value else { throw typeError(a, expected: "TENSOR") }
        return v
    }

    public func graph(_ name: String) throws -> Graph? {
        guard let a = attribute(name) else { return nil }
        guard case .graph(let v) = a.value else { throw typeError(a, expected: "GRAPH") }
        return v
    }
}
