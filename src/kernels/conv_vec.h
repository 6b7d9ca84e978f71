// conv_vec.h — one vector width for the kernels written once and compiled
// twice (conv_lanes_body.h, conv_wino_body.h): included by a file that first
// says `#pragma GCC target(...)` and `#define DC_VW 8` (AVX2+FMA, ymm) or
// `#define DC_VW 16` (AVX-512F, zmm). VW is the number of float lanes, vf the
// vector type, VN(name) appends the width to a function name so the two
// compilations can be linked together. Also: the sample <-> lane transposes
// every "sample lanes" kernel uses (lane n of a vector = sample n0 + n),
// done by 8x8 AVX2 transposes for either width.
#ifndef DC_CONV_VEC_H
#define DC_CONV_VEC_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#if DC_VW == 8
typedef __m256 vf;
#define VW 8
#define VN(name) name##_v8
#define V_LOAD(p) _mm256_load_ps(p)
#define V_STORE(p, v) _mm256_store_ps(p, v)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_FNMA(a, b, c) _mm256_fnmadd_ps(a, b, c) // c - a*b
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_BCAST(p) _mm256_broadcast_ss(p)
// x where x > 0 or x is NaN, else +0: the bits of dc_relu_forward
#define V_RELU(v) _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ))
#elif DC_VW == 16
typedef __m512 vf;
#define VW 16
#define VN(name) name##_v16
#define V_LOAD(p) _mm512_load_ps(p)
#define V_STORE(p, v) _mm512_store_ps(p, v)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_RELU(v) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v)
#else
#error "define DC_VW as 8 or 16 before including conv_vec.h"
#endif

#define VEC_INLINE static inline __attribute__((always_inline))
// Keeps a loaded vector in a register: without it GCC folds the load into
// each FMA that uses it (vfmadd231ps mem, ...), so a value used by R FMAs is
// loaded R times and the block becomes load-bound (measured: LeNet-5's conv1
// forward 11% slower than with one load).
#define V_KEEP(v) __asm__("" : "+v"(v))
#define UNROLL _Pragma("GCC unroll 16")

// 8x8 transpose of r[0..7] in place.
VEC_INLINE void VN(transpose8)(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst[j][n] = src[n * ns + j] for j < len, n < nv; lanes nv..VW-1 = 0. dst is
// VW*4-byte aligned. Rows of 8 or more go by 8x8 blocks (one per 8 lanes),
// the last block overlapping the one before it when len is not a multiple
// of 8 (it rewrites the same values). Pure copies: no rounding. `full` (nv
// == VW, every group but a batch's last) is a constant in each instance so
// the per-lane tests vanish from the common case.
VEC_INLINE void VN(rows_to_lanes_k)(const bool full, float *dst, const float *src, size_t ns,
                                    int nv, int len) {
    if (len < 8) {
        for (int j = 0; j < len; j++)
            for (int n = 0; n < VW; n++)
                dst[j * VW + n] = full || n < nv ? src[n * ns + j] : 0.0f;
        return;
    }
    for (int j0 = 0;;) {
        UNROLL for (int g = 0; g < VW / 8; g++) {
            __m256 r[8];
            UNROLL for (int n = 0; n < 8; n++)
                r[n] = full || g * 8 + n < nv ? _mm256_loadu_ps(src + (g * 8 + n) * ns + j0)
                                              : _mm256_setzero_ps();
            VN(transpose8)(r);
            UNROLL for (int j = 0; j < 8; j++)
                _mm256_store_ps(dst + (size_t)(j0 + j) * VW + g * 8, r[j]);
        }
        if (j0 + 8 >= len) break;
        j0 = j0 + 16 <= len ? j0 + 8 : len - 8;
    }
}

VEC_INLINE void VN(rows_to_lanes)(float *dst, const float *src, size_t ns, int nv, int len) {
    if (nv == VW)
        VN(rows_to_lanes_k)(true, dst, src, ns, nv, len);
    else
        VN(rows_to_lanes_k)(false, dst, src, ns, nv, len);
}

// dst[n * ns + j] = src[j][n] for j < len, n < nv: the inverse.
VEC_INLINE void VN(lanes_to_rows_k)(const bool full, float *dst, size_t ns, const float *src,
                                    int nv, int len) {
    if (len < 8) {
        for (int n = 0; n < (full ? VW : nv); n++)
            for (int j = 0; j < len; j++) dst[n * ns + j] = src[j * VW + n];
        return;
    }
    for (int j0 = 0;;) {
        UNROLL for (int g = 0; g < VW / 8; g++) {
            if (!full && g * 8 >= nv) break;
            __m256 r[8];
            UNROLL for (int j = 0; j < 8; j++)
                r[j] = _mm256_load_ps(src + (size_t)(j0 + j) * VW + g * 8);
            VN(transpose8)(r);
            UNROLL for (int n = 0; n < 8; n++)
                if (full || g * 8 + n < nv) _mm256_storeu_ps(dst + (g * 8 + n) * ns + j0, r[n]);
        }
        if (j0 + 8 >= len) break;
        j0 = j0 + 16 <= len ? j0 + 8 : len - 8;
    }
}

VEC_INLINE void VN(lanes_to_rows)(float *dst, size_t ns, const float *src, int nv, int len) {
    if (nv == VW)
        VN(lanes_to_rows_k)(true, dst, ns, src, nv, len);
    else
        VN(lanes_to_rows_k)(false, dst, ns, src, nv, len);
}

// A whole (H, W) plane of samples n0 .. n0+nv-1 (src + n*ns, rows
// contiguous) into lanes at dst, row h at dst + h*drow (drow >= W*VW floats,
// so the destination may be padded). Rows narrower than 8 would take the
// scalar path of rows_to_lanes, so such a plane goes through tmp (H*W*VW
// floats) as one long row and is then copied row by row.
VEC_INLINE void VN(plane_to_lanes)(float *dst, ptrdiff_t drow, const float *src, size_t ns,
                                   int nv, int H, int W, float *tmp) {
    if (W >= 8 || H * W < 8) {
        for (int h = 0; h < H; h++)
            VN(rows_to_lanes)(dst + h * drow, src + (size_t)h * W, ns, nv, W);
        return;
    }
    if (drow == (ptrdiff_t)W * VW) {
        VN(rows_to_lanes)(dst, src, ns, nv, H * W);
        return;
    }
    VN(rows_to_lanes)(tmp, src, ns, nv, H * W);
    for (int h = 0; h < H; h++)
        memcpy(dst + h * drow, tmp + (size_t)h * W * VW, sizeof(float) * (size_t)W * VW);
}

// The inverse: lanes at src (row h at src + h*srow) to the planes of nv
// samples at dst + n*ns.
VEC_INLINE void VN(lanes_to_plane)(float *dst, size_t ns, const float *src, ptrdiff_t srow,
                                   int nv, int H, int W, float *tmp) {
    if (W >= 8 || H * W < 8) { // measured: row by row beats one long row here
        for (int h = 0; h < H; h++)
            VN(lanes_to_rows)(dst + (size_t)h * W, ns, src + h * srow, nv, W);
        return;
    }
    if (srow == (ptrdiff_t)W * VW) {
        VN(lanes_to_rows)(dst, ns, src, nv, H * W);
        return;
    }
    for (int h = 0; h < H; h++)
        memcpy(tmp + (size_t)h * W * VW, src + h * srow, sizeof(float) * (size_t)W * VW);
    VN(lanes_to_rows)(dst, ns, tmp, nv, H * W);
}

// Stores the first `valid` lanes of v at p (1..VW).
VEC_INLINE void VN(store_lanes)(float *p, vf v, int valid) {
#if DC_VW == 8
    if (valid >= 8) {
        _mm256_storeu_ps(p, v);
    } else {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
        _mm256_maskstore_ps(p, m, v);
    }
#else
    if (valid >= 16) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, (__mmask16)((1u << valid) - 1u), v);
#endif
}

// n (0 <= n <= VW - s) contiguous floats from p into lanes [s, s + n), the
// other lanes 0; only those n floats are read.
VEC_INLINE vf VN(load_at)(const float *p, int s, int n) {
#if DC_VW == 8
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 v = _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx));
    if (s == 0) return v;
    const __m256i from = _mm256_sub_epi32(idx, _mm256_set1_epi32(s)); // lane l takes loaded lane l - s
    const __m256i keep = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(s), idx),
                                             _mm256_cmpgt_epi32(_mm256_set1_epi32(s + n), idx));
    return _mm256_and_ps(_mm256_permutevar8x32_ps(v, from), _mm256_castsi256_ps(keep));
#else
    // a masked load where nothing moves (vexpandps from memory is several
    // times slower on Zen 4: it cost a fused residual add more than the add)
    if (s == 0) return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
    const __mmask16 m = (__mmask16)(((1u << n) - 1u) << s);
    return _mm512_maskz_expandloadu_ps(m, p);
#endif
}

// e, o: the even and odd lanes of the 2 VW floats a, b (a first).
VEC_INLINE void VN(split2r)(vf a, vf b, vf *e, vf *o) {
#if DC_VW == 8
    const __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8));
#else
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *e = _mm512_permutex2var_ps(a, ie, b);
    *o = _mm512_permutex2var_ps(a, io, b);
#endif
}

// Sum of the VW lanes of v[0..VW-1] by a fixed tree: pairs, then pairs of
// pairs, ... (((0+1)+(2+3))+((4+5)+(6+7))) for 8, the same for each half
// and then half + half for 16.
static inline float VN(hsum)(const float *v) {
    float s = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
#if DC_VW == 16
    s += ((v[8] + v[9]) + (v[10] + v[11])) + ((v[12] + v[13]) + (v[14] + v[15]));
#endif
    return s;
}

// ----------------------------------------------------------------------------
// Register blocks shared by the kernels

#if DC_VW == 8
#define LMAX_R 6   // register blocks: R up to 6 ...
#define LMAX_RS 12 // ... and R*S up to 12 accumulators
#else
#define LMAX_R 8
#define LMAX_RS 24
#endif

__attribute__((unused)) static size_t VN(pad16)(size_t n) { return (n + 15) & ~(size_t)15; }

// Register block shape for an M x Nn grid of accumulators (M along the
// broadcast dimension, Nn along the loaded one), each block doing `steps`
// inner steps. Estimated cycles per step of an R x S block: the FMAs (2 per
// cycle) but at least the FMA latency (4 cycles: fewer than 8 independent
// chains stall), plus half a cycle per load (R + S of them), because on
// Zen 3 the 4x3 and 3x4 blocks (7 loads per 12 FMAs) measure faster than 6x2
// and 2x6 (8 loads) although all should be FMA-bound. Each block also pays
// a fixed cost for its accumulators and the call. The shape with the least
// total over all blocks, remainder blocks included, wins.
static double VN(block_cycles)(int R, int S, int steps) {
    const double f = R * S / 2.0;
    return ((f > 4.0 ? f : 4.0) + 0.5 * (R + S)) * steps + R * S + 20.0;
}

static int VN(max_s)(int R) {
    const int s = LMAX_RS / R;
    return s > 12 ? 12 : s;
}

__attribute__((unused)) static void VN(pick_rs)(int M, int Nn, int steps, int *R_out, int *S_out) {
    double best = -1.0;
    for (int R = 1; R <= LMAX_R && R <= M; R++)
        for (int S = 1; S <= VN(max_s)(R) && S <= Nn; S++) {
            const int mf = M / R, mr = M % R, nf = Nn / S, nr = Nn % S; // full, remainder
            double cost = (double)mf * nf * VN(block_cycles)(R, S, steps);
            if (nr) cost += mf * VN(block_cycles)(R, nr, steps);
            if (mr) cost += nf * VN(block_cycles)(mr, S, steps);
            if (mr && nr) cost += VN(block_cycles)(mr, nr, steps);
            if (best < 0.0 || cost < best) {
                best = cost;
                *R_out = R;
                *S_out = S;
            }
        }
}

// ----------------------------------------------------------------------------
// Register-block instances. Each *_block below is always_inline and written
// for constant R and S; RS_SWITCH instantiates it for R in 1..LMAX_R and S in
// 1..max_s(R), so that the accumulators live in registers.

#define S_CASES_12(RV, MAC)                                                                  \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break;  case 2: MAC(RV, 2) break;  case 3: MAC(RV, 3) break;          \
    case 4: MAC(RV, 4) break;  case 5: MAC(RV, 5) break;  case 6: MAC(RV, 6) break;          \
    case 7: MAC(RV, 7) break;  case 8: MAC(RV, 8) break;  case 9: MAC(RV, 9) break;          \
    case 10: MAC(RV, 10) break; case 11: MAC(RV, 11) break; default: MAC(RV, 12) break;     \
    }
#define S_CASES_8(RV, MAC)                                                                   \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break; case 2: MAC(RV, 2) break; case 3: MAC(RV, 3) break;            \
    case 4: MAC(RV, 4) break; case 5: MAC(RV, 5) break; case 6: MAC(RV, 6) break;            \
    case 7: MAC(RV, 7) break; default: MAC(RV, 8) break;                                    \
    }
#define S_CASES_6(RV, MAC)                                                                   \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break; case 2: MAC(RV, 2) break; case 3: MAC(RV, 3) break;            \
    case 4: MAC(RV, 4) break; case 5: MAC(RV, 5) break; default: MAC(RV, 6) break;           \
    }
#define S_CASES_4(RV, MAC)                                                                   \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break; case 2: MAC(RV, 2) break; case 3: MAC(RV, 3) break;            \
    default: MAC(RV, 4) break;                                                              \
    }
#define S_CASES_3(RV, MAC)                                                                   \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break; case 2: MAC(RV, 2) break; default: MAC(RV, 3) break;           \
    }
#define S_CASES_2(RV, MAC)                                                                   \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break; default: MAC(RV, 2) break;                                    \
    }
#if DC_VW == 8
#define RS_SWITCH(MAC)                                                                       \
    switch (R) {                                                                            \
    case 1: S_CASES_12(1, MAC) break;                                                       \
    case 2: S_CASES_6(2, MAC) break;                                                        \
    case 3: S_CASES_4(3, MAC) break;                                                        \
    case 4: S_CASES_3(4, MAC) break;                                                        \
    case 5: S_CASES_2(5, MAC) break;                                                        \
    default: S_CASES_2(6, MAC) break;                                                       \
    }
#else
#define RS_SWITCH(MAC)                                                                       \
    switch (R) {                                                                            \
    case 1: S_CASES_12(1, MAC) break;                                                       \
    case 2: S_CASES_12(2, MAC) break;                                                       \
    case 3: S_CASES_8(3, MAC) break;                                                        \
    case 4: S_CASES_6(4, MAC) break;                                                        \
    case 5: S_CASES_4(5, MAC) break;                                                        \
    case 6: S_CASES_4(6, MAC) break;                                                        \
    case 7: S_CASES_3(7, MAC) break;                                                        \
    default: S_CASES_3(8, MAC) break;                                                       \
    }
#endif

#endif
