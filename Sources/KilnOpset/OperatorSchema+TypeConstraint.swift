extension OperatorSchema {
    /// The types a type parameter (`"T"`) may take (onnx's `TypeConstraintParam`), as type strings:
    /// `tensor(float)`, `seq(tensor(int64))`, `optional(seq(tensor(uint8)))`, `map(int64, float)`.
    public struct TypeConstraint: Hashable, Sendable {
        public var typeParameter: String
        /// In onnx's order.
        public var allowedTypes: [String]

        public init(typeParameter: String, allowedTypes: [String]) {
            self.typeParameter = typeParameter
            self.allowedTypes = allowedTypes
        }

        /// Whether `typeString` is one of the allowed types.
        public func allows(_ typeString: String) -> Bool {
            allowedTypes.contains(typeString)
        }
    }
}
