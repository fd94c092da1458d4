import KilnIR

/// Comparisons, logical operators, Where and Clip.
enum LogicKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Equal", since: 7, compare(.equal))
        r.register("Less", since: 7, compare(.less))
        r.register("Greater", since: 7, compare(.greater))
        r.register("LessOrEqual", since: 12, compare(.lessOrEqual))
        r.register("GreaterOrEqual", since: 12, compare(.greaterOrEqual))
        r.register("And", since: 7, logical { $0 && $1 })
        r.register("Or", since: 7, logical { $0 || $1 })
        r.register("Xor", since: 7, logical { $0 != $1 })
        r.register("Not", since: 1) { ctx in
            let x = try ctx.tensor(0)
            guard let e = x.elements(as: Bool.self) else { throw ctx.error("input must be bool, got \(x.dataType.name)") }
            return KernelContext.one(TensorValue(shape: x.shape, elements: ContiguousArray(e.map { !$0 })))
        }
        r.register("Where", since: 9) { ctx in
            let (c, x, y) = (try ctx.tensor(0), try ctx.tensor(1), try ctx.tensor(2))
            guard let cond = c.elements(as: Bool.self) else { throw ctx.error("condition must be bool, got \(c.dataType.name)") }
            guard x.dataType == y.dataType else { throw ctx.error("X and Y have different types (\(x.dataType.name), \(y.dataType.name))") }
            guard let out = Broadcast.shape([c.shape, x.shape, y.shape]) else {
                throw ctx.error("shapes \(c.shape), \(x.shape), \(y.shape) do not broadcast")
            }
            let ic = Broadcast.sourceIndices(of: c.shape, in: out)
            let ix = Broadcast.sourceIndices(of: x.shape, in: out)
            let iy = Broadcast.sourceIndices(of: y.shape, in: out)
            // Source positions in the concatenation [x, y].
            let picks = (0..<ic.count).map { cond[ic[$0]] ? ix[$0] : x.count + iy[$0] }
            let both = try TensorStorage.concatenating([x.storage, y.storage], type: x.dataType)
            return KernelContext.one(TensorValue(shape: out, storage: both.gathering(picks)))
        }
        r.register("Clip", since: 6) { ctx in
            let x = try ctx.tensor(0)
            let lo = try castTensor(.scalar(Double(try ctx.float("min", default: -.greatestFiniteMagnitude))), to: x.dataType)
            let hi = try castTensor(.scalar(Double(try ctx.float("max", default: .greatestFiniteMagnitude))), to: x.dataType)
            return KernelContext.one(try dispatchNumeric(x.dataType, "Clip", ClipVisitor(x: x, lo: lo, hi: hi)))
        }
        r.register("Clip", since: 11) { ctx in
            let x = try ctx.tensor(0)
            let lo = try ctx.optionalTensor(1), hi = try ctx.optionalTensor(2)
            for b in [lo, hi] {
                if let b, b.dataType != x.dataType || b.count != 1 {
                    throw ctx.error("min and max must be scalars of the input's type")
                }
            }
            return KernelContext.one(try dispatchNumeric(x.dataType, "Clip", ClipVisitor(x: x, lo: lo, hi: hi)))
        }
    }

    static func compare(_ op: Comparison) -> Kernel {
        { ctx in
            var (a, b) = (try ctx.tensor(0), try ctx.tensor(1))
            guard a.dataType == b.dataType else {
                throw ctx.error("inputs have different types (\(a.dataType.name), \(b.dataType.name))")
            }
            guard let out = Broadcast.shape([a.shape, b.shape]) else {
                throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
            }
            if a.dataType == .bool {
                a = try castTensor(a, to: .uint8)
                b = try castTensor(b, to: .uint8)
            }
            if let sa = a.elements(as: String.self), let sb = b.elements(as: String.self) {
                guard op == .equal else { throw ctx.unsupported("strings can only be compared for equality") }
                return KernelContext.one(TensorValue(shape: out, elements: Broadcast.binary(sa, a.shape, sb, b.shape, outShape: out) { $0 == $1 }))
            }
            return KernelContext.one(try dispatchNumeric(a.dataType, ctx.node.opType, CompareVisitor(a: a, b: b, outShape: out, op: op)))
        }
    }

    static func logical(_ f: @escaping @Sendable (Bool, Bool) -> Bool) -> Kernel {
        { ctx in
            let (a, b) = (try ctx.tensor(0), try ctx.tensor(1))
            guard let ea = a.elements(as: Bool.self), let eb = b.elements(as: Bool.self) else {
                throw ctx.error("inputs must be bool, got \(a.dataType.name) and \(b.dataType.name)")
            }
            guard let out = Broadcast.shape([a.shape, b.shape]) else {
                throw ctx.error("shapes \(a.shape) and \(b.shape) do not broadcast")
            }
            return KernelContext.one(TensorValue(shape: out, elements: Broadcast.binary(ea, a.shape, eb, b.shape, outShape: out, f)))
        }
    }
}

enum Comparison: Sendable {
    case equal, less, greater, lessOrEqual, greaterOrEqual

    @inline(__always)
    func apply<T: Comparable>(_ a: T, _ b: T) -> Bool {
        switch self {
        case .equal: a == b
        case .less: a < b
        case .greater: a > b
        case .lessOrEqual: a <= b
        case .greaterOrEqual: a >= b
        }
    }
}

struct CompareVisitor: NumericTypeVisitor {
    let a: TensorValue, b: TensorValue, outShape: [Int], op: Comparison
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        TensorValue(shape: outShape, elements: Broadcast.binary(a.elements(as: T.self)!, a.shape, b.elements(as: T.self)!, b.shape,
                                                                outShape: outShape) { op.apply($0, $1) })
    }
}

struct ClipVisitor: NumericTypeVisitor {
    let x: TensorValue, lo: TensorValue?, hi: TensorValue?
    func visit<T: NumericElement>(_ type: T.Type) -> TensorValue {
        let l = lo?.elements(as: T.self)?.first, h = hi?.elements(as: T.self)?.first
        let e = x.elements(as: T.self)!
        return TensorValue(shape: x.shape, elements: ContiguousArray(e.map { v -> T in
            var v = v
            if v.isNaN { return v }
            if let l, v < l { v = l }
            if let h, v > h { v = h }
            return v
        }))
    }
}
