import Testing
import KilnIR
@testable import KilnOpset

/// Version resolution and queries over the standard registry (onnx 1.23.2).
@Suite struct SchemaRegistryTests {
    let registry = SchemaRegistry.standard

    @Test func holdsEverySchemaOfTheWheel() {
        #expect(registry.onnxVersion == "1.23.2")
        #expect(registry.allSchemas.count == 659)
        #expect(registry.operatorCount == 227)
        #expect(registry.domains == ["", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training"])
        let perDomain = registry.domains.map { registry.operators(in: $0).count }
        #expect(perDomain.reduce(0, +) == 227)
        #expect(perDomain[1] == 19)
        #expect(registry.operators(in: OperatorDomain.preview) == ["FlexAttention"])
        #expect(registry.operators(in: OperatorDomain.previewTraining) == ["Adagrad", "Adam", "Gradient", "Momentum"])
    }

    @Test func allSchemasAreSortedByDomainNameAndVersion() {
        let keys = registry.allSchemas.map { [$0.domain, $0.name, String(1000 + $0.sinceVersion)] }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test(arguments: [
        ("Softmax", 1, 1), ("Softmax", 10, 1), ("Softmax", 11, 11), ("Softmax", 12, 11), ("Softmax", 13, 13), ("Softmax", 28, 13),
        ("Reshape", 4, 1), ("Reshape", 5, 5), ("Reshape", 13, 13), ("Reshape", 18, 14), ("Reshape", 28, 25),
        ("Squeeze", 12, 11), ("Squeeze", 13, 13), ("Clip", 10, 6), ("Clip", 11, 11), ("Clip", 12, 12),
        ("Add", 13, 13), ("Add", 14, 14), ("Conv", 21, 11), ("Conv", 22, 22),
    ])
    func resolvesTheLargestSinceVersionNotAboveTheOpset(op: String, opset: Int, since: Int) throws {
        let schema = try #require(registry.schema(domain: "", op: op, opset: opset))
        #expect(schema.name == op)
        #expect(schema.sinceVersion == since)
    }

    @Test func listsVersions() {
        #expect(registry.versions(domain: "", op: "Softmax") == [1, 11, 13])
        #expect(registry.versions(domain: "", op: "Reshape") == [1, 5, 13, 14, 19, 21, 23, 24, 25])
        #expect(registry.versions(domain: "ai.onnx.ml", op: "LabelEncoder") == [1, 2, 4])
        #expect(registry.versions(domain: "", op: "NoSuchOp").isEmpty)
        #expect(registry.schema(domain: "", op: "Clip", sinceVersion: 11)?.sinceVersion == 11)
        #expect(registry.schema(domain: "", op: "Clip", sinceVersion: 10) == nil)
    }

    @Test func treatsAiOnnxAsTheDefaultDomain() {
        #expect(registry.schema(domain: "ai.onnx", op: "Relu", opset: 14) == registry.schema(domain: "", op: "Relu", opset: 14))
        #expect(registry.versions(domain: "ai.onnx", op: "Relu") == registry.versions(domain: "", op: "Relu"))
        #expect(registry.operators(in: "ai.onnx") == registry.operators(in: ""))
        #expect(registry.opsetRange(domain: "ai.onnx") == 1...28)
    }

    @Test func knowsEachDomainsOpsetRange() {
        #expect(registry.opsetRange(domain: "") == 1...28)
        #expect(registry.opsetRange(domain: OperatorDomain.ml) == 1...5)
        #expect(registry.opsetRange(domain: OperatorDomain.training) == 1...1)
        #expect(registry.opsetRange(domain: "com.microsoft") == nil)
    }

    @Test func aDeprecatedSchemaInForceMeansTheOperatorIsGone() throws {
        #expect(registry.resolve(domain: "", op: "Upsample", opset: 9).schema?.sinceVersion == 9)
        guard case .deprecated(let upsample) = registry.resolve(domain: "", op: "Upsample", opset: 10) else {
            Issue.record("Upsample at opset 10 should be deprecated")
            return
        }
        #expect(upsample.sinceVersion == 10 && upsample.isDeprecated)
        #expect(registry.schema(domain: "", op: "Upsample", opset: 20) == nil)
        #expect(registry.isDeprecated(domain: "", op: "Scatter", opset: 11))
        #expect(!registry.isDeprecated(domain: "", op: "Scatter", opset: 10))
        // GroupNormalization-18 was deprecated and the operator came back at 21.
        #expect(registry.isDeprecated(domain: "", op: "GroupNormalization", opset: 20))
        #expect(registry.schema(domain: "", op: "GroupNormalization", opset: 21)?.sinceVersion == 21)
        let deprecated = registry.allSchemas.filter(\.isDeprecated).map(\.description).sorted()
        #expect(deprecated == ["GroupNormalization-18", "Scatter-11", "Upsample-10",
                               "ai.onnx.ml::TreeEnsembleClassifier-5", "ai.onnx.ml::TreeEnsembleRegressor-5"])
    }

    @Test func saysWhyThereIsNoSchema() {
        #expect(registry.resolve(domain: "", op: "Gelu", opset: 19) == .notYetIntroduced(firstVersion: 20))
        #expect(registry.resolve(domain: "", op: "NoSuchOp", opset: 19) == .unknownOperator)
        #expect(registry.resolve(domain: "ai.onnx.ml", op: "Relu", opset: 5) == .unknownOperator)
    }

    @Test func givesTheOpsetsASchemaIsInForceFor() throws {
        let softmax11 = try #require(registry.schema(domain: "", op: "Softmax", sinceVersion: 11))
        #expect(registry.opsets(inForceFor: softmax11) == 11..<13)
        let softmax13 = try #require(registry.schema(domain: "", op: "Softmax", sinceVersion: 13))
        #expect(registry.opsets(inForceFor: softmax13) == 13..<Int.max)
    }

    @Test func buildsACustomRegistryInAnyOrder() throws {
        let custom = try SchemaRegistry(schemas: [
            OperatorSchema(domain: "com.example", name: "Fused", sinceVersion: 3),
            OperatorSchema(domain: "com.example", name: "Fused", sinceVersion: 1),
            OperatorSchema(domain: "ai.onnx", name: "Relu", sinceVersion: 14),
        ])
        #expect(custom.versions(domain: "com.example", op: "Fused") == [1, 3])
        #expect(custom.schema(domain: "com.example", op: "Fused", opset: 2)?.sinceVersion == 1)
        #expect(custom.schema(domain: "", op: "Relu", opset: 14) != nil)
        #expect(custom.opsetRange(domain: "com.example") == 1...3)
        #expect(custom.domains == ["", "com.example"])
        #expect(throws: KilnError.self) {
            try SchemaRegistry(schemas: [OperatorSchema(domain: "", name: "A", sinceVersion: 1),
                                         OperatorSchema(domain: "ai.onnx", name: "A", sinceVersion: 1)])
        }
    }
}
