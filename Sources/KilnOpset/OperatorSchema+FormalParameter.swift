extension OperatorSchema {
    /// One input or output of an operator's signature (onnx's `FormalParameter`).
    public struct FormalParameter: Hashable, Sendable {
        /// How many node inputs or outputs the parameter binds.
        public enum Option: Hashable, Sendable {
            /// Exactly one.
            case single
            /// Zero or one (an empty name `""` in a node leaves it out).
            case optional
            /// Any number, at least `minArity`; only the last parameter can be variadic.
            case variadic
        }

        public var name: String
        /// A type parameter of the schema (`"T"`) or a concrete type string (`"tensor(int64)"`).
        public var typeString: String
        public var option: Option
        /// For a variadic parameter: whether every value it binds must have the same type.
        public var isHomogeneous: Bool
        /// For a variadic parameter: the least number of values it binds.
        public var minArity: Int

        public init(name: String, typeString: String, option: Option = .single, isHomogeneous: Bool = true,
                    minArity: Int = 1) {
            self.name = name
            self.typeString = typeString
            self.option = option
            self.isHomogeneous = isHomogeneous
            self.minArity = minArity
        }

        /// The least number of node inputs or outputs a signature accepts, as onnx computes it.
        static func minCount(_ parameters: [FormalParameter]) -> Int {
            guard let lastRequired = parameters.lastIndex(where: { $0.option != .optional }) else { return 0 }
            let last = parameters[lastRequired]
            return lastRequired + (last.option == .variadic ? last.minArity : 1)
        }

        /// The most node inputs or outputs a signature accepts, as onnx computes it.
        static func maxCount(_ parameters: [FormalParameter]) -> Int {
            parameters.last?.option == .variadic ? OperatorSchema.unbounded : parameters.count
        }
    }
}
