// conv_lanes.c — the sample-lanes convolution (conv_lanes_body.h) compiled
// for AVX2+FMA: eight samples in the eight lanes of a ymm register. The
// public dc_conv_lanes_* names of conv_kernels.h; conv_lanes_avx512.c is the
// same kernel sixteen lanes wide.
// Everything the body includes comes first, outside the target region, so
// only the kernel itself is compiled for the wider instruction set; the
// wrappers below run on any CPU.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/target_avx2_begin.h"
#define DC_VW 8
#include "kernels/conv_lanes_body.h"
#include "kernels/target_end.h"
#include "core/cpu.h"

bool dc_conv_lanes_available(void) {
    return dc_cpu_has(dc_cpu_features(), DC_CPU_LEVEL_AVX2);
}

size_t dc_conv_lanes_forward_floats(const dc_conv_shape *s) { return lanes_forward_floats_v8(s); }

size_t dc_conv_lanes_backward_floats(const dc_conv_shape *s, bool want_dx) {
    return lanes_backward_floats_v8(s, want_dx, true);
}

void dc_conv_lanes_forward(float *y, const float *x, const float *w, const float *b, int N,
                           const dc_conv_shape *s, float *scratch) {
    lanes_forward_v8(y, x, w, b, false, N, s, scratch);
}

void dc_conv_lanes_forward_relu(float *y, const float *x, const float *w, const float *b,
                                bool relu, int N, const dc_conv_shape *s, float *scratch) {
    lanes_forward_v8(y, x, w, b, relu, N, s, scratch);
}

void dc_conv_lanes_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int N, const dc_conv_shape *s, float *scratch) {
    lanes_backward_v8(dx, dw, db, NULL, false, dy, x, w, N, s, scratch);
}

void dc_conv_lanes_sample_sqnorm(float *dx, double *sq, bool bias, const float *dy,
                                 const float *x, const float *w, int N,
                                 const dc_conv_shape *s, float *scratch) {
    lanes_backward_v8(dx, NULL, NULL, sq, bias, dy, x, w, N, s, scratch);
}

size_t dc_conv_lanes8_backward_floats_for(const dc_conv_shape *s, bool want_dx, bool want_w) {
    return lanes_backward_floats_v8(s, want_dx, want_w);
}
