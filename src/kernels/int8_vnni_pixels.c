// int8_vnni_pixels.c — the quantised GEMM (int8_kernels.h) with pixels in
// the lanes, for layers with few output channels over rows a few bytes
// apart: the first convolution of a grayscale or colour image (LeNet-5's
// 1 -> 6 channels, 5x5), where the channels-in-lanes kernel (int8_vnni.c)
// fills 6 of its 16 lanes and requantises a vector per pixel.
//
// Here a zmm holds 4 taps of 16 consecutive rows (output pixels): the rows
// are lda <= 4 bytes apart, so the 16 x 4 bytes come from one masked
// 64-byte load, laid out by one vpermb (byte r*4 + t <- r*lda + t); each
// output channel has its own accumulator, and its 4 weights of the group
// are broadcast into vpdpbusd. The epilogue requantises a channel's 16
// pixels at once and interleaves the channels into the pixels' NHWC bytes
// with two vpermt2b. Packed: the 128 bytes of that interleaving's index,
// then the weights [K4][N] int32 (a channel's 4 taps of a group as one
// int32; zero past K). Needs AVX-512 VNNI and VBMI; the same
// bits as dc_qgemm_ref (its twin, tests/test_int8_kernels.c).
#include <immintrin.h>
#include <string.h>
#include "kernels/int8_kernels.h"

#define DC_TARGET_VBMI
#include "kernels/target_avx512_begin.h"
#include "kernels/int8_vnni_requant.h"

size_t dc_qgemm_pixels_packed_bytes(int N, int K) { return 128 + (size_t)((K + 3) / 4) * (size_t)N * 4; }

void dc_qgemm_pixels_pack(void *packed, const int8_t *w, int N, int K) {
    uint8_t *ii = packed; // output byte j = r*N + n <- channel n's pixel r, at n*16 + r of (lo, hi)
    for (int j = 0; j < 128; j++) ii[j] = (uint8_t)(j < 16 * N ? (j % N) * 16 + j / N : 0);
    int8_t *d = (int8_t *)packed + 128;
    const int K4 = (K + 3) / 4;
    for (int k4 = 0; k4 < K4; k4++)
        for (int n = 0; n < N; n++)
            for (int t = 0; t < 4; t++) {
                const int k = 4 * k4 + t;
                *d++ = k < K ? w[(size_t)n * K + k] : 0;
            }
}

static inline __mmask64 first(int n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }

static inline __attribute__((always_inline)) void tile(uint8_t *out, int ldo, const uint8_t *a, int lda, int nseg,
                                                       ptrdiff_t segstride, int rows, int N, const int32_t *w,
                                                       int K, __m512i gather, __m512i inter0, __m512i inter1,
                                                       const dc_qgemm_params *p) {
    // rows [0, rows) of a (rows <= 16), channels [0, N) (N <= 8)
    const int L = K / nseg, G = (L + 3) / 4; // groups of 4 taps per segment (the last may be short)
    __m512i acc[8];
    for (int n = 0; n < N; n++) acc[n] = _mm512_setzero_si512();
    for (int sg = 0; sg < nseg; sg++) {
        const uint8_t *as = a + (ptrdiff_t)sg * segstride;
        const int32_t *ws = w + (size_t)sg * G * N;
        for (int g = 0; g < G; g++) {
            // the bytes rows [0, rows) read of this group, and no byte past them
            const int taps = L - 4 * g < 4 ? L - 4 * g : 4;
            const __m512i v = _mm512_maskz_loadu_epi8(first((rows - 1) * lda + taps), as + 4 * g);
            // a short group (nseg = 1, K % 4 taps) reads bytes of the next
            // row past K: their weights are packed as 0
            const __m512i bv = _mm512_permutexvar_epi8(gather, v);
            for (int n = 0; n < N; n++)
                acc[n] = _mm512_dpbusd_epi32(acc[n], bv, _mm512_set1_epi32(ws[(size_t)g * N + n]));
        }
    }
    // requantise each channel's 16 pixels, then bytes (channel n, pixel r)
    // at n*16 + r of lo (n < 4) / hi (n >= 4) go to r*N + n
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int n = 0; n < N; n++) {
        const __m512i q = dc_vnni_requant(acc[n], _mm512_set1_epi32(p->bias[n]), _mm512_set1_epi32(p->mult[n]),
                                          _mm512_set1_epi32(p->shift[n]), p);
        const __m128i b = _mm512_cvtepi32_epi8(q);
        switch (n) {
        case 0: lo = _mm512_inserti32x4(lo, b, 0); break;
        case 1: lo = _mm512_inserti32x4(lo, b, 1); break;
        case 2: lo = _mm512_inserti32x4(lo, b, 2); break;
        case 3: lo = _mm512_inserti32x4(lo, b, 3); break;
        case 4: hi = _mm512_inserti32x4(hi, b, 0); break;
        case 5: hi = _mm512_inserti32x4(hi, b, 1); break;
        case 6: hi = _mm512_inserti32x4(hi, b, 2); break;
        default: hi = _mm512_inserti32x4(hi, b, 3); break;
        }
    }
    const __m512i o0 = _mm512_permutex2var_epi8(lo, inter0, hi), o1 = _mm512_permutex2var_epi8(lo, inter1, hi);
    const int bytes = rows * N;
    if (ldo == N) { // the rows' outputs are contiguous
        _mm512_mask_storeu_epi8(out, first(bytes), o0);
        if (bytes > 64) _mm512_mask_storeu_epi8(out + 64, first(bytes - 64), o1);
        return;
    }
    uint8_t buf[128];
    _mm512_storeu_si512(buf, o0);
    _mm512_storeu_si512(buf + 64, o1);
    for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * ldo, buf + r * N, (size_t)N);
}

#define T(n_) tile(o, ldo, am, lda, nseg, segstride, rows, n_, w, p->K, gather, inter0, inter1, p)

void dc_qgemm_pixels(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                     const void *packed, const dc_qgemm_params *p) {
    const int32_t *w = (const int32_t *)((const uint8_t *)packed + 128);
    const int N = p->N;
    // byte r*4 + t of the gather <- r*lda + t
    static const uint8_t R[64] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
                                  6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11,
                                  12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15};
    const __m512i r = _mm512_loadu_si512(R), t = _mm512_set1_epi32(0x03020100);
    __m512i gather = t;
    for (int k = 0; k < lda; k++) gather = _mm512_add_epi8(gather, r);
    const __m512i inter0 = _mm512_loadu_si512(packed), inter1 = _mm512_loadu_si512((const uint8_t *)packed + 64);
    const int nt = (M + 15) / 16; // tiles as even as possible
    for (int t = 0, m0 = 0, rows; t < nt; t++, m0 += rows) {
        rows = M / nt + (t < M % nt);
        uint8_t *o = (uint8_t *)out + (size_t)m0 * ldo;
        const uint8_t *am = a + (size_t)m0 * lda;
        switch (N) {
        case 1: T(1); break;
        case 2: T(2); break;
        case 3: T(3); break;
        case 4: T(4); break;
        case 5: T(5); break;
        case 6: T(6); break;
        case 7: T(7); break;
        default: T(8); break;
        }
    }
}
#undef T

#include "kernels/target_end.h"
