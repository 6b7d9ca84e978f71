// int8_registry.c — the table of quantised GEMM kernels and the rule that
// picks one (int8_kernels.h). The rule is fixed, not timed: the widest
// instruction set the CPU has that computes the product exactly.
#include <string.h>
#include "core/cpu.h"
#include "kernels/int8_kernels.h"

static size_t ref_packed_bytes(int N, int K) { return (size_t)N * (size_t)K; }
static void ref_pack(void *packed, const int8_t *w, int N, int K) { memcpy(packed, w, (size_t)N * (size_t)K); }

static bool seven_bit(const dc_qgemm_params *p) { return p->a_max <= 127; }

#define CPU_VNNI (DC_CPU_LEVEL_AVX512 | DC_CPU_AVX512VNNI)

// pixels in lanes: few channels over rows at most 4 bytes apart, uint8 outputs
static bool few_channels(const dc_qgemm_params *p) { return !p->out32 && p->N <= 8 && p->lda >= 1 && p->lda <= 4; }

// (portable C: the plan asks before it knows the CPU can run the kernel)
bool dc_qgemm_pool_ok(const dc_qgemm_params *p) {
    if (p->out32) return false;
    for (int n = 0; n < p->N; n++) {
        // |acc + bias'| < 2^31 for any uint8 activations, and no left shift
        const int64_t most = (int64_t)p->K * 255 * 127 + (p->bias[n] < 0 ? -(int64_t)p->bias[n] : p->bias[n]);
        if (p->shift[n] > 0 || most >= ((int64_t)1 << 31)) return false;
    }
    return true;
}

// In order of preference.
static const dc_qgemm_impl IMPLS[] = {
    {"vnni512_pixels", "AVX-512 VNNI + VBMI, 16 output pixels per vector: N <= 8 channels over rows <= 4 bytes apart",
     CPU_VNNI | DC_CPU_AVX512VBMI, few_channels, dc_qgemm_pixels_packed_bytes, dc_qgemm_pixels_pack, dc_qgemm_pixels},
    {"vnni512", "AVX-512 VNNI vpdpbusd, 4 uint8 x int8 products per int32 lane: 12x16 or 8x32 tiles",
     CPU_VNNI, NULL, dc_qgemm_vnni_packed_bytes, dc_qgemm_vnni_pack, dc_qgemm_vnni},
    {"avx2_7bit", "AVX2 vpmaddubsw + vpmaddwd: exact only for 7-bit activations (--reduce-range)",
     DC_CPU_LEVEL_AVX2, seven_bit, dc_qgemm_avx2_7bit_packed_bytes, dc_qgemm_avx2_7bit_pack,
     dc_qgemm_avx2_7bit},
    {"avx2", "AVX2 vpmaddwd on int16 pairs: exact for any uint8 activation, 6x16 tiles",
     DC_CPU_LEVEL_AVX2, NULL, dc_qgemm_avx2_packed_bytes, dc_qgemm_avx2_pack, dc_qgemm_avx2},
    {"ref", "plain loops: the reference twin, any CPU", 0, NULL, ref_packed_bytes, ref_pack, dc_qgemm_ref},
};

#define N_IMPLS ((int)(sizeof IMPLS / sizeof IMPLS[0]))

int dc_qgemm_impl_count(void) { return N_IMPLS; }
const dc_qgemm_impl *dc_qgemm_impl_at(int i) { return i >= 0 && i < N_IMPLS ? &IMPLS[i] : NULL; }

const dc_qgemm_impl *dc_qgemm_impl_find(const char *name) {
    for (int i = 0; i < N_IMPLS; i++)
        if (!strcmp(IMPLS[i].name, name)) return &IMPLS[i];
    return NULL;
}

static bool usable(const dc_qgemm_impl *im, const dc_qgemm_params *p, unsigned cpu) {
    return dc_cpu_has(cpu, im->cpu) && (!im->supports || im->supports(p));
}

const dc_qgemm_impl *dc_qgemm_choose(const dc_qgemm_params *p, unsigned cpu, const char *force) {
    if (force) {
        const dc_qgemm_impl *im = dc_qgemm_impl_find(force);
        return im && usable(im, p, cpu) ? im : NULL;
    }
    for (int i = 0; i < N_IMPLS; i++)
        if (usable(&IMPLS[i], p, cpu)) return &IMPLS[i];
    return &IMPLS[N_IMPLS - 1];
}
