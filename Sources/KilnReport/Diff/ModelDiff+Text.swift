import KilnIR

extension ModelDiff {
    /// The human-readable report; at most `limit` items per list.
    public func text(limit: Int = 20) -> String {
        var lines: [String] = []
        lines.append("A: \(fileA ?? "-")")
        lines.append("B: \(fileB ?? "-")")
        let s = summary
        lines.append("nodes: \(s.nodesA) -> \(s.nodesB)   parameters: \(s.parametersA) -> \(s.parametersB)")
        lines.append("paired \(s.paired) (identical \(s.identical), changed \(s.changed)), removed \(s.removed), added \(s.added)"
                     + (s.renamedOutputs > 0 ? ", \(s.renamedOutputs) renamed" : ""))
        func section<T>(_ title: String, _ items: [T], _ render: (T) -> String) {
            guard !items.isEmpty else { return }
            lines.append("")
            lines.append("\(title) (\(items.count)):")
            for item in items.prefix(limit) { lines.append("  " + render(item)) }
            if items.count > limit { lines.append("  ... \(items.count - limit) more (--limit)") }
        }
        func short(_ s: String?) -> String {
            guard let s else { return "-" }
            return s.count > 80 ? String(s.prefix(77)) + "..." : s
        }
        section("model", model) { "\($0.field): \(short($0.a)) -> \(short($0.b))" }
        section("inputs/outputs", io) { c in
            switch c.change {
            case "renamed": return "\(c.kind) renamed: \(c.a ?? "") -> \(c.b ?? "")"
            case "changed": return "\(c.kind) \(c.name): \(c.a ?? "") -> \(c.b ?? "")"
            default: return "\(c.kind) \(c.change): \(c.name) \(c.a ?? c.b ?? "")"
            }
        }
        section("rewrites", rewrites) { "\($0.description)\($0.count > 1 ? "  (x\($0.count))" : "")  e.g. \($0.example.prefix(4).joined(separator: ", "))" }
        section("changed nodes", changed) { c in
            var parts: [String] = []
            for a in c.attributes { parts.append("\(a.name): \(a.a ?? "-") -> \(a.b ?? "-")") }
            for w in c.weights {
                if let m = w.maxAbsDiff, let cos = w.cosine {
                    parts.append("input \(w.input) values: max |diff| \(fmt(m)), cosine \(fmt(cos))")
                } else {
                    parts.append("input \(w.input): \(w.dtypeA)\(w.shapeA) -> \(w.dtypeB)\(w.shapeB)")
                }
            }
            if !c.rewired.isEmpty { parts.append("inputs \(c.rewired.map(String.init).joined(separator: ",")) rewired") }
            if let n = c.inputCount { parts.append("inputs \(n[0]) -> \(n[1])") }
            let name = c.a == c.b ? c.a : "\(c.a) -> \(c.b)"
            return "\(c.op) \(name): " + parts.joined(separator: "; ")
        }
        section("removed nodes", removed) { "\($0.op) \($0.name)" }
        section("added nodes", added) { "\($0.op) \($0.name)" }
        if let n = numeric {
            lines.append("")
            lines.append("numeric (rtol \(n.rtol), atol \(n.atol)): \(n.withinTolerance ? "outputs match" : "OUTPUTS DIFFER")")
            for r in n.runs {
                let shapes = r.inputShapes.keys.sorted().map { "\($0)=\(r.inputShapes[$0]!.map(String.init).joined(separator: "x"))" }
                lines.append("  run \(shapes.joined(separator: " ")):")
                for o in r.outputs {
                    lines.append("    output \(o.a): max |diff| \(fmt(o.maxAbsDiff)), max rel \(fmt(o.maxRelDiff)), cosine \(fmt(o.cosine))\(o.withinTolerance ? "" : "  << outside tolerance")")
                }
                lines.append("    intermediates compared \(r.intermediatesCompared), outside tolerance \(r.intermediatesDiverged)"
                             + (r.intermediatesSkipped > 0 ? ", \(r.intermediatesSkipped) not comparable (shapes differ)" : ""))
                if let f = r.firstDivergence {
                    lines.append("    first divergence: \(f.a) (node \(f.node ?? "?")) max |diff| \(fmt(f.maxAbsDiff)), cosine \(fmt(f.cosine))")
                }
            }
        }
        lines.append("")
        lines.append(identical ? "identical" : "different")
        return lines.joined(separator: "\n")
    }

    func fmt(_ x: Double) -> String {
        if x == 0 { return "0" }
        if x.isInfinite || x.isNaN { return "\(x)" }
        let a = abs(x)
        if a >= 1e-3 && a < 1e6 {
            let scaled = (x * 1e6).rounded() / 1e6
            return "\(scaled)"
        }
        return "\(Float(x))"
    }
}
