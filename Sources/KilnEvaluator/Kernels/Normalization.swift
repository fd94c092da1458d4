import KilnIR

/// BatchNormalization (inference), LayerNormalization, InstanceNormalization. Statistics are
/// computed in Double and the result converted back to the input type.
enum NormalizationKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("BatchNormalization", since: 7) { ctx in
            if try ctx.int("training_mode", default: 0) != 0 {
                throw ctx.unsupported("training_mode=1 (batch statistics and running-mean updates) is not supported")
            }
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
            let eps = Double(try ctx.float("epsilon", default: 1e-5))
            let (scale, bias, mean, variance) = (try ctx.tensor(1).doubles, try ctx.tensor(2).doubles,
                                                 try ctx.tensor(3).doubles, try ctx.tensor(4).doubles)
            let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
            guard [scale, bias, mean, variance].allSatisfy({ $0.count == c }) else {
                throw ctx.error("scale, B, mean and var must have \(c) elements (the channel count)")
            }
            var v = x.doubles
            for i in 0..<v.count {
                let ch = (i / inner) % c
                v[i] = (v[i] - mean[ch]) / (variance[ch] + eps).squareRoot() * scale[ch] + bias[ch]
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))
        }
        r.register("LayerNormalization", since: 17) { ctx in
            let x = try ctx.tensor(0)
            let axis = try ctx.axis(ctx.int("axis", default: -1), rank: x.rank)
            let eps = Double(try ctx.float("epsilon", default: 1e-5))
            let scale = try ctx.tensor(1), bias = try ctx.optionalTensor(2)
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis...].reduce(1, *)
            let normShape = Array(x.shape[axis...])
            let s = try broadcastParameter(scale, to: normShape, ctx), b = try bias.map { try broadcastParameter($0, to: normShape, ctx) }
            var v = x.doubles
            var means = [Double](repeating: 0, count: outer), inv = means
            for o in 0..<outer {
                let base = o * n
                var mean = 0.0
                for i in 0..<n { mean += v[base + i] }
                mean /= Double(max(n, 1))
                var variance = 0.0
                for i in 0..<n { variance += (v[base + i] - mean) * (v[base + i] - mean) }
                variance /= Double(max(n, 1))
                let r = 1 / (variance + eps).squareRoot()
                means[o] = mean; inv[o] = r
                for i in 0..<n { v[base + i] = (v[base + i] - mean) * r * s[i] + (b?[i] ?? 0) }
            }
            let statShape = Array(x.shape[..<axis]) + [Int](repeating: 1, count: x.rank - axis)
            let stash = try ctx.int("stash_type", default: 1)
            let statType = DataType(rawValue: Int32(stash)) ?? .float
            return [.tensor(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType)),
                    .tensor(try castTensor(TensorValue(shape: statShape, means), to: statType)),
                    .tensor(try castTensor(TensorValue(shape: statShape, inv), to: statType))]
        }
        r.register("InstanceNormalization", since: 6) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
            let eps = Double(try ctx.float("epsilon", default: 1e-5))
            let scale = try ctx.tensor(1).doubles, bias = try ctx.tensor(2).doubles
            let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
            guard scale.count == c, bias.count == c else { throw ctx.error("scale and B must have \(c) elements") }
            var v = x.doubles
            for g in 0..<(x.count / max(inner, 1)) {
                let base = g * inner, ch = g % c
                var mean = 0.0
                for i in 0..<inner { mean += v[base + i] }
                mean /= Double(max(inner, 1))
                var variance = 0.0
                for i in 0..<inner { variance += (v[base + i] - mean) * (v[base + i] - mean) }
                variance /= Double(max(inner, 1))
                let r = 1 / (variance + eps).squareRoot()
                for i in 0..<inner { v[base + i] = (v[base + i] - mean) * r * scale[ch] + bias[ch] }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))
        }
    }

    /// A scale or bias broadcast to the normalized shape, as Doubles.
    static func broadcastParameter(_ p: TensorValue, to shape: [Int], _ ctx: KernelContext) throws -> [Double] {
        guard Broadcast.shape([p.shape, shape]) == shape else {
            throw ctx.error("parameter of shape \(p.shape) does not broadcast to \(shape)")
        }
        let d = p.doubles
        return Broadcast.sourceIndices(of: p.shape, in: shape).map { d[$0] }
    }
}
