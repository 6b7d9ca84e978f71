// cpu.c — CPU feature detection (see cpu.h). __builtin_cpu_supports reads
// CPUID once at program start (libgcc) and checks that the OS saves the YMM
// and ZMM state (XCR0), so a feature reported here is safe to use.
#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>
#include "core/core.h"

unsigned dc_cpu_detected(void) {
    __builtin_cpu_init();
    unsigned f = 0;
    if (__builtin_cpu_supports("avx2")) f |= DC_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= DC_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= DC_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= DC_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= DC_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512dq")) f |= DC_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vnni")) f |= DC_CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avxvnni")) f |= DC_CPU_AVXVNNI;
    return f;
}

dc_status dc_cpu_parse_level(const char *name, unsigned *mask, dc_error *err) {
    if (strcmp(name, "generic") == 0) {
        *mask = 0;
    } else if (strcmp(name, "avx2") == 0) {
        *mask = DC_CPU_LEVEL_AVX2;
    } else if (strcmp(name, "avx512") == 0) {
        *mask = ~0u;
    } else {
        return dc_fail(err, DC_ERR_ARG,
                       "DEEPC_CPU: expected generic, avx2 or avx512, found \"%s\"", name);
    }
    return DC_OK;
}

unsigned dc_cpu_features(void) {
    const unsigned f = dc_cpu_detected();
    const char *env = getenv("DEEPC_CPU");
    unsigned mask;
    if (!env || !*env || dc_cpu_parse_level(env, &mask, NULL) != DC_OK) return f;
    return f & mask;
}

dc_status dc_cpu_check_env(dc_error *err) {
    const char *env = getenv("DEEPC_CPU");
    unsigned mask;
    if (!env || !*env) return DC_OK;
    return dc_cpu_parse_level(env, &mask, err);
}

const char *dc_cpu_level_name(unsigned features) {
    if (dc_cpu_has(features, DC_CPU_LEVEL_AVX512)) return "avx512";
    if (dc_cpu_has(features, DC_CPU_LEVEL_AVX2)) return "avx2";
    return "generic";
}
