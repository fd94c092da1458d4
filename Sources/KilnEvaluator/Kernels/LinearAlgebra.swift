import CBLAS
import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// MatMul and Gemm. float32 and float64 go through BLAS (OpenBLAS `cblas_?gemm`); other numeric
/// types through a portable triple loop in their own arithmetic.
///
/// BLAS threads: one per call by default (parallelism belongs across independent work), or
/// `KILN_BLAS_THREADS`.
enum LinearAlgebraKernels {
    static func register(into r: inout KernelRegistry) {
        // Det: determinants of the trailing 2-D square matrices (LU with partial pivoting, in Double).
        r.register("Det", since: 11) { ctx in
            let x = try ctx.tensor(0)
            guard x.dataType.isFloatingPoint else { throw unsupportedType(x.dataType, ctx.node.opType) }
            guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else { throw ctx.error("input must end in square matrices, got \(x.shape)") }
            let n = x.shape[x.rank - 1], v = x.doubles
            let batch = x.count / max(n * n, 1)
            var dets = [Double](repeating: 1, count: batch)
            for b in 0..<batch {
                var m = Array(v[(b * n * n)..<((b + 1) * n * n)])
                var det = 1.0
                for c in 0..<n {
                    var p = c
                    for r in (c + 1)..<max(n, c + 1) where abs(m[r * n + c]) > abs(m[p * n + c]) { p = r }
                    if m[p * n + c] == 0 { det = 0; break }
                    if p != c {
                        for k in 0..<n { m.swapAt(p * n + k, c * n + k) }
                        det = -det
                    }
                    det *= m[c * n + c]
                    for r in (c + 1)..<max(n, c + 1) {
                        let f = m[r * n + c] / m[c * n + c]
                        for k in c..<n { m[r * n + k] -= f * m[c * n + k] }
                    }
                }
                dets[b] = det
            }
            return KernelContext.one(try castTensor(TensorValue(shape: Array(x.shape.dropLast(2)), dets), to: x.dataType))
        }
        r.register("MatMul", since: 1) { ctx in
            KernelContext.one(try matmul(ctx.tensor(0), ctx.tensor(1), ctx))
        }
        r.register("Gemm", since: 7) { ctx in
            var a = try ctx.tensor(0), b = try ctx.tensor(1)
            guard a.rank == 2, b.rank == 2 else { throw ctx.error("A and B must be 2-D, got \(a.shape) and \(b.shape)") }
            if let y = try floatGemm(a, b, ctx.optionalTensor(2), ctx) { return KernelContext.one(y) }
            if try ctx.int("transA", default: 0) != 0 { a = MovementKernels.transpose(a, [1, 0]) }
            if try ctx.int("transB", default: 0) != 0 { b = MovementKernels.transpose(b, [1, 0]) }
            let alpha = Double(try ctx.float("alpha", default: 1)), beta = Double(try ctx.float("beta", default: 1))
            var y = try matmul(a, b, ctx)
            if alpha != 1 {
                y = try BinaryKernels.applyBinary(MulOp(), y, castTensor(.scalar(alpha), to: y.dataType), ctx)
            }
            if let c = try ctx.optionalTensor(2), beta != 0 {
                var scaled = c
                if beta != 1 { scaled = try BinaryKernels.applyBinary(MulOp(), c, castTensor(.scalar(beta), to: c.dataType), ctx) }
                guard Broadcast.shape([scaled.shape, y.shape]) == y.shape else {
                    throw ctx.error("C of shape \(c.shape) does not broadcast to \(y.shape)")
                }
                y = try BinaryKernels.applyBinary(AddOp(), y, scaled, ctx)
            }
            return KernelContext.one(y)
        }
    }

    /// numpy `matmul`: 1-D operands are promoted (and the added axis removed), batch axes broadcast.
    static func matmul(_ a: TensorValue, _ b: TensorValue, _ ctx: KernelContext) throws -> TensorValue {
        guard a.dataType == b.dataType else { throw ctx.error("A and B have different types (\(a.dataType.name), \(b.dataType.name))") }
        guard a.rank >= 1, b.rank >= 1 else { throw ctx.error("MatMul operands must have rank 1 or more") }
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let (m, k) = (aShape[aShape.count - 2], aShape[aShape.count - 1])
        let (k2, n) = (bShape[bShape.count - 2], bShape[bShape.count - 1])
        guard k == k2 else { throw ctx.error("inner dimensions differ: \(a.shape) x \(b.shape)") }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        guard let batch = Broadcast.shape([aBatch, bBatch]) else {
            throw ctx.error("batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        let aIndex = Broadcast.sourceIndices(of: aBatch, in: batch)
        let bIndex = Broadcast.sourceIndices(of: bBatch, in: batch)
        var shape = batch + [m, n]
        let storage: TensorStorage
        if let ea = a.elements(as: Float.self), let eb = b.elements(as: Float.self) {
            storage = .float(floatMatmul(ea, eb, m: m, n: n, k: k, aIndex: aIndex, bIndex: bIndex,
                                         bShared: shapeCount(bBatch) == 1 && shapeCount(aBatch) == aIndex.count,
                                         threads: ctx.threads))
        } else {
            storage = try dispatchNumeric(a.dataType, "MatMul", MatMulJob(a: a, b: b, m: m, n: n, k: k, aIndex: aIndex, bIndex: bIndex))
        }
        if a.rank == 1 { shape.remove(at: shape.count - 2) }
        if b.rank == 1 { shape.removeLast() }
        return TensorValue(shape: shape, storage: storage)
    }

    /// float32 matmul through sgemm. When every batch shares one B (a linear layer applied to a
    /// [batch, seq, in] activation), the batches are one tall GEMM split across threads by rows;
    /// otherwise batches run side by side (or, when fewer than the threads, each split).
    static func floatMatmul(_ ea: ContiguousArray<Float>, _ eb: ContiguousArray<Float>, m: Int, n: Int, k: Int,
                            aIndex: [Int], bIndex: [Int], bShared: Bool, threads: Int) -> ContiguousArray<Float> {
        let batches = aIndex.count, total = batches * m * n
        return ContiguousArray(unsafeUninitializedCapacity: total) { out, count in
            count = total
            guard total > 0, let pc = out.baseAddress else { return }
            if k == 0 { pc.initialize(repeating: 0, count: total); return }
            ea.withUnsafeBufferPointer { pa in
                eb.withUnsafeBufferPointer { pb in
                    let A = pa.baseAddress!, B = pb.baseAddress!
                    if bShared {
                        parallelSgemm(m: batches * m, n: n, k: k, a: A, lda: k, b: B + bIndex[0] * k * n, ldb: n,
                                      c: pc, ldc: n, threads: threads)
                    } else if batches >= threads {
                        parallelChunks(batches, threads: threads) { range in
                            for i in range {
                                parallelSgemm(m: m, n: n, k: k, a: A + aIndex[i] * m * k, lda: k, b: B + bIndex[i] * k * n, ldb: n,
                                              c: pc + i * m * n, ldc: n, threads: 1)
                            }
                        }
                    } else {
                        for i in 0..<batches {
                            parallelSgemm(m: m, n: n, k: k, a: A + aIndex[i] * m * k, lda: k, b: B + bIndex[i] * k * n, ldb: n,
                                          c: pc + i * m * n, ldc: n, threads: threads)
                        }
                    }
                }
            }
        }
    }

    /// Gemm on float32 through one sgemm with the transposes as flags; beta * C is broadcast into
    /// the output first. Nil for other types (the generic path).
    static func floatGemm(_ a: TensorValue, _ b: TensorValue, _ c: TensorValue?, _ ctx: KernelContext) throws -> TensorValue? {
        guard let ea = a.elements(as: Float.self), let eb = b.elements(as: Float.self) else { return nil }
        if let c, c.dataType != .float { return nil }
        let transA = try ctx.int("transA", default: 0) != 0, transB = try ctx.int("transB", default: 0) != 0
        let alpha = try ctx.float("alpha", default: 1), beta = try ctx.float("beta", default: 1)
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else { throw ctx.error("inner dimensions differ: \(a.shape) x \(b.shape) (transA \(transA), transB \(transB))") }
        var out: ContiguousArray<Float>
        let addC = c != nil && beta != 0
        if let c, addC {
            guard Broadcast.shape([c.shape, [m, n]]) == [m, n] else {
                throw ctx.error("C of shape \(c.shape) does not broadcast to \([m, n])")
            }
            out = Broadcast.binary(c.elements(as: Float.self)!, c.shape, [beta], [], outShape: [m, n]) { $0 * $1 }
        } else {
            out = ContiguousArray(repeating: 0, count: m * n)
        }
        ea.withUnsafeBufferPointer { pa in
            eb.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    guard let C = pc.baseAddress else { return }
                    parallelSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: pa.baseAddress!,
                                  lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1], beta: addC ? 1 : 0, c: C, ldc: n,
                                  threads: ctx.threads)
                }
            }
        }
        return TensorValue(shape: [m, n], elements: out)
    }
}

private struct MatMulJob: NumericTypeVisitor {
    let a: TensorValue, b: TensorValue, m: Int, n: Int, k: Int, aIndex: [Int], bIndex: [Int]

    func visit<T: NumericElement>(_ type: T.Type) -> TensorStorage {
        let ea = a.elements(as: T.self)!, eb = b.elements(as: T.self)!
        var out = ContiguousArray<T>(repeating: T.zero, count: aIndex.count * m * n)
        if m == 0 || n == 0 { return T.wrap(out) }
        ea.withUnsafeBufferPointer { pa in
            eb.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    for (batch, (ia, ib)) in zip(aIndex, bIndex).enumerated() {
                        let A = pa.baseAddress! + ia * m * k, B = pb.baseAddress! + ib * k * n
                        let C = pc.baseAddress! + batch * m * n
                        if k == 0 { continue }
                        if T.self == Float.self {
                            kiln_sgemm(Int32(m), Int32(n), Int32(k), 1,
                                        UnsafeRawPointer(A).assumingMemoryBound(to: Float.self), Int32(k),
                                        UnsafeRawPointer(B).assumingMemoryBound(to: Float.self), Int32(n), 0,
                                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Float.self), Int32(n))
                        } else if T.self == Double.self {
                            kiln_dgemm(Int32(m), Int32(n), Int32(k), 1,
                                        UnsafeRawPointer(A).assumingMemoryBound(to: Double.self), Int32(k),
                                        UnsafeRawPointer(B).assumingMemoryBound(to: Double.self), Int32(n), 0,
                                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Double.self), Int32(n))
                        } else if T.isFloatingPoint {
                            // float16/bfloat16: accumulate in Double, round once.
                            for i in 0..<m {
                                for j in 0..<n {
                                    var s = 0.0
                                    for p in 0..<k { s += A[i * k + p].doubleValue * B[p * n + j].doubleValue }
                                    C[i * n + j] = T(double: s)
                                }
                            }
                        } else {
                            for i in 0..<m {
                                for p in 0..<k {
                                    let x = A[i * k + p]
                                    for j in 0..<n { C[i * n + j] = T.add(C[i * n + j], T.multiply(x, B[p * n + j])) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return T.wrap(out)
    }
}
