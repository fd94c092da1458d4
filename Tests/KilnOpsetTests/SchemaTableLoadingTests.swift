import Testing
@testable import KilnOpset

/// A guard against a slow decoder: reading the whole table must stay far below a second even in a
/// debug build (measured numbers are in Docs/Opset.md).
@Suite struct SchemaTableLoadingTests {
    @Test func decodesTheWholeTableQuickly() throws {
        let clock = ContinuousClock()
        var table: SchemaTableReader.Table?
        let elapsed = try clock.measure {
            table = try SchemaTableReader.read(SchemaTable.text)
            _ = try SchemaRegistry(schemas: table!.schemas, domainVersions: table!.domainVersions)
        }
        #expect(table?.schemas.count == 659)
        #expect(elapsed < .seconds(1), "decoding the schema table took \(elapsed)")
    }
}
