// int8_kernels.h — int8 inference kernels: the quantised GEMM with its
// requantisation epilogue (a registry of implementations, like the
// convolution registry in conv_registry.h), and the layout, pooling,
// residual-add and table kernels around it. They know nothing of nodes or
// threads: each call is single-threaded over a block of rows or samples.
//
// Legend: M rows of a product (output pixels of a convolution, samples of a
// linear layer), N output channels, K reduction length (C*KH*KW taps or I
// input features), C,H,W a tensor's channels, height, width. Every int8
// activation tensor is channels-last (N,H,W,C): a pixel's channels are
// contiguous, so a 1x1 convolution is a GEMM over the tensor as it is and
// the k-th tap of a convolution is (kh, kw, c) with c fastest.
//
// Quantisation (gemmlowp / TensorFlow Lite semantics):
//   activations  real = s * (q - z),  q uint8 in [0, 255] (asymmetric, per tensor)
//   weights      real = s_w[n] * q_w, q_w int8 in [-127, 127] (symmetric, per output channel)
//   bias         q_b[n] = round(b[n] / (s_a * s_w[n])), int32
// A convolution or linear layer accumulates in int32
//   acc[m][n] = sum_k a[m][k] * w[n][k] + q_b[n] - z_a * sum_k w[n][k]
// (the last two terms are one per-channel constant, "bias'", folded when the
// layer is planned; padding taps hold z_a, the quantised 0, so they cancel),
// and requantises to the output's scale s_o and zero point z_o:
//   q_o = clamp(z_o + MBQM(acc, M0[n], sh[n]), lo, hi)
// where the real multiplier m = s_a * s_w[n] / s_o is M0 * 2^(sh - 31) with
// M0 in [2^30, 2^31) (dc_quantize_multiplier, TFLite's QuantizeMultiplier),
//   MBQM(x, M0, sh) = RDBPOT(SRDHM(x * 2^max(sh,0), M0), max(-sh, 0))
//   SRDHM(a, b)     = (a * b + 2^30) >> 31          (64-bit product, floor)
//   RDBPOT(x, e)    = (x >> e) + ((x & (2^e - 1)) > ((2^e - 1) >> 1) + (x < 0))
// SRDHM is gemmlowp's SaturatingRoundingDoublingHighMul: its sign-dependent
// nudge (2^30 or 1 - 2^30) followed by a division truncating toward zero is
// exactly (a*b + 2^30) >> 31 with an arithmetic shift, and its saturating
// case a = b = INT32_MIN cannot occur because M0 >= 2^30. RDBPOT is
// gemmlowp's RoundingDivideByPOT (round half away from zero). The left shift
// wraps in 32 bits (as TFLite's x * (1 << left_shift), without the undefined
// behaviour). A fused ReLU is lo = max(z_o, 0): the quantised 0.
// Every implementation computes exactly these integers: the reference twin,
// the AVX2 and the AVX-512 VNNI kernels give the same bits, so a model's
// int8 output does not depend on the CPU.
//
// The network's output layer keeps 32 bits: its requantised values are not
// clamped to a byte (lo/hi = the int32 range, z_o = 0, a fine scale), so no
// two logits tie because of an 8-bit grid.
#ifndef DC_INT8_KERNELS_H
#define DC_INT8_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "deepc.h"

// ---------------------------------------------------------------------------
// Fixed-point arithmetic (scalar definitions; the vector kernels match them)

// m > 0 as M0 * 2^(sh - 31), M0 in [2^30, 2^31). m below 2^-31 gives M0 = 0
// (the product is 0); m must be < 2^31.
void dc_quantize_multiplier(double m, int32_t *M0, int32_t *sh);

static inline int32_t dc_srdhm(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

static inline int32_t dc_rdbpot(int32_t x, int e) {
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t rem = x & mask, thr = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > thr);
}

static inline int32_t dc_mbqm(int32_t x, int32_t M0, int32_t sh) {
    const int ls = sh > 0 ? sh : 0, rs = sh > 0 ? 0 : -sh;
    return dc_rdbpot(dc_srdhm((int32_t)((uint32_t)x << ls), M0), rs);
}

// Round half away from zero, as TFLite's std::round: the one rounding of
// every float -> int conversion at quantisation time.
static inline int32_t dc_round_i32(double v) {
    return (int32_t)(v < 0 ? -(int64_t)(-v + 0.5) : (int64_t)(v + 0.5));
}

// ---------------------------------------------------------------------------
// The quantised GEMM: out (M, N) = requant(a (M, K) x w (N, K)^T)

typedef struct dc_qgemm_params {
    int N, K;               // output channels, reduction length
    const int32_t *bias;    // (N) bias' = q_b - z_a * sum_k w (plan time)
    const int32_t *mult;    // (N) M0
    const int32_t *shift;   // (N) sh
    int32_t zo;             // output zero point
    int32_t lo, hi;         // clamp of the requantised value (+ z_o)
    bool out32;             // int32 outputs (the logits) instead of uint8
    int a_max;              // largest activation value a can hold (255, or
                            // 127 for a reduce-range model): kernels whose
                            // intermediate sums saturate above it say so
    int lda;                // the row stride of a that every call passes
                            // (set when planned; 0: not known): kernels
                            // specialised on it say so
} dc_qgemm_params;

typedef struct dc_qgemm_impl {
    const char *name;       // "ref", "avx2", "avx2_7bit", "vnni512"
    const char *algorithm;  // one line
    unsigned cpu;           // DC_CPU_* bits it needs
    // Shapes and ranges it computes exactly; NULL: everything.
    bool (*supports)(const dc_qgemm_params *p);
    // Bytes of its packed weights for (N, K), and the packing (plan time).
    size_t (*packed_bytes)(int N, int K);
    void (*pack)(void *packed, const int8_t *w, int N, int K);
    // out: uint8 (or int32 when p->out32) rows of ldo elements, columns
    // [0, N) written; a: M rows lda bytes apart, each row nseg segments of
    // L = K / nseg contiguous taps segstride bytes apart: tap k of row m is
    //   a[m * lda + (k / L) * segstride + k % L]
    // (nseg divides K; L % 4 == 0 when nseg > 1). nseg = 1 is a plain
    // matrix (lda >= K); nseg = KH is a convolution read in place from a
    // padded NHWC image, one segment per kernel row (KW * C taps), lda =
    // stride * C, segstride = the padded row's bytes: no im2col copy. Only
    // the taps are read. Single-threaded, no scratch, no allocation.
    void (*run)(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                const void *packed, const dc_qgemm_params *p);
} dc_qgemm_impl;

int dc_qgemm_impl_count(void);
const dc_qgemm_impl *dc_qgemm_impl_at(int i);
const dc_qgemm_impl *dc_qgemm_impl_find(const char *name);
// The fastest implementation usable with cpu (DC_CPU_* bits) for p; never
// NULL (the reference runs everywhere). force (may be NULL) names one:
// NULL is returned when it is unknown, needs features cpu lacks or does not
// support p.
const dc_qgemm_impl *dc_qgemm_choose(const dc_qgemm_params *p, unsigned cpu, const char *force);

// The reference twin, and its packing (the weights as they are, (N, K)).
void dc_qgemm_ref(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                  const void *packed, const dc_qgemm_params *p);
// One requantised output (the scalar definition every kernel matches).
static inline int32_t dc_requant(int32_t acc, const dc_qgemm_params *p, int n) {
    int32_t v = dc_mbqm(acc + p->bias[n], p->mult[n], p->shift[n]);
    v = (int32_t)((uint32_t)v + (uint32_t)p->zo);
    return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
}

// ---------------------------------------------------------------------------
// Layout and elementwise kernels (portable C; integer, so exact)

// Float NCHW -> uint8 NHWC: q = clamp(round(x * inv_s) + z, 0, qmax) with
// round half away from zero. x (N, C, H, W) floats, q (N, H, W, C).
void dc_q_quantize(uint8_t *q, const float *x, int N, int C, int H, int W, float inv_s, int32_t z,
                   int32_t qmax);
// uint8 NHWC -> float NCHW, x = s * (q - z).
void dc_q_dequantize(float *x, const uint8_t *q, int N, int C, int H, int W, float s, int32_t z);
// int32 logits (N, O) -> float: x = (float)q * s (z = 0).
void dc_q_dequantize32(float *x, const int32_t *q, size_t n, float s);
// Max / average pooling without padding, k x k window, stride st, (N, H, W, C)
// -> (N, OH, OW, C); the output keeps the input's scale and zero point.
// Average: (sum + k*k/2) / (k*k) (round half up of a non-negative mean).
void dc_q_maxpool(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
void dc_q_avgpool(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
// Global average pool: (N, H*W, C) -> (N, C), (sum + HW/2) / HW.
void dc_q_gap(uint8_t *y, const uint8_t *x, int N, int C, int HW);
// Rescale of one input to another scale (TFLite's ADD arithmetic, one term):
// v = MBQM((q - z_in) << 20, M0, sh), the input in units of 2^-20 of a common
// scale; an add sums the terms of its inputs and requantises the sum.
typedef struct dc_qadd_params {
    int n_in;
    int32_t z_in[8], mult_in[8], shift_in[8];  // per input
    int32_t mult_out, shift_out, zo, lo, hi;   // the sum to the output
} dc_qadd_params;
// y (n) = clamp(z_o + MBQM(sum_i MBQM((x_i - z_i) << 20, M_i, sh_i), M_o, sh_o), lo, hi)
void dc_q_add(uint8_t *y, const uint8_t *const *x, size_t n, const dc_qadd_params *p);
// A two-input add as one lookup: table (65536) = dc_q_add's output for every
// pair (x0, x1), made once at plan time by dc_q_add2_table; then
// y[j] = table[x0[j] << 8 | x1[j]], the same bits as dc_q_add (its twin)
// without the three fixed-point rescales per element.
void dc_q_add2_table(uint8_t *table, const dc_qadd_params *p);
void dc_q_add2_lut(uint8_t *y, const uint8_t *x0, const uint8_t *x1, size_t n, const uint8_t *table);
// Its AVX2 form (gathers; the same bits): the table needs 3 readable bytes
// past its 65536 (DC_Q_ADD2_TABLE_BYTES).
#define DC_Q_ADD2_TABLE_BYTES (65536 + 4)
void dc_q_add2_lut_avx2(uint8_t *y, const uint8_t *x0, const uint8_t *x1, size_t n, const uint8_t *table);
// Concatenation along channels of NHWC tensors: input i (P, C_i) is
// rescaled to the output (as one term of an add) into columns [off_i,
// off_i + C_i) of y (P, sum C_i).
void dc_q_concat(uint8_t *y, const uint8_t *const *x, const int *cs, int n_in, size_t P,
                 const dc_qadd_params *p);
// Their AVX-512 forms (int8_layout_vbmi.c; the same bits): quantize needs
// AVX-512 (F, BW; vectorised for C == 1), maxpool AVX-512 + VBMI (windows of
// at most 128 bytes; wider ones fall back to dc_q_maxpool).
void dc_q_quantize_avx512(uint8_t *q, const float *x, int N, int C, int H, int W, float inv_s, int32_t z,
                          int32_t qmax);
void dc_q_maxpool_vbmi(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
// y[i] = table[x[i]] (ReLU with a change of scale, tanh, sigmoid).
void dc_q_lut(uint8_t *y, const uint8_t *x, size_t n, const uint8_t *table);

// ---------------------------------------------------------------------------
// Reference twins of the layout kernels, written from the definitions over
// NCHW indices (tests/test_int8_kernels.c compares them).
void dc_q_maxpool_ref(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
void dc_q_avgpool_ref(uint8_t *y, const uint8_t *x, int N, int C, int H, int W, int k, int st);
void dc_q_gap_ref(uint8_t *y, const uint8_t *x, int N, int C, int HW);

// The vector kernels' entry points (int8_avx2.c, int8_vnni.c).
size_t dc_qgemm_avx2_packed_bytes(int N, int K);
void dc_qgemm_avx2_pack(void *packed, const int8_t *w, int N, int K);
void dc_qgemm_avx2(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                   const void *packed, const dc_qgemm_params *p);
size_t dc_qgemm_avx2_7bit_packed_bytes(int N, int K);
void dc_qgemm_avx2_7bit_pack(void *packed, const int8_t *w, int N, int K);
void dc_qgemm_avx2_7bit(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                        const void *packed, const dc_qgemm_params *p);
// Pixels in lanes (int8_vnni_pixels.c): for few output channels (N <= 8)
// over rows at most 4 bytes apart (the first convolution of a 1-4 channel
// image): the 16 lanes are 16 output pixels, not channels.
size_t dc_qgemm_pixels_packed_bytes(int N, int K);
void dc_qgemm_pixels_pack(void *packed, const int8_t *w, int N, int K);
void dc_qgemm_pixels(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                     const void *packed, const dc_qgemm_params *p);
// The same product followed by 2x2 max pooling with stride 2, fused: one
// pooled output row (PW pixels of N contiguous bytes at out) from the conv
// rows at a and a + rowstep, conv pixels [0, 2 PW) of each, with the
// pixels' layout and packing of dc_qgemm_pixels (dc_qgemm_vnni_pool2: of
// dc_qgemm_vnni). Exact (the same bytes as the product, then dc_q_maxpool)
// where dc_qgemm_pool_ok(p): uint8 outputs, no channel's requantisation
// shifts left and no accumulator can wrap, so the requantisation is a
// non-decreasing function of the sum and commutes with the max.
bool dc_qgemm_pool_ok(const dc_qgemm_params *p);
void dc_qgemm_vnni_pool2(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep,
                         int PW, const void *packed, const dc_qgemm_params *p);
void dc_qgemm_pixels_pool2(uint8_t *out, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, ptrdiff_t rowstep,
                           int PW, const void *packed, const dc_qgemm_params *p);
size_t dc_qgemm_vnni_packed_bytes(int N, int K);
void dc_qgemm_vnni_pack(void *packed, const int8_t *w, int N, int K);
void dc_qgemm_vnni(void *out, int ldo, const uint8_t *a, int lda, int nseg, ptrdiff_t segstride, int M,
                   const void *packed, const dc_qgemm_params *p);

#endif
