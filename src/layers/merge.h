// merge.h — graph ops that join or reduce tensors: residual add, channel
// concat, global average pool. Plain functions over N samples (all per
// sample, so any slice of the batch can be computed alone).
//
// Legend: N samples, C channels, H,W height/width, HW = H*W, K number of
// concatenated inputs, Ck channels of input k, CT = sum of the Ck. All
// tensors contiguous, NCHW.
//
// Contract (layers.h's): outputs first, then inputs, then shape integers;
// backward OVERWRITES each input gradient (NULL: skip that input). None of
// them allocates; sums are in double in a fixed order (bit-reproducible).
#ifndef DC_MERGE_H
#define DC_MERGE_H

#include <stdbool.h>
#include <stddef.h>

// a, b, y (n): y = a + b; y may equal a or b (in place).
void dc_add_forward(float *y, const float *a, const float *b, size_t n);
// y = max(0, a + b) when relu (dc_relu_forward's rule: NaN passes, -0 -> +0),
// else a + b: the bits of dc_add_forward then dc_relu_forward, in one pass.
void dc_add_relu_forward(float *y, const float *a, const float *b, size_t n, bool relu);
// dy, da, db (n): da = dy, db = dy (either NULL to skip; may equal dy).
void dc_add_backward(float *da, float *db, const float *dy, size_t n);

// xs[k] (N,Cs[k],H,W) for k < K, y (N,CT,H,W), CT = sum Cs: y's channels
// are x0's, then x1's, ... per sample. y must not overlap any input.
void dc_concat_forward(float *y, const float *const *xs, const int *Cs, int K, int N, int HW);
// dy (N,CT,H,W); dxs[k] (N,Cs[k],H,W) = its channel slice of dy, or NULL.
void dc_concat_backward(float *const *dxs, const float *dy, const int *Cs, int K, int N, int HW);

// x (N,C,H,W), y (N,C): y = the mean of each channel's plane.
void dc_gap_forward(float *y, const float *x, int N, int C, int HW);
// dy (N,C), dx (N,C,H,W) = dy / HW spread over each plane, OVERWRITTEN.
void dc_gap_backward(float *dx, const float *dy, int N, int C, int HW);

#endif
