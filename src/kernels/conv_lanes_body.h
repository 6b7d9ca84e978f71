// conv_lanes_body.h — direct convolution with VW samples in the VW lanes of a
// vector ("sample lanes"), forward and backward, written once for both vector
// widths: conv_lanes.c compiles it for AVX2+FMA (VW = 8, 16 ymm registers),
// conv_lanes_avx512.c for AVX-512F (VW = 16, 32 zmm registers). See
// conv_vec.h for the width macros.
//
// Why lanes: small-network convolutions have widths of 28, 14, 10, 7 and 5,
// which waste a large part of every vector when a kernel vectorises along
// the image row, and im2col + GEMM pays for writing and re-reading a column
// matrix K*K times the input. With one sample per lane every tap of every
// output is a full-width FMA for any shape, stride and padding; the price is
// a transpose of each input and output tensor, which is cheap next to the
// K*K*C (or K*K*OC) FMAs each value takes part in.
//
// Layouts inside a group of VW samples (lane n = sample n0 + n; lanes past
// the end of the batch hold zeros and are never stored):
//   xt  (C, Hp, Wp, VW)   input, zero padded: Hp = H + 2 pad, Wp = W + 2 pad
//   yt  (OC, OH, OW, VW)  output, before it is transposed out
//   dyt (OC, OH, OW, VW)  output gradient
//   dxt (C, Hp, Wp, VW)   input gradient, padded (the border is discarded)
//   dwa (OC, CKK, VW)     weight-gradient lane sums, over every group
//   dba (OC, VW)          bias-gradient lane sums
// and the weights rearranged once per call so that the scalars a register
// block broadcasts are adjacent: wt (CKK, OC) for forward and dw, wd (K*K,
// OC, C) for dx.
//
// Register blocks: every kernel keeps R x S accumulators (R*S <= 12 of the 16
// ymm registers, <= 24 of the 32 zmm), R along the dimension whose scalars
// are broadcast (output channels, or input channels for dx) and S along the
// one that is loaded (output positions, or taps for dw). R and S are
// compile-time constants in each instance (see RS_SWITCH), chosen per call
// by pick_rs() from a small cost model. The R x S loops carry `#pragma GCC
// unroll`: without it GCC keeps the accumulator array in memory and stores
// it on every step.
//
// Determinism and accuracy: every output lane is computed by a fixed
// sequence that depends only on the shape and N, never on the lane, so a
// sample's y does not depend on the other samples in its batch.
//   y:  acc = b (or 0), then acc = fma(w, x, acc) over taps in (c, ki, kj)
//       order (then max(0, .) when the fused ReLU is asked for).
//   dw: per lane and register block, fma from zero over a chunk of >= 64
//       output positions in (oh, ow) order, added to the running lane sum
//       (groups in order, chunks in order); at the end the VW lanes are
//       summed by a fixed tree (conv_vec.h) and added to dw. db likewise
//       with four interleaved running sums per group.
//   dx: for each output position (oh, ow) in order and each tap (ki, kj), the
//       sum over oc is formed from zero by fma and added to dx.
// Short chains onto a running total keep the rounding error near that of a
// blocked GEMM; a single FMA chain over the thousands of positions of a
// batch measured 4x worse against a float64 reference. The two widths sum
// the lanes of dw and db in different trees, so their dw bits differ (each
// is deterministic); y and dx are the same bits at both widths.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/conv_vec.h"

// Floats in one padded lane-major input image (C, Hp, Wp, VW).
static size_t VN(xt_floats)(const dc_conv_shape *s) {
    return (size_t)s->C * (s->H + 2 * s->pad) * (s->W + 2 * s->pad) * VW;
}

// A plane of VW-lane vectors: the staging area of plane_to_lanes for rows
// narrower than 8.
static size_t VN(tmp_floats)(const dc_conv_shape *s) { return (size_t)s->H * s->W * VW; }

static size_t VN(lanes_forward_floats)(const dc_conv_shape *s) {
    const size_t ckk = (size_t)s->C * s->K * s->K;
    // xt, yt, wt (CKK, OC), tmp
    return VN(xt_floats)(s) + (size_t)s->OC * s->OH * s->OW * VW + VN(pad16)(ckk * s->OC) +
           VN(tmp_floats)(s);
}

// want_w: the weight-gradient lane sums (and, for DP-SGD's norms, the
// per-sample sums) are wanted; a data-only call needs no room for them.
static size_t VN(lanes_backward_floats)(const dc_conv_shape *s, bool want_dx, bool want_w) {
    const size_t ckk = (size_t)s->C * s->K * s->K;
    size_t n = VN(xt_floats)(s) + (size_t)s->OC * s->OH * s->OW * VW;         // xt, dyt
    if (want_w) n += (size_t)s->OC * ckk * VW + (size_t)s->OC * VW;           // dwa, dba
    if (want_dx) n += VN(pad16)(ckk * s->OC) + VN(xt_floats)(s);              // wd, dxt
    return n + VN(tmp_floats)(s);
}

// xt interior (C, pad + h, pad + w) = x of samples n0 .. n0 + nv - 1. The
// border is zeroed once per call and never written.
VEC_INLINE void VN(load_input)(float *xt, const float *x, int nv, const dc_conv_shape *s,
                               float *tmp) {
    const int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad;
    const size_t ns = (size_t)s->C * s->H * s->W;
    for (int c = 0; c < s->C; c++)
        VN(plane_to_lanes)(xt + (((size_t)c * Hp + s->pad) * Wp + s->pad) * VW,
                           (ptrdiff_t)Wp * VW, x + (size_t)c * s->H * s->W, ns, nv, s->H, s->W,
                           tmp);
}

// ----------------------------------------------------------------------------
// Forward: nb blocks side by side along a row, each of R output channels x S
// output positions. xp points at xt (0, oh*stride, ow0*stride); xs is the
// step between positions (stride * VW floats); wt at (tap 0, oc0); out at yt
// (oc0, oh, ow0), ocf floats between its channels. (Measured on LeNet-5's
// conv1 with AVX2: this order, a channel block sweeping a whole row, and the
// plain c/ki/kj loops beat positions-outer orders and a flat tap table by
// 3-15%; with AVX-512 they were within noise.)

VEC_INLINE void VN(fwd_block)(const int R, const int S, int nb, const float *xp, ptrdiff_t xs,
                              const float *wt0, int OC, int C, int K, ptrdiff_t rowf,
                              ptrdiff_t chf, const float *bias, bool relu, float *out,
                              ptrdiff_t ocf) {
    for (int bk = 0; bk < nb; bk++, xp += S * xs, out += S * VW) {
        vf acc[LMAX_RS];
        const float *wt = wt0;
        UNROLL for (int r = 0; r < R; r++) {
            const vf b0 = bias ? V_BCAST(bias + r) : V_ZERO();
            UNROLL for (int s = 0; s < S; s++) acc[r * S + s] = b0;
        }
        for (int c = 0; c < C; c++) {
            for (int ki = 0; ki < K; ki++) {
                const float *xr = xp + c * chf + ki * rowf;
                for (int kj = 0; kj < K; kj++, wt += OC) {
                    const float *xk = xr + kj * VW;
                    if (R >= S) { // S inputs in registers, one broadcast at a time
                        vf xv[LMAX_RS];
                        UNROLL for (int s = 0; s < S; s++) {
                            xv[s] = V_LOAD(xk + s * xs);
                            V_KEEP(xv[s]);
                        }
                        UNROLL for (int r = 0; r < R; r++) {
                            const vf wv = V_BCAST(wt + r);
                            UNROLL for (int s = 0; s < S; s++)
                                acc[r * S + s] = V_FMA(wv, xv[s], acc[r * S + s]);
                        }
                    } else { // R weights in registers, one input at a time
                        vf wv[LMAX_RS];
                        UNROLL for (int r = 0; r < R; r++) wv[r] = V_BCAST(wt + r);
                        UNROLL for (int s = 0; s < S; s++) {
                            vf xv = V_LOAD(xk + s * xs);
                            V_KEEP(xv);
                            UNROLL for (int r = 0; r < R; r++)
                                acc[r * S + s] = V_FMA(wv[r], xv, acc[r * S + s]);
                        }
                    }
                }
            }
        }
        if (relu)
            UNROLL for (int i = 0; i < R * S; i++) acc[i] = V_RELU(acc[i]);
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int s = 0; s < S; s++) V_STORE(out + r * ocf + s * VW, acc[r * S + s]);
    }
}

// Stride 1 gets its own instances so the position step is a constant.
#define FWD_CALL(RV, SV)                                                                    \
    if (st1)                                                                                \
        VN(fwd_block)(RV, SV, nb, xp, VW, wt, OC, C, K, rowf, chf, bias, relu, out, ocf);   \
    else                                                                                    \
        VN(fwd_block)(RV, SV, nb, xp, xs, wt, OC, C, K, rowf, chf, bias, relu, out, ocf);

static void VN(fwd_dispatch)(int R, int S, int nb, bool st1, const float *xp, ptrdiff_t xs,
                             const float *wt, int OC, int C, int K, ptrdiff_t rowf,
                             ptrdiff_t chf, const float *bias, bool relu, float *out,
                             ptrdiff_t ocf) {
    RS_SWITCH(FWD_CALL)
}

static void VN(lanes_forward)(float *y, const float *x, const float *w, const float *b,
                              bool relu, int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    const int C = s->C, K = s->K, OC = s->OC, OH = s->OH, OW = s->OW, st = s->stride;
    const int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad, CKK = C * K * K;
    float *xt = scratch, *yt = xt + VN(xt_floats)(s), *wt = yt + (size_t)OC * OH * OW * VW;
    float *tmp = wt + VN(pad16)((size_t)CKK * OC);
    memset(xt, 0, sizeof(float) * VN(xt_floats)(s));
    for (int oc = 0; oc < OC; oc++)
        for (int t = 0; t < CKK; t++) wt[(size_t)t * OC + oc] = w[(size_t)oc * CKK + t];
    const ptrdiff_t rowf = (ptrdiff_t)Wp * VW, chf = (ptrdiff_t)Hp * Wp * VW;
    const ptrdiff_t xs = (ptrdiff_t)st * VW;
    const ptrdiff_t ocf = (ptrdiff_t)OH * OW * VW; // yt channel stride
    int R0, S0;
    VN(pick_rs)(OC, OW, CKK, &R0, &S0);
    const int nfull = OW / S0, Srem = OW % S0;
    const size_t ys = (size_t)OC * OH * OW; // floats per sample of y
    for (int n0 = 0; n0 < N; n0 += VW) {
        const int nv = N - n0 < VW ? N - n0 : VW;
        VN(load_input)(xt, x + (size_t)n0 * C * s->H * s->W, nv, s, tmp);
        for (int oh = 0; oh < OH; oh++) {
            const float *xrow = xt + (size_t)oh * st * rowf;
            for (int oc0 = 0; oc0 < OC; oc0 += R0) {
                const int R = OC - oc0 < R0 ? OC - oc0 : R0;
                const float *bias = b ? b + oc0 : NULL;
                float *out = yt + ((size_t)oc0 * OH + oh) * OW * VW;
                VN(fwd_dispatch)(R, S0, nfull, st == 1, xrow, xs, wt + oc0, OC, C, K, rowf, chf,
                                 bias, relu, out, ocf);
                if (Srem)
                    VN(fwd_dispatch)(R, Srem, 1, st == 1, xrow + (size_t)nfull * S0 * st * VW,
                                     xs, wt + oc0, OC, C, K, rowf, chf, bias, relu,
                                     out + (size_t)nfull * S0 * VW, ocf);
            }
        }
        // out channel by channel (rows narrower than 8 as one long row): each
        // sample's plane is written front to back, VW store streams instead
        // of VW * OC (a row of every channel at a time), which the prefetcher
        // keeps up with
        for (int oc = 0; oc < OC; oc++)
            VN(lanes_to_plane)(y + (size_t)n0 * ys + (size_t)oc * OH * OW, ys,
                               yt + (size_t)oc * OH * OW * VW, (ptrdiff_t)OW * VW, nv, OH, OW,
                               tmp);
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

VEC_INLINE void VN(dw_block)(const int R, const int S, const float *dyp, ptrdiff_t ocf,
                             const float *const *xp, int OH, int OW, int chunk, ptrdiff_t xs,
                             ptrdiff_t rows, float *acc_mem, ptrdiff_t accf) {
    const float *xq[12];
    UNROLL for (int t = 0; t < S; t++) xq[t] = xp[t];
    for (int oh0 = 0; oh0 < OH; oh0 += chunk) {
        const int oh1 = OH - oh0 < chunk ? OH : oh0 + chunk;
        vf acc[LMAX_RS];
        UNROLL for (int i = 0; i < R * S; i++) acc[i] = V_ZERO();
        for (int oh = oh0; oh < oh1; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                const ptrdiff_t xo = ow * xs;
                if (R >= S) {
                    vf xv[LMAX_RS];
                    UNROLL for (int t = 0; t < S; t++) {
                        xv[t] = V_LOAD(xq[t] + xo);
                        V_KEEP(xv[t]);
                    }
                    UNROLL for (int r = 0; r < R; r++) {
                        vf g = V_LOAD(dyp + r * ocf);
                        V_KEEP(g);
                        UNROLL for (int t = 0; t < S; t++)
                            acc[r * S + t] = V_FMA(g, xv[t], acc[r * S + t]);
                    }
                } else {
                    vf g[LMAX_RS];
                    UNROLL for (int r = 0; r < R; r++) {
                        g[r] = V_LOAD(dyp + r * ocf);
                        V_KEEP(g[r]);
                    }
                    UNROLL for (int t = 0; t < S; t++) {
                        vf xv = V_LOAD(xq[t] + xo);
                        V_KEEP(xv);
                        UNROLL for (int r = 0; r < R; r++)
                            acc[r * S + t] = V_FMA(g[r], xv, acc[r * S + t]);
                    }
                }
                dyp += VW;
            }
            UNROLL for (int t = 0; t < S; t++) xq[t] += rows;
        }
        UNROLL for (int r = 0; r < R; r++)
            UNROLL for (int t = 0; t < S; t++) {
                float *m = acc_mem + r * accf + t * VW;
                V_STORE(m, V_ADD(V_LOAD(m), acc[r * S + t]));
            }
    }
}

#define DW_CALL(RV, SV)                                                                     \
    if (st1)                                                                                \
        VN(dw_block)(RV, SV, dyp, ocf, xp, OH, OW, chunk, VW, rows, acc_mem, accf);         \
    else                                                                                    \
        VN(dw_block)(RV, SV, dyp, ocf, xp, OH, OW, chunk, xs, rows, acc_mem, accf);

static void VN(dw_dispatch)(int R, int S, bool st1, const float *dyp, ptrdiff_t ocf,
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

VEC_INLINE void VN(dx_block)(const int R, const int S, float *dxp, ptrdiff_t chf,
                             ptrdiff_t rowf, ptrdiff_t xs, int K, const float *dyp0,
                             ptrdiff_t ocf, const float *wd, int OC, int C) {
    for (int ki = 0; ki < K; ki++)
        for (int kj = 0; kj < K; kj++) {
            float *dp = dxp + ki * rowf + kj * VW;
            const float *dyp = dyp0;
            vf acc[LMAX_RS];
            UNROLL for (int i = 0; i < R * S; i++) acc[i] = V_ZERO();
            for (int oc = 0; oc < OC; oc++, wd += C, dyp += ocf) {
                if (R >= S) {
                    vf g[LMAX_RS];
                    UNROLL for (int s = 0; s < S; s++) {
                        g[s] = V_LOAD(dyp + s * VW);
                        V_KEEP(g[s]);
                    }
                    UNROLL for (int r = 0; r < R; r++) {
                        const vf wv = V_BCAST(wd + r);
                        UNROLL for (int s = 0; s < S; s++)
                            acc[r * S + s] = V_FMA(wv, g[s], acc[r * S + s]);
                    }
                } else {
                    vf wv[LMAX_RS];
                    UNROLL for (int r = 0; r < R; r++) wv[r] = V_BCAST(wd + r);
                    UNROLL for (int s = 0; s < S; s++) {
                        vf g = V_LOAD(dyp + s * VW);
                        V_KEEP(g);
                        UNROLL for (int r = 0; r < R; r++)
                            acc[r * S + s] = V_FMA(wv[r], g, acc[r * S + s]);
                    }
                }
            }
            UNROLL for (int r = 0; r < R; r++)
                UNROLL for (int s = 0; s < S; s++) {
                    float *m = dp + r * chf + s * xs;
                    V_STORE(m, V_ADD(V_LOAD(m), acc[r * S + s]));
                }
        }
}

#define DX_CALL(RV, SV)                                                                     \
    if (st1)                                                                                \
        VN(dx_block)(RV, SV, dxp, chf, rowf, VW, K, dyp, ocf, wd, OC, C);                   \
    else                                                                                    \
        VN(dx_block)(RV, SV, dxp, chf, rowf, xs, K, dyp, ocf, wd, OC, C);

static void VN(dx_dispatch)(int R, int S, bool st1, float *dxp, ptrdiff_t chf, ptrdiff_t rowf,
                            ptrdiff_t xs, int K, const float *dyp, ptrdiff_t ocf,
                            const float *wd, int OC, int C) {
    RS_SWITCH(DX_CALL)
}

// The backward pass proper. With sq (N) set (DP-SGD's norm pass), dw and db
// must be NULL: the lane sums are cleared before each group of VW samples,
// so after the group they hold each sample's own weight (and, when `bias`,
// bias) gradient, whose squared norm is added to sq[n]; nothing is
// accumulated across samples.
static void VN(lanes_backward)(float *dx, float *dw, float *db, double *sq, bool bias,
                               const float *dy, const float *x, const float *w, int N,
                               const dc_conv_shape *s, float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    const int C = s->C, H = s->H, W = s->W, K = s->K, OC = s->OC, OH = s->OH, OW = s->OW;
    const int st = s->stride, pad = s->pad, Hp = H + 2 * pad, Wp = W + 2 * pad;
    const int CKK = C * K * K, P = OH * OW;
    const size_t nxt = VN(xt_floats)(s);
    const bool want_w = dw != NULL || db != NULL || sq != NULL;
    // scratch: xt, dyt, then dwa, dba (only when want_w), wd, dxt (only with
    // dx), tmp; as lanes_backward_floats(s, dx != NULL, want_w) counts them
    float *xt = scratch, *dyt = xt + nxt, *dwa = dyt + (size_t)OC * P * VW;
    float *dba = dwa + (size_t)OC * CKK * VW;
    float *wd = want_w ? dba + (size_t)OC * VW : dwa;
    float *dxt = wd + VN(pad16)((size_t)CKK * OC);
    float *tmp = dx ? dxt + nxt : wd;
    if (want_w) {
        memset(xt, 0, sizeof(float) * nxt);
        memset(dwa, 0, sizeof(float) * ((size_t)OC * CKK * VW + (size_t)OC * VW));
    }
    if (dx)
        for (int kk = 0; kk < K * K; kk++)
            for (int oc = 0; oc < OC; oc++)
                for (int c = 0; c < C; c++)
                    wd[((size_t)kk * OC + oc) * C + c] = w[((size_t)oc * C + c) * K * K + kk];

    const ptrdiff_t rowf = (ptrdiff_t)Wp * VW, chf = (ptrdiff_t)Hp * Wp * VW;
    const ptrdiff_t xs = (ptrdiff_t)st * VW;
    const ptrdiff_t ocf = (ptrdiff_t)P * VW; // dyt channel stride
    int Rw = 1, Sw = 1, Rx = 1, Sx = 1;
    VN(pick_rs)(OC, CKK, P, &Rw, &Sw);         // dw: oc x taps, P steps
    VN(pick_rs)(C, OW, OC * K * K, &Rx, &Sx); // dx: c x positions, OC steps per tap
    const int chunk = (64 + OW - 1) / OW;      // dw: rows per partial sum, >= 64 positions
    // dw: channels per super-block, a multiple of Rw with dy within 24 KiB
    int OB = (int)((size_t)24 * 1024 / ((size_t)P * VW * sizeof(float))) / Rw * Rw;
    if (OB < Rw) OB = Rw;
    const size_t xsz = (size_t)C * H * W, ysz = (size_t)OC * P;

    const bool want_b = db != NULL || (sq && bias);
    for (int n0 = 0; n0 < N; n0 += VW) {
        const int nv = N - n0 < VW ? N - n0 : VW;
        if (sq) memset(dwa, 0, sizeof(float) * ((size_t)OC * CKK * VW + (size_t)OC * VW));
        for (int oc = 0; oc < OC; oc++) // a channel's P outputs are contiguous: one long row
            VN(rows_to_lanes)(dyt + (size_t)oc * P * VW, dy + (size_t)n0 * ysz + (size_t)oc * P,
                              ysz, nv, P);
        if (want_w) VN(load_input)(xt, x + (size_t)n0 * xsz, nv, s, tmp);
        if (want_b)
            for (int oc = 0; oc < OC; oc++) {
                // four running sums (p mod 4) so the adds do not wait on each other
                const float *g = dyt + (size_t)oc * P * VW;
                vf a0 = V_ZERO(), a1 = a0, a2 = a0, a3 = a0;
                int p = 0;
                for (; p + 4 <= P; p += 4) {
                    a0 = V_ADD(a0, V_LOAD(g + (size_t)p * VW));
                    a1 = V_ADD(a1, V_LOAD(g + (size_t)(p + 1) * VW));
                    a2 = V_ADD(a2, V_LOAD(g + (size_t)(p + 2) * VW));
                    a3 = V_ADD(a3, V_LOAD(g + (size_t)(p + 3) * VW));
                }
                for (; p < P; p++) a0 = V_ADD(a0, V_LOAD(g + (size_t)p * VW));
                const vf sum = V_ADD(V_ADD(a0, a1), V_ADD(a2, a3));
                V_STORE(dba + oc * VW, V_ADD(V_LOAD(dba + oc * VW), sum));
            }
        // dw: output channels in super-blocks of OB whose dy (OB*P vectors) stays
        // in L1 while every block of taps passes over it; for each block of
        // taps, the tap origins in xt. (64->64 at 7x7: taps outer over all
        // channels streamed dy from L2 once per tap block, 38 MB a group.) The
        // order of the blocks does not change any sum.
        if (want_w)
            for (int ob0 = 0; ob0 < OC; ob0 += OB) {
                const int ob1 = OC - ob0 < OB ? OC : ob0 + OB;
                for (int t0 = 0; t0 < CKK; t0 += Sw) {
                    const int S = CKK - t0 < Sw ? CKK - t0 : Sw;
                    const float *xp[12];
                    for (int t = 0; t < S; t++) {
                        const int tap = t0 + t, c = tap / (K * K), ki = tap / K % K, kj = tap % K;
                        xp[t] = xt + c * chf + ki * rowf + kj * VW;
                    }
                    for (int oc0 = ob0; oc0 < ob1; oc0 += Rw) {
                        const int R = ob1 - oc0 < Rw ? ob1 - oc0 : Rw;
                        VN(dw_dispatch)(R, S, st == 1, dyt + (size_t)oc0 * P * VW, ocf, xp, OH,
                                        OW, chunk, xs, (ptrdiff_t)st * rowf,
                                        dwa + ((size_t)oc0 * CKK + t0) * VW,
                                        (ptrdiff_t)CKK * VW);
                    }
                }
            }
        if (sq) // this group's lanes hold each sample's own gradient
            for (int v = 0; v < nv; v++) {
                double a = 0;
                for (size_t i = 0; i < (size_t)OC * CKK; i++)
                    a += (double)dwa[i * VW + v] * dwa[i * VW + v];
                if (bias)
                    for (int oc = 0; oc < OC; oc++)
                        a += (double)dba[(size_t)oc * VW + v] * dba[(size_t)oc * VW + v];
                sq[n0 + v] += a;
            }
        if (!dx) continue;
        memset(dxt, 0, sizeof(float) * nxt);
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += Sx) {
                const int S = OW - ow0 < Sx ? OW - ow0 : Sx;
                const float *dyp = dyt + ((size_t)oh * OW + ow0) * VW;
                for (int c0 = 0; c0 < C; c0 += Rx) {
                    const int R = C - c0 < Rx ? C - c0 : Rx;
                    float *dxp = dxt + c0 * chf + oh * st * rowf + (ptrdiff_t)ow0 * st * VW;
                    VN(dx_dispatch)(R, S, st == 1, dxp, chf, rowf, xs, K, dyp, ocf, wd + c0, OC,
                                    C);
                }
            }
        for (int c = 0; c < C; c++)
            VN(lanes_to_plane)(dx + (size_t)n0 * xsz + (size_t)c * H * W, xsz,
                               dxt + (((size_t)c * Hp + pad) * Wp + pad) * VW, (ptrdiff_t)Wp * VW,
                               nv, H, W, tmp);
    }
    if (dw)
        for (size_t i = 0; i < (size_t)OC * CKK; i++) dw[i] += VN(hsum)(dwa + i * VW);
    if (db)
        for (int oc = 0; oc < OC; oc++) db[oc] += VN(hsum)(dba + (size_t)oc * VW);
}
