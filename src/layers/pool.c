// pool.c — max and average pooling, no padding, floor output size.
// Max pooling records the first maximum in scan order (PyTorch's CPU rule,
// which matters after ReLU where ties at zero are common) and routes the
// whole gradient to it; overlapping windows (stride < K) accumulate.
// The max-pool loops live in src/kernels/pool_kernels.c: a fast path for the
// 2x2 stride-2 window (same results bit for bit) and the plain loops for the
// rest.
#include <string.h>
#include "kernels/conv_kernels.h"
#include "layers/layers.h"

void dc_maxpool2d_forward(float *y, int32_t *argmax, const float *x, int N,
                          int C, int H, int W, int K, int stride) {
    // x is (N,C,H,W), y and argmax are (N,C,OH,OW)
    if (K == 2 && stride == 2)
        dc_maxpool_2x2_forward(y, argmax, x, N, C, H, W);
    else
        dc_maxpool_ref_forward(y, argmax, x, N, C, H, W, K, stride);
}

void dc_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax,
                           int N, int C, int H, int W, int K, int stride) {
    // dy and argmax are (N,C,OH,OW), dx is (N,C,H,W) (overwritten)
    if (K == 2 && stride == 2)
        dc_maxpool_2x2_backward(dx, dy, argmax, N, C, H, W);
    else
        dc_maxpool_ref_backward(dx, dy, argmax, N, C, H, W, K, stride);
}

void dc_avgpool2d_forward(float *y, const float *x, int N, int C, int H, int W,
                          int K, int stride) {
    // x is (N,C,H,W), y is (N,C,OH,OW)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    const float inv = 1.0f / (float)(K * K);
    for (long nc = 0; nc < (long)N * C; nc++) {
        const float *xp = x + (size_t)nc * H * W;
        float *yp = y + (size_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) s += xp[(oh * stride + i) * W + ow * stride + j];
                yp[oh * OW + ow] = s * inv;
            }
    }
}

void dc_avgpool2d_backward(float *dx, const float *dy, int N, int C, int H,
                           int W, int K, int stride) {
    // dy is (N,C,OH,OW), dx is (N,C,H,W) (overwritten)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    const float inv = 1.0f / (float)(K * K);
    memset(dx, 0, sizeof(float) * (size_t)N * C * H * W);
    for (long nc = 0; nc < (long)N * C; nc++) {
        float *dxp = dx + (size_t)nc * H * W;
        const float *dyp = dy + (size_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float g = dyp[oh * OW + ow] * inv;
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) dxp[(oh * stride + i) * W + ow * stride + j] += g;
            }
    }
}
