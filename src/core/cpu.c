// cpu.c — CPU feature detection (see cpu.h). __builtin_cpu_supports reads
// CPUID once at program start (libgcc) and checks that the OS saves the YMM
// and ZMM state (XCR0), so a feature reported here is safe to use.
#include "core/cpu.h"

#include <cpuid.h>
#include <stdatomic.h>
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
    if (__builtin_cpu_supports("avx512vbmi")) f |= DC_CPU_AVX512VBMI;
    // AVX-VNNI (CPUID.(EAX=7,ECX=1):EAX bit 4) from CPUID itself: clang 14's
    // __builtin_cpu_supports does not know the name. It uses YMM state only,
    // which the AVX2 check above already found saved by the OS.
    // CPUID traps to the hypervisor in a VM (microseconds), and kernels ask
    // for the features at every dispatch: the answer, a property of the
    // machine that never changes, is read once (1 + the bit; 0: not yet).
    static _Atomic unsigned vnni_once;
    unsigned v = atomic_load_explicit(&vnni_once, memory_order_relaxed);
    if (!v) {
        unsigned a, b, c, d;
        v = 1 + ((f & DC_CPU_AVX2) && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)));
        atomic_store_explicit(&vnni_once, v, memory_order_relaxed);
    }
    if (v == 2) f |= DC_CPU_AVXVNNI;
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
