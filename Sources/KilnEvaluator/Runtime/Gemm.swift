import CBLAS

/// C (m x n, row-major, leading dimension ldc) = alpha op(A) op(B) + beta C through OpenBLAS
/// `sgemm`, split across `threads` by blocks of C rows (or columns, when C is wider than tall).
///
/// OpenBLAS runs one thread per call (see `shim.h`), so the blocks run side by side; products
/// under ~1 MFLOP stay on the calling thread.
func parallelSgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                   beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    let ta: Int32 = transA ? 1 : 0, tb: Int32 = transB ? 1 : 0
    let work = m * n * k
    let parts = work < 1 << 20 ? 1 : threads
    if m >= n {
        parallelChunks(m, threads: parts, grain: 8) { rows in
            kiln_sgemm_t(ta, tb, Int32(rows.count), Int32(n), Int32(k), alpha,
                         transA ? a + rows.lowerBound : a + rows.lowerBound * lda, Int32(lda), b, Int32(ldb),
                         beta, c + rows.lowerBound * ldc, Int32(ldc))
        }
    } else {
        parallelChunks(n, threads: parts, grain: 16) { cols in
            kiln_sgemm_t(ta, tb, Int32(m), Int32(cols.count), Int32(k), alpha, a, Int32(lda),
                         transB ? b + cols.lowerBound * ldb : b + cols.lowerBound, Int32(ldb),
                         beta, c + cols.lowerBound, Int32(ldc))
        }
    }
}
