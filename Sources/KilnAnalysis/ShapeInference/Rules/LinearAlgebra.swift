import KilnIR

/// Matrix products.
///
/// Cases:
/// 1. MatMul (numpy `matmul`): a 1-D left operand is [1, K] and a 1-D right operand is [K, 1], the
///    added dim removed afterwards; batch dims broadcast; result [..., M, N].
/// 2. MatMulInteger: int32 result; QLinearMatMul: type of y_zero_point (input 7).
/// 3. Gemm: A [M, K] (transA: [K, M]), B [K, N] (transB: [N, K]); result [M, N], type of A.
/// 4. Einsum: dims by label (see `einsum`). Det: the batch dims.
enum LinearAlgebraRules {
    static func register(into r: inout ShapeRuleRegistry) {
        r.register("MatMul") { ctx in ctx.setOutput(0, ctx.elementType(0), try matmul(ctx, 0, 1)) }
        r.register("MatMulInteger", since: 10) { ctx in ctx.setOutput(0, .int32, try matmul(ctx, 0, 1)) }
        r.register("QLinearMatMul", since: 10) { ctx in ctx.setOutput(0, ctx.elementType(7), try matmul(ctx, 0, 3)) }
        r.register("Det", since: 11) { ctx in ctx.setOutput(0, ctx.elementType(0), ctx.dims(0).map { Array($0.dropLast(2)) }) }
        r.register("Einsum", since: 12) { ctx in try einsum(&ctx) }
        r.register("Gemm") { ctx in
            guard let a = ctx.dims(0), let b = ctx.dims(1) else { return ctx.setOutput(0, ctx.elementType(0), nil) }
            guard a.count == 2, b.count == 2 else { throw ctx.error("Gemm needs 2-D A and B, got ranks \(a.count) and \(b.count)") }
            let m = try ctx.node.int("transA", default: 0) != 0 ? a[1] : a[0]
            let n = try ctx.node.int("transB", default: 0) != 0 ? b[0] : b[1]
            ctx.setOutput(0, ctx.elementType(0), [m, n])
        }
    }

    /// Case 4: labels bind dims (equal constants required); `...` broadcasts; the implicit output is
    /// the labels seen once, in alphabetical order, after the ellipsis dims.
    static func einsum(_ ctx: inout NodeContext) throws {
        let type = ctx.elementType(0)
        let equation = try ctx.node.string("equation").filter { $0 != " " }
        let sides = equation.split(separator: "->", omittingEmptySubsequences: false).map(String.init)
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard terms.count == ctx.inputCount else { throw ctx.error("equation has \(terms.count) operands for \(ctx.inputCount) inputs") }
        var bound: [Character: SymDim] = [:]
        var seen: [Character: Int] = [:]
        var ellipsis: [[SymDim]] = []
        for (i, term) in terms.enumerated() {
            guard let dims = ctx.dims(i) else { return ctx.setOutput(0, type, nil) }
            let labels = Array(term.replacing("...", with: "."))
            let dotCount = labels.filter { $0 == "." }.count
            let ellipsisRank = dims.count - (labels.count - dotCount)
            guard ellipsisRank >= 0, dotCount <= 1, dotCount == 1 || ellipsisRank == 0 else {
                throw ctx.error("operand \(i) '\(term)' does not match rank \(dims.count)")
            }
            var k = 0
            for l in labels {
                if l == "." { ellipsis.append(Array(dims[k..<(k + ellipsisRank)])); k += ellipsisRank; continue }
                let d = dims[k]; k += 1
                seen[l, default: 0] += 1
                if let old = bound[l] {
                    if let a = old.constantValue, let b = d.constantValue, a != b, a != 1, b != 1 {
                        throw ctx.error("label '\(l)' is bound to \(a) and \(b)")
                    }
                    if old.constantValue == nil || old.constantValue == 1 { bound[l] = d.constantValue == 1 && old.constantValue == nil ? old : d }
                } else {
                    bound[l] = d
                }
            }
        }
        let broadcastDims = try Broadcast.shapes(ellipsis, ctx: ctx)
        let output: [Character]
        if sides.count > 1 {
            output = Array(sides[1].replacing("...", with: "."))
        } else {
            output = (ellipsis.isEmpty ? [] : ["."]) + seen.filter { $0.value == 1 }.keys.sorted()
        }
        var out: [SymDim] = []
        for l in output {
            if l == "." { out += broadcastDims; continue }
            guard let d = bound[l] else { throw ctx.error("output label '\(l)' appears in no operand") }
            out.append(d)
        }
        ctx.setOutput(0, type, out)
    }

    static func matmul(_ ctx: NodeContext, _ ia: Int, _ ib: Int) throws -> [SymDim]? {
        guard var a = ctx.dims(ia), var b = ctx.dims(ib) else { return nil }
        guard !a.isEmpty, !b.isEmpty else { throw ctx.error("MatMul operands must not be scalars") }
        let aVector = a.count == 1, bVector = b.count == 1
        if aVector { a.insert(.constant(1), at: 0) }
        if bVector { b.append(.constant(1)) }
        let k1 = a[a.count - 1], k2 = b[b.count - 2]
        if let x = k1.constantValue, let y = k2.constantValue, x != y {
            throw ctx.error("MatMul inner dimensions differ: \(x) and \(y)")
        }
        var out = try Broadcast.shapes([Array(a.dropLast(2)), Array(b.dropLast(2))], ctx: ctx)
        if !aVector { out.append(a[a.count - 2]) }
        if !bVector { out.append(b[b.count - 1]) }
        return out
    }
}
