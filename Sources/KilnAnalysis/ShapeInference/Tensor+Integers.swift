import KilnIR

extension Tensor {
    /// The elements as integers, for integer and bool tensors in raw or typed storage; nil for
    /// other types, external data that is not mapped, or more than `limit` elements.
    func integerValues(limit: Int = 1 << 16) -> [Int64]? {
        // Float tensors (most initializers) leave before their storage is read (and retained).
        switch dataType {
        case .int64, .int32, .int16, .int8, .uint64, .uint32, .uint16, .uint8, .bool: break
        default: return nil
        }
        guard let n = elementCount, n <= limit else { return nil }
        let count = Int(n)
        switch storage {
        case .int64Data(let a): return a.count == count ? Array(a) : nil
        case .int32Data(let a):
            guard a.count == count else { return nil }
            switch dataType {
            case .int32, .int16, .int8, .uint8, .uint16, .bool: return a.map(Int64.init)
            default: return nil
            }
        case .uint64Data(let a):
            guard a.count == count, dataType == .uint32 || dataType == .uint64 else { return nil }
            return a.map { Int64(truncatingIfNeeded: $0) }
        case .raw(let bytes):
            let width: Int
            switch dataType {
            case .int64, .uint64: width = 8
            case .int32, .uint32: width = 4
            case .int16, .uint16: width = 2
            case .int8, .uint8, .bool: width = 1
            default: return nil
            }
            guard bytes.count == count * width else { return nil }
            var out = [Int64](); out.reserveCapacity(count)
            bytes.withUnsafeBytes { buf in
                for i in 0..<count {
                    var u: UInt64 = 0
                    for k in 0..<width { u |= UInt64(buf[i * width + k]) << (8 * UInt64(k)) }
                    let signed = dataType == .int8 || dataType == .int16 || dataType == .int32 || dataType == .int64
                    if signed && width < 8 {
                        let shift = UInt64(64 - 8 * width)
                        out.append(Int64(bitPattern: u << shift) >> Int64(shift))
                    } else {
                        out.append(Int64(bitPattern: u))
                    }
                }
            }
            return out
        case .none: return count == 0 ? [] : nil
        default: return nil
        }
    }

    /// The elements as doubles, for float, double and integer tensors (float16 not decoded).
    func doubleValues(limit: Int = 1 << 16) -> [Double]? {
        guard let n = elementCount, n <= limit else { return nil }
        let count = Int(n)
        switch (storage, dataType) {
        case (.floatData(let a), .float): return a.count == count ? a.map(Double.init) : nil
        case (.doubleData(let a), .double): return a.count == count ? Array(a) : nil
        case (.raw(let bytes), .float):
            guard bytes.count == count * 4 else { return nil }
            return bytes.withUnsafeBytes { buf in
                (0..<count).map { i in
                    var u: UInt32 = 0
                    for k in 0..<4 { u |= UInt32(buf[i * 4 + k]) << (8 * UInt32(k)) }
                    return Double(Float(bitPattern: u))
                }
            }
        case (.raw(let bytes), .double):
            guard bytes.count == count * 8 else { return nil }
            return bytes.withUnsafeBytes { buf in
                (0..<count).map { i in
                    var u: UInt64 = 0
                    for k in 0..<8 { u |= UInt64(buf[i * 8 + k]) << (8 * UInt64(k)) }
                    return Double(bitPattern: u)
                }
            }
        default:
            return integerValues(limit: limit).map { $0.map(Double.init) }
        }
    }
}
