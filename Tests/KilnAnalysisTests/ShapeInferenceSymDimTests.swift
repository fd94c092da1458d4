import Testing
import KilnIR
@testable import KilnAnalysis

@Suite struct ShapeInferenceSymDimTests {
    let seq = SymDim.symbol("seq"), batch = SymDim.symbol("batch")

    @Test func constantsFoldAndPrintAsValues() {
        #expect((SymDim.constant(3) + 4).dim == .value(7))
        #expect((SymDim.constant(3) * 4 - 2).constantValue == 10)
        #expect(SymDim(.value(5)) == .constant(5))
        #expect(SymDim(.unknown).isUnknown)
    }

    @Test func symbolsPropagateUnchanged() {
        #expect(SymDim(.symbol("batch")).dim == .symbol("batch"))
        #expect((batch + 0).dim == .symbol("batch"))
        #expect((batch * 1).dim == .symbol("batch"))
    }

    @Test func expressionsAreCanonical() {
        #expect((seq + seq).description == "2*seq")
        #expect((seq + 1).description == "seq+1")
        #expect((1 + seq) == (seq + 1))
        #expect((batch * seq) == (seq * batch))
        #expect((batch * seq).description == "batch*seq")
        #expect((seq - 1).description == "seq-1")
        #expect((2 * seq + batch * seq + 3).description == "batch*seq+2*seq+3")
        #expect((seq - seq).dim == .value(0))
        #expect((-seq).description == "-seq")
    }

    @Test func divisionIsExactOrUnknown() {
        #expect(((seq * 4) / 2).description == "2*seq")
        #expect(((seq * 3) / 2).isUnknown)
        #expect(((batch * seq) / seq) == batch)
        #expect(((batch * seq * 6) / (seq * 3)).description == "2*batch")
        #expect((batch / seq).isUnknown)
        #expect((SymDim.constant(7) / 0).isUnknown)
        #expect(SymDim.constant(7).floorDiv(2).constantValue == 3)
        #expect(SymDim.constant(7).ceilDiv(2).constantValue == 4)
        #expect(SymDim.constant(-7).floorDiv(2).constantValue == -4)
    }

    @Test func aPolynomialThatCancelsToAConstantEqualsAndHashesAsTheConstant() {
        // Rule 1: one canonical form, whether a constant is built directly or by arithmetic.
        let folded = seq * 2 + 5 - seq - seq
        #expect(folded == .constant(5))
        #expect(folded.hashValue == SymDim.constant(5).hashValue)
        #expect(Set([folded, .constant(5)]).count == 1)
        #expect((seq - seq) == .constant(0) && (seq - seq).terms == [:])
        #expect(SymDim.constant(4).terms == [[]: 4])
        #expect(seq.terms == [["seq"]: 1] && SymDim.unknown.terms == nil)
    }

    @Test func unknownAbsorbsArithmetic() {
        #expect((SymDim.unknown + 1).isUnknown)
        #expect((seq * .unknown).isUnknown)
        #expect(SymDim.unknown.dim == .unknown)
    }

    @Test func overflowGivesUnknown() {
        #expect((SymDim.constant(.max) + 1).isUnknown)
        #expect((SymDim.constant(.max) * 2).isUnknown)
    }

    @Test func aDimParamIsOneOpaqueSymbol() {
        // Rule 3: "2*seq" written by an exporter is not parsed.
        let d = SymDim(.symbol("2*seq"))
        #expect(d == .symbol("2*seq"))
        #expect(d.dim == .symbol("2*seq"))
    }
}
