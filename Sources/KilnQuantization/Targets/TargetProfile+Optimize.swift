import KilnIR
import KilnOpset

extension TargetProfile {
    /// The standard fused operators `kiln optimize` can create, by the fusion pass that creates them.
    static let fusedOperators: [(pass: String, op: String)] = [
        ("fuse-gelu", "Gelu"), ("fuse-layernorm", "LayerNormalization"),
        ("fuse-rmsnorm", "RMSNormalization"), ("fuse-attention", "Attention"),
    ]

    /// Fusion passes `kiln optimize --target` leaves out because they would create an operator this
    /// consumer rejects (`unsupportedOps`) or one first defined above the consumer's opset range
    /// (its first since-version in the schema table). The decomposed form the exporter wrote is kept.
    public func fusionPassesToSkip(schemas: SchemaRegistry = .standard) -> [String] {
        Self.fusedOperators.filter { entry in
            let first = schemas.versions(domain: "", op: entry.op).min().map(Int64.init)
            return unsupportedOps[entry.op] != nil || (first.map { $0 > opsets.upperBound } ?? false)
        }.map(\.pass)
    }
}
