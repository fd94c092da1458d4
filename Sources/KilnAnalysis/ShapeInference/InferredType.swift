import KilnIR

/// The type of a value during inference: a tensor with symbolic dimensions, or another ONNX type
/// (sequence, optional, map) carried as declared.
public enum InferredType: Hashable, Sendable, CustomStringConvertible {
    /// `dims == nil`: rank unknown. `elementType == nil`: element type unknown.
    case tensor(elementType: DataType?, dims: [SymDim]?)
    /// Boxed: it is rare and `ValueType` is five words, which every inferred type (one per
    /// value, in arrays the size of the graph) would otherwise carry.
    indirect case other(ValueType)

    public init(_ type: ValueType) {
        switch type.kind {
        case .tensor(let t, let s):
            self = .tensor(elementType: t == .undefined ? nil : t, dims: s.map { $0.dims.map(SymDim.init) })
        default:
            self = .other(type)
        }
    }

    public var elementType: DataType? {
        if case .tensor(let t, _) = self { return t }
        return nil
    }

    public var dims: [SymDim]? {
        if case .tensor(_, let d) = self { return d }
        return nil
    }

    /// The IR type; `base` (the declared type) keeps its denotations and preserved fields.
    public func valueType(base: ValueType?) -> ValueType {
        switch self {
        case .other(let t): return t
        case .tensor(let t, let dims):
            var vt = base ?? ValueType(.none)
            var shape: Shape? = nil
            if let dims {
                if case .tensor(_, let old?)? = base?.kind, old.rank == dims.count {
                    shape = old
                    shape!.dims = dims.map(\.dim)
                } else {
                    shape = Shape(dims.map(\.dim))
                }
            }
            vt.kind = .tensor(elementType: t, shape: shape)
            return vt
        }
    }

    public var description: String {
        switch self {
        case .other(let t): return t.description
        case .tensor(let t, let d):
            return "tensor(\(t?.name ?? "?"))" + (d.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "")
        }
    }
}

/// Why a declared type and an inferred one cannot both hold.
struct TypeConflict: Error {
    var message: String
}

extension InferredType {
    /// Merges an inferred type with a declared one (either may be missing).
    ///
    /// Rules:
    /// 1. Element types: both known and different is a conflict; otherwise the known one.
    /// 2. Ranks: both known and different is a conflict; otherwise the known one.
    /// 3. Per dimension: two different constants conflict; a constant wins over a symbol or unknown;
    ///    a declared symbol wins over an inferred one (the user's name is kept); a known symbol wins
    ///    over unknown.
    static func merge(inferred: InferredType?, declared: InferredType?) throws -> InferredType? {
        guard let inferred else { return declared }
        guard let declared else { return inferred }
        switch (inferred, declared) {
        case (.tensor(let it, let idims), .tensor(let dt, let ddims)):
            if let it, let dt, it != dt {
                throw TypeConflict(message: "element type \(it.name) inferred, \(dt.name) declared")
            }
            let elem = it ?? dt
            guard let idims else { return .tensor(elementType: elem, dims: ddims) }
            guard let ddims else { return .tensor(elementType: elem, dims: idims) }
            guard idims.count == ddims.count else {
                throw TypeConflict(message: "rank \(idims.count) inferred, \(ddims.count) declared")
            }
            var out: [SymDim] = []
            for (k, (i, d)) in zip(idims, ddims).enumerated() {
                if let a = i.constantValue, let b = d.constantValue {
                    if a != b {
                        throw TypeConflict(message: "dimension \(k) is \(a) inferred, \(b) declared (shape \(InferredType.tensor(elementType: elem, dims: idims)) inferred, \(declared) declared)")
                    }
                    out.append(i)
                } else if i.constantValue != nil {
                    out.append(i)
                } else if d.constantValue != nil || !d.isUnknown {
                    out.append(d)
                } else {
                    out.append(i)
                }
            }
            return .tensor(elementType: elem, dims: out)
        case (.tensor, .other), (.other, .tensor):
            throw TypeConflict(message: "\(inferred) inferred, \(declared) declared")
        case (.other, .other):
            return declared
        }
    }
}
