import KilnIR

/// What a shape rule sees of one node: its attributes, the types and known values of its inputs,
/// the types of its subgraphs' outputs; and where it writes its output types and values.
public struct NodeContext {
    public let node: Node
    /// The model's opset for the node's domain.
    public let opset: Int
    let inputTypes: [InferredType?]
    let inputValues: [[SymDim]?]
    let inputTensors: [Tensor?]
    /// Output types of each subgraph attribute (by attribute name), inferred before the rule runs.
    public let subgraphOutputs: [String: [InferredType?]]
    public internal(set) var outputTypes: [InferredType?]
    /// The known elements of each output (nil where none); see `setValues`.
    public var outputValues: [[SymDim]?] {
        knownOutputValues.isEmpty ? Array(repeating: nil, count: node.outputs.count) : knownOutputValues
    }
    /// `outputValues`, but empty (no allocation) until a rule sets one: most nodes set none.
    private(set) var knownOutputValues: [[SymDim]?] = []
    /// Which input slots are present (not past the end, not empty), when they are not the node's
    /// own (after `remapInputs`/`replaceValues`); nil: read `node.inputs` (no per-node array).
    let inputPresent: [Bool]?

    init(node: Node, opset: Int, inputTypes: [InferredType?], inputValues: [[SymDim]?], inputTensors: [Tensor?],
         subgraphOutputs: [String: [InferredType?]] = [:], inputPresent: [Bool]? = nil) {
        self.node = node
        self.inputPresent = inputPresent
        self.opset = opset
        self.inputTypes = inputTypes
        self.inputValues = inputValues
        self.inputTensors = inputTensors
        self.subgraphOutputs = subgraphOutputs
        self.outputTypes = Array(repeating: nil, count: node.outputs.count)
    }

    /// A context whose output types start in `outputBuffer` (emptied and reused: inference hands
    /// one buffer from node to node instead of allocating a list per node).
    init(node: Node, opset: Int, inputTypes: [InferredType?], inputValues: [[SymDim]?], inputTensors: [Tensor?],
         subgraphOutputs: [String: [InferredType?]], outputBuffer: inout [InferredType?]) {
        self.node = node
        self.inputPresent = nil
        self.opset = opset
        self.inputTypes = inputTypes
        self.inputValues = inputValues
        self.inputTensors = inputTensors
        self.subgraphOutputs = subgraphOutputs
        self.outputTypes = Self.noOutputTypes(node.outputs.count, reusing: &outputBuffer)
    }

    /// `count` nil output types, in `buffer`'s storage when it has the right size (`buffer` is
    /// emptied: inference hands one buffer from node to node).
    static func noOutputTypes(_ count: Int, reusing buffer: inout [InferredType?]) -> [InferredType?] {
        var out = buffer
        buffer = []
        if out.count == count {
            for k in out.indices { out[k] = nil }
        } else {
            out = Array(repeating: nil, count: count)
        }
        return out
    }

    // MARK: Inputs

    public var inputCount: Int { inputPresent?.count ?? node.inputs.count }
    public var outputCount: Int { node.outputs.count }

    /// Whether input `i` is present (not past the end, not an empty optional slot).
    public func hasInput(_ i: Int) -> Bool {
        if let present = inputPresent { return i < present.count && present[i] }
        return i < node.inputs.count && node.inputs[i] != nil
    }
    public func hasOutput(_ i: Int) -> Bool { i < node.outputs.count && node.outputs[i] != nil }

    public func inputType(_ i: Int) -> InferredType? { i < inputTypes.count ? inputTypes[i] : nil }
    public func elementType(_ i: Int) -> DataType? { inputType(i)?.elementType }
    /// The dimensions of input `i`; nil when missing or of unknown rank.
    public func dims(_ i: Int) -> [SymDim]? { inputType(i)?.dims }
    public func rank(_ i: Int) -> Int? { dims(i)?.count }

    /// The known elements of a small integer input (a constant, or propagated data such as the
    /// output of `Shape`), flattened.
    public func values(_ i: Int) -> [SymDim]? { i < inputValues.count ? inputValues[i] : nil }

    /// The known elements when every one is a constant.
    public func constantValues(_ i: Int) -> [Int64]? {
        guard let v = values(i) else { return nil }
        var out: [Int64] = []
        for d in v { guard let c = d.constantValue else { return nil }; out.append(c) }
        return out
    }

    /// The constant tensor behind input `i` (an initializer or a `Constant` output).
    public func tensor(_ i: Int) -> Tensor? { i < inputTensors.count ? inputTensors[i] : nil }

    // MARK: Outputs

    public mutating func setOutput(_ i: Int, _ type: InferredType?) {
        guard i < outputTypes.count else { return }
        outputTypes[i] = type
    }

    public mutating func setOutput(_ i: Int, _ elementType: DataType?, _ dims: [SymDim]?) {
        setOutput(i, .tensor(elementType: elementType, dims: dims))
    }

    /// Records the elements of a small integer output (data propagation).
    public mutating func setValues(_ i: Int, _ values: [SymDim]?) {
        guard i < node.outputs.count, let values, values.count <= NodeContext.maxPropagatedElements else { return }
        if knownOutputValues.isEmpty { knownOutputValues = Array(repeating: nil, count: node.outputs.count) }
        knownOutputValues[i] = values
    }

    /// The known elements set for output `i` so far (`outputValues[i]` without building the array).
    public func outputValue(_ i: Int) -> [SymDim]? {
        i < knownOutputValues.count ? knownOutputValues[i] : nil
    }

    /// Largest tensor whose elements are propagated.
    public static let maxPropagatedElements = 1024

    // MARK: Errors and attributes

    /// An error naming the node.
    public func error(_ message: String) -> KilnError {
        KilnError(.invalidGraph, "\(node.label): \(message)")
    }

    /// Normalizes a possibly negative `axis` against `rank`; throws when out of range.
    public func axis(_ axis: Int64, rank: Int, what: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + Int64(rank) : axis
        guard a >= 0 && a < Int64(rank) else { throw error("\(what) \(axis) is out of range for rank \(rank)") }
        return Int(a)
    }

    /// Propagates element type and shape of input `from` to output `to` (unchanged).
    public mutating func passThrough(_ from: Int = 0, to: Int = 0) {
        setOutput(to, inputType(from))
    }
}

extension NodeContext {
    /// Makes inputs `indices` the context's inputs 0, 1, ... (for operators laid out like another,
    /// as QLinearConv's x and w are Conv's inputs 0 and 3).
    mutating func remapInputs(_ indices: [Int]) {
        func pick<T>(_ a: [T?]) -> [T?] { indices.map { $0 < a.count ? a[$0] : nil } }
        self = NodeContext(node: node, opset: opset, inputTypes: pick(inputTypes), inputValues: pick(inputValues),
                           inputTensors: pick(inputTensors), subgraphOutputs: subgraphOutputs,
                           inputPresent: indices.map { hasInput($0) })
    }
}

extension NodeContext {
    /// Sets the known elements of input `i` (for an older version whose attribute became an input).
    mutating func replaceValues(_ i: Int, with values: [SymDim]) {
        var v = inputValues
        var present = inputPresent ?? node.inputs.map { $0 != nil }
        while v.count <= i { v.append(nil) }
        while present.count <= i { present.append(false) }
        v[i] = values
        present[i] = true
        var types = inputTypes
        while types.count <= i { types.append(nil) }
        types[i] = .tensor(elementType: .int64, dims: [.constant(Int64(values.count))])
        var tensors = inputTensors
        while tensors.count <= i { tensors.append(nil) }
        self = NodeContext(node: node, opset: opset, inputTypes: types, inputValues: v, inputTensors: tensors,
                           subgraphOutputs: subgraphOutputs, inputPresent: present)
    }
}
