// conv_wino.c — the Winograd convolutions (conv_wino_body.h: F(2x2, 3x3),
// samples in the lanes; conv_winot_body.h: F(2x2, 3x3) and F(4x4, 3x3), one
// image's tiles in the lanes) compiled for AVX2+FMA: eight lanes of a ymm.
// Everything the body includes comes first, outside the target region, so
// only the kernel is compiled for the wider instruction set.
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/conv_registry.h"
#include "core/core.h"
#include "kernels/target_avx2_begin.h"
#define DC_VW 8
#include "kernels/conv_wino_body.h"
#include "kernels/conv_winot_body.h"
#include "kernels/target_end.h"

// The lane sums of the weights pass, 16 OC C VW floats, must stay in L2.
#define WINO_DW_SUMS_MAX (1u << 20) // bytes

bool dc_conv_wino8_supports(const dc_conv_shape *s, unsigned pass) {
    if (s->K != 3 || s->stride != 1 || s->pad > 2) return false;
    if (pass & DC_CONV_BWD_WEIGHTS)
        return (size_t)16 * s->OC * s->C * 8 * sizeof(float) <= WINO_DW_SUMS_MAX;
    return true;
}

size_t dc_conv_wino8_floats(const dc_conv_shape *s, unsigned passes) {
    return wino_floats_v8(s, passes);
}

void dc_conv_wino8_forward(float *y, const float *x, const float *w, const float *b, bool relu,
                            int N, const dc_conv_shape *s, float *scratch) {
    wino_forward_v8(y, x, w, b, relu, N, s, scratch);
}

void dc_conv_wino8_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, const dc_conv_shape *s, float *scratch) {
    wino_backward_v8(dx, dw, db, dy, x, w, N, s, scratch);
}

void dc_conv_wino8_forward_packed(float *y, const float *x, const float *U, int pack_oc,
                                  const float *b, bool relu, const float *res, int N, const dc_conv_shape *s,
                                  float *scratch) {
    wino_forward_packed_v8(y, x, U, pack_oc, b, relu, res, N, s, scratch);
}

size_t dc_conv_wino_u_floats(const dc_conv_shape *s) { return wino_u_floats_v8(s->C, s->OC); }

void dc_conv_wino_pack(float *U, const float *w, const dc_conv_shape *s) {
    wino_weights_fwd_v8(U, w, s->C, s->OC);
}

size_t dc_conv_wino4_u_floats(const dc_conv_shape *s) { return wint4_u_floats_v8(s->C, s->OC); }

void dc_conv_wino4_pack(float *U, const float *w, const dc_conv_shape *s) {
    wino4_weights_v8(U, w, s->C, s->OC);
}

// winot8 (F(2x2,3x3)) and wino4t8 (F(4x4,3x3)), conv_winot_body.h
DC_TILES_ENTRIES(winot8, 2)
DC_TILES_ENTRIES(wino4t8, 4)
