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
// are broadcast into vpdpbusd, once for two such vectors (32 pixels). The
// epilogue requantises a channel's 16 pixels at once and interleaves the
// channels into the pixels' NHWC bytes with two vpermt2b. A 2x2 max
// pooling after the layer can be fused (dc_qgemm_pixels_pool2). Packed:
// the 128 bytes of that interleaving's index, then the weights [K4][N]
// int32 (a channel's 4 taps of a group as one int32; zero past K). Needs
// AVX-512 VNNI and VBMI; the same bits as dc_qgemm_ref (its twin,
// tests/test_int8_kernels.c).
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

// The vpermb index that lays 16 rows lda bytes apart out as 4 bytes a lane:
// byte r*4 + t <- r*lda + t.
static inline __m512i gather_index(int lda) {
    static const uint8_t R[64] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
                                  6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11,
                                  12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15};
    const __m512i r = _mm512_loadu_si512(R);
    __m512i g = _mm512_set1_epi32(0x03020100);
    for (int k = 0; k < lda; k++) g = _mm512_add_epi8(g, r);
    return g;
}

static inline __mmask64 first(int n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1); }

// Requantises one half's accumulators (rows [0, rows) of 16, channels
// [0, N)) and writes their NHWC bytes: channel n's pixel r, byte n*16 + r of
// (lo for n < 4, hi for n >= 4), goes to r*N + n.
static inline __attribute__((always_inline)) void finish(uint8_t *out, int ldo, int rows, int N, const __m512i *acc,
                                                         __m512i inter0, __m512i inter1, const dc_qgemm_params *p) {
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

// Rows [0, r0 + r1) of a in two halves of r0 and r1 <= 16 rows (r1 may be
// 0), channels [0, N) (N <= 8). The halves share each weight broadcast, and
// their 2N accumulators are independent chains enough to keep vpdpbusd
// (latency 4-5 cycles, 1-2 a cycle) busy.
static inline __attribute__((always_inline)) void tile(uint8_t *out, int ldo, const uint8_t *a, int lda, int nseg,
                                                       ptrdiff_t segstride, int r0, int r1, int N, const int32_t *w,
                                                       int K, __m512i gather, __m512i inter0, __m512i inter1,
                                                       const dc_qgemm_params *p) {
    const int L = K / nseg, G = (L + 3) / 4; // groups of 4 taps per segment (the last may be short)
    const uint8_t *a1 = a + (size_t)r0 * lda;
    __m512i acc0[8], acc1[8];
    for (int n = 0; n < N; n++) acc0[n] = acc1[n] = _mm512_setzero_si512();
    // one loop over every group (a single loop keeps the accumulators in
    // registers); the rows read a group's 4 bytes and no byte past them.
    // A short last group (nseg = 1, K % 4 taps) reads bytes of the next row
    // past K, whose weights are packed as 0.
    const int groups = nseg * G, full = nseg == 1 && K % 4 ? groups - 1 : groups;
    const __mmask64 f0 = first((r0 - 1) * lda + 4), f1 = first((r1 - 1) * lda + 4);
    ptrdiff_t so = 0;
    for (int q = 0, g = 0; q < groups; q++) {
        const __mmask64 m0 = q < full ? f0 : first((r0 - 1) * lda + K % 4);
        const __mmask64 m1 = q < full ? f1 : first((r1 - 1) * lda + K % 4);
        const __m512i b0 = _mm512_permutexvar_epi8(gather, _mm512_maskz_loadu_epi8(m0, a + so + 4 * g));
        const __m512i b1 = r1 ? _mm512_permutexvar_epi8(gather, _mm512_maskz_loadu_epi8(m1, a1 + so + 4 * g)) : b0;
        const int32_t *ws = w + (size_t)q * N;
        for (int n = 0; n < N; n++) {
            const __m512i wn = _mm512_set1_epi32(ws[n]);
            acc0[n] = dc_dpbusd(acc0[n], b0, wn);
            if (r1) acc1[n] = dc_dpbusd(acc1[n], b1, wn);
        }
        if (++g == G) g = 0, so += segstride;
    }
    finish(out, ldo, r0, N, acc0, inter0, inter1, p);
    if (r1) finish(out + (size_t)r0 * ldo, ldo, r1, N, acc1, inter0, inter1, p);
}

// One pooled row of a convolution followed by 2x2 max pooling, stride 2:
// conv rows A (at a) and B (at a + rowstep), conv pixels [0, 2 PW), in
// halves of up to 16 pixels; the window's max is taken of the int32
// accumulators (A and B lane by lane, then adjacent lanes), and only the
// PW maxima are requantised. Exact because the requantisation is a
// non-decreasing function of the accumulator when no channel shifts left
// and no sum wraps (the plan fuses only then, dc_qgemm_pool_ok).
static inline __attribute__((always_inline)) void pool_tile(uint8_t *out, const uint8_t *a, int lda, int nseg,
                                                            const ptrdiff_t *offs, ptrdiff_t rowstep, int rows, int N,
                                                            const int32_t *w, int K, __m512i gather, __m512i inter0,
                                                            __m512i inter1, const dc_qgemm_params *p) {
    // rows (even, <= 16) conv pixels of rows A and B -> rows / 2 pooled pixels
    const int L = K / nseg, G = (L + 3) / 4;
    __m512i accA[8], accB[8];
    for (int n = 0; n < N; n++) accA[n] = accB[n] = _mm512_setzero_si512();
    // groups [0, full) have 4 taps (their byte offsets in offs: one
    // straight loop keeps the accumulators in registers); a short last
    // group (nseg = 1, K % 4 taps) reads bytes of the next row past K,
    // whose weights are packed as 0
    const int groups = nseg * G, full = nseg == 1 && K % 4 ? groups - 1 : groups;
    const __mmask64 f = first((rows - 1) * lda + 4);
    for (int q = 0; q < groups; q++) {
        const __mmask64 m = q < full ? f : first((rows - 1) * lda + K % 4);
        const __m512i bA = _mm512_permutexvar_epi8(gather, _mm512_maskz_loadu_epi8(m, a + offs[q]));
        const __m512i bB = _mm512_permutexvar_epi8(gather, _mm512_maskz_loadu_epi8(m, a + rowstep + offs[q]));
        const int32_t *ws = w + (size_t)q * N;
        for (int n = 0; n < N; n++) {
            const __m512i wn = _mm512_set1_epi32(ws[n]);
            accA[n] = dc_dpbusd(accA[n], bA, wn);
            accB[n] = dc_dpbusd(accB[n], bB, wn);
        }
    }
    for (int n = 0; n < N; n++) {
        const __m512i v = _mm512_max_epi32(accA[n], accB[n]);
        const __m512i h = _mm512_max_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB)); // lanes 2j and 2j + 1
        accA[n] = _mm512_maskz_compress_epi32((__mmask16)0x5555, h);                  // pooled pixel j in lane j
    }
    finish(out, N, rows / 2, N, accA, inter0, inter1, p);
}

// A kernel of more than 256 groups of taps: both conv rows by
// dc_qgemm_pixels, 16 pooled pixels at a time, then the pooling.
static void pool_rows_slow(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep,
                           int PW, const void *packed, const dc_qgemm_params *p) {
    uint8_t ra[32 * 8], rb[32 * 8];
    const int N = p->N;
    for (int q0 = 0; q0 < PW; q0 += 16) {
        const int pw = PW - q0 < 16 ? PW - q0 : 16;
        dc_qgemm_pixels(ra, N, a + (size_t)2 * q0 * lda, lda, nseg, segstride, 2 * pw, packed, p);
        dc_qgemm_pixels(rb, N, a + rowstep + (size_t)2 * q0 * lda, lda, nseg, segstride, 2 * pw, packed, p);
        for (int j = 0; j < pw; j++)
            for (int n = 0; n < N; n++) {
                uint8_t m = ra[2 * j * N + n];
                m = ra[(2 * j + 1) * N + n] > m ? ra[(2 * j + 1) * N + n] : m;
                m = rb[2 * j * N + n] > m ? rb[2 * j * N + n] : m;
                m = rb[(2 * j + 1) * N + n] > m ? rb[(2 * j + 1) * N + n] : m;
                out[(size_t)(q0 + j) * N + n] = m;
            }
    }
}

#define PT(n_) pool_tile(o, am, lda, nseg, offs, rowstep, rows, n_, w, p->K, gather, inter0, inter1, p)

void dc_qgemm_pixels_pool2(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep,
                           int PW, const void *packed, const dc_qgemm_params *p) {
    const int32_t *w = (const int32_t *)((const uint8_t *)packed + 128);
    const int N = p->N;
    const __m512i gather = gather_index(lda);
    const __m512i inter0 = _mm512_loadu_si512(packed), inter1 = _mm512_loadu_si512((const uint8_t *)packed + 64);
    // each group's byte offset: segment sg's group g at sg * segstride + 4 g
    enum { MAXG = 256 };
    const int G = (p->K / nseg + 3) / 4;
    ptrdiff_t offs[MAXG];
    if (nseg * G > MAXG) { // a kernel this large: the product, then the pooling, row by row
        pool_rows_slow(out, a, lda, nseg, segstride, rowstep, PW, packed, p);
        return;
    }
    for (int sg = 0, q = 0; sg < nseg; sg++)
        for (int g = 0; g < G; g++) offs[q++] = (ptrdiff_t)sg * segstride + 4 * g;
    const int nt = (PW + 7) / 8; // tiles of up to 8 pooled pixels (16 conv pixels), as even as possible
    for (int ti = 0, q0 = 0, pw; ti < nt; ti++, q0 += pw) {
        pw = PW / nt + (ti < PW % nt);
        const int rows = 2 * pw;
        uint8_t *o = out + (size_t)q0 * N;
        const uint8_t *am = a + (size_t)2 * q0 * lda;
        switch (N) {
        case 1: PT(1); break;
        case 2: PT(2); break;
        case 3: PT(3); break;
        case 4: PT(4); break;
        case 5: PT(5); break;
        case 6: PT(6); break;
        case 7: PT(7); break;
        default: PT(8); break;
        }
    }
}
#undef PT

#define T(n_) tile(o, ldo, am, lda, nseg, segstride, r0, rows - r0, n_, w, p->K, gather, inter0, inter1, p)

void dc_qgemm_pixels(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                     const void *packed, const dc_qgemm_params *p) {
    const int32_t *w = (const int32_t *)((const uint8_t *)packed + 128);
    const int N = p->N;
    const __m512i gather = gather_index(lda);
    const __m512i inter0 = _mm512_loadu_si512(packed), inter1 = _mm512_loadu_si512((const uint8_t *)packed + 64);
    const int nt = (M + 31) / 32; // tiles of up to 32 rows (two halves), as even as possible
    for (int ti = 0, m0 = 0, rows; ti < nt; ti++, m0 += rows) {
        rows = M / nt + (ti < M % nt);
        const int r0 = (rows + 1) / 2;
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
