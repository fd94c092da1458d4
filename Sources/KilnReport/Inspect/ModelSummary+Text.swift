import KilnIR

extension ModelSummary {
    /// The human-readable report of `kiln inspect`.
    public var text: String {
        var out: [String] = []
        if let file { out.append("Model: \(file)") }
        let producer = [producerName, producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        out.append("IR version: \(irVersion)    producer: \(producer.isEmpty ? "-" : producer)"
                   + (modelVersion != 0 ? "    model version: \(modelVersion)" : ""))
        out.append("Opsets: " + opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", "))
        func fmt(_ io: IO) -> String {
            let shape = io.shape.map { "[" + $0.map { d -> String in
                switch d {
                case .value(let v): return String(v)
                case .symbol(let s): return s
                case .unknown: return "?"
                }
            }.joined(separator: ", ") + "]" } ?? "(rank unknown)"
            return "  \(io.name)  \(io.dtype)  \(shape)"
        }
        out.append("Inputs (\(inputs.count)):")
        out.append(contentsOf: inputs.map(fmt))
        out.append("Outputs (\(outputs.count)):")
        out.append(contentsOf: outputs.map(fmt))
        out.append("Nodes: \(counts.nodes) in the main graph, \(counts.nodesTotal) in all; initializers: \(counts.initializers)"
                   + (counts.sparseInitializers > 0 ? " (+\(counts.sparseInitializers) sparse)" : "")
                   + "; subgraphs: \(counts.subgraphs); functions: \(counts.functions)")
        out.append("Parameters: \(ModelSummary.grouped(parameters)) (\(ModelSummary.bytesText(parameterBytes)))")
        if !byDtype.isEmpty {
            out.append("  dtype         tensors      elements        bytes")
            for s in byDtype {
                out.append("  " + s.dtype.padding(12) + String(s.tensors).leftPadding(9)
                           + ModelSummary.grouped(s.elements).leftPadding(14) + ModelSummary.bytesText(s.bytes).leftPadding(13))
            }
        }
        out.append("Operators:")
        let sorted = ops.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        for (op, n) in sorted { out.append("  " + op.padding(28) + String(n).leftPadding(7)) }
        if let cost { out.append(contentsOf: cost.textLines) }
        if !externalData.isEmpty {
            out.append("External data:")
            for f in externalData { out.append("  \(f.location): \(f.tensors) tensors, \(ModelSummary.bytesText(f.bytes))") }
        }
        if !functions.isEmpty { out.append("Functions: " + functions.joined(separator: ", ")) }
        if !metadata.isEmpty {
            out.append("Metadata:")
            for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { out.append("  \(k): \(v)") }
        }
        return out.joined(separator: "\n")
    }

    static func grouped(_ n: Int64) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func bytesText(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(n) B" }
        let rounded = (v * 10).rounded() / 10
        return "\(rounded) \(units[u])"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    func leftPadding(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
