// conv_direct_avx512.c — the small-batch direct convolution forward
// (conv_direct_body.h) compiled for AVX-512F: sixteen output columns or
// channels per zmm, register blocks of up to 24 accumulators. The same FMA
// chain per output as conv_direct.c's AVX2 build, so the same bits; only
// called when dc_cpu_features() has DC_CPU_LEVEL_AVX512 (the registry's
// "direct16"). Everything the body includes comes first, outside the target
// region, so only the kernel itself is compiled for the wider instruction set.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/target_avx512_begin.h"
#define DC_VW 16
#include "kernels/conv_direct_body.h"
#include "kernels/target_end.h"

size_t dc_conv_direct16_forward_floats(const dc_conv_shape *s) { return dir_forward_floats_v16(s); }

void dc_conv_direct16_forward_relu(float *y, const float *x, const float *w, const float *b,
                                   bool relu, int N, const dc_conv_shape *s, float *scratch) {
    dir_forward_v16(y, x, w, b, relu, N, s, scratch);
}
