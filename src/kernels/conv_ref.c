// conv_ref.c — the convolution by its definition, summed in double: the
// plain reference twin every fast kernel in the registry (conv_registry.c)
// is tested against (tests/test_conv_registry.c). Slow on purpose: no
// blocking, no vectors, one output (or one gradient term) at a time, so it
// is easy to read against the formula. Never chosen by a plan unless forced.
#include "kernels/conv_kernels.h"


void dc_conv_ref_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                         int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    (void)scratch;
    const int C = s->C, H = s->H, W = s->W, K = s->K;
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    double acc = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                const int ih = oh * s->stride - s->pad + ki;
                                const int iw = ow * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)x[(((size_t)n * C + c) * H + ih) * W + iw] *
                                       w[(((size_t)oc * C + c) * K + ki) * K + kj];
                            }
                    if (b) acc += b[oc];
                    float v = (float)acc;
                    if (relu) v = v > 0.0f || v != v ? v : 0.0f;
                    y[(((size_t)n * s->OC + oc) * s->OH + oh) * s->OW + ow] = v;
                }
}

void dc_conv_ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int N, const dc_conv_shape *s, float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    (void)scratch;
    const int C = s->C, H = s->H, W = s->W, K = s->K, OC = s->OC, OH = s->OH, OW = s->OW;
    if (dx) // dx[n,c,ih,iw] = sum over (oc, ki, kj) with oh*stride - pad + ki = ih, ...
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int ih = 0; ih < H; ih++)
                    for (int iw = 0; iw < W; iw++) {
                        double acc = 0.0;
                        for (int oc = 0; oc < OC; oc++)
                            for (int ki = 0; ki < K; ki++)
                                for (int kj = 0; kj < K; kj++) {
                                    const int th = ih + s->pad - ki, tw = iw + s->pad - kj;
                                    if (th < 0 || tw < 0 || th % s->stride || tw % s->stride)
                                        continue;
                                    const int oh = th / s->stride, ow = tw / s->stride;
                                    if (oh >= OH || ow >= OW) continue;
                                    acc += (double)dy[(((size_t)n * OC + oc) * OH + oh) * OW + ow] *
                                           w[(((size_t)oc * C + c) * K + ki) * K + kj];
                                }
                        dx[(((size_t)n * C + c) * H + ih) * W + iw] = (float)acc;
                    }
    if (dw)
        for (int oc = 0; oc < OC; oc++)
            for (int c = 0; c < C; c++)
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) {
                        double acc = 0.0;
                        for (int n = 0; n < N; n++)
                            for (int oh = 0; oh < OH; oh++)
                                for (int ow = 0; ow < OW; ow++) {
                                    const int ih = oh * s->stride - s->pad + ki;
                                    const int iw = ow * s->stride - s->pad + kj;
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    acc += (double)dy[(((size_t)n * OC + oc) * OH + oh) * OW + ow] *
                                           x[(((size_t)n * C + c) * H + ih) * W + iw];
                                }
                        float *d = &dw[(((size_t)oc * C + c) * K + ki) * K + kj];
                        *d = (float)((double)*d + acc);
                    }
    if (db)
        for (int oc = 0; oc < OC; oc++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < OH * OW; p++) acc += dy[((size_t)n * OC + oc) * OH * OW + p];
            db[oc] = (float)((double)db[oc] + acc);
        }
}
