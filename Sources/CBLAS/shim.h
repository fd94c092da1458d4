// OpenBLAS's GEMM, loaded on first use with dlopen rather than linked: OpenBLAS (Debian's pthread
// variant) starts its worker threads as soon as the library loads, which made every `kiln`
// command, not only the evaluator, spin a second core. Loading lazily also lets the thread count
// (KILN_BLAS_THREADS, default 1; an OPENBLAS_NUM_THREADS already set wins) take effect before
// OpenBLAS reads it. When libopenblas.so.0 cannot be loaded, a plain C loop computes the same
// product (slowly), so results never depend on it being installed.
#ifndef KILN_CBLAS_SHIM_H
#define KILN_CBLAS_SHIM_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

enum { KilnCblasRowMajor = 101, KilnCblasNoTrans = 111, KilnCblasTrans = 112 };

typedef void (*kiln_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                              float, float *, int);
typedef void (*kiln_dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int,
                              double, double *, int);

struct kiln_blas {
    kiln_sgemm_fn sgemm;
    kiln_dgemm_fn dgemm;
};

/// The loaded functions (zeros when OpenBLAS is missing). State lives in function-local statics:
/// Swift's importer emits those with the function, not file-scope statics.
static inline const struct kiln_blas *kiln_blas_table(void) {
    static struct kiln_blas table;
    static int loaded;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) return &table;
    pthread_mutex_lock(&lock);
    if (!loaded) {
        const char *threads = getenv("KILN_BLAS_THREADS");
        setenv("OPENBLAS_NUM_THREADS", threads && atoi(threads) > 0 ? threads : "1", 0);
        void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
        if (h) {
            table.sgemm = (kiln_sgemm_fn)dlsym(h, "cblas_sgemm");
            table.dgemm = (kiln_dgemm_fn)dlsym(h, "cblas_dgemm");
        }
        __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
    return &table;
}

/// Whether OpenBLAS was found (the fallback loops are used otherwise).
static inline int kiln_blas_available(void) {
    const struct kiln_blas *t = kiln_blas_table();
    return t->sgemm != 0 && t->dgemm != 0;
}

/// C = alpha * A(m x k) * B(k x n) + beta * C, row-major, no transposes.
static inline void kiln_sgemm(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc) {
    if (kiln_blas_available()) {
        kiln_blas_table()->sgemm(KilnCblasRowMajor, KilnCblasNoTrans, KilnCblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                            beta, c, ldc);
        return;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = (float)(alpha * s + (beta != 0 ? beta * c[i * ldc + j] : 0));
        }
}

/// C = alpha * op(A) * op(B) + beta * C, row-major; op transposes when trans_a / trans_b is nonzero
/// (A is then stored k x m with leading dimension lda, B n x k with ldb).
static inline void kiln_sgemm_t(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                                const float *b, int ldb, float beta, float *c, int ldc) {
    if (kiln_blas_available()) {
        kiln_blas_table()->sgemm(KilnCblasRowMajor, trans_a ? KilnCblasTrans : KilnCblasNoTrans,
                                 trans_b ? KilnCblasTrans : KilnCblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(trans_a ? a[p * lda + i] : a[i * lda + p]) * (trans_b ? b[j * ldb + p] : b[p * ldb + j]);
            c[i * ldc + j] = (float)(alpha * s + (beta != 0 ? beta * c[i * ldc + j] : 0));
        }
}

static inline void kiln_dgemm(int m, int n, int k, double alpha, const double *a, int lda, const double *b, int ldb,
                              double beta, double *c, int ldc) {
    if (kiln_blas_available()) {
        kiln_blas_table()->dgemm(KilnCblasRowMajor, KilnCblasNoTrans, KilnCblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                            beta, c, ldc);
        return;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = alpha * s + (beta != 0 ? beta * c[i * ldc + j] : 0);
        }
}

#endif
