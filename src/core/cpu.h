// cpu.h — the one module that knows which instruction-set extensions the CPU
// has. Kernels are compiled for baseline x86-64 plus per-function (or
// per-file) target attributes, and every fast path asks here before it runs:
// the library is never built with -march=native.
//
// DEEPC_CPU=generic|avx2|avx512 in the environment lowers what
// dc_cpu_features() reports (never raises it above what the hardware has), so
// tests and benchmarks can reach the lower paths on a machine that has the
// higher ones. It is read on every call (at plan time, not per kernel call):
// there is no cached global state. avx2 keeps AVX2 and FMA only (a Zen 3 or
// Haswell-class CPU); avx512 keeps everything; generic keeps nothing.
#ifndef DC_CPU_H
#define DC_CPU_H

#include <stdbool.h>
#include "deepc.h"

enum {
    DC_CPU_AVX2 = 1u << 0,
    DC_CPU_FMA = 1u << 1,
    DC_CPU_AVX512F = 1u << 2,
    DC_CPU_AVX512BW = 1u << 3,
    DC_CPU_AVX512VL = 1u << 4,
    DC_CPU_AVX512DQ = 1u << 5,
    DC_CPU_AVX512VNNI = 1u << 6,
    DC_CPU_AVXVNNI = 1u << 7,
    DC_CPU_AVX512VBMI = 1u << 8,
};

// The feature sets the kernels are written for.
#define DC_CPU_LEVEL_AVX2 (DC_CPU_AVX2 | DC_CPU_FMA)
#define DC_CPU_LEVEL_AVX512                                                                  \
    (DC_CPU_LEVEL_AVX2 | DC_CPU_AVX512F | DC_CPU_AVX512BW | DC_CPU_AVX512VL | DC_CPU_AVX512DQ)

// What the hardware (and the OS, which must save the wider registers) offers.
unsigned dc_cpu_detected(void);
// dc_cpu_detected() limited by DEEPC_CPU (unset, empty or invalid: no limit;
// see dc_cpu_check_env).
unsigned dc_cpu_features(void);
// True when every bit of `need` is in `features`.
static inline bool dc_cpu_has(unsigned features, unsigned need) {
    return (features & need) == need;
}
// "avx512", "avx2" or "generic": the highest level `features` covers.
const char *dc_cpu_level_name(unsigned features);
// The mask a level name allows (generic, avx2, avx512); DC_ERR_ARG for any
// other name, with a message naming DEEPC_CPU and the accepted values.
dc_status dc_cpu_parse_level(const char *name, unsigned *mask, dc_error *err);
// DC_OK when DEEPC_CPU is unset, empty or a valid level; otherwise
// DC_ERR_ARG (the CLI reports it instead of silently ignoring a typo).
dc_status dc_cpu_check_env(dc_error *err);

#endif
