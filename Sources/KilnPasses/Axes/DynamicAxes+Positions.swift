import KilnIR
import KilnEvaluator

extension DynamicAxes {
    /// Rule 7a, positional ids: when the input that rule 7 finds baked is `Gather(table, ids)` with
    /// `ids` a constant int64 `0, 1, ..., N-1` (any shape whose only non-1 dim is N, the torch
    /// export of `position_ids[:, :seq]`), the ids are computed instead:
    /// `Reshape(Range(0, Gather(Shape(input), axis), 1), shape with N -> -1)`, where `input`/`axis`
    /// is the first axis given the symbol. When `ids` is instead computed by
    /// `Range(0, N, 1)` (constants, int64) through `Unsqueeze`/`Reshape`/`Squeeze`, the Range's
    /// limit becomes `Gather(Shape(input), axis)`. Needs opset 11 (Range). Returns whether it rewrote.
    static func rewritePositions(_ graph: inout Graph, baked: ValueID, symbol: String, size: Int64,
                                 source: (input: ValueID, axis: Int), opset: Int64) throws -> Bool {
        guard opset >= 11, let p = graph.producer(of: baked) else { return false }
        let gather = graph[node: p]
        guard gather.opType == "Gather", gather.domain.isEmpty || gather.domain == "ai.onnx",
              try gather.int("axis", default: 0) == 0, gather.inputs.count == 2,
              let ids = gather.inputs[1], !graph.isGraphInput(ids) else { return false }
        guard let t = graph[value: ids].initializer else {
            return try rewriteRange(&graph, ids: ids, size: size, source: source)
        }
        guard t.dataType == .int64, t.dims.filter({ $0 != 1 }) == [size],
              try TensorValue(t).int64s == Array(0..<size) else { return false }
        let base = graph.name(of: ids)
        func constant(_ suffix: String, _ values: [Int64], dims: [Int64]) throws -> ValueID {
            let name = graph.uniqueName(base + suffix)
            return try graph.addInitializer(named: name, .int64(values, dims: dims, name: name))
        }
        func node(_ op: String, _ inputs: [ValueID], _ suffix: String) throws -> ValueID {
            let name = graph.uniqueName(base + suffix)
            let id = try graph.addNode(Node(opType: op, name: name), inputs: inputs, outputNames: [name], at: .before(p))
            return graph[node: id].outputs[0]!
        }
        let shape = try node("Shape", [source.input], "_shape")
        let length = try node("Gather", [shape, try constant("_axis", [Int64(source.axis)], dims: [])], "_length")
        let range = try node("Range", [try constant("_start", [0], dims: []), length, try constant("_step", [1], dims: [])], "_range")
        let target = try constant("_target", t.dims.map { $0 == size ? -1 : $0 }, dims: [Int64(t.dims.count)])
        let computed = try node("Reshape", [range, target], "_" + symbol)
        graph.setInput(of: p, at: 1, to: computed)
        _ = graph.removeUnusedInitializers([ids], captured: [])
        return true
    }

    /// Rule 7a, computed ids: `Range(0, N, 1)` reached from `ids` through shape-only ops gets its
    /// limit from the input's shape.
    static func rewriteRange(_ graph: inout Graph, ids: ValueID, size: Int64, source: (input: ValueID, axis: Int)) throws -> Bool {
        var v = ids
        while let p = graph.producer(of: v), ["Unsqueeze", "Reshape", "Squeeze"].contains(graph[node: p].opType),
              let next = graph[node: p].inputs[0] {
            v = next
        }
        guard let r = graph.producer(of: v), graph[node: r].opType == "Range", graph[node: r].inputs.count == 3 else { return false }
        let range = graph[node: r]
        func scalar(_ slot: Int) throws -> Int64? {
            guard let x = range.inputs[slot], !graph.isGraphInput(x), let t = graph[value: x].initializer,
                  t.dataType == .int64, t.dims.isEmpty || t.dims == [1] else { return nil }
            return try TensorValue(t).int64s.first
        }
        guard try scalar(0) == 0, try scalar(2) == 1, try scalar(1) == size, let oldLimit = range.inputs[1] else { return false }
        let base = graph.name(of: v)
        let shapeName = graph.uniqueName(base + "_shape")
        let shape = try graph.addNode(Node(opType: "Shape", name: shapeName), inputs: [source.input], outputNames: [shapeName], at: .before(r))
        let axisName = graph.uniqueName(base + "_axis")
        let axis = try graph.addInitializer(named: axisName, .int64([Int64(source.axis)], dims: [], name: axisName))
        let limitName = graph.uniqueName(base + "_limit")
        let limit = try graph.addNode(Node(opType: "Gather", name: limitName), inputs: [graph[node: shape].outputs[0]!, axis],
                                      outputNames: [limitName], at: .before(r))
        graph.setInput(of: r, at: 1, to: graph[node: limit].outputs[0]!)
        _ = graph.removeUnusedInitializers([oldLimit], captured: [])
        return true
    }

    /// Rule 7b, shapes built for the old size: when the baked input is `ConstantOfShape(shape)` or
    /// `Expand(data, shape)` with `shape` a constant int64 holding N at exactly one element, that
    /// element is taken from the input instead: `Concat(numbers, Gather(Shape(input), [axis]), ...)`.
    static func rewriteShapeConstant(_ graph: inout Graph, baked: ValueID, size: Int64,
                                     source: (input: ValueID, axis: Int)) throws -> Bool {
        guard let p = graph.producer(of: baked) else { return false }
        let node = graph[node: p]
        let slot: Int
        switch node.opType {
        case "ConstantOfShape": slot = 0
        case "Expand": slot = 1
        default: return false
        }
        guard node.domain.isEmpty || node.domain == "ai.onnx", let old = node.inputs[slot],
              let values = try constantInts(node, slot, graph), values.filter({ $0 == size }).count == 1,
              let j = values.firstIndex(of: size) else { return false }
        let base = graph.name(of: old)
        func constant(_ v: [Int64]) throws -> ValueID {
            let name = graph.uniqueName(base + "_part")
            return try graph.addInitializer(named: name, .int64(v, dims: [Int64(v.count)], name: name))
        }
        let shapeName = graph.uniqueName(base + "_shape")
        let shape = try graph.addNode(Node(opType: "Shape", name: shapeName), inputs: [source.input], outputNames: [shapeName], at: .before(p))
        let dimName = graph.uniqueName(base + "_dim")
        let dim = try graph.addNode(Node(opType: "Gather", name: dimName), inputs: [graph[node: shape].outputs[0]!, try constant([Int64(source.axis)])],
                                    outputNames: [dimName], at: .before(p))
        var pieces: [ValueID] = []
        if j > 0 { pieces.append(try constant(Array(values[..<j]))) }
        pieces.append(graph[node: dim].outputs[0]!)
        if j + 1 < values.count { pieces.append(try constant(Array(values[(j + 1)...]))) }
        let concatName = graph.uniqueName(base + "_derived")
        let concat = try graph.addNode(Node(opType: "Concat", name: concatName, attributes: [Attribute("axis", .int(0))]),
                                       inputs: pieces, outputNames: [concatName], at: .before(p))
        graph.setInput(of: p, at: slot, to: graph[node: concat].outputs[0]!)
        _ = graph.removeUnusedInitializers([old], captured: [])
        return true
    }
}
