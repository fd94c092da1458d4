import KilnIR

/// Loss functions: SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss.
///
/// Cases:
/// 1. reduction `none`: the shape of the labels/target [N, d1, ...]; `mean` or `sum`: a scalar.
/// 2. SoftmaxCrossEntropyLoss's second output (log_prob): shape of the scores. Types: the scores'.
enum LossRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("SoftmaxCrossEntropyLoss", since: 12) { ctx in
            try loss(&ctx)
            if ctx.hasOutput(1) { ctx.passThrough(0, to: 1) }
        }
        r.register("NegativeLogLikelihoodLoss", since: 12) { ctx in try loss(&ctx) }
    }

    static func loss(_ ctx: inout NodeContext) throws {
        let reduction = try ctx.node.string("reduction", default: "mean")
        ctx.setOutput(0, ctx.elementType(0), reduction == "none" ? ctx.dims(1) : [])
    }
}
