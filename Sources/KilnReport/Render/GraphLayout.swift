import KilnIR

/// A layered drawing of a graph: each node on the layer after its deepest producer, nodes within a
/// layer ordered by the mean position of their producers (one barycenter pass), boxes sized by
/// label. Positions are in SVG user units.
struct GraphLayout {
    struct Box {
        var x: Double, y: Double, width: Double, height: Double
        var label: String
        var detail: String
        var kind: String   // "node", "input", "output"
        var key: String    // node label or value name, unique in the graph
    }

    var boxes: [Box] = []
    /// Edges as (from box index, to box index, label).
    var edges: [(Int, Int, String)] = []
    var width: Double = 0
    var height: Double = 0

    static let layerGap = 70.0, nodeGap = 24.0, boxHeight = 34.0, charWidth = 7.0

    init(_ g: Graph, nodeKeys: [NodeID: String]) {
        var boxOfValue: [ValueID: Int] = [:]
        var layerOf: [Int] = []
        func add(_ box: Box, layer: Int) -> Int {
            boxes.append(box)
            layerOf.append(layer)
            return boxes.count - 1
        }
        for v in g.inputs where !g.isConstant(v) {
            let name = g.name(of: v)
            boxOfValue[v] = add(Box(x: 0, y: 0, width: 0, height: Self.boxHeight, label: name,
                                    detail: g[value: v].type?.description ?? "", kind: "input", key: name), layer: 0)
        }
        var producersOfBox: [[Int]] = Array(repeating: [], count: boxes.count)
        for id in g.order {
            let n = g[node: id]
            var layer = 1
            var preds: [Int] = []
            for v in n.inputs {
                guard let v, let b = boxOfValue[v] else { continue }
                layer = max(layer, layerOf[b] + 1)
                preds.append(b)
            }
            let op = n.domain.isEmpty || n.domain == "ai.onnx" ? n.opType : "\(n.domain):\(n.opType)"
            let b = add(Box(x: 0, y: 0, width: 0, height: Self.boxHeight, label: op, detail: n.name,
                            kind: "node", key: nodeKeys[id] ?? n.name), layer: layer)
            producersOfBox.append(preds)
            for p in preds { edges.append((p, b, "")) }
            for o in n.outputs { if let o { boxOfValue[o] = b } }
        }
        for v in g.outputs {
            let name = g.name(of: v)
            let src = boxOfValue[v]
            let b = add(Box(x: 0, y: 0, width: 0, height: Self.boxHeight, label: name,
                            detail: g[value: v].type?.description ?? "", kind: "output", key: "output:" + name),
                        layer: (src.map { layerOf[$0] } ?? 0) + 1)
            producersOfBox.append(src.map { [$0] } ?? [])
            if let src { edges.append((src, b, "")) }
        }
        // Order within layers by barycenter of producers, then place.
        let layers = (layerOf.max() ?? 0) + 1
        var members: [[Int]] = Array(repeating: [], count: layers)
        for (i, l) in layerOf.enumerated() { members[l].append(i) }
        var slot = [Double](repeating: 0, count: boxes.count)
        for l in 0..<layers {
            let keyed = members[l].enumerated().map { (k, b) -> (Int, Double) in
                let ps = producersOfBox[b]
                return (b, ps.isEmpty ? Double(k) : ps.map { slot[$0] }.reduce(0, +) / Double(ps.count))
            }
            members[l] = keyed.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.map(\.0)
            for (k, b) in members[l].enumerated() { slot[b] = Double(k) }
        }
        for i in boxes.indices {
            boxes[i].width = max(80, Double(max(boxes[i].label.count, min(boxes[i].detail.count, 36))) * Self.charWidth + 16)
        }
        var maxWidth = 0.0
        for l in 0..<layers {
            var x = 20.0
            for b in members[l] {
                boxes[b].x = x
                boxes[b].y = 20 + Double(l) * (Self.boxHeight + Self.layerGap)
                x += boxes[b].width + Self.nodeGap
            }
            maxWidth = max(maxWidth, x)
        }
        // Center each layer.
        for l in 0..<layers {
            guard let last = members[l].last else { continue }
            let used = boxes[last].x + boxes[last].width - 20
            let shift = (maxWidth - 20 - used) / 2
            for b in members[l] { boxes[b].x += shift }
        }
        width = maxWidth + 20
        height = 40 + Double(layers) * (Self.boxHeight + Self.layerGap)
    }

    /// The SVG elements (no outer `<svg>`); `classOf` adds a CSS class per box key (diff highlights).
    func svg(classOf: (String) -> String? = { _ in nil }) -> String {
        var out: [String] = []
        for (a, b, _) in edges {
            let p = boxes[a], q = boxes[b]
            let x1 = p.x + p.width / 2, y1 = p.y + p.height, x2 = q.x + q.width / 2, y2 = q.y
            let my = (y1 + y2) / 2
            out.append("<path class=\"edge\" d=\"M\(f(x1)),\(f(y1)) C\(f(x1)),\(f(my)) \(f(x2)),\(f(my)) \(f(x2)),\(f(y2))\"/>")
        }
        for (i, b) in boxes.enumerated() {
            let cls = ["box", b.kind, classOf(b.key)].compactMap { $0 }.joined(separator: " ")
            out.append("<g class=\"\(cls)\" data-i=\"\(i)\" data-key=\"\(HTML.escape(b.key))\">"
                       + "<rect x=\"\(f(b.x))\" y=\"\(f(b.y))\" width=\"\(f(b.width))\" height=\"\(f(b.height))\" rx=\"6\"/>"
                       + "<text x=\"\(f(b.x + b.width / 2))\" y=\"\(f(b.y + 14))\" class=\"op\">\(HTML.escape(b.label))</text>"
                       + "<text x=\"\(f(b.x + b.width / 2))\" y=\"\(f(b.y + 27))\" class=\"nm\">\(HTML.escape(String(b.detail.prefix(36))))</text></g>")
        }
        return out.joined(separator: "\n")
    }

    private func f(_ x: Double) -> String { String(Int(x.rounded())) }
}
