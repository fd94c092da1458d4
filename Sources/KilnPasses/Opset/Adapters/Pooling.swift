import KilnIR

/// MaxPool, AveragePool, LpPool, Conv, ConvTranspose, MaxUnpool.
///
/// Cases:
/// 1. Attributes added with a neutral value (MaxPool-8 storage_order, MaxPool-10 and
///    AveragePool-10 ceil_mode, MaxPool-10, AveragePool-19 and LpPool-18 dilations, LpPool-18
///    ceil_mode): free up; down, a node using them is refused (dilations of all 1 are neutral).
/// 2. MaxPool-8 added the `Indices` output: down, a used Indices output is refused, an unused
///    one dropped.
/// 4. MaxPool-22 and AveragePool-22 (bfloat16 added) also drop, with ceil_mode = 1, a last window
///    that would start in the end padding (the output is one shorter there). Both directions are
///    free when every spatial axis has a static size and no such window; otherwise refused.
/// 3. Opset 11 versions of Conv, ConvTranspose, MaxPool, AveragePool, LpPool and MaxUnpool changed
///    documentation and shape inference (explicit pads, output_shape), not results for explicit
///    pads: free; ConvTranspose with auto_pad SAME_* is refused down (11 fixed which side gets the
///    extra padding).
extension OpsetAdapters {
    static func dilationsAdded(_ op: String, _ version: Int, ceilMode: Bool) -> [OpsetRule] {
        [
            .unchanged(op, version, .up, "adds \(ceilMode ? "ceil_mode and " : "")dilations; absent means the old behaviour (case 1)"),
            .adapter(op, version, .down, "neutral \(ceilMode ? "ceil_mode/" : "")dilations dropped, others refused (case 1)") { rw, id in
                if let d = try rw.ints(id, "dilations"), d.contains(where: { $0 != 1 }) {
                    throw rw.refusal(id, "dilations \(d) do not exist before opset \(version)")
                }
                rw.removeAttribute(id, "dilations")
                if ceilMode {
                    if try rw.int(id, "ceil_mode", default: 0) != 0 { throw rw.refusal(id, "ceil_mode = 1 does not exist before opset \(version)") }
                    rw.removeAttribute(id, "ceil_mode")
                }
            },
        ]
    }

    static var pooling: [OpsetRule] {
        var rules: [OpsetRule] = [
            .unchanged("MaxPool", 8, .up, "adds storage_order and the Indices output (case 2)"),
            .adapter("MaxPool", 8, .down, "unused Indices dropped, storage_order dropped (case 2)") { rw, id in
                try rw.dropOutput(id, 1, because: "MaxPool has no Indices output before opset 8")
                rw.removeAttribute(id, "storage_order")
                try rw.trimOutputs(id)
            },
        ]
        rules += dilationsAdded("MaxPool", 10, ceilMode: true)
        rules += OpsetRule.attributesAdded("AveragePool", 10, [("ceil_mode", .int(0))], "ceil_mode (case 1)")
        rules += dilationsAdded("AveragePool", 19, ceilMode: false)
        rules += dilationsAdded("LpPool", 18, ceilMode: true)
        for op in ["Conv", "MaxPool", "AveragePool", "LpPool", "MaxUnpool", "NonMaxSuppression"] {
            rules += OpsetRule.same(op, 11, "opset 11 clarified padding and output-shape documentation; results unchanged (case 3)")
        }
        for op in ["MaxPool", "AveragePool"] {
            for direction in OpsetDirection.allCases {
                rules.append(.unchanged(op, 22, direction, "bfloat16 added; ceil_mode windows starting in the padding checked (case 4)") { rw, id in
                    try ceilModeWindows(&rw, id)
                })
            }
        }
        rules.append(.unchanged("ConvTranspose", 11, .up, "opset 11 fixed SAME_* padding sides (case 3)") { rw, id in
            let pad = try rw.string(id, "auto_pad", default: "NOTSET")
            if pad.hasPrefix("SAME") { throw rw.refusal(id, "auto_pad \(pad) changes meaning at opset 11") }
        })
        rules.append(.unchanged("ConvTranspose", 11, .down, "refuses auto_pad SAME_* (case 3)") { rw, id in
            let pad = try rw.string(id, "auto_pad", default: "NOTSET")
            if pad.hasPrefix("SAME") { throw rw.refusal(id, "auto_pad \(pad) changes meaning before opset 11") }
        })
        return rules
    }

    /// Case 4: refuses a ceil_mode pool whose output size depends on the opset-22 rule.
    static func ceilModeWindows(_ rw: inout OpsetRewriter, _ id: NodeID) throws {
        guard try rw.int(id, "ceil_mode", default: 0) == 1 else { return }
        let why = "ceil_mode = 1: opset 22 drops a last window that starts in the padding"
        guard try rw.string(id, "auto_pad", default: "NOTSET") == "NOTSET",
              let dims = rw.shape(rw.input(id, 0))?.dims, dims.count > 2,
              let kernel = try rw.ints(id, "kernel_shape") else {
            throw rw.refusal(id, "\(why), and the output size cannot be checked (auto_pad or unknown shape)")
        }
        let n = kernel.count
        let strides = try rw.ints(id, "strides") ?? Array(repeating: 1, count: n)
        let dilations = try rw.ints(id, "dilations") ?? Array(repeating: 1, count: n)
        let pads = try rw.ints(id, "pads") ?? Array(repeating: 0, count: 2 * n)
        guard dims.count == n + 2, strides.count == n, dilations.count == n, pads.count == 2 * n else {
            throw rw.refusal(id, "\(why), and the pooling attributes do not match the input rank")
        }
        for i in 0..<n {
            guard let size = dims[i + 2].staticValue else { throw rw.refusal(id, "\(why), and spatial axis \(i) has no static size") }
            let span = size + pads[i] + pads[i + n] - ((kernel[i] - 1) * dilations[i] + 1)
            let out = (span + strides[i] - 1) / strides[i] + 1
            if (out - 1) * strides[i] >= size + pads[i] {
                throw rw.refusal(id, "\(why), which changes the output size of spatial axis \(i)")
            }
        }
    }
}
