import Testing
@testable import KilnIR

/// `NameTable` against a `Dictionary` model: inserts (growing the table), removals (backward
/// shifts across the table's end), renames and lookups of absent names, in a seeded random order.
@Suite struct NameTableTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    @Test(arguments: [1, 7, 42])
    func agreesWithADictionary(seed: UInt64) {
        var rng = Generator(state: seed)
        var values = ContiguousArray<Value>()
        var table = NameTable()
        var model: [String: Int] = [:]
        func check() {
            #expect(table.count == model.count)
            for (name, index) in model { #expect(table.find(name, in: values) == ValueID(index), "\(name)") }
            for k in 0..<20 { #expect(table.find("absent\(k)", in: values) == nil) }
        }
        for step in 0..<3000 {
            let live = model.keys.sorted()
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<6:  // a new name (short ones collide in the low bits more)
                let name = "v\(Int.random(in: 0..<5000, using: &rng))"
                let fresh = ValueID(values.count)
                let got = table.findOrInsert(name, fresh: fresh, in: values)
                if let existing = model[name] {
                    #expect(got == ValueID(existing))
                } else {
                    #expect(got == fresh)
                    values.append(Value(name: name))
                    model[name] = values.count - 1
                }
            case 6..<9 where !live.isEmpty:  // remove
                let name = live[Int.random(in: 0..<live.count, using: &rng)]
                table.remove(name, in: values)
                values[model[name]!].name = ""
                model[name] = nil
            case 9 where !live.isEmpty:  // rename
                let name = live[Int.random(in: 0..<live.count, using: &rng)]
                let new = "r\(step)"
                let index = model[name]!
                table.remove(name, in: values)
                values[index].name = new
                table.insert(new, ValueID(index), in: values)
                model[name] = nil
                model[new] = index
            default: break
            }
            if step % 250 == 0 { check() }
        }
        check()
    }

    @Test func reservingKeepsEveryName() {
        var values = ContiguousArray<Value>()
        var table = NameTable()
        for i in 0..<100 {
            values.append(Value(name: "n\(i)"))
            table.insert("n\(i)", ValueID(i), in: values)
        }
        table.reserveCapacity(10_000)
        for i in 0..<100 { #expect(table.find("n\(i)", in: values) == ValueID(i)) }
        #expect(table.count == 100)
    }
}
