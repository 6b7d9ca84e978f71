// test_gemm.c — the fast GEMM against the naive triple loop.
//
// For every case: dc_gemm, every kernel forced through dc_gemm_path (the
// portable C kernel included, which this machine would otherwise never run),
// the AVX-512 tiles, which must also give their AVX2 forms' bits,
// and dc_gemm_mt with 1, 2 and 3 threads are compared with dc_gemm_ref on all
// four trans combinations, beta 0 (C prefilled with NaN, which must be
// ignored) and beta 1 (C prefilled with random values), leading dimensions
// larger than the minimum (padding of A and B holds NaN, padding of C a
// sentinel that must survive), on awkward shapes and on the shapes deepc runs.
//
// Tolerance: |got - ref| <= 1e-5 * (sum_k |a_ik * b_kj| + |beta * c_ij|) per
// element. The fast kernels sum in float in another order than the reference
// (which accumulates in double); the rounding error of a float sum is a small
// multiple of sqrt(K) * 6e-8 of that bound for random data, so 1e-5 is tight
// enough to catch any wrong index (which is O(1) of the bound) without
// flaking.
//
// Also checked: dc_gemm_mt equals dc_gemm bit for bit for any thread count,
// and repeated calls give the same bits.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "deepc.h"
#include "harness.h"
#include "kernels/kernels.h"

// In gemm.c, not in kernels.h: dc_gemm with the kernel forced (0 auto,
// 1 portable, 2 tile B in place, 3 tile B packed, 4 dot, 5 tile on C^T;
// 6, 7, 8: 2, 3, 5 with the AVX-512 tile).
void dc_gemm_path(int path, bool trans_a, bool trans_b, int M, int N, int K,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);

#define RTOL 1e-5
#define SENTINEL 12345.0f

typedef struct gcase {
    bool ta, tb;
    int M, N, K;
    int pad_a, pad_b, pad_c; // extra columns in the stored A, B, C
    float beta;
} gcase;

// Storage of one case: A, B as stored, C0 the prefill, bound the tolerance.
typedef struct gdata {
    int lda, ldb, ldc;
    float *A, *B, *C0, *Cref;
    double *bound;
    size_t nA, nB, nC;
} gdata;

static float *falloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        printf("test_gemm: out of memory\n");
        exit(2);
    }
    return p;
}

static void gdata_init(gdata *d, const gcase *c, dc_rng *rng) {
    // op(A) is (M,K): stored (M,K) or (K,M); op(B) is (K,N): stored (K,N) or (N,K).
    const int ar = c->ta ? c->K : c->M, ac = c->ta ? c->M : c->K;
    const int br = c->tb ? c->N : c->K, bc = c->tb ? c->K : c->N;
    d->lda = ac + c->pad_a;
    d->ldb = bc + c->pad_b;
    d->ldc = c->N + c->pad_c;
    d->nA = (size_t)ar * d->lda;
    d->nB = (size_t)br * d->ldb;
    d->nC = (size_t)c->M * d->ldc;
    d->A = falloc(d->nA);
    d->B = falloc(d->nB);
    d->C0 = falloc(d->nC);
    d->Cref = falloc(d->nC);
    d->bound = malloc((d->nC ? d->nC : 1) * sizeof(double));
    if (!d->bound) exit(2);
    for (size_t i = 0; i < d->nA; i++)
        d->A[i] = (int)(i % d->lda) < ac ? 2.0f * dc_rng_uniform(rng) - 1.0f : NAN;
    for (size_t i = 0; i < d->nB; i++)
        d->B[i] = (int)(i % d->ldb) < bc ? 2.0f * dc_rng_uniform(rng) - 1.0f : NAN;
    for (size_t i = 0; i < d->nC; i++) {
        if ((int)(i % d->ldc) >= c->N)
            d->C0[i] = SENTINEL;
        else
            d->C0[i] = c->beta != 0.0f ? 2.0f * dc_rng_uniform(rng) - 1.0f : NAN;
    }
    for (int i = 0; i < c->M; i++) {
        for (int j = 0; j < c->N; j++) {
            double s = c->beta != 0.0f ? fabs(d->C0[(size_t)i * d->ldc + j]) : 0.0;
            for (int k = 0; k < c->K; k++) {
                double a = c->ta ? d->A[(size_t)k * d->lda + i] : d->A[(size_t)i * d->lda + k];
                double b = c->tb ? d->B[(size_t)j * d->ldb + k] : d->B[(size_t)k * d->ldb + j];
                s += fabs(a * b);
            }
            d->bound[(size_t)i * d->ldc + j] = s;
        }
    }
    memcpy(d->Cref, d->C0, d->nC * sizeof(float));
    dc_gemm_ref(c->ta, c->tb, c->M, c->N, c->K, d->A, d->lda, d->B, d->ldb, c->beta, d->Cref,
                d->ldc);
}

static void gdata_free(gdata *d) {
    free(d->A);
    free(d->B);
    free(d->C0);
    free(d->Cref);
    free(d->bound);
}

static void describe(char *buf, size_t n, const gcase *c, const gdata *d) {
    snprintf(buf, n, "%s%s M=%d N=%d K=%d lda=%d ldb=%d ldc=%d beta=%g", c->ta ? "T" : "N",
             c->tb ? "T" : "N", c->M, c->N, c->K, d->lda, d->ldb, d->ldc, c->beta);
}

// 1 when C (as written by a kernel) is within tolerance of Cref and the
// padding of C is untouched; prints the first bad element otherwise.
static int check_result(const char *what, const gcase *c, const gdata *d, const float *C) {
    for (size_t i = 0; i < d->nC; i++) {
        const int row = (int)(i / d->ldc), col = (int)(i % d->ldc);
        bool ok;
        if (col >= c->N)
            ok = C[i] == SENTINEL;
        else
            ok = fabs((double)C[i] - d->Cref[i]) <= RTOL * d->bound[i] + 1e-30;
        if (!ok) {
            char desc[160];
            describe(desc, sizeof desc, c, d);
            printf("FAIL %s %s: C[%d][%d] = %.9g, reference %.9g, bound %.3g%s\n", what, desc,
                   row, col, C[i], d->Cref[i], RTOL * d->bound[i],
                   col >= c->N ? " (padding column written)" : "");
            return 0;
        }
    }
    return 1;
}

static int n_cases;

// Runs one case through every kernel and thread count.
static void run_case(const gcase *c, dc_rng *rng) {
    gdata d;
    gdata_init(&d, c, rng);
    float *C = falloc(d.nC), *Cfast = falloc(d.nC);
    char desc[160];
    describe(desc, sizeof desc, c, &d);
    n_cases++;

    // dc_gemm, twice: the second call must give the same bits.
    memcpy(Cfast, d.C0, d.nC * sizeof(float));
    dc_gemm(c->ta, c->tb, c->M, c->N, c->K, d.A, d.lda, d.B, d.ldb, c->beta, Cfast, d.ldc);
    CHECK(check_result("dc_gemm", c, &d, Cfast), "%s", desc);
    memcpy(C, d.C0, d.nC * sizeof(float));
    dc_gemm(c->ta, c->tb, c->M, c->N, c->K, d.A, d.lda, d.B, d.ldb, c->beta, C, d.ldc);
    CHECK(memcmp(C, Cfast, d.nC * sizeof(float)) == 0, "dc_gemm repeated call differs: %s", desc);

    // Every kernel forced (those that do not apply fall back to auto); the
    // AVX-512 tiles (6, 7, 8) give the bits of their AVX2 forms (2, 3, 5).
    float *Cy = falloc(d.nC);
    for (int path = 1; path <= 8; path++) {
        char what[32];
        snprintf(what, sizeof what, "dc_gemm_path(%d)", path);
        memcpy(C, d.C0, d.nC * sizeof(float));
        dc_gemm_path(path, c->ta, c->tb, c->M, c->N, c->K, d.A, d.lda, d.B, d.ldb, c->beta, C,
                     d.ldc);
        CHECK(check_result(what, c, &d, C), "%s", desc);
        if (path >= 6) {
            const int ypath = path == 8 ? 5 : path - 4;
            memcpy(Cy, d.C0, d.nC * sizeof(float));
            dc_gemm_path(ypath, c->ta, c->tb, c->M, c->N, c->K, d.A, d.lda, d.B, d.ldb, c->beta, Cy, d.ldc);
            CHECK(memcmp(C, Cy, d.nC * sizeof(float)) == 0, "dc_gemm_path(%d) differs from path %d: %s", path,
                  ypath, desc);
        }
    }
    free(Cy);

    // Threads: within tolerance and identical to dc_gemm.
    for (int nt = 1; nt <= 3; nt++) {
        char what[32];
        snprintf(what, sizeof what, "dc_gemm_mt(%d)", nt);
        memcpy(C, d.C0, d.nC * sizeof(float));
        dc_gemm_mt(nt, c->ta, c->tb, c->M, c->N, c->K, d.A, d.lda, d.B, d.ldb, c->beta, C, d.ldc);
        CHECK(check_result(what, c, &d, C), "%s", desc);
        CHECK(memcmp(C, Cfast, d.nC * sizeof(float)) == 0,
              "dc_gemm_mt(%d) not bit-identical to dc_gemm: %s", nt, desc);
    }
    free(C);
    free(Cfast);
    gdata_free(&d);
}

// ----------------------------------------------------------------------------

static void test_sweep(dc_rng *rng) {
    // A representative sweep: every (M,N) pair from the list with K cycling
    // through it, all trans combinations and both betas, leading dimensions
    // minimal or padded.
    static const int S[] = {1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 33, 64, 97, 150};
    const int ns = (int)(sizeof S / sizeof S[0]);
    int before = dc_tc.failed, idx = 0;
    for (int t = 0; t < 4; t++) {
        for (int bi = 0; bi < 2; bi++) {
            for (int im = 0; im < ns; im++) {
                for (int in = 0; in < ns; in++, idx++) {
                    gcase c = {t & 1, (t >> 1) & 1, S[im], S[in], S[(im + 2 * in + 3 * t + bi) % ns],
                               idx % 3 == 0 ? 0 : idx % 7, idx % 4 == 0 ? 0 : idx % 5 + 1,
                               idx % 5 == 0 ? 0 : idx % 3 + 1, (float)bi};
                    run_case(&c, rng);
                }
            }
        }
    }
    printf("  sweep: %d cases, %s\n", idx, dc_tc.failed == before ? "ok" : "FAIL");
}

static void test_blocking(dc_rng *rng) {
    // K past the 256 k-block (later blocks add to C even when beta is 0), M
    // past the 240-row block, and a 1x1x1.
    static const int shp[][3] = {
        {1, 1, 1}, {7, 33, 257}, {13, 17, 600}, {250, 20, 30}, {245, 37, 300}, {6, 16, 256},
        {12, 48, 512}, {1, 300, 5}, {300, 1, 5}, {3, 5, 1000},
    };
    int before = dc_tc.failed, n = 0;
    for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int bi = 0; bi < 2; bi++, n++) {
                gcase c = {t & 1, (t >> 1) & 1, shp[s][0], shp[s][1], shp[s][2], n % 3, 2 * (n % 2),
                           n % 5, (float)bi};
                run_case(&c, rng);
            }
    // ldb a multiple of 1024 floats: B is packed even when not transposed.
    for (int ta = 0; ta < 2; ta++, n++) {
        gcase c = {ta, false, 13, 1000, 70, 1, 24, 2, (float)ta};
        run_case(&c, rng);
    }
    printf("  blocking (K > 256, M > 240, ldb 1024): %d cases, %s\n", n,
           dc_tc.failed == before ? "ok" : "FAIL");
}

static void test_real_shapes(dc_rng *rng) {
    // The shapes deepc runs (conv via im2col per sample, FC at batch 64), with
    // minimal and with padded leading dimensions.
    static const gcase real[] = {
        {false, false, 6, 784, 25, 0, 0, 0, 0},   // conv1 forward
        {false, true, 6, 25, 784, 0, 0, 0, 1},    // conv1 weight grad
        {false, false, 16, 100, 150, 0, 0, 0, 0}, // conv2 forward
        {false, true, 16, 150, 100, 0, 0, 0, 1},  // conv2 weight grad
        {true, false, 150, 100, 16, 0, 0, 0, 0},  // conv2 input grad
        {false, true, 64, 120, 400, 0, 0, 0, 0},  // fc1 forward
        {false, true, 64, 84, 120, 0, 0, 0, 0},   // fc2 forward
        {false, true, 64, 10, 84, 0, 0, 0, 0},    // fc3 forward
        {true, false, 120, 400, 64, 0, 0, 0, 1},  // fc1 weight grad
        {true, false, 84, 120, 64, 0, 0, 0, 1},   // fc2 weight grad
        {true, false, 10, 84, 64, 0, 0, 0, 1},    // fc3 weight grad
        {false, false, 64, 400, 120, 0, 0, 0, 0}, // fc1 input grad
        {false, false, 64, 120, 84, 0, 0, 0, 0},  // fc2 input grad
        {false, false, 64, 84, 10, 0, 0, 0, 0},   // fc3 input grad
    };
    int before = dc_tc.failed, n = 0;
    for (size_t s = 0; s < sizeof real / sizeof real[0]; s++) {
        for (int pad = 0; pad < 2; pad++, n++) {
            gcase c = real[s];
            if (pad) c.pad_a = 3, c.pad_b = 5, c.pad_c = 7;
            run_case(&c, rng);
        }
    }
    printf("  real shapes: %d cases, %s\n", n, dc_tc.failed == before ? "ok" : "FAIL");
}

static void test_empty(void) {
    // K = 0: C = beta * C. M = 0 or N = 0: nothing is touched.
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4};
    float C[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    dc_gemm(false, false, 2, 3, 0, A, 1, B, 3, 0.0f, C, 3);
    int zeros = 1;
    for (int i = 0; i < 6; i++) zeros &= C[i] == 0.0f;
    CHECK(zeros, "K=0 beta=0 must zero C");
    float D[6] = {1, 2, 3, 4, 5, 6};
    dc_gemm_mt(2, true, true, 2, 3, 0, A, 2, B, 1, 1.0f, D, 3);
    CHECK(D[0] == 1 && D[5] == 6, "K=0 beta=1 must leave C");
    dc_gemm(false, false, 0, 3, 2, A, 2, B, 3, 0.0f, D, 3);
    dc_gemm(false, false, 2, 0, 2, A, 2, B, 3, 0.0f, D, 3);
    CHECK(D[0] == 1 && D[5] == 6, "M=0 or N=0 must not touch C");
}

int main(void) {
    dc_rng rng;
    dc_rng_seed(&rng, 20240601);
    printf("test_gemm: tolerance |got-ref| <= %g * (sum_k |a_ik b_kj| + |beta c_ij|)\n", RTOL);
    test_empty();
    test_real_shapes(&rng);
    test_blocking(&rng);
    test_sweep(&rng);
    printf("  %d cases, each through dc_gemm, 5 forced kernels and dc_gemm_mt(1,2,3)\n", n_cases);
    return dc_test_finish();
}
