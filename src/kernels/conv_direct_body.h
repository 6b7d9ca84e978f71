// conv_direct_body.h — the small-batch direct convolution forward, written
// once for both vector widths (conv_vec.h): conv_direct.c compiles it for
// AVX2+FMA (8 floats per ymm, dc_conv_direct_*), conv_direct_avx512.c for
// AVX-512F (16 per zmm, dc_conv_direct16_*). What it does and why is said at
// the top of conv_direct.c; VW below is the number of lanes (8 or 16).
//
// Layout of the padded input in scratch: (C, Hp, S, Wq) where S is the stride
// and Hp = H + 2 pad. Column j of padded row r is stored at phase j % S,
// index j / S, so output columns ow..ow+VW-1 of tap kj read the contiguous
// floats [ow + kj/S, ow + kj/S + VW) of phase kj % S, for any stride. Wq
// leaves room for the last (partial) vector of a row to read without leaving
// the row; its extra lanes compute garbage that is never stored. The padding
// is zeroed on every call (the scratch contents on entry do not matter).
// After the padded input come CKK int32 tap offsets (c, ki, kj) -> offset.
//
// Two ways to fill the vectors, picked by which wastes fewer lanes:
//  - rows: a vector holds VW output columns of one output channel. Register
//    block of up to OB output channels x VB output vectors; an output vector
//    is (oh, ow0) and the vectors of the image are taken in row-major order,
//    so a block may span two output rows.
//  - channels: a vector holds VW output channels at one output position (for
//    narrow rows such as LeNet's conv2, 10 wide, or resnet20's last stage, 7
//    wide). Weights are repacked to (CKK, OCp), OCp = OC rounded up to VW,
//    each input value is broadcast; register block of CB channel vectors x PB
//    positions. The outputs go to a (P, OCp) buffer in scratch and are
//    transposed into y.
//
// Summation order, fixed by the shape alone: each output is one FMA chain
// from 0 over the taps in (c, ki, kj) order, then the bias is added. Both
// ways and both widths do exactly this, so they give the same bits; results
// are the same whatever N, the batch contents, the width or the run.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernels/conv_vec.h"

// Register blocks (they only group independent FMA chains: never a result's
// bits). ymm: 16 registers, 12 accumulators; zmm: 32 registers, 24.
#if DC_VW == 8
#define DIR_VB 3
#define DIR_OB 4
#define DIR_CB 2
#define DIR_PB 6
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU_D(p, v) _mm256_storeu_ps(p, v)
#else
#define DIR_VB 3
#define DIR_OB 8
#define DIR_CB 2
#define DIR_PB 12
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU_D(p, v) _mm512_storeu_ps(p, v)
#endif

// Full unrolling of the block loops keeps the accumulators in registers at
// -O2 as well as -O3 (at -O2 GCC left them in memory: 2x slower).
#define DIR_UNROLL _Pragma("GCC unroll 16")

static int VN(dir_roundv)(int n) { return (n + VW - 1) & ~(VW - 1); }

// Floats per phase row of the padded input: the whole padded width, and at
// least what the last vector of an output row reads at the last kj.
static int VN(dir_wq)(const dc_conv_shape *s) {
    const int S = s->stride, Wp = s->W + 2 * s->pad;
    int wq = (Wp + S - 1) / S;
    const int need = VN(dir_roundv)(s->OW) + (s->K - 1) / S;
    return VN(dir_roundv)(wq > need ? wq : need);
}

static size_t VN(dir_xq_floats)(const dc_conv_shape *s) {
    return (size_t)s->C * (s->H + 2 * s->pad) * s->stride * VN(dir_wq)(s);
}

// True when VW channels per vector waste fewer lanes than VW columns. The
// 16-lane build keeps rows that fill at least 3/4 of their lanes: there the
// channels way's broadcasts and output transpose cost more than the lanes
// it saves (resnet20 at batch 1, 28x28 and 14x14 layers by rows: 9% more
// images/s than by channels; 7x7 stays by channels).
static bool VN(dir_by_channels)(const dc_conv_shape *s) {
    const int ow_v = VN(dir_roundv)(s->OW);
    if (VW == 16 && 4 * s->OW >= 3 * ow_v) return false;
    // OC / roundv(OC) > OW / roundv(OW), cross-multiplied
    return (long)s->OC * ow_v > (long)s->OW * VN(dir_roundv)(s->OC);
}

static size_t VN(dir_forward_floats)(const dc_conv_shape *s) {
    // padded input, then CKK int32 tap offsets (rounded to VW to keep every
    // part a multiple of VW floats); by channels also the packed weights
    // (CKK, OCp) and the outputs (P, OCp)
    const size_t ckk = (size_t)s->C * s->K * s->K, ocp = (size_t)VN(dir_roundv)(s->OC);
    size_t n = VN(dir_xq_floats)(s) + (size_t)VN(dir_roundv)((int)ckk);
    if (VN(dir_by_channels)(s)) n += ckk * ocp + (size_t)s->OH * s->OW * ocp;
    return n;
}

// Pads sample x (C,H,W) into xq (C,Hp,S,Wq), zeros around and after it.
static void VN(dir_pad_input)(float *xq, const float *x, const dc_conv_shape *s, int wq) {
    const int C = s->C, H = s->H, W = s->W, S = s->stride, pad = s->pad;
    const int Hp = H + 2 * pad;
    if (S == 1) { // each float written once: zeros around each row and above and below the image
        for (int c = 0; c < C; c++) {
            float *plane = xq + (size_t)c * Hp * wq;
            memset(plane, 0, sizeof(float) * (size_t)pad * wq);
            memset(plane + (size_t)(pad + H) * wq, 0, sizeof(float) * (size_t)pad * wq);
            for (int ih = 0; ih < H; ih++) {
                float *row = plane + (size_t)(ih + pad) * wq;
                memset(row, 0, sizeof(float) * (size_t)pad);
                memcpy(row + pad, x + ((size_t)c * H + ih) * W, sizeof(float) * W);
                memset(row + pad + W, 0, sizeof(float) * (size_t)(wq - pad - W));
            }
        }
        return;
    }
    if (S == 2) { // whole vectors: padded columns j0 .. j0 + 2 VW - 1 split into even and odd
        const size_t rs = (size_t)2 * wq; // floats per padded row (2 phases)
        for (int c = 0; c < C; c++) {
            float *plane = xq + (size_t)c * Hp * rs;
            memset(plane, 0, sizeof(float) * (size_t)pad * rs);
            memset(plane + (size_t)(pad + H) * rs, 0, sizeof(float) * (size_t)pad * rs);
            for (int ih = 0; ih < H; ih++) {
                const float *src = x + ((size_t)c * H + ih) * W;
                float *row = plane + (size_t)(ih + pad) * rs;
                for (int j0 = 0; j0 < 2 * wq; j0 += 2 * VW) {
                    vf h[2];
                    for (int k = 0; k < 2; k++) {
                        // lanes [a, e) of this vector hold image columns j - pad
                        const int j = j0 + k * VW, a = pad > j ? pad - j : 0;
                        const int e = pad + W - j < VW ? pad + W - j : VW;
                        h[k] = e > a ? VN(load_at)(src + (j + a - pad), a, e - a) : V_ZERO();
                    }
                    vf ev, od;
                    VN(split2r)(h[0], h[1], &ev, &od);
                    V_STOREU_D(row + j0 / 2, ev);
                    V_STOREU_D(row + wq + j0 / 2, od);
                }
            }
        }
        return;
    }
    memset(xq, 0, sizeof(float) * VN(dir_xq_floats)(s));
    for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++) {
            const float *src = x + ((size_t)c * H + ih) * W;
            float *row = xq + ((size_t)c * Hp + ih + pad) * S * wq;
            // padded column j = iw + pad goes to phase j % S, index j / S,
            // both stepped rather than divided (a division per value was
            // most of a stride-2 layer's time at batch 1)
            int ph = pad % S, at = pad / S;
            for (int iw = 0; iw < W; iw++) {
                row[(size_t)ph * wq + at] = src[iw];
                if (++ph == S) ph = 0, at++;
            }
        }
}

// dc_relu_inplace's formula on 8 lanes: x where x > 0 or NaN, else +0.
VEC_INLINE __m256 VN(dir_relu8)(__m256 v) {
    return _mm256_and_ps(v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ));
}
static float VN(dir_relu1)(float x) { return x > 0.0f ? x : (x != x ? x : 0.0f); }

// dst[i * ldd + j] = src[j * lds + i] (+ add[i] when add is not NULL, then
// the ReLU when relu) for i < cols, j < rows: a (rows, cols) matrix
// transposed. 8x8 blocks through registers (a scalar strided copy took a
// fifth of the kernel's time on resnet20's 28x28 layers), the edges one
// value at a time. Only copies, one rounded add per value and the ReLU's
// select: the same bits as the scalar loop and a separate ReLU pass.
static void VN(dir_transpose)(float *dst, size_t ldd, const float *src, size_t lds, int rows,
                              int cols, const float *add, bool relu) {
    const int R8 = rows & ~7, C8 = cols & ~7;
    for (int j0 = 0; j0 < R8; j0 += 8)
        for (int i0 = 0; i0 < C8; i0 += 8) {
            __m256 r[8];
            DIR_UNROLL
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (size_t)(j0 + j) * lds + i0);
            VN(transpose8)(r);
            DIR_UNROLL
            for (int i = 0; i < 8; i++) {
                __m256 v = add ? _mm256_add_ps(r[i], _mm256_set1_ps(add[i0 + i])) : r[i];
                _mm256_storeu_ps(dst + (size_t)(i0 + i) * ldd + j0, relu ? VN(dir_relu8)(v) : v);
            }
        }
    for (int i = 0; i < cols; i++) {
        float *d = dst + (size_t)i * ldd;
        const float a = add ? add[i] : 0.0f;
        for (int j = i < C8 ? R8 : 0; j < rows; j++) {
            const float v = add ? src[(size_t)j * lds + i] + a : src[(size_t)j * lds + i];
            d[j] = relu ? VN(dir_relu1)(v) : v;
        }
    }
}

// One register block: NO output channels from oc0, NV output vectors from
// vector index v0 (nvr vectors per output row). NO and NV are constants at
// every call, so the loops below unroll into registers.
VEC_INLINE void VN(dir_block)(int NO, int NV, float *y, const float *xq, const float *w,
                              const float *b, bool relu, const int32_t *taps, int oc0, int v0,
                              int nvr, const dc_conv_shape *s, int wq) {
    const int CKK = s->C * s->K * s->K, S = s->stride, OW = s->OW, P = s->OH * s->OW;
    const float *base[DIR_VB];
    int yoff[DIR_VB], valid[DIR_VB];
    DIR_UNROLL
    for (int j = 0; j < NV; j++) {
        const int oh = (v0 + j) / nvr, ow0 = ((v0 + j) % nvr) * VW;
        base[j] = xq + (size_t)oh * S * S * wq + ow0;
        yoff[j] = oh * OW + ow0;
        valid[j] = OW - ow0 < VW ? OW - ow0 : VW;
    }
    vf acc[DIR_OB][DIR_VB];
    DIR_UNROLL
    for (int o = 0; o < NO; o++)
        DIR_UNROLL
        for (int j = 0; j < NV; j++) acc[o][j] = V_ZERO();
    const float *wo = w + (size_t)oc0 * CKK;
    for (int t = 0; t < CKK; t++) {
        const int off = taps[t];
        vf xv[DIR_VB];
        DIR_UNROLL
        for (int j = 0; j < NV; j++) xv[j] = V_LOADU(base[j] + off);
        DIR_UNROLL
        for (int o = 0; o < NO; o++) {
            const vf wv = V_BCAST(wo + (size_t)o * CKK + t);
            DIR_UNROLL
            for (int j = 0; j < NV; j++) acc[o][j] = V_FMA(wv, xv[j], acc[o][j]);
        }
    }
    DIR_UNROLL
    for (int o = 0; o < NO; o++) {
        const vf bv = V_SET1(b ? b[oc0 + o] : 0.0f);
        float *yo = y + (size_t)(oc0 + o) * P;
        DIR_UNROLL
        for (int j = 0; j < NV; j++) {
            const vf v = b ? V_ADD(acc[o][j], bv) : acc[o][j];
            VN(store_lanes)(yo + yoff[j], relu ? V_RELU(v) : v, valid[j]);
        }
    }
}

// By channels: NC channel vectors from channel vector cv0, NP output
// positions from p0 (row-major over (OH, OW)); out is (P, OCp).
VEC_INLINE void VN(dir_block_ch)(int NC, int NP, float *out, const float *xq, const float *wt,
                                 const int32_t *taps, int cv0, int p0, const dc_conv_shape *s,
                                 int wq) {
    const int CKK = s->C * s->K * s->K, S = s->stride, OW = s->OW, ocp = VN(dir_roundv)(s->OC);
    const float *base[DIR_PB];
    DIR_UNROLL
    for (int j = 0; j < NP; j++) {
        const int oh = (p0 + j) / OW, ow = (p0 + j) % OW;
        base[j] = xq + (size_t)oh * S * S * wq + ow;
    }
    vf acc[DIR_PB][DIR_CB];
    DIR_UNROLL
    for (int j = 0; j < NP; j++)
        DIR_UNROLL
        for (int v = 0; v < NC; v++) acc[j][v] = V_ZERO();
    const float *wc = wt + (size_t)cv0 * VW;
    for (int t = 0; t < CKK; t++) {
        const int off = taps[t];
        vf wv[DIR_CB];
        DIR_UNROLL
        for (int v = 0; v < NC; v++) wv[v] = V_LOAD(wc + (size_t)t * ocp + v * VW);
        DIR_UNROLL
        for (int j = 0; j < NP; j++) {
            const vf xv = V_BCAST(base[j] + off);
            DIR_UNROLL
            for (int v = 0; v < NC; v++) acc[j][v] = V_FMA(wv[v], xv, acc[j][v]);
        }
    }
    DIR_UNROLL
    for (int j = 0; j < NP; j++)
        DIR_UNROLL
        for (int v = 0; v < NC; v++) V_STORE(out + (size_t)(p0 + j) * ocp + (cv0 + v) * VW, acc[j][v]);
}

// One sample by channels: out (P, OCp) in scratch, then y (OC, P) = out^T + b.
// The (NC, NP) instances: full blocks and the remainders, each a constant
// pair so its loops unroll.
VEC_INLINE void VN(dir_forward_channels)(float *yn, const float *xq, const float *wt,
                                         const float *b, bool relu, const int32_t *taps,
                                         float *out, const dc_conv_shape *s, int wq) {
    const int OC = s->OC, P = s->OH * s->OW, ocp = VN(dir_roundv)(OC), ncv = ocp / VW;
    for (int cv0 = 0; cv0 < ncv; cv0 += DIR_CB) {
        const int nc = ncv - cv0 < DIR_CB ? ncv - cv0 : DIR_CB;
        for (int p0 = 0; p0 < P; p0 += DIR_PB) {
            const int np = P - p0 < DIR_PB ? P - p0 : DIR_PB;
#define DIR_CH(NPC)                                                                            \
    case NPC:                                                                                  \
        if (nc == DIR_CB) VN(dir_block_ch)(DIR_CB, NPC, out, xq, wt, taps, cv0, p0, s, wq);    \
        else VN(dir_block_ch)(1, NPC, out, xq, wt, taps, cv0, p0, s, wq);                      \
        break;
            switch (np) {
                DIR_CH(1) DIR_CH(2) DIR_CH(3) DIR_CH(4) DIR_CH(5) DIR_CH(6)
#if DIR_PB > 6
                DIR_CH(7) DIR_CH(8) DIR_CH(9) DIR_CH(10) DIR_CH(11) DIR_CH(12)
#endif
                default: break; // unreachable: 1 <= np <= DIR_PB
            }
#undef DIR_CH
        }
    }
    // y = out^T (+ b): the same single rounding of acc + b as the rows way
    VN(dir_transpose)(yn, P, out, ocp, P, OC, b, relu);
}

// The rows way for one image: every (NO, NV) block, the remainders included.
VEC_INLINE void VN(dir_forward_rows)(float *yn, const float *xq, const float *w, const float *b,
                                     bool relu, const int32_t *taps, const dc_conv_shape *s,
                                     int wq) {
    const int OC = s->OC, nvr = (s->OW + VW - 1) / VW, nv = s->OH * nvr; // vectors per row, per image
    for (int oc0 = 0; oc0 < OC; oc0 += DIR_OB) {
        const int no = OC - oc0 < DIR_OB ? OC - oc0 : DIR_OB;
        for (int v0 = 0; v0 < nv; v0 += DIR_VB) {
            const int nvb = nv - v0 < DIR_VB ? nv - v0 : DIR_VB;
#define DIR_NV(NO)                                                                             \
    case NO:                                                                                   \
        if (nvb == 3) VN(dir_block)(NO, 3, yn, xq, w, b, relu, taps, oc0, v0, nvr, s, wq);     \
        else if (nvb == 2) VN(dir_block)(NO, 2, yn, xq, w, b, relu, taps, oc0, v0, nvr, s, wq);\
        else VN(dir_block)(NO, 1, yn, xq, w, b, relu, taps, oc0, v0, nvr, s, wq);              \
        break;
            switch (no) {
                DIR_NV(1) DIR_NV(2) DIR_NV(3) DIR_NV(4)
#if DIR_OB > 4
                DIR_NV(5) DIR_NV(6) DIR_NV(7) DIR_NV(8)
#endif
                default: break; // unreachable: 1 <= no <= DIR_OB
            }
#undef DIR_NV
        }
    }
}

static void VN(dir_forward)(float *y, const float *x, const float *w, const float *b, bool relu,
                            int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    const int C = s->C, H = s->H, W = s->W, OC = s->OC, K = s->K, S = s->stride;
    const int Hp = H + 2 * s->pad, wq = VN(dir_wq)(s);
    float *xq = scratch;
    int32_t *taps = (int32_t *)(scratch + VN(dir_xq_floats)(s));
    for (int c = 0, t = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++, t++)
                taps[t] = (int32_t)(((size_t)c * Hp + ki) * S * wq + (size_t)(kj % S) * wq + kj / S);
    const bool chans = VN(dir_by_channels)(s);
    float *wt = NULL, *out = NULL;
    if (chans) {
        // w (OC, CKK) -> wt (CKK, OCp), zero channels past OC
        const int CKK = C * K * K, ocp = VN(dir_roundv)(OC);
        wt = scratch + VN(dir_xq_floats)(s) + VN(dir_roundv)(CKK); // VW*4-byte aligned: all parts are xVW
        out = wt + (size_t)CKK * ocp;
        VN(dir_transpose)(wt, (size_t)ocp, w, (size_t)CKK, OC, CKK, NULL, false);
        for (int t = 0; t < CKK; t++)
            for (int oc = OC; oc < ocp; oc++) wt[(size_t)t * ocp + oc] = 0.0f;
    }
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * OC * s->OH * s->OW;
        VN(dir_pad_input)(xq, x + (size_t)n * C * H * W, s, wq);
        // the ReLU (when fused) is applied as each output vector is stored
        if (chans) VN(dir_forward_channels)(yn, xq, wt, b, relu, taps, out, s, wq);
        else VN(dir_forward_rows)(yn, xq, w, b, relu, taps, s, wq);
    }
}
