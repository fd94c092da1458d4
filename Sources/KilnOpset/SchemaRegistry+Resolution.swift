extension SchemaRegistry {
    /// What an operator is at a given opset.
    public enum Resolution: Hashable, Sendable {
        /// The schema in force.
        case available(OperatorSchema)
        /// The schema in force is deprecated: the operator was removed at its since-version
        /// (Upsample at opset 10, Scatter at 11) and is not available at this opset.
        case deprecated(OperatorSchema)
        /// The operator exists, but its first version comes after this opset.
        case notYetIntroduced(firstVersion: Int)
        /// No schema of this domain has this name.
        case unknownOperator

        /// The schema in force when available.
        public var schema: OperatorSchema? {
            if case .available(let s) = self { return s }
            return nil
        }
    }

    /// What `op` of `domain` is at `opset`: the schema with the largest since-version not above
    /// `opset`, or why there is none.
    public func resolve(domain: String, op: String, opset: Int) -> Resolution {
        guard let range = index[Key(domain: OperatorDomain.canonical(domain), name: op)] else { return .unknownOperator }
        var i = range.upperBound - 1
        while i >= range.lowerBound, schemas[i].sinceVersion > opset { i -= 1 }
        guard i >= range.lowerBound else { return .notYetIntroduced(firstVersion: schemas[range.lowerBound].sinceVersion) }
        return schemas[i].isDeprecated ? .deprecated(schemas[i]) : .available(schemas[i])
    }

    /// The schema of `op` in force at `opset`; `nil` when the operator is unknown, not yet
    /// introduced, or deprecated at that opset. Use `resolve` to tell these apart.
    public func schema(domain: String, op: String, opset: Int) -> OperatorSchema? {
        resolve(domain: domain, op: op, opset: opset).schema
    }

    /// Whether the schema in force for `op` at `opset` is deprecated (the operator was removed).
    public func isDeprecated(domain: String, op: String, opset: Int) -> Bool {
        if case .deprecated = resolve(domain: domain, op: op, opset: opset) { return true }
        return false
    }
}
