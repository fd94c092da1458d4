import KilnIR
@testable import KilnAnalysis

/// Parses `"batch, 3, ?"` into dims: integers are values, `?` unknown, anything else a symbol.
func shapeDims(_ text: String) -> [Dim] {
    text.split(separator: ",").map { part in
        let s = part.trimmed(of: " ")
        if s == "?" { return .unknown }
        if let v = Int64(s) { return .value(v) }
        return .symbol(s)
    }
}

extension StringProtocol {
    func trimmed(of set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

/// A small graph builder for shape-inference tests: names in, names out.
struct ShapeTestGraph {
    var graph = Graph(name: "g")
    var opset: Int64
    /// Opset imports besides the default domain's (ai.onnx.ml, ...).
    var otherImports: [OpsetImport] = []

    init(opset: Int64 = 21) { self.opset = opset }

    mutating func input(_ name: String, _ type: DataType = .float, _ dims: String?) {
        let shape = dims.map { Shape($0.isEmpty ? [] : shapeDims($0)) }
        _ = try! graph.addInput(named: name, type: .tensor(type, shape))
    }

    mutating func ints(_ name: String, _ values: [Int64], dims: [Int64]? = nil) {
        _ = try! graph.addInitializer(named: name, .int64(values, dims: dims ?? [Int64(values.count)]))
    }

    mutating func floats(_ name: String, _ values: [Float], dims: [Int64]? = nil) {
        _ = try! graph.addInitializer(named: name, .float32(values, dims: dims ?? [Int64(values.count)]))
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                       _ attributes: [Attribute] = [], domain: String = "") {
        let ins: [ValueID?] = inputs.map { $0.isEmpty ? nil : graph.value(named: $0) }
        _ = try! graph.addNode(Node(opType: op, domain: domain, name: name ?? outputs[0], attributes: attributes),
                               inputs: ins, outputNames: outputs)
    }

    /// Declares a type for an existing value (as value_info) or marks it as a graph output.
    mutating func declare(_ name: String, _ type: DataType, _ dims: String) {
        let id = graph.value(named: name)
        graph[value: id].type = .tensor(type, Shape(dims.isEmpty ? [] : shapeDims(dims)))
        graph.appendValueInfo(id)
    }

    mutating func output(_ name: String) { graph.appendOutput(graph.value(named: name)) }

    var model: Model { Model(graph: graph, irVersion: 10, opsetImports: [OpsetImport(domain: "", version: opset)] + otherImports) }

    /// Runs inference; returns the model and the report.
    func infer() -> (Model, ShapeInferenceReport) {
        var m = model
        let report = ShapeInference().infer(&m)
        return (m, report)
    }

    /// The inferred type of `name`, printed (`tensor(float)[batch, 3]`), after inference.
    func type(_ name: String) -> String {
        let (m, _) = infer()
        guard let id = m.graph.valueID(named: name), let t = m.graph[value: id].type else { return "none" }
        return t.description
    }
}

func shapeAttr(_ name: String, _ v: Int64) -> Attribute { Attribute(name, .int(v)) }
func shapeAttr(_ name: String, _ v: [Int64]) -> Attribute { Attribute(name, .ints(v)) }
func shapeAttr(_ name: String, _ v: String) -> Attribute { Attribute(name, .string(Array(v.utf8))) }
