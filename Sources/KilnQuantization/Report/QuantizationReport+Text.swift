import KilnIR

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

extension QuantizationReport {
    /// The table `kiln quantize` prints: what was quantized, per tensor parameters (at most `tensorRows`
    /// rows), per layer SQNR, per output agreement, and what `--max-drop` kept in float.
    public func table(tensorRows: Int = 40) -> String {
        var lines: [String] = []
        var head = "mode \(mode)" + (mode == QuantizationConfig.Mode.static.rawValue ? ", format \(format)" : "")
        if let t = target { head += ", target \(t)" }
        if let m = method { head += ", method \(m) on \(calibrationSamples ?? 0) sample(s)" }
        lines.append(head)
        lines.append("quantized \(quantizedNodes.count) node(s), left \(skipped.count) in float\(keptInFloat.isEmpty ? "" : " (\(keptInFloat.count) by --max-drop)")")
        for note in notes { lines.append("note: \(note)") }

        if !tensors.isEmpty {
            lines.append("")
            lines.append(Self.row(["tensor", "type", "scale", "zero point", "observed", "chosen", "clipped"],
                                  [-36, -6, 11, 11, 22, 22, 8]))
            for t in tensors.prefix(tensorRows) {
                let scale = t.scale.count == 1 ? Self.num(Double(t.scale[0])) : "\(t.scale.count) values"
                let zp = t.zeroPoint.count == 1 ? String(t.zeroPoint[0]) : (Set(t.zeroPoint).count == 1 ? "\(t.zeroPoint[0]) (all)" : "\(t.zeroPoint.count) values")
                lines.append(Self.row([t.tensor, t.type, scale, zp, Self.range(t.observed), Self.range(t.chosen),
                                       t.clippedFraction.map { String(format: "%.2f%%", $0 * 100) } ?? "-"],
                                      [-36, -6, 11, 11, 22, 22, 8]))
            }
            if tensors.count > tensorRows { lines.append("... \(tensors.count - tensorRows) more tensor(s) in --report") }
        }
        if let a = accuracy {
            if !a.layers.isEmpty {
                lines.append("")
                lines.append(Self.row(["layer", "op", "SQNR dB"], [-44, -14, 9]))
                for l in a.layers { lines.append(Self.row([l.node, l.opType, l.sqnr.map { String(format: "%.1f", $0) } ?? "exact"], [-44, -14, 9])) }
            }
            lines.append("")
            lines.append("accuracy on \(a.samples) \(a.source) sample(s):")
            lines.append(Self.row(["output", "cosine", "min cosine", "max abs err", "top-1"], [-30, 10, 11, 12, 8]))
            for o in a.outputs {
                lines.append(Self.row([o.name, String(format: "%.5f", o.cosine), String(format: "%.5f", o.minCosine),
                                       Self.num(o.maxAbsError), o.top1Agreement.map { String(format: "%.1f%%", $0 * 100) } ?? "-"],
                                      [-30, 10, 11, 12, 8]))
            }
            lines.append(String(format: "%@: %.5f", a.metric, a.drop) + (maxDrop.map { String(format: " (--max-drop %g)", $0) } ?? ""))
        }
        if !keptInFloat.isEmpty {
            lines.append("")
            lines.append("kept in float by --max-drop:")
            for k in keptInFloat { lines.append("  \(k.node) (\(k.opType)): \(k.reason)") }
        }
        return lines.joined(separator: "\n")
    }

    private static func range(_ r: TensorRange?) -> String {
        guard let r else { return "-" }
        return "[\(num(Double(r.min))), \(num(Double(r.max)))]"
    }

    private static func num(_ x: Double) -> String { String(format: "%.4g", x) }

    /// Columns padded to `widths` (negative: left-aligned); a long cell keeps its length.
    private static func row(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { cell, w in
            let n = abs(w)
            if cell.count >= n { return cell }
            let pad = String(repeating: " ", count: n - cell.count)
            return w < 0 ? cell + pad : pad + cell
        }.joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }
}
