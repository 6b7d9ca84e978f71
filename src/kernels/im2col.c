// im2col.c — unfold one image into columns so a convolution becomes a GEMM,
// and fold the column gradient back. Plain loops with a contiguous fast path
// for stride 1 (the common case): each (c, ki, kj) row of col is OH copies of
// a shifted input row segment, clipped by zero padding. Used by the portable
// convolution path (conv_im2col.c) and per-sample gradient norms; on AVX2
// CPUs the convolution layer itself runs conv_lanes.c instead.
#include "kernels/kernels.h"

// target_clones: an AVX2 build of the same loops, picked at load time, so
// the short row copies vectorise 8 wide (batch-1 inference spends much of its
// time here); restrict: col and x never overlap, so no alias checks.
// Not under the sanitizers or clang: their runtimes are not ready when the
// ifunc resolver runs at load time (TSan crashes there), and clang 14 emits
// no resolver for a static library; the plain build is the fallback there.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx2", "default")))
#endif
void dc_im2col(float *restrict col, const float *restrict x, int C, int H, int W, int K,
               int stride, int pad, int OH, int OW) {
    // x is (C,H,W), col is (C*K*K, OH*OW)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                // valid output columns: 0 <= ow*stride - pad + kj < W
                int ow_lo = 0, ow_hi = OW; // [lo, hi)
                while (ow_lo < OW && ow_lo * stride - pad + kj < 0) ow_lo++;
                while (ow_hi > ow_lo && (ow_hi - 1) * stride - pad + kj >= W) ow_hi--;
                for (int oh = 0; oh < OH; oh++) {
                    float *out = row + (size_t)oh * OW;
                    int ih = oh * stride - pad + ki;
                    if (ih < 0 || ih >= H) {
                        for (int ow = 0; ow < OW; ow++) out[ow] = 0.0f;
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * W;
                    for (int ow = 0; ow < ow_lo; ow++) out[ow] = 0.0f;
                    if (stride == 1) {
                        // a loop, not memcpy: rows are a few dozen floats, and
                        // the library call costs more than the copy
                        const float *src = xr + (ow_lo - pad + kj);
                        for (int ow = ow_lo; ow < ow_hi; ow++) out[ow] = src[ow - ow_lo];
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            out[ow] = xr[ow * stride - pad + kj];
                    }
                    for (int ow = ow_hi; ow < OW; ow++) out[ow] = 0.0f;
                }
            }
        }
    }
}

void dc_col2im(float *dx, const float *dcol, int C, int H, int W, int K,
               int stride, int pad, int OH, int OW) {
    // dcol is (C*K*K, OH*OW), dx is (C,H,W) and is accumulated into
    for (int c = 0; c < C; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int ki = 0; ki < K; ki++) {
            for (int kj = 0; kj < K; kj++) {
                const float *row = dcol + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                int ow_lo = 0, ow_hi = OW;
                while (ow_lo < OW && ow_lo * stride - pad + kj < 0) ow_lo++;
                while (ow_hi > ow_lo && (ow_hi - 1) * stride - pad + kj >= W) ow_hi--;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * stride - pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    const float *in = row + (size_t)oh * OW;
                    float *xr = dxc + (size_t)ih * W;
                    if (stride == 1) {
                        float *dst = xr + (ow_lo - pad + kj);
                        for (int ow = ow_lo; ow < ow_hi; ow++) dst[ow - ow_lo] += in[ow];
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            xr[ow * stride - pad + kj] += in[ow];
                    }
                }
            }
        }
    }
}
