import Testing
import KilnIR
@testable import KilnReport

@Suite struct ModelCostTests {
    /// x[N,3,8,8] -> Conv(W[4,3,3,3], b) -> y[N,4,8,8] -> Relu -> z; MatMul on a flattened view.
    private func convModel(batch: Dim) throws -> Model {
        var g = Graph(name: "g")
        let x = try g.addInput(named: "x", type: .tensor(.float, Shape([batch, .value(3), .value(8), .value(8)])))
        let w = try g.addInitializer(named: "w", .float32(Array(repeating: 0.1, count: 4 * 3 * 9), dims: [4, 3, 3, 3]))
        let b = try g.addInitializer(named: "b", .float32([0, 0, 0, 0], dims: [4]))
        let conv = try g.addNode(Node(opType: "Conv", name: "conv"), inputs: [x, w, b], outputNames: ["y"])
        let y = g[node: conv].outputs[0]!
        g[value: y].type = .tensor(.float, Shape([batch, .value(4), .value(8), .value(8)]))
        let relu = try g.addNode(Node(opType: "Relu", name: "relu"), inputs: [y], outputNames: ["z"])
        let z = g[node: relu].outputs[0]!
        g[value: z].type = .tensor(.float, Shape([batch, .value(4), .value(8), .value(8)]))
        g.setOutputs([z])
        return Model(graph: g)
    }

    @Test func convCostIsSymbolicInTheBatch() throws {
        let c = ModelCost(model: try convModel(batch: .symbol("N")))
        // 4*8*8 outputs per image x 3*3*3 MACs each = 6912
        #expect(c.macs.terms == ["N": 6912])
        // FLOPs: 2 x MACs + bias (256) + Relu (256)
        #expect(c.flops.terms == ["N": 2 * 6912 + 256 + 256])
        #expect(c.macs.text == "6.9K*N")
        #expect(c.byOp.first?.op == "Conv")
        #expect(c.activations.peakBytes == nil)
        #expect(c.activations.reason?.contains("--input-shape") == true)
        #expect(c.largestTensors.map(\.name) == ["w", "b"])
    }

    @Test func peakActivationsFollowLiveness() throws {
        let c = ModelCost(model: try convModel(batch: .value(2)))
        #expect(abs((c.macs.staticValue ?? 0) - 13824) < 1e-9, "\(String(describing: c.macs.staticValue)) \(c.macs.terms)")
        let x = Int64(2 * 3 * 64 * 4), y = Int64(2 * 4 * 64 * 4)
        // At the Conv: x and y live; at the Relu: y and z live (x freed after the Conv).
        #expect(c.activations.peakBytes == max(x + y, y + y))
        #expect(c.activations.totalBytes == x + y + y)
        #expect(c.activations.peakAt == "relu")
    }

    @Test func symbolicArithmetic() {
        let a = SymbolicCount.product([.symbol("b"), .symbol("s"), .value(3)])
        let b = SymbolicCount.product([.symbol("s"), .symbol("b")]) * 2
        #expect((a + b).terms == ["b*s": 5])
        #expect(SymbolicCount.product([.unknown]).text == "?")
        #expect((SymbolicCount(4_100_000_000) + SymbolicCount.product([.symbol("n")])).text == "1*n + 4.1G")
    }
}
