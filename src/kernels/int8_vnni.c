// int8_vnni.c — the quantised GEMM (int8_kernels.h) with AVX-512 VNNI:
// vpdpbusd multiplies 4 uint8 activations by 4 int8 weights and adds the
// four products into an int32 lane in one instruction, with no intermediate
// saturation, so it is exact for every uint8 activation (64 products per
// instruction, 4x the fp32 FMA's 16).
//
// Packed weights [N/16][K4][16][4] int8 (K4 = ceil(K/4)): one zmm holds 4
// taps of 16 channels. Register tile: up to 12 rows x 16 channels or 8 rows
// x 32 channels (12 or 16 zmm accumulators); each row's 4 activation bytes
// are broadcast from memory. Ragged channels are packed with zero weights
// and stored with masks; the reduction tail (K % 4, one segment only) is
// read byte by byte, so no byte past a row's K is read. The epilogue is the scalar
// requantisation in 16 lanes: the same bits as dc_qgemm_ref.
#include <immintrin.h>
#include <string.h>
#include "kernels/int8_kernels.h"

#define DC_TARGET_VNNI
#include "kernels/target_avx512_begin.h"
#include "kernels/int8_vnni_requant.h"

size_t dc_qgemm_vnni_packed_bytes(int N, int K) {
    return (size_t)((N + 15) / 16) * (size_t)((K + 3) / 4) * 64;
}

void dc_qgemm_vnni_pack(void *packed, const int8_t *w, int N, int K) {
    int8_t *d = packed;
    const int NB = (N + 15) / 16, K4 = (K + 3) / 4;
    for (int nb = 0; nb < NB; nb++)
        for (int k4 = 0; k4 < K4; k4++)
            for (int c = 0; c < 16; c++)
                for (int t = 0; t < 4; t++) {
                    const int n = nb * 16 + c, k = 4 * k4 + t;
                    *d++ = n < N && k < K ? w[(size_t)n * K + k] : 0;
                }
}

static inline __m512i requant16(__m512i acc, const dc_qgemm_params *p, int n0, __mmask16 m) {
    return dc_vnni_requant(acc, _mm512_maskz_loadu_epi32(m, p->bias + n0), _mm512_maskz_loadu_epi32(m, p->mult + n0),
                           _mm512_maskz_loadu_epi32(m, p->shift + n0), p);
}

static inline void store16(void *out, size_t idx, __m512i v, __mmask16 m, bool out32) {
    if (out32) _mm512_mask_storeu_epi32((int32_t *)out + idx, m, v);
    else _mm_mask_storeu_epi8((uint8_t *)out + idx, m, _mm512_cvtepi32_epi8(v));
}

static inline int32_t load4(const uint8_t *p, int avail) {
    int32_t v = 0;
    memcpy(&v, p, (size_t)(avail < 4 ? avail : 4));
    return v;
}

#define VNNI_MR1 12 // rows of a one-block (16-channel) tile
#define VNNI_MR2 8  // rows of a two-block (32-channel) tile

static inline __attribute__((always_inline)) void tile(void *out, int ldo, const uint8_t *a, int lda, int nseg,
                                                       ptrdiff_t segstride, int MR, int NB, const int8_t *w, int K,
                                                       int n0, const dc_qgemm_params *p) {
    // rows [0, MR) of a, channel blocks n0/16 .. n0/16 + NB - 1; each row is
    // nseg segments of L = K / nseg taps (L % 4 == 0 when nseg > 1)
    const int K4 = (K + 3) / 4, L4 = K / nseg / 4; // full 4-tap groups per segment
    __m512i acc[VNNI_MR1][2];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_si512();
    const int8_t *w0 = w + (size_t)(n0 / 16) * K4 * 64, *w1 = w0 + (size_t)K4 * 64;
    for (int sg = 0; sg < nseg; sg++) {
        const uint8_t *as = a + (ptrdiff_t)sg * segstride;
        const int8_t *ws0 = w0 + (size_t)sg * L4 * 64, *ws1 = w1 + (size_t)sg * L4 * 64;
        for (int j4 = 0; j4 < L4; j4++) {
            const __m512i wv0 = _mm512_loadu_si512(ws0 + (size_t)j4 * 64);
            const __m512i wv1 = NB > 1 ? _mm512_loadu_si512(ws1 + (size_t)j4 * 64) : wv0;
            for (int r = 0; r < MR; r++) {
                int32_t four;
                memcpy(&four, as + (size_t)r * lda + 4 * j4, 4);
                const __m512i bv = _mm512_set1_epi32(four);
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], bv, wv0);
                if (NB > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], bv, wv1);
            }
        }
    }
    const int k4 = L4; // one segment: the last 1-3 taps
    if (nseg == 1 && k4 < K4) {
        const __m512i wv0 = _mm512_loadu_si512(w0 + (size_t)k4 * 64);
        const __m512i wv1 = NB > 1 ? _mm512_loadu_si512(w1 + (size_t)k4 * 64) : wv0;
        for (int r = 0; r < MR; r++) {
            const __m512i bv = _mm512_set1_epi32(load4(a + (size_t)r * lda + 4 * k4, K - 4 * k4));
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], bv, wv0);
            if (NB > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], bv, wv1);
        }
    }
    for (int j = 0; j < NB; j++) {
        const int nb0 = n0 + 16 * j, nv = p->N - nb0 < 16 ? p->N - nb0 : 16;
        const __mmask16 m = (__mmask16)((1u << nv) - 1u);
        for (int r = 0; r < MR; r++) store16(out, (size_t)r * ldo + nb0, requant16(acc[r][j], p, nb0, m), m, p->out32);
    }
}

#define T(mr_, nb_) tile(o, ldo, am, lda, nseg, segstride, mr_, nb_, w, p->K, n0, p)

static void run_one(void *o, int ldo, const uint8_t *am, int lda, int nseg, ptrdiff_t segstride, int mr,
                    const int8_t *w, int n0, const dc_qgemm_params *p) {
    switch (mr) {
    case 12: T(12, 1); break;
    case 11: T(11, 1); break;
    case 10: T(10, 1); break;
    case 9: T(9, 1); break;
    case 8: T(8, 1); break;
    case 7: T(7, 1); break;
    case 6: T(6, 1); break;
    case 5: T(5, 1); break;
    case 4: T(4, 1); break;
    case 3: T(3, 1); break;
    case 2: T(2, 1); break;
    default: T(1, 1); break;
    }
}

static void run_two(void *o, int ldo, const uint8_t *am, int lda, int nseg, ptrdiff_t segstride, int mr,
                    const int8_t *w, int n0, const dc_qgemm_params *p) {
    switch (mr) {
    case 8: T(8, 2); break;
    case 7: T(7, 2); break;
    case 6: T(6, 2); break;
    case 5: T(5, 2); break;
    case 4: T(4, 2); break;
    case 3: T(3, 2); break;
    case 2: T(2, 2); break;
    default: T(1, 2); break;
    }
}
#undef T

void dc_qgemm_vnni(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                   const void *packed, const dc_qgemm_params *p) {
    const int8_t *w = packed;
    const size_t esz = p->out32 ? 4 : 1;
    for (int n0 = 0; n0 < p->N; n0 += 32) {
        const bool two = p->N - n0 > 16;
        const int MR = two ? VNNI_MR2 : VNNI_MR1, nt = (M + MR - 1) / MR; // nt tiles as even as possible
        for (int t = 0, m0 = 0, mr; t < nt; t++, m0 += mr) {
            mr = M / nt + (t < M % nt);
            void *o = (char *)out + (size_t)m0 * ldo * esz;
            const uint8_t *am = a + (size_t)m0 * lda;
            if (two) run_two(o, ldo, am, lda, nseg, segstride, mr, w, n0, p);
            else run_one(o, ldo, am, lda, nseg, segstride, mr, w, n0, p);
        }
    }
}

// One pooled row of a convolution followed by 2x2 max pooling with stride
// 2 (int8_kernels.h): conv rows A (at a) and B (at a + rowstep), up to 3
// pooled pixels a tile (6 conv pixels of each row: 12 accumulators), one
// 16-channel block at a time; the window's max is taken of the int32
// accumulators and only the pooled pixels are requantised (exact where
// dc_qgemm_pool_ok).
static inline __attribute__((always_inline)) void pool_tile(uint8_t *out, int ldo, const uint8_t *a, int lda,
                                                            int nseg, ptrdiff_t segstride, ptrdiff_t rowstep, int PP,
                                                            const int8_t *w, int K, int n0, const dc_qgemm_params *p) {
    const int K4 = (K + 3) / 4, L4 = K / nseg / 4, R = 2 * PP;
    __m512i acc[12]; // conv pixels 0..R-1 of row A, then of row B
    for (int r = 0; r < 2 * R; r++) acc[r] = _mm512_setzero_si512();
    const int8_t *w0 = w + (size_t)(n0 / 16) * K4 * 64;
    for (int sg = 0; sg < nseg; sg++) {
        const uint8_t *as = a + (ptrdiff_t)sg * segstride;
        const int8_t *ws0 = w0 + (size_t)sg * L4 * 64;
        for (int j4 = 0; j4 < L4; j4++) {
            const __m512i wv = _mm512_loadu_si512(ws0 + (size_t)j4 * 64);
            for (int r = 0; r < 2 * R; r++) {
                int32_t four;
                memcpy(&four, as + (r < R ? 0 : rowstep) + (size_t)(r % R) * lda + 4 * j4, 4);
                acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(four), wv);
            }
        }
    }
    if (nseg == 1 && L4 < K4) { // the last 1-3 taps
        const __m512i wv = _mm512_loadu_si512(w0 + (size_t)L4 * 64);
        for (int r = 0; r < 2 * R; r++)
            acc[r] = _mm512_dpbusd_epi32(
                acc[r], _mm512_set1_epi32(load4(a + (r < R ? 0 : rowstep) + (size_t)(r % R) * lda + 4 * L4, K - 4 * L4)),
                wv);
    }
    const int nv = p->N - n0 < 16 ? p->N - n0 : 16;
    const __mmask16 m = (__mmask16)((1u << nv) - 1u);
    for (int j = 0; j < PP; j++) {
        const __m512i v = _mm512_max_epi32(_mm512_max_epi32(acc[2 * j], acc[2 * j + 1]),
                                           _mm512_max_epi32(acc[R + 2 * j], acc[R + 2 * j + 1]));
        store16(out, (size_t)j * ldo + n0, requant16(v, p, n0, m), m, false);
    }
}

void dc_qgemm_vnni_pool2(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep,
                         int PW, const void *packed, const dc_qgemm_params *p) {
    const int8_t *w = packed;
    const int N = p->N, nt = (PW + 2) / 3; // tiles of up to 3 pooled pixels, as even as possible
    for (int n0 = 0; n0 < N; n0 += 16)
        for (int t = 0, q0 = 0, pp; t < nt; t++, q0 += pp) {
            pp = PW / nt + (t < PW % nt);
            uint8_t *o = out + (size_t)q0 * N;
            const uint8_t *am = a + (size_t)2 * q0 * lda;
            switch (pp) {
            case 3: pool_tile(o, N, am, lda, nseg, segstride, rowstep, 3, w, p->K, n0, p); break;
            case 2: pool_tile(o, N, am, lda, nseg, segstride, rowstep, 2, w, p->K, n0, p); break;
            default: pool_tile(o, N, am, lda, nseg, segstride, rowstep, 1, w, p->K, n0, p); break;
            }
        }
}

#include "kernels/target_end.h"
