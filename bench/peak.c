// peak.c — measures the fp32 FMA peak of this machine, per core and for all
// cores, with 256-bit (AVX2+FMA) and 512-bit (AVX-512F) FMAs, and the int8
// multiply-accumulate peak (AVX2, AVX-512 VNNI), so GEMM and
// training numbers can be stated as a fraction of what the hardware can do.
// A standalone bench tool, not part of the library.
//
// Build and run (no -m flags: each kernel carries its own target attribute
// and main() picks them at run time with __builtin_cpu_supports, so one
// binary runs everywhere and skips, with a note, what the CPU lacks):
//   gcc -O2 -fopenmp bench/peak.c -o /tmp/peak && /tmp/peak [--json]
//
// Method: independent accumulator chains, each a vfmadd231ps: 12 ymm chains
// for AVX2, 16 zmm chains for AVX-512. A core with two FMA pipes of 4-cycle
// latency needs at least 8 independent chains to keep both busy; 12 and 16
// leave headroom. Each FMA is 8 (ymm) or 16 (zmm) lanes x 2 flops. Cores that
// split a 512-bit FMA into two 256-bit halves (Zen 4) give the same figure
// for both widths; cores with two full 512-bit pipes (Intel Xeon since
// Skylake-SP, in the server parts) give about twice the AVX2 figure.
// The best of 100 short (~3 ms) timed runs is reported (the machine is shared and
// virtualised, so the minimum time is the honest estimate).
//
// --json prints one object instead of the text:
//   {"avx2": {"1": G, "N": G} | null, "avx512": {...} | null,
//    "best": {"isa": "avx512", "1": G, "N": G}, "cores": N}
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Runs `iters` iterations of 12 independent 256-bit FMAs; returns a value
// derived from the accumulators so the compiler cannot drop the loop.
__attribute__((target("avx2,fma"))) static float fma_chains_avx2(long iters) {
    // Distinct start values so the compiler cannot merge identical chains.
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(1.0f),
           a2 = _mm256_set1_ps(2.0f), a3 = _mm256_set1_ps(3.0f),
           a4 = _mm256_set1_ps(4.0f), a5 = _mm256_set1_ps(5.0f),
           a6 = _mm256_set1_ps(6.0f), a7 = _mm256_set1_ps(7.0f),
           a8 = _mm256_set1_ps(8.0f), a9 = _mm256_set1_ps(9.0f),
           a10 = _mm256_set1_ps(10.0f), a11 = _mm256_set1_ps(11.0f);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, x, y);
        a1 = _mm256_fmadd_ps(a1, x, y);
        a2 = _mm256_fmadd_ps(a2, x, y);
        a3 = _mm256_fmadd_ps(a3, x, y);
        a4 = _mm256_fmadd_ps(a4, x, y);
        a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y);
        a7 = _mm256_fmadd_ps(a7, x, y);
        a8 = _mm256_fmadd_ps(a8, x, y);
        a9 = _mm256_fmadd_ps(a9, x, y);
        a10 = _mm256_fmadd_ps(a10, x, y);
        a11 = _mm256_fmadd_ps(a11, x, y);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}
#define FLOPS_PER_ITER_AVX2 (12.0 * 8 * 2)

// The same with 16 independent 512-bit FMAs.
__attribute__((target("avx512f"))) static float fma_chains_avx512(long iters) {
    __m512 a0 = _mm512_set1_ps(0.0f), a1 = _mm512_set1_ps(1.0f),
           a2 = _mm512_set1_ps(2.0f), a3 = _mm512_set1_ps(3.0f),
           a4 = _mm512_set1_ps(4.0f), a5 = _mm512_set1_ps(5.0f),
           a6 = _mm512_set1_ps(6.0f), a7 = _mm512_set1_ps(7.0f),
           a8 = _mm512_set1_ps(8.0f), a9 = _mm512_set1_ps(9.0f),
           a10 = _mm512_set1_ps(10.0f), a11 = _mm512_set1_ps(11.0f),
           a12 = _mm512_set1_ps(12.0f), a13 = _mm512_set1_ps(13.0f),
           a14 = _mm512_set1_ps(14.0f), a15 = _mm512_set1_ps(15.0f);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, x, y);
        a1 = _mm512_fmadd_ps(a1, x, y);
        a2 = _mm512_fmadd_ps(a2, x, y);
        a3 = _mm512_fmadd_ps(a3, x, y);
        a4 = _mm512_fmadd_ps(a4, x, y);
        a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y);
        a7 = _mm512_fmadd_ps(a7, x, y);
        a8 = _mm512_fmadd_ps(a8, x, y);
        a9 = _mm512_fmadd_ps(a9, x, y);
        a10 = _mm512_fmadd_ps(a10, x, y);
        a11 = _mm512_fmadd_ps(a11, x, y);
        a12 = _mm512_fmadd_ps(a12, x, y);
        a13 = _mm512_fmadd_ps(a13, x, y);
        a14 = _mm512_fmadd_ps(a14, x, y);
        a15 = _mm512_fmadd_ps(a15, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15)));
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0] + out[15];
}
#define FLOPS_PER_ITER_AVX512 (16.0 * 16 * 2)

// int8 products, in multiply-accumulates (MACs) of uint8 x int8 pairs, the
// int8 kernels' unit: 16 independent vpdpbusd zmm chains (AVX-512 VNNI, 64
// MACs each), and AVX2's three-instruction sequence without VNNI
// (vpmaddubsw to int16 pairs, vpmaddwd by ones to int32, vpaddd: 32 MACs
// per sequence; 8 independent chains). Reported as GMAC/s.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static float dpbusd_chains(long iters) {
    // named variables, not an array: an array of vectors is kept in memory
    // and the chains then run at the store-to-load forwarding latency
    __m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2), a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5), a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8), a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11), a12 = _mm512_set1_epi32(12), a13 = _mm512_set1_epi32(13), a14 = _mm512_set1_epi32(14), a15 = _mm512_set1_epi32(15);
    const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_dpbusd_epi32(a0, x, y);
        a1 = _mm512_dpbusd_epi32(a1, x, y);
        a2 = _mm512_dpbusd_epi32(a2, x, y);
        a3 = _mm512_dpbusd_epi32(a3, x, y);
        a4 = _mm512_dpbusd_epi32(a4, x, y);
        a5 = _mm512_dpbusd_epi32(a5, x, y);
        a6 = _mm512_dpbusd_epi32(a6, x, y);
        a7 = _mm512_dpbusd_epi32(a7, x, y);
        a8 = _mm512_dpbusd_epi32(a8, x, y);
        a9 = _mm512_dpbusd_epi32(a9, x, y);
        a10 = _mm512_dpbusd_epi32(a10, x, y);
        a11 = _mm512_dpbusd_epi32(a11, x, y);
        a12 = _mm512_dpbusd_epi32(a12, x, y);
        a13 = _mm512_dpbusd_epi32(a13, x, y);
        a14 = _mm512_dpbusd_epi32(a14, x, y);
        a15 = _mm512_dpbusd_epi32(a15, x, y);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15)));
    return (float)_mm512_reduce_add_epi32(s);
}
#define MACS_PER_ITER_VNNI (16.0 * 64)

__attribute__((target("avx2"))) static float maddubs_chains(long iters) {
    __m256i a0 = _mm256_set1_epi32(0), a1 = _mm256_set1_epi32(1), a2 = _mm256_set1_epi32(2), a3 = _mm256_set1_epi32(3), a4 = _mm256_set1_epi32(4), a5 = _mm256_set1_epi32(5), a6 = _mm256_set1_epi32(6), a7 = _mm256_set1_epi32(7);
    __m256i x0 = _mm256_set1_epi8(3), x1 = _mm256_set1_epi8(5), x2 = _mm256_set1_epi8(7), x3 = _mm256_set1_epi8(9);
    __m256i x4 = _mm256_set1_epi8(11), x5 = _mm256_set1_epi8(13), x6 = _mm256_set1_epi8(15), x7 = _mm256_set1_epi8(17);
    const __m256i y = _mm256_set1_epi8(-2);
    const __m256i ones = _mm256_set1_epi16(1);
    for (long i = 0; i < iters; i++) {
        // opaque, one multiplicand per chain: the products are neither hoisted
        // out of the loop nor shared between chains
        __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5), "+x"(x6), "+x"(x7));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, y), ones));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, y), ones));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(x2, y), ones));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(x3, y), ones));
        a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(_mm256_maddubs_epi16(x4, y), ones));
        a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(_mm256_maddubs_epi16(x5, y), ones));
        a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(_mm256_maddubs_epi16(x6, y), ones));
        a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(_mm256_maddubs_epi16(x7, y), ones));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
    int out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    return (float)(out[0] + out[7]);
}
#define MACS_PER_ITER_AVX2_INT8 (8.0 * 32)

#define REPS 100

typedef float (*chains_fn)(long iters);

// GFLOP/s with `nthreads` threads, best of `reps` runs.
static double measure(chains_fn fn, double flops_per_iter, int nthreads, long iters, int reps) {
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = 0, t1 = 0;
        float acc = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : acc)
        {
#pragma omp barrier
#pragma omp master
            t0 = now();
#pragma omp barrier
            acc += fn(iters);
#pragma omp barrier
#pragma omp master
            t1 = now();
        }
        sink += acc;
        if (t1 - t0 < best) best = t1 - t0;
    }
    (void)sink;
    return flops_per_iter * iters * nthreads / best * 1e-9;
}

struct peak {
    int ok;           // 1 when the CPU has the ISA and it was measured
    double one, all;  // GFLOP/s on 1 core and on all cores
};

static struct peak run_isa(chains_fn fn, double flops_per_iter, int ncores) {
    // Short runs, many of them: ~3 ms per run at ~100 GFLOP/s for AVX2
    // (the same count of instructions for AVX-512, twice the flops each),
    // best of REPS. On a loaded machine a long run is almost always
    // preempted somewhere; among 100 short ones some run undisturbed, so the
    // best of them is still the hardware's figure.
    const long iters = 1L * 1000 * 1000;
    struct peak p = {1, 0, 0};
    measure(fn, flops_per_iter, 1, iters * 20, 1); // warm up (clock ramp, AVX-512 licence)
    p.one = measure(fn, flops_per_iter, 1, iters, REPS);
    p.all = measure(fn, flops_per_iter, ncores, iters, REPS);
    return p;
}

static void json_peak(const char *name, struct peak p, int ncores) {
    if (p.ok)
        printf("\"%s\": {\"1\": %.1f, \"%d\": %.1f}, ", name, p.one, ncores, p.all);
    else
        printf("\"%s\": null, ", name);
}

int main(int argc, char **argv) {
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json)) {
        fprintf(stderr, "usage: %s [--json]\n", argv[0]);
        return 2;
    }
    int ncores = omp_get_num_procs();
    __builtin_cpu_init();
    struct peak avx2 = {0, 0, 0}, avx512 = {0, 0, 0};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        avx2 = run_isa(fma_chains_avx2, FLOPS_PER_ITER_AVX2, ncores);
    if (__builtin_cpu_supports("avx512f"))
        avx512 = run_isa(fma_chains_avx512, FLOPS_PER_ITER_AVX512, ncores);
    struct peak vnni = {0, 0, 0}, i8avx2 = {0, 0, 0};
    if (__builtin_cpu_supports("avx2")) i8avx2 = run_isa(maddubs_chains, MACS_PER_ITER_AVX2_INT8, ncores);
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
        vnni = run_isa(dpbusd_chains, MACS_PER_ITER_VNNI, ncores);
    struct peak best = avx512.ok && avx512.one > avx2.one ? avx512 : avx2;
    const char *best_isa = avx512.ok && avx512.one > avx2.one ? "avx512" : "avx2";
    if (!best.ok) {
        fprintf(stderr, "peak: this CPU has neither AVX2+FMA nor AVX-512F: nothing to measure\n");
        return 1;
    }
    if (json) {
        printf("{");
        json_peak("avx2", avx2, ncores);
        json_peak("avx512", avx512, ncores);
        json_peak("int8_avx2_gmacs", i8avx2, ncores);
        json_peak("int8_vnni512_gmacs", vnni, ncores);
        printf("\"best\": {\"isa\": \"%s\", \"1\": %.1f, \"%d\": %.1f}, \"cores\": %d}\n", best_isa,
               best.one, ncores, best.all, ncores);
        return 0;
    }
    if (avx2.ok) {
        printf("fp32 FMA peak: 1 core  %.1f GFLOP/s\n", avx2.one);
        printf("fp32 FMA peak: %d cores %.1f GFLOP/s (%.2fx)\n", ncores, avx2.all, avx2.all / avx2.one);
        printf("(AVX2: 12 independent ymm FMA chains, best of %d runs)\n", REPS);
    } else {
        printf("AVX2+FMA: not supported by this CPU, skipped\n");
    }
    if (avx512.ok) {
        printf("fp32 FMA peak AVX-512: 1 core  %.1f GFLOP/s\n", avx512.one);
        printf("fp32 FMA peak AVX-512: %d cores %.1f GFLOP/s (%.2fx)\n", ncores, avx512.all,
               avx512.all / avx512.one);
        printf("(AVX-512F: 16 independent zmm FMA chains, best of %d runs)\n", REPS);
    } else {
        printf("AVX-512F: not supported by this CPU, skipped\n");
    }
    if (i8avx2.ok)
        printf("int8 peak AVX2 (vpmaddubsw+vpmaddwd+vpaddd): 1 core %.1f GMAC/s, %d cores %.1f\n", i8avx2.one,
               ncores, i8avx2.all);
    if (vnni.ok)
        printf("int8 peak AVX-512 VNNI (vpdpbusd zmm): 1 core %.1f GMAC/s, %d cores %.1f\n", vnni.one, ncores,
               vnni.all);
    else
        printf("AVX-512 VNNI: not supported by this CPU, skipped\n");
    printf("best: %s, 1 core %.1f GFLOP/s, %d cores %.1f GFLOP/s\n", best_isa, best.one, ncores,
           best.all);
    return 0;
}
