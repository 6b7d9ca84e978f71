// conv_lanes.c — direct convolution with eight samples in the eight lanes of
// an AVX2 vector ("sample lanes"), forward and backward.
//
// Why lanes: LeNet-sized convolutions have widths of 28, 14, 10 and 5, which
// waste a large part of every vector when a kernel vectorises along the
// image row, and im2col + GEMM pays for writing and re-reading a column
// matrix 25 times the input. With one sample per lane every tap of every
// output is a full-width FMA for any shape, stride and padding; the price is
// an 8x8 transpose of each input and output tensor, which is cheap next to
// the K*K*C (or K*K*OC) FMAs each value takes part in.
//
// Layouts inside a group of eight samples (lane n = sample n0 + n; lanes past
// the end of the batch hold zeros and are never stored):
//   xt  (C, Hp, Wp, 8)   input, zero padded: Hp = H + 2 pad, Wp = W + 2 pad
//   yt  (OC, OH, OW, 8)  output, before it is transposed out
//   dyt (OC, OH, OW, 8)  output gradient
//   dxt (C, Hp, Wp, 8)   input gradient, padded (the border is discarded)
//   dwa (OC, CKK, 8)     weight-gradient lane sums, over every group
//   dba (OC, 8)          bias-gradient lane sums
// and the weights rearranged once per call so that the scalars a register
// block broadcasts are adjacent: wt (CKK, OC) for forward and dw, wd (K*K,
// OC, C) for dx.
//
// Register blocks: every kernel keeps R x S accumulators (R*S <= 12 of the 16
// ymm registers), R along the dimension whose scalars are broadcast (output
// channels, or input channels for dx) and S along the one that is loaded
// (output positions, or taps for dw). R and S are compile-time constants in
// each instance (see RS_SWITCH), chosen per call by pick_rs() from a small
// cost model. The R x S loops carry `#pragma GCC unroll`: without it GCC
// keeps the accumulator array in memory and stores it on every step.
//
// Determinism and accuracy: every output lane is computed by a fixed
// sequence that depends only on the shape and N, never on the lane, so a
// sample's y does not depend on the other samples in its batch.
//   y:  acc = b (or 0), then acc = fma(w, x, acc) over taps in (c, ki, kj)
//       order.
//   dw: per lane and register block, fma from zero over a chunk of >= 64
//       output positions in (oh, ow) order, added to the running lane sum
//       (groups in order, chunks in order); at the end the 8 lanes are summed
//       by the tree ((0+1)+(2+3))+((4+5)+(6+7)) and added to dw. db likewise
//       with four interleaved running sums per group.
//   dx: for each output position (oh, ow) in order and each tap (ki, kj), the
//       sum over oc is formed from zero by fma and added to dx.
// Short chains onto a running total keep the rounding error near that of a
// blocked GEMM; a single FMA chain over the thousands of positions of a
// batch measured 4x worse against a float64 reference.
#include <string.h>
#include <immintrin.h>
#include "kernels/conv_kernels.h"

#define AVX __attribute__((target("avx2,fma")))
#define AVX_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define L 8 // lanes
#define UNROLL _Pragma("GCC unroll 12")

bool dc_conv_lanes_available(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

// Floats in one padded lane-major input image (C, Hp, Wp, 8).
static size_t xt_floats(const dc_conv_shape *s) {
    return (size_t)s->C * (s->H + 2 * s->pad) * (s->W + 2 * s->pad) * L;
}

size_t dc_conv_lanes_forward_floats(const dc_conv_shape *s) {
    const size_t ckk = (size_t)s->C * s->K * s->K;
    return xt_floats(s) + (size_t)s->OC * s->OH * s->OW * L + pad8(ckk * s->OC);
}

size_t dc_conv_lanes_backward_floats(const dc_conv_shape *s, bool want_dx) {
    const size_t ckk = (size_t)s->C * s->K * s->K;
    size_t n = xt_floats(s) + (size_t)s->OC * s->OH * s->OW * L // xt, dyt
               + (size_t)s->OC * ckk * L + (size_t)s->OC * L;   // dwa, dba
    if (want_dx) n += pad8(ckk * s->OC) + xt_floats(s);          // wd, dxt
    return n;
}

// Register block shape for an M x Nn grid of accumulators (M along the
// broadcast dimension, Nn along the loaded one), each block doing `steps`
// inner steps. Estimated cycles per step of an R x S block: the FMAs (2 per
// cycle) but at least the FMA latency (4 cycles: fewer than 8 independent
// chains stall), plus half a cycle per load (R + S of them), because on
// Zen 3 the 4x3 and 3x4 blocks (7 loads per 12 FMAs) measure faster than 6x2
// and 2x6 (8 loads) although all should be FMA-bound. Each block also pays
// a fixed cost for its accumulators and the call. The shape with the least
// total over all blocks, remainder blocks included, wins.
static double block_cycles(int R, int S, int steps) {
    const double f = R * S / 2.0;
    return ((f > 4.0 ? f : 4.0) + 0.5 * (R + S)) * steps + R * S + 20.0;
}

static int max_s(int R) { return R >= 5 ? 2 : 12 / R; }

static void pick_rs(int M, int Nn, int steps, int *R_out, int *S_out) {
    double best = -1.0;
    for (int R = 1; R <= 6 && R <= M; R++)
        for (int S = 1; S <= max_s(R) && S <= Nn; S++) {
            const int mf = M / R, mr = M % R, nf = Nn / S, nr = Nn % S; // full, remainder
            double cost = (double)mf * nf * block_cycles(R, S, steps);
            if (nr) cost += mf * block_cycles(R, nr, steps);
            if (mr) cost += nf * block_cycles(mr, S, steps);
            if (mr && nr) cost += block_cycles(mr, nr, steps);
            if (best < 0.0 || cost < best) {
                best = cost;
                *R_out = R;
                *S_out = S;
            }
        }
}

// ----------------------------------------------------------------------------
// Transposes between sample rows and lanes

// 8x8 transpose of r[0..7] in place.
AVX_INLINE void transpose8(__m256 r[8]) {
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

// dst[j][n] = src[n * ns + j] for j < len, n < nv; lanes nv..7 = 0. dst is
// 32-byte aligned. Rows of 8 or more go by 8x8 blocks, the last block
// overlapping the one before it when len is not a multiple of 8 (it rewrites
// the same values).
AVX_INLINE void rows_to_lanes(float *dst, const float *src, size_t ns, int nv, int len) {
    if (len < 8) {
        for (int j = 0; j < len; j++)
            for (int n = 0; n < L; n++) dst[j * L + n] = n < nv ? src[n * ns + j] : 0.0f;
        return;
    }
    for (int j0 = 0;;) {
        __m256 r[8];
        UNROLL for (int n = 0; n < L; n++)
            r[n] = n < nv ? _mm256_loadu_ps(src + n * ns + j0) : _mm256_setzero_ps();
        transpose8(r);
        UNROLL for (int j = 0; j < L; j++) _mm256_store_ps(dst + (size_t)(j0 + j) * L, r[j]);
        if (j0 + 8 >= len) break;
        j0 = j0 + 16 <= len ? j0 + 8 : len - 8;
    }
}

// dst[n * ns + j] = src[j][n] for j < len, n < nv: the inverse.
AVX_INLINE void lanes_to_rows(float *dst, size_t ns, const float *src, int nv, int len) {
    if (len < 8) {
        for (int n = 0; n < nv; n++)
            for (int j = 0; j < len; j++) dst[n * ns + j] = src[j * L + n];
        return;
    }
    for (int j0 = 0;;) {
        __m256 r[8];
        UNROLL for (int j = 0; j < L; j++) r[j] = _mm256_load_ps(src + (size_t)(j0 + j) * L);
        transpose8(r);
        UNROLL for (int n = 0; n < L; n++)
            if (n < nv) _mm256_storeu_ps(dst + n * ns + j0, r[n]);
        if (j0 + 8 >= len) break;
        j0 = j0 + 16 <= len ? j0 + 8 : len - 8;
    }
}

// xt interior (C, pad + h, pad + w) = x of samples n0 .. n0 + nv - 1. The
// border is zeroed once per call and never written.
AVX_INLINE void load_input(float *xt, const float *x, int nv, const dc_conv_shape *s) {
    const int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad;
    const size_t ns = (size_t)s->C * s->H * s->W;
    for (int c = 0; c < s->C; c++)
        for (int h = 0; h < s->H; h++)
            rows_to_lanes(xt + (((size_t)c * Hp + h + s->pad) * Wp + s->pad) * L,
                          x + ((size_t)c * s->H + h) * s->W, ns, nv, s->W);
}

// ----------------------------------------------------------------------------
// Register-block instances. Each *_block below is always_inline and written
// for constant R and S; RS_SWITCH instantiates it for R in 1..6 and S in
// 1..max_s(R), so that the accumulators live in registers.

#define S_CASES_12(RV, MAC)                                                                  \
    switch (S) {                                                                            \
    case 1: MAC(RV, 1) break;  case 2: MAC(RV, 2) break;  case 3: MAC(RV, 3) break;          \
    case 4: MAC(RV, 4) break;  case 5: MAC(RV, 5) break;  case 6: MAC(RV, 6) break;          \
    case 7: MAC(RV, 7) break;  case 8: MAC(RV, 8) break;  case 9: MAC(RV, 9) break;          \
    case 10: MAC(RV, 10) break; case 11: MAC(RV, 11) break; default: MAC(RV, 12) break;     \
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
#define RS_SWITCH(MAC)                                                                       \
    switch (R) {                                                                            \
    case 1: S_CASES_12(1, MAC) break;                                                       \
    case 2: S_CASES_6(2, MAC) break;                                                        \
    case 3: S_CASES_4(3, MAC) break;                                                        \
    case 4: S_CASES_3(4, MAC) break;                                                        \
    case 5: S_CASES_2(5, MAC) break;                                                        \
    default: S_CASES_2(6, MAC) break;                                                       \
    }

// ----------------------------------------------------------------------------
// Forward: nb blocks side by side along a row, each of R output channels x S
// output positions. xp points at xt (0, oh*stride, ow0*stride); xs is the
// step between positions (stride * 8 floats); wt at (tap 0, oc0); out at yt
// (oc0, oh, ow0), ocf floats between its channels.

AVX_INLINE void fwd_block(const int R, const int S, int nb, const float *xp, ptrdiff_t xs,
                          const float *wt0, int OC, int C, int K, ptrdiff_t rowf,
                          ptrdiff_t chf, const float *bias, float *out, ptrdiff_t ocf) {
    for (int bk = 0; bk < nb; bk++, xp += S * xs, out += S * L) {
        __m256 acc[12];
        const float *wt = wt0;
        UNROLL for (int r = 0; r < R; r++) {
            const __m256 b0 = bias ? _mm256_broadcast_ss(bias + r) : _mm256_setzero_ps();
            UNROLL for (int s = 0; s < S; s++) acc[r * S + s] = b0;
        }
        for (int c = 0; c < C; c++) {
            for (int ki = 0; ki < K; ki++) {
                const float *xr = xp + c * chf + ki * rowf;
                for (int kj = 0; kj < K; kj++, wt += OC) {
                    const float *xk = xr + kj * L;
                    if (R >= S) { // S inputs in registers, one broadcast at a time
                        __m256 xv[12];
                        UNROLL for (int s = 0; s < S; s++) xv[s] = _mm256_load_ps(xk + s * xs);
                        UNROLL for (int r = 0; r < R; r++) {
                            const __m256 wv = _mm256_broadcast_ss(wt + r);
                            UNROLL for (int s = 0; s < S; s++)
                                acc[r * S + s] = _mm256_fmadd_ps(wv, xv[s], acc[r * S + s]);
                        }
                    } else { // R weights in registers, one input at a time
                        __m256 wv[12];
                        UNROLL for (int r = 0; r < R; r++) wv[r] = _mm256_broadcast_ss(wt + r);
                        UNROLL for (int s = 0; s < S; s++) {
                            const __m256 xv = _mm256_load_ps(xk + s * xs);
                            UNROLL for (int r = 0; r < R; r++)
                                acc[r * S + s] = _mm256_fmadd_ps(wv[r], xv, acc[r * S + s]);
                        }
                    }
                }
            }
        }
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int s = 0; s < S; s++)
                _mm256_store_ps(out + r * ocf + s * L, acc[r * S + s]);
    }
}

// Stride 1 gets its own instances so the position step is a constant.
#define FWD_CALL(RV, SV)                                                                    \
    if (st1)                                                                                \
        fwd_block(RV, SV, nb, xp, L, wt, OC, C, K, rowf, chf, bias, out, ocf);              \
    else                                                                                    \
        fwd_block(RV, SV, nb, xp, xs, wt, OC, C, K, rowf, chf, bias, out, ocf);

AVX static void fwd_dispatch(int R, int S, int nb, bool st1, const float *xp, ptrdiff_t xs,
                             const float *wt, int OC, int C, int K, ptrdiff_t rowf,
                             ptrdiff_t chf, const float *bias, float *out, ptrdiff_t ocf) {
    RS_SWITCH(FWD_CALL)
}

AVX void dc_conv_lanes_forward(float *y, const float *x, const float *w, const float *b, int N,
                               const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    const int C = s->C, K = s->K, OC = s->OC, OH = s->OH, OW = s->OW, st = s->stride;
    const int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad, CKK = C * K * K;
    float *xt = scratch, *yt = xt + xt_floats(s), *wt = yt + (size_t)OC * OH * OW * L;
    memset(xt, 0, sizeof(float) * xt_floats(s));
    for (int oc = 0; oc < OC; oc++)
        for (int t = 0; t < CKK; t++) wt[(size_t)t * OC + oc] = w[(size_t)oc * CKK + t];
    const ptrdiff_t rowf = (ptrdiff_t)Wp * L, chf = (ptrdiff_t)Hp * Wp * L, xs = (ptrdiff_t)st * L;
    const ptrdiff_t ocf = (ptrdiff_t)OH * OW * L; // yt channel stride
    int R0, S0;
    pick_rs(OC, OW, CKK, &R0, &S0);
    const int nfull = OW / S0, Srem = OW % S0;
    const size_t ys = (size_t)OC * OH * OW; // floats per sample of y
    for (int n0 = 0; n0 < N; n0 += L) {
        const int nv = N - n0 < L ? N - n0 : L;
        load_input(xt, x + (size_t)n0 * C * s->H * s->W, nv, s);
        for (int oh = 0; oh < OH; oh++) {
            const float *xrow = xt + (size_t)oh * st * rowf;
            for (int oc0 = 0; oc0 < OC; oc0 += R0) {
                const int R = OC - oc0 < R0 ? OC - oc0 : R0;
                const float *bias = b ? b + oc0 : NULL;
                float *out = yt + ((size_t)oc0 * OH + oh) * OW * L;
                fwd_dispatch(R, S0, nfull, st == 1, xrow, xs, wt + oc0, OC, C, K, rowf, chf,
                             bias, out, ocf);
                if (Srem)
                    fwd_dispatch(R, Srem, 1, st == 1, xrow + (size_t)nfull * S0 * st * L, xs,
                                 wt + oc0, OC, C, K, rowf, chf, bias,
                                 out + (size_t)nfull * S0 * L, ocf);
            }
        }
        // out channel by channel: each sample's plane is then written front to
        // back, 8 store streams instead of 8 * OC (a row of every channel at a
        // time), which the hardware prefetcher keeps up with
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < OH; oh++)
                lanes_to_rows(y + (size_t)n0 * ys + ((size_t)oc * OH + oh) * OW, ys,
                              yt + ((size_t)oc * OH + oh) * OW * L, nv, OW);
    }
}

// ----------------------------------------------------------------------------
// Weight gradient: a block of R output channels x S taps, summed over every
// output position of the group. dyp points at dyt (oc0, 0, 0), ocf floats
// between its channels; xp[t] at xt (tap origin of tap t); the running sums
// live in dwa (oc0, tap0), accf floats between its channels. The positions
// go in chunks of `chunk` output rows, each summed from zero in registers
// and then added to dwa, so no lane's sum is one long chain of thousands of
// FMAs (whose rounding error would grow with the chain).

AVX_INLINE void dw_block(const int R, const int S, const float *dyp, ptrdiff_t ocf,
                         const float *const *xp, int OH, int OW, int chunk, ptrdiff_t xs,
                         ptrdiff_t rows, float *acc_mem, ptrdiff_t accf) {
    const float *xq[12];
    UNROLL for (int t = 0; t < S; t++) xq[t] = xp[t];
    for (int oh0 = 0; oh0 < OH; oh0 += chunk) {
        const int oh1 = OH - oh0 < chunk ? OH : oh0 + chunk;
        __m256 acc[12];
        UNROLL for (int i = 0; i < R * S; i++) acc[i] = _mm256_setzero_ps();
        for (int oh = oh0; oh < oh1; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                const ptrdiff_t xo = ow * xs;
                if (R >= S) {
                    __m256 xv[12];
                    UNROLL for (int t = 0; t < S; t++) xv[t] = _mm256_load_ps(xq[t] + xo);
                    UNROLL for (int r = 0; r < R; r++) {
                        const __m256 g = _mm256_load_ps(dyp + r * ocf);
                        UNROLL for (int t = 0; t < S; t++)
                            acc[r * S + t] = _mm256_fmadd_ps(g, xv[t], acc[r * S + t]);
                    }
                } else {
                    __m256 g[12];
                    UNROLL for (int r = 0; r < R; r++) g[r] = _mm256_load_ps(dyp + r * ocf);
                    UNROLL for (int t = 0; t < S; t++) {
                        const __m256 xv = _mm256_load_ps(xq[t] + xo);
                        UNROLL for (int r = 0; r < R; r++)
                            acc[r * S + t] = _mm256_fmadd_ps(g[r], xv, acc[r * S + t]);
                    }
                }
                dyp += L;
            }
            UNROLL for (int t = 0; t < S; t++) xq[t] += rows;
        }
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int t = 0; t < S; t++) {
                float *m = acc_mem + r * accf + t * L;
                _mm256_store_ps(m, _mm256_add_ps(_mm256_load_ps(m), acc[r * S + t]));
            }
    }
}

#define DW_CALL(RV, SV)                                                                     \
    if (st1)                                                                                \
        dw_block(RV, SV, dyp, ocf, xp, OH, OW, chunk, L, rows, acc_mem, accf);              \
    else                                                                                    \
        dw_block(RV, SV, dyp, ocf, xp, OH, OW, chunk, xs, rows, acc_mem, accf);

AVX static void dw_dispatch(int R, int S, bool st1, const float *dyp, ptrdiff_t ocf,
                            const float *const *xp, int OH, int OW, int chunk, ptrdiff_t xs,
                            ptrdiff_t rows, float *acc_mem, ptrdiff_t accf) {
    RS_SWITCH(DW_CALL)
}

// ----------------------------------------------------------------------------
// Input gradient: a block of R input channels x S output positions of one
// row, for each tap (ki, kj) in turn: dxt (c0+r, oh*st+ki, (ow0+s)*st+kj) +=
// sum over oc of wd (ki,kj, oc, c0+r) * dyt (oc, oh, ow0+s), the sum formed
// from zero and then added (not chained onto the running total). Distinct
// positions hit distinct dxt entries, so a block can hold them in registers.
// dxp points at dxt (c0, oh*st, ow0*st), chf floats between its channels and
// rowf between its rows; dyp at dyt (0, oh, ow0), ocf floats between its
// channels; wd at (tap 0, oc 0, c0).

AVX_INLINE void dx_block(const int R, const int S, float *dxp, ptrdiff_t chf, ptrdiff_t rowf,
                         ptrdiff_t xs, int K, const float *dyp0, ptrdiff_t ocf, const float *wd,
                         int OC, int C) {
    for (int ki = 0; ki < K; ki++)
        for (int kj = 0; kj < K; kj++) {
            float *dp = dxp + ki * rowf + kj * L;
            const float *dyp = dyp0;
            __m256 acc[12];
            UNROLL for (int i = 0; i < R * S; i++) acc[i] = _mm256_setzero_ps();
            for (int oc = 0; oc < OC; oc++, wd += C, dyp += ocf) {
                if (R >= S) {
                    __m256 g[12];
                    UNROLL for (int s = 0; s < S; s++) g[s] = _mm256_load_ps(dyp + s * L);
                    UNROLL for (int r = 0; r < R; r++) {
                        const __m256 wv = _mm256_broadcast_ss(wd + r);
                        UNROLL for (int s = 0; s < S; s++)
                            acc[r * S + s] = _mm256_fmadd_ps(wv, g[s], acc[r * S + s]);
                    }
                } else {
                    __m256 wv[12];
                    UNROLL for (int r = 0; r < R; r++) wv[r] = _mm256_broadcast_ss(wd + r);
                    UNROLL for (int s = 0; s < S; s++) {
                        const __m256 g = _mm256_load_ps(dyp + s * L);
                        UNROLL for (int r = 0; r < R; r++)
                            acc[r * S + s] = _mm256_fmadd_ps(wv[r], g, acc[r * S + s]);
                    }
                }
            }
            UNROLL for (int r = 0; r < R; r++)
                UNROLL for (int s = 0; s < S; s++) {
                    float *m = dp + r * chf + s * xs;
                    _mm256_store_ps(m, _mm256_add_ps(_mm256_load_ps(m), acc[r * S + s]));
                }
        }
}

#define DX_CALL(RV, SV)                                                                     \
    if (st1)                                                                                \
        dx_block(RV, SV, dxp, chf, rowf, L, K, dyp, ocf, wd, OC, C);                        \
    else                                                                                    \
        dx_block(RV, SV, dxp, chf, rowf, xs, K, dyp, ocf, wd, OC, C);

AVX static void dx_dispatch(int R, int S, bool st1, float *dxp, ptrdiff_t chf, ptrdiff_t rowf,
                            ptrdiff_t xs, int K, const float *dyp, ptrdiff_t ocf,
                            const float *wd, int OC, int C) {
    RS_SWITCH(DX_CALL)
}

// Sum of the 8 lanes by the tree ((0+1)+(2+3))+((4+5)+(6+7)).
static float hsum8(const float *v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// The backward pass proper. With sq (N) set (DP-SGD's norm pass), dw and db
// must be NULL: the lane sums are cleared before each group of eight samples,
// so after the group they hold each sample's own weight (and, when `bias`,
// bias) gradient, whose squared norm is added to sq[n]; nothing is
// accumulated across samples.
AVX static void lanes_backward(float *dx, float *dw, float *db, double *sq, bool bias,
                               const float *dy, const float *x, const float *w, int N,
                               const dc_conv_shape *s, float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    const int C = s->C, H = s->H, W = s->W, K = s->K, OC = s->OC, OH = s->OH, OW = s->OW;
    const int st = s->stride, pad = s->pad, Hp = H + 2 * pad, Wp = W + 2 * pad;
    const int CKK = C * K * K, P = OH * OW;
    const size_t nxt = xt_floats(s);
    float *xt = scratch, *dyt = xt + nxt, *dwa = dyt + (size_t)OC * P * L;
    float *dba = dwa + (size_t)OC * CKK * L, *wd = dba + (size_t)OC * L;
    float *dxt = wd + pad8((size_t)CKK * OC); // only when dx
    memset(xt, 0, sizeof(float) * nxt);
    memset(dwa, 0, sizeof(float) * ((size_t)OC * CKK * L + (size_t)OC * L));
    if (dx)
        for (int kk = 0; kk < K * K; kk++)
            for (int oc = 0; oc < OC; oc++)
                for (int c = 0; c < C; c++)
                    wd[((size_t)kk * OC + oc) * C + c] = w[((size_t)oc * C + c) * K * K + kk];

    const ptrdiff_t rowf = (ptrdiff_t)Wp * L, chf = (ptrdiff_t)Hp * Wp * L, xs = (ptrdiff_t)st * L;
    const ptrdiff_t ocf = (ptrdiff_t)P * L; // dyt channel stride
    int Rw, Sw, Rx, Sx;
    pick_rs(OC, CKK, P, &Rw, &Sw); // dw: oc x taps, P steps
    pick_rs(C, OW, OC * K * K, &Rx, &Sx); // dx: c x positions, OC steps per tap
    const int chunk = (64 + OW - 1) / OW;  // dw: rows per partial sum, >= 64 positions
    const size_t xsz = (size_t)C * H * W, ysz = (size_t)OC * P;

    const bool want_b = db != NULL || (sq && bias);
    for (int n0 = 0; n0 < N; n0 += L) {
        const int nv = N - n0 < L ? N - n0 : L;
        if (sq) memset(dwa, 0, sizeof(float) * ((size_t)OC * CKK * L + (size_t)OC * L));
        load_input(xt, x + (size_t)n0 * xsz, nv, s);
        for (int oc = 0; oc < OC; oc++) // a channel's P outputs are contiguous: one long row
            rows_to_lanes(dyt + (size_t)oc * P * L, dy + (size_t)n0 * ysz + (size_t)oc * P, ysz,
                          nv, P);
        if (want_b)
            for (int oc = 0; oc < OC; oc++) {
                // four running sums (p mod 4) so the adds do not wait on each other
                const float *g = dyt + (size_t)oc * P * L;
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                int p = 0;
                for (; p + 4 <= P; p += 4) {
                    a0 = _mm256_add_ps(a0, _mm256_load_ps(g + (size_t)p * L));
                    a1 = _mm256_add_ps(a1, _mm256_load_ps(g + (size_t)(p + 1) * L));
                    a2 = _mm256_add_ps(a2, _mm256_load_ps(g + (size_t)(p + 2) * L));
                    a3 = _mm256_add_ps(a3, _mm256_load_ps(g + (size_t)(p + 3) * L));
                }
                for (; p < P; p++) a0 = _mm256_add_ps(a0, _mm256_load_ps(g + (size_t)p * L));
                const __m256 sum = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
                _mm256_store_ps(dba + oc * L, _mm256_add_ps(_mm256_load_ps(dba + oc * L), sum));
            }
        // dw: for each block of taps, the tap origins in xt
        for (int t0 = 0; t0 < CKK; t0 += Sw) {
            const int S = CKK - t0 < Sw ? CKK - t0 : Sw;
            const float *xp[12];
            for (int t = 0; t < S; t++) {
                const int tap = t0 + t, c = tap / (K * K), ki = tap / K % K, kj = tap % K;
                xp[t] = xt + c * chf + ki * rowf + kj * L;
            }
            for (int oc0 = 0; oc0 < OC; oc0 += Rw) {
                const int R = OC - oc0 < Rw ? OC - oc0 : Rw;
                dw_dispatch(R, S, st == 1, dyt + (size_t)oc0 * P * L, ocf, xp, OH, OW, chunk, xs,
                            (ptrdiff_t)st * rowf, dwa + ((size_t)oc0 * CKK + t0) * L,
                            (ptrdiff_t)CKK * L);
            }
        }
        if (sq) // this group's lanes hold each sample's own gradient
            for (int v = 0; v < nv; v++) {
                double a = 0;
                for (size_t i = 0; i < (size_t)OC * CKK; i++) a += (double)dwa[i * L + v] * dwa[i * L + v];
                if (bias)
                    for (int oc = 0; oc < OC; oc++) a += (double)dba[(size_t)oc * L + v] * dba[(size_t)oc * L + v];
                sq[n0 + v] += a;
            }
        if (!dx) continue;
        memset(dxt, 0, sizeof(float) * nxt);
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += Sx) {
                const int S = OW - ow0 < Sx ? OW - ow0 : Sx;
                const float *dyp = dyt + ((size_t)oh * OW + ow0) * L;
                for (int c0 = 0; c0 < C; c0 += Rx) {
                    const int R = C - c0 < Rx ? C - c0 : Rx;
                    float *dxp = dxt + c0 * chf + oh * st * rowf + (ptrdiff_t)ow0 * st * L;
                    dx_dispatch(R, S, st == 1, dxp, chf, rowf, xs, K, dyp, ocf, wd + c0, OC, C);
                }
            }
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                lanes_to_rows(dx + (size_t)n0 * xsz + ((size_t)c * H + h) * W, xsz,
                              dxt + (((size_t)c * Hp + h + pad) * Wp + pad) * L, nv, W);
    }
    if (dw)
        for (size_t i = 0; i < (size_t)OC * CKK; i++) dw[i] += hsum8(dwa + i * L);
    if (db)
        for (int oc = 0; oc < OC; oc++) db[oc] += hsum8(dba + (size_t)oc * L);
}

AVX void dc_conv_lanes_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int N, const dc_conv_shape *s, float *scratch) {
    lanes_backward(dx, dw, db, NULL, false, dy, x, w, N, s, scratch);
}

AVX void dc_conv_lanes_sample_sqnorm(float *dx, double *sq, bool bias, const float *dy, const float *x,
                                 const float *w, int N, const dc_conv_shape *s, float *scratch) {
    lanes_backward(dx, NULL, NULL, sq, bias, dy, x, w, N, s, scratch);
}
