import KilnIR

/// Recurrent layers: RNN, GRU, LSTM.
///
/// Cases (X [seq, batch, input] with layout 0, [batch, seq, input] with layout 1;
/// D = 2 for `bidirectional`, else 1; H = `hidden_size`):
/// 1. Y: [seq, D, batch, H] (layout 1: [batch, seq, D, H]).
/// 2. Y_h and Y_c: [D, batch, H] (layout 1: [batch, D, H]). Types: X's.
enum RecurrentRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register(["RNN", "GRU", "LSTM"]) { ctx in
            let type = ctx.elementType(0)
            let h = SymDim.constant(try ctx.node.int("hidden_size"))
            let d = SymDim.constant(try ctx.node.string("direction", default: "forward") == "bidirectional" ? 2 : 1)
            let layout = try ctx.node.int("layout", default: 0)
            guard let x = ctx.dims(0), x.count == 3 else {
                for k in 0..<ctx.outputCount { ctx.setOutput(k, type, nil) }
                return
            }
            let (seq, batch) = layout == 0 ? (x[0], x[1]) : (x[1], x[0])
            ctx.setOutput(0, type, layout == 0 ? [seq, d, batch, h] : [batch, seq, d, h])
            for k in 1..<max(1, ctx.outputCount) where ctx.hasOutput(k) {
                ctx.setOutput(k, type, layout == 0 ? [d, batch, h] : [batch, d, h])
            }
        }
    }
}
