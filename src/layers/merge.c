// merge.c — residual add, channel concat, global average pool (merge.h).
// Add and the pool's backward are single elementwise passes; concat is one
// memcpy per (sample, input); the pool's mean sums each plane in double
// with 8 interleaved lanes combined pairwise (the fixed order norm.c uses).
#include <immintrin.h>
#include <string.h>
#include "core/cpu.h"
#include "layers/merge.h"

// The residual add is a third of a resnet's elementwise traffic at inference
// (its shortcut input comes from two convolutions back, out of cache at
// batch 256), so it has an AVX2 path giving the plain loop's bits (one
// rounded add per value; the relu is dc_relu_forward's rule), with the
// relu after it in the same pass.
__attribute__((target("avx2"))) static void add_avx2(float *y, const float *a, const float *b, size_t n, bool relu) {
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        if (relu) v = _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_NLE_UQ)); // v > 0 or NaN, else +0
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        const float v = a[i] + b[i];
        y[i] = !relu || v > 0.0f || v != v ? v : 0.0f;
    }
}

void dc_add_forward(float *y, const float *a, const float *b, size_t n) {
    // a, b, y are (n)
    dc_add_relu_forward(y, a, b, n, false);
}

void dc_add_relu_forward(float *y, const float *a, const float *b, size_t n, bool relu) {
    // a, b, y are (n); y may be a or b
    if (dc_cpu_has(dc_cpu_features(), DC_CPU_AVX2)) { // DEEPC_CPU honoured
        add_avx2(y, a, b, n, relu);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float v = a[i] + b[i];
        y[i] = !relu || v > 0.0f || v != v ? v : 0.0f;
    }
}

void dc_add_backward(float *da, float *db, const float *dy, size_t n) {
    // dy, da, db are (n)
    if (da && da != dy) memcpy(da, dy, n * sizeof(float));
    if (db && db != dy) memcpy(db, dy, n * sizeof(float));
}

void dc_concat_forward(float *y, const float *const *xs, const int *Cs, int K, int N, int HW) {
    // xs[k] is (N,Cs[k],H,W), y is (N,CT,H,W)
    int CT = 0;
    for (int k = 0; k < K; k++) CT += Cs[k];
    for (int n = 0; n < N; n++) {
        float *yp = y + (size_t)n * CT * HW;
        for (int k = 0; k < K; k++) {
            const size_t len = (size_t)Cs[k] * HW;
            memcpy(yp, xs[k] + (size_t)n * len, len * sizeof(float));
            yp += len;
        }
    }
}

void dc_concat_backward(float *const *dxs, const float *dy, const int *Cs, int K, int N, int HW) {
    // dy is (N,CT,H,W), dxs[k] is (N,Cs[k],H,W)
    int CT = 0;
    for (int k = 0; k < K; k++) CT += Cs[k];
    for (int n = 0; n < N; n++) {
        const float *dyp = dy + (size_t)n * CT * HW;
        for (int k = 0; k < K; k++) {
            const size_t len = (size_t)Cs[k] * HW;
            if (dxs[k]) memcpy(dxs[k] + (size_t)n * len, dyp, len * sizeof(float));
            dyp += len;
        }
    }
}

#define LANES 8

static double plane_sum(const float *restrict x, size_t n) {
    double a[LANES] = {0};
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++)
        for (int j = 0; j < LANES; j++) a[j] += x[k * LANES + j];
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (size_t i = nb * LANES; i < n; i++) s += x[i];
    return s;
}

void dc_gap_forward(float *y, const float *x, int N, int C, int HW) {
    // x is (N,C,H,W), y is (N,C)
    for (size_t p = 0; p < (size_t)N * C; p++)
        y[p] = (float)(plane_sum(x + p * HW, (size_t)HW) / HW);
}

void dc_gap_backward(float *dx, const float *dy, int N, int C, int HW) {
    // dy is (N,C), dx is (N,C,H,W), overwritten
    for (size_t p = 0; p < (size_t)N * C; p++) {
        const float g = (float)((double)dy[p] / HW);
        float *d = dx + p * HW;
        for (size_t i = 0; i < (size_t)HW; i++) d[i] = g;
    }
}
