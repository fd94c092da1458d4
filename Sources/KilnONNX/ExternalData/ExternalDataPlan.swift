import KilnIR

/// How a writer stores tensor payloads outside the `.onnx` file.
public enum ExternalDataMode: Sendable, Equatable {
    /// Tensors that were external stay external under their location names (at their original
    /// offsets when these do not overlap); everything else is inline.
    case preserve
    /// Every tensor of at least `threshold` bytes goes to one file named `location` (tensors in
    /// typed fields are converted to raw layout; strings and sub-byte typed tensors stay inline).
    case single(location: String, threshold: Int)
    /// The same with one file per tensor.
    case perTensor(threshold: Int)
    /// Everything inline (fails beyond protobuf's 2 GB limit).
    case none
}

/// Assigns tensors to external data files and offsets while a model is encoded, and remembers what
/// each file must contain so the writer can stream it afterwards.
final class ExternalDataPlan {
    struct Entry {
        var offset: Int
        var bytes: TensorBytes
    }

    struct FileLayout {
        var entries: [Entry] = []
        /// Occupied ranges sorted by start, to detect overlaps when keeping original offsets.
        var occupied: [Range<Int>] = []
        var end = 0
    }

    let mode: ExternalDataMode
    /// Offsets of appended payloads are multiples of this (mmap-friendly for large tensors).
    let alignment = 64
    private(set) var files: [String: FileLayout] = [:]
    private(set) var fileOrder: [String] = []
    private var usedPerTensorNames = Set<String>()

    init(mode: ExternalDataMode) {
        self.mode = mode
    }

    var isEmpty: Bool { fileOrder.isEmpty }

    /// Whether tensors stored in typed fields (`float_data`, ...) are moved (converted to raw layout).
    var movesTypedTensors: Bool {
        switch mode {
        case .single, .perTensor: return true
        case .preserve, .none: return false
        }
    }

    /// Decides where `tensor` goes. Returns its `external_data` entries, or nil to keep it inline.
    func place(_ tensor: Tensor, _ bytes: TensorBytes) throws -> [StringPair]? {
        switch mode {
        case .none:
            return nil
        case .preserve:
            guard tensor.dataLocation == 1, let location = tensor.externalValue("location") else { return nil }
            let wanted = tensor.externalValue("offset").flatMap { Int($0) }
            let offset = add(bytes, to: location, preferredOffset: wanted ?? (tensor.externalValue("offset") == nil ? 0 : nil))
            return entries(for: tensor, location: location, offset: offset, length: bytes.count)
        case .single(let location, let threshold):
            guard bytes.count >= threshold, tensor.dataType != .string else { return nil }
            let offset = add(bytes, to: location, preferredOffset: nil)
            return entries(for: tensor, location: location, offset: offset, length: bytes.count)
        case .perTensor(let threshold):
            guard bytes.count >= threshold, tensor.dataType != .string else { return nil }
            let location = perTensorName(tensor.name)
            let offset = add(bytes, to: location, preferredOffset: nil)
            return entries(for: tensor, location: location, offset: offset, length: bytes.count)
        }
    }

    /// The `external_data` entries: the tensor's own keys in their order with location, offset and
    /// length updated (so checksums and other keys survive), or the standard three keys.
    private func entries(for tensor: Tensor, location: String, offset: Int, length: Int) -> [StringPair] {
        var out: [StringPair] = []
        var have = Set<String>()
        if tensor.dataLocation == 1, let original = tensor.externalData {
            for var e in original {
                switch e.key {
                case "location": e.value = location
                case "offset": e.value = String(offset)
                case "length": e.value = String(length)
                default: break
                }
                have.insert(e.key)
                out.append(e)
            }
        }
        if !have.contains("location") { out.append(StringPair("location", location)) }
        if !have.contains("offset") && offset != 0 { out.append(StringPair("offset", String(offset))) }
        if !have.contains("length") { out.append(StringPair("length", String(length))) }
        return out
    }

    private func add(_ bytes: TensorBytes, to location: String, preferredOffset: Int?) -> Int {
        if files[location] == nil {
            files[location] = FileLayout()
            fileOrder.append(location)
        }
        var layout = files[location]!
        var offset: Int
        if let want = preferredOffset, want >= 0, !overlaps(layout.occupied, want..<(want + bytes.count)) {
            offset = want
        } else {
            offset = (layout.end + alignment - 1) / alignment * alignment
            // An earlier preferred placement may sit past the end of appended data.
            while overlaps(layout.occupied, offset..<(offset + bytes.count)) {
                offset = ((layout.occupied.last?.upperBound ?? offset) + alignment - 1) / alignment * alignment
            }
        }
        let range = offset..<(offset + bytes.count)
        let i = insertionIndex(layout.occupied, range.lowerBound)
        layout.occupied.insert(range, at: i)
        layout.entries.append(Entry(offset: offset, bytes: bytes))
        layout.end = max(layout.end, range.upperBound)
        files[location] = layout
        return offset
    }

    private func insertionIndex(_ sorted: [Range<Int>], _ start: Int) -> Int {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid].lowerBound < start { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private func overlaps(_ sorted: [Range<Int>], _ r: Range<Int>) -> Bool {
        if r.isEmpty { return false }
        let i = insertionIndex(sorted, r.lowerBound)
        if i < sorted.count && sorted[i].lowerBound < r.upperBound && !sorted[i].isEmpty { return true }
        if i > 0 && sorted[i - 1].upperBound > r.lowerBound { return true }
        return false
    }

    private func perTensorName(_ name: String) -> String {
        var base = String(name.map { c -> Character in
            c.isLetter || c.isNumber || c == "_" || c == "-" || c == "." ? c : "_"
        })
        if base.isEmpty || base.hasPrefix(".") { base = "tensor" + base }
        var candidate = base + ".bin"
        var i = 1
        while usedPerTensorNames.contains(candidate) {
            candidate = "\(base)_\(i).bin"
            i += 1
        }
        usedPerTensorNames.insert(candidate)
        return candidate
    }

    /// The pieces of external file `location`, with zero padding between payloads.
    func pieces(of location: String) -> [OutputPiece] {
        guard let layout = files[location] else { return [] }
        var out: [OutputPiece] = []
        var position = 0
        for e in layout.entries.sorted(by: { $0.offset < $1.offset }) {
            if e.offset > position { out.append(.bytes([UInt8](repeating: 0, count: e.offset - position))) }
            out.append(.payload(e.bytes))
            position = e.offset + e.bytes.count
        }
        return out
    }
}
