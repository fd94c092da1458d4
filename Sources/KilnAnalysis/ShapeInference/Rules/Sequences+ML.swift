import KilnIR

/// Sequences and optionals, and the simple ai.onnx.ml transformers.
///
/// Cases:
/// 1. SequenceEmpty: seq(tensor(dtype)) (float by default); SequenceConstruct: seq of input 0's
///    tensor type (dims kept only where all inputs agree); SequenceInsert/SequenceErase: input 0's
///    type; SequenceAt: the element type of the sequence. Optional: optional(type of input 0 or
///    the `type` attribute).
///    ConcatFromSequence: the element's dims with the concatenated axis unknown (inserted, unknown,
///    with `new_axis`). SplitToSequence: a sequence of input 0's dims with the split axis 1
///    (no `split`; removed when keepdims is 0), the common part size for a constant `split`
///    (a scalar dividing a constant dim, or equal sizes), else unknown.
/// 2. ml Scaler, Normalizer: float, the input's shape; Imputer: the input's type and shape;
///    LabelEncoder: the input's shape, element type from the `values_*` attribute present.
///    ArrayFeatureExtractor: X's dims but the last, then the number of indices. TreeEnsemble (5):
///    [N, n_targets], X's type. TfIdfVectorizer: float, [max(ngram_indexes) + 1] after the batch dim.
///    StringNormalizer: string, X's dims with the last unknown (stopwords). CategoryMapper: X's shape, string <-> int64. Linear/TreeEnsemble regressors: float
///    [N, targets]; classifiers: labels [N] (string or int64), scores float [N, ?].
/// 3. ml OneHotEncoder: float, X's dims then the number of categories. FeatureVectorizer: float
///    [N, sum(inputdimensions)]. SVMRegressor: float [N, 1]. CastMap: [1, max_map] (SPARSE) or
///    [1, ?] (DENSE: as many as the map has keys), of the `cast_to` type. DictVectorizer: the
///    map's value type; rank left unknown (the spec says 1-D, onnxruntime gives [1, vocabulary]).
///    ZipMap: seq(map(string or int64, float)).
enum SequenceAndMLRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("SequenceEmpty", since: 11) { ctx in
            let dtype = try ctx.node.int("dtype", default: Int64(DataType.float.rawValue))
            let elem = DataType(rawValue: Int32(truncatingIfNeeded: dtype))
            ctx.setOutput(0, .other(ValueType(.sequence(.tensor(elem ?? .float, nil)))))
        }
        r.register("SequenceConstruct", since: 11) { ctx in
            var joined = ctx.inputType(0)
            for i in 1..<max(1, ctx.inputCount) { joined = try ControlFlowRules.join(joined, ctx.inputType(i), ctx) }
            guard let joined, case .tensor = joined else { return }
            ctx.setOutput(0, .other(ValueType(.sequence(joined.valueType(base: nil)))))
        }
        r.register(["SequenceInsert", "SequenceErase"], since: 11) { ctx in ctx.passThrough() }
        r.register("SequenceAt", since: 11) { ctx in
            if case .other(let t)? = ctx.inputType(0), case .sequence(let e?) = t.kind { ctx.setOutput(0, InferredType(e)) }
        }
        r.register("Optional", since: 15) { ctx in
            if ctx.hasInput(0), let t = ctx.inputType(0) {
                ctx.setOutput(0, .other(ValueType(.optional(t.valueType(base: nil)))))
            } else if case .type(let t)? = ctx.node.attribute("type")?.value {
                ctx.setOutput(0, .other(ValueType(.optional(t))))
            }
        }
        r.register("ConcatFromSequence", since: 11) { ctx in
            guard case .other(let t)? = ctx.inputType(0), case .sequence(let e?) = t.kind,
                  case .tensor(let type, let d) = InferredType(e) else { return }
            guard var dims = d else { return ctx.setOutput(0, type, nil) }
            let newAxis = try ctx.node.int("new_axis", default: 0)
            guard newAxis == 0 || newAxis == 1 else { throw ctx.error("new_axis must be 0 or 1, got \(newAxis)") }
            let a = try ctx.axis(try ctx.node.int("axis"), rank: dims.count + Int(newAxis))
            if newAxis == 1 { dims.insert(.unknown, at: a) } else { dims[a] = .unknown }
            ctx.setOutput(0, type, dims)
        }
        r.register("SplitToSequence", since: 11) { ctx in
            let type = ctx.elementType(0)
            func out(_ dims: [SymDim]?) {
                ctx.setOutput(0, .other(ValueType(.sequence(InferredType.tensor(elementType: type, dims: dims).valueType(base: nil)))))
            }
            guard var x = ctx.dims(0) else { return out(nil) }
            let a = try ctx.axis(try ctx.node.int("axis", default: 0), rank: x.count)
            guard ctx.hasInput(1) else {
                if try ctx.node.int("keepdims", default: 1) == 0 { x.remove(at: a) } else { x[a] = .constant(1) }
                return out(x)
            }
            var part = SymDim.unknown
            if let split = ctx.constantValues(1) {
                if ctx.rank(1) == 0, let s = split.first, let whole = x[a].constantValue, s > 0, whole % s == 0 {
                    part = .constant(s)
                } else if ctx.rank(1) == 1, let s = split.first, split.allSatisfy({ $0 == s }) {
                    part = .constant(s)
                }
            }
            x[a] = part
            out(x)
        }
        let ml = "ai.onnx.ml"
        r.register("OneHotEncoder", domain: ml) { ctx in
            var cats = try ctx.node.ints("cats_int64s", default: []).count
            if case .strings(let s)? = ctx.node.attribute("cats_strings")?.value { cats = s.count }
            ctx.setOutput(0, .float, ctx.dims(0).map { $0 + [.constant(Int64(cats))] })
        }
        r.register("FeatureVectorizer", domain: ml) { ctx in
            let widths = try ctx.node.ints("inputdimensions", default: [])
            ctx.setOutput(0, .float, [mlBatch(ctx), .constant(widths.reduce(0, +))])
        }
        r.register("SVMRegressor", domain: ml) { ctx in ctx.setOutput(0, .float, [mlBatch(ctx), .constant(1)]) }
        r.register("CastMap", domain: ml) { ctx in
            let to: DataType
            switch try ctx.node.string("cast_to", default: "TO_FLOAT") {
            case "TO_FLOAT": to = .float
            case "TO_STRING": to = .string
            case "TO_INT64": to = .int64
            case let other: throw ctx.error("cast_to '\(other)' is not TO_FLOAT, TO_STRING or TO_INT64")
            }
            let sparse = try ctx.node.string("map_form", default: "DENSE") == "SPARSE"
            ctx.setOutput(0, to, [.constant(1), sparse ? .constant(try ctx.node.int("max_map", default: 1)) : .unknown])
        }
        r.register("DictVectorizer", domain: ml) { ctx in
            guard case .other(let t)? = ctx.inputType(0), case .map(_, let v?) = t.kind else { return }
            ctx.setOutput(0, InferredType(v).elementType, nil)
        }
        r.register("ZipMap", domain: ml) { ctx in
            let key: DataType = ctx.node.attribute("classlabels_strings") != nil ? .string : .int64
            let map = ValueType(.map(keyType: key, valueType: ValueType(.tensor(elementType: .float, shape: nil))))
            ctx.setOutput(0, .other(ValueType(.sequence(map))))
        }
        r.register(["Scaler", "Normalizer"], domain: ml) { ctx in ctx.setOutput(0, .float, ctx.dims(0)) }
        r.register("Imputer", domain: ml) { ctx in ctx.passThrough() }
        r.register("ArrayFeatureExtractor", domain: ml) { ctx in
            guard let x = ctx.dims(0), !x.isEmpty, let y = ctx.dims(1) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
            ctx.setOutput(0, ctx.elementType(0), Array(x.dropLast()) + [y.product])
        }
        r.register("TfIdfVectorizer", since: 9) { ctx in
            let indexes = try ctx.node.ints("ngram_indexes")
            let width = SymDim.constant((indexes.max() ?? -1) + 1)
            guard let x = ctx.dims(0) else { return ctx.setOutput(0, .float, nil) }
            switch x.count {
            case 1: ctx.setOutput(0, .float, [width])
            case 2: ctx.setOutput(0, .float, [x[0], width])
            default: throw ctx.error("input must have rank 1 or 2, got \(x.count)")
            }
        }
        r.register("StringNormalizer", since: 10) { ctx in
            // Stopwords may remove any number of strings: the last dim is unknown.
            ctx.setOutput(0, .string, ctx.dims(0).map { $0.isEmpty ? $0 : Array($0.dropLast()) + [.unknown] })
        }
        r.register("CategoryMapper", domain: ml) { ctx in
            ctx.setOutput(0, ctx.elementType(0) == .string ? .int64 : .string, ctx.dims(0))
        }
        r.register(["LinearRegressor", "TreeEnsembleRegressor"], domain: ml) { ctx in
            let n: SymDim = ctx.dims(0).map { $0.count == 2 ? $0[0] : ($0.count == 1 ? .constant(1) : .unknown) } ?? .unknown
            let targets = try ctx.node.int(ctx.node.opType == "LinearRegressor" ? "targets" : "n_targets", default: 1)
            ctx.setOutput(0, .float, [n, .constant(targets)])
        }
        r.register(["LinearClassifier", "TreeEnsembleClassifier", "SVMClassifier"], domain: ml) { ctx in
            let n: SymDim = ctx.dims(0).map { $0.count == 2 ? $0[0] : ($0.count == 1 ? .constant(1) : .unknown) } ?? .unknown
            let labels: DataType = ctx.node.attribute("classlabels_strings") != nil ? .string : .int64
            ctx.setOutput(0, labels, [n])
            if ctx.hasOutput(1) { ctx.setOutput(1, .float, [n, .unknown]) }
        }
        r.register("TreeEnsemble", domain: ml, since: 5) { ctx in
            let n = ctx.dims(0)?.first ?? .unknown
            ctx.setOutput(0, ctx.elementType(0), [n, .constant(try ctx.node.int("n_targets"))])
        }
        r.register("LabelEncoder", domain: ml) { ctx in
            let n = ctx.node
            let type: DataType? = n.attribute("values_strings") != nil ? .string
                : n.attribute("values_int64s") != nil ? .int64
                : n.attribute("values_floats") != nil ? .float
                : (try n.tensor("values_tensor"))?.dataType
            ctx.setOutput(0, type, ctx.dims(0))
        }
    }

    /// The batch dim of an ml operator's [N, C] (or [C]: one row) input 0.
    static func mlBatch(_ ctx: NodeContext) -> SymDim {
        ctx.dims(0).map { $0.count == 2 ? $0[0] : ($0.count == 1 ? .constant(1) : .unknown) } ?? .unknown
    }
}
