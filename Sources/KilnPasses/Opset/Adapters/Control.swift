import KilnIR
import KilnEvaluator

/// Control flow, recurrent layers, attention and group normalization.
///
/// Cases:
/// 1. If-11 and Loop-11 relaxed shape rules of their outputs; their bodies convert with the
///    model: free.
/// 2. Scan-9 dropped Scan-8's batch axis and `sequence_lens` input: refused both ways.
/// 3. GRU/LSTM/RNN-14 added `layout` (0 is the old layout): refused down when 1.
/// 4. Attention-24 added the `nonpad_kv_seqlen` input and 25 the window sizes: refused down
///    when used.
/// 5. GroupNormalization-21 made scale/bias per channel (18: per group): up repeats constant
///    per-group values over each group's channels; down collapses constant per-channel values
///    that are equal within each group; anything else is refused. `stash_type` (21) must be 1.
extension OpsetAdapters {
    static var control: [OpsetRule] {
        var rules: [OpsetRule] = []
        rules += OpsetRule.same("If", 11, "opset 11 relaxed branch output shapes; the branches convert with the model (case 1)")
        rules += OpsetRule.same("Loop", 11, "opset 11 relaxed loop-carried shapes; the body converts with the model (case 1)")
        rules.append(.refused("Scan", 9, .up, "Scan-8's batch axis and sequence_lens have no Scan-9 equivalent (case 2)"))
        rules.append(.refused("Scan", 9, .down, "Scan-9's unbatched scan has no Scan-8 equivalent (case 2)"))
        return rules
    }

    static var recurrent: [OpsetRule] {
        var rules: [OpsetRule] = []
        for op in ["GRU", "LSTM", "RNN"] {
            rules += OpsetRule.attributesAdded(op, 14, [("layout", .int(0))], "batch-major layout (case 3)")
        }
        rules.append(.unchanged("Attention", 24, .up, "adds the optional nonpad_kv_seqlen input (case 4)"))
        rules.append(.unchanged("Attention", 24, .down, "refuses nonpad_kv_seqlen (case 4)") { rw, id in
            if rw.input(id, 6) != nil { throw rw.refusal(id, "input nonpad_kv_seqlen does not exist before opset 24") }
        })
        rules += OpsetRule.attributesAdded("Attention", 25, [("left_window_size", .int(-1)), ("right_window_size", .int(-1))],
                                  "sliding-window attention (case 4)")
        rules.append(.adapter("GroupNormalization", 21, .up, "constant per-group scale/bias repeated per channel (case 5)") { rw, id in
            try groupAffine(&rw, id, perChannel: true)
        })
        rules.append(.adapter("GroupNormalization", 21, .down, "constant per-channel scale/bias equal within groups collapsed (case 5)") { rw, id in
            if try rw.int(id, "stash_type", default: 1) != 1 { throw rw.refusal(id, "stash_type other than 1 does not exist before opset 21") }
            rw.removeAttribute(id, "stash_type")
            try groupAffine(&rw, id, perChannel: false)
        })
        return rules
    }

    /// Case 5: rewrites scale (input 1) and bias (input 2) between per-group and per-channel.
    static func groupAffine(_ rw: inout OpsetRewriter, _ id: NodeID, perChannel: Bool) throws {
        let groups = Int(try rw.int(id, "num_groups"))
        guard let dims = rw.shape(rw.input(id, 0))?.dims, dims.count >= 2, let c = dims[1].staticValue.map(Int.init),
              groups > 0, c % groups == 0 else {
            throw rw.refusal(id, "the channel count must be static and divisible by num_groups to convert scale/bias")
        }
        let per = c / groups
        for slot in [1, 2] {
            guard let v = rw.input(id, slot), let t = rw.constant(v) else {
                throw rw.refusal(id, "scale/bias input \(slot) must be a constant to change between per-group and per-channel")
            }
            let values = try TensorValue(t).doubles
            var out: [Double] = []
            if perChannel {
                guard values.count == groups else { throw rw.refusal(id, "input \(slot) has \(values.count) values, not num_groups = \(groups)") }
                out = values.flatMap { Array(repeating: $0, count: per) }
            } else {
                guard values.count == c else { throw rw.refusal(id, "input \(slot) has \(values.count) values, not C = \(c)") }
                for g in 0..<groups {
                    let chunk = values[(g * per)..<((g + 1) * per)]
                    guard chunk.allSatisfy({ $0 == chunk.first }) else {
                        throw rw.refusal(id, "input \(slot) differs within group \(g); per-channel affine values have no GroupNormalization-18 equivalent")
                    }
                    out.append(chunk.first!)
                }
            }
            let tensor: Tensor
            switch t.dataType {
            case .float: tensor = .float32(out.map(Float.init), dims: [Int64(out.count)])
            case .double: tensor = TensorValue(shape: [out.count], out).irTensor()
            case .float16: tensor = TensorValue(shape: [out.count], out.map { Float16(Float($0)) }).irTensor()
            default: throw rw.refusal(id, "scale/bias of type \(t.dataType.name) cannot be rewritten")
            }
            rw.setInput(id, slot, try rw.addConstant(tensor, named: "\(rw.graph[node: id].name)_\(slot == 1 ? "scale" : "bias")", before: id))
        }
    }
}
