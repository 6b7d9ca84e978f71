// int8_vnni_requant.h — the requantisation epilogue of the AVX-512 int8
// kernels (int8_vnni.c, int8_vnni_pixels.c) in 16 int32 lanes: the same bits
// as dc_requant (int8_kernels.h). Include inside an AVX-512 target region.
#ifndef DC_INT8_VNNI_REQUANT_H
#define DC_INT8_VNNI_REQUANT_H
#include <immintrin.h>
#include "kernels/int8_kernels.h"

// acc + the dot products of 4 uint8 (a) by 4 int8 (b) per lane: vpdpbusd,
// written in asm with the accumulator tied in place. With the intrinsic,
// GCC 12 at -O3 copies every accumulator out of and back into its register
// around each vpdpbusd in a loop (two moves per product, measured with
// objdump/perf on the pixels kernel); the tied operand has no copies.
static inline __m512i dc_dpbusd(__m512i acc, __m512i a, __m512i b) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

static inline __m512i dc_vnni_srdhm(__m512i a, __m512i b) {
    const __m512i nudge = _mm512_set1_epi64(1ll << 30);
    __m512i ev = _mm512_add_epi64(_mm512_mul_epi32(a, b), nudge);
    __m512i od = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32)), nudge);
    ev = _mm512_srli_epi64(ev, 31); // low half = bits 31..62 (see int8_avx2.c)
    od = _mm512_slli_epi64(_mm512_srli_epi64(od, 31), 32);
    return _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, od);
}

static inline __m512i dc_vnni_requant(__m512i acc, __m512i bias, __m512i mult, __m512i sh, const dc_qgemm_params *p) {
    const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
    const __m512i ls = _mm512_max_epi32(sh, zero), rs = _mm512_max_epi32(_mm512_sub_epi32(zero, sh), zero);
    __m512i x = _mm512_sllv_epi32(_mm512_add_epi32(acc, bias), ls);
    x = dc_vnni_srdhm(x, mult);
    const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, rs), one);
    const __m512i rem = _mm512_and_si512(x, mask);
    const __m512i thr = _mm512_add_epi32(_mm512_srli_epi32(mask, 1), _mm512_srli_epi32(x, 31));
    x = _mm512_srav_epi32(x, rs);
    x = _mm512_mask_add_epi32(x, _mm512_cmpgt_epi32_mask(rem, thr), x, one);
    x = _mm512_add_epi32(x, _mm512_set1_epi32(p->zo));
    x = _mm512_max_epi32(x, _mm512_set1_epi32(p->lo));
    return _mm512_min_epi32(x, _mm512_set1_epi32(p->hi));
}

#endif
