import Foundation
import KilnIR

/// Conv with 3x3 kernels, unit strides and dilations, one group, on float32: Winograd's minimal
/// filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// Each 2x2 block of outputs is computed from a 4x4 input tile `d` and the 3x3 filter `g` as
/// `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: 16 multiplications per (tile, input channel, output
/// channel) instead of 36, a 2.25x cut in the multiply-adds, which on ResNet-style networks are
/// most of the time (ResNet-50 at batch 1: 37% of all multiply-adds are in such convolutions).
/// The element-wise products summed over input channels are 16 GEMMs
/// `M[k] (out x tiles) = U[k] (out x in) * V[k] (in x tiles)`, one per tile position k:
///
/// 1. `U = G g Gᵀ` per filter, once per node (`prepareConv` at graph preparation marks the
///    eligible weights; the transform runs on the node's first Winograd run), stored
///    `[16][out][in]` (16/9 of the filter's size);
/// 2. `V = Bᵀ d B` per input tile (padding read as zeros), stored `[16][in][tiles]`, tiles of
///    every image side by side;
/// 3. the 16 GEMMs;
/// 4. `Y = Aᵀ M A` per tile, plus the bias, clipped at the output's right and bottom edges.
///
///     G = | 1    0    0  |   Bᵀ = | 1  0 -1  0 |   Aᵀ = | 1  1  1  0 |
///         | ½    ½    ½  |        | 0  1  1  0 |        | 0  1 -1 -1 |
///         | ½   -½    ½  |        | 0 -1  1  0 |
///         | 0    0    1  |        | 0  1  0 -1 |
///
/// The transforms only add and halve, so the result differs from the direct sum by a few ulps of
/// float32 accumulation order (the tests compare with the im2col path to 1e-5 relative).
final class WinogradWeights: PreparedOperands, @unchecked Sendable {
    /// Output and input channels.
    let m: Int, c: Int
    /// The filters [m, c, 3, 3] (float32).
    private let filters: TensorValue
    private let lock = NSLock()
    /// `[16][m][c]`: the transformed filters, made on first use (a node whose feature maps turn
    /// out too small for Winograd never pays for them), read-only after. Guarded by `lock`.
    private var transformedFilters: ContiguousArray<Float>?

    init(filters: TensorValue) {
        self.filters = filters
        (m, c) = (filters.shape[0], filters.shape[1])
    }

    /// The transformed filters (made once, whichever run asks first).
    var u: ContiguousArray<Float> {
        lock.lock()
        defer { lock.unlock() }
        if let u = transformedFilters { return u }
        let u = filters.elements(as: Float.self)!.withUnsafeBufferPointer { Self.transform($0, m: m, c: c) }
        transformedFilters = u
        return u
    }

    /// `G g Gᵀ` for each 3x3 filter g; value k of filter f at `[k * m * c + f]`.
    private static func transform(_ w: UnsafeBufferPointer<Float>, m: Int, c: Int) -> ContiguousArray<Float> {
        filledArray(16 * m * c) { out in
            let plane = m * c
            for f in 0..<plane {
                let g = w.baseAddress! + f * 9
                // G g: rows a (= g row 0), b, c', d (= g row 2), each of 3.
                var r = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                         Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                withUnsafeMutableBytes(of: &r) { raw in
                    let q = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                    for j in 0..<3 {
                        let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j])
                        q[j] = g0
                        q[3 + j] = 0.5 * (g0 + g1 + g2)
                        q[6 + j] = 0.5 * (g0 - g1 + g2)
                        q[9 + j] = g2
                    }
                    // (G g) Gᵀ: the same combination along each row.
                    for i in 0..<4 {
                        let (r0, r1, r2) = (q[3 * i], q[3 * i + 1], q[3 * i + 2])
                        let o = out + 4 * i * plane + f
                        o[0] = r0
                        o[plane] = 0.5 * (r0 + r1 + r2)
                        o[2 * plane] = 0.5 * (r0 - r1 + r2)
                        o[3 * plane] = r2
                    }
                }
            }
        }
    }
}

extension ConvolutionKernels {
    /// Tiles per image below which the im2col path runs instead (ResNet-50's 7x7 maps, 16 tiles,
    /// are faster through one im2col GEMM than through 16 skinny ones).
    static let winogradMinimumTiles = 36

    /// Conv's preparer: Winograd filters for an eligible constant weight (float32 [m, c, 3, 3],
    /// group 1, unit strides and dilations) large enough for the transforms to pay off.
    static func prepareConv(_ node: Node, _ constants: [TensorValue?]) -> (any PreparedOperands)? {
        guard constants.count > 1, let w = constants[1], w.dataType == .float, w.rank == 4,
              w.shape[2] == 3, w.shape[3] == 3, w.shape[0] * w.shape[1] >= 256,
              w.elements(as: Float.self) != nil else { return nil }
        // A malformed attribute makes no Winograd weights; the kernel then reports it by name.
        guard (try? node.int("group", default: 1)) == 1, (try? node.ints("strides", default: [1, 1])) == [1, 1],
              (try? node.ints("dilations", default: [1, 1])) == [1, 1],
              (try? node.ints("kernel_shape", default: [3, 3])) == [3, 3] else { return nil }
        return WinogradWeights(filters: w)
    }

    /// Conv through `prepared` Winograd filters, or nil when this run's operands do not fit them
    /// (then the im2col path runs).
    static func winogradConv(_ x: TensorValue, _ w: TensorValue, _ b: TensorValue?, _ prepared: WinogradWeights,
                             _ ctx: KernelContext) throws -> TensorValue? {
        guard x.rank == 4, w.rank == 4, let xs = x.elements(as: Float.self) else { return nil }
        if let b, b.dataType != .float { return nil }
        let shape = try ConvShape(x, w, ctx)
        let geo = shape.geo
        guard shape.group == 1, shape.m == prepared.m, shape.c == prepared.c, geo.kernel == [3, 3],
              geo.strides == [1, 1], geo.dilations == [1, 1] else { return nil }
        if let b, b.count != shape.m { throw ctx.error("B must have \(shape.m) elements, got \(b.count)") }
        let (n, c, m) = (shape.n, shape.c, shape.m)
        let (h, wd, oh, ow) = (geo.input[0], geo.input[1], geo.output[0], geo.output[1])
        let (pt, pl) = (geo.padBegin[0], geo.padBegin[1])
        let (th, tw) = ((oh + 1) / 2, (ow + 1) / 2)
        let perImage = th * tw, tiles = n * perImage
        guard perImage >= winogradMinimumTiles else { return nil }
        let threads = ctx.threads
        let bias = b?.elements(as: Float.self)

        // 2. V[k][ch][t] = (Bᵀ d B)[k] for every tile t of every image.
        let v: ContiguousArray<Float> = filledArray(16 * c * tiles) { pv in
            xs.withUnsafeBufferPointer { px in
                parallelChunks(n * c, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(h * wd, 1))) { planes in
                    for p in planes {
                        let (image, ch) = (p / c, p % c)
                        let plane = px.baseAddress! + p * h * wd
                        let dst = pv + ch * tiles + image * perImage
                        Self.transformInput(plane, h: h, w: wd, pt: pt, pl: pl, th: th, tw: tw,
                                            into: dst, stride: c * tiles)
                    }
                }
            }
        }
        // 3. M[k] = U[k] * V[k].
        var mk = ContiguousArray<Float>(unsafeUninitializedCapacity: 16 * m * tiles) { _, count in count = 16 * m * tiles }
        prepared.u.withUnsafeBufferPointer { pu in
            v.withUnsafeBufferPointer { pv in
                mk.withUnsafeMutableBufferPointer { pm in
                    let (u0, v0, m0) = (pu.baseAddress!, pv.baseAddress!, pm.baseAddress!)
                    // Sixteen independent products: split them across threads, each single-threaded,
                    // unless each alone is big enough to split.
                    let big = m * c * tiles >= 1 << 22
                    parallelChunks(16, threads: big ? 1 : threads) { ks in
                        for k in ks {
                            parallelSgemm(m: m, n: tiles, k: c, a: u0 + k * m * c, lda: c, b: v0 + k * c * tiles, ldb: tiles,
                                          c: m0 + k * m * tiles, ldc: tiles, threads: big ? threads : 1)
                        }
                    }
                }
            }
        }
        // 4. Y = Aᵀ M A (+ bias), per output channel.
        let out: ContiguousArray<Float> = filledArray(n * m * oh * ow) { po in
            mk.withUnsafeBufferPointer { pm in
                parallelChunks(m, threads: threads, grain: Swift.max(1, elementGrain / Swift.max(4 * tiles, 1))) { channels in
                    for oc in channels {
                        let beta = bias.map { $0[oc] } ?? 0
                        for image in 0..<n {
                            let src = pm.baseAddress! + oc * tiles + image * perImage
                            let dst = po + (image * m + oc) * oh * ow
                            Self.transformOutput(src, stride: m * tiles, th: th, tw: tw, oh: oh, ow: ow, bias: beta, into: dst)
                        }
                    }
                }
            }
        }
        return TensorValue(shape: [n, m, oh, ow], elements: out)
    }

    /// `Bᵀ d B` for each 4x4 tile of one input plane (tile (ty, tx) starts at row 2ty - pt, column
    /// 2tx - pl; outside the plane reads 0); value k of tile t goes to `dst[k * stride + t]`.
    ///
    /// By rows of tiles: the four input rows of a tile row are copied, zero-padded, into a scratch
    /// of width 2tw + 2; `Bᵀ` combines them element-wise along the whole width, then `B` combines
    /// columns 2tx..2tx+3 of each result for every tile (contiguous loops the compiler vectorizes).
    private static func transformInput(_ plane: UnsafePointer<Float>, h: Int, w: Int, pt: Int, pl: Int, th: Int, tw: Int,
                                       into dst: UnsafeMutablePointer<Float>, stride: Int) {
        let width = 2 * tw + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * width) { scratch in
            let s = scratch.baseAddress!
            let (d0, d1, d2, d3) = (s, s + width, s + 2 * width, s + 3 * width)
            let (r0, r1, r2, r3) = (s + 4 * width, s + 5 * width, s + 6 * width, s + 7 * width)
            // Columns of the plane that land in the scratch: x = j - pl for j in 0..<width.
            let lo = Swift.min(Swift.max(pl, 0), width), hi = Swift.max(lo, Swift.min(width, w + pl))
            for ty in 0..<th {
                @inline(__always) func load(_ i: Int, _ d: UnsafeMutablePointer<Float>) {
                    let y = 2 * ty - pt + i
                    guard y >= 0 && y < h && hi > lo else { d.update(repeating: 0, count: width); return }
                    if lo > 0 { d.update(repeating: 0, count: lo) }
                    (d + lo).update(from: plane + y * w + (lo - pl), count: hi - lo)
                    if hi < width { (d + hi).update(repeating: 0, count: width - hi) }
                }
                load(0, d0); load(1, d1); load(2, d2); load(3, d3)
                for j in 0..<width {
                    r0[j] = d0[j] - d2[j]
                    r1[j] = d1[j] + d2[j]
                    r2[j] = d2[j] - d1[j]
                    r3[j] = d1[j] - d3[j]
                }
                let row = dst + ty * tw
                @inline(__always) func store(_ i: Int, _ r: UnsafeMutablePointer<Float>) {
                    let o0 = row + 4 * i * stride, o1 = o0 + stride, o2 = o1 + stride, o3 = o2 + stride
                    for tx in 0..<tw {
                        let (a, b, c, d) = (r[2 * tx], r[2 * tx + 1], r[2 * tx + 2], r[2 * tx + 3])
                        o0[tx] = a - c
                        o1[tx] = b + c
                        o2[tx] = c - b
                        o3[tx] = b - d
                    }
                }
                store(0, r0); store(1, r1); store(2, r2); store(3, r3)
            }
        }
    }

    /// `Aᵀ m A + bias` for each tile of one output channel of one image (value k of tile t at
    /// `src[k * stride + t]`), written to the [oh, ow] plane `dst`; by rows of tiles, element-wise
    /// over the tiles of a row.
    private static func transformOutput(_ src: UnsafePointer<Float>, stride: Int, th: Int, tw: Int, oh: Int, ow: Int,
                                        bias: Float, into dst: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * tw) { scratch in
            let (y00, y01, y10, y11) = (scratch.baseAddress!, scratch.baseAddress! + tw,
                                        scratch.baseAddress! + 2 * tw, scratch.baseAddress! + 3 * tw)
            for ty in 0..<th {
                let m = src + ty * tw
                @inline(__always) func at(_ k: Int) -> UnsafePointer<Float> { m + k * stride }
                let (m00, m01, m02, m03) = (at(0), at(1), at(2), at(3))
                let (m10, m11, m12, m13) = (at(4), at(5), at(6), at(7))
                let (m20, m21, m22, m23) = (at(8), at(9), at(10), at(11))
                let (m30, m31, m32, m33) = (at(12), at(13), at(14), at(15))
                for t in 0..<tw {
                    // Aᵀ m: s0 = rows 0 + 1 + 2, s1 = rows 1 - 2 - 3; then · A along each.
                    let s00 = m00[t] + m10[t] + m20[t], s01 = m01[t] + m11[t] + m21[t]
                    let s02 = m02[t] + m12[t] + m22[t], s03 = m03[t] + m13[t] + m23[t]
                    let s10 = m10[t] - m20[t] - m30[t], s11 = m11[t] - m21[t] - m31[t]
                    let s12 = m12[t] - m22[t] - m32[t], s13 = m13[t] - m23[t] - m33[t]
                    y00[t] = s00 + s01 + s02 + bias
                    y01[t] = s01 - s02 - s03 + bias
                    y10[t] = s10 + s11 + s12 + bias
                    y11[t] = s11 - s12 - s13 + bias
                }
                let oy = 2 * ty
                let top = dst + oy * ow
                let pairs = ow / 2
                for t in 0..<pairs {
                    top[2 * t] = y00[t]
                    top[2 * t + 1] = y01[t]
                }
                if ow % 2 == 1 { top[ow - 1] = y00[tw - 1] }
                guard oy + 1 < oh else { continue }
                let bottom = top + ow
                for t in 0..<pairs {
                    bottom[2 * t] = y10[t]
                    bottom[2 * t + 1] = y11[t]
                }
                if ow % 2 == 1 { bottom[ow - 1] = y10[tw - 1] }
            }
        }
    }
}
