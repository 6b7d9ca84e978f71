// conv_direct.c — direct AVX2+FMA convolution forward for small batches
// (N < 4, batch-1 inference): one image at a time, vectorised along the
// output row, eight output columns per vector.
//
// Why: the lanes kernel (conv_lanes.c) puts eight samples in a vector and
// leaves most lanes empty below a few samples; im2col + GEMM spent most of a
// batch-1 LeNet-5 forward on hundreds of short row copies (25 rows x 28 rows
// of 28 floats for conv1) and the GEMM's packing. Here the input is padded
// once into scratch and every tap of every output vector is one unaligned
// load, one broadcast weight and one FMA, with no boundary tests.
//
// Layout of the padded input in scratch: (C, Hp, S, Wq) where S is the stride
// and Hp = H + 2 pad. Column j of padded row r is stored at phase j % S,
// index j / S, so output columns ow..ow+7 of tap kj read the contiguous
// floats [ow + kj/S, ow + kj/S + 8) of phase kj % S, for any stride. Wq leaves
// room for the last (partial) vector of a row to read without leaving the
// row; its extra lanes compute garbage that is never stored. The padding is
// zeroed on every call (the scratch contents on entry do not matter).
// After the padded input come CKK int32 tap offsets (c, ki, kj) -> offset.
//
// Two ways to fill the vectors, picked by which wastes fewer lanes:
//  - rows: a vector holds 8 output columns of one output channel. Register
//    block of up to 4 output channels x 3 output vectors (12 accumulators);
//    an output vector is (oh, ow0) and the vectors of the image are taken in
//    row-major order, so a block may span two output rows.
//  - channels: a vector holds 8 output channels at one output position (for
//    narrow rows such as LeNet's conv2, 10 wide, where rows would fill 10 of
//    16 lanes but its 16 channels fill 16 of 16). Weights are repacked to
//    (CKK, OCp), OCp = OC rounded up to 8, each input value is broadcast;
//    register block of 2 channel vectors x 6 positions. The outputs go to a
//    (P, OCp) buffer in scratch and are transposed into y.
//
// Summation order, fixed by the shape alone: each output is one FMA chain
// from 0 over the taps in (c, ki, kj) order, then the bias is added. Both
// ways do exactly this, so they give the same bits; results are the same
// whatever N, the batch contents or the run.
#include <stdbool.h>
#include <string.h>
#include <immintrin.h>
#include "kernels/conv_kernels.h"

#define AVX __attribute__((target("avx2,fma")))
#define AVX_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

// Full unrolling of the block loops keeps the accumulators in registers at
// -O2 as well as -O3 (at -O2 GCC left them in memory: 2x slower).
#define UNROLL _Pragma("GCC unroll 8")

enum { VB = 3, OB = 4 }; // output vectors and output channels per register block

static int round8(int n) { return (n + 7) & ~7; }

// Floats per phase row of the padded input: the whole padded width, and at
// least what the last vector of an output row reads at the last kj.
static int wq_of(const dc_conv_shape *s) {
    const int S = s->stride, Wp = s->W + 2 * s->pad;
    int wq = (Wp + S - 1) / S;
    const int need = round8(s->OW) + (s->K - 1) / S;
    return round8(wq > need ? wq : need);
}

static size_t xq_floats(const dc_conv_shape *s) {
    return (size_t)s->C * (s->H + 2 * s->pad) * s->stride * wq_of(s);
}

// True when 8 channels per vector waste fewer lanes than 8 columns.
static bool by_channels(const dc_conv_shape *s) {
    // OC / round8(OC) > OW / round8(OW), cross-multiplied
    return (long)s->OC * round8(s->OW) > (long)s->OW * round8(s->OC);
}

size_t dc_conv_direct_forward_floats(const dc_conv_shape *s) {
    // padded input, then CKK int32 tap offsets (rounded to 8 to keep the
    // total a multiple of 32 bytes); by channels also the packed weights
    // (CKK, OCp) and the outputs (P, OCp)
    const size_t ckk = (size_t)s->C * s->K * s->K, ocp = (size_t)round8(s->OC);
    size_t n = xq_floats(s) + (size_t)round8((int)ckk);
    if (by_channels(s)) n += ckk * ocp + (size_t)s->OH * s->OW * ocp;
    return n;
}

// Pads sample x (C,H,W) into xq (C,Hp,S,Wq), zeros around and after it.
static void pad_input(float *xq, const float *x, const dc_conv_shape *s, int wq) {
    const int C = s->C, H = s->H, W = s->W, S = s->stride, pad = s->pad;
    const int Hp = H + 2 * pad;
    memset(xq, 0, sizeof(float) * xq_floats(s));
    for (int c = 0; c < C; c++)
        for (int ih = 0; ih < H; ih++) {
            const float *src = x + ((size_t)c * H + ih) * W;
            float *row = xq + ((size_t)c * Hp + ih + pad) * S * wq;
            if (S == 1) {
                memcpy(row + pad, src, sizeof(float) * W);
            } else {
                for (int iw = 0; iw < W; iw++) {
                    const int j = iw + pad;
                    row[(size_t)(j % S) * wq + j / S] = src[iw];
                }
            }
        }
}

// Stores the first `valid` lanes of v at p (1..8).
AVX_INLINE void store_lanes(float *p, __m256 v, int valid) {
    if (valid >= 8) {
        _mm256_storeu_ps(p, v);
    } else {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
        _mm256_maskstore_ps(p, m, v);
    }
}

// One register block: NO output channels from oc0, NV output vectors from
// vector index v0 (nvr vectors per output row). NO and NV are constants at
// every call, so the loops below unroll into registers.
AVX_INLINE void block(int NO, int NV, float *y, const float *xq, const float *w,
                      const float *b, const int32_t *taps, int oc0, int v0, int nvr,
                      const dc_conv_shape *s, int wq) {
    const int CKK = s->C * s->K * s->K, S = s->stride, OW = s->OW, P = s->OH * s->OW;
    const float *base[VB];
    int yoff[VB], valid[VB];
    UNROLL
    for (int j = 0; j < NV; j++) {
        const int oh = (v0 + j) / nvr, ow0 = ((v0 + j) % nvr) * 8;
        base[j] = xq + (size_t)oh * S * S * wq + ow0;
        yoff[j] = oh * OW + ow0;
        valid[j] = OW - ow0 < 8 ? OW - ow0 : 8;
    }
    __m256 acc[OB][VB];
    UNROLL
    for (int o = 0; o < NO; o++)
        UNROLL
        for (int j = 0; j < NV; j++) acc[o][j] = _mm256_setzero_ps();
    const float *wo = w + (size_t)oc0 * CKK;
    for (int t = 0; t < CKK; t++) {
        const int off = taps[t];
        __m256 xv[VB];
        UNROLL
        for (int j = 0; j < NV; j++) xv[j] = _mm256_loadu_ps(base[j] + off);
        UNROLL
        for (int o = 0; o < NO; o++) {
            const __m256 wv = _mm256_broadcast_ss(wo + (size_t)o * CKK + t);
            UNROLL
            for (int j = 0; j < NV; j++) acc[o][j] = _mm256_fmadd_ps(wv, xv[j], acc[o][j]);
        }
    }
    UNROLL
    for (int o = 0; o < NO; o++) {
        const __m256 bv = _mm256_set1_ps(b ? b[oc0 + o] : 0.0f);
        float *yo = y + (size_t)(oc0 + o) * P;
        UNROLL
        for (int j = 0; j < NV; j++)
            store_lanes(yo + yoff[j], b ? _mm256_add_ps(acc[o][j], bv) : acc[o][j], valid[j]);
    }
}

// By channels: NC channel vectors from channel vector cv0, NP output
// positions from p0 (row-major over (OH, OW)); out is (P, OCp).
enum { CB = 2, PB = 6 }; // channel vectors and positions per register block

AVX_INLINE void block_ch(int NC, int NP, float *out, const float *xq, const float *wt,
                         const int32_t *taps, int cv0, int p0, const dc_conv_shape *s, int wq) {
    const int CKK = s->C * s->K * s->K, S = s->stride, OW = s->OW, ocp = round8(s->OC);
    const float *base[PB];
    UNROLL
    for (int j = 0; j < NP; j++) {
        const int oh = (p0 + j) / OW, ow = (p0 + j) % OW;
        base[j] = xq + (size_t)oh * S * S * wq + ow;
    }
    __m256 acc[PB][CB];
    UNROLL
    for (int j = 0; j < NP; j++)
        UNROLL
        for (int v = 0; v < NC; v++) acc[j][v] = _mm256_setzero_ps();
    const float *wc = wt + (size_t)cv0 * 8;
    for (int t = 0; t < CKK; t++) {
        const int off = taps[t];
        __m256 wv[CB];
        UNROLL
        for (int v = 0; v < NC; v++) wv[v] = _mm256_load_ps(wc + (size_t)t * ocp + v * 8);
        UNROLL
        for (int j = 0; j < NP; j++) {
            const __m256 xv = _mm256_broadcast_ss(base[j] + off);
            UNROLL
            for (int v = 0; v < NC; v++) acc[j][v] = _mm256_fmadd_ps(wv[v], xv, acc[j][v]);
        }
    }
    UNROLL
    for (int j = 0; j < NP; j++)
        UNROLL
        for (int v = 0; v < NC; v++)
            _mm256_store_ps(out + (size_t)(p0 + j) * ocp + (cv0 + v) * 8, acc[j][v]);
}

#define BLOCK_CH_CASE(nc, np)                                                    \
    case (nc) * 8 + (np):                                                        \
        block_ch(nc, np, out, xq, wt, taps, cv0, p0, s, wq);                     \
        break;

// One sample by channels: out (P, OCp) in scratch, then y (OC, P) = out^T + b.
AVX_INLINE void forward_channels(float *yn, const float *xq, const float *wt, const float *b,
                                 const int32_t *taps, float *out, const dc_conv_shape *s,
                                 int wq) {
    const int OC = s->OC, P = s->OH * s->OW, ocp = round8(OC), ncv = ocp / 8;
    for (int cv0 = 0; cv0 < ncv; cv0 += CB) {
        const int nc = ncv - cv0 < CB ? ncv - cv0 : CB;
        for (int p0 = 0; p0 < P; p0 += PB) {
            const int np = P - p0 < PB ? P - p0 : PB;
            switch (nc * 8 + np) {
                BLOCK_CH_CASE(2, 6) BLOCK_CH_CASE(2, 5) BLOCK_CH_CASE(2, 4)
                BLOCK_CH_CASE(2, 3) BLOCK_CH_CASE(2, 2) BLOCK_CH_CASE(2, 1)
                BLOCK_CH_CASE(1, 6) BLOCK_CH_CASE(1, 5) BLOCK_CH_CASE(1, 4)
                BLOCK_CH_CASE(1, 3) BLOCK_CH_CASE(1, 2) BLOCK_CH_CASE(1, 1)
                default: break; // unreachable: 1 <= nc <= CB, 1 <= np <= PB
            }
        }
    }
    // the same single rounding of acc + b as the rows way
    for (int oc = 0; oc < OC; oc++) {
        float *yo = yn + (size_t)oc * P;
        if (b) {
            const float bv = b[oc];
            for (int p = 0; p < P; p++) yo[p] = out[(size_t)p * ocp + oc] + bv;
        } else {
            for (int p = 0; p < P; p++) yo[p] = out[(size_t)p * ocp + oc];
        }
    }
}

// The (NO, NV) instances: full blocks and the remainders.
#define BLOCK_CASE(no, nv)                                                       \
    case (no) * 8 + (nv):                                                        \
        block(no, nv, yn, xq, w, b, taps, oc0, v0, nvr, s, wq);                  \
        break;

AVX static void direct_forward(float *y, const float *x, const float *w, const float *b,
                               bool relu, int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    const int C = s->C, H = s->H, W = s->W, OC = s->OC, K = s->K, S = s->stride;
    const int Hp = H + 2 * s->pad, wq = wq_of(s);
    const int nvr = (s->OW + 7) / 8, nv = s->OH * nvr; // vectors per row, per image
    float *xq = scratch;
    int32_t *taps = (int32_t *)(scratch + xq_floats(s));
    for (int c = 0, t = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++, t++)
                taps[t] = (int32_t)(((size_t)c * Hp + ki) * S * wq + (size_t)(kj % S) * wq + kj / S);
    const bool chans = by_channels(s);
    float *wt = NULL, *out = NULL;
    if (chans) {
        // w (OC, CKK) -> wt (CKK, OCp), zero channels past OC
        const int CKK = C * K * K, ocp = round8(OC);
        wt = scratch + xq_floats(s) + round8(CKK); // 32-byte aligned: all parts are x8
        out = wt + (size_t)CKK * ocp;
        for (int t = 0; t < CKK; t++)
            for (int oc = 0; oc < ocp; oc++)
                wt[(size_t)t * ocp + oc] = oc < OC ? w[(size_t)oc * CKK + t] : 0.0f;
    }
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * OC * s->OH * s->OW;
        pad_input(xq, x + (size_t)n * C * H * W, s, wq);
        if (chans) {
            forward_channels(yn, xq, wt, b, taps, out, s, wq);
            if (relu) dc_relu_inplace(yn, (size_t)OC * s->OH * s->OW);
            continue;
        }
        for (int oc0 = 0; oc0 < OC; oc0 += OB) {
            const int no = OC - oc0 < OB ? OC - oc0 : OB;
            for (int v0 = 0; v0 < nv; v0 += VB) {
                const int nvb = nv - v0 < VB ? nv - v0 : VB;
                switch (no * 8 + nvb) {
                    BLOCK_CASE(4, 3) BLOCK_CASE(4, 2) BLOCK_CASE(4, 1)
                    BLOCK_CASE(3, 3) BLOCK_CASE(3, 2) BLOCK_CASE(3, 1)
                    BLOCK_CASE(2, 3) BLOCK_CASE(2, 2) BLOCK_CASE(2, 1)
                    BLOCK_CASE(1, 3) BLOCK_CASE(1, 2) BLOCK_CASE(1, 1)
                    default: break; // unreachable: 1 <= no <= OB, 1 <= nvb <= VB
                }
            }
        }
        if (relu) dc_relu_inplace(yn, (size_t)OC * s->OH * s->OW);
    }
}

void dc_conv_direct_forward(float *y, const float *x, const float *w, const float *b, int N,
                            const dc_conv_shape *s, float *scratch) {
    direct_forward(y, x, w, b, false, N, s, scratch);
}

void dc_conv_direct_forward_relu(float *y, const float *x, const float *w, const float *b,
                                 bool relu, int N, const dc_conv_shape *s, float *scratch) {
    direct_forward(y, x, w, b, relu, N, s, scratch);
}
