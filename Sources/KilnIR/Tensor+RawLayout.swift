extension Tensor {
    /// Byte width of one stored typed-field entry in `raw_data` layout, when the tensor is stored in
    /// a typed field and its type has a byte-aligned layout; nil otherwise (raw already, strings,
    /// sub-byte types, no data).
    ///
    /// Typed fields per ONNX: `float_data` holds float and complex64 parts; `double_data` double and
    /// complex128 parts; `int64_data` int64; `uint64_data` uint64 and uint32; `int32_data` int32 and
    /// the bit patterns of 8- and 16-bit types (int8, uint8, bool, int16, uint16, float16, bfloat16,
    /// the float8 variants) and packed bytes of 4- and 2-bit types. float6 types keep one element per
    /// entry while their raw layout packs four into three bytes: not converted.
    public var typedEntryRawWidth: Int? {
        switch (storage, dataType) {
        case (.floatData, .float), (.floatData, .complex64): return 4
        case (.doubleData, .double), (.doubleData, .complex128): return 8
        case (.int64Data, .int64), (.uint64Data, .uint64): return 8
        case (.uint64Data, .uint32), (.int32Data, .int32): return 4
        case (.int32Data, .int16), (.int32Data, .uint16), (.int32Data, .float16), (.int32Data, .bfloat16): return 2
        case (.int32Data, .int8), (.int32Data, .uint8), (.int32Data, .bool), (.int32Data, .float8e4m3fn),
             (.int32Data, .float8e4m3fnuz), (.int32Data, .float8e5m2), (.int32Data, .float8e5m2fnuz),
             (.int32Data, .float8e8m0):
            return 1
        // 4-bit types: each entry holds one packed byte of two elements; 2-bit types: four.
        case (.int32Data, .int4), (.int32Data, .uint4), (.int32Data, .float4e2m1), (.int32Data, .int2),
             (.int32Data, .uint2):
            return 1
        default: return nil
        }
    }

    /// The typed-field payload converted to `raw_data` layout (little-endian, packed by entry), when
    /// `typedEntryRawWidth` is known. Writers use it to move typed tensors to external data.
    public var rawLayoutBytes: TensorBytes? {
        guard let width = typedEntryRawWidth else { return nil }
        func pack<T: FixedWidthInteger>(_ values: ContiguousArray<T>) -> TensorBytes {
            var out = [UInt8]()
            out.reserveCapacity(values.count * width)
            for v in values {
                let u = UInt64(truncatingIfNeeded: v)
                for k in 0..<width { out.append(UInt8(truncatingIfNeeded: u >> (8 * UInt64(k)))) }
            }
            return TensorBytes(out)
        }
        switch storage {
        case .floatData(let a): return a.withUnsafeBytes { TensorBytes(copying: $0) }
        case .doubleData(let a): return a.withUnsafeBytes { TensorBytes(copying: $0) }
        case .int64Data(let a): return pack(a)
        case .uint64Data(let a): return pack(a)
        case .int32Data(let a): return pack(a)
        default: return nil
        }
    }
}
