import KilnIR
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import KilnEvaluator

@Suite struct SequenceTests {
    @Test func constructInsertAtEraseLength() throws {
        let a = floats([1], [1]), b = floats([1], [2]), c = floats([1], [3])
        let seq = try runKernel("SequenceConstruct", [.tensor(a), .tensor(b)])[0]
        let inserted = try runKernel("SequenceInsert", [seq, .tensor(c), .tensor(.scalar(Int64(0)))])[0]
        guard case .sequence(let items, .float)? = inserted else { Issue.record("expected a float sequence"); return }
        #expect(items.map(\.floatValues) == [[3], [1], [2]])
        #expect(try runKernel("SequenceAt", [inserted, .tensor(.scalar(Int64(-1)))])[0]?.tensor?.floatValues == [2])
        let erased = try runKernel("SequenceErase", [inserted])[0]
        #expect(try runKernel("SequenceLength", [erased])[0]?.tensor?.int64Values == [2])
        #expect(throws: KilnError.self) { try runKernel("SequenceAt", [erased, .tensor(.scalar(Int64(2)))]) }
    }

    @Test func splitToSequenceAndConcatFromSequence() throws {
        let x = floats([4], [1, 2, 3, 4])
        let parts = try runKernel("SplitToSequence", [.tensor(x), .tensor(.scalar(Int64(3)))])[0]
        guard case .sequence(let items, _)? = parts else { Issue.record("expected a sequence"); return }
        #expect(items.map(\.shape) == [[3], [1]])
        let singles = try runKernel("SplitToSequence", [.tensor(x)], attributes: [Attribute("keepdims", .int(0))])[0]
        guard case .sequence(let scalars, _)? = singles else { Issue.record("expected a sequence"); return }
        #expect(scalars.map(\.shape) == [[], [], [], []])
        let pair = RuntimeValue.sequence([floats([2], [1, 2]), floats([2], [3, 4])], elementType: .float)
        let stacked = try runKernel("ConcatFromSequence", [pair], attributes: [Attribute("axis", .int(1)), Attribute("new_axis", .int(1))])[0]?.tensor
        #expect(stacked?.shape == [2, 2])
        #expect(stacked?.floatValues == [1, 3, 2, 4])
    }

    @Test func optionals() throws {
        #expect(try runKernel("OptionalHasElement", [nil])[0]?.tensor?.elements(as: Bool.self)?.first == false)
        let empty = RuntimeValue.optional(nil, elementType: .tensor(.float, nil))
        #expect(try runKernel("OptionalHasElement", [empty])[0]?.tensor?.elements(as: Bool.self)?.first == false)
        let full = RuntimeValue.optional(.tensor(floats([1], [5])), elementType: nil)
        #expect(try runKernel("OptionalGetElement", [full])[0]?.tensor?.floatValues == [5])
        #expect(throws: KilnError.self) { try runKernel("OptionalGetElement", [empty]) }
    }
}
