// conv_direct.c — direct convolution forward for small batches (N < 4,
// batch-1 inference): one image at a time, vectorised along the output row
// (or across output channels). The body is conv_direct_body.h; this file
// compiles it for AVX2+FMA (eight floats per ymm: dc_conv_direct_*), and
// conv_direct_avx512.c for AVX-512F (sixteen per zmm: dc_conv_direct16_*),
// with the same bits.
//
// Why: the lanes kernel (conv_lanes.c) puts eight samples in a vector and
// leaves most lanes empty below a few samples; im2col + GEMM spent most of a
// batch-1 LeNet-5 forward on hundreds of short row copies (25 rows x 28 rows
// of 28 floats for conv1) and the GEMM's packing. Here the input is padded
// once into scratch and every tap of every output vector is one unaligned
// load, one broadcast weight and one FMA, with no boundary tests.
//
// The layout, the two ways of filling the vectors and the summation order
// are described in conv_direct_body.h.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/target_avx2_begin.h"
#define DC_VW 8
#include "kernels/conv_direct_body.h"
#include "kernels/target_end.h"

size_t dc_conv_direct_forward_floats(const dc_conv_shape *s) { return dir_forward_floats_v8(s); }

void dc_conv_direct_forward(float *y, const float *x, const float *w, const float *b, int N,
                            const dc_conv_shape *s, float *scratch) {
    dir_forward_v8(y, x, w, b, false, N, s, scratch);
}

void dc_conv_direct_forward_relu(float *y, const float *x, const float *w, const float *b,
                                 bool relu, int N, const dc_conv_shape *s, float *scratch) {
    dir_forward_v8(y, x, w, b, relu, N, s, scratch);
}
