// conv_wino_avx512.c — the Winograd convolutions (conv_wino_body.h,
// conv_winot_body.h; see conv_wino.c) compiled for AVX-512F: sixteen lanes
// of a zmm register.
// Everything the body includes comes first, outside the target region, so
// only the kernel is compiled for the wider instruction set.
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/conv_registry.h"
#include "core/core.h"
#include "kernels/target_avx512_begin.h"
#define DC_VW 16
#include "kernels/conv_wino_body.h"
#include "kernels/conv_winot_body.h"
#include "kernels/target_end.h"

// The lane sums of the weights pass, 16 OC C VW floats, must stay in L2.
#define WINO_DW_SUMS_MAX (1u << 20) // bytes

bool dc_conv_wino16_supports(const dc_conv_shape *s, unsigned pass) {
    if (s->K != 3 || s->stride != 1 || s->pad > 2) return false;
    if (pass & DC_CONV_BWD_WEIGHTS)
        return (size_t)16 * s->OC * s->C * 16 * sizeof(float) <= WINO_DW_SUMS_MAX;
    return true;
}

size_t dc_conv_wino16_floats(const dc_conv_shape *s, unsigned passes) {
    return wino_floats_v16(s, passes);
}

void dc_conv_wino16_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                            int N, const dc_conv_shape *s, float *scratch) {
    wino_forward_v16(y, x, w, b, relu, N, s, scratch);
}

void dc_conv_wino16_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, const dc_conv_shape *s, float *scratch) {
    wino_backward_v16(dx, dw, db, dy, x, w, N, s, scratch);
}

void dc_conv_wino16_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch) {
    wino_forward_packed_v16(y, x, U, pack_oc, b, relu, res, N, s, scratch);
}

// winot16 (F(2x2,3x3)) and wino4t16 (F(4x4,3x3)), conv_winot_body.h
DC_TILES_ENTRIES(winot16, 2)
DC_TILES_ENTRIES(wino4t16, 4)
