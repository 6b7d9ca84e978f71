// layers.h — each layer kind is a forward/backward pair over a batch.
//
// Legend: N batch, C input channels, H,W input height/width, OC output
// channels, K square kernel size, OH,OW output height/width, I input
// features, O output features. All tensors are contiguous, NCHW.
//
// Contract: outputs first, then inputs, then weights, then shape integers.
// Backward *accumulates* into weight/bias gradients (dw, db), so zeroing the
// gradient buffer is the caller's explicit step; it *overwrites* the input
// gradient dx, which may be NULL when nobody needs it (the first layer).
// Backward reads exactly what its forward wrote (x, y, argmax, mask).
// nthreads >= 1; results are identical for a given nthreads, run to run.
#ifndef DC_LAYERS_H
#define DC_LAYERS_H

#include <stdint.h>
#include "deepc.h"

static inline int dc_conv_out(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

// x (N,C,H,W), w (OC,C,K,K), b (OC) or NULL, y (N,OC,OH,OW)
void dc_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int C, int H, int W, int OC, int K, int stride,
                       int pad, int nthreads);
// dy (N,OC,OH,OW); dx (N,C,H,W) or NULL; dw (OC,C,K,K) +=; db (OC) += or NULL
void dc_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int C, int H,
                        int W, int OC, int K, int stride, int pad, int nthreads);

// x (N,C,H,W), y (N,C,OH,OW), argmax (N,C,OH,OW) = flat index into the
// sample's (H,W) plane of the first maximum in scan order (PyTorch's rule).
// OH = (H-K)/stride + 1 (floor), no padding.
void dc_maxpool2d_forward(float *y, int32_t *argmax, const float *x, int N,
                          int C, int H, int W, int K, int stride);
void dc_maxpool2d_backward(float *dx, const float *dy, const int32_t *argmax,
                           int N, int C, int H, int W, int K, int stride);
void dc_avgpool2d_forward(float *y, const float *x, int N, int C, int H, int W,
                          int K, int stride);
void dc_avgpool2d_backward(float *dx, const float *dy, int N, int C, int H,
                           int W, int K, int stride);

// Elementwise activations over n values; backward uses the forward output y.
void dc_relu_forward(float *y, const float *x, size_t n);
void dc_relu_backward(float *dx, const float *dy, const float *y, size_t n);
void dc_tanh_forward(float *y, const float *x, size_t n);
void dc_tanh_backward(float *dx, const float *dy, const float *y, size_t n);
void dc_sigmoid_forward(float *y, const float *x, size_t n);
void dc_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);

// x (N,I), w (O,I), b (O) or NULL, y (N,O): y = x w^T + b
void dc_linear_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int I, int O, int nthreads);
// dy (N,O); dx (N,I) or NULL; dw (O,I) += or NULL; db (O) += or NULL
void dc_linear_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int I, int O,
                        int nthreads);

// Inverted dropout: mask[i] = 0 or 1/(1-p), drawn from rng in index order;
// y = x * mask. In eval mode the layer is the identity (no call is made).
void dc_dropout_forward(float *y, float *mask, const float *x, size_t n,
                        float p, dc_rng *rng);
void dc_dropout_backward(float *dx, const float *dy, const float *mask,
                         size_t n);

// Softmax cross-entropy, numerically stable (log-sum-exp), mean over the
// batch. logits (N,C), labels (N) in [0,C), probs (N,C) out.
// weights (N) or NULL: per-sample weights, loss = sum(w_i l_i) / N.
// Returns the mean loss (double accumulation).
double dc_softmax_xent_forward(float *probs, const float *logits,
                               const int32_t *labels, const float *weights,
                               int N, int C);
// dlogits (N,C) = w_i (probs - onehot) / N
void dc_softmax_xent_backward(float *dlogits, const float *probs,
                              const int32_t *labels, const float *weights,
                              int N, int C);

// Knowledge distillation (Hinton et al. 2015, as torch's usual KD loss):
// per sample, with q_T(v) = softmax(v / T),
//   l = (1 - a) CE(softmax(z), label) + a T^2 KL(q_T(t) || q_T(z))
// for the student's logits z and the teacher's t (both (N,C)); the T^2 keeps
// the soft term's gradient on the scale of the hard one's. dc_distill_loss
// returns the mean over N (weighted as dc_softmax_xent_forward);
// dc_distill_backward writes dlogits (N,C) = w_n scale dl/dz, that is
//   w_n scale [(1 - a)(softmax(z) - onehot) + a T (q_T(z) - q_T(t))],
// computed in double per sample and rounded once. a in [0, 1], T > 0, C <=
// DC_DISTILL_MAX_C.
#define DC_DISTILL_MAX_C 1024
double dc_distill_loss(const float *logits, const float *teacher, const int32_t *labels, const float *weights,
                       int N, int C, float alpha, float temp);
void dc_distill_backward(float *dlogits, const float *logits, const float *teacher, const int32_t *labels,
                         const float *weights, int N, int C, float alpha, float temp, float scale);

// Per-sample squared L2 norms of the parameter gradients (DP-SGD clipping):
// sq[n] += ||dW_n||^2 (+ ||db_n||^2 when bias) for each sample n, where dW_n
// is what sample n alone would contribute to backward's dw. Inputs as in the
// matching backward. Linear layers use ||dy_n x_n^T||^2 = ||dy_n||^2 ||x_n||^2
// (no per-sample matrix is formed); convolutions form each sample's dW with
// one GEMM (the same work backward does for that sample).
void dc_linear_sample_sqnorm(double *sq, const float *dy, const float *x, int N,
                             int I, int O, bool bias);
void dc_conv2d_sample_sqnorm(double *sq, const float *dy, const float *x, int N,
                             int C, int H, int W, int OC, int K, int stride,
                             int pad, bool bias);
// Both at once for a convolution: dx (N,C,H,W) or NULL overwritten as by
// dc_conv2d_backward, and sq (N) += each sample's squared gradient norm; no
// weight gradient is accumulated. One backward's work on AVX2 machines.
void dc_conv2d_backward_sqnorm(float *dx, double *sq, const float *dy, const float *x,
                               const float *w, int N, int C, int H, int W, int OC, int K,
                               int stride, int pad, bool bias);

#endif
