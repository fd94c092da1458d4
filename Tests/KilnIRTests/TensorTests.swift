import Testing
@testable import KilnIR

@Suite struct TensorTests {
    @Test(arguments: DataType.allCases)
    func byteCountsFollowBitWidths(_ type: DataType) {
        switch type {
        case .uint4, .int4, .float4e2m1:
            #expect(type.byteCount(elements: 3) == 2)
        case .uint2, .int2:
            #expect(type.byteCount(elements: 5) == 2)
        case .float6e2m3, .float6e3m2:
            #expect(type.byteCount(elements: 4) == 3)
        case .string, .undefined:
            #expect(type.byteCount(elements: 10) == 0)
        default:
            #expect(type.byteCount(elements: 3) == 3 * type.bitWidth / 8)
        }
    }

    @Test func slicesShareStorage() {
        let t = TensorBytes([1, 2, 3, 4, 5] as [UInt8])
        let s = t.slice(1..<4)
        #expect(s.storage === t.storage)
        #expect(s.array == [2, 3, 4])
        #expect(s == TensorBytes([2, 3, 4] as [UInt8]))
    }

    @Test func float32BuilderStoresLittleEndianRawData() {
        let t = Tensor.float32([1, -2], dims: [2])
        guard case .raw(let b) = t.storage else { Issue.record("expected raw storage"); return }
        #expect(b.array == [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
        #expect(t.elementCount == 2)
        #expect(t.payloadByteCount == 8)
        #expect(t.dataByteCount == 8)
    }

    @Test func hostileDimensionsDoNotTrap() {
        let t = Tensor(dataType: .float, dims: [1 << 62, 8], storage: .none)
        #expect(t.elementCount == nil)
        #expect(t.dataByteCount == nil)
        #expect(Tensor(dataType: .float, dims: [-1, 2], storage: .none).elementCount == nil)
        #expect(Tensor(dataType: .int4, dims: [3], storage: .none).dataByteCount == 2)
    }
}
