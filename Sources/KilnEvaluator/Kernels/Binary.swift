import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise binary and variadic arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Pow,
/// Mod, Max, Min, Sum, Mean, PRelu, BitShift, Bitwise*).
///
/// Broadcasting lives in `Broadcast.binary`, dtype dispatch in `dispatchNumeric`; an operator is
/// one `BinaryArithmetic` value. Opsets before 7 used an explicit `broadcast`/`axis` attribute
/// form and are not registered (refused by name).
enum BinaryKernels {
    static func register(into r: inout KernelRegistry) {
        // SwiGLU: (a * sigmoid(alpha * a)) * b, same shapes, no broadcasting; the swish factor is
        // rounded to the input type first, as the reference.
        r.register("SwiGLU", since: 26) { ctx in
            let a = try ctx.tensor(0), b = try ctx.tensor(1)
            guard a.shape == b.shape, a.dataType == b.dataType else { throw ctx.error("A and B must have the same shape and type") }
            guard a.dataType.isFloatingPoint else { throw unsupportedType(a.dataType, ctx.node.opType) }
            let alpha = Double(try ctx.float("alpha", default: 1))
            let av = a.doubles, bv = b.doubles
            let gate = try castTensor(TensorValue(shape: a.shape, av.map { 1 / (1 + exp(-alpha * $0)) }), to: a.dataType).doubles
            let swish = try castTensor(TensorValue(shape: a.shape, (0..<av.count).map { av[$0] * gate[$0] }), to: a.dataType).doubles
            return KernelContext.one(try castTensor(TensorValue(shape: a.shape, (0..<av.count).map { swish[$0] * bv[$0] }), to: a.dataType))
        }
        // StringConcat: elementwise concatenation of two broadcast string tensors.
        r.register("StringConcat", since: 20) { ctx in
            let a = try ctx.tensor(0), b = try ctx.tensor(1)
            guard let av = a.elements(as: String.self), let bv = b.elements(as: String.self) else { throw ctx.error("inputs must be strings") }
            guard let shape = Broadcast.shape([a.shape, b.shape]) else { throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast") }
            let ia = Broadcast.sourceIndices(of: a.shape, in: shape), ib = Broadcast.sourceIndices(of: b.shape, in: shape)
            return KernelContext.one(TensorValue(shape: shape, elements: ContiguousArray((0..<ia.count).map { av[ia[$0]] + bv[ib[$0]] })))
        }
        r.register("Add", since: 7, binary(AddOp()))
        r.register("Sub", since: 7, binary(SubOp()))
        r.register("Mul", since: 7, binary(MulOp()))
        r.register("Div", since: 7, binary(DivOp()))
        r.register("Mod", since: 10) { ctx in
            let fmod = try ctx.int("fmod", default: 0) != 0
            return try binary(ModOp(fmod: fmod))(ctx)
        }
        r.register("Pow", since: 7) { ctx in
            var (a, b) = (try ctx.tensor(0), try ctx.tensor(1))
            // The exponent may have another type (opset 12+); compute in the base's type.
            if b.dataType != a.dataType { b = try castTensor(b, to: a.dataType) }
            // x^2 (LayerNorm's variance as torch exports it) is x * x: the same correctly rounded value.
            if b.count == 1, b.doubles[0] == 2, a.dataType.isFloatingPoint {
                return KernelContext.one(try applyBinary(MulOp(), a, a, ctx))
            }
            return KernelContext.one(try applyBinary(PowOp(), a, b, ctx))
        }
        r.register("Max", since: 8, variadic(MaxOp()))
        r.register("Min", since: 8, variadic(MinOp()))
        r.register("Sum", since: 8, variadic(AddOp()))
        r.register("Mean", since: 8) { ctx in
            let ts = try ctx.allTensors()
            let sum = try fold(ts, AddOp(), ctx)
            let n = TensorValue(shape: [], storage: try castTensor(.scalar(Double(ts.count)), to: sum.dataType).storage)
            return KernelContext.one(try applyBinary(DivOp(), sum, n, ctx))
        }
        r.register("PRelu", since: 7) { ctx in
            KernelContext.one(try applyBinary(PReluOp(), ctx.tensor(0), ctx.tensor(1), ctx))
        }
        r.register("BitShift", since: 11) { ctx in
            let left = try ctx.string("direction") == "LEFT"
            return try integerBinary(ShiftOp(left: left))(ctx)
        }
        r.register("BitwiseAnd", since: 18, integerBinary(BitwiseOp(kind: 0)))
        r.register("BitwiseOr", since: 18, integerBinary(BitwiseOp(kind: 1)))
        r.register("BitwiseXor", since: 18, integerBinary(BitwiseOp(kind: 2)))
        r.register("BitwiseNot", since: 18) { ctx in
            let x = try ctx.tensor(0)
            return KernelContext.one(try dispatchInteger(x.dataType, "BitwiseNot", IntegerMap(x: x)))
        }
    }

    static func binary<Op: BinaryArithmetic>(_ op: Op) -> Kernel {
        { ctx in KernelContext.one(try applyBinary(op, ctx.tensor(0), ctx.tensor(1), ctx)) }
    }

    static func variadic<Op: BinaryArithmetic>(_ op: Op) -> Kernel {
        { ctx in KernelContext.one(try fold(ctx.allTensors(), op, ctx)) }
    }

    static func integerBinary<Op: IntegerArithmetic>(_ op: Op) -> Kernel {
        { ctx in
            let (a, b) = (try ctx.tensor(0), try ctx.tensor(1))
            let out = try outShape(a, b, ctx)
            return KernelContext.one(try dispatchInteger(a.dataType, ctx.node.opType, IntegerBinaryVisitor(a: a, b: b, outShape: out, op: op)))
        }
    }

    static func fold<Op: BinaryArithmetic>(_ ts: [TensorValue], _ op: Op, _ ctx: KernelContext) throws -> TensorValue {
        guard var acc = ts.first else { throw ctx.error("needs at least one input") }
        for t in ts.dropFirst() { acc = try applyBinary(op, acc, t, ctx) }
        return acc
    }

    static func outShape(_ a: TensorValue, _ b: TensorValue, _ ctx: KernelContext) throws -> [Int] {
        guard a.dataType == b.dataType else {
            throw ctx.error("inputs have different types (\(a.dataType.name), \(b.dataType.name))")
        }
        guard let s = Broadcast.shape([a.shape, b.shape]) else {
            throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        return s
    }

    static func applyBinary<Op: BinaryArithmetic>(_ op: Op, _ a: TensorValue, _ b: TensorValue, _ ctx: KernelContext) throws -> TensorValue {
        let out = try outShape(a, b, ctx)
        return try dispatchNumeric(a.dataType, ctx.node.opType, BinaryVisitor(a: a, b: b, outShape: out, op: op, threads: ctx.threads))
    }
}

/// A binary operation defined for every numeric type.
protocol BinaryArithmetic: Sendable {
    func apply<T: NumericElement>(_ a: T, _ b: T) -> T
}

struct BinaryVisitor<Op: BinaryArithmetic>: NumericTypeVisitor {
    let a: TensorValue, b: TensorValue, outShape: [Int], op: Op
    var threads = 1
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: outShape, elements: Broadcast.binary(a.elements(as: T.self)!, a.shape, b.elements(as: T.self)!, b.shape,
                                                                outShape: outShape, threads: threads,
                                                                function: ArithmeticFunction<Op, T>(op: op)))
    }
}

/// `op` on elements of `T`, as an `ElementwiseBinary` (inlined into the broadcasting loop).
struct ArithmeticFunction<Op: BinaryArithmetic, T: NumericElement>: ElementwiseBinary {
    let op: Op
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { op.apply(a, b) }
}

struct AddOp: BinaryArithmetic { func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.add(a, b) } }
struct SubOp: BinaryArithmetic { func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.subtract(a, b) } }
struct MulOp: BinaryArithmetic { func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.multiply(a, b) } }
struct DivOp: BinaryArithmetic { func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.divide(a, b) } }
struct PowOp: BinaryArithmetic { func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.power(a, b) } }
struct ModOp: BinaryArithmetic {
    let fmod: Bool
    func apply<T: NumericElement>(_ a: T, _ b: T) -> T { T.remainder(a, b, fmod: fmod) }
}
/// numpy `maximum`/`minimum`: NaN propagates.
struct MaxOp: BinaryArithmetic {
    func apply<T: NumericElement>(_ a: T, _ b: T) -> T { a.isNaN ? a : (b.isNaN ? b : (a < b ? b : a)) }
}
struct MinOp: BinaryArithmetic {
    func apply<T: NumericElement>(_ a: T, _ b: T) -> T { a.isNaN ? a : (b.isNaN ? b : (b < a ? b : a)) }
}
struct PReluOp: BinaryArithmetic {
    func apply<T: NumericElement>(_ a: T, _ b: T) -> T { a < T.zero ? T.multiply(a, b) : a }
}

/// A binary operation on integers (shifts, bitwise).
protocol IntegerArithmetic: Sendable {
    func apply<T: IntegerElement>(_ a: T, _ b: T) -> T
}

struct IntegerBinaryVisitor<Op: IntegerArithmetic>: IntegerTypeVisitor {
    let a: TensorValue, b: TensorValue, outShape: [Int], op: Op
    func visit<T: IntegerElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: outShape, elements: Broadcast.binary(a.elements(as: T.self)!, a.shape, b.elements(as: T.self)!, b.shape,
                                                                outShape: outShape) { op.apply($0, $1) })
    }
}

struct ShiftOp: IntegerArithmetic {
    let left: Bool
    func apply<T: IntegerElement>(_ a: T, _ b: T) -> T {
        // Out-of-range shifts (negative or at least the width) shift everything out: 0, or -1
        // for a right shift of a negative signed value.
        if b < 0 || b >= T(truncatingIfNeeded: T.bitWidth) { return left || a >= 0 ? 0 : ~0 }
        return left ? a << b : a >> b
    }
}

struct BitwiseOp: IntegerArithmetic {
    let kind: Int
    func apply<T: IntegerElement>(_ a: T, _ b: T) -> T {
        switch kind {
        case 0: return a & b
        case 1: return a | b
        default: return a ^ b
        }
    }
}

struct IntegerMap: IntegerTypeVisitor {
    let x: TensorValue
    func visit<T: IntegerElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: x.shape, elements: ContiguousArray(x.elements(as: T.self)!.map { ~$0 }))
    }
}
