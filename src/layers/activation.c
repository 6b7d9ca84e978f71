// activation.c — elementwise ReLU, Tanh, Sigmoid. Backward reads the forward
// output y (so the input need not be kept): relu' = y > 0, tanh' = 1 - y^2,
// sigmoid' = y (1 - y), the same formulas PyTorch's autograd uses.
//
// ReLU runs between every conv and pool, so it has an AVX2 path (chosen at
// run time; the library is built for baseline x86-64) giving the same bits
// as the plain loop: y = x where x > 0 or x is NaN, else +0; dx = dy where
// y > 0, else +0. Both are a compare and an AND per 8 values.
#include <math.h>
#include <immintrin.h>
#include "layers/layers.h"

#define AVX __attribute__((target("avx2,fma")))

static bool have_avx2(void) { return __builtin_cpu_supports("avx2"); }

AVX static void relu_forward_avx(float *y, const float *x, size_t n) {
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        // not(v <= 0): true for v > 0 and for NaN, which passes through
        _mm256_storeu_ps(y + i, _mm256_and_ps(v, _mm256_cmp_ps(v, zero, _CMP_NLE_UQ)));
    }
    for (; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}

AVX static void relu_backward_avx(float *dx, const float *dy, const float *y, size_t n) {
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(y + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dx + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), keep));
    }
    for (; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void dc_relu_forward(float *y, const float *x, size_t n) {
    if (have_avx2()) {
        relu_forward_avx(y, x, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v > 0.0f || v != v ? v : 0.0f;
    }
}

void dc_relu_backward(float *dx, const float *dy, const float *y, size_t n) {
    if (have_avx2()) {
        relu_backward_avx(dx, dy, y, n);
        return;
    }
    // dy is read unconditionally so the compiler may vectorise the select
    for (size_t i = 0; i < n; i++) {
        const float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

void dc_tanh_forward(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void dc_tanh_backward(float *dx, const float *dy, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void dc_sigmoid_forward(float *y, const float *x, size_t n) {
    // split by sign so exp never overflows
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            y[i] = e / (1.0f + e);
        }
    }
}

void dc_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
