// conv_kernels.h — convolution and pooling kernels behind src/layers/conv2d.c
// and src/layers/pool.c. Like kernels.h they know nothing of layers or
// threads: each call is single-threaded over a contiguous block of N samples,
// and the layer splits the batch. Every fast kernel has a plain one beside it
// that tests/test_conv_kernels.c compares it with on awkward shapes.
//
// Legend: N samples, C input channels, H,W input height/width, OC output
// channels, K square kernel size, OH,OW output height/width. Tensors are
// contiguous NCHW; weights are (OC,C,K,K).
//
// Convolution kernels, all with the same contract (the registry in
// conv_registry.h lists them, says what each needs and supports, and picks
// one per pass; tests/test_conv_registry.c holds each to dc_conv_ref_*):
//  - lanes (conv_lanes.c AVX2+FMA, 8 lanes; conv_lanes_avx512.c AVX-512F, 16
//    lanes; one body, conv_lanes_body.h): direct convolution with one sample
//    in each lane of a vector. Every output is computed by the same sequence
//    of float operations whatever the shape, stride or padding, with no lane
//    wasted on ragged widths, and a sample's forward result does not depend
//    on which other samples share its batch.
//  - wino (conv_wino.c / conv_wino_avx512.c, body conv_wino_body.h):
//    Winograd F(2x2, 3x3) in sample lanes for 3x3 stride-1 kernels.
//  - winot, wino4t (the same files, body conv_winot_body.h): Winograd
//    F(2x2, 3x3) and F(4x4, 3x3) forwards with one image's tiles in the
//    lanes, for batches under 4.
//  - direct (conv_direct.c, AVX2+FMA): forward for small batches, one image
//    at a time along the output row.
//  - im2col (conv_im2col.c, portable): one sample at a time, unfold with
//    dc_im2col and multiply with dc_gemm. The path for CPUs without AVX2.
//  - ref (conv_ref.c): the definition summed in double, the reference twin.
// Each takes a caller-owned scratch buffer of the size its *_floats function
// gives (64-byte aligned, contents on entry do not matter, independent of
// N), so the kernels never allocate.
//
// Backward *accumulates* into dw and db (each when not NULL) and *overwrites* dx
// (when not NULL). Results are deterministic: a fixed operation order that
// depends only on the shape and N.
#ifndef DC_CONV_KERNELS_H
#define DC_CONV_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dc_conv_shape {
    int C, H, W;     // input channels, height, width
    int OC, K;       // output channels, square kernel size
    int stride, pad; // stride >= 1, zero padding >= 0 on every side
    int OH, OW;      // output height, width: (H + 2 pad - K) / stride + 1
} dc_conv_shape;

// True when the CPU has AVX2 and FMA (checked at run time; the library is
// built with plain -O3).
bool dc_conv_lanes_available(void);

// Scratch sizes in floats. backward_floats depends on whether dx is wanted.
size_t dc_conv_lanes_forward_floats(const dc_conv_shape *s);
size_t dc_conv_lanes_backward_floats(const dc_conv_shape *s, bool want_dx);
// x (N,C,H,W), w (OC,C,K,K), b (OC) or NULL, y (N,OC,OH,OW)
void dc_conv_lanes_forward(float *y, const float *x, const float *w, const float *b, int N,
                           const dc_conv_shape *s, float *scratch);
// dy (N,OC,OH,OW); dx (N,C,H,W) or NULL; dw (OC,C,K,K) +=; db (OC) += or NULL
void dc_conv_lanes_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int N, const dc_conv_shape *s, float *scratch);

// DP-SGD's norm pass: dx (or NULL) as dc_conv_lanes_backward computes it, and
// sq[n] += ||dW_n||^2 (+ ||db_n||^2 when bias), each sample's own weight
// gradient, in one pass; scratch as for dc_conv_lanes_backward.
void dc_conv_lanes_sample_sqnorm(float *dx, double *sq, bool bias, const float *dy, const float *x,
                                 const float *w, int N, const dc_conv_shape *s, float *scratch);

// The same kernel with the fused ReLU epilogue of inference: y = max(0,
// conv + b) (NaN passes, as dc_relu_forward) when relu is true.
void dc_conv_lanes_forward_relu(float *y, const float *x, const float *w, const float *b,
                                bool relu, int N, const dc_conv_shape *s, float *scratch);

// The lanes kernel sixteen lanes wide (conv_lanes_avx512.c, AVX-512F: only
// when dc_cpu_features() has DC_CPU_LEVEL_AVX512). Same contract; the dw and
// db lane sums are reduced by a 16-lane tree, so their bits differ from the
// 8-lane kernel's (y and dx do not).
size_t dc_conv_lanes16_forward_floats(const dc_conv_shape *s);
size_t dc_conv_lanes16_backward_floats(const dc_conv_shape *s, bool want_dx);
// Backward scratch of a call that wants dx (want_dx) and/or dw, db (want_w):
// a data-only call needs no room for the OC*C*K*K*lanes weight lane sums.
size_t dc_conv_lanes8_backward_floats_for(const dc_conv_shape *s, bool want_dx, bool want_w);
size_t dc_conv_lanes16_backward_floats_for(const dc_conv_shape *s, bool want_dx, bool want_w);
void dc_conv_lanes16_forward(float *y, const float *x, const float *w, const float *b,
                             bool relu, int N, const dc_conv_shape *s, float *scratch);
void dc_conv_lanes16_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int N, const dc_conv_shape *s, float *scratch);
void dc_conv_lanes16_sample_sqnorm(float *dx, double *sq, bool bias, const float *dy,
                                   const float *x, const float *w, int N,
                                   const dc_conv_shape *s, float *scratch);

size_t dc_conv_im2col_forward_floats(const dc_conv_shape *s);
size_t dc_conv_im2col_backward_floats(const dc_conv_shape *s);
void dc_conv_im2col_forward(float *y, const float *x, const float *w, const float *b, int N,
                            const dc_conv_shape *s, float *scratch);
void dc_conv_im2col_forward_relu(float *y, const float *x, const float *w, const float *b,
                                 bool relu, int N, const dc_conv_shape *s, float *scratch);
void dc_conv_im2col_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, const dc_conv_shape *s, float *scratch);

// Winograd F(2x2, 3x3) in sample lanes (conv_wino_body.h): 3x3 kernels,
// stride 1, pad 0..2; the weights pass only while its 16*OC*C*VW lane sums
// fit in 1 MiB. wino8 is AVX2+FMA (8 lanes), wino16 AVX-512F (16 lanes).
// passes: DC_CONV_* bits of conv_registry.h (1 forward, 2 data, 4 weights).
// Forward, backward: the contracts of the lanes kernels (relu as there).
bool dc_conv_wino8_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_wino8_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_wino8_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                           int N, const dc_conv_shape *s, float *scratch);
void dc_conv_wino8_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int N, const dc_conv_shape *s, float *scratch);
bool dc_conv_wino16_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_wino16_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_wino16_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                            int N, const dc_conv_shape *s, float *scratch);
void dc_conv_wino16_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, const dc_conv_shape *s, float *scratch);

// Winograd F(2x2, 3x3) one image at a time with VW consecutive tiles of the
// image in the lanes ("winot", conv_winot_body.h, same files): the forward
// of batches under 4, 3x3 stride 1 pad 0..2, the bits of wino8 / wino16 for
// every sample.
bool dc_conv_winot8_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_winot8_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_winot8_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                            int N, const dc_conv_shape *s, float *scratch);
// The forwards on prepared weights U (16, C, pack_oc) at output channel 0
// of this call's (dc_conv_forward_packed_fn); wino8/16 need pack_oc == OC.
// dc_conv_wino_pack fills U (dc_conv_wino_u_floats floats) as every one of
// them transforms w itself; it is compiled for AVX2 (call it only there).
size_t dc_conv_wino_u_floats(const dc_conv_shape *s);
void dc_conv_wino_pack(float *U, const float *w, const dc_conv_shape *s);
void dc_conv_wino8_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch);
void dc_conv_wino16_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                   const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                   float *scratch);
void dc_conv_winot8_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                   const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                   float *scratch);
void dc_conv_winot16_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                    const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                    float *scratch);
// Share `part` of `parts` of the winot forward on prepared weights U (16, C,
// OC): the tile rows divided evenly, the whole forward's bits together;
// false (nothing written) with fewer tile rows than parts.
bool dc_conv_winot8_forward_rows(float *y, const float *x, const float *U, int part, int parts,
                                 const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                 float *scratch);
bool dc_conv_winot16_forward_rows(float *y, const float *x, const float *U, int part, int parts,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch);
bool dc_conv_winot16_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_winot16_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_winot16_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                             int N, const dc_conv_shape *s, float *scratch);

// Winograd F(4x4, 3x3) one image at a time with VW consecutive 4x4 tiles in
// the lanes ("wino4t", conv_winot_body.h, same files): the forward of
// batches under 4 on prepared weights where 4x4 tiles still fill the
// vectors; 3x3 stride 1 pad 0..2. Its own U (36, C, pack_oc), made by
// dc_conv_wino4_pack (dc_conv_wino4_u_floats floats, compiled for AVX2).
size_t dc_conv_wino4_u_floats(const dc_conv_shape *s);
void dc_conv_wino4_pack(float *U, const float *w, const dc_conv_shape *s);
bool dc_conv_wino4t8_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_wino4t8_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_wino4t8_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                             int N, const dc_conv_shape *s, float *scratch);
void dc_conv_wino4t8_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                    const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                    float *scratch);
bool dc_conv_wino4t8_forward_rows(float *y, const float *x, const float *U, int part, int parts,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch);
bool dc_conv_wino4t16_supports(const dc_conv_shape *s, unsigned pass);
size_t dc_conv_wino4t16_floats(const dc_conv_shape *s, unsigned passes);
void dc_conv_wino4t16_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                             int N, const dc_conv_shape *s, float *scratch);
void dc_conv_wino4t16_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                    const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                    float *scratch);
bool dc_conv_wino4t16_forward_rows(float *y, const float *x, const float *U, int part, int parts,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch);

// The definition, summed in double (conv_ref.c): the reference twin of every
// kernel above and in the registry. No scratch (pass NULL). Forward applies
// the bias, then the ReLU when relu is true; backward as above.
void dc_conv_ref_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                         int N, const dc_conv_shape *s, float *scratch);
void dc_conv_ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int N, const dc_conv_shape *s, float *scratch);

// ----------------------------------------------------------------------------
// Max pooling, no padding, OH = (H-K)/stride + 1. argmax is the flat index
// into the sample's (H,W) plane of the first maximum in scan order, a NaN
// taking over from anything before it (PyTorch's CPU rule). Backward
// overwrites dx (N,C,H,W) with zeros and each dy routed to its argmax.

// Any K and stride: the plain loops, and the reference for the fast kernel.
void dc_maxpool_ref_forward(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                            int W, int K, int stride);
void dc_maxpool_ref_backward(float *dx, const float *dy, const int32_t *argmax, int N, int C,
                             int H, int W, int K, int stride);
// K = 2, stride = 2 only (the common case): non-overlapping windows, so
// backward writes every dx value once instead of zeroing and scattering.
// Vectorised with AVX2 when available. Same results as the reference bit for
// bit (no arithmetic but comparisons; backward adds +0 so that -0 gradients
// come out +0, as from 0 + dy).
void dc_maxpool_2x2_forward(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                            int W);
void dc_maxpool_2x2_backward(float *dx, const float *dy, const int32_t *argmax, int N, int C,
                             int H, int W);
// The same in plain C: what the two above run on CPUs without AVX2 (exposed
// so the tests can reach it on any CPU).
void dc_maxpool_2x2_forward_plain(float *y, int32_t *argmax, const float *x, int N, int C, int H,
                                  int W);
void dc_maxpool_2x2_backward_plain(float *dx, const float *dy, const int32_t *argmax, int N,
                                   int C, int H, int W);

// ----------------------------------------------------------------------------
// Direct convolution forward for small batches (conv_direct.c, AVX2+FMA: only
// when dc_conv_lanes_available()). One image at a time, vectorised along the
// output row; what the layer runs for N < 4, where the lanes kernel would
// leave most lanes empty. Same contract as the two forwards above; each
// output is one FMA chain over (c, ki, kj) from 0, then + bias, so a sample's
// result does not depend on the batch. The im2col forward is its reference.
size_t dc_conv_direct_forward_floats(const dc_conv_shape *s);
// x (N,C,H,W), w (OC,C,K,K), b (OC) or NULL, y (N,OC,OH,OW)
void dc_conv_direct_forward(float *y, const float *x, const float *w, const float *b, int N,
                            const dc_conv_shape *s, float *scratch);
void dc_conv_direct_forward_relu(float *y, const float *x, const float *w, const float *b,
                                 bool relu, int N, const dc_conv_shape *s, float *scratch);
// The same kernel sixteen lanes wide (conv_direct_avx512.c, AVX-512F: only
// when dc_cpu_features() has DC_CPU_LEVEL_AVX512), with the same bits.
size_t dc_conv_direct16_forward_floats(const dc_conv_shape *s);
void dc_conv_direct16_forward_relu(float *y, const float *x, const float *w, const float *b,
                                   bool relu, int N, const dc_conv_shape *s, float *scratch);

// y[i] = max(0, y[i]) with dc_relu_forward's rule (NaN passes, -0 -> +0):
// the fused-ReLU epilogue of the kernels that apply it after the fact.
void dc_relu_inplace(float *y, size_t n);

#endif
