import KilnIR
import Testing
@testable import KilnEvaluator

@Suite struct ValueFileTests {
    @Test func tensorProtoRoundTrip() throws {
        let t = TensorValue(shape: [2, 2], [Int32(1), -2, 3, 4])
        let bytes = ValueFile.encode(.tensor(t), name: "x")
        let (name, back) = try ValueFile.decode(bytes[...], type: nil)
        #expect(name == "x")
        #expect(back.tensor?.shape == [2, 2])
        #expect(back.tensor?.elements(as: Int32.self)! == [1, -2, 3, 4])
    }

    @Test func stringsAndSequencesRoundTrip() throws {
        let s = TensorValue(shape: [2], ["a", "bc"])
        let back = try ValueFile.decode(ValueFile.encode(.tensor(s), name: "s")[...], type: nil).value
        #expect(back.tensor?.elements(as: String.self)! == ["a", "bc"])
        let seq = RuntimeValue.sequence([floats([1], [1]), floats([2], [2, 3])], elementType: .float)
        let type = ValueType(.sequence(.tensor(.float, nil)))
        guard case .sequence(let ts, _) = try ValueFile.decode(ValueFile.encode(seq, name: "q")[...], type: type).value else {
            Issue.record("expected a sequence"); return
        }
        #expect(ts.map(\.floatValues) == [[1], [2, 3]])
    }

    @Test func typedFieldTensorsDecode() throws {
        // TensorProto{dims: [2], data_type: INT64 (7), int64_data: [5, -1] (packed)}
        var bytes: [UInt8] = [0x08, 0x02, 0x10, 0x07]
        var packed: [UInt8] = []
        ProtoWire.appendVarint(5, to: &packed)
        ProtoWire.appendVarint(UInt64(bitPattern: -1), to: &packed)
        ProtoWire.appendBytes(7, packed, to: &bytes)
        let t = try ValueFile.decode(bytes[...], type: nil).value.tensor!
        #expect(t.int64Values == [5, -1])
    }

    @Test func npyRoundTrip() throws {
        let t = floats([2, 3], [1, 2, 3, 4, 5, 6])
        let back = try NumpyFile.decode(NumpyFile.encode(t))
        #expect(back.shape == [2, 3])
        #expect(back.floatValues == t.floatValues)
        // numpy pads the header so the data starts on a 64-byte boundary.
        let bytes = try NumpyFile.encode(t)
        #expect((bytes.count - 24) % 64 == 0)
    }

    @Test func comparisonFollowsOnnxTolerances() {
        let e = RuntimeValue.tensor(floats([3], [1, .nan, 1000]))
        #expect(ValueComparison.mismatch(expected: e, actual: .tensor(floats([3], [1.0005, .nan, 1000.9]))) == nil)
        #expect(ValueComparison.mismatch(expected: e, actual: .tensor(floats([3], [1.002, .nan, 1000]))) != nil)
        #expect(ValueComparison.mismatch(expected: .tensor(int64s([1], [1])), actual: .tensor(int64s([1], [2]))) != nil)
        #expect(ValueComparison.mismatch(expected: .tensor(int64s([1], [1])), actual: .tensor(floats([1], [1]))) != nil)
    }
}
