import KilnIR

/// BatchNormalization and Dropout: training-only outputs and attributes.
///
/// Cases:
/// 1. BatchNormalization-9 removed `spatial`: up, spatial = 0 is refused (per-activation
///    statistics have no equivalent), spatial = 1 is dropped; down is free (spatial defaults to 1).
/// 2. BatchNormalization-14 replaced the five training outputs with `training_mode` and three
///    outputs: up, outputs 1-4 must be unused and are dropped; down, training_mode = 1 is refused
///    and running mean/var outputs must be unused.
/// 3. BatchNormalization-15 split the type parameters (scale/bias vs mean/var): types checked.
/// 4. Dropout-10 made `mask` bool (was T): a used mask is refused either way, an unused one dropped.
/// 5. Dropout-12 turned `ratio` into an input and added `training_mode` and `seed`: up, ratio
///    becomes a float scalar input; down, training_mode must be absent or constant false, ratio
///    must be constant, seed (training only) is dropped. Outside training Dropout is an identity.
/// 6. Dropout-12 down: a used mask (all true outside training) becomes ConstantOfShape(Shape(x), true).
extension OpsetAdapters {
    static var normalization: [OpsetRule] {
        var rules: [OpsetRule] = [
            .adapter("BatchNormalization", 9, .up, "spatial = 1 dropped, spatial = 0 refused (case 1)") { rw, id in
                if try rw.int(id, "spatial", default: 1) != 1 {
                    throw rw.refusal(id, "spatial = 0 (per-activation statistics) does not exist from opset 9")
                }
                rw.removeAttribute(id, "spatial")
            },
            .unchanged("BatchNormalization", 9, .down, "spatial defaults to 1, the only meaning from 9 (case 1)"),
            .adapter("BatchNormalization", 14, .up, "unused training outputs dropped (case 2)") { rw, id in
                for slot in (1..<max(1, rw.graph[node: id].outputs.count)).reversed() {
                    try rw.dropOutput(id, slot, because: "BatchNormalization-14 has no training statistics outputs in inference mode")
                }
                try rw.trimOutputs(id)
            },
            .adapter("BatchNormalization", 14, .down, "training_mode = 1 refused and dropped (case 2)") { rw, id in
                if try rw.int(id, "training_mode", default: 0) != 0 {
                    throw rw.refusal(id, "training_mode = 1 has no equivalent before opset 14")
                }
                rw.removeAttribute(id, "training_mode")
                for slot in (1..<max(1, rw.graph[node: id].outputs.count)).reversed() {
                    try rw.dropOutput(id, slot, because: "its meaning differs before opset 14")
                }
                try rw.trimOutputs(id)
            },
            .adapter("Dropout", 10, .up, "unused mask dropped; a used mask is refused (case 4)") { rw, id in
                try rw.dropOutput(id, 1, because: "the mask's type changes from T to bool at opset 10")
                try rw.trimOutputs(id)
            },
            .adapter("Dropout", 10, .down, "unused mask dropped; a used mask is refused (case 4)") { rw, id in
                try rw.dropOutput(id, 1, because: "the mask's type changes from bool to T before opset 10")
                try rw.trimOutputs(id)
            },
            .adapter("Dropout", 12, .up, "ratio attribute -> float scalar input (case 5)") { rw, id in
                guard rw.graph[node: id].attribute("ratio") != nil else { return }
                let ratio = try rw.graph[node: id].float("ratio")
                rw.removeAttribute(id, "ratio")
                rw.setInput(id, 1, try rw.addConstant(.float32([ratio], dims: []), named: "\(rw.graph[node: id].name)_ratio", before: id))
            },
            .adapter("Dropout", 12, .down, "training_mode must be false; ratio input -> attribute; seed dropped (case 5)") { rw, id in
                if let t = rw.input(id, 2) {
                    guard let mode = try rw.constantDoubles(t), mode.allSatisfy({ $0 == 0 }) else {
                        throw rw.refusal(id, "training_mode input '\(rw.graph.name(of: t))' is not a constant false; training-mode Dropout has no equivalent before opset 12")
                    }
                    rw.clearInput(id, 2)
                }
                if let r = rw.input(id, 1) {
                    guard let ratio = try rw.constantDoubles(r), ratio.count == 1 else {
                        throw rw.refusal(id, "ratio input '\(rw.graph.name(of: r))' must be a constant scalar before opset 12")
                    }
                    rw.setAttribute(id, "ratio", .float(Float(ratio[0])))
                    rw.clearInput(id, 1)
                }
                rw.removeAttribute(id, "seed")
                try maskWithoutDropout(&rw, id)
            },
        ]
        rules += OpsetRule.typesChecked("BatchNormalization", 15, "scale/bias and mean/var type parameters split (case 3)")
        return rules
    }

    /// Case 6: an inference Dropout-12 mask is all true (`ones(shape(x))`); before 12 the mask
    /// outside training is unspecified (onnxruntime's Dropout-10 writes all false), so a used
    /// mask is computed as `ConstantOfShape(Shape(x), true)` and the node loses output 1.
    static func maskWithoutDropout(_ rw: inout OpsetRewriter, _ id: NodeID) throws {
        guard let mask = rw.output(id, 1) else { return }
        guard let x = rw.input(id, 0) else { throw rw.refusal(id, "input 0 is empty") }
        let base = rw.graph[node: id].name.isEmpty ? "dropout" : rw.graph[node: id].name
        try rw.graph.setOutput(of: id, at: 1, to: nil)
        let trimmed = try rw.trimOutputs(id)
        let (_, shape) = try rw.addNode("Shape", [x], named: "\(base)_mask_shape", before: trimmed)
        let one = Tensor(dataType: .bool, dims: [1], storage: .raw([UInt8(1)].withUnsafeBytes { TensorBytes($0) }))
        try rw.addNode("ConstantOfShape", [shape[0]], producing: [mask], attributes: [Attribute("value", .tensor(one))],
                       named: "\(base)_mask", after: trimmed)
    }
}
