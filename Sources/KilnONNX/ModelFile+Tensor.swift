import KilnIR
import SwiftProtobuf

extension ModelFile {
    /// Decodes a serialized `TensorProto` (an ONNX test-data `input_0.pb`, say). External data is
    /// not resolved: a tensor whose data is external comes back with its `external_data` entries
    /// and no payload.
    public static func decodeTensor(bytes: [UInt8]) throws -> Tensor {
        try decodeTensor(storage: ByteStorage(copying: bytes))
    }

    static func decodeTensor(storage: ByteStorage) throws -> Tensor {
        guard storage.count > 0 else {
            throw KilnError(.invalidInput, "the input is empty; expected a serialized TensorProto")
        }
        let decoder = ProtoDecoder(payloads: [], external: nil)
        do {
            return try decoder.decodeWireTensor(TensorBytes(storage: storage))
        } catch let e as WireError {
            throw KilnError(.invalidInput, "not a valid TensorProto: \(e.message) (at byte \(e.offset))")
        }
    }

    /// Reads a serialized `TensorProto` file.
    public static func readTensor(_ path: String) throws -> Tensor {
        do {
            return try decodeTensor(storage: try MappedFile.map(path))
        } catch let e as KilnError {
            throw e.inFile(path)
        }
    }

    /// Serializes a tensor as a `TensorProto` (payload inline).
    public static func encodeTensor(_ tensor: Tensor) throws -> [UInt8] {
        var encoder = ProtoEncoder(liftThreshold: Int.max, externalPlan: nil)
        let proto = try encoder.encodeTensor(tensor, mayGoExternal: false)
        return try proto.serializedBytes()
    }
}
