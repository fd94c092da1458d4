// Test helpers shared by the test targets: a model-building DSL, evaluator runs, output comparison.
import Testing
import KilnIR
import KilnEvaluator

/// A small DSL for building test models inline: values are named, nodes read and write names.
public struct ModelBuilder {
    public var graph = Graph(name: "test")
    public var opset = 21

    public init(opset: Int = 21) { self.opset = opset }

    public mutating func input(_ name: String, _ type: DataType, _ dims: [Dim]) {
        _ = try! graph.addInput(named: name, type: .tensor(type, Shape(dims)))
    }

    public mutating func input(_ name: String, _ dims: [Int64], _ type: DataType = .float) {
        input(name, type, dims.map { Dim.value($0) })
    }

    public mutating func initializer(_ name: String, _ tensor: Tensor) {
        var t = tensor
        t.name = name
        _ = try! graph.addInitializer(named: name, t)
    }

    public mutating func floats(_ name: String, _ values: [Float], _ dims: [Int64]) {
        initializer(name, .float32(values, dims: dims))
    }

    public mutating func ints(_ name: String, _ values: [Int64]) {
        initializer(name, .int64(values, dims: [Int64(values.count)]))
    }

    /// Adds a node; an empty input name is an empty optional slot.
    public mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       _ attributes: [Attribute] = [], domain: String = "") {
        let ins = inputs.map { $0.isEmpty ? nil : graph.value(named: $0) }
        let outs: [ValueID?] = outputs.map { $0.isEmpty ? nil : graph.value(named: $0) }
        try! graph.addNode(Node(opType: op, domain: domain, name: name ?? outputs.first ?? op, attributes: attributes),
                           inputs: ins, outputs: outs)
    }

    public mutating func output(_ name: String, _ type: DataType = .float, _ dims: [Dim]? = nil) {
        let id = graph.value(named: name)
        if let dims { graph[value: id].type = .tensor(type, Shape(dims)) }
        graph.appendOutput(id)
    }

    public var model: Model {
        Model(graph: graph, irVersion: 10, opsetImports: [OpsetImport(domain: "", version: Int64(opset))])
    }
}

/// Runs `model` on `inputs` in the evaluator.
public func outputs(_ model: Model, _ inputs: [String: TensorValue]) throws -> [TensorValue] {
    try Evaluator(model: model).run(inputs.mapValues { .tensor($0) }).map { try #require($0.tensor) }
}

/// Expects `a` and `b` to give the same outputs (same shapes, values within 1e-5) on `inputs`.
public func expectSameOutputs(_ a: Model, _ b: Model, _ inputs: [String: TensorValue],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    let x = try outputs(a, inputs), y = try outputs(b, inputs)
    #expect(x.count == y.count, sourceLocation: sourceLocation)
    for (p, q) in zip(x, y) {
        #expect(p.shape == q.shape, sourceLocation: sourceLocation)
        #expect(p.dataType == q.dataType, sourceLocation: sourceLocation)
        let dp = p.doubles, dq = q.doubles
        #expect(dp.count == dq.count, sourceLocation: sourceLocation)
        for (u, v) in zip(dp, dq) where !(abs(u - v) <= 1e-5 * max(1, abs(u))) {
            Issue.record("output differs: \(u) vs \(v)", sourceLocation: sourceLocation)
            return
        }
    }
}

/// A float tensor with elements 0.5, -1, 1.5, -2, ... (deterministic, both signs).
public func sample(_ shape: [Int]) -> TensorValue {
    let n = shape.reduce(1, *)
    return TensorValue(shape: shape, (0..<n).map { i in Float(i % 2 == 0 ? 1 : -1) * (Float(i % 7) * 0.5 + 0.5) })
}

extension Model {
    public var opTypes: [String] { graph.order.map { graph[node: $0].opType } }
    public var outputNames: [String] { graph.outputs.map { graph.name(of: $0) } }
}
