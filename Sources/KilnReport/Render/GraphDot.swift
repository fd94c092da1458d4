import KilnIR

/// Graphviz DOT for a graph: one box per node (operator, name, constant inputs with their shapes),
/// an ellipse per graph input and output, edges labelled with the tensor's type when known.
/// `dot -Tsvg` (Debian `graphviz`) renders it.
public enum GraphDot {
    public static func render(_ g: Graph, title: String? = nil) -> String {
        var out = ["digraph \"\(escape(title ?? g.name))\" {",
                   "  rankdir=TB;",
                   "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=10];",
                   "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#667788\"];"]
        var id: [ValueID: String] = [:]
        for (i, v) in g.inputs.enumerated() where !g.isConstant(v) {
            id[v] = "in\(i)"
            out.append("  in\(i) [shape=ellipse, fillcolor=\"#e6f4e6\", label=\"\(escape(g.name(of: v)))\\n\(escape(typeText(g, v)))\"];")
        }
        for (i, nid) in g.order.enumerated() {
            let n = g[node: nid]
            var label = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain):\(n.opType)"
            if !n.name.isEmpty { label += "\\n" + escape(n.name) }
            for v in n.inputs {
                guard let v, let t = g.constantTensor(v) else { continue }
                label += "\\n\(escape(g.name(of: v))) \(t.dataType.name)[\(t.dims.map(String.init).joined(separator: "x"))]"
            }
            out.append("  n\(i) [label=\"\(label)\"];")
            for o in n.outputs { if let o { id[o] = "n\(i)" } }
            for v in n.inputs {
                guard let v, g.constantTensor(v) == nil, let src = id[v] else { continue }
                out.append("  \(src) -> n\(i) [label=\"\(escape(typeText(g, v)))\"];")
            }
        }
        for (i, v) in g.outputs.enumerated() {
            out.append("  out\(i) [shape=ellipse, fillcolor=\"#fbeee6\", label=\"\(escape(g.name(of: v)))\\n\(escape(typeText(g, v)))\"];")
            if let src = id[v] { out.append("  \(src) -> out\(i);") }
        }
        out.append("}")
        return out.joined(separator: "\n")
    }

    static func typeText(_ g: Graph, _ v: ValueID) -> String {
        g[value: v].type?.description ?? ""
    }

    static func escape(_ s: String) -> String {
        var r = ""
        for c in s {
            switch c {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            default: r.append(c)
            }
        }
        return r
    }
}
