import KilnIR

/// One self-contained HTML page (no network resources) showing one or more graphs side by side:
/// wheel to zoom, drag to pan, click a box for its details.
enum HTML {
    struct Panel {
        var title: String
        var layout: GraphLayout
        var classOf: (String) -> String?
        /// Box key -> detail lines shown on click.
        var details: [String: [String]]
    }

    static func escape(_ s: String) -> String {
        var r = ""
        r.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": r += "&amp;"
            case "<": r += "&lt;"
            case ">": r += "&gt;"
            case "\"": r += "&quot;"
            default: r.append(c)
            }
        }
        return r
    }

    /// A JSON string literal, safe inside `<script>`.
    static func json(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "<": r += "\\u003c"
            case ">": r += "\\u003e"
            case "&": r += "\\u0026"
            default:
                if u.value < 0x20 { r += String(format: u.value) } else { r.unicodeScalars.append(u) }
            }
        }
        return r + "\""
    }

    private static func String(format v: UInt32) -> Swift.String {
        let hex = Swift.String(v, radix: 16)
        return "\\u" + Swift.String(repeating: "0", count: 4 - hex.count) + hex
    }

    static func page(title: String, summary: [String], panels: [Panel]) -> String {
        var details: [String] = []
        for (p, panel) in panels.enumerated() {
            for (k, lines) in panel.details.sorted(by: { $0.key < $1.key }) {
                details.append("\(json("\(p):\(k)")):[\(lines.map(json).joined(separator: ","))]")
            }
        }
        let svgs = panels.enumerated().map { p, panel in
            """
            <section class="panel" data-p="\(p)"><h2>\(escape(panel.title))</h2>
            <svg viewBox="0 0 \(Int(panel.layout.width)) \(Int(panel.layout.height))" data-w="\(Int(panel.layout.width))" data-h="\(Int(panel.layout.height))" preserveAspectRatio="xMidYMin meet">
            \(panel.layout.svg(classOf: panel.classOf))
            </svg></section>
            """
        }.joined(separator: "\n")
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{margin:0;font:13px Helvetica,Arial,sans-serif;color:#222;display:flex;flex-direction:column;height:100vh}
        header{padding:8px 14px;background:#f4f6f9;border-bottom:1px solid #d8dde5}
        header h1{font-size:16px;margin:0 0 4px}
        header p{margin:2px 0}
        main{flex:1;display:flex;min-height:0}
        .panel{flex:1;display:flex;flex-direction:column;border-right:1px solid #d8dde5;min-width:0}
        .panel h2{font-size:13px;margin:0;padding:4px 10px;background:#fafbfc;border-bottom:1px solid #e4e7ec}
        svg{flex:1;width:100%;cursor:grab;background:#fff}
        .edge{fill:none;stroke:#9aa7b8;stroke-width:1.2}
        .box rect{fill:#eef3fb;stroke:#7d93b2;stroke-width:1}
        .box.input rect{fill:#e6f4e6;stroke:#6a9f6a}
        .box.output rect{fill:#fbeee6;stroke:#c08a63}
        .box.removed rect{fill:#fde2e2;stroke:#c0392b;stroke-width:2}
        .box.added rect{fill:#dff5e3;stroke:#27ae60;stroke-width:2}
        .box.changed rect{fill:#fff3d6;stroke:#d68910;stroke-width:2}
        .box.selected rect{stroke:#1f4e99;stroke-width:3}
        .box text{text-anchor:middle;font-size:11px;pointer-events:none}
        .box text.nm{fill:#666;font-size:9px}
        .box{cursor:pointer}
        aside{width:320px;overflow:auto;padding:8px 12px;border-left:1px solid #d8dde5;background:#fcfcfd}
        aside pre{white-space:pre-wrap;font:12px Menlo,Consolas,monospace}
        .legend span{display:inline-block;padding:1px 6px;margin-right:6px;border-radius:3px}
        </style></head><body>
        <header><h1>\(escape(title))</h1>\(summary.map { "<p>\(escape($0))</p>" }.joined())</header>
        <main>\(svgs)<aside id="details"><b>Click a node</b> for its details. Wheel: zoom. Drag: pan.</aside></main>
        <script>
        const DETAILS={\(details.joined(separator: ","))};
        document.querySelectorAll('svg').forEach(svg=>{
          let vb=svg.viewBox.baseVal, drag=null;
          svg.addEventListener('wheel',e=>{e.preventDefault();const k=e.deltaY>0?1.15:1/1.15;
            const r=svg.getBoundingClientRect(), px=vb.x+(e.clientX-r.left)/r.width*vb.width, py=vb.y+(e.clientY-r.top)/r.height*vb.height;
            vb.x=px-(px-vb.x)*k; vb.y=py-(py-vb.y)*k; vb.width*=k; vb.height*=k;},{passive:false});
          svg.addEventListener('mousedown',e=>{drag={x:e.clientX,y:e.clientY,vx:vb.x,vy:vb.y};});
          window.addEventListener('mouseup',()=>{drag=null;});
          svg.addEventListener('mousemove',e=>{if(!drag)return;const r=svg.getBoundingClientRect();
            vb.x=drag.vx-(e.clientX-drag.x)/r.width*vb.width; vb.y=drag.vy-(e.clientY-drag.y)/r.height*vb.height;});
        });
        document.querySelectorAll('.box').forEach(g=>g.addEventListener('click',e=>{
          document.querySelectorAll('.box.selected').forEach(x=>x.classList.remove('selected'));
          g.classList.add('selected');
          const p=g.closest('.panel').dataset.p, key=g.dataset.key, lines=DETAILS[p+':'+key]||[key];
          const d=document.getElementById('details'); d.textContent='';
          const pre=document.createElement('pre'); pre.textContent=lines.join('\\n'); d.appendChild(pre);
        }));
        </script></body></html>
        """
    }

    /// Detail lines for each node of `g` (keyed by `keys`), graph inputs and outputs.
    static func details(_ g: Graph, keys: [NodeID: String]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        func type(_ v: ValueID) -> String { g[value: v].type?.description ?? "?" }
        for v in g.inputs where !g.isConstant(v) { out[g.name(of: v)] = ["input \(g.name(of: v))", type(v)] }
        for v in g.outputs { out["output:" + g.name(of: v)] = ["output \(g.name(of: v))", type(v)] }
        for id in g.order {
            let n = g[node: id]
            var lines = ["\(n.opType)\(n.domain.isEmpty ? "" : " (\(n.domain))")", "name: \(n.name.isEmpty ? "-" : n.name)"]
            if !n.attributes.isEmpty {
                lines.append("attributes:")
                for a in n.attributes { lines.append("  \(a.name) = \(ModelDiff.render(a.value))") }
            }
            lines.append("inputs:")
            for v in n.inputs {
                guard let v else { lines.append("  (empty)"); continue }
                if let t = g[value: v].initializer, !g.isGraphInput(v) {
                    lines.append("  \(g.name(of: v)): constant \(t.dataType.name)[\(t.dims.map(Swift.String.init).joined(separator: "x"))]")
                } else {
                    lines.append("  \(g.name(of: v)): \(type(v))")
                }
            }
            lines.append("outputs:")
            for v in n.outputs { if let v { lines.append("  \(g.name(of: v)): \(type(v))") } }
            out[keys[id] ?? n.name] = lines
        }
        return out
    }
}

/// `kiln inspect --format html`.
public enum InspectHTML {
    public static func render(_ model: Model, summary: ModelSummary) -> String {
        let g = model.graph
        let keys = nodeKeys(g)
        let layout = GraphLayout(g, nodeKeys: keys)
        var lines = ["\(g.nodeCount) nodes, \(summary.parameters) parameters, opsets "
                     + summary.opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", ")]
        if let c = summary.cost { lines.append("\(c.macs.text) MACs, \(c.flops.text) FLOPs") }
        return HTML.page(title: summary.file ?? g.name, summary: lines,
                         panels: [HTML.Panel(title: g.name, layout: layout, classOf: { _ in nil },
                                             details: HTML.details(g, keys: keys))])
    }

    static func nodeKeys(_ g: Graph) -> [NodeID: String] {
        var out: [NodeID: String] = [:]
        var used = Set<String>()
        for (i, id) in g.order.enumerated() {
            let n = g[node: id]
            var l = n.name.isEmpty ? "\(n.opType)#\(i)" : n.name
            if !used.insert(l).inserted { l = "\(l)#\(i)"; used.insert(l) }
            out[id] = l
        }
        return out
    }
}

/// `kiln diff --format html`: the two graphs side by side, removed nodes red in A, added green in
/// B, changed amber in both.
public enum DiffHTML {
    public static func render(_ diff: ModelDiff, _ ma: Model, _ mb: Model) -> String {
        let ka = InspectHTML.nodeKeys(ma.graph), kb = InspectHTML.nodeKeys(mb.graph)
        let removed = Set(diff.removed.map(\.name)), added = Set(diff.added.map(\.name))
        let changedA = Set(diff.changed.map(\.a)), changedB = Set(diff.changed.map(\.b))
        var da = HTML.details(ma.graph, keys: ka), db = HTML.details(mb.graph, keys: kb)
        for c in diff.changed {
            var lines = ["changed:"]
            for a in c.attributes { lines.append("  \(a.name): \(a.a ?? "-") -> \(a.b ?? "-")") }
            for w in c.weights { lines.append("  input \(w.input): max |diff| \(w.maxAbsDiff.map { "\($0)" } ?? "-"), cosine \(w.cosine.map { "\($0)" } ?? "-")") }
            if !c.rewired.isEmpty { lines.append("  inputs rewired: \(c.rewired)") }
            da[c.a, default: []] += lines
            db[c.b, default: []] += lines
        }
        let s = diff.summary
        var lines = ["nodes \(s.nodesA) -> \(s.nodesB): \(s.identical) identical, \(s.changed) changed, \(s.removed) removed, \(s.added) added"]
        lines += diff.rewrites.prefix(8).map { "\($0.description)\($0.count > 1 ? " (x\($0.count))" : "")" }
        return HTML.page(
            title: "\(diff.fileA ?? "A") vs \(diff.fileB ?? "B")", summary: lines,
            panels: [
                HTML.Panel(title: "A: \(diff.fileA ?? "")", layout: GraphLayout(ma.graph, nodeKeys: ka),
                           classOf: { removed.contains($0) ? "removed" : (changedA.contains($0) ? "changed" : nil) }, details: da),
                HTML.Panel(title: "B: \(diff.fileB ?? "")", layout: GraphLayout(mb.graph, nodeKeys: kb),
                           classOf: { added.contains($0) ? "added" : (changedB.contains($0) ? "changed" : nil) }, details: db),
            ])
    }
}
