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
        let planar = geo.input.count == 2
        let tapIndex = pointwise || planar ? [] : geo.taps()
        let total = n * m * cols, threads = ctx.threads
        // Small feature maps make skinny GEMMs (7x7 = 49 columns in ResNet's last stage), where BLAS
        // is slow: a batch then goes through one GEMM whose columns are every image's positions,
        // and the result is scattered back to [n, m, positions].
        let images = n > 1 && cols < 1024 ? n : 1
        let width = images * cols, direct = pointwise && images == 1
        // Every path below writes each element of `col` (padding as zeros), so it starts uninitialized.
        var col = ContiguousArray<Float>(unsafeUninitializedCapacity: direct ? 0 : rows * width) { _, n in
            n = direct ? 0 : rows * width
        }
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
                                                        if planar {
                                                            geo.im2colPlane(plane, into: colBase + ch * taps * width + i * cols, rowStride: width)
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
        let planar = geo.input.count == 2
        let tapIndex = planar ? [] : geo.taps()
        let inside = countPads ? geo.paddedCounts() : []
        let total = planes * cols
        let out: ContiguousArray<Float> = filledArray(total) { po in
            xs.withUnsafeBufferPointer { px in
                tapIndex.withUnsafeBufferPointer { pt in
                    parallelChunks(planes, threads: ctx.threads, grain: Swift.max(1, elementGrain / Swift.max(inCount, 1))) { range in
                        for p in range {
                            let plane = px.baseAddress! + p * inCount, row = po + p * cols
                            if planar {
                                geo.poolPlane(plane, into: row, max: isMax, padded: countPads ? inside : nil)
                                continue
                            }
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

/// Two spatial axes (NCHW), the common case: im2col and pooling by rows, without a per-element tap
/// table (a unit-stride row of taps is one contiguous copy).
extension WindowGeometry {
    /// The output positions `lo..<hi` along axis `d` whose tap `k` reads inside the input.
    @inline(__always)
    func validRange(_ d: Int, tap k: Int) -> (lo: Int, hi: Int) {
        let offset = k * dilations[d] - padBegin[d], s = strides[d], n = output[d]
        // i = o * s + offset must satisfy 0 <= i < input[d].
        let lo = offset >= 0 ? 0 : (-offset + s - 1) / s
        let last = input[d] - 1 - offset
        let hi = last < 0 ? 0 : Swift.min(n, last / s + 1)
        return (Swift.min(lo, n), Swift.max(hi, Swift.min(lo, n)))
    }

    /// The kernel taps `lo..<hi` along axis `d` of a window starting at input position `start`
    /// that read inside the input (`0 <= start + k * dilation < input[d]`; empty when none do).
    @inline(__always)
    func tapsInside(_ d: Int, from start: Int) -> (lo: Int, hi: Int) {
        let dil = dilations[d]
        let lo = start >= 0 ? 0 : (-start + dil - 1) / dil
        let hi = start >= input[d] ? 0 : Swift.min(kernel[d], (input[d] - 1 - start) / dil + 1)
        return (lo, hi)
    }

    /// im2col of one input plane [H, W]: for each tap (ky, kx) in row-major kernel order, one row of
    /// `outH * outW` values at `dst + tap * rowStride` (zeros where the tap reads padding).
    func im2colPlane(_ plane: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, rowStride: Int) {
        let (inW, outH, outW) = (input[1], output[0], output[1])
        let (sy, sx) = (strides[0], strides[1])
        var tap = 0
        for ky in 0..<kernel[0] {
            let (yLo, yHi) = validRange(0, tap: ky)
            let yOff = ky * dilations[0] - padBegin[0]
            for kx in 0..<kernel[1] {
                let (xLo, xHi) = validRange(1, tap: kx)
                let xOff = kx * dilations[1] - padBegin[1]
                let row = dst + tap * rowStride
                tap += 1
                if yLo > 0 { row.update(repeating: 0, count: yLo * outW) }
                if yHi < outH { (row + yHi * outW).update(repeating: 0, count: (outH - yHi) * outW) }
                for oy in yLo..<yHi {
                    let out = row + oy * outW
                    let src = plane + (oy * sy + yOff) * inW + xOff
                    if xLo > 0 { out.update(repeating: 0, count: xLo) }
                    if xHi < outW { (out + xHi).update(repeating: 0, count: outW - xHi) }
                    if sx == 1 {
                        if xHi > xLo { (out + xLo).update(from: src + xLo, count: xHi - xLo) }
                    } else {
                        for ox in xLo..<xHi { out[ox] = src[ox * sx] }
                    }
                }
            }
        }
    }

    /// MaxPool / AveragePool of one plane. Max: the window's first in-bounds value, then any larger
    /// one (the generic path's rule, NaN included), computed separably: a max along each input row,
    /// then down the columns of those (the window's first value is still the first row's first).
    /// Average: the sum over in-bounds taps in kernel order divided by their count, or by
    /// `padded[o]` (count_include_pad).
    func poolPlane(_ plane: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>, max isMax: Bool, padded: [Int]?) {
        if isMax {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: input[0] * output[1]) { rows in
                maxPoolPlane(plane, into: row, rowMax: rows.baseAddress!)
            }
            return
        }
        let (inW, outH, outW) = (input[1], output[0], output[1])
        let (sy, sx, dy, dx) = (strides[0], strides[1], dilations[0], dilations[1])
        let (py, px) = (padBegin[0], padBegin[1])
        for oy in 0..<outH {
            let y0 = oy * sy - py
            let (kyLo, kyHi) = tapsInside(0, from: y0)
            for ox in 0..<outW {
                let x0 = ox * sx - px
                let (kxLo, kxHi) = tapsInside(1, from: x0)
                let o = oy * outW + ox
                var sum: Float = 0, count = 0
                if kyLo < kyHi && kxLo < kxHi {
                    for ky in kyLo..<kyHi {
                        let r = plane + (y0 + ky * dy) * inW + x0
                        for kx in kxLo..<kxHi { sum += r[kx * dx] }
                    }
                    count = (kyHi - kyLo) * (kxHi - kxLo)
                }
                row[o] = sum / Float(padded?[o] ?? Swift.max(count, 1))
            }
        }
    }

    /// Separable max pooling: `rowMax[y, ox]` = the max along input row y of output column ox's
    /// taps, then each output row the max of its taps' `rowMax` rows. -inf where a window has no
    /// in-bounds tap.
    private func maxPoolPlane(_ plane: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                              rowMax: UnsafeMutablePointer<Float>) {
        let (inH, inW, outH, outW) = (input[0], input[1], output[0], output[1])
        let (sy, sx, dy, dx) = (strides[0], strides[1], dilations[0], dilations[1])
        let (py, px) = (padBegin[0], padBegin[1])
        for ox in 0..<outW {
            let x0 = ox * sx - px
            let (kxLo, kxHi) = tapsInside(1, from: x0)
            if kxLo >= kxHi {
                for y in 0..<inH { rowMax[y * outW + ox] = -.infinity }
                continue
            }
            for y in 0..<inH {
                let r = plane + y * inW + x0
                var v = r[kxLo * dx]
                var kx = kxLo + 1
                while kx < kxHi {
                    let e = r[kx * dx]
                    v = e > v ? e : v
                    kx += 1
                }
                rowMax[y * outW + ox] = v
            }
        }
        for oy in 0..<outH {
            let y0 = oy * sy - py
            let (kyLo, kyHi) = tapsInside(0, from: y0)
            let dst = out + oy * outW
            if kyLo >= kyHi {
                dst.update(repeating: -.infinity, count: outW)
                continue
            }
            dst.update(from: rowMax + (y0 + kyLo * dy) * outW, count: outW)
            var ky = kyLo + 1
            while ky < kyHi {
                let src = rowMax + (y0 + ky * dy) * outW
                for o in 0..<outW { let e = src[o]; dst[o] = e > dst[o] ? e : dst[o] }
                ky += 1
            }
        }
    }
}
