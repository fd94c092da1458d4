/// float32 fast paths for Conv, MaxPool, AveragePool and GlobalAveragePool / GlobalMaxPool.
///
/// Conv: per image and group, `Y[mg, cols] = W[mg, cg * taps] * col[cg * taps, cols]` with one
/// sgemm (`parallelSgemm`, split across threads). `col` is the im2col matrix, built in parallel
/// over input channels; a 1x1 kernel with unit strides and no padding skips it and multiplies the
/// input plane directly. Pooling runs planes (n, c) in parallel.
extension ConvolutionKernels {
    static func floatConv(_ x: TensorValue, _ w: TensorValue, _ b: TensorValue?, _ ctx: KernelContext) throws -> TensorValue? {
        guard let xs = x.elements(as: Float.self), let ws = w.elements(as: Float.self) else { return nil }
        if let b, b.dataType != .float { return nil }
        let shape = try ConvShape(x, w, ctx)
        let (n, c, m, group, geo) = (shape.n, shape.c, shape.m, shape.group, shape.geo)
        if let b, b.count != m { throw ctx.error("B must have \(m) elements, got \(b.count)") }
        let cg = c / group, mg = m / group, taps = geo.kernelCount
        let rows = cg * taps, cols = geo.outputCount, inCount = geo.inputCount
        let pointwise = taps == 1 && geo.output == geo.input && geo.strides.allSatisfy { $0 == 1 }
            && geo.padBegin.allSatisfy { $0 == 0 }
        let tapIndex = pointwise ? [] : geo.taps()
        let total = n * m * cols, threads = ctx.threads
        // Small feature maps make skinny GEMMs (7x7 = 49 columns in ResNet's last stage), where BLAS
        // is slow: a batch then goes through one GEMM whose columns are every image's positions,
        // and the result is scattered back to [n, m, positions].
        let images = n > 1 && cols < 1024 ? n : 1
        let width = images * cols, direct = pointwise && images == 1
        var col = ContiguousArray<Float>(repeating: 0, count: direct ? 0 : rows * width)
        var wide = ContiguousArray<Float>(repeating: 0, count: images > 1 ? mg * width : 0)
        let bias = b?.elements(as: Float.self)
        let out: ContiguousArray<Float> = filledArray(total) { po in
            xs.withUnsafeBufferPointer { px in
                ws.withUnsafeBufferPointer { pw in
                    col.withUnsafeMutableBufferPointer { pcol in
                        wide.withUnsafeMutableBufferPointer { pwide in
                            tapIndex.withUnsafeBufferPointer { pt in
                                for first in stride(from: 0, to: n, by: images) {
                                    for g in 0..<group {
                                        let source = px.baseAddress! + (first * c + g * cg) * inCount
                                        var bMatrix = UnsafePointer(source)
                                        if !direct {
                                            let colBase = pcol.baseAddress!
                                            parallelChunks(cg, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(taps * width, 1))) { channels in
                                                for ch in channels {
                                                    for i in 0..<images {
                                                        let plane = source + (i * c + ch) * inCount
                                                        if pointwise {
                                                            (colBase + ch * width + i * cols).update(from: plane, count: cols)
                                                            continue
                                                        }
                                                        for t in 0..<taps {
                                                            let dst = colBase + (ch * taps + t) * width + i * cols
                                                            let idx = pt.baseAddress! + t * cols
                                                            for o in 0..<cols {
                                                                let k = idx[o]
                                                                dst[o] = k >= 0 ? plane[k] : 0
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                            bMatrix = UnsafePointer(colBase)
                                        }
                                        let a = pw.baseAddress! + g * mg * rows
                                        if images == 1 {
                                            parallelSgemm(m: mg, n: cols, k: rows, a: a, lda: rows, b: bMatrix, ldb: cols,
                                                          c: po + (first * m + g * mg) * cols, ldc: cols, threads: threads)
                                            continue
                                        }
                                        let w = pwide.baseAddress!
                                        parallelSgemm(m: mg, n: width, k: rows, a: a, lda: rows, b: bMatrix, ldb: width,
                                                      c: w, ldc: width, threads: threads)
                                        parallelChunks(images * mg, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(cols, 1))) { planes in
                                            for p in planes {
                                                let i = p / mg, oc = p % mg
                                                (po + ((first + i) * m + g * mg + oc) * cols).initialize(from: w + oc * width + i * cols, count: cols)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let bias {
                bias.withUnsafeBufferPointer { pb in
                    parallelChunks(n * m, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(cols, 1))) { planes in
                        for p in planes {
                            let v = pb[p % m], row = po + p * cols
                            for o in 0..<cols { row[o] += v }
                        }
                    }
                }
            }
        }
        return TensorValue(shape: [n, m] + geo.output, elements: out)
    }

    /// MaxPool / AveragePool on float32 when only Y is wanted (no Indices output).
    static func floatPool(_ ctx: KernelContext, max isMax: Bool) throws -> [RuntimeValue?]? {
        let x = try ctx.tensor(0)
        guard let xs = x.elements(as: Float.self), x.rank >= 3 else { return nil }
        if isMax && ctx.outputCount > 1 && ctx.outputUsed[1] { return nil }
        guard let kernel = try ctx.ints("kernel_shape"), kernel.count == x.rank - 2 else {
            throw ctx.error("kernel_shape must have one entry per spatial axis")
        }
        let geo = try WindowGeometry(ctx, input: Array(x.shape[2...]), kernel: kernel, ceil: ctx.int("ceil_mode", default: 0) != 0)
        let countPads = try ctx.int("count_include_pad", default: 0) != 0
        let planes = x.shape[0] * x.shape[1], cols = geo.outputCount, inCount = geo.inputCount, taps = geo.kernelCount
        let tapIndex = geo.taps()
        let inside = countPads ? geo.paddedCounts() : []
        let total = planes * cols
        let out: ContiguousArray<Float> = filledArray(total) { po in
            xs.withUnsafeBufferPointer { px in
                tapIndex.withUnsafeBufferPointer { pt in
                    parallelChunks(planes, threads: ctx.threads, grain: Swift.max(1, elementGrain / Swift.max(inCount, 1))) { range in
                        for p in range {
                            let plane = px.baseAddress! + p * inCount, row = po + p * cols
                            if isMax {
                                // As the generic path: the window's first value, then any larger one.
                                var seen = [Bool](repeating: false, count: cols)
                                for o in 0..<cols { row[o] = -.infinity }
                                for t in 0..<taps {
                                    let idx = pt.baseAddress! + t * cols
                                    for o in 0..<cols {
                                        let i = idx[o]
                                        if i >= 0, !seen[o] || plane[i] > row[o] { row[o] = plane[i]; seen[o] = true }
                                    }
                                }
                            } else {
                                var counts = [Int32](repeating: 0, count: cols)
                                for o in 0..<cols { row[o] = 0 }
                                for t in 0..<taps {
                                    let idx = pt.baseAddress! + t * cols
                                    for o in 0..<cols where idx[o] >= 0 {
                                        row[o] += plane[idx[o]]
                                        counts[o] += 1
                                    }
                                }
                                for o in 0..<cols {
                                    row[o] /= Float(countPads ? inside[o] : Swift.max(Int(counts[o]), 1))
                                }
                            }
                        }
                    }
                }
            }
        }
        let shape = Array(x.shape[..<2]) + geo.output
        return [.tensor(TensorValue(shape: shape, elements: out))]
    }

    /// GlobalAveragePool / GlobalMaxPool on float32: one value per (n, c) plane (sums in Double).
    static func floatGlobalPool(_ x: TensorValue, max isMax: Bool, threads: Int) -> TensorValue? {
        guard let xs = x.elements(as: Float.self), x.rank >= 2 else { return nil }
        let inner = x.shape[2...].reduce(1, *), planes = x.shape[0] * x.shape[1]
        let out: ContiguousArray<Float> = filledArray(planes) { po in
            xs.withUnsafeBufferPointer { px in
                parallelChunks(planes, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(inner, 1))) { range in
                    for p in range {
                        let s = px.baseAddress! + p * inner
                        if isMax {
                            // Sequence.max() semantics, as the generic path.
                            var v: Float = inner == 0 ? 0 : s[0]
                            for i in 1..<Swift.max(inner, 1) where v < s[i] { v = s[i] }
                            po[p] = v
                        } else {
                            var acc = 0.0
                            for i in 0..<inner { acc += Double(s[i]) }
                            po[p] = Float(acc / Double(Swift.max(inner, 1)))
                        }
                    }
                }
            }
        }
        return TensorValue(shape: Array(x.shape[..<2]) + [Int](repeating: 1, count: x.rank - 2), elements: out)
    }
}
