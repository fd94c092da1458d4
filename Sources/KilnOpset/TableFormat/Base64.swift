/// Standard base64 (RFC 4648, with `=` padding) decoding, for the function bodies and serialized
/// defaults of the schema table. KilnOpset does not link Foundation.
enum Base64 {
    /// The decoded bytes, or `nil` when `text` is not padded base64.
    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = 0
        while i < text.count {
            var quad: UInt32 = 0
            var padding = 0
            for j in 0..<4 {
                let c = text[i + j]
                let v: UInt32
                if c == UInt8(ascii: "=") {
                    // Padding only at the end of the last quad, after at least two symbols.
                    guard i + 4 == text.count, j >= 2 else { return nil }
                    padding += 1
                    v = 0
                } else {
                    guard padding == 0, let d = value(c) else { return nil }
                    v = d
                }
                quad = quad << 6 | v
            }
            out.append(UInt8(truncatingIfNeeded: quad >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: quad >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: quad)) }
            i += 4
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
