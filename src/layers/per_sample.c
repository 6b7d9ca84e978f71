// per_sample.c — per-sample gradient norms for DP-SGD (Abadi et al. 2016).
//
// DP-SGD clips every sample's gradient, across all parameters, to a norm C.
// deepc does it in two backward passes over the whole batch instead of
// running batches of one: the first pass computes each sample's squared
// gradient norm layer by layer (these functions), the second pass is the
// ordinary batched backward with each sample's loss gradient scaled by its
// clip factor min(1, C/norm) — the gradient is linear in that scale.
#include <stdlib.h>
#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/conv_kernels.h"
#include "layers/layers.h"

void dc_linear_sample_sqnorm(double *sq, const float *dy, const float *x, int N, int I, int O,
                             bool bias) {
    // dy is (N,O), x is (N,I): ||dy_n x_n^T||_F^2 = ||dy_n||^2 ||x_n||^2
    for (int n = 0; n < N; n++) {
        double a = 0, b = 0;
        for (int o = 0; o < O; o++) a += (double)dy[(size_t)n * O + o] * dy[(size_t)n * O + o];
        for (int i = 0; i < I; i++) b += (double)x[(size_t)n * I + i] * x[(size_t)n * I + i];
        sq[n] += a * b + (bias ? a : 0.0);
    }
}

void dc_conv2d_sample_sqnorm(double *sq, const float *dy, const float *x, int N, int C, int H,
                             int W, int OC, int K, int stride, int pad, bool bias) {
    // dy is (N,OC,OH,OW), x is (N,C,H,W); dW_n (OC, C*K*K) = dy_n col_n^T
    const int OH = dc_conv_out(H, K, stride, pad), OW = dc_conv_out(W, K, stride, pad);
    const int CKK = C * K * K, P = OH * OW;
    float *col = dc_alloc(sizeof(float) * (size_t)CKK * P);
    float *dw = dc_alloc(sizeof(float) * (size_t)OC * CKK);
    DC_ASSERT(col && dw);
    for (int n = 0; n < N; n++) {
        const float *dyn = dy + (size_t)n * OC * P;
        dc_im2col(col, x + (size_t)n * C * H * W, C, H, W, K, stride, pad, OH, OW);
        dc_gemm(false, true, OC, CKK, P, dyn, P, col, P, 0.0f, dw, CKK);
        double s = 0;
        for (size_t i = 0; i < (size_t)OC * CKK; i++) s += (double)dw[i] * dw[i];
        if (bias)
            for (int oc = 0; oc < OC; oc++) {
                double b = 0;
                for (int p = 0; p < P; p++) b += dyn[(size_t)oc * P + p];
                s += b * b;
            }
        sq[n] += s;
    }
    dc_free(col);
    dc_free(dw);
}

void dc_conv2d_backward_sqnorm(float *dx, double *sq, const float *dy, const float *x,
                               const float *w, int N, int C, int H, int W, int OC, int K,
                               int stride, int pad, bool bias) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W); sq (N) +=
    if (N < 1) return;
    if (dc_conv_lanes_available()) {
        // one pass: the lanes kernel's per-lane weight-gradient sums are the
        // per-sample gradients, so the norms come with dx at the cost of one
        // backward (the weight gradient itself is not accumulated)
        const dc_conv_shape s = {.C = C, .H = H, .W = W, .OC = OC, .K = K, .stride = stride,
                                 .pad = pad, .OH = dc_conv_out(H, K, stride, pad),
                                 .OW = dc_conv_out(W, K, stride, pad)};
        float *scratch = dc_alloc(sizeof(float) * (dc_conv_lanes_backward_floats(&s, dx != NULL) + 16));
        DC_ASSERT(scratch);
        dc_conv_lanes_sample_sqnorm(dx, sq, bias, dy, x, w, N, &s, scratch);
        dc_free(scratch);
        return;
    }
    // portable path: per-sample GEMMs for the norms, the usual backward for dx
    dc_conv2d_sample_sqnorm(sq, dy, x, N, C, H, W, OC, K, stride, pad, bias);
    if (dx) {
        float *dw = dc_alloc(sizeof(float) * (size_t)OC * C * K * K);
        DC_ASSERT(dw);
        dc_conv2d_backward(dx, dw, NULL, dy, x, w, N, C, H, W, OC, K, stride, pad, 1);
        dc_free(dw);
    }
}
