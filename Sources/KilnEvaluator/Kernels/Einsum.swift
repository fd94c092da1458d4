import KilnIR
import Foundation

/// Einsum (opset 12): `"ij,jk->ik"`-style equations over any number of operands.
///
/// 1. Each operand's labels are its letters; `...` stands for the operand's remaining (leading)
///    axes, aligned right across operands and broadcast (size 1 stretches).
/// 2. Without `->`, the output is the ellipsis axes followed by the labels used exactly once, in
///    alphabetical order.
/// 3. Every output element sums, over all values of the labels not in the output, the product of
///    the operands' elements at those label values (a repeated label in one operand reads its
///    diagonal). Computed in Double (Int64 for integer types), written in the operands' type.
enum EinsumKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("Einsum", since: 12) { ctx in
            let operands = try ctx.allTensors()
            guard let first = operands.first else { throw ctx.error("needs at least one input") }
            let equation = try ctx.string("equation").filter { $0 != " " }
            let sides = equation.components(separatedBy: "->")
            let inputs = sides[0].components(separatedBy: ",")
            guard inputs.count == operands.count, sides.count <= 2 else {
                throw ctx.error("equation '\(equation)' does not match \(operands.count) inputs")
            }
            // Step 1: labels per operand; ellipsis axes become labels "0", "1", ... from the right.
            var ellipsisRank = 0
            for (term, t) in zip(inputs, operands) where term.contains("...") {
                ellipsisRank = max(ellipsisRank, t.rank - term.replacingOccurrences(of: "...", with: "").count)
            }
            var labels: [[String]] = []
            for (term, t) in zip(inputs, operands) {
                let explicit = term.replacingOccurrences(of: "...", with: "").map(String.init)
                let hasEllipsis = term.contains("...")
                let rest = t.rank - explicit.count
                guard rest == 0 || (hasEllipsis && rest > 0) else { throw ctx.error("term '\(term)' does not match rank \(t.rank)") }
                let parts = term.components(separatedBy: "...")
                let ell = hasEllipsis ? (0..<rest).map { "\(ellipsisRank - rest + $0)" } : []
                labels.append(parts[0].map(String.init) + ell + (parts.count > 1 ? parts[1].map(String.init) : []))
            }
            let ellipsisLabels = (0..<ellipsisRank).map { "\($0)" }
            // Sizes (broadcast for ellipsis labels).
            var size: [String: Int] = [:]
            for (ls, t) in zip(labels, operands) {
                for (axis, l) in ls.enumerated() {
                    let d = t.shape[axis]
                    if let known = size[l], known != d {
                        guard known == 1 || d == 1 else { throw ctx.error("label '\(l)' has sizes \(known) and \(d)") }
                        size[l] = max(known, d)
                    } else if size[l] == nil {
                        size[l] = d
                    }
                }
            }
            // Step 2: output labels.
            var output: [String]
            if sides.count == 2 {
                let term = sides[1]
                let parts = term.components(separatedBy: "...")
                output = parts[0].map(String.init) + (term.contains("...") ? ellipsisLabels : []) + (parts.count > 1 ? parts[1].map(String.init) : [])
            } else {
                let counts = labels.flatMap { $0 }.filter { !ellipsisLabels.contains($0) }.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
                output = ellipsisLabels + counts.filter { $0.value == 1 }.map(\.key).sorted()
            }
            for l in output where size[l] == nil { throw ctx.error("output label '\(l)' is not in any input") }
            let summed = Array(Set(labels.flatMap { $0 }).subtracting(output)).sorted()
            let all = output + summed
            let slot = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1, $0) })
            let dims = all.map { size[$0]! }
            // Per operand, per label position: stride into the operand (0 along broadcast axes).
            let access: [[(slot: Int, stride: Int)]] = zip(labels, operands).map { ls, t in
                let st = rowMajorStrides(t.shape)
                return ls.enumerated().map { axis, l in (slot[l]!, t.shape[axis] == 1 ? 0 : st[axis]) }
            }
            let values = operands.map(\.doubles)
            let outShape = output.map { size[$0]! }
            let outCount = shapeCount(outShape), innerCount = shapeCount(Array(dims[output.count...]))
            var result = [Double](repeating: 0, count: outCount)
            var index = [Int](repeating: 0, count: all.count)
            for o in 0..<outCount {
                var rest = o
                for d in stride(from: output.count - 1, through: 0, by: -1) { index[d] = rest % dims[d]; rest /= dims[d] }
                var sum = 0.0
                for s in 0..<innerCount {
                    var r = s
                    for d in stride(from: all.count - 1, through: output.count, by: -1) { index[d] = r % dims[d]; r /= dims[d] }
                    var product = 1.0
                    for (k, acc) in access.enumerated() {
                        var off = 0
                        for a in acc { off += index[a.slot] * a.stride }
                        product *= values[k][off]
                    }
                    sum += product
                }
                result[o] = sum
            }
            return KernelContext.one(try castTensor(TensorValue(shape: outShape, result), to: first.dataType))
        }
    }
}
