import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceElementwiseTests {
    @Test func unaryKeepsTypeAndSymbolicShape() {
        var t = ShapeTestGraph()
        t.input("x", .float16, "batch, seq, 768")
        t.node("Relu", ["x"], ["r"])
        t.node("IsNaN", ["r"], ["n"])
        #expect(t.type("r") == "tensor(float16)[batch, seq, 768]")
        #expect(t.type("n") == "tensor(bool)[batch, seq, 768]")
    }

    @Test(arguments: [
        ("batch, 1, 4", "3, 1", "batch, 3, 4"),
        ("batch, seq", "batch, seq", "batch, seq"),
        ("batch, seq", "1", "batch, seq"),
        ("batch", "5", "5"),
        ("a", "b", "?"),
        ("?, 3", "4, 1", "4, 3"),
        ("", "2, 3", "2, 3"),
    ])
    func broadcasting(a: String, b: String, out: String) {
        var t = ShapeTestGraph()
        t.input("a", .float, a)
        t.input("b", .float, b)
        t.node("Add", ["a", "b"], ["y"])
        #expect(t.type("y") == "tensor(float)[\(out)]")
    }

    @Test func incompatibleBroadcastIsAnErrorNamingTheNode() {
        var t = ShapeTestGraph()
        t.input("a", .float, "2, 3")
        t.input("b", .float, "4")
        t.node("Mul", ["a", "b"], ["y"], name: "mul1")
        let (_, report) = t.infer()
        #expect(report.issues.count == 1)
        #expect(report.issues.first?.nodeName == "mul1")
        #expect(report.issues.first?.rule == "shape.error")
    }

    @Test func comparisonWhereAndVariadic() {
        var t = ShapeTestGraph()
        t.input("a", .int32, "batch, 1")
        t.input("b", .int32, "4")
        t.input("c", .int32, "1, 4")
        t.node("Less", ["a", "b"], ["lt"])
        t.node("Where", ["lt", "a", "b"], ["w"])
        t.node("Max", ["a", "b", "c"], ["m"])
        #expect(t.type("lt") == "tensor(bool)[batch, 4]")
        #expect(t.type("w") == "tensor(int32)[batch, 4]")
        #expect(t.type("m") == "tensor(int32)[batch, 4]")
    }

    @Test func castAndCastLike() {
        var t = ShapeTestGraph()
        t.input("x", .float, "batch, 2")
        t.input("like", .float16, "")
        t.node("Cast", ["x"], ["c"], [shapeAttr("to", Int64(DataType.int64.rawValue))])
        t.node("CastLike", ["x", "like"], ["cl"])
        #expect(t.type("c") == "tensor(int64)[batch, 2]")
        #expect(t.type("cl") == "tensor(float16)[batch, 2]")
    }

    @Test func matmulAndGemm() {
        var t = ShapeTestGraph()
        t.input("a", .float, "batch, seq, 64")
        t.input("b", .float, "64, 128")
        t.input("v", .float, "64")
        t.input("g", .float, "32, 16")
        t.input("h", .float, "8, 16")
        t.node("MatMul", ["a", "b"], ["ab"])
        t.node("MatMul", ["a", "v"], ["av"])
        t.node("Gemm", ["g", "h"], ["gh"], [shapeAttr("transB", 1)])
        #expect(t.type("ab") == "tensor(float)[batch, seq, 128]")
        #expect(t.type("av") == "tensor(float)[batch, seq]")
        #expect(t.type("gh") == "tensor(float)[32, 8]")
    }

    @Test func matmulInnerMismatchIsAnError() {
        var t = ShapeTestGraph()
        t.input("a", .float, "2, 3")
        t.input("b", .float, "4, 5")
        t.node("MatMul", ["a", "b"], ["y"])
        #expect(t.infer().1.issues.map(\.rule) == ["shape.error"])
    }
}
