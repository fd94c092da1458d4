import KilnIR
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing `.onnx` files: the public face of the codec.
///
/// Reading memory-maps the file, lifts large `raw_data` payloads out as slices of the mapping
/// (`PayloadLifter`), decodes the remaining structure with swift-protobuf and converts it to the IR.
/// Writing does the reverse and streams payloads from wherever they live, so weights are never
/// copied unless a pass changed them.
public enum ModelFile {
    public struct ReadOptions: Sendable {
        /// `raw_data` payloads at least this large stay in the mapped file instead of being copied.
        public var liftThreshold: Int = 1024
        public init() {}
    }

    public struct WriteOptions: Sendable {
        /// Where payloads go; `nil` is automatic: `.preserve`, switching to one external file
        /// (`<output name>.data`) when the model would pass protobuf's 2 GB limit.
        public var externalData: ExternalDataMode?
        /// The size limit of an inline model (protobuf's 2 GB); lower it only to test the switch.
        public var inlineLimit: Int = ModelFile.protobufLimit
        public init(externalData: ExternalDataMode? = nil) { self.externalData = externalData }
    }

    /// What a write produced.
    public struct WriteReport: Sendable {
        public var modelBytes: Int
        /// External data files written (name relative to the model's folder, and size).
        public var externalFiles: [(name: String, bytes: Int)]
        /// Whether the 2 GB limit made the writer move tensors to an external file.
        public var switchedToExternal: Bool
    }

    /// Protobuf's limit on a serialized message.
    public static let protobufLimit = Int(Int32.max)

    // MARK: Reading

    /// Reads the model at `path`, resolving external data relative to its folder.
    public static func read(_ path: String, options: ReadOptions = ReadOptions()) throws -> Model {
        do {
            let storage = try MappedFile.map(path)
            guard storage.count > 0 else {
                throw KilnError(.invalidInput, "the file is empty; an ONNX model is a serialized ModelProto")
            }
            let resolver = ExternalDataResolver(modelPath: path)
            let model = try decode(storage: storage, external: resolver, options: options)
            return model
        } catch let e as KilnError {
            throw e.inFile(path)
        }
    }

    /// Decodes a serialized model held in memory (external data cannot be resolved).
    public static func decode(bytes: [UInt8], options: ReadOptions = ReadOptions()) throws -> Model {
        guard !bytes.isEmpty else {
            throw KilnError(.invalidInput, "the input is empty; an ONNX model is a serialized ModelProto")
        }
        return try decode(storage: ByteStorage(copying: bytes), external: nil, options: options)
    }

    static func decode(storage: ByteStorage, external: ExternalDataResolver?, options: ReadOptions) throws -> Model {
        let buffer = UnsafeRawBufferPointer(start: storage.base, count: storage.count)
        var phases = PhaseTimer()
        var lifter = PayloadLifter(buffer: buffer, threshold: options.liftThreshold)
        let structure: [UInt8]
        do {
            structure = try lifter.liftModel()
        } catch let e as KilnError {
            var copy = e
            copy.message = "not a valid ONNX model: " + e.message
            throw copy
        }
        let proto: Onnx_ModelProto
        do {
            proto = try Onnx_ModelProto(serializedBytes: structure, options: ProtoDecoder.decodingOptions)
        } catch {
            throw KilnError(.invalidInput, "not a valid ONNX model: protobuf decoding failed (\(error))")
        }
        // A message of another type often parses as protobuf, but its fields then land on ModelProto
        // field numbers with the wrong wire type (kept as unknown fields).
        if let mismatch = try wrongWireTypeField(in: proto) {
            throw KilnError(.invalidInput,
                            "not an ONNX model: field \(mismatch) has the wrong wire type for ModelProto (is this a TensorProto, GraphProto or other message?)")
        }
        phases.mark("lift + protobuf decode")
        guard proto.hasIrVersion || proto.hasGraph else {
            throw KilnError(.invalidInput,
                            "not an ONNX model: the file parses as protobuf but has neither 'ir_version' nor 'graph' (is it a TensorProto or GraphProto?)")
        }
        let payloads = lifter.payloads.map { TensorBytes(storage: storage, offset: $0.lowerBound, count: $0.count) }
        let side = ByteStorage(copying: lifter.side)
        let nodeLists = lifter.nodeLists.map { list in
            list.map { source -> TensorBytes in
                switch source {
                case .input(let r): return TensorBytes(storage: storage, offset: r.lowerBound, count: r.count)
                case .side(let r): return TensorBytes(storage: side, offset: r.lowerBound, count: r.count)
                }
            }
        }
        let initializerLists = lifter.initializerLists.map { list in
            list.map { TensorBytes(storage: storage, offset: $0.lowerBound, count: $0.count) }
        }
        var decoder = ProtoDecoder(payloads: payloads, nodeLists: nodeLists, initializerLists: initializerLists,
                                   external: external)
        let model = try decoder.decodeModel(proto)
        phases.mark("build IR")
        if invariantChecksEnabled {
            try model.forEachGraph { g, path in
                do { try g.checkInvariants() } catch let e as KilnError { throw e.within(path) }
            }
        }
        return model
    }

    /// The first ModelProto field number found among `proto`'s unknown fields.
    static func wrongWireTypeField(in proto: Onnx_ModelProto) throws -> Int? {
        let known: Set<Int> = [1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26]
        let data = Array(proto.unknownFields.data)
        return try data.withUnsafeBytes { buf -> Int? in
            var r = WireReader(buf, range: 0..<buf.count)
            while !r.isAtEnd {
                let f = try r.readField()
                if known.contains(f.number) { return f.number }
            }
            return nil
        }
    }

    // MARK: Writing

    /// Serializes `model` with every payload inline (external data is not allowed here).
    public static func encode(_ model: Model) throws -> [UInt8] {
        let pieces = try encodePieces(model, plan: nil)
        var out: [UInt8] = []
        out.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for p in pieces {
            switch p {
            case .bytes(let b): out.append(contentsOf: b)
            case .payload(let t): t.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    static func encodePieces(_ model: Model, plan: ExternalDataPlan?,
                             pending: PendingGraphEncoding? = nil) throws -> [OutputPiece] {
        var phases = PhaseTimer()
        var encoder = ProtoEncoder(externalPlan: plan)
        // Encoded ahead without a plan: right only where the plan moves no inline tensor.
        if let pending, plan == nil || plan?.mode == .preserve {
            encoder.preEncodedMain = pending.results(for: model.graph)
        }
        let proto = try encoder.encodeModel(model)
        phases.mark("IR to protobuf")
        let structure: [UInt8] = try proto.serializedBytes()
        phases.mark("protobuf serialize")
        var splicer = PayloadSplicer(payloads: encoder.payloads, nodeBlobs: encoder.nodeBlobs)
        splicer.initializerBlobs = encoder.initializerBlobs
        splicer.valueInfoBlobs = encoder.valueInfoBlobs
        let pieces = try structure.withUnsafeBytes { try splicer.splice($0) }
        phases.mark("splice payloads")
        return pieces
    }

    /// Bytes the model's payloads would take inline under `mode`.
    static func inlinePayloadBytes(_ model: Model, mode: ExternalDataMode) -> Int {
        var total = 0
        model.forEachTensor { t, role in
            let n = t.payloadByteCount
            var external = false
            var movable = false
            if case .raw = t.storage { movable = true } else { movable = t.typedEntryRawWidth != nil }
            if role != .sparseInitializer {
                switch mode {
                case .preserve: external = t.dataLocation == 1
                case .single(_, let threshold), .perTensor(let threshold):
                    external = movable && n >= threshold && t.dataType != .string
                case .none: external = false
                }
            }
            if !external { total += n }
        }
        return total
    }

    /// Throws the error `write` would give when `path`'s folder does not exist, so a command can
    /// refuse an impossible output before doing any work.
    public static func checkOutputPath(_ path: String) throws {
        _ = try AtomicFile.checkFolder(of: path)
    }

    /// Writes `model` to `path` atomically (temporary file, then rename), with its external data
    /// files beside it. On failure nothing at `path` changes. `pending`, started on this model
    /// earlier, supplies its main graph's nodes and initializers if they have not changed since.
    @discardableResult
    public static func write(_ model: Model, to path: String, options: WriteOptions = WriteOptions(),
                             pending: PendingGraphEncoding? = nil) throws -> WriteReport {
        do {
            var mode = options.externalData ?? .preserve
            var switched = false
            // Leave room for the structure: the limit covers the whole message.
            let margin = min(64 << 20, options.inlineLimit / 32)
            if inlinePayloadBytes(model, mode: mode) > options.inlineLimit - margin {
                if options.externalData == nil || options.externalData == .preserve {
                    mode = .single(location: defaultDataLocation(for: path), threshold: 1024)
                    switched = true
                } else {
                    throw KilnError(.invalidInput,
                                    "the model is larger than protobuf's 2 GB limit when written inline; use external data (--external-data single)")
                }
            }
            let plan = mode == .none ? nil : ExternalDataPlan(mode: mode)
            let pieces = try encodePieces(model, plan: plan, pending: pending)
            let modelBytes = pieces.reduce(0) { $0 + $1.count }
            guard modelBytes <= options.inlineLimit else {
                throw KilnError(.invalidInput, "the serialized model is \(modelBytes) bytes, beyond protobuf's 2 GB limit; use external data")
            }
            let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            var files: [AtomicFile] = []
            var written: [(name: String, bytes: Int)] = []
            do {
                for location in plan?.fileOrder ?? [] {
                    let target = (dir.isEmpty ? "" : dir + "/") + location
                    try AtomicFile.createParentFolders(of: target, below: dir.isEmpty ? "." : dir)
                    var f = try AtomicFile(target: target)
                    files.append(f)
                    let n = try f.write(plan!.pieces(of: location))
                    try f.finish()
                    files[files.count - 1] = f
                    written.append((location, n))
                }
                var main = try AtomicFile(target: path)
                files.append(main)
                _ = try main.write(pieces)
                try main.finish()
                files[files.count - 1] = main
                for f in files { try f.commit() }
            } catch {
                for var f in files { f.discard() }
                throw error
            }
            return WriteReport(modelBytes: modelBytes, externalFiles: written, switchedToExternal: switched)
        } catch let e as KilnError {
            throw e.inFile(path)
        }
    }

    /// `<output file name>.data`, the default name of a single external data file.
    public static func defaultDataLocation(for path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name + ".data"
    }
}

/// Prints how long each phase took to stderr when `KILN_TIMINGS=1` (the codec's phases, and the
/// commands' own: `kiln infer-shapes` marks reading, inference and writing).
public struct PhaseTimer {
    public static let enabled: Bool = {
        guard let v = getenv("KILN_TIMINGS") else { return false }
        return String(cString: v) == "1"
    }()
    private var last = ContinuousClock.now

    public init() {}

    public mutating func mark(_ phase: String) {
        guard PhaseTimer.enabled else { return }
        let now = ContinuousClock.now
        let ms = Double((now - last).components.attoseconds) / 1e15 + Double((now - last).components.seconds) * 1000
        var line = "kiln: timing: \(phase): \((ms * 10).rounded() / 10) ms\n"
        line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
        last = now
    }
}
