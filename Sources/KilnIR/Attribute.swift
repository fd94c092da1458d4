/// A node or function attribute: a name and a typed value (ONNX `AttributeProto`).
public struct Attribute: Hashable, Sendable {
    public indirect enum Value: Hashable, Sendable {
        case float(Float)
        case int(Int64)
        case string([UInt8])
        case tensor(Tensor)
        case graph(Graph)
        case sparseTensor(SparseTensor)
        case type(ValueType)
        case floats([Float])
        case ints([Int64])
        case strings([[UInt8]])
        case tensors([Tensor])
        case graphs([Graph])
        case sparseTensors([SparseTensor])
        case types([ValueType])
        /// A declared attribute with no value (`type: UNDEFINED`), as in a function's attribute list
        /// or a reference (`ref_attr_name`) whose type is left out.
        case undefined

        /// The ONNX `AttributeType` name (`INT`, `FLOATS`, ...).
        public var typeName: String {
            switch self {
            case .float: return "FLOAT"
            case .int: return "INT"
            case .string: return "STRING"
            case .tensor: return "TENSOR"
            case .graph: return "GRAPH"
            case .sparseTensor: return "SPARSE_TENSOR"
            case .type: return "TYPE_PROTO"
            case .floats: return "FLOATS"
            case .ints: return "INTS"
            case .strings: return "STRINGS"
            case .tensors: return "TENSORS"
            case .graphs: return "GRAPHS"
            case .sparseTensors: return "SPARSE_TENSORS"
            case .types: return "TYPE_PROTOS"
            case .undefined: return "UNDEFINED"
            }
        }
    }

    public var name: String
    public var value: Value
    /// In a function body: the name of the function attribute this one refers to.
    public var refAttrName: String?
    public var docString: String
    public var presence: FieldPresence
    public var preserved: PreservedFields

    public init(_ name: String, _ value: Value, refAttrName: String? = nil) {
        self.name = name
        self.value = value
        self.refAttrName = refAttrName
        self.docString = ""
        self.presence = FieldPresence()
        self.preserved = PreservedFields()
    }

    /// The subgraphs this attribute holds (one for GRAPH, several for GRAPHS).
    public var subgraphs: [Graph] {
        switch value {
        case .graph(let g): return [g]
        case .graphs(let gs): return gs
        default: return []
        }
    }
}
