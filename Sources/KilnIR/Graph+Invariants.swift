/// Whether invariant checks run after edits and decoding: on in debug builds and whenever the
/// environment sets `KILN_CHECK_INVARIANTS=1` (as `make test` does).
public let invariantChecksEnabled: Bool = {
    #if DEBUG
    return true
    #else
    if let v = getenvString("KILN_CHECK_INVARIANTS") { return v == "1" || v == "true" }
    return false
    #endif
}()

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}

extension Graph {
    /// Checks every edge both ways and the name table; throws describing the first bad edge.
    /// Recurses into subgraphs.
    public func checkInvariants() throws {
        func fail(_ message: String) -> KilnError {
            KilnError(.internalError, "graph '\(name)' invariant broken: \(message)")
        }
        var listed = Set<NodeID>()
        for id in order {
            guard contains(id) else { throw fail("order lists removed node \(id)") }
            guard listed.insert(id).inserted else { throw fail("order lists \(id) twice") }
        }
        for i in nodeStore.indices where isLive(nodeLive, i) && !listed.contains(NodeID(i)) {
            throw fail("node \(NodeID(i)) (\(nodeStore[i].label)) is live but not in order")
        }
        // Input slots reading each value; compared with the value's use list below (linear time:
        // a value with many uses must not make the check quadratic).
        var slotsReading: [ValueID: Int] = [:]
        for id in order {
            let node = self[node: id]
            for (slot, v) in node.inputs.enumerated() {
                guard let v else { continue }
                guard contains(v) else { throw fail("\(node.label) input \(slot) points at removed value \(v)") }
                slotsReading[v, default: 0] += 1
            }
            for (slot, v) in node.outputs.enumerated() {
                guard let v else { continue }
                guard contains(v) else { throw fail("\(node.label) output \(slot) points at removed value \(v)") }
                let value = self[value: v]
                guard value.producer == id && value.producerOutputIndex == slot else {
                    throw fail("\(node.label) output \(slot) is '\(value.name)' whose producer is \(value.producer.map { "\($0)" } ?? "none")")
                }
            }
            for a in node.attributes {
                for g in a.subgraphs {
                    do { try g.checkInvariants() } catch let e as KilnError {
                        throw e.within("\(node.label).\(a.name)")
                    }
                }
            }
        }
        for vid in valueIDs {
            let v = self[value: vid]
            guard nameTable.find(v.name, in: valueStore) == vid else { throw fail("name table does not map '\(v.name)' to \(vid)") }
            let reading = slotsReading[vid, default: 0]
            guard v.uses.count == reading, Set(v.uses).count == reading else {
                throw fail("'\(v.name)' lists \(v.uses.count) uses (\(Set(v.uses).count) distinct) but \(reading) input slots read it")
            }
            for use in v.uses {
                guard contains(use.node) else { throw fail("'\(v.name)' lists a use by removed node \(use.node)") }
                let node = self[node: use.node]
                guard use.index < node.inputs.count, node.inputs[use.index] == vid else {
                    throw fail("'\(v.name)' lists use \(node.label) input \(use.index), which reads something else")
                }
            }
            if let p = v.producer {
                guard contains(p) else { throw fail("'\(v.name)' is produced by removed node \(p)") }
                let node = self[node: p]
                guard v.producerOutputIndex < node.outputs.count, node.outputs[v.producerOutputIndex] == vid else {
                    throw fail("'\(v.name)' claims \(node.label) output \(v.producerOutputIndex) as producer")
                }
            }
        }
        guard nameTable.count == valueIDs.count else { throw fail("name table has \(nameTable.count) names for \(valueIDs.count) values") }
        for list in [inputs, outputs, initializerOrder, sparseInitializerOrder, valueInfo] {
            for id in list where !contains(id) { throw fail("a graph list refers to removed value \(id)") }
        }
        for id in initializerOrder where self[value: id].initializer == nil {
            throw fail("'\(self[value: id].name)' is in the initializer list without an initializer")
        }
    }

    /// Runs `checkInvariants` when checks are enabled; traps with the message otherwise a bug would
    /// surface far from its cause.
    public func debugCheckInvariants() {
        guard invariantChecksEnabled else { return }
        do { try checkInvariants() } catch { preconditionFailure("\(error)") }
    }
}
