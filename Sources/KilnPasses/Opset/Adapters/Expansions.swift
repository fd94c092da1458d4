import KilnIR

/// Hand-written expansions, downward across an operator's introduction, for operators whose
/// schema function body is context-dependent (not in the table). Each is the operator's
/// definition written with older operators, exactly:
///
/// 1. Gelu-20: `0.5 x (1 + erf(x / sqrt 2))`; approximate = tanh:
///    `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
/// 2. LayerNormalization-17 over axes `axis..r-1`: `m = mean(x)`, `d = x - m`,
///    `v = mean(d^2)`, `i = 1 / sqrt(v + eps)`, `y = d i scale (+ B)`; the Mean and InvStdDev
///    outputs are `m` and `i`. float and double inputs only (stash_type is then exact).
/// 3. RMSNormalization-23 over axes `axis..r-1`: `y = x / sqrt(mean(x^2) + eps) * scale`.
/// 4. Celu-12: `alpha * Elu(x / alpha)` (Elu with alpha 1).
///
/// The nodes are written at the current (higher) opset and converted down in the same step.
extension OpsetAdapters {
    static var expansions: [OpsetRule] {
        [
            .expansion("Gelu", 20, "0.5 x (1 + erf(x / sqrt 2)), or the tanh form (case 1)") { rw, id in
                let e = try Emitter(rw, id, floatOnly: true)
                let x = e.x
                let half = try e.scalar(&rw, 0.5), one = try e.scalar(&rw, 1)
                let inner: ValueID
                if try rw.string(id, "approximate", default: "none") == "tanh" {
                    let cube = try e.emit(&rw, "Mul", [x, try e.emit(&rw, "Mul", [x, x])])
                    let sum = try e.emit(&rw, "Add", [x, try e.emit(&rw, "Mul", [cube, try e.scalar(&rw, 0.044715)])])
                    inner = try e.emit(&rw, "Tanh", [try e.emit(&rw, "Mul", [sum, try e.scalar(&rw, (2 / Double.pi).squareRoot())])])
                } else {
                    inner = try e.emit(&rw, "Erf", [try e.emit(&rw, "Div", [x, try e.scalar(&rw, 2.0.squareRoot())])])
                }
                let y = try e.emit(&rw, "Mul", [try e.emit(&rw, "Mul", [x, half]), try e.emit(&rw, "Add", [inner, one])])
                try e.finish(&rw, [y])
            },
            .expansion("LayerNormalization", 17, "mean/variance/scale/bias with ReduceMean (case 2)") { rw, id in
                let e = try Emitter(rw, id, floatOnly: true)
                let rank = try rw.requireRank(id, 0, for: "expanding LayerNormalization")
                let axis = try rw.normalized(id, [try rw.int(id, "axis", default: -1)], rank: rank, what: "axis")[0]
                let axes = Array(axis..<Int64(rank))
                let x = e.x
                let mean = try e.reduceMean(&rw, x, axes)
                let d = try e.emit(&rw, "Sub", [x, mean])
                let variance = try e.reduceMean(&rw, try e.emit(&rw, "Mul", [d, d]), axes)
                let eps = try e.scalar(&rw, Double(try rw.graph[node: id].float("epsilon", default: 1e-5)))
                let inv = try e.emit(&rw, "Reciprocal", [try e.emit(&rw, "Sqrt", [try e.emit(&rw, "Add", [variance, eps])])])
                var y = try e.emit(&rw, "Mul", [try e.emit(&rw, "Mul", [d, inv]), e.input(1)])
                if let b = e.input(2) { y = try e.emit(&rw, "Add", [y, b]) }
                try e.finish(&rw, [y, mean, inv])
            },
            .expansion("RMSNormalization", 23, "x / sqrt(mean(x^2) + eps) * scale (case 3)") { rw, id in
                let e = try Emitter(rw, id, floatOnly: true)
                let rank = try rw.requireRank(id, 0, for: "expanding RMSNormalization")
                let axis = try rw.normalized(id, [try rw.int(id, "axis", default: -1)], rank: rank, what: "axis")[0]
                let x = e.x
                let ms = try e.reduceMean(&rw, try e.emit(&rw, "Mul", [x, x]), Array(axis..<Int64(rank)))
                let eps = try e.scalar(&rw, Double(try rw.graph[node: id].float("epsilon", default: 1e-5)))
                let rms = try e.emit(&rw, "Sqrt", [try e.emit(&rw, "Add", [ms, eps])])
                try e.finish(&rw, [try e.emit(&rw, "Mul", [try e.emit(&rw, "Div", [x, rms]), e.input(1)])])
            },
            .expansion("Celu", 12, "alpha * Elu(x / alpha) (case 4)") { rw, id in
                let e = try Emitter(rw, id, floatOnly: true)
                let alpha = try e.scalar(&rw, Double(try rw.graph[node: id].float("alpha", default: 1)))
                let elu = try e.emit(&rw, "Elu", [try e.emit(&rw, "Div", [e.x, alpha])], [Attribute("alpha", .float(1))])
                try e.finish(&rw, [try e.emit(&rw, "Mul", [elu, alpha])])
            },
        ]
    }

    /// Writes an expansion: nodes valid at the rewriter's current opset, placed before the node
    /// they replace, queued for conversion in the same step.
    struct Emitter {
        let id: NodeID
        let node: Node
        let type: DataType
        /// Input 0.
        let x: ValueID

        init(_ rw: OpsetRewriter, _ id: NodeID, floatOnly: Bool) throws {
            self.id = id
            self.node = rw.graph[node: id]
            guard let x = rw.input(id, 0), let t = rw.elementType(x) else {
                throw rw.refusal(id, "expanding \(node.opType) needs the element type of input 0, which is unknown")
            }
            if floatOnly && !(t == .float || t == .double) {
                throw rw.refusal(id, "expanding \(node.opType) for \(t.name) would change its precision (float and double only)")
            }
            self.type = t
            self.x = x
        }

        func input(_ k: Int) -> ValueID? { k < node.inputs.count ? node.inputs[k] : nil }

        func scalar(_ rw: inout OpsetRewriter, _ v: Double) throws -> ValueID {
            try rw.addConstant(try OpsetAdapters.scalar(v, type, rw, id), named: "\(node.name)_c", before: id)
        }

        func emit(_ rw: inout OpsetRewriter, _ op: String, _ inputs: [ValueID?], _ attributes: [Attribute] = []) throws -> ValueID {
            let (new, outs) = try rw.addNode(op, inputs, attributes: attributes, named: "\(node.name)_\(op.lowercased())", before: id)
            rw.pending.append(new)
            return outs[0]
        }

        /// ReduceMean keeping dims, in the form the current opset takes (attribute before 18).
        func reduceMean(_ rw: inout OpsetRewriter, _ x: ValueID, _ axes: [Int64]) throws -> ValueID {
            let keep = Attribute("keepdims", .int(1))
            if rw.from >= 18 {
                return try emit(&rw, "ReduceMean", [x, try rw.addInts(axes, named: "\(node.name)_axes", before: id)], [keep])
            }
            return try emit(&rw, "ReduceMean", [x], [keep, Attribute("axes", .ints(axes))])
        }

        /// Routes `values` to the node's outputs (through Identity nodes) and removes the node.
        func finish(_ rw: inout OpsetRewriter, _ values: [ValueID]) throws {
            for (k, slot) in node.outputs.enumerated() {
                guard let out = slot else { continue }
                guard k < values.count else { throw rw.refusal(id, "output \(k) has no expansion") }
                try rw.graph.setOutput(of: id, at: k, to: nil)
                let new = try rw.graph.addNode(Node(opType: "Identity", name: rw.freshName("\(node.name)_out\(k)")),
                                               inputs: [values[k]], outputs: [out], at: .before(id))
                rw.pending.append(new)
            }
            for case let v? in node.inputs { rw.released.insert(v) }
            try rw.graph.removeNode(id)
        }
    }
}
