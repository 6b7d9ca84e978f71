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
#include <stddef.h>

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

#endif
