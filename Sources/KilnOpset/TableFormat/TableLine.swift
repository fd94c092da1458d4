/// One line of the schema table split into TAB-separated fields, as byte ranges into the table.
/// Fields are converted on request; text fields are percent-decoded (see Scripts/gen_schemas.py).
struct TableLine {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Field ranges; reused from line to line to avoid an allocation per line.
    var fields: [Range<Int>] = []
    /// 1-based line number, for errors.
    var number = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        fields.reserveCapacity(64)
    }

    /// Splits `range` (one line, without its newline) into fields.
    mutating func load(_ range: Range<Int>, number: Int) {
        self.number = number
        fields.removeAll(keepingCapacity: true)
        var start = range.lowerBound
        var i = start
        while i < range.upperBound {
            if bytes[i] == UInt8(ascii: "\t") {
                fields.append(start..<i)
                start = i + 1
            }
            i += 1
        }
        fields.append(start..<range.upperBound)
    }

    var count: Int { fields.count }

    /// The record tag (first byte of the first field).
    var tag: UInt8 {
        let f = fields[0]
        return f.isEmpty ? 0 : bytes[f.lowerBound]
    }

    func error(_ message: String) -> SchemaTableReader.FormatError {
        SchemaTableReader.FormatError(line: number, message: message)
    }

    func requireCount(atLeast n: Int) throws {
        if fields.count < n { throw error("expected at least \(n) fields, found \(fields.count)") }
    }

    func raw(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[fields[index]])
    }

    /// The field as text, percent-decoded.
    func text(_ index: Int) throws -> String {
        let field = raw(index)
        guard field.contains(UInt8(ascii: "%")) else { return String(decoding: field, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(field.count)
        var i = 0
        while i < field.count {
            if field[i] == UInt8(ascii: "%") {
                guard i + 2 < field.count, let hi = Self.hexValue(field[i + 1]), let lo = Self.hexValue(field[i + 2])
                else { throw error("bad percent escape in field \(index)") }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(field[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The field as the UTF-8 bytes of its percent-decoded text.
    func textBytes(_ index: Int) throws -> [UInt8] {
        Array(try text(index).utf8)
    }

    /// The field as a decimal integer (optional leading `-`).
    func int(_ index: Int) throws -> Int {
        let field = raw(index)
        var i = 0
        var negative = false
        if field.first == UInt8(ascii: "-") { negative = true; i = 1 }
        guard i < field.count else { throw error("expected an integer in field \(index)") }
        var value = 0
        while i < field.count {
            let digit = Int(field[i]) &- 48
            guard digit >= 0, digit <= 9 else { throw error("expected an integer in field \(index)") }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw error("integer out of range in field \(index)") }
            value = sum
            i += 1
        }
        return negative ? -value : value
    }

    /// The field as a float32 (`inf`, `-inf` and `nan` included).
    func float(_ index: Int) throws -> Float {
        let text = String(decoding: raw(index), as: UTF8.self)
        guard let value = Float(text) else { throw error("expected a float in field \(index), found '\(text)'") }
        return value
    }

    /// The field as the bytes its base64 text encodes.
    func base64(_ index: Int) throws -> [UInt8] {
        guard let bytes = Base64.decode(raw(index)) else { throw error("bad base64 in field \(index)") }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
