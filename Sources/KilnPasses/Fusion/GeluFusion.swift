import KilnIR

/// The decomposed GELU an exporter writes becomes the standard `Gelu` (opset 20).
///
/// The root Mul is read as a product (`Product`: commuted operands, Div by a constant, the 0.5
/// anywhere in the chain) and must be `0.5 * x * (1 + f)` with `1 + f` an Add of the constant 1:
/// 1. erf form: `f = Erf(x / sqrt(2))` (or `Erf(x * 0.70710678)`): `Gelu(x)`.
/// 2. tanh form: `f = Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))`, the cube as `Pow(x, 3)`, `x*x*x` or
///    `x * Pow(x, 2)`, or factored as `sqrt(2/pi) * x * (1 + 0.044715 * x^2)`:
///    `Gelu(x, approximate = "tanh")`.
/// Every constant is checked against its exact value within the precision of its type
/// (`constantTolerance`), and every interior value must be read once.
struct GeluPattern: FusionPattern {
    let name = "fuse-gelu"
    let rootOps: Set<String> = [FusionOp.mul, FusionOp.div]
    var minimumOpset: Int { 20 }
    var isOpsetFusion: Bool { true }

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(reaches(graph, from: root, [FusionOp.erf, FusionOp.tanh], depth: 4), "no Erf or Tanh near")
        let m = Matcher(graph, scope)
        let z = try m.output(root)
        guard let type = m.type(z), isFusableFloat(type) else { throw NoMatch("output type is not floating point") }
        let tol = constantTolerance(type)
        let maxRank = m.rank(z) ?? 1
        let outer = m.product(z, maxConstantRank: maxRank)
        try require(outer.factors.count == 2, "not a product of x and (1 + f)")
        try require(approximately(outer.coefficient, 0.5, relative: tol), "coefficient \(outer.coefficient) is not 0.5")
        for (x, onePlus) in [(outer.factors[0], outer.factors[1]), (outer.factors[1], outer.factors[0])] {
            guard let (one, f, _) = m.addOfConstant(onePlus, maxConstantRank: maxRank),
                  approximately(one, 1, relative: tol), (try? m.interior(onePlus)) != nil,
                  (try? m.interior(f)) != nil else { continue }
            if let erf = m.producer(f, FusionOp.erf), let arg = m.optionalInput(erf, 0) {   // case 1
                let p = m.product(arg, maxConstantRank: maxRank)
                try require(p.factors == [x], "Erf argument is not a multiple of x")
                try require(approximately(p.coefficient, 1 / 2.0.squareRoot(), relative: tol),
                            "Erf argument scale \(p.coefficient) is not 1/sqrt(2)")
                try require(arg == x || (try? m.interior(arg)) != nil, "Erf argument has other uses")
                return replacement(z, x: x, approximate: nil, root: root, m)
            }
            if let tanh = m.producer(f, FusionOp.tanh), let arg = m.optionalInput(tanh, 0) {   // case 2
                try require((try? m.interior(arg)) != nil, "Tanh argument has other uses")
                try tanhArgument(arg, x: x, tol: tol, maxRank: maxRank, m)
                return replacement(z, x: x, approximate: "tanh", root: root, m)
            }
        }
        throw NoMatch("no factor is 1 + erf(x/sqrt 2) or 1 + tanh(...)")
    }

    /// Checks that `arg` is `sqrt(2/pi) * (x + 0.044715 x^3)` in one of its spellings (case 2).
    func tanhArgument(_ arg: ValueID, x: ValueID, tol: Double, maxRank: Int, _ m: Matcher) throws(NoMatch) {
        let k = (2 / Double.pi).squareRoot()
        let p = m.product(arg, maxConstantRank: maxRank)
        try require(approximately(p.coefficient, k, relative: tol), "Tanh argument scale \(p.coefficient) is not sqrt(2/pi)")
        // x + 0.044715 x^3 (one factor), or x * (1 + 0.044715 x^2) (two factors)
        let rest = p.factors(except: x)
        try require(rest.count == 1 && p.power(of: x) <= 1, "Tanh argument is not sqrt(2/pi) * (x + 0.044715 x^3)")
        let sum = rest[0]
        try m.interior(sum)
        guard let add = m.producer(sum, FusionOp.add) ?? m.producer(sum, "Sum"), m[add].inputs.count == 2,
              let a = m.optionalInput(add, 0), let b = m.optionalInput(add, 1) else {
            throw NoMatch("Tanh argument has no sum")
        }
        let power = p.power(of: x) == 1 ? 2 : 3
        if power == 2 {
            guard let (one, term, _) = m.addOfConstant(sum, maxConstantRank: maxRank), approximately(one, 1, relative: tol) else {
                throw NoMatch("x * (1 + c x^2) form without the 1")
            }
            try cubicTerm(term, x: x, power: 2, tol: tol, maxRank: maxRank, m)
        } else {
            let term = a == x ? b : a
            try require(a == x || b == x, "sum does not add x")
            try cubicTerm(term, x: x, power: 3, tol: tol, maxRank: maxRank, m)
        }
    }

    func cubicTerm(_ v: ValueID, x: ValueID, power: Int, tol: Double, maxRank: Int, _ m: Matcher) throws(NoMatch) {
        try m.interior(v)
        let p = m.product(v, maxConstantRank: maxRank)
        try require(p.factors.count == power && p.power(of: x) == power, "term is not c * x^\(power)")
        try require(approximately(p.coefficient, 0.044715, relative: tol), "coefficient \(p.coefficient) is not 0.044715")
    }

    func replacement(_ z: ValueID, x: ValueID, approximate: String?, root: NodeID, _ m: Matcher) -> Patch {
        var patch = Patch()
        let attrs = approximate.map { [Attribute("approximate", .string(Array($0.utf8)))] } ?? []
        let base = m[root].name.isEmpty ? m.name(z) : m[root].name
        let g = patch.node1(FusionOp.gelu, name: base + "_gelu", inputs: [.existing(x)], attributes: attrs,
                            output: m.name(z), type: m.graph[value: z].type)
        patch.replace(z, with: g)
        return patch
    }
}
