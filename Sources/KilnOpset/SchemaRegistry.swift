import KilnIR

/// A set of operator schemas, every version of every operator, with the version resolution of
/// ONNX: the schema in force for (domain, operator, opset) is the one with the largest
/// `sinceVersion` not above the opset.
///
/// A value: cheap to copy, immutable, `Sendable`. `SchemaRegistry.standard` holds every schema of
/// the onnx wheel the table was generated from; `init(schemas:)` builds one for other operators
/// (a custom domain, a test). Domain names are compared with `OperatorDomain.canonical`, so `""`
/// and `"ai.onnx"` are the same domain.
public struct SchemaRegistry: Sendable {
    /// Operator identity: canonical domain and operator name.
    struct Key: Hashable, Sendable {
        var domain: String
        var name: String
    }

    /// Sorted by canonical domain, name and since-version; one operator's versions are contiguous.
    let schemas: [OperatorSchema]
    /// Where each operator's versions lie in `schemas`.
    let index: [Key: Range<Int>]
    /// The opset versions onnx knows per canonical domain, including domains without schemas.
    public let domainVersions: [String: ClosedRange<Int>]
    /// The onnx version the schemas come from, when known (`"1.23.2"` for `standard`).
    public let onnxVersion: String?

    /// A registry of `schemas`, in any order. Throws when two schemas share domain, name and
    /// since-version. Without `domainVersions`, each domain's range runs from 1 to its largest
    /// since-version.
    public init(schemas: [OperatorSchema], domainVersions: [String: ClosedRange<Int>] = [:],
                onnxVersion: String? = nil) throws {
        func key(_ s: OperatorSchema) -> Key { Key(domain: OperatorDomain.canonical(s.domain), name: s.name) }
        func ordered(_ a: OperatorSchema, _ b: OperatorSchema) -> Bool {
            let ka = key(a), kb = key(b)
            if ka.domain != kb.domain { return ka.domain < kb.domain }
            if ka.name != kb.name { return ka.name < kb.name }
            return a.sinceVersion < b.sinceVersion
        }
        var sorted = schemas
        if !zip(sorted, sorted.dropFirst()).allSatisfy({ ordered($0, $1) }) {
            sorted.sort(by: ordered)
        }
        var index: [Key: Range<Int>] = [:]
        index.reserveCapacity(sorted.count)
        var start = 0
        while start < sorted.count {
            let k = key(sorted[start])
            var end = start + 1
            while end < sorted.count, key(sorted[end]) == k {
                if sorted[end].sinceVersion == sorted[end - 1].sinceVersion {
                    throw KilnError(.invalidInput, "two schemas for \(sorted[end]); keep one per since-version")
                }
                end += 1
            }
            index[k] = start..<end
            start = end
        }
        var versions: [String: ClosedRange<Int>] = [:]
        for (domain, range) in domainVersions { versions[OperatorDomain.canonical(domain)] = range }
        for s in sorted where versions[key(s).domain] == nil {
            let latest = sorted[index[key(s)]!].map(\.sinceVersion).max()!
            versions[key(s).domain] = 1...max(latest, 1)
        }
        self.schemas = sorted
        self.index = index
        self.domainVersions = versions
        self.onnxVersion = onnxVersion
    }

    /// Every schema, sorted by domain, operator name and since-version.
    public var allSchemas: [OperatorSchema] { schemas }

    /// The number of distinct (domain, operator) pairs.
    public var operatorCount: Int { index.count }

    /// The domains that have schemas, canonical spelling (`""` for ai.onnx), sorted.
    public var domains: [String] { Set(index.keys.map(\.domain)).sorted() }

    /// The operator names of `domain`, sorted.
    public func operators(in domain: String) -> [String] {
        let d = OperatorDomain.canonical(domain)
        return index.keys.filter { $0.domain == d }.map(\.name).sorted()
    }

    /// Every version of an operator, ascending by since-version; empty when unknown.
    public func schemas(domain: String, op: String) -> ArraySlice<OperatorSchema> {
        guard let range = index[Key(domain: OperatorDomain.canonical(domain), name: op)] else { return [] }
        return schemas[range]
    }

    /// The since-versions of an operator, ascending; empty when unknown.
    public func versions(domain: String, op: String) -> [Int] {
        schemas(domain: domain, op: op).map(\.sinceVersion)
    }

    /// The schema declared at exactly `sinceVersion`, if any.
    public func schema(domain: String, op: String, sinceVersion: Int) -> OperatorSchema? {
        schemas(domain: domain, op: op).first { $0.sinceVersion == sinceVersion }
    }

    /// The opset versions of `domain` onnx knows (ai.onnx: 1...28 for onnx 1.23.2); `nil` for a
    /// domain the registry does not know.
    public func opsetRange(domain: String) -> ClosedRange<Int>? {
        domainVersions[OperatorDomain.canonical(domain)]
    }

    /// The opsets in which `schema` is in force: from its since-version up to, not including, the
    /// next version of the operator (`Int.max` for the latest version).
    public func opsets(inForceFor schema: OperatorSchema) -> Range<Int> {
        let next = schemas(domain: schema.domain, op: schema.name).first { $0.sinceVersion > schema.sinceVersion }
        return schema.sinceVersion..<(next?.sinceVersion ?? Int.max)
    }
}
