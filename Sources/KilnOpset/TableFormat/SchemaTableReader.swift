import KilnIR

/// Decodes the line-based schema table that Scripts/gen_schemas.py writes (the format is described
/// there and in Docs/Opset.md): one pass over the bytes, no Foundation, no intermediate tree.
enum SchemaTableReader {
    /// A malformed table: a bug in the generator or a hand edit. Names the 1-based line.
    struct FormatError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "schema table line \(line): \(message)" }
    }

    /// What a table holds.
    struct Table {
        /// The onnx version the table was generated from (`V` record).
        var onnxVersion: String?
        /// The opset versions onnx knows per canonical domain (`D` records).
        var domainVersions: [String: ClosedRange<Int>] = [:]
        /// In table order.
        var schemas: [OperatorSchema] = []
    }

    static func read(_ text: StaticString) throws -> Table {
        try text.withUTF8Buffer { bytes in Result { try read(bytes) } }.get()
    }

    static func read(_ text: String) throws -> Table {
        var text = text
        return try text.withUTF8 { try read($0) }
    }

    static func read(_ bytes: UnsafeBufferPointer<UInt8>) throws -> Table {
        var table = Table()
        var line = TableLine(bytes: bytes)
        var current: PendingSchema?
        var start = 0
        var number = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            number += 1
            if end > start {
                line.load(start..<end, number: number)
                if line.tag == UInt8(ascii: "S") {
                    if let done = current { table.schemas.append(try done.finish()) }
                    current = try PendingSchema(line)
                } else if line.tag == UInt8(ascii: "V") {
                    try line.requireCount(atLeast: 2)
                    table.onnxVersion = try line.text(1)
                } else if line.tag == UInt8(ascii: "D") {
                    try line.requireCount(atLeast: 4)
                    let low = try line.int(2), high = try line.int(3)
                    guard low <= high else { throw line.error("empty version range") }
                    table.domainVersions[OperatorDomain.canonical(try line.text(1))] = low...high
                } else {
                    guard current != nil else { throw line.error("record before the first schema") }
                    try current!.add(line)
                }
            }
            start = end + 1
        }
        if let done = current { table.schemas.append(try done.finish()) }
        return table
    }
}

/// A schema being read: its `S` record and the records that follow it.
private struct PendingSchema {
    var schema: OperatorSchema
    var flagsLine: Int
    var declaresFunction: Bool
    var declaresContextDependentFunction: Bool

    init(_ line: TableLine) throws {
        try line.requireCount(atLeast: 9)
        schema = OperatorSchema(domain: try line.text(1), name: try line.text(2), sinceVersion: try line.int(3))
        flagsLine = line.number
        declaresFunction = false
        declaresContextDependentFunction = false
        for flag in line.raw(4) {
            switch flag {
            case UInt8(ascii: "-"): break
            case UInt8(ascii: "d"): schema.isDeprecated = true
            case UInt8(ascii: "x"): schema.supportLevel = .experimental
            case UInt8(ascii: "n"): schema.determinism = .nonDeterministic
            case UInt8(ascii: "u"): schema.determinism = .unknown
            case UInt8(ascii: "f"): declaresFunction = true
            case UInt8(ascii: "c"): declaresContextDependentFunction = true
            default: throw line.error("unknown schema flag '\(Character(Unicode.Scalar(flag)))'")
            }
        }
        schema.minInputs = try line.int(5)
        schema.maxInputs = try line.int(6)
        schema.minOutputs = try line.int(7)
        schema.maxOutputs = try line.int(8)
    }

    mutating func add(_ line: TableLine) throws {
        switch line.tag {
        case UInt8(ascii: "A"): schema.attributes.append(try Self.attribute(line))
        case UInt8(ascii: "I"): schema.inputs.append(try Self.parameter(line))
        case UInt8(ascii: "O"): schema.outputs.append(try Self.parameter(line))
        case UInt8(ascii: "T"):
            try line.requireCount(atLeast: 2)
            var allowed: [String] = []
            allowed.reserveCapacity(line.count - 2)
            for i in 2..<line.count { allowed.append(try line.text(i)) }
            schema.typeConstraints.append(.init(typeParameter: try line.text(1), allowedTypes: allowed))
        case UInt8(ascii: "F"):
            try line.requireCount(atLeast: 3)
            schema.functionBodies.append(.init(opset: try line.int(1), serializedFunctionProto: try line.base64(2)))
        case UInt8(ascii: "C"):
            for i in 1..<line.count { schema.contextDependentFunctionOpsets.append(try line.int(i)) }
        default:
            throw line.error("unknown record tag")
        }
    }

    /// The schema, after checking that its function flags agree with its `F` and `C` records.
    func finish() throws -> OperatorSchema {
        guard declaresFunction == schema.hasFunction,
              declaresContextDependentFunction == schema.hasContextDependentFunction else {
            throw SchemaTableReader.FormatError(line: flagsLine, message: "function flags disagree with F/C records of \(schema)")
        }
        return schema
    }

    /// `A  name  TYPE  r|o  [=  value...]`
    private static func attribute(_ line: TableLine) throws -> OperatorSchema.Attribute {
        try line.requireCount(atLeast: 4)
        let typeName = try line.text(2)
        guard let type = OperatorSchema.AttributeType(name: typeName) else {
            throw line.error("unknown attribute type '\(typeName)'")
        }
        var attribute = OperatorSchema.Attribute(name: try line.text(1), type: type, isRequired: line.raw(3).first == UInt8(ascii: "r"))
        guard line.count > 4 else { return attribute }
        guard line.raw(4).elementsEqual("=".utf8) else { throw line.error("expected '=' before the default value") }
        let values = 5..<line.count
        func single() throws -> Int {
            guard values.count == 1 else { throw line.error("a \(type) default needs one field, found \(values.count)") }
            return values.lowerBound
        }
        switch type {
        case .int: attribute.defaultValue = .value(.int(Int64(try line.int(try single()))))
        case .float: attribute.defaultValue = .value(.float(try line.float(try single())))
        case .string: attribute.defaultValue = .value(.string(try line.textBytes(try single())))
        case .ints: attribute.defaultValue = .value(.ints(try values.map { Int64(try line.int($0)) }))
        case .floats: attribute.defaultValue = .value(.floats(try values.map { try line.float($0) }))
        case .strings: attribute.defaultValue = .value(.strings(try values.map { try line.textBytes($0) }))
        default: attribute.defaultValue = .serialized(type, try line.base64(try single()))
        }
        return attribute
    }

    /// `I|O  name  type-string  s|o|v  h|-  min-arity`
    private static func parameter(_ line: TableLine) throws -> OperatorSchema.FormalParameter {
        try line.requireCount(atLeast: 6)
        let option: OperatorSchema.FormalParameter.Option
        switch line.raw(3).first {
        case UInt8(ascii: "s"): option = .single
        case UInt8(ascii: "o"): option = .optional
        case UInt8(ascii: "v"): option = .variadic
        default: throw line.error("unknown parameter option")
        }
        return .init(name: try line.text(1), typeString: try line.text(2), option: option,
                     isHomogeneous: line.raw(4).first == UInt8(ascii: "h"), minArity: try line.int(5))
    }
}
