/// What an emitter did: the nodes it quantized, the parameters of every quantized tensor, the nodes
/// it left in float (with reasons), and where each quantized layer's value can be read as float.
public struct EmitReport: Sendable {
    public struct TensorParams: Sendable, Codable, Equatable {
        /// Original value name (weight, bias or activation).
        public var tensor: String
        /// One per tensor, or per channel / per block.
        public var scale: [Float]
        public var zeroPoint: [Int32]
        /// "int8", "uint8", "int4", "uint4", "int32".
        public var type: String
        public var axis: Int?
        public var blockSize: Int?

        public init(tensor: String, scale: [Float], zeroPoint: [Int32], type: String, axis: Int? = nil,
                    blockSize: Int? = nil) {
            self.tensor = tensor; self.scale = scale; self.zeroPoint = zeroPoint; self.type = type
            self.axis = axis; self.blockSize = blockSize
        }
    }
    /// Original node names that were quantized.
    public var quantizedNodes: [String]
    public var tensors: [TensorParams]
    public var skipped: [QuantizationPlan.Skip]
    /// For each quantized node's original output name: the name of a FLOAT tensor in the emitted model that
    /// carries the same (now quantized-then-dequantized) value, when one exists. Used for per-layer SQNR.
    public var floatEquivalents: [String: String]
    /// Notes on choices the emitter made (opset raised, per-channel fallbacks, ...).
    public var notes: [String]

    public init(quantizedNodes: [String] = [], tensors: [TensorParams] = [], skipped: [QuantizationPlan.Skip] = [],
                floatEquivalents: [String: String] = [:], notes: [String] = []) {
        self.quantizedNodes = quantizedNodes; self.tensors = tensors; self.skipped = skipped
        self.floatEquivalents = floatEquivalents; self.notes = notes
    }
}
