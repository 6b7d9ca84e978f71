// pool.c — max and average pooling, no padding, floor output size.
// Max pooling records the first maximum in scan order (PyTorch's CPU rule,
// which matters after ReLU where ties at zero are common) and routes the
// whole gradient to it; overlapping windows (stride < K) accumulate.
#include <string.h>
#include "layers/layers.h"

void dc_maxpool2d_forward(float *y, int32_t *argmax, const float *x, int N,
                          int C, int H, int W, int K, int stride) {
    // x is (N,C,H,W), y and argmax are (N,C,OH,OW)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    for (long nc = 0; nc < (long)N * C; nc++) {
        const float *xp = x + (size_t)nc * H * W;
        float *yp = y + (size_t)nc * OH * OW;
        int32_t *ap = argmax + (size_t)nc * OH * OW;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                int h0 = oh * stride, w0 = ow * stride;
                int best = h0 * W + w0;
                float m = xp[best];
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) {
                        int idx = (h0 + i) * W + (w0 + j);
                        float v = xp[idx];
                        if (v > m || v != v) { // NaN propagates, as in PyTorch
                            m = v;
                            best = idx;
                        }
                    }
                yp[oh * OW + ow] = m;
                ap[oh * OW + ow] = best;
            }
    }
}

void dc_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax,
                           int N, int C, int H, int W, int K, int stride) {
    // dy and argmax are (N,C,OH,OW), dx is (N,C,H,W) (overwritten)
    const int OH = (H - K) / stride + 1, OW = (W - K) / stride + 1;
    memset(dx, 0, sizeof(float) * (size_t)N * C * H * W);
    for (long nc = 0; nc < (long)N * C; nc++) {
        float *dxp = dx + (size_t)nc * H * W;
        const float *dyp = dy + (size_t)nc * OH * OW;
        const int32_t *ap = argmax + (size_t)nc * OH * OW;
        for (int i = 0; i < OH * OW; i++) dxp[ap[i]] += dyp[i];
    }
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
