import KilnIR

/// A constant-mode Pad of the spatial dimensions folds into the padding of the Conv, AveragePool
/// or MaxPool reading it. With `p` the Pad's spatial pads and `q` the consumer's:
/// 1. Conv: padding with 0 is what Conv's own padding does, so `pads' = p + q`. The Pad value must
///    be 0 and `auto_pad` NOTSET.
/// 2. AveragePool: the padded zeros are real input for the pool, so they count in each window's
///    divisor. That is `count_include_pad = 1` semantics: exact when the pool already has
///    `count_include_pad = 1`, or has no padding of its own (then it gets `count_include_pad = 1`).
///    Pad value 0, `ceil_mode = 0` (a ceil window running past the padding has a different divisor).
/// 3. MaxPool ignores its own padding (as if it were -inf). A Pad value of -inf is therefore exact;
///    a value of 0 is exact only when the input is >= 0 (made by Relu, Sigmoid, Softmax, Exp, Abs,
///    Softplus, Clip with min >= 0, or of an unsigned type) and every window keeps at least one
///    real element (dilations 1, each pad smaller than the kernel, `ceil_mode = 0`). A signed input
///    padded with 0 is refused: `max(0, negatives)` differs from `max(negatives)`. The Indices
///    output must be unused (positions shift).
/// Preconditions for all: mode `constant`, pads non-negative and zero on axes 0 and 1, the Pad
/// output read only by the consumer, pads (and value, axes) constant.
struct PadIntoConsumer: FusionPattern {
    let name = "fuse-pad"
    let rootOps: Set<String> = [FusionOp.conv, FusionOp.averagePool, FusionOp.maxPool]
    var minimumOpset: Int { 2 }

    func rewrite(_ root: NodeID, in graph: Graph, scope: GraphScope) throws(NoMatch) -> Patch {
        try require(readsOutputOf(graph, root, [FusionOp.pad]), "input is not produced by Pad")
        let m = Matcher(graph, scope)
        let node = m[root]
        let y = try m.output(root)
        let padded = try m.input(root, 0)
        let pad = try m.expect(padded, FusionOp.pad)
        try m.interior(padded)
        try require(try m.string(pad, "mode", "constant") == "constant", "Pad mode is not constant")
        let spatial: Int
        if node.opType == FusionOp.conv {
            guard let w = m.constant(try m.input(root, 1)) else { throw NoMatch("Conv weight is not constant") }
            spatial = w.dims.count - 2
        } else {
            guard let k = try m.ints(root, "kernel_shape") else { throw NoMatch("\(node.label) has no kernel_shape") }
            spatial = k.count
        }
        let (padsFull, value) = try padAmounts(pad, rank: spatial + 2, m)
        let rank = spatial + 2
        try require(padsFull.allSatisfy { $0 >= 0 }, "Pad has negative pads (cropping)")
        try require(padsFull[0] == 0 && padsFull[1] == 0 && padsFull[rank] == 0 && padsFull[rank + 1] == 0,
                    "Pad pads the batch or channel axis")
        let autoPad = try m.string(root, "auto_pad", "NOTSET")
        try require(autoPad == "NOTSET", "\(node.label) has auto_pad \(autoPad)")
        let own = try m.ints(root, "pads") ?? Array(repeating: 0, count: 2 * spatial)
        try require(own.count == 2 * spatial, "\(node.label) pads have \(own.count) entries")
        var merged = own
        for i in 0..<spatial {
            merged[i] += padsFull[2 + i]
            merged[spatial + i] += padsFull[rank + 2 + i]
        }
        var replaced = [Attribute("pads", .ints(merged))]
        switch node.opType {
        case FusionOp.conv:                                                          // case 1
            try require(value == 0, "Pad value \(value) is not 0")
        case FusionOp.averagePool:                                                   // case 2
            try require(value == 0, "Pad value \(value) is not 0")
            try require(try m.int(root, "ceil_mode", 0) == 0, "AveragePool has ceil_mode = 1")
            if try m.int(root, "count_include_pad", 0) == 0 {
                try require(own.allSatisfy { $0 == 0 }, "AveragePool excludes its own padding from the divisor (count_include_pad = 0)")
                replaced.append(Attribute("count_include_pad", .int(1)))
            }
        default:                                                                     // case 3
            try require(try m.int(root, "ceil_mode", 0) == 0, "MaxPool has ceil_mode = 1")
            let dilations = try m.ints(root, "dilations") ?? []
            try require(dilations.allSatisfy { $0 == 1 }, "MaxPool has dilations \(dilations)")
            let kernel = try m.ints(root, "kernel_shape") ?? []
            for i in 0..<spatial {
                try require(merged[i] < kernel[i] && merged[spatial + i] < kernel[i],
                            "padding \(merged[i]), \(merged[spatial + i]) not smaller than kernel \(kernel[i])")
            }
            if value == -.infinity {
            } else {
                try require(value == 0, "Pad value \(value) is neither 0 nor -inf")
                let source = try m.input(pad, 0)
                try require(isNonNegative(source, m),
                            "MaxPool of a zero-padded input that may be negative (zero padding is not -inf padding)")
            }
        }
        var patch = Patch()
        var inputs: [Patch.Ref?] = node.inputs.map { $0.map { .existing($0) } }
        inputs[0] = .existing(try m.input(pad, 0))
        patch.replace(y, withCopyOf: node, inputs: inputs, setting: replaced, in: m.graph)
        return patch
    }

    /// The Pad's amounts as `[begin..., end...]` over all `rank` axes, and its constant value.
    func padAmounts(_ pad: NodeID, rank: Int, _ m: Matcher) throws(NoMatch) -> ([Int64], Double) {
        var pads: [Int64]
        var value = 0.0
        if m.scope.opset >= 11 {
            guard let p = m.integers(try m.input(pad, 1)) else { throw NoMatch("Pad pads are not constant") }
            pads = p
            if let cv = m.optionalInput(pad, 2) {
                guard let v = m.scalar(cv) else { throw NoMatch("Pad value is not a constant scalar") }
                value = v
            }
            if let av = m.optionalInput(pad, 3) {
                guard let axes = m.integers(av) else { throw NoMatch("Pad axes are not constant") }
                try require(pads.count == 2 * axes.count, "Pad pads do not match its axes")
                var full = [Int64](repeating: 0, count: 2 * rank)
                for (k, a) in axes.enumerated() {
                    let axis = try normalizedAxis(a, rank: rank)
                    full[axis] = pads[k]
                    full[rank + axis] = pads[axes.count + k]
                }
                pads = full
            }
        } else {
            guard let p = try m.ints(pad, "pads") else { throw NoMatch("Pad has no pads attribute") }
            pads = p
            value = Double(try m.float(pad, "value", 0))
        }
        try require(pads.count == 2 * rank, "Pad has \(pads.count) pads for rank \(rank)")
        return (pads, value)
    }

    /// Whether every element of `v` is >= 0 by construction.
    func isNonNegative(_ v: ValueID, _ m: Matcher) -> Bool {
        if let t = m.type(v), [.uint8, .uint16, .uint32, .uint64, .bool].contains(t) { return true }
        guard let p = m.graph.producer(of: v) else {
            if let c = m.floatConstant(v) { return c.values.allSatisfy { $0 >= 0 } }
            return false
        }
        switch m[p].opType {
        case "Relu", "Sigmoid", "Softmax", "Exp", "Abs", "Softplus": return true
        case "Clip":
            if m.scope.opset >= 11 {
                guard let lo = m.optionalInput(p, 1), let v = m.scalar(lo) else { return false }
                return v >= 0
            }
            return ((try? m.float(p, "min", -.infinity)) ?? -.infinity) >= 0
        default: return false
        }
    }
}
