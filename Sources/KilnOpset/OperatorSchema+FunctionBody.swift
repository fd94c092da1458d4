extension OperatorSchema {
    /// A function body of a schema: the operator expressed with other operators, for models whose
    /// opset import of the default domain is `opset` (onnx's `get_function_with_opset_version`).
    public struct FunctionBody: Hashable, Sendable {
        /// The opset version of the operators the body uses.
        public var opset: Int
        /// The body as a serialized ONNX `FunctionProto` (with its own name, inputs, outputs,
        /// attributes and opset imports); decode it with KilnONNX's codec.
        public var serializedFunctionProto: [UInt8]

        public init(opset: Int, serializedFunctionProto: [UInt8]) {
            self.opset = opset
            self.serializedFunctionProto = serializedFunctionProto
        }
    }

    /// The body to expand a node with in a model whose default-domain opset is `opset`: the one
    /// with the largest opset not above it.
    public func functionBody(forOpset opset: Int) -> FunctionBody? {
        functionBodies.last { $0.opset <= opset }
    }
}
