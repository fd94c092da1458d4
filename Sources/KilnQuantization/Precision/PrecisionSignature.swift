import KilnIR
import KilnOpset

/// Which type parameter of its schema each input and output slot of a node binds (`"T"`), or the
/// concrete type string of a parameter without one (`"tensor(float)"`: Resize's scales).
struct PrecisionSignature {
    let schema: OperatorSchema
    let inputParams: [String?]
    let outputParams: [String?]

    init(schema: OperatorSchema, inputs: Int, outputs: Int) {
        self.schema = schema
        inputParams = Self.bind(schema.inputs, count: inputs)
        outputParams = Self.bind(schema.outputs, count: outputs)
    }

    /// Slot i binds formal parameter i; a variadic last parameter binds every slot from its own
    /// index on. Slots beyond the signature bind nothing.
    private static func bind(_ params: [OperatorSchema.FormalParameter], count: Int) -> [String?] {
        (0..<count).map { i in
            if i < params.count { return params[i].typeString }
            if let last = params.last, last.option == .variadic { return last.typeString }
            return nil
        }
    }

    /// Whether `param` is a type parameter (has a constraint) rather than a concrete type.
    func isTypeParameter(_ param: String) -> Bool { schema.typeConstraint(named: param) != nil }

    /// Whether type parameter or concrete type `param` may be a tensor of `type`.
    func allows(_ param: String, _ type: DataType) -> Bool {
        let s = "tensor(\(type.name))"
        if let c = schema.typeConstraint(named: param) { return c.allows(s) }
        return param == s
    }

    /// Input slots binding `param`.
    func inputSlots(of param: String) -> [Int] { inputParams.indices.filter { inputParams[$0] == param } }

    /// Whether `param` binds output slots.
    func bindsOutput(_ param: String) -> Bool { outputParams.contains(param) }
}
