/// A graph's value names, mapped to their IDs: open addressing with linear probing over a
/// power-of-two table of value indices, keyed by a 32-bit FNV-1a hash of the name's UTF-8 bytes
/// kept per slot. The names themselves live in the values (`Graph.valueStore`), so a probe that
/// meets an equal hash compares against the value's name; the table holds 8 bytes a slot.
///
/// It replaces `[String: ValueID]`, whose find-or-insert (SipHash of the name, then the probe)
/// was a third of building a 50,000-node graph: measured alone, 166k find-or-inserts and lookups
/// of names like `t12345` took 7.1 ms in a `Dictionary` and 3.5 ms here.
///
/// Derived from the values (every live named value, once), so two tables of equal graphs are
/// equal: `==` and `hash(into:)` look at the count only.
struct NameTable: Hashable, Sendable {
    /// Value index per slot, -1 when empty.
    private var slots: [Int32] = []
    /// The name's hash per occupied slot (its home slot is `hash & mask`).
    private var hashes: [UInt32] = []
    private(set) var count = 0

    static func == (a: NameTable, b: NameTable) -> Bool { a.count == b.count }
    func hash(into hasher: inout Hasher) { hasher.combine(count) }

    /// Chosen per process, as `Hasher` seeds `Dictionary`: a model cannot be crafted so that its
    /// names all land in one probe run (quadratic decoding). Never observable: the table has no
    /// iteration order.
    static let seed = UInt32.random(in: 0...UInt32.max)

    @inline(__always)
    static func hash(_ name: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261 ^ seed
        for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        // FNV's low bits mix poorly and the home slot is the low bits: finish as MurmurHash3 does.
        h ^= h >> 16
        h &*= 0x85EB_CA6B
        h ^= h >> 13
        h &*= 0xC2B2_AE35
        h ^= h >> 16
        return h
    }

    /// Makes room for `n` names without growing.
    mutating func reserveCapacity(_ n: Int) {
        var size = 16
        while size * 3 < n * 4 { size *= 2 }  // load at most 3/4
        if size > slots.count { rehash(size: size) }
    }

    /// The ID of the value named `name`.
    func find(_ name: String, in values: ContiguousArray<Value>) -> ValueID? {
        guard !slots.isEmpty else { return nil }
        let h = Self.hash(name)
        let mask = slots.count - 1
        var i = Int(h) & mask
        while true {
            let s = slots[i]
            if s < 0 { return nil }
            if hashes[i] == h && values[Int(s)].name == name { return ValueID(Int(s)) }
            i = (i + 1) & mask
        }
    }

    /// The ID of the value named `name`, or `fresh` after recording it as that name's (the caller
    /// then appends the value at `fresh`). One hash and one probe either way.
    mutating func findOrInsert(_ name: String, fresh: ValueID, in values: ContiguousArray<Value>) -> ValueID {
        if (count + 1) * 4 > slots.count * 3 { rehash(size: max(16, slots.count * 2)) }
        let h = Self.hash(name)
        let mask = slots.count - 1
        var i = Int(h) & mask
        while true {
            let s = slots[i]
            if s < 0 {
                slots[i] = fresh.index
                hashes[i] = h
                count += 1
                return fresh
            }
            if hashes[i] == h && values[Int(s)].name == name { return ValueID(Int(s)) }
            i = (i + 1) & mask
        }
    }

    /// Records `id` as the value named `name`, which no value has.
    mutating func insert(_ name: String, _ id: ValueID, in values: ContiguousArray<Value>) {
        let found = findOrInsert(name, fresh: id, in: values)
        precondition(found == id, "NameTable.insert: '\(name)' is already a value's name")
    }

    /// Forgets `name` (the value at its ID must still carry it). Later entries of its probe run
    /// move back, so that no search stops early at the hole.
    mutating func remove(_ name: String, in values: ContiguousArray<Value>) {
        guard !slots.isEmpty else { return }
        let h = Self.hash(name)
        let mask = slots.count - 1
        var i = Int(h) & mask
        while true {
            let s = slots[i]
            if s < 0 { return }
            if hashes[i] == h && values[Int(s)].name == name { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion: each following entry whose home slot is not strictly between
        // the hole and itself (cyclically) moves into the hole.
        var hole = i
        var j = (i + 1) & mask
        while slots[j] >= 0 {
            let home = Int(hashes[j]) & mask
            let distanceToJ = (j - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole <= distanceToJ {
                slots[hole] = slots[j]
                hashes[hole] = hashes[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = -1
        count -= 1
    }

    private mutating func rehash(size: Int) {
        let oldSlots = slots, oldHashes = hashes
        slots = [Int32](repeating: -1, count: size)
        hashes = [UInt32](repeating: 0, count: size)
        let mask = size - 1
        for k in oldSlots.indices where oldSlots[k] >= 0 {
            var i = Int(oldHashes[k]) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = oldSlots[k]
            hashes[i] = oldHashes[k]
        }
    }
}
