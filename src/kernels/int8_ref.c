// int8_ref.c — the portable int8 kernels: the reference quantised GEMM (the
// twin every vector kernel is held to), the fixed-point multiplier, and the
// layout, pooling, add and table kernels (integer arithmetic: one portable
// version, compared in tests with NCHW twins written from the definitions).
#include <math.h>
#include <string.h>
#include "kernels/int8_kernels.h"

void dc_quantize_multiplier(double m, int32_t *M0, int32_t *sh) {
    // TFLite's QuantizeMultiplier: m = f * 2^e with f in [0.5, 1), M0 = round(f * 2^31)
    if (!(m > 0)) {
        *M0 = 0;
        *sh = 0;
        return;
    }
    int e;
    const double f = frexp(m, &e);
    int64_t q = (int64_t)llround(f * (double)(1ll << 31));
    if (q == (1ll << 31)) {
        q /= 2;
        e++;
    }
    if (e < -31) { // below the smallest representable multiplier: 0
        *M0 = 0;
        *sh = 0;
        return;
    }
    *M0 = (int32_t)q;
    *sh = e;
}

void dc_qgemm_ref(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                  const void *packed, const dc_qgemm_params *p) {
    // a (M, K): tap k of row m at a[m * lda + (k / L) * segstride + k % L],
    // L = K / nseg; w (N, K) int8, out (M, N) rows of ldo
    const int8_t *w = packed;
    const int L = p->K / nseg;
    for (int m = 0; m < M; m++) {
        const uint8_t *ar = a + (size_t)m * lda;
        for (int n = 0; n < p->N; n++) {
            const int8_t *wr = w + (size_t)n * p->K;
            int32_t acc = 0;
            for (int k = 0; k < p->K; k++) acc += (int32_t)ar[(ptrdiff_t)(k / L) * segstride + k % L] * (int32_t)wr[k];
            const int32_t v = dc_requant(acc, p, n);
            if (p->out32) ((int32_t *)out)[(size_t)m * ldo + n] = v;
            else ((uint8_t *)out)[(size_t)m * ldo + n] = (uint8_t)v;
        }
    }
}

// ---------------------------------------------------------------------------
// Layout

// round(v) half away from zero, + z, clamped to [0, qmax]; |v| >= 1e9
// saturates and NaN gives 0, as the fake-quant op (model/ops.c).
static inline uint8_t quantize1(float v, int32_t z, int32_t qmax) {
    float t = v > -1e9f ? v : -1e9f; // NaN too
    t = t < 1e9f ? t : 1e9f;
    // for t < 0, (int)(t - 0.5f) == -(int)(-t + 0.5f): float addition is
    // symmetric under negation, and the conversion truncates toward zero
    const int32_t r = (int32_t)(t + (t < 0 ? -0.5f : 0.5f)) + z;
    return (uint8_t)(r < 0 ? 0 : r > qmax ? qmax : r);
}

void dc_q_quantize(uint8_t *q, const float *x, int N, int C, int H, int W, float inv_s, int32_t z,
                   int32_t qmax) {
    // x (N, C, H, W) -> q (N, H, W, C)
    const size_t HW = (size_t)H * W;
    if (C == 1) { // NCHW is NHWC: one contiguous pass
        const size_t n = (size_t)N * HW;
        for (size_t i = 0; i < n; i++) q[i] = quantize1(x[i] * inv_s, z, qmax);
        return;
    }
    for (int n = 0; n < N; n++) {
        const float *xs = x + (size_t)n * C * HW;
        uint8_t *qs = q + (size_t)n * C * HW;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < HW; p++) qs[p * C + c] = quantize1(xs[(size_t)c * HW + p] * inv_s, z, qmax);
    }
}

void dc_q_dequantize(float *x, const uint8_t *q, int N, int C, int H, int W, float s, int32_t z) {
    // q (N, H, W, C) -> x (N, C, H, W)
    const size_t HW = (size_t)H * W;
    for (int n = 0; n < N; n++) {
        const uint8_t *qs = q + (size_t)n * C * HW;
        float *xs = x + (size_t)n * C * HW;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < HW; p++) xs[(size_t)c * HW + p] = (float)((int32_t)qs[p * C + c] - z) * s;
    }
}

void dc_q_dequantize32(float *x, const int32_t *q, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)q[i] * s;
}

// ---------------------------------------------------------------------------
// Pooling (NHWC; channels innermost, so the compiler vectorises over c)

void dc_q_maxpool(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st) {
    // Two passes per output row, over column chunks that fit a stack row:
    // the max of the k input rows (contiguous bytes: the compiler's vector
    // loop), then of the k pixels of each window along that row. A call per
    // pixel and byte loops over a few channels (LeNet's 6) were 18% of its
    // int8 inference.
    enum { ROW = 4096 };
    uint8_t vm[ROW];
    const int OH = (H - k) / st + 1, OW = (W - k) / st + 1;
    const size_t wc = (size_t)W * C;
    // output pixels per chunk: their input columns fit the row
    int per = (int)((ROW / (size_t)C - (size_t)k) / (size_t)st) + 1;
    if ((size_t)k * C > ROW) per = 0; // wider than the row: window by window below
    for (int n = 0; n < N; n++) {
        const uint8_t *xs = x + (size_t)n * H * wc;
        uint8_t *ys = y + (size_t)n * OH * OW * C;
        for (int oh = 0; oh < OH; oh++) {
            const uint8_t *x0 = xs + (size_t)oh * st * wc;
            uint8_t *yr = ys + (size_t)oh * OW * C;
            if (!per) {
                for (int ow = 0; ow < OW; ow++)
                    for (int c = 0; c < C; c++) {
                        uint8_t m = 0;
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                const uint8_t v = x0[(size_t)i * wc + ((size_t)ow * st + j) * C + c];
                                m = v > m ? v : m;
                            }
                        yr[(size_t)ow * C + c] = m;
                    }
                continue;
            }
            for (int ow0 = 0; ow0 < OW; ow0 += per) {
                const int ow1 = ow0 + per < OW ? ow0 + per : OW;
                const size_t off = (size_t)ow0 * st * C, len = ((size_t)(ow1 - 1 - ow0) * st + k) * C;
                memcpy(vm, x0 + off, len);
                for (int i = 1; i < k; i++) {
                    const uint8_t *r = x0 + (size_t)i * wc + off;
                    for (size_t j = 0; j < len; j++) vm[j] = r[j] > vm[j] ? r[j] : vm[j];
                }
                for (int ow = ow0; ow < ow1; ow++) {
                    const uint8_t *v = vm + (size_t)(ow - ow0) * st * C;
                    uint8_t *d = yr + (size_t)ow * C;
                    for (int c = 0; c < C; c++) {
                        uint8_t m = v[c];
                        for (int j = 1; j < k; j++) m = v[(size_t)j * C + c] > m ? v[(size_t)j * C + c] : m;
                        d[c] = m;
                    }
                }
            }
        }
    }
}

void dc_q_avgpool(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st) {
    const int OH = (H - k) / st + 1, OW = (W - k) / st + 1;
    const uint32_t kk = (uint32_t)k * k;
    uint32_t sum[256];
    for (int n = 0; n < N; n++) {
        const uint8_t *xs = x + (size_t)n * H * W * C;
        uint8_t *ys = y + (size_t)n * OH * OW * C;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int c0 = 0; c0 < C; c0 += 256) {
                    const int cn = C - c0 < 256 ? C - c0 : 256;
                    for (int c = 0; c < cn; c++) sum[c] = 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            const uint8_t *s = xs + ((size_t)(oh * st + i) * W + ow * st + j) * C + c0;
                            for (int c = 0; c < cn; c++) sum[c] += s[c];
                        }
                    uint8_t *d = ys + ((size_t)oh * OW + ow) * C + c0;
                    for (int c = 0; c < cn; c++) d[c] = (uint8_t)((sum[c] + kk / 2) / kk);
                }
    }
}

void dc_q_gap(uint8_t *y, const uint8_t *x, int N, int C, int HW) {
    uint32_t sum[256];
    for (int n = 0; n < N; n++)
        for (int c0 = 0; c0 < C; c0 += 256) {
            const int cn = C - c0 < 256 ? C - c0 : 256;
            for (int c = 0; c < cn; c++) sum[c] = 0;
            for (int p = 0; p < HW; p++) {
                const uint8_t *s = x + ((size_t)n * HW + p) * C + c0;
                for (int c = 0; c < cn; c++) sum[c] += s[c];
            }
            for (int c = 0; c < cn; c++) y[(size_t)n * C + c0 + c] = (uint8_t)((sum[c] + (uint32_t)HW / 2) / (uint32_t)HW);
        }
}

// NCHW twins: x and y indexed as (n, c, h, w) of the NHWC tensors
#define AT(t, n, c, h, w, C, H, W) (t)[(((size_t)(n) * (H) + (h)) * (W) + (w)) * (C) + (c)]

void dc_q_maxpool_ref(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st) {
    const int OH = (H - k) / st + 1, OW = (W - k) / st + 1;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    int best = 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int v = AT(x, n, c, oh * st + i, ow * st + j, C, H, W);
                            if (v > best) best = v;
                        }
                    AT(y, n, c, oh, ow, C, OH, OW) = (uint8_t)best;
                }
}

void dc_q_avgpool_ref(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st) {
    const int OH = (H - k) / st + 1, OW = (W - k) / st + 1;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    long s = 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) s += AT(x, n, c, oh * st + i, ow * st + j, C, H, W);
                    // the mean rounded half up: floor(s / kk + 1/2)
                    AT(y, n, c, oh, ow, C, OH, OW) = (uint8_t)floor((double)s / (k * k) + 0.5);
                }
}

void dc_q_gap_ref(uint8_t *y, const uint8_t *x, int N, int C, int HW) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            long s = 0;
            for (int p = 0; p < HW; p++) s += x[((size_t)n * HW + p) * C + c];
            y[(size_t)n * C + c] = (uint8_t)floor((double)s / HW + 0.5);
        }
}
#undef AT

// ---------------------------------------------------------------------------
// Add, concat, tables

static inline int32_t add_term(int32_t q, const dc_qadd_params *p, int i) {
    return dc_mbqm((int32_t)((uint32_t)(q - p->z_in[i]) << 20), p->mult_in[i], p->shift_in[i]);
}

static inline uint8_t add_out(int32_t sum, const dc_qadd_params *p) {
    int32_t v = dc_mbqm(sum, p->mult_out, p->shift_out) + p->zo;
    return (uint8_t)(v < p->lo ? p->lo : v > p->hi ? p->hi : v);
}

void dc_q_add(uint8_t *y, const uint8_t *const *x, size_t n, const dc_qadd_params *p) {
    for (size_t j = 0; j < n; j++) {
        int32_t s = 0;
        for (int i = 0; i < p->n_in; i++) s += add_term(x[i][j], p, i);
        y[j] = add_out(s, p);
    }
}

void dc_q_add2_table(uint8_t *table, const dc_qadd_params *p) {
    // every (x0, x1) through the definition
    uint8_t a[256], b[256];
    for (int v = 0; v < 256; v++) a[v] = (uint8_t)v;
    for (int u = 0; u < 256; u++) {
        memset(b, u, sizeof b);
        const uint8_t *x[2] = {b, a}; // row u: x0 = u, x1 = 0..255
        dc_q_add(table + (size_t)u * 256, x, 256, p);
    }
}

void dc_q_add2_lut(uint8_t *y, const uint8_t *x0, const uint8_t *x1, size_t n, const uint8_t *table) {
    for (size_t j = 0; j < n; j++) y[j] = table[(size_t)x0[j] << 8 | x1[j]];
}

void dc_q_concat(uint8_t *y, const uint8_t *const *x, const int *cs, int n_in, size_t P,
                 const dc_qadd_params *p) {
    int ct = 0;
    for (int i = 0; i < n_in; i++) ct += cs[i];
    for (size_t q = 0; q < P; q++) {
        int off = 0;
        for (int i = 0; i < n_in; i++) {
            const uint8_t *s = x[i] + q * cs[i];
            uint8_t *d = y + q * ct + off;
            for (int c = 0; c < cs[i]; c++) d[c] = add_out(add_term(s[c], p, i), p);
            off += cs[i];
        }
    }
}

void dc_q_lut(uint8_t *y, const uint8_t *x, size_t n, const uint8_t *table) {
    for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}
