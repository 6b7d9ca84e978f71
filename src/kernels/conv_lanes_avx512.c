// conv_lanes_avx512.c — the sample-lanes convolution (conv_lanes_body.h)
// compiled for AVX-512F: sixteen samples in the sixteen lanes of a zmm
// register, register blocks of up to 24 accumulators (32 registers). Only
// called when dc_cpu_features() has DC_CPU_LEVEL_AVX512.
// Everything the body includes comes first, outside the target region, so
// only the kernel itself is compiled for the wider instruction set; the
// wrappers below run on any CPU.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/target_avx512_begin.h"
#define DC_VW 16
#include "kernels/conv_lanes_body.h"
#include "kernels/target_end.h"

size_t dc_conv_lanes16_forward_floats(const dc_conv_shape *s) {
    return lanes_forward_floats_v16(s);
}

size_t dc_conv_lanes16_backward_floats(const dc_conv_shape *s, bool want_dx) {
    return lanes_backward_floats_v16(s, want_dx, true);
}

void dc_conv_lanes16_forward(float *y, const float *x, const float *w, const float *b,
                             bool relu, int N, const dc_conv_shape *s, float *scratch) {
    lanes_forward_v16(y, x, w, b, relu, N, s, scratch);
}

void dc_conv_lanes16_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int N, const dc_conv_shape *s, float *scratch) {
    lanes_backward_v16(dx, dw, db, NULL, false, dy, x, w, N, s, scratch);
}

void dc_conv_lanes16_sample_sqnorm(float *dx, double *sq, bool bias, const float *dy,
                                   const float *x, const float *w, int N,
                                   const dc_conv_shape *s, float *scratch) {
    lanes_backward_v16(dx, NULL, NULL, sq, bias, dy, x, w, N, s, scratch);
}

size_t dc_conv_lanes16_backward_floats_for(const dc_conv_shape *s, bool want_dx, bool want_w) {
    return lanes_backward_floats_v16(s, want_dx, want_w);
}
