import KilnIR

extension ModelCost {
    /// The compute and memory section of `kiln inspect`'s text report.
    public var textLines: [String] {
        var out: [String] = []
        out.append("Compute: \(macs.text) MACs, \(flops.text) FLOPs"
                   + (nodesWithoutShapes > 0 ? " (\(nodesWithoutShapes) nodes without known shapes)" : ""))
        let top = byOp.filter { !$0.flops.terms.isEmpty || $0.flops.unknown }.prefix(12)
        if !top.isEmpty {
            out.append("  op                           nodes  MACs                  FLOPs")
            for c in top {
                out.append("  " + c.op.padding(28) + String(c.nodes).leftPadding(6) + "  "
                           + c.macs.text.padding(21) + c.flops.text)
            }
        }
        if let peak = activations.peakBytes {
            out.append("Activations: peak \(ModelSummary.bytesText(peak)) live (at \(activations.peakAt ?? "inputs")), "
                       + "\(ModelSummary.bytesText(activations.totalBytes ?? 0)) without reuse")
        } else if let why = activations.reason {
            out.append("Activations: not estimated: \(why)")
        }
        if !largestTensors.isEmpty {
            out.append("Largest tensors:")
            for t in largestTensors.prefix(5) {
                out.append("  " + t.name.padding(40) + "\(t.dtype)[\(t.shape.map(String.init).joined(separator: "x"))]".padding(24)
                           + ModelSummary.bytesText(t.bytes).leftPadding(10))
            }
        }
        return out
    }
}
