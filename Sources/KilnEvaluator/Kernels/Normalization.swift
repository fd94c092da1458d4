import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// BatchNormalization (inference; training mode from 14), LayerNormalization, RMSNormalization,
/// InstanceNormalization, GroupNormalization, MeanVarianceNormalization, LRN, LpNormalization.
/// Statistics are computed in Double and the result converted back to the input type.
enum NormalizationKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("BatchNormalization", since: 7) { ctx in
            if try ctx.int("training_mode", default: 0) != 0 {
                throw ctx.unsupported("training_mode=1 (batch statistics and running-mean updates) is not supported")
            }
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
            if let y = try floatBatchNorm(x, ctx) { return KernelContext.one(y) }
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
        // BatchNormalization 14 on: training_mode=1 normalizes with the batch statistics (mean and
        // biased variance over all axes but 1) and returns running statistics
        // `mean * momentum + batch_mean * (1 - momentum)` (same for var).
        r.register("BatchNormalization", since: 14) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
            let eps = Double(try ctx.float("epsilon", default: 1e-5)), momentum = Double(try ctx.float("momentum", default: 0.9))
            let training = try ctx.int("training_mode", default: 0) != 0
            if !training, let y = try floatBatchNorm(x, ctx) { return [.tensor(y)] }
            let (scale, bias, mean, variance) = (try ctx.tensor(1).doubles, try ctx.tensor(2).doubles,
                                                 try ctx.tensor(3).doubles, try ctx.tensor(4).doubles)
            let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
            guard [scale, bias, mean, variance].allSatisfy({ $0.count == c }) else {
                throw ctx.error("scale, B, mean and var must have \(c) elements (the channel count)")
            }
            var v = x.doubles
            var useMean = mean, useVar = variance
            if training {
                var sum = [Double](repeating: 0, count: c), sq = sum
                for i in 0..<v.count { let ch = (i / inner) % c; sum[ch] += v[i] }
                let count = Double(v.count / max(c, 1))
                useMean = sum.map { $0 / count }
                for i in 0..<v.count { let ch = (i / inner) % c; sq[ch] += (v[i] - useMean[ch]) * (v[i] - useMean[ch]) }
                useVar = sq.map { $0 / count }
            }
            for i in 0..<v.count {
                let ch = (i / inner) % c
                v[i] = (v[i] - useMean[ch]) / (useVar[ch] + eps).squareRoot() * scale[ch] + bias[ch]
            }
            let y = try castTensor(TensorValue(shape: x.shape, v), to: x.dataType)
            guard training else { return [.tensor(y)] }
            let meanType = try ctx.tensor(3).dataType
            let runningMean = (0..<c).map { mean[$0] * momentum + useMean[$0] * (1 - momentum) }
            let runningVar = (0..<c).map { variance[$0] * momentum + useVar[$0] * (1 - momentum) }
            return [.tensor(y), .tensor(try castTensor(TensorValue(shape: [c], runningMean), to: meanType)),
                    .tensor(try castTensor(TensorValue(shape: [c], runningVar), to: meanType))]
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
        // RMSNormalization: Y = X / sqrt(mean(X^2 over axes axis...) + epsilon) * scale.
        r.register("RMSNormalization", since: 23) { ctx in
            let x = try ctx.tensor(0)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            let axis = try ctx.axis(ctx.int("axis", default: -1), rank: x.rank)
            let eps = Double(try ctx.float("epsilon", default: 1e-5))
            let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis...].reduce(1, *)
            let s = try broadcastParameter(ctx.tensor(1), to: Array(x.shape[axis...]), ctx)
            var v = x.doubles
            for o in 0..<outer {
                let base = o * n
                var meanSquare = 0.0
                for i in 0..<n { meanSquare += v[base + i] * v[base + i] }
                meanSquare /= Double(max(n, 1))
                let r = 1 / (meanSquare + eps).squareRoot()
                for i in 0..<n { v[base + i] = v[base + i] * r * s[i] }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))
        }
        // LpNormalization: x / ||x||_p along `axis` (p is 1 or 2); a zero norm leaves zeros.
        r.register("LpNormalization", since: 1) { ctx in
            let x = try ctx.tensor(0)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            let axis = try ctx.axis(ctx.int("axis", default: -1), rank: x.rank)
            let p = try ctx.int("p", default: 2)
            guard p == 1 || p == 2 else { throw ctx.error("p must be 1 or 2, got \(p)") }
            let n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *), outer = x.count / max(n * inner, 1)
            var v = x.doubles
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var norm = 0.0
                    for k in 0..<n { let e = v[base + k * inner]; norm += p == 1 ? abs(e) : e * e }
                    if p == 2 { norm = norm.squareRoot() }
                    for k in 0..<n { v[base + k * inner] = norm == 0 ? 0 : v[base + k * inner] / norm }
                }
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))
        }
        // GroupNormalization: statistics over each group of C / num_groups channels (and all spatial
        // positions); scale and bias per group (18) or per channel (21).
        r.register("GroupNormalization", since: 18) { ctx in try groupNormalization(ctx, perChannel: false) }
        r.register("GroupNormalization", since: 21) { ctx in try groupNormalization(ctx, perChannel: true) }
        // MeanVarianceNormalization: (x - mean) / sqrt(var + 1e-9) over `axes` (default N, H, W).
        r.register("MeanVarianceNormalization", since: 9) { ctx in
            let x = try ctx.tensor(0)
            let axes = Set(try (ctx.ints("axes") ?? [0, 2, 3]).map { try ctx.axis($0, rank: x.rank, name: "axes") })
            let keep = (0..<x.rank).filter { !axes.contains($0) }
            let strides = rowMajorStrides(x.shape)
            let keptShape = keep.map { x.shape[$0] }, keptStrides = rowMajorStrides(keptShape)
            var group = [Int](repeating: 0, count: x.count)
            for i in 0..<x.count {
                var g = 0
                for (j, d) in keep.enumerated() { g += (i / strides[d]) % x.shape[d] * keptStrides[j] }
                group[i] = g
            }
            let groups = shapeCount(keptShape), v = x.doubles
            var sum = [Double](repeating: 0, count: groups), sq = sum, count = sum
            for i in 0..<v.count { sum[group[i]] += v[i]; sq[group[i]] += v[i] * v[i]; count[group[i]] += 1 }
            var y = v
            for i in 0..<v.count {
                let g = group[i], mean = sum[g] / count[g]
                y[i] = (v[i] - mean) / (sq[g] / count[g] - mean * mean + 1e-9).squareRoot()
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, y), to: x.dataType))
        }
        // LRN: x / (bias + alpha / size * sum of squares over channels [c - floor((size-1)/2),
        // c + ceil((size-1)/2)])^beta.
        r.register("LRN", since: 1) { ctx in
            let x = try ctx.tensor(0)
            guard x.rank >= 3 else { throw ctx.error("input must have rank 3 or more, got \(x.shape)") }
            let size = try ctx.int("size")
            let alpha = Double(try ctx.float("alpha", default: 1e-4)), beta = Double(try ctx.float("beta", default: 0.75))
            let bias = Double(try ctx.float("bias", default: 1))
            let c = x.shape[1], inner = x.shape[2...].reduce(1, *), v = x.doubles
            let lo = (size - 1) / 2, hi = (size - 1 + 1) / 2
            var y = v
            for i in 0..<v.count {
                let ch = (i / inner) % c, base = i - ch * inner
                var s = 0.0
                for k in max(0, ch - lo)...min(c - 1, ch + hi) { s += v[base + k * inner] * v[base + k * inner] }
                y[i] = v[i] / pow(bias + alpha / Double(size) * s, beta)
            }
            return KernelContext.one(try castTensor(TensorValue(shape: x.shape, y), to: x.dataType))
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

    static func groupNormalization(_ ctx: KernelContext, perChannel: Bool) throws -> [RuntimeValue?] {
        let x = try ctx.tensor(0)
        guard x.rank >= 2 else { throw ctx.error("input must have rank 2 or more, got \(x.shape)") }
        let groups = try ctx.int("num_groups")
        let eps = Double(try ctx.float("epsilon", default: 1e-5))
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *)
        guard groups > 0, c % groups == 0 else { throw ctx.error("num_groups \(groups) must divide the \(c) channels") }
        let scale = try ctx.tensor(1).doubles, bias = try ctx.tensor(2).doubles
        let params = perChannel ? c : groups
        guard scale.count == params, bias.count == params else { throw ctx.error("scale and bias must have \(params) elements") }
        let per = c / groups * inner
        var v = x.doubles
        for g in 0..<(x.count / max(per, 1)) {
            let base = g * per
            var mean = 0.0
            for i in 0..<per { mean += v[base + i] }
            mean /= Double(per)
            var variance = 0.0
            for i in 0..<per { variance += (v[base + i] - mean) * (v[base + i] - mean) }
            variance /= Double(per)
            let r = 1 / (variance + eps).squareRoot()
            for i in 0..<per {
                let channel = (g % groups) * (c / groups) + i / inner
                let p = perChannel ? channel : g % groups
                v[base + i] = (v[base + i] - mean) * r * scale[p] + bias[p]
            }
        }
        return KernelContext.one(try castTensor(TensorValue(shape: x.shape, v), to: x.dataType))
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

extension NormalizationKernels {
    /// Inference BatchNormalization on float32: per channel `y = x * a + b` with
    /// `a = scale / sqrt(var + eps)`, `b = B - mean * a` worked out in Double; planes in parallel.
    static func floatBatchNorm(_ x: TensorValue, _ ctx: KernelContext) throws -> TensorValue? {
        guard let xs = x.elements(as: Float.self) else { return nil }
        let params = try (1...4).map { try ctx.tensor($0) }
        guard params.allSatisfy({ $0.dataType == .float || $0.dataType == .double }) else { return nil }
        let eps = Double(try ctx.float("epsilon", default: 1e-5))
        let (scale, bias, mean, variance) = (params[0].doubles, params[1].doubles, params[2].doubles, params[3].doubles)
        let c = x.shape[1], inner = x.shape[2...].reduce(1, *), planes = x.count / Swift.max(c * inner, 1) * c
        guard [scale, bias, mean, variance].allSatisfy({ $0.count == c }) else {
            throw ctx.error("scale, B, mean and var must have \(c) elements (the channel count)")
        }
        let a = (0..<c).map { scale[$0] / (variance[$0] + eps).squareRoot() }
        let fa = a.map { Float($0) }, fb = (0..<c).map { Float(bias[$0] - mean[$0] * a[$0]) }
        let total = x.count
        let out: ContiguousArray<Float> = filledArray(total) { po in
            xs.withUnsafeBufferPointer { px in
                parallelChunks(planes, threads: ctx.threads, grain: Swift.max(1, elementGrain / Swift.max(inner, 1))) { range in
                    for p in range {
                        let k = fa[p % c], d = fb[p % c], src = px.baseAddress! + p * inner, dst = po + p * inner
                        for i in 0..<inner { dst[i] = src[i] * k + d }
                    }
                }
            }
        }
        return TensorValue(shape: x.shape, elements: out)
    }
}
