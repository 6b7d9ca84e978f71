// bench_sparse.c — does a sparse kernel help at 90% unstructured sparsity?
// (issue 9). Times, on LeNet-5's weighted layers as products C (M, N) =
// W (M, K) x B (K, N), the dense dc_gemm (the AVX2/AVX-512 tiles deepc
// uses) against a CSR kernel over the same weights with 90% of them zero:
//   for each output row m, for each kept weight (k, w): C[m][:] += w * B[k][:]
// vectorised along N (AVX2 FMA, 8 columns per instruction; scalar tail), and
// at N = 1 a scalar sparse dot product. The weights are random with the 10%
// largest magnitudes kept (magnitude pruning of a random matrix); both
// kernels' outputs are checked against each other (1e-4 relative).
//
// Shapes: conv2 as the GEMM of one image (16 output channels, 150 taps, 100
// pixels), the three linear layers at batch 1 and 256, conv1 (6 x 25 x 784).
//
//   gcc -O3 -Iinclude -Isrc bench/bench_sparse.c src/kernels/gemm.c src/core/status.c src/core/cpu.c
//       -fopenmp -lm -o /tmp/bench_sparse && /tmp/bench_sparse [density]
//
// Timing: thread CPU time, each candidate run enough times for ~2 ms per
// sample, the two interleaved, median of 31 samples; one thread.
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/kernels.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmpf(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

typedef struct csr {
    int M;
    int *rowp; // (M + 1)
    int *col;  // (nnz)
    float *val;
} csr;

// Keeps the `density` share of W's largest magnitudes (a global threshold).
static void make_csr(csr *s, float *W, int M, int K, double density) {
    const size_t n = (size_t)M * K;
    float *mag = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) mag[i] = fabsf(W[i]);
    qsort(mag, n, sizeof(float), cmpf); // the threshold: the (1 - density) quantile
    const size_t keep = (size_t)(density * (double)n + 0.5);
    const float thr = keep ? mag[n - keep] : INFINITY;
    free(mag);
    s->M = M;
    s->rowp = malloc(sizeof(int) * (size_t)(M + 1));
    s->col = malloc(sizeof(int) * n);
    s->val = malloc(sizeof(float) * n);
    int z = 0;
    for (int m = 0; m < M; m++) {
        s->rowp[m] = z;
        for (int k = 0; k < K; k++) {
            float *w = &W[(size_t)m * K + k];
            if (fabsf(*w) >= thr) s->col[z] = k, s->val[z++] = *w;
            else *w = 0.0f; // the dense kernel runs the same pruned matrix
        }
    }
    s->rowp[M] = z;
}

// C (M, N) = S (M, K) x B (K, N), rows of ldb / ldc.
__attribute__((target("avx2,fma"))) static void csr_mm(const csr *s, const float *B, int ldb, float *C, int ldc,
                                                       int N) {
    for (int m = 0; m < s->M; m++) {
        float *c = C + (size_t)m * ldc;
        if (N == 1) {
            float acc = 0;
            for (int z = s->rowp[m]; z < s->rowp[m + 1]; z++) acc += s->val[z] * B[(size_t)s->col[z] * ldb];
            c[0] = acc;
            continue;
        }
        memset(c, 0, sizeof(float) * (size_t)N);
        int j = 0;
        for (; j + 32 <= N; j += 32) { // 4 accumulators of 8 columns
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int z = s->rowp[m]; z < s->rowp[m + 1]; z++) {
                const __m256 w = _mm256_set1_ps(s->val[z]);
                const float *b = B + (size_t)s->col[z] * ldb + j;
                a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b), a0);
                a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 8), a1);
                a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 16), a2);
                a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + 24), a3);
            }
            _mm256_storeu_ps(c + j, a0), _mm256_storeu_ps(c + j + 8, a1);
            _mm256_storeu_ps(c + j + 16, a2), _mm256_storeu_ps(c + j + 24, a3);
        }
        for (; j + 8 <= N; j += 8) {
            __m256 a0 = _mm256_setzero_ps();
            for (int z = s->rowp[m]; z < s->rowp[m + 1]; z++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(s->val[z]), _mm256_loadu_ps(B + (size_t)s->col[z] * ldb + j), a0);
            _mm256_storeu_ps(c + j, a0);
        }
        for (; j < N; j++) {
            float acc = 0;
            for (int z = s->rowp[m]; z < s->rowp[m + 1]; z++) acc += s->val[z] * B[(size_t)s->col[z] * ldb + j];
            c[j] = acc;
        }
    }
}

typedef struct shape {
    const char *name;
    int M, K, N;
} shape;

int main(int argc, char **argv) {
    const double density = argc > 1 ? atof(argv[1]) : 0.1;
    const shape shapes[] = {
        {"conv1 (1 image)", 6, 25, 784},   {"conv2 (1 image)", 16, 150, 100}, {"fc1 batch 1", 120, 400, 1},
        {"fc2 batch 1", 84, 120, 1},       {"fc3 batch 1", 10, 84, 1},        {"fc1 batch 256", 120, 400, 256},
        {"fc2 batch 256", 84, 120, 256},   {"fc3 batch 256", 10, 84, 256},
    };
    printf("density %.2f (%.0f%% sparse), one thread, median of 31 interleaved samples\n", density,
           100 * (1 - density));
    printf("%-18s %12s %12s %8s %10s\n", "layer", "dense us", "sparse us", "speedup", "max rel");
    srand(1);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        float *W = malloc(sizeof(float) * (size_t)s->M * s->K), *B = malloc(sizeof(float) * (size_t)s->K * s->N);
        float *C1 = calloc((size_t)s->M * s->N, sizeof(float)), *C2 = calloc((size_t)s->M * s->N, sizeof(float));
        for (int j = 0; j < s->M * s->K; j++) W[j] = (float)rand() / RAND_MAX * 2 - 1;
        for (int j = 0; j < s->K * s->N; j++) B[j] = (float)rand() / RAND_MAX * 2 - 1;
        csr S;
        make_csr(&S, W, s->M, s->K, density);
        dc_gemm(false, false, s->M, s->N, s->K, W, s->K, B, s->N, 0.0f, C1, s->N);
        csr_mm(&S, B, s->N, C2, s->N, s->N);
        double worst = 0;
        for (int j = 0; j < s->M * s->N; j++) {
            const double d = fabs((double)C1[j] - C2[j]) / (fabs((double)C1[j]) + 1e-3);
            if (d > worst) worst = d;
        }
        // calls per sample for ~2 ms
        double t0 = cpu_now();
        int reps = 0;
        while (cpu_now() - t0 < 2e-3) dc_gemm(false, false, s->M, s->N, s->K, W, s->K, B, s->N, 0.0f, C1, s->N), reps++;
        double td[31], ts[31];
        for (int r = 0; r < 31; r++) {
            t0 = cpu_now();
            for (int k = 0; k < reps; k++) dc_gemm(false, false, s->M, s->N, s->K, W, s->K, B, s->N, 0.0f, C1, s->N);
            td[r] = (cpu_now() - t0) / reps;
            t0 = cpu_now();
            for (int k = 0; k < reps; k++) csr_mm(&S, B, s->N, C2, s->N, s->N);
            ts[r] = (cpu_now() - t0) / reps;
        }
        qsort(td, 31, sizeof(double), cmpd);
        qsort(ts, 31, sizeof(double), cmpd);
        printf("%-18s %12.3f %12.3f %7.2fx %10.1e\n", s->name, 1e6 * td[15], 1e6 * ts[15], td[15] / ts[15], worst);
        free(W), free(B), free(C1), free(C2), free(S.rowp), free(S.col), free(S.val);
    }
    return 0;
}
