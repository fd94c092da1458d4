import KilnIR
import KilnEvaluator

/// The graph being rewritten by an emitter, with the building blocks every format uses: constants,
/// nodes, activation parameters, Q/DQ pairs shared per tensor, quantized weights and biases, and the
/// report. Emitters (QDQ, QOperator, dynamic, weight-only) are thin sequences of these steps.
struct EmitContext {
    var graph: Graph
    let config: QuantizationConfig
    let table: CalibrationTable?
    var report = EmitReport()
    /// Nodes this emitter added (dead ones are removed at the end).
    var added = Set<NodeID>()
    /// Activation value -> the DequantizeLinear output its consumers now read (shared per tensor).
    var activationDQ: [ValueID: ValueID] = [:]
    /// DequantizeLinear output -> the float value it stands for.
    var dqSource: [ValueID: ValueID] = [:]
    /// Activation value -> its quantized form (value, scale, zero point), shared by every consumer.
    var quantizedForm: [ValueID: (q: ValueID, scale: ValueID, zeroPoint: ValueID)] = [:]
    /// Weight value + axis -> its DequantizeLinear output.
    var weightDQ: [String: ValueID] = [:]
    private var reported = Set<String>()
    /// Initializers this emitter created or replaced: removed at the end when nothing reads them.
    private var touched = Set<ValueID>()

    init(graph: Graph, config: QuantizationConfig, table: CalibrationTable?) {
        self.graph = graph; self.config = config; self.table = table
    }

    /// Q/DQ on the outputs of quantized nodes (QDQ rule 2): not for TensorRT, which wants inputs only.
    var outputsQuantized: Bool { config.target != .tensorrt }
    /// Biases as int32 behind a DequantizeLinear (QDQ rule 3): not for TensorRT, whose
    /// DequantizeLinear takes int8/int4/fp8 only and which fuses the float bias itself.
    var biasesQuantized: Bool { config.target != .tensorrt }

    // MARK: Constants and nodes

    mutating func constant(_ base: String, _ tensor: Tensor) throws -> ValueID {
        var t = tensor
        let name = graph.uniqueName(base)
        t.name = name
        let id = try graph.addInitializer(named: name, t)
        touched.insert(id)
        return id
    }

    mutating func floats(_ base: String, _ values: [Float], dims: [Int64]) throws -> ValueID {
        try constant(base, .float32(values, dims: dims))
    }

    mutating func integers(_ base: String, _ values: [Int32], type: DataType, dims: [Int64]) throws -> ValueID {
        try constant(base, Self.integerTensor(values, type: type, dims: dims))
    }

    /// An int8/uint8/int4/uint4/int32 tensor in `raw_data` layout (4-bit values two per byte, low
    /// nibble first).
    static func integerTensor(_ values: [Int32], type: DataType, dims: [Int64]) -> Tensor {
        var bytes: [UInt8]
        switch type {
        case .int8, .uint8:
            bytes = [UInt8](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { v in for i in 0..<v.count { bytes[i] = UInt8(truncatingIfNeeded: v[i]) } }
        case .int4, .uint4:
            bytes = [UInt8](repeating: 0, count: (values.count + 1) / 2)
            values.withUnsafeBufferPointer { v in
                for i in 0..<v.count { bytes[i / 2] |= (UInt8(truncatingIfNeeded: v[i]) & 0xF) << UInt8((i % 2) * 4) }
            }
        default:
            bytes = values.withUnsafeBytes { Array($0) }
        }
        return Tensor(dataType: type, dims: dims, storage: .raw(TensorBytes(bytes)))
    }

    /// Adds a node writing new values named after `outputs` (made unique); returns their IDs.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [ValueID?], outputs: [String], name: String,
                       _ attributes: [Attribute] = [], at position: Graph.Position) throws -> [ValueID] {
        let names = outputs.map { graph.uniqueName($0) }
        let id = try graph.addNode(Node(opType: op, name: uniqueNodeName(name), attributes: attributes),
                                   inputs: inputs, outputNames: names, at: position)
        added.insert(id)
        return graph[node: id].outputs.map { $0! }
    }

    /// Adds a node writing the existing value `output` (which must have no producer).
    mutating func node(_ op: String, _ inputs: [ValueID?], writing output: ValueID, name: String,
                       _ attributes: [Attribute] = [], at position: Graph.Position) throws {
        let id = try graph.addNode(Node(opType: op, name: uniqueNodeName(name), attributes: attributes),
                                   inputs: inputs, outputs: [output], at: position)
        added.insert(id)
    }

    private var nodeNames: Set<String>?
    private mutating func uniqueNodeName(_ base: String) -> String {
        if nodeNames == nil { nodeNames = Set(graph.order.map { graph[node: $0].name }) }
        var name = base, i = 1
        while nodeNames!.contains(name) { name = "\(base)_\(i)"; i += 1 }
        nodeNames!.insert(name)
        return name
    }

    /// Where nodes computing from `v` go: right after its producer (or first, for inputs and constants).
    func position(after v: ValueID) -> Graph.Position {
        graph.producer(of: v).map { .after($0) } ?? .start
    }

    /// Detaches output 0 of `node` so a replacement can write it; the node is removed by `finish`.
    mutating func detachOutput(of node: NodeID) throws -> ValueID {
        let y = graph[node: node].outputs[0]!
        let scratch = try graph.addValue(named: graph.uniqueName(graph.name(of: y) + "_replaced"))
        try graph.setOutput(of: node, at: 0, to: scratch)
        replaced.append(node)
        return y
    }
    private var replaced: [NodeID] = []

    mutating func floatValues(_ v: ValueID) throws -> [Float] {
        touched.insert(v)
        guard let t = graph.constantTensor(v) else {
            throw KilnError(.internalError, "'\(graph.name(of: v))' is not a constant")
        }
        guard let f = try TensorValue(t).elements(as: Float.self) else {
            throw KilnError(.unsupported, "'\(graph.name(of: v))' is \(t.dataType.name), not float32")
        }
        return Array(f)
    }

    mutating func record(_ p: EmitReport.TensorParams) {
        let key = "\(p.tensor)/\(p.type)/\(p.axis ?? -1)"
        if reported.insert(key).inserted { report.tensors.append(p) }
    }

    // MARK: Activations

    /// The float value an activation slot stands for (looking through our DequantizeLinear outputs).
    func source(_ v: ValueID) -> ValueID { dqSource[v] ?? v }

    /// Static parameters of activation `v` from the calibration table (formulas 2-5).
    mutating func activationParams(_ v: ValueID, for node: String) throws -> QuantParams {
        let name = graph.name(of: source(v))
        guard let range = table?.ranges[name] else {
            throw KilnError(.invalidInput, "no calibrated range for tensor '\(name)' (read by node '\(node)'); "
                            + "calibrate it or exclude the node with --exclude-node")
        }
        let p = try QuantMath.params(min: range.min, max: range.max, type: config.activationType,
                                     symmetric: config.symmetricActivations, tensor: name)
        record(.init(tensor: name, scale: [p.scale], zeroPoint: [p.zeroPoint], type: config.activationType.name))
        return p
    }

    /// Scale and zero-point constants for activation `v`.
    mutating func activationConstants(_ v: ValueID, for node: String) throws -> (scale: ValueID, zeroPoint: ValueID) {
        let p = try activationParams(v, for: node)
        let name = graph.name(of: source(v))
        return (try floats(name + "_scale", [p.scale], dims: []),
                try integers(name + "_zero_point", [p.zeroPoint], type: config.activationType, dims: []))
    }

    /// The quantized form of activation `v` (QuantizeLinear after its producer), shared by consumers.
    mutating func quantized(_ v: ValueID, for node: String) throws -> (q: ValueID, scale: ValueID, zeroPoint: ValueID) {
        let v = source(v)
        if let f = quantizedForm[v] { return f }
        let (s, z) = try activationConstants(v, for: node)
        let name = graph.name(of: v)
        let q = try self.node(QOp.quantize, [v, s, z], outputs: [name + "_quantized"], name: name + "_QuantizeLinear",
                              at: position(after: v))[0]
        quantizedForm[v] = (q, s, z)
        return (q, s, z)
    }

    /// Inserts one QuantizeLinear/DequantizeLinear pair on activation `v` and points every node that
    /// read `v` at the dequantized value (graph outputs keep reading `v`). Returns the DQ output.
    @discardableResult
    mutating func qdq(_ v: ValueID, for node: String) throws -> ValueID {
        if dqSource[v] != nil { return v }
        if let dq = activationDQ[v] { return dq }
        let (q, s, z) = try quantized(v, for: node)
        let name = graph.name(of: v)
        let dq = try self.node(QOp.dequantize, [q, s, z], outputs: [name + "_dequantized"],
                               name: name + "_DequantizeLinear", at: .after(graph.producer(of: q)!))[0]
        let qNode = graph.producer(of: q)!
        for use in graph[value: v].uses where use.node != qNode {
            graph.setInput(of: use.node, at: use.index, to: dq)
        }
        activationDQ[v] = dq
        dqSource[dq] = v
        return dq
    }

    // MARK: Weights and biases

    /// Quantizes the float weight `w` per tensor or along `axis` (formulas 3-6) and records it.
    mutating func quantizeWeight(_ w: ValueID, axis: Int?, type: DataType, transposed: Bool = false,
                                 symmetric: Bool? = nil) throws -> QuantizedWeight {
        var values = try floatValues(w)
        var dims = graph.constantTensor(w)!.dims
        if transposed {  // Gemm transB: [N, K] -> [K, N]
            let (n, k) = (Int(dims[0]), Int(dims[1]))
            var t = [Float](repeating: 0, count: k * n)
            values.withUnsafeBufferPointer { src in
                for r in 0..<n { for c in 0..<k { t[c * n + r] = src[r * k + c] } }
            }
            values = t
            dims = [dims[1], dims[0]]
        }
        let qw = try QuantizedWeight.make(values, dims: dims, axis: axis, type: type,
                                          symmetric: symmetric ?? config.symmetricWeights,
                                          reduceRange: config.reduceRange, name: graph.name(of: w))
        record(.init(tensor: graph.name(of: w), scale: qw.scales, zeroPoint: qw.zeroPoints, type: type.name, axis: axis))
        return qw
    }

    /// Stores a quantized weight as an initializer; returns (values, scale, zero point) constants.
    mutating func store(_ qw: QuantizedWeight, name: String, scaleDims: [Int64]? = nil) throws
        -> (q: ValueID, scale: ValueID, zeroPoint: ValueID) {
        (try integers(name + "_quantized", qw.values, type: qw.type, dims: qw.dims),
         try floats(name + "_scale", qw.scales, dims: scaleDims ?? qw.paramDims),
         try integers(name + "_zero_point", qw.zeroPoints, type: qw.type, dims: scaleDims ?? qw.paramDims))
    }

    /// A DequantizeLinear of the quantized weight `w` (shared per weight and axis); the node reading
    /// it is pointed at the DQ output by the caller. Returns the DQ output and the quantized weight.
    mutating func dequantizedWeight(_ w: ValueID, axis: Int?, type: DataType, at anchor: NodeID) throws
        -> (value: ValueID, weight: QuantizedWeight) {
        let qw = try quantizeWeight(w, axis: axis, type: type)
        let key = "\(graph.name(of: w))/\(axis ?? -1)"
        if let v = weightDQ[key] { return (v, qw) }
        let name = graph.name(of: w)
        let (q, s, z) = try store(qw, name: name)
        let attrs = axis.map { [Attribute("axis", .int(Int64($0)))] } ?? []
        let dq = try node(QOp.dequantize, [q, s, z], outputs: [name + "_dequantized"], name: name + "_DequantizeLinear",
                          attrs, at: .before(anchor))[0]
        weightDQ[key] = dq
        return (dq, qw)
    }

    /// Formula 7: the int32 bias `b` for input scale `inputScale` and the weight's scales.
    mutating func quantizedBias(_ b: ValueID, inputScale: Float, weight: QuantizedWeight,
                                channelOf: (Int) -> Int = { $0 }) throws -> (q: ValueID, scales: [Float]) {
        let values = try floatValues(b)
        let (q, scales) = QuantMath.quantizeBias(values, inputScale: inputScale, weightScales: weight.scales,
                                                 channelOf: channelOf)
        let name = graph.name(of: b)
        let perChannel = weight.scales.count > 1
        record(.init(tensor: name, scale: perChannel ? scales : [scales[0]],
                     zeroPoint: [Int32](repeating: 0, count: perChannel ? scales.count : 1), type: "int32",
                     axis: perChannel ? 0 : nil))
        return (try integers(name + "_quantized", q, type: .int32, dims: [Int64(values.count)]), scales)
    }

    /// A DequantizeLinear of the int32 bias (per channel along axis 0 when the weight is per channel).
    mutating func dequantizedBias(_ b: ValueID, inputScale: Float, weight: QuantizedWeight, at anchor: NodeID,
                                  channelOf: (Int) -> Int = { $0 }) throws -> ValueID {
        let (q, scales) = try quantizedBias(b, inputScale: inputScale, weight: weight, channelOf: channelOf)
        let perChannel = weight.scales.count > 1
        let dims: [Int64] = perChannel ? [Int64(scales.count)] : []
        let name = graph.name(of: b)
        let s = try floats(name + "_scale", perChannel ? scales : [scales[0]], dims: dims)
        let z = try integers(name + "_zero_point", [Int32](repeating: 0, count: perChannel ? scales.count : 1),
                             type: .int32, dims: dims)
        let attrs = perChannel ? [Attribute("axis", .int(0))] : []
        return try node(QOp.dequantize, [q, s, z], outputs: [name + "_dequantized"], name: name + "_DequantizeLinear",
                        attrs, at: .before(anchor))[0]
    }

    // MARK: Finishing

    /// Removes replaced nodes, added nodes nothing reads, and float initializers nothing reads any more.
    mutating func finish() throws {
        for id in replaced { try graph.removeNode(id) }
        var changed = true
        while changed {
            changed = false
            for id in graph.order.reversed() where added.contains(id) {
                let outs = graph[node: id].outputs.compactMap { $0 }
                if outs.allSatisfy({ graph[value: $0].uses.isEmpty && !graph.isGraphOutput($0) }) {
                    try graph.removeNode(id); added.remove(id); changed = true
                }
            }
        }
        let dead = Set(touched.filter {
            graph.contains($0) && graph[value: $0].uses.isEmpty && !graph.isGraphOutput($0) && !graph.isGraphInput($0)
        })
        try graph.removeValues(dead)
        for (k, v) in report.floatEquivalents where graph.valueID(named: v) == nil {
            report.floatEquivalents[k] = graph.valueID(named: k) == nil ? nil : k
        }
    }
}
