import KilnIR

/// A unary operator applied twice where once (or never) gives the same result.
///
/// 1. Idempotent `f` (Relu, Abs, Floor, Ceil, Round, Sign): `f(f(x)) = f(x)` elementwise, so the
///    outer node's output is the inner node's output. The inner output may have other readers.
/// 2. Involutions (Neg, Not): `g(g(x)) = x` elementwise (two's-complement Neg too: `-(-m) = m` for
///    every m, the most negative value included), so the outer output is `x` itself.
/// The outer node's output must not be a graph input; the driver keeps graph-output names.
struct UnaryChain: FusionPattern {
    let name = "merge-unary-chains"
    static let idempotent: Set<String> = ["Relu", "Abs", "Floor", "Ceil", "Round", "Sign"]
    static let involutions: Set<String> = ["Neg", "Not"]
    let rootOps: Set<String> = UnaryChain.idempotent.union(UnaryChain.involutions)

    func rewrite(_ outer: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        let m = Matcher(graph, scope)
        let op = m[outer].opType
        let (z, inner, x) = try m.chain(outer, inner: op)
        var patch = Patch()
        if Self.involutions.contains(op) {                                               // case 2
            patch.replace(z, with: .existing(x))
        } else {                                                                          // case 1
            patch.replace(z, with: .existing(try m.output(inner)))
        }
        return patch
    }
}
