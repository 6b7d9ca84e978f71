// int8_layout_vbmi.c — AVX-512 forms of two int8 layout kernels
// (int8_kernels.h), the same bits as the portable ones in int8_ref.c:
//   - the float -> uint8 quantisation of a one-channel input (16 floats a
//     step: scale, saturate, round half away from zero, clamp), and
//   - max pooling over NHWC rows, P output pixels per vector: the max of
//     the window's k input rows over the bytes P windows span (at most 128:
//     two zmm), then for each of the k pixels of a window one vpermt2b that
//     brings that pixel's C channels under each output pixel, and a byte max.
// For LeNet-5's 6 channels, P = 10 pixels a vector where the portable
// kernel loops over 6 bytes per pixel. Needs AVX-512 BW (and VBMI for the
// pooling); the plan picks them (compress/qplan.c) where the CPU has them.
#include <immintrin.h>
#include <string.h>
#include "kernels/int8_kernels.h"

#define DC_TARGET_VBMI
#include "kernels/target_avx512_begin.h"

static inline __mmask64 first(long n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1); }

void dc_q_quantize_avx512(uint8_t *q, const float *x, int N, int C, int H, int W, float inv_s, int32_t z,
                          int32_t qmax) {
    if (C != 1) { // the transposing path stays portable
        dc_q_quantize(q, x, N, C, H, W, inv_s, z, qmax);
        return;
    }
    const size_t n = (size_t)N * H * W;
    const __m512 inv = _mm512_set1_ps(inv_s), lo = _mm512_set1_ps(-1e9f), hi = _mm512_set1_ps(1e9f);
    const __m512 zero = _mm512_setzero_ps(), half = _mm512_set1_ps(0.5f), mhalf = _mm512_set1_ps(-0.5f);
    const __m512i vz = _mm512_set1_epi32(z), vmax = _mm512_set1_epi32(qmax), izero = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
        // t = v > -1e9 ? v : -1e9 (NaN too), then t < 1e9 ? t : 1e9, as quantize1
        __m512 t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ), lo, v);
        t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, hi, _CMP_LT_OQ), hi, t);
        const __m512 h = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, zero, _CMP_LT_OQ), half, mhalf);
        __m512i r = _mm512_add_epi32(_mm512_cvttps_epi32(_mm512_add_ps(t, h)), vz);
        r = _mm512_min_epi32(_mm512_max_epi32(r, izero), vmax);
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(r));
    }
}

void dc_q_maxpool_vbmi(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st) {
    enum { KMAX = 8 };
    int P = C > 0 ? 64 / C : 0; // output pixels per vector: P*C output bytes, their windows within 128 bytes
    while (P > 0 && ((long)(P - 1) * st + k) * C > 128) P--;
    if (P < 1 || k > KMAX) {
        dc_q_maxpool(y, x, N, C, H, W, k, st);
        return;
    }
    const int OH = (H - k) / st + 1, OW = (W - k) / st + 1;
    const size_t wc = (size_t)W * C;
    __m512i idx[KMAX]; // output byte o = p*C + c <- (p*st + j)*C + c of the window span
    for (int j = 0; j < k; j++) {
        uint8_t b[64] = {0};
        for (int p = 0, o = 0; p < P; p++)
            for (int c = 0; c < C; c++, o++) b[o] = (uint8_t)((p * st + j) * C + c);
        idx[j] = _mm512_loadu_si512(b);
    }
    for (int n = 0; n < N; n++) {
        const uint8_t *xs = x + (size_t)n * H * wc;
        uint8_t *ys = y + (size_t)n * OH * OW * C;
        for (int oh = 0; oh < OH; oh++) {
            const uint8_t *x0 = xs + (size_t)oh * st * wc;
            uint8_t *yr = ys + (size_t)oh * OW * C;
            for (int ow0 = 0; ow0 < OW; ow0 += P) {
                const int np = OW - ow0 < P ? OW - ow0 : P;
                const size_t off = (size_t)ow0 * st * C;
                const long span = ((long)(np - 1) * st + k) * C;
                const __mmask64 m0 = first(span), m1 = first(span - 64);
                __m512i a = _mm512_maskz_loadu_epi8(m0, x0 + off), b = _mm512_maskz_loadu_epi8(m1, x0 + off + 64);
                for (int i = 1; i < k; i++) {
                    const uint8_t *r = x0 + (size_t)i * wc + off;
                    a = _mm512_max_epu8(a, _mm512_maskz_loadu_epi8(m0, r));
                    b = _mm512_max_epu8(b, _mm512_maskz_loadu_epi8(m1, r + 64));
                }
                __m512i o = _mm512_permutex2var_epi8(a, idx[0], b);
                for (int j = 1; j < k; j++) o = _mm512_max_epu8(o, _mm512_permutex2var_epi8(a, idx[j], b));
                _mm512_mask_storeu_epi8(yr + (size_t)ow0 * C, first((long)np * C), o);
            }
        }
    }
}

#include "kernels/target_end.h"
