import Testing
import KilnIR
import KilnEvaluator
@testable import KilnPasses

/// A small builder for exporter-style graphs in fusion tests.
struct Net {
    var graph = Graph(name: "g")
    var opset: Int64
    private var counter = 0

    init(opset: Int64 = 21) { self.opset = opset }

    mutating func input(_ name: String, _ dims: [Int64], _ type: DataType = .float) -> ValueID {
        try! graph.addInput(named: name, type: .tensor(type, Shape(static: dims)))
    }

    /// An input with symbolic dimensions (`nil` entries become the symbol `name_i`).
    mutating func input(_ name: String, dims: [Int64?], _ type: DataType = .float) -> ValueID {
        let shape = Shape(dims.enumerated().map { i, d in d.map { .value($0) } ?? .symbol("\(name)_\(i)") })
        return try! graph.addInput(named: name, type: .tensor(type, shape))
    }

    /// An input with the given dimensions (symbols shared between inputs by name).
    mutating func input(_ name: String, shape dims: [Dim], _ type: DataType = .float) -> ValueID {
        try! graph.addInput(named: name, type: .tensor(type, Shape(dims)))
    }

    mutating func constant(_ name: String, _ values: [Float], _ dims: [Int64]) -> ValueID {
        try! graph.addInitializer(named: name, .float32(values, dims: dims))
    }

    mutating func tensor(_ name: String, _ t: Tensor) -> ValueID {
        try! graph.addInitializer(named: name, t)
    }

    /// A constant of `count` deterministic pseudo-random values in `range`.
    mutating func random(_ name: String, _ dims: [Int64], in range: ClosedRange<Float> = -1...1) -> ValueID {
        let n = Int(dims.reduce(1, *))
        return constant(name, pseudoRandom(n, seed: UInt64(name.utf8.reduce(7) { $0 &* 31 &+ Int($1) } & 0xffff), in: range), dims)
    }

    mutating func scalar(_ name: String, _ v: Float) -> ValueID { constant(name, [v], []) }

    mutating func ints(_ name: String, _ values: [Int64]) -> ValueID {
        try! graph.addInitializer(named: name, .int64(values, dims: [Int64(values.count)]))
    }

    /// Adds an `op` node; returns its first output.
    @discardableResult
    mutating func op(_ type: String, _ inputs: [ValueID?], _ attributes: [Attribute] = [], outputs: Int = 1,
                     name: String? = nil) -> ValueID {
        counter += 1
        let base = name ?? "\(type.lowercased())\(counter)"
        let outs = outputs == 1 ? [base] : (0..<outputs).map { "\(base)_\($0)" }
        let id = try! graph.addNode(Node(opType: type, name: base, attributes: attributes), inputs: inputs, outputNames: outs)
        return graph[node: id].outputs[0]!
    }

    mutating func output(_ v: ValueID) { graph.appendOutput(v) }

    var model: Model { Model(graph: graph, opsetImports: [OpsetImport(domain: "", version: opset)]) }
}

/// Deterministic values in `range` (a linear congruential generator).
func pseudoRandom(_ n: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        let u = Float(s >> 40) / Float(1 << 24)
        return range.lowerBound + u * (range.upperBound - range.lowerBound)
    }
}

/// Runs the named fusion passes to a fixed point, checks the graph invariants and that the model
/// computes the same outputs as before on random inputs. Returns the optimized model.
func fuse(_ model: Model, _ passNames: [String], options: PassOptions = PassOptions(),
          tolerance: Double = 1e-4, inputRange: ClosedRange<Float> = -2...2) throws -> Model {
    let passes = try passNames.map { try #require(FusionPasses.pass(named: $0), "no pass \($0)") }
    var m = model
    _ = try PassManager(passes: passes).run(&m, context: PassContext(options: options))
    try m.graph.checkInvariants()
    #expect(m.graph.outputs.map { m.graph.name(of: $0) } == model.graph.outputs.map { model.graph.name(of: $0) })
    try expectSameOutputs(model, m, tolerance: tolerance, inputRange: inputRange)
    return m
}

/// The op types of the main graph, in order.
func ops(_ m: Model) -> [String] { m.graph.nodes.map(\.node.opType) }

/// Runs both models on the same random inputs and compares every output (relative `tolerance`,
/// absolute `tolerance / 10`).
func expectSameOutputs(_ a: Model, _ b: Model, tolerance: Double, inputRange: ClosedRange<Float>) throws {
    var feed: [String: RuntimeValue] = [:]
    for (k, id) in a.graph.inputs.enumerated() where a.graph.constantTensor(id) == nil {
        let v = a.graph[value: id]
        let dims = try #require(v.type?.tensorShape?.dims.map { $0.staticValue ?? 3 }, "input \(v.name) has no shape")
        let n = Int(dims.reduce(1, *))
        let values = pseudoRandom(n, seed: UInt64(100 + k), in: inputRange)
        let shape = dims.map { Int($0) }
        switch v.type?.tensorElementType {
        case .double?: feed[v.name] = .tensor(TensorValue(shape: shape, values.map { Double($0) }))
        case .float16?: feed[v.name] = .tensor(TensorValue(shape: shape, values.map { Float16($0) }))
        case .int32?: feed[v.name] = .tensor(TensorValue(shape: shape, values.map { Int32(($0 * 50).rounded()) }))
        case .int64?: feed[v.name] = .tensor(TensorValue(shape: shape, values.map { Int64($0 > 0 ? 1 : 0) }))  // ids and 0/1 masks
        default: feed[v.name] = .tensor(TensorValue(shape: shape, values))
        }
    }
    let before = try Evaluator(model: a).run(feed)
    let after = try Evaluator(model: b).run(feed)
    #expect(before.count == after.count)
    for (x, y) in zip(before, after) {
        let tx = try #require(x.tensor), ty = try #require(y.tensor)
        #expect(tx.shape == ty.shape)
        #expect(tx.dataType == ty.dataType)
        let dx = tx.doubles, dy = ty.doubles
        var worst = 0.0
        for (p, q) in zip(dx, dy) {
            let err = abs(p - q) - (tolerance / 10 + tolerance * abs(p))
            worst = max(worst, err)
        }
        #expect(worst <= 0, "outputs differ by more than the tolerance (excess \(worst))")
    }
}

func ints(_ name: String, _ v: [Int64]) -> Attribute { Attribute(name, .ints(v)) }
func int(_ name: String, _ v: Int64) -> Attribute { Attribute(name, .int(v)) }
func float(_ name: String, _ v: Float) -> Attribute { Attribute(name, .float(v)) }
func string(_ name: String, _ v: String) -> Attribute { Attribute(name, .string(Array(v.utf8))) }

@Suite struct FusionPipelineTests {
    @Test func standardPassesHaveTheDocumentedNames() {
        #expect(FusionPasses.standard.map(\.name) == [
            "fuse-batchnorm", "fuse-constant-scale", "fuse-gemm", "fuse-pad", "merge-chains",
            "fuse-gelu", "fuse-layernorm", "fuse-rmsnorm", "fuse-attention",
        ])
    }

    /// Conv -> BN -> Mul by a per-channel constant -> Relu -> Pad -> MaxPool: everything folds into
    /// one Conv and one MaxPool.
    @Test func convBlockFoldsCompletely() throws {
        var n = Net(opset: 13)
        let x = n.input("x", [1, 3, 8, 8])
        let c = n.op("Conv", [x, n.random("w", [4, 3, 3, 3])], [ints("pads", [1, 1, 1, 1])])
        let b = n.op("BatchNormalization", [c, n.random("g", [4], in: 0.5...1.5), n.random("b", [4]),
                                            n.random("mean", [4]), n.random("var", [4], in: 0.5...2)])
        let s = n.op("Mul", [b, n.random("s", [4, 1, 1])])
        let r = n.op("Relu", [s])
        let p = n.op("Pad", [r, n.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1])])
        n.output(n.op("MaxPool", [p], [ints("kernel_shape", [3, 3])]))
        let m = try fuse(n.model, FusionPasses.standard.map(\.name))
        #expect(ops(m) == ["Conv", "Relu", "MaxPool"])
    }
}
