import Testing
import KilnIR
@testable import KilnOpset

/// The table format on small hand-written tables: escapes, default encodings, malformed input.
@Suite struct SchemaTableReaderTests {
    func read(_ lines: [String]) throws -> SchemaTableReader.Table {
        try SchemaTableReader.read(lines.joined(separator: "\n"))
    }

    func line(_ fields: String...) -> String { fields.joined(separator: "\t") }

    @Test func readsHeaderAndSchemaRecords() throws {
        let table = try read([
            line("V", "9.9.9"),
            line("D", "", "1", "30"),
            line("D", "ai.onnx", "1", "31"),
            line("S", "", "Op", "3", "dnf", "1", "2147483647", "1", "1"),
            line("A", "mode", "STRING", "r"),
            line("I", "X", "T", "s", "h", "1"),
            line("I", "rest", "T", "v", "-", "0"),
            line("O", "Y", "tensor(int64)", "o", "h", "1"),
            line("T", "T", "tensor(float)", "seq(tensor(int64))"),
            line("F", "18", "CgJPcA=="),
            "",
            line("S", "com.x", "Other", "1", "c", "0", "0", "0", "0"),
            line("C", "1", "2"),
        ])
        #expect(table.onnxVersion == "9.9.9")
        #expect(table.domainVersions == ["": 1...31])
        #expect(table.schemas.count == 2)
        let op = table.schemas[0]
        #expect(op.domain == "" && op.name == "Op" && op.sinceVersion == 3)
        #expect(op.isDeprecated && op.determinism == .nonDeterministic && op.supportLevel == .common)
        #expect(op.attributes == [.init(name: "mode", type: .string, isRequired: true)])
        #expect(op.inputs == [.init(name: "X", typeString: "T"),
                              .init(name: "rest", typeString: "T", option: .variadic, isHomogeneous: false, minArity: 0)])
        #expect(op.outputs == [.init(name: "Y", typeString: "tensor(int64)", option: .optional)])
        #expect(op.typeConstraints == [.init(typeParameter: "T", allowedTypes: ["tensor(float)", "seq(tensor(int64))"])])
        #expect(op.minInputs == 1 && op.maxInputs == OperatorSchema.unbounded)
        #expect(op.functionBodies == [.init(opset: 18, serializedFunctionProto: [0x0A, 2, 0x4F, 0x70])])
        #expect(table.schemas[1].contextDependentFunctionOpsets == [1, 2])
    }

    @Test func readsEveryDefaultEncoding() throws {
        let table = try read([
            line("S", "", "Op", "1", "-", "0", "0", "0", "0"),
            line("A", "empty", "STRING", "o", "=", ""),
            line("A", "f", "FLOAT", "o", "=", "-inf"),
            line("A", "fs", "FLOATS", "o", "=", "0.5", "1e-05"),
            line("A", "i", "INT", "o", "=", "-9223372036854775807"),
            line("A", "none", "INTS", "o", "="),
            line("A", "s", "STRING", "o", "=", "a%09b%25c%E2%82%AC"),
            line("A", "ss", "STRINGS", "o", "=", "", "x"),
            line("A", "t", "TENSOR", "o", "=", "AQID"),
        ])
        let byName = Dictionary(uniqueKeysWithValues: table.schemas[0].attributes.map { ($0.name, $0.defaultValue) })
        // A present empty string is not an absent default.
        #expect(byName["empty"] == .value(.string([])))
        #expect(byName["f"] == .value(.float(-.infinity)))
        #expect(byName["fs"] == .value(.floats([0.5, 1e-05])))
        #expect(byName["i"] == .value(.int(-9_223_372_036_854_775_807)))
        #expect(byName["none"] == .value(.ints([])))
        #expect(byName["s"] == .value(.string(Array("a\tb%c€".utf8))))
        #expect(byName["ss"] == .value(.strings([[], Array("x".utf8)])))
        #expect(byName["t"] == .serialized(.tensor, [1, 2, 3]))
    }

    @Test(arguments: [
        ["A\tx\tINT\to"],                                                // before any schema
        ["S\t\tOp\t1\t-\t0\t0\t0"],                                      // too few fields
        ["S\t\tOp\t1\tz\t0\t0\t0\t0"],                                   // unknown flag
        ["S\t\tOp\t1\tf\t0\t0\t0\t0"],                                   // flag without a body
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "A\tx\tINT\to\t=\t1\t2"],          // two values for an INT
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "A\tx\tINT\to\t=\t1x"],            // not an integer
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "A\tx\tNUMBER\to"],                // unknown type
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "A\tx\tSTRING\to\t=\t%4"],         // cut escape
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "F\t1\tAQI"],                      // unpadded base64
        ["S\t\tOp\t1\t-\t0\t0\t0\t0", "Q\t1"],                           // unknown record
    ])
    func rejectsMalformedLines(lines: [String]) {
        #expect(throws: SchemaTableReader.FormatError.self) { try read(lines) }
    }

    @Test func errorsNameTheLine() {
        do {
            _ = try read(["V\t1", "S\t\tOp\t1\t-\t0\t0\t0\t0", "I\tX\tT\tq\th\t1"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "schema table line 3: unknown parameter option")
        }
    }

    @Test(arguments: [("", []), ("AA==", [0]), ("AAE=", [0, 1]), ("/+8A", [255, 239, 0]), ("TWFu", Array("Man".utf8))])
    func decodesBase64(text: String, bytes: [UInt8]) {
        var text = text
        #expect(text.withUTF8 { Base64.decode($0) } == bytes)
    }

    @Test(arguments: ["A", "A===", "AA=A", "AA A", "=AAA"])
    func rejectsBadBase64(text: String) {
        var text = text
        #expect(text.withUTF8 { Base64.decode($0) } == nil)
    }
}
