import KilnIR
import KilnPasses

/// Raises the default-domain opset when an emitter needs a newer operator version (per-channel
/// DequantizeLinear: 13; block-wise and 4-bit DequantizeLinear: 21), but only across steps where no
/// operator in the model changes meaning. Otherwise it refuses, naming the operator and the node.
///
/// Rules:
/// 1. Nothing happens when the model's default-domain opset is already high enough.
/// 2. An operator listed in `meaningChanges` with a version `v` such that `old < v <= new` blocks the
///    plain raise (its inputs or attributes moved, e.g. Softmax's axis at 13, Reduce*'s axes at 18,
///    Split's sizes at 13); so does an operator removed in that range (Upsample at 10, Scatter at 11).
///    Such a model is converted with the opset converter (`OpsetConverter`, as `kiln convert --opset`),
///    which rewrites those nodes; when it refuses, the emitter refuses, naming the blocking nodes and
///    the converter's reason.
/// 3. The IR version is raised with the opset when it is older than the one the opset needs
///    (opset 13: IR 7; opset 21 and int4/uint4 tensors: IR 10).
enum OpsetRaise {
    static let meaningChanges: [String: [Int64]] = [
        "Upsample": [10], "Scatter": [11], "Slice": [10], "TopK": [10], "Resize": [11], "Pad": [11], "Clip": [11],
        "Dropout": [12], "BatchNormalization": [9], "Scan": [9], "Split": [13], "Squeeze": [13], "Unsqueeze": [13],
        "ReduceSum": [13], "Softmax": [13], "LogSoftmax": [13], "Hardmax": [13],
        "ReduceMax": [18], "ReduceMin": [18], "ReduceMean": [18], "ReduceProd": [18], "ReduceL1": [18],
        "ReduceL2": [18], "ReduceLogSum": [18], "ReduceLogSumExp": [18], "ReduceSumSquare": [18],
        "GroupNormalization": [21], "DFT": [20],
    ]

    static func irVersion(forOpset v: Int64) -> Int64 { v >= 21 ? 10 : v >= 13 ? 7 : 5 }

    /// Rules 1-3; returns a note when the opset was raised.
    static func ensure(_ model: inout Model, atLeast target: Int64, because why: String) throws -> String? {
        let index = model.opsetImports.firstIndex { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        let old = index.map { model.opsetImports[$0].version } ?? 1
        guard old < target else { return nil }  // rule 1
        var blockers: [String] = []
        model.forEachGraph { graph, _ in
            for (_, node) in graph.nodes where node.domain.isEmpty || node.domain == "ai.onnx" {
                if let versions = meaningChanges[node.opType], let v = versions.first(where: { old < $0 && $0 <= target }) {
                    blockers.append("\(node.label) (\(node.opType) changes at opset \(v))")
                }
            }
        }
        guard blockers.isEmpty else {  // rule 2
            var work = model
            do {
                _ = try OpsetConverter().convert(&work, to: Int(target))
            } catch {
                throw KilnError(.unsupported, "\(why) needs default-domain opset \(target), the model has \(old), and raising it "
                                + "would change the meaning of \(blockers.prefix(5).joined(separator: ", "))"
                                + (blockers.count > 5 ? " and \(blockers.count - 5) more" : "")
                                + "; the opset converter could not convert it either",
                                cause: (error as? KilnError)?.message ?? "\(error)")
            }
            model = work
            return "default-domain opset converted from \(old) to \(target) (\(why)); rewritten: "
                + blockers.prefix(5).joined(separator: ", ") + (blockers.count > 5 ? " and \(blockers.count - 5) more" : "")
        }
        if let index { model.opsetImports[index].version = target } else {
            model.opsetImports.append(OpsetImport(domain: "", version: target))
        }
        model.irVersion = max(model.irVersion, irVersion(forOpset: target))  // rule 3
        return "default-domain opset raised from \(old) to \(target) (\(why))"
    }
}
