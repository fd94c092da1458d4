import KilnIR

extension OperatorSchema {
    /// The type of an attribute, numbered as ONNX's `AttributeProto.AttributeType`.
    public enum AttributeType: Int, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        case undefined = 0
        case float = 1
        case int = 2
        case string = 3
        case tensor = 4
        case graph = 5
        case floats = 6
        case ints = 7
        case strings = 8
        case tensors = 9
        case graphs = 10
        case sparseTensor = 11
        case sparseTensors = 12
        case typeProto = 13
        case typeProtos = 14

        /// The ONNX spelling (`INT`, `SPARSE_TENSORS`, `TYPE_PROTO`), as in the schema table.
        public var name: String {
            switch self {
            case .undefined: return "UNDEFINED"
            case .float: return "FLOAT"
            case .int: return "INT"
            case .string: return "STRING"
            case .tensor: return "TENSOR"
            case .graph: return "GRAPH"
            case .floats: return "FLOATS"
            case .ints: return "INTS"
            case .strings: return "STRINGS"
            case .tensors: return "TENSORS"
            case .graphs: return "GRAPHS"
            case .sparseTensor: return "SPARSE_TENSOR"
            case .sparseTensors: return "SPARSE_TENSORS"
            case .typeProto: return "TYPE_PROTO"
            case .typeProtos: return "TYPE_PROTOS"
            }
        }

        /// The type spelled `name` (`"INTS"`), if any.
        public init?(name: String) {
            guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = match
        }

        /// Whether an attribute value has this type. The name matches `Attribute.Value.typeName`.
        public func matches(_ value: KilnIR.Attribute.Value) -> Bool {
            value.typeName == name
        }

        public var description: String { name }
    }
}
