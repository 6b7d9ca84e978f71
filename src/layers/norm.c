// norm.c — BatchNorm2d, GroupNorm, LayerNorm (contracts in norm.h).
//
// Every statistic is a reduction over a contiguous run of floats (a
// channel's plane, a group's block, a sample's features). Those runs are
// summed in double with 8 interleaved lanes (lane j takes elements j, j+8,
// ...), the lanes combined pairwise, then the tail added in order: a fixed
// order written out in C, so the bits do not depend on how the compiler
// schedules it (ISO C mode keeps GCC from contracting into FMAs). GCC 12
// does not vectorise the float->double widening with two accumulators; it
// runs as 16 independent scalar double chains at ~10 GB/s (0.64 ms for a
// 128x16x28x28 tensor here), and explicit SSE2 vectors of the same lanes
// gained under 20% in a microbenchmark, so the plain form stays. One pass
// gives sum and sum of squares; the variance sumsq/M - mean^2 in double
// loses nothing that matters for float32 data (its cancellation costs
// |mean|^2/var * 1e-16 relative).
//
// Elementwise passes are float, one read of each input and one write, in
// the form (x - mean) * scale + shift: subtracting first keeps the result
// accurate when |mean| >> std (x*scale + (beta - mean*scale), PyTorch's CPU
// form, cancels there). Outputs may alias inputs elementwise: GCC's runtime
// alias check accepts equal pointers, so in place stays vectorised.
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include "core/core.h"
#include "core/cpu.h"
#include "layers/norm.h"

#define LANES 8

static inline double lanes_total(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// The two hot sums (BatchNorm's statistics and its backward partials) also
// in AVX2: the same 8 lanes as two 4-double vectors, the same operations in
// the same order (a multiply, then an add: the scalar code is compiled
// without contraction), so the bits are the scalar loops' bits. GCC leaves
// those loops as 16 scalar double chains; these run about 4x faster.
#define AVX2 __attribute__((target("avx2")))

AVX2 static void sum_sumsq_avx2(double *s, double *q, const float *restrict x, size_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++) {
        __m256d v0 = _mm256_cvtps_pd(_mm_loadu_ps(x + k * LANES)), v1 = _mm256_cvtps_pd(_mm_loadu_ps(x + k * LANES + 4));
        a0 = _mm256_add_pd(a0, v0);
        a1 = _mm256_add_pd(a1, v1);
        b0 = _mm256_add_pd(b0, _mm256_mul_pd(v0, v0));
        b1 = _mm256_add_pd(b1, _mm256_mul_pd(v1, v1));
    }
    double a[LANES], b[LANES];
    _mm256_storeu_pd(a, a0), _mm256_storeu_pd(a + 4, a1), _mm256_storeu_pd(b, b0), _mm256_storeu_pd(b + 4, b1);
    double S = lanes_total(a), Q = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double v = x[i];
        S += v;
        Q += v * v;
    }
    *s = S;
    *q = Q;
}

AVX2 static void sum_dy_dyx_avx2(double *s, double *p, const float *restrict dy, const float *restrict x, double m,
                                 size_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
    const __m256d mm = _mm256_set1_pd(m);
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++) {
        __m256d g0 = _mm256_cvtps_pd(_mm_loadu_ps(dy + k * LANES)), g1 = _mm256_cvtps_pd(_mm_loadu_ps(dy + k * LANES + 4));
        __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(x + k * LANES)), x1 = _mm256_cvtps_pd(_mm_loadu_ps(x + k * LANES + 4));
        a0 = _mm256_add_pd(a0, g0);
        a1 = _mm256_add_pd(a1, g1);
        b0 = _mm256_add_pd(b0, _mm256_mul_pd(g0, _mm256_sub_pd(x0, mm)));
        b1 = _mm256_add_pd(b1, _mm256_mul_pd(g1, _mm256_sub_pd(x1, mm)));
    }
    double a[LANES], b[LANES];
    _mm256_storeu_pd(a, a0), _mm256_storeu_pd(a + 4, a1), _mm256_storeu_pd(b, b0), _mm256_storeu_pd(b + 4, b1);
    double S = lanes_total(a), P = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double g = dy[i];
        S += g;
        P += g * ((double)x[i] - m);
    }
    *s = S;
    *p = P;
}

// s = sum x, q = sum x^2 over x (n)
static void sum_sumsq_plain(double *s, double *q, const float *restrict x, size_t n) {
    double a[LANES] = {0}, b[LANES] = {0};
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++)
        for (int j = 0; j < LANES; j++) {
            const double v = x[k * LANES + j];
            a[j] += v;
            b[j] += v * v;
        }
    double S = lanes_total(a), Q = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double v = x[i];
        S += v;
        Q += v * v;
    }
    *s = S;
    *q = Q;
}

// s = sum dy, p = sum dy * (x - m) over dy, x (n)
static void sum_dy_dyx_plain(double *s, double *p, const float *restrict dy, const float *restrict x,
                       double m, size_t n) {
    double a[LANES] = {0}, b[LANES] = {0};
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++)
        for (int j = 0; j < LANES; j++) {
            const double g = dy[k * LANES + j];
            a[j] += g;
            b[j] += g * ((double)x[k * LANES + j] - m);
        }
    double S = lanes_total(a), P = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double g = dy[i];
        S += g;
        P += g * ((double)x[i] - m);
    }
    *s = S;
    *p = P;
}

// The variant for this CPU (DEEPC_CPU honoured), chosen once per call of a
// public function below, never per channel.
typedef void (*sum1_fn)(double *, double *, const float *restrict, size_t);
typedef void (*sum2_fn)(double *, double *, const float *restrict, const float *restrict, double, size_t);
static sum1_fn pick_sum_sumsq(void) {
    return dc_cpu_has(dc_cpu_features(), DC_CPU_AVX2) ? sum_sumsq_avx2 : sum_sumsq_plain;
}
static sum2_fn pick_sum_dy_dyx(void) {
    return dc_cpu_has(dc_cpu_features(), DC_CPU_AVX2) ? sum_dy_dyx_avx2 : sum_dy_dyx_plain;
}

// s = sum g dy, p = sum g dy (x - m) over dy, x, g (n)
static void sum_gdy_gdyx(double *s, double *p, const float *restrict dy, const float *restrict x,
                         const float *restrict g, double m, size_t n) {
    double a[LANES] = {0}, b[LANES] = {0};
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++)
        for (int j = 0; j < LANES; j++) {
            const double t = (double)dy[k * LANES + j] * g[k * LANES + j];
            a[j] += t;
            b[j] += t * ((double)x[k * LANES + j] - m);
        }
    double S = lanes_total(a), P = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double t = (double)dy[i] * g[i];
        S += t;
        P += t * ((double)x[i] - m);
    }
    *s = S;
    *p = P;
}

// s = sum dy^2, p = sum (dy (x - m))^2 over dy, x (n)
static void sum_sq_dy_dyx(double *s, double *p, const float *restrict dy, const float *restrict x,
                          double m, size_t n) {
    double a[LANES] = {0}, b[LANES] = {0};
    const size_t nb = n / LANES;
    for (size_t k = 0; k < nb; k++)
        for (int j = 0; j < LANES; j++) {
            const double g = dy[k * LANES + j];
            const double t = g * ((double)x[k * LANES + j] - m);
            a[j] += g * g;
            b[j] += t * t;
        }
    double S = lanes_total(a), P = lanes_total(b);
    for (size_t i = nb * LANES; i < n; i++) {
        const double g = dy[i];
        const double t = g * ((double)x[i] - m);
        S += g * g;
        P += t * t;
    }
    *s = S;
    *p = P;
}

// y (n) = (x - m) * s + b; y may equal x
static void affine_run(float *y, const float *x, float m, float s, float b, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) * s + b;
}

// dx (n) = k dy - a - (x - m) b; dx may equal dy
static void dx_run(float *dx, const float *dy, const float *x, float k, float a, float m, float b,
                   size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = k * dy[i] - a - (x[i] - m) * b;
}

static float inv_sqrt(double var, float eps) {
    return (float)(1.0 / sqrt(var + (double)eps));
}

// ---------------------------------------------------------------------------
// BatchNorm2d

void dc_bn2d_stats_partial(double *sum, double *sumsq, const float *x, int N, int C, int HW) {
    const sum1_fn sum_sumsq = pick_sum_sumsq();
    // x is (N,C,H,W); sum, sumsq are (C), overwritten
    for (int c = 0; c < C; c++) sum[c] = sumsq[c] = 0.0;
    if (HW == 1) { // (N,C) features: a run of one element sums to itself, so these are the bits of the loop below
        for (int n = 0; n < N; n++) {
            const float *xn = x + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                const double v = xn[c];
                sum[c] += v;
                sumsq[c] += v * v;
            }
        }
        return;
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s, q;
            sum_sumsq(&s, &q, x + ((size_t)n * C + c) * HW, (size_t)HW);
            sum[c] += s;
            sumsq[c] += q;
        }
}

void dc_bn2d_stats_finish(float *mean, float *invstd, float *running_mean, float *running_var,
                          float *num_batches_tracked, const double *sum, const double *sumsq,
                          int C, int64_t M, float eps, float momentum) {
    // sum, sumsq are (C) totals over M values each; mean, invstd, running_* are (C)
    DC_ASSERT(M >= 2); // PyTorch: "Expected more than 1 value per channel when training"
    const double m = momentum, Md = (double)M;
    for (int c = 0; c < C; c++) {
        const double mu = sum[c] / Md;
        double var = sumsq[c] / Md - mu * mu;
        if (var < 0.0) var = 0.0; // rounding when all values are (nearly) equal
        mean[c] = (float)mu;
        invstd[c] = inv_sqrt(var, eps);
        if (running_mean)
            running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mu);
        if (running_var)
            running_var[c] = (float)((1.0 - m) * running_var[c] + m * var * Md / (Md - 1.0));
    }
    if (num_batches_tracked) *num_batches_tracked += 1.0f;
}

void dc_bn2d_eval_stats(float *mean, float *invstd, const float *running_mean,
                        const float *running_var, int C, float eps) {
    // running_mean, running_var, mean, invstd are (C)
    for (int c = 0; c < C; c++) {
        mean[c] = running_mean[c];
        invstd[c] = inv_sqrt(running_var[c], eps);
    }
}

void dc_bn2d_apply(float *y, const float *x, const float *mean, const float *invstd,
                   const float *gamma, const float *beta, int N, int C, int HW) {
    // x, y are (N,C,H,W); mean, invstd, gamma, beta are (C)
    if (HW == 1) { // (N,C) features: the same operations, vectorised along the channels
        for (int n = 0; n < N; n++) {
            const float *xn = x + (size_t)n * C;
            float *yn = y + (size_t)n * C;
            for (int c = 0; c < C; c++)
                yn[c] = (xn[c] - mean[c]) * (gamma ? gamma[c] * invstd[c] : invstd[c]) + (beta ? beta[c] : 0.0f);
        }
        return;
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const size_t off = ((size_t)n * C + c) * HW;
            const float s = gamma ? gamma[c] * invstd[c] : invstd[c];
            affine_run(y + off, x + off, mean[c], s, beta ? beta[c] : 0.0f, (size_t)HW);
        }
}

void dc_bn2d_backward_partial(double *sdy, double *sdyxhat, const float *dy, const float *x,
                              const float *mean, const float *invstd, int N, int C, int HW) {
    const sum2_fn sum_dy_dyx = pick_sum_dy_dyx();
    // dy, x are (N,C,H,W); mean, invstd are (C); sdy, sdyxhat are (C), overwritten
    for (int c = 0; c < C; c++) sdy[c] = sdyxhat[c] = 0.0;
    if (HW == 1) { // (N,C) features: the loop below's bits (a run of one element sums to itself)
        for (int n = 0; n < N; n++) {
            const float *gn = dy + (size_t)n * C, *xn = x + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                const double g = gn[c];
                sdy[c] += g;
                sdyxhat[c] += g * ((double)xn[c] - mean[c]);
            }
        }
    } else {
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                const size_t off = ((size_t)n * C + c) * HW;
                double s, p;
                sum_dy_dyx(&s, &p, dy + off, x + off, mean[c], (size_t)HW);
                sdy[c] += s;
                sdyxhat[c] += p; // sum dy (x - mean); scaled by invstd below
            }
    }
    for (int c = 0; c < C; c++) sdyxhat[c] *= (double)invstd[c];
}

void dc_bn2d_backward_dx_train(float *dx, const float *dy, const float *x, const float *mean,
                               const float *invstd, const float *gamma, const double *sdy,
                               const double *sdyxhat, int64_t M, int N, int C, int HW) {
    // dy, x, dx are (N,C,H,W); mean, invstd, gamma, sdy, sdyxhat are (C)
    // dx = k dy - k sdy/M - (x - mean) k invstd sdyxhat/M, k = gamma invstd
    const double Md = (double)M;
    if (HW == 1) { // (N,C) features: blocks of channels, their coefficients first, then rows along them
        enum { CB = 256 };
        float kb[CB], ab[CB], bb[CB];
        for (int c0 = 0; c0 < C; c0 += CB) {
            const int cn = C - c0 < CB ? C - c0 : CB;
            for (int j = 0; j < cn; j++) {
                const int c = c0 + j;
                const double k = (gamma ? gamma[c] : 1.0) * invstd[c];
                kb[j] = (float)k;
                ab[j] = (float)(k * sdy[c] / Md);
                bb[j] = (float)(k * invstd[c] * sdyxhat[c] / Md);
            }
            for (int n = 0; n < N; n++) {
                const size_t off = (size_t)n * C + c0;
                const float *g = dy + off, *xn = x + off, *mn = mean + c0;
                float *d = dx + off;
                for (int j = 0; j < cn; j++) d[j] = kb[j] * g[j] - ab[j] - (xn[j] - mn[j]) * bb[j];
            }
        }
        return;
    }
    for (int c = 0; c < C; c++) {
        const double k = (gamma ? gamma[c] : 1.0) * invstd[c];
        const float kf = (float)k, a = (float)(k * sdy[c] / Md),
                    b = (float)(k * invstd[c] * sdyxhat[c] / Md);
        for (int n = 0; n < N; n++) {
            const size_t off = ((size_t)n * C + c) * HW;
            dx_run(dx + off, dy + off, x + off, kf, a, mean[c], b, (size_t)HW);
        }
    }
}

void dc_bn2d_backward_dx_eval(float *dx, const float *dy, const float *invstd,
                              const float *gamma, int N, int C, int HW) {
    // dy, dx are (N,C,H,W); invstd, gamma are (C)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const size_t off = ((size_t)n * C + c) * HW;
            const float k = gamma ? gamma[c] * invstd[c] : invstd[c];
            for (size_t i = 0; i < (size_t)HW; i++) dx[off + i] = k * dy[off + i];
        }
}

void dc_bn2d_backward_params(float *dgamma, float *dbeta, const double *sdy,
                             const double *sdyxhat, int C) {
    // sdy, sdyxhat, dgamma, dbeta are (C)
    for (int c = 0; c < C; c++) {
        if (dgamma) dgamma[c] += (float)sdyxhat[c];
        if (dbeta) dbeta[c] += (float)sdy[c];
    }
}

// ---------------------------------------------------------------------------
// GroupNorm

void dc_groupnorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int N, int C, int HW, int G, float eps) {
    const sum1_fn sum_sumsq = pick_sum_sumsq();
    // x, y are (N,C,H,W); gamma, beta are (C); mean, rstd are (N,G)
    DC_ASSERT(G >= 1 && C % G == 0);
    const int Cg = C / G;
    const size_t D = (size_t)Cg * HW;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            const size_t base = ((size_t)n * C + (size_t)g * Cg) * HW;
            double s, q;
            sum_sumsq(&s, &q, x + base, D);
            const double mu = s / (double)D;
            double var = q / (double)D - mu * mu;
            if (var < 0.0) var = 0.0;
            const float m = (float)mu, r = inv_sqrt(var, eps);
            mean[(size_t)n * G + g] = m;
            rstd[(size_t)n * G + g] = r;
            for (int cc = 0; cc < Cg; cc++) {
                const int c = g * Cg + cc;
                const size_t off = base + (size_t)cc * HW;
                affine_run(y + off, x + off, m, gamma ? r * gamma[c] : r, beta ? beta[c] : 0.0f,
                           (size_t)HW);
            }
        }
}

void dc_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int N, int C, int HW, int G) {
    const sum2_fn sum_dy_dyx = pick_sum_dy_dyx();
    // dy, x, dx are (N,C,H,W); mean, rstd are (N,G); gamma, dgamma, dbeta are (C)
    // Per group of D = Cg*HW values, with xhat = (x - mean) rstd and
    // A = sum gamma dy, B = sum gamma dy (x - mean):
    //   dx = rstd gamma dy - rstd A/D - (x - mean) rstd^3 B/D
    DC_ASSERT(G >= 1 && C % G == 0);
    const int Cg = C / G;
    const double D = (double)Cg * HW;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            const size_t base = ((size_t)n * C + (size_t)g * Cg) * HW;
            const float m = mean[(size_t)n * G + g];
            const double r = rstd[(size_t)n * G + g];
            double A = 0, B = 0;
            for (int cc = 0; cc < Cg; cc++) {
                const int c = g * Cg + cc;
                const size_t off = base + (size_t)cc * HW;
                double s, p;
                sum_dy_dyx(&s, &p, dy + off, x + off, m, (size_t)HW);
                const double gc = gamma ? gamma[c] : 1.0;
                A += gc * s;
                B += gc * p;
                if (dgamma) dgamma[c] += (float)(p * r);
                if (dbeta) dbeta[c] += (float)s;
            }
            if (!dx) continue;
            const float a = (float)(r * A / D), b = (float)(r * r * r * B / D);
            for (int cc = 0; cc < Cg; cc++) {
                const int c = g * Cg + cc;
                const size_t off = base + (size_t)cc * HW;
                const float k = (float)(r * (gamma ? gamma[c] : 1.0));
                dx_run(dx + off, dy + off, x + off, k, a, m, b, (size_t)HW);
            }
        }
}

void dc_groupnorm_sample_sqnorm(double *sq, const float *dy, const float *x, const float *mean,
                                const float *rstd, int N, int C, int HW, int G) {
    const sum2_fn sum_dy_dyx = pick_sum_dy_dyx();
    // dy, x are (N,C,H,W); mean, rstd are (N,G); sq is (N), +=
    DC_ASSERT(G >= 1 && C % G == 0);
    const int Cg = C / G;
    for (int n = 0; n < N; n++) {
        double t = 0;
        for (int c = 0; c < C; c++) {
            const int g = c / Cg;
            const size_t off = ((size_t)n * C + c) * HW;
            double s, p;
            sum_dy_dyx(&s, &p, dy + off, x + off, mean[(size_t)n * G + g], (size_t)HW);
            const double dg = p * rstd[(size_t)n * G + g];
            t += dg * dg + s * s;
        }
        sq[n] += t;
    }
}

// ---------------------------------------------------------------------------
// LayerNorm

void dc_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int N, int D, float eps) {
    const sum1_fn sum_sumsq = pick_sum_sumsq();
    // x, y are (N,D); gamma, beta are (D); mean, rstd are (N)
    for (int n = 0; n < N; n++) {
        const size_t off = (size_t)n * D;
        double s, q;
        sum_sumsq(&s, &q, x + off, (size_t)D);
        const double mu = s / (double)D;
        double var = q / (double)D - mu * mu;
        if (var < 0.0) var = 0.0;
        const float m = (float)mu, r = inv_sqrt(var, eps);
        mean[n] = m;
        rstd[n] = r;
        const float *xp = x + off;
        float *yp = y + off;
        if (gamma && beta)
            for (size_t d = 0; d < (size_t)D; d++) yp[d] = (xp[d] - m) * r * gamma[d] + beta[d];
        else if (gamma)
            for (size_t d = 0; d < (size_t)D; d++) yp[d] = (xp[d] - m) * r * gamma[d];
        else if (beta)
            for (size_t d = 0; d < (size_t)D; d++) yp[d] = (xp[d] - m) * r + beta[d];
        else
            affine_run(yp, xp, m, r, 0.0f, (size_t)D);
    }
}

void dc_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int N, int D) {
    const sum2_fn sum_dy_dyx = pick_sum_dy_dyx();
    // dy, x, dx are (N,D); mean, rstd are (N); gamma, dgamma, dbeta are (D)
    // With A = sum gamma dy, B = sum gamma dy (x - mean) over the sample:
    //   dx = rstd gamma dy - rstd A/D - (x - mean) rstd^3 B/D
    for (int n = 0; n < N; n++) {
        const size_t off = (size_t)n * D;
        const float *dyp = dy + off, *xp = x + off;
        const float m = mean[n], rf = rstd[n];
        const double r = rf;
        if (dgamma && dbeta) {
            for (size_t d = 0; d < (size_t)D; d++) {
                dgamma[d] += dyp[d] * ((xp[d] - m) * rf);
                dbeta[d] += dyp[d];
            }
        } else if (dgamma) {
            for (size_t d = 0; d < (size_t)D; d++) dgamma[d] += dyp[d] * ((xp[d] - m) * rf);
        } else if (dbeta) {
            for (size_t d = 0; d < (size_t)D; d++) dbeta[d] += dyp[d];
        }
        if (!dx) continue;
        double A, B;
        if (gamma)
            sum_gdy_gdyx(&A, &B, dyp, xp, gamma, m, (size_t)D);
        else
            sum_dy_dyx(&A, &B, dyp, xp, m, (size_t)D);
        const float a = (float)(r * A / D), b = (float)(r * r * r * B / D);
        float *dxp = dx + off;
        if (gamma)
            for (size_t d = 0; d < (size_t)D; d++)
                dxp[d] = rf * gamma[d] * dyp[d] - a - (xp[d] - m) * b;
        else
            dx_run(dxp, dyp, xp, rf, a, m, b, (size_t)D);
    }
}

void dc_layernorm_sample_sqnorm(double *sq, const float *dy, const float *x, const float *mean,
                                const float *rstd, int N, int D) {
    // dy, x are (N,D); mean, rstd are (N); sq is (N), +=
    for (int n = 0; n < N; n++) {
        const size_t off = (size_t)n * D;
        double s, p;
        sum_sq_dy_dyx(&s, &p, dy + off, x + off, mean[n], (size_t)D);
        const double r = rstd[n];
        sq[n] += p * r * r + s;
    }
}
