import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise unary operators.
///
/// Floating-point functions are one `(Double) -> Double` each: every float type (float16,
/// bfloat16, float, double) converts to Double, applies it and rounds back once, so the dtype
/// dispatch lives in `FloatMap` alone. Operators defined on integers too (Abs, Neg, Sign, Relu)
/// go through `NumericMap`.
enum UnaryKernels {
    static func register(into r: inout KernelRegistry) {
        let plain: [(String, Int, @Sendable (Double) -> Double)] = [
            ("Exp", 6, { exp($0) }), ("Log", 6, { log($0) }), ("Sqrt", 6, { sqrt($0) }),
            ("Reciprocal", 6, { 1 / $0 }), ("Floor", 6, { $0.rounded(.down) }), ("Ceil", 6, { $0.rounded(.up) }),
            ("Round", 11, { $0.rounded(.toNearestOrEven) }),
            ("Sigmoid", 6, { x in x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }),
            ("Tanh", 6, { tanh($0) }), ("Erf", 9, { erf($0) }),
            ("Sin", 7, { sin($0) }), ("Cos", 7, { cos($0) }), ("Tan", 7, { tan($0) }),
            ("Asin", 7, { asin($0) }), ("Acos", 7, { acos($0) }), ("Atan", 7, { atan($0) }),
            ("Sinh", 9, { sinh($0) }), ("Cosh", 9, { cosh($0) }), ("Asinh", 9, { asinh($0) }),
            ("Acosh", 9, { acosh($0) }), ("Atanh", 9, { atanh($0) }),
            ("Softplus", 1, { x in x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }),
            ("Softsign", 1, { $0 / (1 + abs($0)) }),
            ("HardSwish", 14, { x in x * max(0, min(1, x / 6 + 0.5)) }),
            ("Mish", 18, { x in x * tanh(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))) }),
        ]
        // float32 versions computed in Float (libm's float functions, within 1 ulp): the Double
        // round trip costs more than the function for most of them. Each is a type, so its call
        // is inlined into the loop (a closure would cost two reabstraction thunks per element).
        let float32: [String: Float32Map] = [
            "Exp": float32Map(ExpF()), "Log": float32Map(LogF()), "Sqrt": float32Map(SqrtF()), "Tanh": float32Map(TanhF()),
            "Erf": float32Map(ErfF()), "Reciprocal": float32Map(ReciprocalF()), "Floor": float32Map(FloorF()),
            "Ceil": float32Map(CeilF()), "Sigmoid": float32Map(SigmoidF()),
        ]
        for (op, since, f) in plain {
            r.register(op, since: since, floatUnary(float32: float32[op]) { _ in f })
        }
        r.register("LeakyRelu", since: 6, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 0.01))
            return { x in x >= 0 ? x : alpha * x }
        })
        r.register("Elu", since: 6, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 1))
            return { x in x >= 0 ? x : alpha * (exp(x) - 1) }
        })
        r.register("Celu", since: 12, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 1))
            return { x in max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) }
        })
        r.register("Selu", since: 6, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 1.67326319217681884765625))
            let gamma = Double(try ctx.float("gamma", default: 1.05070102214813232421875))
            return { x in x > 0 ? gamma * x : gamma * (alpha * exp(x) - alpha) }
        })
        r.register("HardSigmoid", since: 6, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 0.2))
            let beta = Double(try ctx.float("beta", default: 0.5))
            return { x in max(0, min(1, alpha * x + beta)) }
        })
        r.register("ThresholdedRelu", since: 10, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 1))
            return { x in x > alpha ? x : 0 }
        })
        r.register("Swish", since: 24, floatUnary { ctx in
            let alpha = Double(try ctx.float("alpha", default: 1))
            return { x in x / (1 + exp(-alpha * x)) }
        })
        r.register("Gelu", since: 20, floatUnary { ctx in
            switch try ctx.string("approximate", default: "none") {
            case "none": return { x in 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }
            case "tanh":
                let c = (2 / Double.pi).squareRoot()
                return { x in 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x))) }
            case let other: throw ctx.unsupported("approximate '\(other)' is not supported (none, tanh)")
            }
        })

        r.register("Abs", since: 6, numericUnary(AbsOp()))
        r.register("Neg", since: 6, numericUnary(NegOp()))
        r.register("Sign", since: 9, numericUnary(SignOp()))
        r.register("Relu", since: 6, numericUnary(ReluOp()))
        r.register("Shrink", since: 9) { ctx in
            let bias = try ctx.float("bias", default: 0), lambd = try ctx.float("lambd", default: 0.5)
            return KernelContext.one(try dispatchNumeric(ctx.tensor(0).dataType, "Shrink",
                                                         NumericMap(x: ctx.tensor(0), op: ShrinkOp(bias: Double(bias), lambd: Double(lambd)))))
        }
        r.register("IsNaN", since: 9) { ctx in
            let x = try ctx.tensor(0)
            return KernelContext.one(try dispatchFloat(x.dataType, "IsNaN", FloatPredicate(x: x) { $0.isNaN }))
        }
        r.register("IsInf", since: 10) { ctx in
            let x = try ctx.tensor(0)
            let neg = try ctx.int("detect_negative", default: 1) != 0, pos = try ctx.int("detect_positive", default: 1) != 0
            return KernelContext.one(try dispatchFloat(x.dataType, "IsInf", FloatPredicate(x: x) {
                $0.isInfinite && (($0 > 0 && pos) || ($0 < 0 && neg))
            }))
        }
    }

    /// A kernel applying a float function built from the node's attributes to input 0.
    /// A float32 elementwise function over a whole array with `threads`.
    typealias Float32Map = @Sendable (ContiguousArray<Float>, Int) -> ContiguousArray<Float>

    static func float32Map<F: ElementwiseUnary & Sendable>(_ f: F) -> Float32Map where F.A == Float, F.R == Float {
        { e, threads in mapElements(e, threads: threads, function: f) }
    }

    static func floatUnary(float32: Float32Map? = nil,
                           _ make: @escaping @Sendable (KernelContext) throws -> @Sendable (Double) -> Double) -> Kernel {
        { ctx in
            let x = try ctx.tensor(0)
            if let float32, let e = x.elements(as: Float.self) {
                return KernelContext.one(TensorValue(shape: x.shape, elements: float32(e, ctx.threads)))
            }
            let f = try make(ctx)
            return KernelContext.one(try dispatchFloat(x.dataType, ctx.node.opType, FloatMap(x: x, f: f, threads: ctx.threads)))
        }
    }

    static func numericUnary<Op: NumericUnaryOp>(_ op: Op) -> Kernel {
        { ctx in
            let x = try ctx.tensor(0)
            return KernelContext.one(try dispatchNumeric(x.dataType, ctx.node.opType, NumericMap(x: x, op: op, threads: ctx.threads)))
        }
    }
}

/// `f` over every element of a floating-point tensor, computed in Double.
struct FloatMap: FloatTypeVisitor {
    let x: TensorValue
    let f: (Double) -> Double
    var threads = 1
    func visit<T: FloatElement>(_ type: T.Type) -> TensorValue {
        let e = x.elements(as: T.self)!
        if let fe = x.elements(as: Float.self) {
            return TensorValue(shape: x.shape, elements: mapElements(fe, threads: threads) { Float(f(Double($0))) })
        }
        return TensorValue(shape: x.shape, elements: mapElements(e, threads: threads) { T(double: f($0.doubleValue)) })
    }
}

/// A boolean predicate over a floating-point tensor (IsNaN, IsInf).
struct FloatPredicate: FloatTypeVisitor {
    let x: TensorValue
    let p: (Double) -> Bool
    func visit<T: FloatElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: x.shape, elements: ContiguousArray(x.elements(as: T.self)!.map { p($0.doubleValue) }))
    }
}

/// A unary operation defined for every numeric type.
protocol NumericUnaryOp: Sendable {
    func apply<T: NumericElement>(_ x: T) -> T
}

struct NumericMap<Op: NumericUnaryOp>: NumericTypeVisitor {
    let x: TensorValue
    let op: Op
    var threads = 1
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: x.shape, elements: mapElements(x.elements(as: T.self)!, threads: threads, function: UnaryFunction<Op, T>(op: op)))
    }
}

// float32 functions of the unary operators (UnaryKernels.register).
struct ExpF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { expf(x) } }
struct LogF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { logf(x) } }
struct SqrtF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
struct TanhF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { tanhf(x) } }
struct ErfF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { erff(x) } }
struct ReciprocalF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { 1 / x } }
struct FloorF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.rounded(.down) } }
struct CeilF: ElementwiseUnary, Sendable { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.rounded(.up) } }
struct SigmoidF: ElementwiseUnary, Sendable {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x)) }
}

/// `op` on elements of `T`, as an `ElementwiseUnary` (inlined into the loop).
struct UnaryFunction<Op: NumericUnaryOp, T: NumericElement>: ElementwiseUnary {
    let op: Op
    @inline(__always) func callAsFunction(_ x: T) -> T { op.apply(x) }
}

struct AbsOp: NumericUnaryOp {
    func apply<T: NumericElement>(_ x: T) -> T { x < T.zero ? T.negate(x) : x }
}
struct NegOp: NumericUnaryOp {
    func apply<T: NumericElement>(_ x: T) -> T { T.negate(x) }
}
struct SignOp: NumericUnaryOp {
    func apply<T: NumericElement>(_ x: T) -> T {
        x.isNaN ? x : (x > T.zero ? T.one : (x < T.zero ? T.negate(T.one) : T.zero))
    }
}
struct ReluOp: NumericUnaryOp {
    func apply<T: NumericElement>(_ x: T) -> T { x < T.zero ? T.zero : x }
}
struct ShrinkOp: NumericUnaryOp {
    let bias: Double, lambd: Double
    func apply<T: NumericElement>(_ x: T) -> T {
        let d = x.doubleValue
        if d < -lambd { return T(double: d + bias) }
        if d > lambd { return T(double: d - bias) }
        return T.zero
    }
}
