import KilnIR

/// Pad, Slice and TopK: attributes that became inputs, and later additions.
///
/// Cases:
/// 1. Pad-11 up: `pads` -> int64 input 1, `value` -> scalar `constant_value` input 2 of the data's
///    type (only when not 0). Down: constant inputs -> attributes; computed ones refused.
/// 2. Pad-18 added `axes` (input 3): free up; down, constant axes and pads are expanded to pads
///    over every axis (zeros elsewhere); computed ones refused.
/// 3. Pad-19 added mode `wrap`: refused downward.
/// 4. Slice-10 up: `starts`/`ends`/`axes` -> int64 inputs 1-3. Down: constant inputs ->
///    attributes; `steps` other than all 1 is refused (Slice-1 has none).
/// 5. TopK-10 up: `k` -> int64 input [k]. Down: constant k -> attribute.
/// 6. TopK-11 added `largest` and `sorted` (and negative axes): down, largest = 0 is refused,
///    `sorted` is dropped (a sorted result is a valid unsorted one), a negative axis other than -1
///    is normalized against the rank.
extension OpsetAdapters {
    static var pad: [OpsetRule] {
        var rules: [OpsetRule] = [
            .adapter("Pad", 11, .up, "pads/value attributes -> inputs (case 1)") { rw, id in
                let value = try rw.graph[node: id].float("value", default: 0)
                rw.removeAttribute(id, "value")
                try rw.moveAttributeToInput(id, "pads", slot: 1)
                if value != 0 {
                    guard let type = rw.elementType(rw.input(id, 0)) else {
                        throw rw.refusal(id, "moving 'value' to an input needs the data's element type, which is unknown")
                    }
                    let c = try OpsetAdapters.scalar(Double(value), type, rw, id)
                    rw.setInput(id, 2, try rw.addConstant(c, named: "\(rw.graph[node: id].name)_value", before: id))
                }
            },
            .adapter("Pad", 11, .down, "constant pads/constant_value inputs -> attributes (case 1)") { rw, id in
                if let v = rw.input(id, 2) {
                    guard let values = try rw.constantDoubles(v), values.count == 1 else {
                        throw rw.refusal(id, "constant_value input '\(rw.graph.name(of: v))' must be a constant scalar before opset 11")
                    }
                    rw.setAttribute(id, "value", .float(Float(values[0])))
                    rw.clearInput(id, 2)
                }
                try rw.moveInputToAttribute(id, slot: 1, "pads")
            },
            .unchanged("Pad", 18, .up, "opset 18 adds the optional axes input (case 2)"),
            .adapter("Pad", 18, .down, "constant axes folded into full-rank pads (case 2)") { rw, id in
                guard let a = rw.input(id, 3) else { return }
                guard let axes = try rw.constantInts(id, 3), let pads = try rw.constantInts(id, 1) else {
                    throw rw.refusal(id, "axes input '\(rw.graph.name(of: a))' and pads must be constants before opset 18")
                }
                let rank = try rw.requireRank(id, 0, for: "folding axes into pads")
                let fixed = try rw.normalized(id, axes, rank: rank, what: "axis")
                guard pads.count == 2 * fixed.count else { throw rw.refusal(id, "pads has \(pads.count) values for \(fixed.count) axes") }
                var full = Array(repeating: Int64(0), count: 2 * rank)
                for (k, axis) in fixed.enumerated() {
                    full[Int(axis)] = pads[k]
                    full[rank + Int(axis)] = pads[fixed.count + k]
                }
                rw.clearInput(id, 3)
                rw.setInput(id, 1, try rw.addInts(full, named: "\(rw.graph[node: id].name)_pads", before: id))
            },
        ]
        rules += OpsetRule.valueAdded("Pad", 19, attribute: "mode", values: ["wrap"], "opset 19 adds mode 'wrap' (case 3)")
        return rules
    }

    static var slice: [OpsetRule] {
        [
            .adapter("Slice", 10, .up, "starts/ends/axes attributes -> int64 inputs (case 4)") { rw, id in
                let hasAxes = rw.graph[node: id].attribute("axes") != nil
                try rw.moveAttributeToInput(id, "starts", slot: 1)
                try rw.moveAttributeToInput(id, "ends", slot: 2)
                if hasAxes { try rw.moveAttributeToInput(id, "axes", slot: 3) }
            },
            .adapter("Slice", 10, .down, "constant starts/ends/axes inputs -> attributes; steps must be 1 (case 4)") { rw, id in
                if let s = rw.input(id, 4) {
                    guard let steps = try rw.constantInts(id, 4), steps.allSatisfy({ $0 == 1 }) else {
                        throw rw.refusal(id, "steps input '\(rw.graph.name(of: s))' is not all 1; Slice-1 has no steps")
                    }
                    rw.clearInput(id, 4)
                }
                try rw.moveInputToAttribute(id, slot: 3, "axes")
                try rw.moveInputToAttribute(id, slot: 2, "ends")
                try rw.moveInputToAttribute(id, slot: 1, "starts")
            },
        ]
    }

    static var topK: [OpsetRule] {
        [
            .adapter("TopK", 10, .up, "k attribute -> int64 input [k] (case 5)") { rw, id in
                try rw.moveAttributeToInput(id, "k", slot: 1)
            },
            .adapter("TopK", 10, .down, "constant k input -> attribute (case 5)") { rw, id in
                try rw.moveInputToAttribute(id, slot: 1, "k", single: true)
            },
            .unchanged("TopK", 11, .up, "opset 11 adds largest/sorted (defaults are the old behaviour) and negative axes (case 6)"),
            .adapter("TopK", 11, .down, "largest = 0 refused, sorted dropped, negative axis normalized (case 6)") { rw, id in
                if try rw.int(id, "largest", default: 1) != 1 {
                    throw rw.refusal(id, "largest = 0 (smallest k) does not exist before opset 11")
                }
                rw.removeAttribute(id, "largest")
                rw.removeAttribute(id, "sorted")
                let axis = try rw.int(id, "axis", default: -1)
                if axis < -1, let r = rw.rank(rw.input(id, 0)) {
                    rw.setAttribute(id, "axis", .int(axis + Int64(r)))
                } else if axis < -1 {
                    throw rw.refusal(id, "negative axis \(axis) needs the input's rank before opset 11")
                }
            },
        ]
    }
}
