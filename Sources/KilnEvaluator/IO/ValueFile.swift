import KilnIR
import KilnONNX

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading and writing runtime values as files: ONNX `TensorProto` / `SequenceProto` /
/// `OptionalProto` (`.pb`, the ONNX test-data layout) and numpy `.npy`.
public enum ValueFile {
    /// Reads the value in `path`. `.npy` files hold a tensor; `.pb` files hold the message that
    /// `type` calls for (a `TensorProto` when `type` is nil or a tensor type).
    public static func read(_ path: String, type: ValueType? = nil) throws -> (name: String, value: RuntimeValue) {
        let bytes: [UInt8]
        do {
            bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw KilnError(.io, "cannot read the file (\(error.localizedDescription))", at: .init(file: path))
        }
        do {
            if path.hasSuffix(".npy") { return ("", .tensor(try NumpyFile.decode(bytes))) }
            return try decode(bytes[...], type: type)
        } catch let e as KilnError {
            throw e.inFile(path)
        }
    }

    /// Decodes a serialized value of `type` (`TensorProto` when nil).
    public static func decode(_ bytes: ArraySlice<UInt8>, type: ValueType?) throws -> (name: String, value: RuntimeValue) {
        switch type?.kind {
        case .sequence(let element)?: return try decodeSequence(bytes, element: element)
        case .optional(let element)?: return try decodeOptional(bytes, element: element)
        default:
            let t = try decodeTensorProto(bytes)
            return (t.name, .tensor(try TensorValue(t)))
        }
    }

    /// A `TensorProto`, decoded by the codec (`ModelFile.decodeTensor`): every storage form (raw,
    /// typed fields, strings) decodes exactly as in a model.
    static func decodeTensorProto(_ bytes: ArraySlice<UInt8>) throws -> Tensor {
        try ModelFile.decodeTensor(bytes: Array(bytes))
    }

    static func decodeSequence(_ bytes: ArraySlice<UInt8>, element: ValueType?) throws -> (name: String, value: RuntimeValue) {
        var name = "", tensors: [TensorValue] = []
        for f in try ProtoWire.fields(bytes) {
            switch f.number {
            case 1: name = String(decoding: f.bytes, as: UTF8.self)
            case 3: tensors.append(try TensorValue(decodeTensorProto(f.bytes)))
            case 4, 5, 6, 7: throw KilnError(.unsupported, "sequences of sparse tensors, sequences, maps or optionals are not supported")
            default: break
            }
        }
        let type = tensors.first?.dataType ?? element?.tensorElementType ?? .float
        return (name, .sequence(tensors, elementType: type))
    }

    static func decodeOptional(_ bytes: ArraySlice<UInt8>, element: ValueType?) throws -> (name: String, value: RuntimeValue) {
        var name = "", value: RuntimeValue?
        for f in try ProtoWire.fields(bytes) {
            switch f.number {
            case 1: name = String(decoding: f.bytes, as: UTF8.self)
            case 3: value = .tensor(try TensorValue(decodeTensorProto(f.bytes)))
            case 5:
                var inner: ValueType?
                if case .sequence(let e)? = element?.kind { inner = e }
                value = try decodeSequence(f.bytes, element: inner).value
            case 4, 6, 7: throw KilnError(.unsupported, "optionals of sparse tensors, maps or optionals are not supported")
            default: break
            }
        }
        return (name, .optional(value, elementType: element))
    }

    /// Serializes `value` as the ONNX message for its kind (`TensorProto`, `SequenceProto`,
    /// `OptionalProto`).
    public static func encode(_ value: RuntimeValue, name: String) -> [UInt8] {
        switch value {
        case .tensor(let t): return encodeTensor(t, name: name)
        case .sequence(let ts, _):
            var out: [UInt8] = []
            ProtoWire.appendBytes(1, Array(name.utf8), to: &out)
            ProtoWire.appendInt(2, 1, to: &out)  // elem_type TENSOR
            for t in ts { ProtoWire.appendBytes(3, encodeTensor(t, name: ""), to: &out) }
            return out
        case .optional(let inner, _):
            var out: [UInt8] = []
            ProtoWire.appendBytes(1, Array(name.utf8), to: &out)
            switch inner {
            case .tensor(let t)?:
                ProtoWire.appendInt(2, 1, to: &out)
                ProtoWire.appendBytes(3, encodeTensor(t, name: ""), to: &out)
            case .sequence?:
                ProtoWire.appendInt(2, 3, to: &out)
                ProtoWire.appendBytes(5, encode(inner!, name: ""), to: &out)
            default: ProtoWire.appendInt(2, 0, to: &out)
            }
            return out
        }
    }

    /// A `TensorProto`: dims, data_type, name, then `raw_data` (or `string_data`).
    static func encodeTensor(_ t: TensorValue, name: String) -> [UInt8] {
        var out: [UInt8] = []
        for d in t.shape { ProtoWire.appendInt(1, Int64(d), to: &out) }
        ProtoWire.appendInt(2, Int64(t.dataType.rawValue), to: &out)
        if case .string(let strings) = t.storage {
            for s in strings { ProtoWire.appendBytes(6, Array(s.utf8), to: &out) }
        }
        ProtoWire.appendBytes(8, Array(name.utf8), to: &out)
        if case .raw(let bytes) = t.irTensor().storage {
            bytes.withUnsafeBytes { ProtoWire.appendBytes(9, $0, to: &out) }
        }
        return out
    }

    /// Writes `value` to `path` (`.npy` for tensors when the path ends so, `.pb` otherwise).
    public static func write(_ value: RuntimeValue, name: String, to path: String) throws {
        let bytes: [UInt8]
        if path.hasSuffix(".npy") {
            guard case .tensor(let t) = value else {
                throw KilnError(.unsupported, "only tensors can be written as .npy (got \(value))", at: .init(file: path))
            }
            bytes = try NumpyFile.encode(t)
        } else {
            bytes = encode(value, name: name)
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw KilnError(.io, "cannot write the file (\(error.localizedDescription))", at: .init(file: path))
        }
    }
}
