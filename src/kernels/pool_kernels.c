// pool_kernels.c — max pooling: the plain loops for any window (the
// reference) and a fast path for the 2x2, stride 2 window every small CNN
// uses. See conv_kernels.h for the contract.
//
// The 2x2 path gives the reference's results bit for bit: the value is a copy
// of an input, the index follows the same scan order (a, b on the top row,
// then c, d below) with the same test `v > m || v != v`, and backward writes
// dy + 0 where the reference does 0 + dy (equal for every float, -0 included).
// AVX2 handles eight outputs of a row at once (see below); the scalar 2x2
// loop is the path for CPUs without AVX2.
#include <string.h>
#include <immintrin.h>
#include "core/cpu.h"
#include "kernels/conv_kernels.h"

#define AVX __attribute__((target("avx2,fma")))

// ----------------------------------------------------------------------------
// Reference: any K and stride

void dc_maxpool_ref_forward(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                            int W, int K, int stride) {
    // x is (N,C,H,W), y and argmax are (N,C,OH,OW)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    for (long nc = 0; nc < (long)N * C; nc++) {
        const float *xp = x + (size_t)nc * H * W;
        float *yp = y + (size_t)nc * OH * OW;
        int32_t *ap = argmax + (size_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * stride, w0 = ow * stride;
                int best = h0 * W + w0;
                float m = xp[best];
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) {
                        int idx = (h0 + i) * W + (w0 + j);
                        float v = xp[idx];
                        if (v > m || v != v) { // NaN propagates, as in PyTorch
                            m = v;
                            best = idx;
                        }
                    }
                yp[oh * OW + ow] = m;
                ap[oh * OW + ow] = best;
            }
    }
}

void dc_maxpool_ref_backward(float *dx, const float *dy, const int32_t *argmax, int N, int C,
                             int H, int W, int K, int stride) {
    // dy and argmax are (N,C,OH,OW), dx is (N,C,H,W) (overwritten)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    memset(dx, 0, sizeof(float) * (size_t)N * C * H * W);
    for (long nc = 0; nc < (long)N * C; nc++) {
        float *dxp = dx + (size_t)nc * H * W;
        const float *dyp = dy + (size_t)nc * OH * OW;
        const int32_t *ap = argmax + (size_t)nc * OH * OW;
        for (int i = 0; i < OH * OW; i++) dxp[ap[i]] += dyp[i];
    }
}

// ----------------------------------------------------------------------------
// 2x2, stride 2: plain C

// Output row oh (OW values) of one plane.
static inline void fwd_row_scalar(float *yr, int32_t *ar, const float *xp, int W, int oh,
                                  int OW) {
    const float *r0 = xp + (size_t)2 * oh * W, *r1 = r0 + W;
    for (int ow = 0; ow < OW; ow++) {
        const int j = 2 * ow, i0 = 2 * oh * W + j;
        float m = r0[j];
        int best = i0;
        float v = r0[j + 1];
        if (v > m || v != v) m = v, best = i0 + 1;
        v = r1[j];
        if (v > m || v != v) m = v, best = i0 + W;
        v = r1[j + 1];
        if (v > m || v != v) m = v, best = i0 + W + 1;
        yr[ow] = m;
        ar[ow] = best;
    }
}

// The two dx rows under output row oh: dy + 0 at the argmax, 0 elsewhere.
static inline void bwd_row_scalar(float *dxp, const float *gr, const int32_t *ar, int W, int oh,
                                  int OW) {
    float *r0 = dxp + (size_t)2 * oh * W, *r1 = r0 + W;
    for (int ow = 0; ow < OW; ow++) {
        const int j = 2 * ow, i0 = 2 * oh * W + j, a = ar[ow];
        const float g = gr[ow] + 0.0f;
        r0[j] = a == i0 ? g : 0.0f;
        r0[j + 1] = a == i0 + 1 ? g : 0.0f;
        r1[j] = a == i0 + W ? g : 0.0f;
        r1[j + 1] = a == i0 + W + 1 ? g : 0.0f;
    }
}

// Rows and columns no window covers (odd H or W) get zero gradient.
static void zero_uncovered(float *dxp, int H, int W, int OH, int OW) {
    if (2 * OW < W)
        for (int h = 0; h < 2 * OH; h++) dxp[(size_t)h * W + W - 1] = 0.0f;
    if (2 * OH < H) memset(dxp + (size_t)2 * OH * W, 0, sizeof(float) * (size_t)W * (H - 2 * OH));
}

void dc_maxpool_2x2_forward_plain(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                                  int W) {
    const int OH = H / 2, OW = W / 2;
    for (long nc = 0; nc < (long)N * C; nc++)
        for (int oh = 0; oh < OH; oh++)
            fwd_row_scalar(y + ((size_t)nc * OH + oh) * OW, argmax + ((size_t)nc * OH + oh) * OW,
                           x + (size_t)nc * H * W, W, oh, OW);
}

void dc_maxpool_2x2_backward_plain(float *dx, const float *dy, const int32_t *argmax, int N, int C,
                                   int H, int W) {
    const int OH = H / 2, OW = W / 2;
    for (long nc = 0; nc < (long)N * C; nc++) {
        float *dxp = dx + (size_t)nc * H * W;
        for (int oh = 0; oh < OH; oh++)
            bwd_row_scalar(dxp, dy + ((size_t)nc * OH + oh) * OW,
                           argmax + ((size_t)nc * OH + oh) * OW, W, oh, OW);
        zero_uncovered(dxp, H, W, OH, OW);
    }
}

// ----------------------------------------------------------------------------
// 2x2, stride 2: AVX2, eight outputs of a row at a time. Rows of 8 or more
// outputs go in blocks of 8, the last overlapping the one before it
// (rewriting the same values). A shorter row is one block with masked loads
// (masked-off lanes are not read, so nothing past the input is touched) but
// full-width stores, because masked stores are slow on AMD: the lanes past
// the row spill into the next row of y / dx, which is written after it (rows
// go in order; backward spills zeros; an odd column or row of dx is zeroed
// after its plane). Only the last rows of the call, whose spill would leave
// the buffers, use masked stores.

#define AVX_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

// First n (<= 0 gives none, >= 8 all) lanes on.
AVX_INLINE __m256i lane_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The even and odd elements of 16 floats (the first `n` of them present when
// masked), in order.
AVX_INLINE void deinterleave(const float *p, bool masked, __m256i m0, __m256i m1, __m256 *even,
                             __m256 *odd) {
    const __m256 lo = masked ? _mm256_maskload_ps(p, m0) : _mm256_loadu_ps(p);
    const __m256 hi = masked ? _mm256_maskload_ps(p + 8, m1) : _mm256_loadu_ps(p + 8);
    // shuffle gives (lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6); the permute puts the
    // 64-bit pairs back in order
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
}

// v replaces m (and its index) where v > m or v is NaN: the scalar test
// `v > m || v != v`. Quiet compares, as the scalar ones.
AVX_INLINE void take_max(__m256 *m, __m256i *best, __m256 v, __m256i iv) {
    const __m256 up = _mm256_or_ps(_mm256_cmp_ps(v, *m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    *m = _mm256_blendv_ps(*m, v, up);
    *best = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(*best), _mm256_castsi256_ps(iv), up));
}

// Outputs ow0 .. ow0+7 (the first OW - ow0 when masked) of row oh.
AVX_INLINE void fwd_block8(float *yr, int32_t *ar, const float *xp, int W, int oh, int ow0,
                           bool masked, bool store_masked, __m256i mo, __m256i m0, __m256i m1) {
    const __m256i step2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1);
    const float *r0 = xp + (size_t)2 * oh * W + 2 * ow0;
    __m256 a, b, c, d;
    deinterleave(r0, masked, m0, m1, &a, &b);
    deinterleave(r0 + W, masked, m0, m1, &c, &d);
    const __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(2 * oh * W + 2 * ow0), step2);
    const __m256i ic = _mm256_add_epi32(ia, _mm256_set1_epi32(W));
    __m256 m = a;
    __m256i best = ia;
    take_max(&m, &best, b, _mm256_add_epi32(ia, one));
    take_max(&m, &best, c, ic);
    take_max(&m, &best, d, _mm256_add_epi32(ic, one));
    if (store_masked) {
        _mm256_maskstore_ps(yr + ow0, mo, m);
        _mm256_maskstore_epi32((int *)(ar + ow0), mo, best);
    } else {
        _mm256_storeu_ps(yr + ow0, m);
        _mm256_storeu_si256((__m256i *)(ar + ow0), best);
    }
}

AVX static void fwd_2x2_avx(float *y, int32_t *argmax, const float *x, long planes, int H,
                            int W) {
    const int OH = H / 2, OW = W / 2;
    const bool narrow = OW < 8;
    const __m256i mo = lane_mask(OW), m0 = lane_mask(2 * OW), m1 = lane_mask(2 * OW - 8);
    for (long nc = 0; nc < planes; nc++) {
        const float *xp = x + (size_t)nc * H * W;
        for (int oh = 0; oh < OH; oh++) {
            float *yr = y + ((size_t)nc * OH + oh) * OW;
            int32_t *ar = argmax + ((size_t)nc * OH + oh) * OW;
            if (narrow) {
                // a full-width store must stay inside y
                const bool spill_out = ((size_t)nc * OH + oh) * OW + 8 > (size_t)planes * OH * OW;
                fwd_block8(yr, ar, xp, W, oh, 0, true, spill_out, mo, m0, m1);
                continue;
            }
            for (int ow0 = 0;;) {
                fwd_block8(yr, ar, xp, W, oh, ow0, false, false, mo, m0, m1);
                if (ow0 + 8 >= OW) break;
                ow0 = ow0 + 16 <= OW ? ow0 + 8 : OW - 8;
            }
        }
    }
}

// dx of the two input rows under outputs ow0 .. ow0+7 of row oh.
AVX_INLINE void bwd_block8(float *dxp, const float *gr, const int32_t *ar, int W, int oh, int ow0,
                           bool masked, bool store_masked, __m256i mo, __m256i m0, __m256i m1) {
    const __m256i step2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1);
    // + 0: a -0 gradient lands as +0, as 0 + dy does in the reference
    const __m256 g = _mm256_add_ps(masked ? _mm256_maskload_ps(gr + ow0, mo) : _mm256_loadu_ps(gr + ow0),
                                   _mm256_setzero_ps());
    const __m256i am = masked ? _mm256_maskload_epi32((const int *)(ar + ow0), mo)
                              : _mm256_loadu_si256((const __m256i *)(ar + ow0));
    const __m256i ia = _mm256_add_epi32(_mm256_set1_epi32(2 * oh * W + 2 * ow0), step2);
    const __m256i ic = _mm256_add_epi32(ia, _mm256_set1_epi32(W));
    const __m256 a = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(am, ia)));
    const __m256 b = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(am, _mm256_add_epi32(ia, one))));
    const __m256 c = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(am, ic)));
    const __m256 d = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(am, _mm256_add_epi32(ic, one))));
    // interleave (a0 b0 a1 b1 ...) for the top row, (c0 d0 ...) below
    const __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);
    const __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
    float *r0 = dxp + (size_t)2 * oh * W + 2 * ow0, *r1 = r0 + W;
    if (store_masked) {
        _mm256_maskstore_ps(r0, m0, _mm256_permute2f128_ps(ab0, ab1, 0x20));
        _mm256_maskstore_ps(r0 + 8, m1, _mm256_permute2f128_ps(ab0, ab1, 0x31));
        _mm256_maskstore_ps(r1, m0, _mm256_permute2f128_ps(cd0, cd1, 0x20));
        _mm256_maskstore_ps(r1 + 8, m1, _mm256_permute2f128_ps(cd0, cd1, 0x31));
    } else {
        _mm256_storeu_ps(r0, _mm256_permute2f128_ps(ab0, ab1, 0x20));
        _mm256_storeu_ps(r0 + 8, _mm256_permute2f128_ps(ab0, ab1, 0x31));
        _mm256_storeu_ps(r1, _mm256_permute2f128_ps(cd0, cd1, 0x20));
        _mm256_storeu_ps(r1 + 8, _mm256_permute2f128_ps(cd0, cd1, 0x31));
    }
}

AVX static void bwd_2x2_avx(float *dx, const float *dy, const int32_t *argmax, long planes, int H,
                            int W) {
    const int OH = H / 2, OW = W / 2;
    const bool narrow = OW < 8;
    const __m256i mo = lane_mask(OW), m0 = lane_mask(2 * OW), m1 = lane_mask(2 * OW - 8);
    for (long nc = 0; nc < planes; nc++) {
        float *dxp = dx + (size_t)nc * H * W;
        for (int oh = 0; oh < OH; oh++) {
            const float *gr = dy + ((size_t)nc * OH + oh) * OW;
            const int32_t *ar = argmax + ((size_t)nc * OH + oh) * OW;
            if (narrow) {
                // the 16-float store of the lower row must stay inside dx
                const bool spill_out =
                    (size_t)nc * H * W + (size_t)(2 * oh + 1) * W + 16 > (size_t)planes * H * W;
                bwd_block8(dxp, gr, ar, W, oh, 0, true, spill_out, mo, m0, m1);
                continue;
            }
            for (int ow0 = 0;;) {
                bwd_block8(dxp, gr, ar, W, oh, ow0, false, false, mo, m0, m1);
                if (ow0 + 8 >= OW) break;
                ow0 = ow0 + 16 <= OW ? ow0 + 8 : OW - 8;
            }
        }
        zero_uncovered(dxp, H, W, OH, OW);
    }
}

static bool have_avx2(void) { return dc_cpu_has(dc_cpu_features(), DC_CPU_AVX2); }

void dc_maxpool_2x2_forward(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                            int W) {
    // x is (N,C,H,W), y and argmax are (N,C,H/2,W/2)
    if (W >= 2 && have_avx2())
        fwd_2x2_avx(y, argmax, x, (long)N * C, H, W);
    else
        dc_maxpool_2x2_forward_plain(y, argmax, x, N, C, H, W);
}

void dc_maxpool_2x2_backward(float *dx, const float *dy, const int32_t *argmax, int N, int C,
                             int H, int W) {
    // dy and argmax are (N,C,H/2,W/2), dx is (N,C,H,W) (overwritten)
    if (W >= 2 && have_avx2())
        bwd_2x2_avx(dx, dy, argmax, (long)N * C, H, W);
    else
        dc_maxpool_2x2_backward_plain(dx, dy, argmax, N, C, H, W);
}
