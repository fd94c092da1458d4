import ArgumentParser
import Kiln

/// `--input-shape NAME:1x3x224x224` (inspect, optimize, convert): parsing and pinning input shapes.
enum InputShape {
    /// Parses each spec; `NAME:` (no dims) pins a scalar.
    static func parse(_ specs: [String]) throws -> [(name: String, dims: [Int64])] {
        try specs.map { spec in
            guard let colon = spec.lastIndex(of: ":") else {
                throw ValidationError("--input-shape '\(spec)' is not NAME:DIMS (e.g. input:1x3x224x224)")
            }
            let name = String(spec[..<colon]), text = spec[spec.index(after: colon)...]
            let dims = text.isEmpty ? [] : text.split(separator: "x", omittingEmptySubsequences: false).map { Int64($0) }
            guard !name.isEmpty, dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw ValidationError("--input-shape '\(spec)': dimensions must be non-negative integers separated by 'x'")
            }
            return (name, dims.map { $0! })
        }
    }

    /// Sets each named graph input's dims (keeping its element type and dim denotations). The rank
    /// must match a known rank and static dims must agree.
    static func apply(_ shapes: [(name: String, dims: [Int64])], to model: inout Model, file: String) throws {
        for (name, dims) in shapes {
            let g = model.graph
            guard let id = g.valueID(named: name), g.isGraphInput(id), !g.isConstant(id) else {
                let names = g.inputs.filter { !g.isConstant($0) }.map { g.name(of: $0) }
                throw KilnError(.invalidInput, "--input-shape: '\(name)' is not a graph input (inputs: \(names.joined(separator: ", ")))",
                                at: .init(file: file))
            }
            guard case .tensor(let elem?, let old)? = g[value: id].type?.kind else {
                throw KilnError(.invalidInput, "--input-shape: input '\(name)' is not a tensor with a known element type", at: .init(file: file))
            }
            if let old {
                guard old.rank == dims.count else {
                    throw KilnError(.invalidInput, "--input-shape: input '\(name)' has rank \(old.rank), not \(dims.count)", at: .init(file: file))
                }
                for (i, d) in old.dims.enumerated() {
                    if let v = d.staticValue, v != dims[i] {
                        throw KilnError(.invalidInput, "--input-shape: input '\(name)' dimension \(i) is \(v), not \(dims[i])", at: .init(file: file))
                    }
                }
            }
            var fixed = old ?? Shape(static: dims)
            fixed.dims = dims.map { .value($0) }
            model.graph[value: id].type?.kind = .tensor(elementType: elem, shape: fixed)
        }
    }
}
