import KilnIR

/// Elementwise operators: unary math and activations, broadcasting binary and variadic math,
/// comparisons and logic (bool results), Where, Clip, Cast and CastLike.
///
/// Cases:
/// 1. Unary: output = input 0 (type and shape); also SwiGLU (equal shapes) and ml Binarizer.
///    IsNaN/IsInf/RegexFullMatch: bool, same shape. BitCast: type `to`, same shape.
///    OptionalHasElement: bool []; SequenceLength: int64 []; OptionalGetElement: the inner type.
/// 2. Binary and variadic: type of input 0, shape = broadcast of all inputs (Broadcast rules).
/// 3. Comparison: bool, broadcast shape.
/// 4. Where: type of input 1, broadcast of all three.
/// 5. Cast: type from `to`; CastLike: type of input 1; shape of input 0; integer values propagate.
/// 6. Add/Sub/Mul/Div on propagated integer values (shape arithmetic) compute the values.
/// 7. Comparisons, Not, And/Or/Xor, Mod, Max, Min and Where on constant integer elements compute
///    them too (the control logic of expanded function bodies).
enum ElementwiseRules {
    static let unary = [
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Erf", "Exp", "Floor",
        "Log", "Neg", "Reciprocal", "Relu", "Round", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign",
        "Sqrt", "Tan", "Tanh", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "HardSwish", "Mish", "ThresholdedRelu",
        "Celu", "Gelu", "Shrink", "BitwiseNot", "Swish", "Clip", "Softmax", "LogSoftmax", "Hardmax",
        "CumSum", "CumProd", "LpNormalization", "LRN", "MeanVarianceNormalization", "Trilu", "ReverseSequence",
        "PRelu",
    ]
    static let binary = [
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "And", "Or", "Xor", "BitwiseAnd", "BitwiseOr",
        "BitwiseXor", "Max", "Min", "Sum", "Mean",
    ]
    static let comparison = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]

    static func register(into r: inout ShapeRuleRegistry) {
        r.register(unary, shortcut: .passThrough) { ctx in ctx.passThrough() }
        r.register("Identity") { ctx in
            ctx.passThrough()
            ctx.setValues(0, ctx.values(0))
        }
        r.register(["IsNaN", "IsInf", "RegexFullMatch"]) { ctx in ctx.setOutput(0, .bool, ctx.dims(0)) }
        r.register("SwiGLU", since: 28) { ctx in ctx.passThrough() }
        r.register("Binarizer", domain: "ai.onnx.ml") { ctx in ctx.passThrough() }
        r.register("BitCast", since: 26) { ctx in
            let to = try ctx.node.int("to")
            ctx.setOutput(0, DataType(rawValue: Int32(truncatingIfNeeded: to)), ctx.dims(0))
        }
        r.register("StringConcat", since: 20) { ctx in ctx.setOutput(0, .string, try Broadcast.inputs(ctx, [0, 1])) }
        r.register("OptionalHasElement", since: 15) { ctx in ctx.setOutput(0, .bool, []) }
        r.register("SequenceLength", since: 11) { ctx in ctx.setOutput(0, .int64, []) }
        r.register("OptionalGetElement", since: 15) { ctx in
            switch ctx.inputType(0) {
            case .other(let t)?:
                if case .optional(let inner?) = t.kind { ctx.setOutput(0, InferredType(inner)) }
            case .tensor(let t, let d)?: ctx.setOutput(0, t, d)
            case nil: break
            }
        }
        // The shortcut is this rule without known elements (the propagations then do nothing).
        r.register(binary, shortcut: .broadcast) { ctx in
            let dims = try Broadcast.inputs(ctx, 0..<ctx.inputCount)
            ctx.setOutput(0, ctx.elementType(0), dims)
            propagateArithmetic(&ctx)
            if ctx.outputValue(0) == nil { propagateConstants(&ctx) }
        }
        r.register(comparison) { ctx in
            ctx.setOutput(0, .bool, try Broadcast.inputs(ctx, [0, 1]))
            propagateConstants(&ctx)
        }
        r.register("Where") { ctx in
            ctx.setOutput(0, ctx.elementType(1) ?? ctx.elementType(2), try Broadcast.inputs(ctx, [0, 1, 2]))
            guard let c = ctx.constantValues(0), let a = ctx.values(1), let b = ctx.values(2) else { return }
            let n = max(c.count, a.count, b.count)
            guard [c.count, a.count, b.count].allSatisfy({ $0 == n || $0 == 1 }) else { return }
            ctx.setValues(0, (0..<n).map { k in
                c[c.count == 1 ? 0 : k] != 0 ? a[a.count == 1 ? 0 : k] : b[b.count == 1 ? 0 : k]
            })
        }
        r.register("Not") { ctx in
            ctx.passThrough()
            if let v = ctx.constantValues(0) { ctx.setValues(0, v.map { .constant($0 == 0 ? 1 : 0) }) }
        }
        r.register("Cast") { ctx in
            let to = try ctx.node.int("to")
            guard let t = DataType(rawValue: Int32(truncatingIfNeeded: to)), t != .undefined else {
                throw ctx.error("attribute 'to' is \(to), not a data type")
            }
            ctx.setOutput(0, t, ctx.dims(0))
            if t.isInteger { ctx.setValues(0, ctx.values(0)) }
        }
        r.register("CastLike") { ctx in
            let t = ctx.elementType(1)
            ctx.setOutput(0, t, ctx.dims(0))
            if t?.isInteger == true { ctx.setValues(0, ctx.values(0)) }
        }
        r.register("Dropout") { ctx in
            ctx.passThrough()
            if ctx.hasOutput(1) { ctx.setOutput(1, .bool, ctx.dims(0)) }
        }
    }

    /// Case 7: comparisons, logic, Mod, Max and Min on constant integer elements.
    static func propagateConstants(_ ctx: inout NodeContext) {
        guard ctx.inputCount == 2, let a = ctx.constantValues(0), let b = ctx.constantValues(1) else { return }
        let op: (Int64, Int64) -> Int64?
        switch ctx.node.opType {
        case "Equal": op = { $0 == $1 ? 1 : 0 }
        case "Less": op = { $0 < $1 ? 1 : 0 }
        case "Greater": op = { $0 > $1 ? 1 : 0 }
        case "LessOrEqual": op = { $0 <= $1 ? 1 : 0 }
        case "GreaterOrEqual": op = { $0 >= $1 ? 1 : 0 }
        case "And": op = { ($0 != 0 && $1 != 0) ? 1 : 0 }
        case "Or": op = { ($0 != 0 || $1 != 0) ? 1 : 0 }
        case "Xor": op = { (($0 != 0) != ($1 != 0)) ? 1 : 0 }
        case "Max": op = { max($0, $1) }
        case "Min": op = { min($0, $1) }
        case "Mod":
            guard (try? ctx.node.int("fmod", default: 0)) == 0 else { return }
            // Integer Mod takes the sign of the divisor.
            op = { x, y in y == 0 ? nil : ((x % y) + y) % y }
        default: return
        }
        let n = max(a.count, b.count)
        guard a.count == n || a.count == 1, b.count == n || b.count == 1 else { return }
        var out: [SymDim] = []
        for k in 0..<n {
            guard let v = op(a[a.count == 1 ? 0 : k], b[b.count == 1 ? 0 : k]) else { return }
            out.append(.constant(v))
        }
        ctx.setValues(0, out)
    }

    /// Case 6: integer values of binary arithmetic (a scalar side broadcasts).
    static func propagateArithmetic(_ ctx: inout NodeContext) {
        guard ctx.inputCount == 2, ctx.elementType(0)?.isInteger == true,
              let a = ctx.values(0), let b = ctx.values(1) else { return }
        let op: (SymDim, SymDim) -> SymDim
        switch ctx.node.opType {
        case "Add": op = (+)
        case "Sub": op = (-)
        case "Mul": op = (*)
        case "Div":
            op = { x, y in
                if let p = x.constantValue, let q = y.constantValue, q != 0 {
                    // Integer Div truncates toward zero, like C.
                    return .constant(p / q)
                }
                return x / y
            }
        default: return
        }
        let n = max(a.count, b.count)
        guard a.count == n || a.count == 1, b.count == n || b.count == 1 else { return }
        ctx.setValues(0, (0..<n).map { op(a[a.count == 1 ? 0 : $0], b[b.count == 1 ? 0 : $0]) })
    }
}

extension DataType {
    var isInteger: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: return true
        default: return false
        }
    }
}
