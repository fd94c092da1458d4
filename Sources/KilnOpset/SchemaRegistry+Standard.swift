extension SchemaRegistry {
    /// Every schema of the onnx wheel named in Sources/KilnOpset/Generated/SchemaTable.swift.stamp
    /// (onnx 1.23.2: 659 schemas, 227 operators, four domains). Decoded from the generated table
    /// once, on first use; thread-safe (a `static let` is initialized once).
    public static let standard: SchemaRegistry = {
        do {
            let table = try SchemaTableReader.read(SchemaTable.text)
            return try SchemaRegistry(schemas: table.schemas, domainVersions: table.domainVersions,
                                      onnxVersion: table.onnxVersion)
        } catch {
            fatalError("KilnOpset: the generated schema table is invalid (\(error)); regenerate it with `make schemas`")
        }
    }()
}
