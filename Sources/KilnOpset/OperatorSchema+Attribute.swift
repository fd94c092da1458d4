import KilnIR

extension OperatorSchema {
    /// An attribute an operator declares: its name, type, whether a node must set it, and the
    /// value onnx uses when a node leaves it out.
    public struct Attribute: Hashable, Sendable {
        public var name: String
        public var type: AttributeType
        public var isRequired: Bool
        public var defaultValue: DefaultValue?

        public init(name: String, type: AttributeType, isRequired: Bool = false, defaultValue: DefaultValue? = nil) {
            self.name = name
            self.type = type
            self.isRequired = isRequired
            self.defaultValue = defaultValue
        }
    }

    /// The default of an attribute.
    public enum DefaultValue: Hashable, Sendable {
        /// An INT, FLOAT, STRING, INTS, FLOATS or STRINGS default, as an IR attribute value.
        case value(KilnIR.Attribute.Value)
        /// Any other default (tensor, graph, type proto, ...), kept as the serialized `AttributeProto`
        /// for the codec to decode. onnx 1.23.2 declares none.
        case serialized(AttributeType, [UInt8])

        /// The IR value for `.value` defaults; `nil` for `.serialized` ones.
        public var value: KilnIR.Attribute.Value? {
            if case .value(let v) = self { return v }
            return nil
        }
    }
}
