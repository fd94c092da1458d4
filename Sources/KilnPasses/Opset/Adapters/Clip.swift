import KilnIR
import KilnEvaluator

/// Clip-11 turned `min`/`max` attributes into optional inputs.
///
/// Cases:
/// 1. Up: each attribute becomes a scalar constant of the input's element type (Clip-6 takes
///    float16, float, double); an absent attribute stays an empty slot (no bound).
/// 2. Down: constant inputs become float attributes; a bound computed at run time is refused.
extension OpsetAdapters {
    static var clip: [OpsetRule] {
        [
            .adapter("Clip", 11, .up, "min/max attributes -> scalar constant inputs (case 1)") { rw, id in
                for (slot, name) in [(1, "min"), (2, "max")] {
                    guard rw.graph[node: id].attribute(name) != nil else { continue }
                    let value = try rw.graph[node: id].float(name)
                    guard let type = rw.elementType(rw.input(id, 0)) else {
                        throw rw.refusal(id, "moving '\(name)' to an input needs the input's element type, which is unknown")
                    }
                    let scalar = try OpsetAdapters.scalar(Double(value), type, rw, id)
                    rw.removeAttribute(id, name)
                    rw.setInput(id, slot, try rw.addConstant(scalar, named: "\(rw.graph[node: id].name)_\(name)", before: id))
                }
            },
            .adapter("Clip", 11, .down, "constant min/max inputs -> float attributes (case 2)") { rw, id in
                for (slot, name) in [(1, "min"), (2, "max")].reversed() {
                    guard let v = rw.input(id, slot) else { continue }
                    guard let values = try rw.constantDoubles(v), values.count == 1 else {
                        throw rw.refusal(id, "\(name) input '\(rw.graph.name(of: v))' must be a constant scalar to become an attribute before opset 11")
                    }
                    rw.setAttribute(id, name, .float(Float(values[0])))
                    rw.clearInput(id, slot)
                }
            },
        ]
    }

    /// A scalar tensor of a floating-point or integer type holding `value`.
    static func scalar(_ value: Double, _ type: DataType, _ rw: OpsetRewriter, _ id: NodeID) throws -> Tensor {
        switch type {
        case .float: return .float32([Float(value)], dims: [])
        case .double: return TensorValue(shape: [], [value]).irTensor()
        case .float16: return TensorValue(shape: [], [Float16(Float(value))]).irTensor()
        case .int64: return .int64([Int64(value)], dims: [])
        case .int32: return TensorValue(shape: [], [Int32(value)]).irTensor()
        case .int8: return TensorValue(shape: [], [Int8(value)]).irTensor()
        case .uint8: return TensorValue(shape: [], [UInt8(value)]).irTensor()
        default: throw rw.refusal(id, "a \(type.name) constant cannot be made here")
        }
    }
}
