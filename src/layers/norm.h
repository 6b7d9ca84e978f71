// norm.h — normalisation layers over a batch: BatchNorm2d, GroupNorm,
// LayerNorm. Plain forward/backward functions in the style of layers.h; the
// graph executor (src/model) wires them into nodes.
//
// Legend: N samples in this call (a thread's slice of the batch), C
// channels, H,W height/width, HW = H*W, G groups (C % G == 0, Cg = C/G
// channels per group), D features per sample (LayerNorm: C*H*W or a flat
// feature count), M = values per channel over the WHOLE batch (BatchNorm:
// N_total*HW). All tensors contiguous, NCHW; per-channel vectors (C),
// per-(sample,group) vectors (N,G), per-sample vectors (N).
//
// Contracts (shared with layers.h):
// - outputs first, then inputs, then weights, then shape integers;
// - backward OVERWRITES the input gradient dx (NULL where nobody needs it)
//   and ACCUMULATES (+=) into weight gradients dgamma/dbeta (NULL to skip);
// - gamma/beta NULL means affine=False (gamma = 1, beta = 0);
// - backward reads exactly what forward wrote (x, and the statistics);
// - no allocation, no threads, no global state; every reduction is in
//   double in a fixed order (8 interleaved lanes per contiguous run, lanes
//   combined pairwise, runs added in index order), so a call gives the same
//   bits run to run, on every x86-64 CPU, vectorised or not;
// - eps is PyTorch's (1e-5 by default); it is added to the biased variance.
//
// BatchNorm2d couples the batch. The executor splits the batch into
// contiguous slices, one per thread; each step below marked "slice" runs on
// every slice, each marked "total" runs once (or identically on every
// slice) on the sums of the slices' partials, added in slice order:
//
//   training forward                         training backward
//   slice: dc_bn2d_stats_partial(sum,sumsq)  slice: dc_bn2d_backward_partial(sdy,sdyxhat)
//   total: dc_bn2d_stats_finish(mean,invstd, total: dc_bn2d_backward_params(dgamma,dbeta)
//          running stats updated ONCE)       slice: dc_bn2d_backward_dx_train(dx)
//   slice: dc_bn2d_apply(y)
//
//   eval forward                              eval backward (statistics constant)
//   total: dc_bn2d_eval_stats(mean,invstd)    slice: dc_bn2d_backward_dx_eval(dx)
//   slice: dc_bn2d_apply(y)                   only for weight gradients:
//                                             slice: dc_bn2d_backward_partial (eval mean/invstd)
//                                             total: dc_bn2d_backward_params
//
// Training needs M >= 2: PyTorch refuses M == 1 ("Expected more than 1 value
// per channel when training"; its kernel underneath would write NaN into the
// running variance, 0/0). dc_bn2d_stats_finish asserts M >= 2, so the
// executor must refuse such a batch with a dc_status first (a last batch of
// one sample into a BatchNorm over 1x1 maps is the usual way to meet it).
//
// GroupNorm and LayerNorm are per sample: any slice of samples can be
// computed alone, and the per-sample gradient norms for DP-SGD clipping are
// what each sample's own backward would give.
#ifndef DC_NORM_H
#define DC_NORM_H

#include <stdint.h>

// ---------------------------------------------------------------------------
// BatchNorm2d (torch.nn.BatchNorm2d(C, eps, momentum, affine))

// x (N,C,H,W); sum (C), sumsq (C) OVERWRITTEN with sum x and sum x^2 of
// this slice, in double.
void dc_bn2d_stats_partial(double *sum, double *sumsq, const float *x, int N, int C, int HW);

// sum, sumsq (C): totals over all M values of each channel (M >= 2).
// mean (C) = sum/M, invstd (C) = 1/sqrt(var + eps) with the biased variance
// var = sumsq/M - mean^2 (clamped at 0), both in double then rounded.
// running_mean, running_var (C) or NULL: r = (1-momentum) r + momentum stat,
// with the UNBIASED variance var*M/(M-1) for running_var (PyTorch's rule).
// num_batches_tracked (1) or NULL: += 1 (a float, exact up to 2^24 steps).
// momentum is a number (PyTorch's momentum=None, a cumulative average over
// num_batches_tracked, is not provided).
void dc_bn2d_stats_finish(float *mean, float *invstd, float *running_mean, float *running_var,
                          float *num_batches_tracked, const double *sum, const double *sumsq,
                          int C, int64_t M, float eps, float momentum);

// Eval mode: mean (C) = running_mean, invstd (C) = 1/sqrt(running_var + eps).
void dc_bn2d_eval_stats(float *mean, float *invstd, const float *running_mean,
                        const float *running_var, int C, float eps);

// x, y (N,C,H,W): y = (x - mean) * (gamma*invstd) + beta per channel; mean,
// invstd (C); gamma, beta (C) or NULL. y may equal x (in place).
void dc_bn2d_apply(float *y, const float *x, const float *mean, const float *invstd,
                   const float *gamma, const float *beta, int N, int C, int HW);

// dy, x (N,C,H,W); mean, invstd (C) as given to dc_bn2d_apply.
// sdy (C) = sum dy, sdyxhat (C) = sum dy * (x - mean) * invstd over this
// slice, OVERWRITTEN, in double.
void dc_bn2d_backward_partial(double *sdy, double *sdyxhat, const float *dy, const float *x,
                              const float *mean, const float *invstd, int N, int C, int HW);

// Training mode, from the totals sdy, sdyxhat (C) over all M values:
// dx (N,C,H,W) = gamma*invstd*(dy - sdy/M - xhat*sdyxhat/M), xhat =
// (x - mean)*invstd, gamma NULL = 1; OVERWRITTEN. dx may equal dy.
void dc_bn2d_backward_dx_train(float *dx, const float *dy, const float *x, const float *mean,
                               const float *invstd, const float *gamma, const double *sdy,
                               const double *sdyxhat, int64_t M, int N, int C, int HW);

// Eval mode (mean, invstd constants): dx (N,C,H,W) = gamma*invstd*dy,
// OVERWRITTEN. dx may equal dy.
void dc_bn2d_backward_dx_eval(float *dx, const float *dy, const float *invstd,
                              const float *gamma, int N, int C, int HW);

// Weight gradients from the totals (C) of dc_bn2d_backward_partial (either
// mode): dgamma[c] += sdyxhat[c], dbeta[c] += sdy[c]; either output may be NULL.
void dc_bn2d_backward_params(float *dgamma, float *dbeta, const double *sdy,
                             const double *sdyxhat, int C);

// ---------------------------------------------------------------------------
// GroupNorm (torch.nn.GroupNorm(G, C, eps, affine)): per sample, statistics
// over each group's Cg*HW values (contiguous in NCHW).

// x, y (N,C,H,W); gamma, beta (C) or NULL; mean, rstd (N,G) written for
// backward (rstd = 1/sqrt(var_biased + eps)). y may equal x.
void dc_groupnorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int N, int C, int HW, int G, float eps);

// dy, x (N,C,H,W); mean, rstd (N,G) from forward; gamma (C) or NULL.
// dx (N,C,H,W) or NULL, OVERWRITTEN (may equal dy); dgamma, dbeta (C) or
// NULL, += sum over the N samples of dy*xhat and dy.
void dc_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int N, int C, int HW, int G);

// Affine GroupNorm only (it is what has parameters): sq (N) +=
// ||dgamma_n||^2 + ||dbeta_n||^2, the squared norm of sample n's own
// contribution to backward's dgamma/dbeta. Inputs as in backward (gamma is
// not needed: dgamma_n[c] = sum_hw dy*xhat).
void dc_groupnorm_sample_sqnorm(double *sq, const float *dy, const float *x, const float *mean,
                                const float *rstd, int N, int C, int HW, int G);

// ---------------------------------------------------------------------------
// LayerNorm (torch.nn.LayerNorm(normalized_shape = the per-sample shape,
// eps, elementwise_affine)): per sample, statistics over its D values;
// gamma, beta have D values (for (C,H,W), D = C*H*W in NCHW order).

// x, y (N,D); gamma, beta (D) or NULL; mean, rstd (N) written for
// backward. y may equal x.
void dc_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, int N, int D, float eps);

// dy, x (N,D); mean, rstd (N); gamma (D) or NULL. dx (N,D) or NULL,
// OVERWRITTEN (may equal dy); dgamma, dbeta (D) or NULL, += over samples.
void dc_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int N, int D);

// Affine LayerNorm: sq (N) += ||dgamma_n||^2 + ||dbeta_n||^2 =
// sum_d (dy*xhat)^2 + dy^2 for each sample n.
void dc_layernorm_sample_sqnorm(double *sq, const float *dy, const float *x, const float *mean,
                                const float *rstd, int N, int D);

#endif
