// int8_avx2.c — the quantised GEMM (int8_kernels.h) for AVX2, two ways:
//
//  - "avx2": vpmaddwd on 16-bit operands. The weights are packed widened to
//    int16 pairs, each activation pair is broadcast as two int16; one
//    vpmaddwd gives 8 exact int32 sums of two products. Exact for every
//    uint8 activation, so this is the AVX2 path of any model.
//  - "avx2_7bit": vpmaddubsw (uint8 x int8 -> int16 sums of two products)
//    then vpmaddwd by ones (-> int32 sums of four). Twice the products per
//    instruction, but vpmaddubsw saturates its int16 sums: 255*127*2 does not
//    fit, 127*127*2 = 32258 does. So it runs only for models quantised with
//    7-bit activations (deepc quantize --reduce-range, the reason PyTorch's
//    fbgemm configuration reduces the range on x86), where it is exact.
//
// Register tile: up to 6 rows x 16 channels (12 ymm accumulators). Ragged
// channel counts are packed with zero weights and stored with masks; the
// reduction tail (K not a multiple of 2 or 4, one segment only) is read
// byte by byte, so no byte past a row's K is read. The requantisation epilogue is the scalar
// definition in 8 lanes (see int8_kernels.h): the same bits as dc_qgemm_ref.
#include <immintrin.h>
#include <string.h>
#include "kernels/int8_kernels.h"

#include "kernels/target_avx2_begin.h"

#define AVX2_MR 6

static inline __m256i srdhm8(__m256i a, __m256i b) {
    const __m256i nudge = _mm256_set1_epi64x(1ll << 30);
    __m256i ev = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
    __m256i od = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), nudge);
    // bits 31..62 of each 64-bit sum: the floor shift's low 32 bits (the
    // result fits in 32 bits, so a logical shift gives the same low half)
    ev = _mm256_srli_epi64(ev, 31);
    od = _mm256_slli_epi64(_mm256_srli_epi64(od, 31), 32);
    return _mm256_blend_epi32(ev, od, 0xAA);
}

// Requantised values of 8 channels [n0, n0 + nv) from their accumulators.
static inline __m256i requant8(__m256i acc, const dc_qgemm_params *p, int n0, int nv) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), lane);
    const __m256i one = _mm256_set1_epi32(1), zero = _mm256_setzero_si256();
    const __m256i bias = _mm256_maskload_epi32(p->bias + n0, m);
    const __m256i mult = _mm256_maskload_epi32(p->mult + n0, m);
    const __m256i sh = _mm256_maskload_epi32(p->shift + n0, m);
    const __m256i ls = _mm256_max_epi32(sh, zero), rs = _mm256_max_epi32(_mm256_sub_epi32(zero, sh), zero);
    __m256i x = _mm256_sllv_epi32(_mm256_add_epi32(acc, bias), ls);
    x = srdhm8(x, mult);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, rs), one);
    const __m256i rem = _mm256_and_si256(x, mask);
    const __m256i thr = _mm256_add_epi32(_mm256_srli_epi32(mask, 1), _mm256_srli_epi32(x, 31));
    x = _mm256_sub_epi32(_mm256_srav_epi32(x, rs), _mm256_cmpgt_epi32(rem, thr));
    x = _mm256_add_epi32(x, _mm256_set1_epi32(p->zo));
    x = _mm256_max_epi32(x, _mm256_set1_epi32(p->lo));
    return _mm256_min_epi32(x, _mm256_set1_epi32(p->hi));
}

static inline void store8(void *out, size_t idx, __m256i v, int nv, bool out32) {
    if (out32) {
        int32_t *o = (int32_t *)out + idx;
        if (nv == 8) {
            _mm256_storeu_si256((__m256i *)o, v);
        } else {
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskstore_epi32(o, m, v);
        }
        return;
    }
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i t = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pick), _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    uint8_t *o = (uint8_t *)out + idx;
    if (nv == 8) {
        _mm_storel_epi64((__m128i *)o, _mm256_castsi256_si128(t));
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, _mm256_castsi256_si128(t));
        memcpy(o, tmp, (size_t)nv);
    }
}

// ---------------------------------------------------------------------------
// avx2: int16 pairs. Packed weights [N/8][K2][8][2] int16, K2 = ceil(K/2).

size_t dc_qgemm_avx2_packed_bytes(int N, int K) {
    return sizeof(int16_t) * (size_t)((N + 7) / 8) * (size_t)((K + 1) / 2) * 16;
}

void dc_qgemm_avx2_pack(void *packed, const int8_t *w, int N, int K) {
    int16_t *d = packed;
    const int NB = (N + 7) / 8, K2 = (K + 1) / 2;
    for (int nb = 0; nb < NB; nb++)
        for (int k2 = 0; k2 < K2; k2++)
            for (int c = 0; c < 8; c++)
                for (int t = 0; t < 2; t++) {
                    const int n = nb * 8 + c, k = 2 * k2 + t;
                    *d++ = (int16_t)(n < N && k < K ? w[(size_t)n * K + k] : 0);
                }
}

static inline __attribute__((always_inline)) void tile16(void *out, int ldo, const uint8_t *a, int lda, int nseg,
                                                         ptrdiff_t segstride, int MR, int NB, const int16_t *w,
                                                         int K, int n0, const dc_qgemm_params *p) {
    // rows [0, MR) of a, channel blocks n0/8 .. n0/8 + NB - 1; each row is
    // nseg segments of L = K / nseg taps (L % 4 == 0 when nseg > 1)
    const int K2 = (K + 1) / 2, L2 = K / nseg / 2; // full tap pairs per segment
    __m256i acc[AVX2_MR][2];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm256_setzero_si256();
    const int16_t *wb[2] = {w + (size_t)(n0 / 8) * K2 * 16, w + (size_t)(n0 / 8 + 1) * K2 * 16};
    for (int sg = 0; sg < nseg; sg++) {
        const uint8_t *as = a + (ptrdiff_t)sg * segstride;
        for (int j2 = 0; j2 < L2; j2++) {
            const size_t k2 = (size_t)sg * L2 + j2;
            __m256i wv[2];
            for (int j = 0; j < NB; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(wb[j] + k2 * 16));
            for (int r = 0; r < MR; r++) {
                const uint8_t *ap = as + (size_t)r * lda + 2 * j2;
                uint16_t two;
                memcpy(&two, ap, 2);
                // the two bytes as two int16 in one 32-bit lane
                const __m256i bv = _mm256_set1_epi32((int32_t)((two & 0xFFu) | ((uint32_t)(two >> 8) << 16)));
                for (int j = 0; j < NB; j++) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(bv, wv[j]));
            }
        }
    }
    if (nseg == 1 && L2 < K2) { // odd K: the last tap alone
        __m256i wv[2];
        for (int j = 0; j < NB; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(wb[j] + (size_t)L2 * 16));
        for (int r = 0; r < MR; r++) {
            const __m256i bv = _mm256_set1_epi32((int32_t)a[(size_t)r * lda + 2 * L2]);
            for (int j = 0; j < NB; j++) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(bv, wv[j]));
        }
    }
    for (int j = 0; j < NB; j++) {
        const int nb0 = n0 + 8 * j, nv = p->N - nb0 < 8 ? p->N - nb0 : 8;
        for (int r = 0; r < MR; r++) store8(out, (size_t)r * ldo + nb0, requant8(acc[r][j], p, nb0, nv), nv, p->out32);
    }
}

#define TILE_CASES(fn, NBc, ...)                                          \
    switch (mr) {                                                         \
    case 6: fn(__VA_ARGS__, 6, NBc); break;                               \
    case 5: fn(__VA_ARGS__, 5, NBc); break;                               \
    case 4: fn(__VA_ARGS__, 4, NBc); break;                               \
    case 3: fn(__VA_ARGS__, 3, NBc); break;                               \
    case 2: fn(__VA_ARGS__, 2, NBc); break;                               \
    default: fn(__VA_ARGS__, 1, NBc); break;                              \
    }

#define CALL16(o, ldo, a, lda, mr_, nb_) tile16(o, ldo, a, lda, nseg, segstride, mr_, nb_, w, p->K, n0, p)

void dc_qgemm_avx2(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                   const void *packed, const dc_qgemm_params *p) {
    const int16_t *w = packed;
    const size_t esz = p->out32 ? 4 : 1;
    for (int n0 = 0; n0 < p->N; n0 += 16) {
        const int nb = p->N - n0 > 8 ? 2 : 1;
        const int nt = (M + AVX2_MR - 1) / AVX2_MR; // nt tiles as even as possible
        for (int t = 0, m0 = 0, mr; t < nt; t++, m0 += mr) {
            mr = M / nt + (t < M % nt);
            void *o = (char *)out + (size_t)m0 * ldo * esz;
            const uint8_t *am = a + (size_t)m0 * lda;
            if (nb == 2) {
                TILE_CASES(CALL16, 2, o, ldo, am, lda)
            } else {
                TILE_CASES(CALL16, 1, o, ldo, am, lda)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// avx2_7bit: vpmaddubsw. Packed weights [N/8][K4][8][4] int8, K4 = ceil(K/4).

size_t dc_qgemm_avx2_7bit_packed_bytes(int N, int K) {
    return (size_t)((N + 7) / 8) * (size_t)((K + 3) / 4) * 32;
}

void dc_qgemm_avx2_7bit_pack(void *packed, const int8_t *w, int N, int K) {
    int8_t *d = packed;
    const int NB = (N + 7) / 8, K4 = (K + 3) / 4;
    for (int nb = 0; nb < NB; nb++)
        for (int k4 = 0; k4 < K4; k4++)
            for (int c = 0; c < 8; c++)
                for (int t = 0; t < 4; t++) {
                    const int n = nb * 8 + c, k = 4 * k4 + t;
                    *d++ = n < N && k < K ? w[(size_t)n * K + k] : 0;
                }
}

static inline int32_t load4(const uint8_t *p, int avail) {
    int32_t v = 0;
    memcpy(&v, p, (size_t)(avail < 4 ? avail : 4));
    return v;
}

static inline __attribute__((always_inline)) void tile7(void *out, int ldo, const uint8_t *a, int lda, int nseg,
                                                        ptrdiff_t segstride, int MR, int NB, const int8_t *w, int K,
                                                        int n0, const dc_qgemm_params *p) {
    // as tile16; 4-tap groups (L4 per segment, and one ragged last group
    // when nseg == 1)
    const int K4 = (K + 3) / 4, L = K / nseg, L4 = nseg == 1 ? K4 : L / 4;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[AVX2_MR][2];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm256_setzero_si256();
    const int8_t *wb[2] = {w + (size_t)(n0 / 8) * K4 * 32, w + (size_t)(n0 / 8 + 1) * K4 * 32};
    for (int sg = 0; sg < nseg; sg++) {
        const uint8_t *as = a + (ptrdiff_t)sg * segstride;
        for (int j4 = 0; j4 < L4; j4++) {
            const size_t k4 = (size_t)sg * L4 + j4;
            __m256i wv[2];
            for (int j = 0; j < NB; j++) wv[j] = _mm256_loadu_si256((const __m256i *)(wb[j] + k4 * 32));
            const int avail = L - 4 * j4; // 4 but in one segment's ragged last group
            for (int r = 0; r < MR; r++) {
                const __m256i bv = _mm256_set1_epi32(load4(as + (size_t)r * lda + 4 * j4, avail));
                for (int j = 0; j < NB; j++)
                    acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(_mm256_maddubs_epi16(bv, wv[j]), ones));
            }
        }
    }
    for (int j = 0; j < NB; j++) {
        const int nb0 = n0 + 8 * j, nv = p->N - nb0 < 8 ? p->N - nb0 : 8;
        for (int r = 0; r < MR; r++) store8(out, (size_t)r * ldo + nb0, requant8(acc[r][j], p, nb0, nv), nv, p->out32);
    }
}

#define CALL7(o, ldo, a, lda, mr_, nb_) tile7(o, ldo, a, lda, nseg, segstride, mr_, nb_, w, p->K, n0, p)

void dc_qgemm_avx2_7bit(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                        const void *packed, const dc_qgemm_params *p) {
    const int8_t *w = packed;
    const size_t esz = p->out32 ? 4 : 1;
    for (int n0 = 0; n0 < p->N; n0 += 16) {
        const int nb = p->N - n0 > 8 ? 2 : 1;
        const int nt = (M + AVX2_MR - 1) / AVX2_MR; // nt tiles as even as possible
        for (int t = 0, m0 = 0, mr; t < nt; t++, m0 += mr) {
            mr = M / nt + (t < M % nt);
            void *o = (char *)out + (size_t)m0 * ldo * esz;
            const uint8_t *am = a + (size_t)m0 * lda;
            if (nb == 2) {
                TILE_CASES(CALL7, 2, o, ldo, am, lda)
            } else {
                TILE_CASES(CALL7, 1, o, ldo, am, lda)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The two-input add's table lookup, 8 at a time: vpgatherdd reads 4 bytes
// at each table + (x0 << 8 | x1) (so the table has 3 readable bytes past its
// 65536) and the low byte is the answer: dc_q_add2_lut's bits, about 2.5x
// faster than the scalar loop here (bench: 0.34 against 0.90 ns per element).

void dc_q_add2_lut_avx2(uint8_t *y, const uint8_t *x0, const uint8_t *x1, size_t n, const uint8_t *table) {
    const __m256i low = _mm256_set1_epi32(255);
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256i a0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x0 + j)));
        const __m256i a1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x1 + j)));
        const __m256i idx = _mm256_or_si256(_mm256_slli_epi32(a0, 8), a1);
        const __m256i v = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)table, idx, 1), low);
        const __m256i t = _mm256_shuffle_epi8(v, pick); // bytes 0-3 and 16-19
        const uint32_t lo = (uint32_t)_mm256_extract_epi32(t, 0), hi = (uint32_t)_mm256_extract_epi32(t, 4);
        memcpy(y + j, &lo, 4);
        memcpy(y + j + 4, &hi, 4);
    }
    for (; j < n; j++) y[j] = table[(size_t)x0[j] << 8 | x1[j]];
}

#include "kernels/target_end.h"
