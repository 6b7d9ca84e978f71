// peak.c — measures the fp32 FMA peak of this machine, per core and for all
// cores, so GEMM numbers can be stated as a fraction of what the hardware can
// do. A standalone bench tool, not part of the library.
//
// Build and run (the flags are needed here because the loop is written with
// AVX2/FMA intrinsics and nothing dispatches at run time):
//   gcc -O2 -mavx2 -mfma -fopenmp bench/peak.c -o /tmp/peak && /tmp/peak
//
// Method: 12 independent ymm accumulator chains, each a vfmadd231ps. Zen 3
// has two 256-bit FMA pipes with 4-cycle latency, so at least 8 independent
// chains are needed to keep both pipes busy; 12 leaves headroom. Each FMA is
// 8 lanes x 2 flops. The best of several timed runs is reported (the machine
// is shared and virtualised, so the minimum time is the honest estimate).
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// Runs `iters` iterations of 12 independent FMAs; returns a value derived
// from the accumulators so the compiler cannot drop the loop.
static float fma_chains(long iters) {
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

#define FLOPS_PER_ITER (12.0 * 8 * 2)

// GFLOP/s with `nthreads` threads, best of `reps` runs.
static double measure(int nthreads, long iters, int reps) {
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
            acc += fma_chains(iters);
#pragma omp barrier
#pragma omp master
            t1 = now();
        }
        sink += acc;
        if (t1 - t0 < best) best = t1 - t0;
    }
    (void)sink;
    return FLOPS_PER_ITER * iters * nthreads / best * 1e-9;
}

int main(void) {
    const long iters = 50L * 1000 * 1000; // ~0.15 s per run at ~100 GFLOP/s
    int ncores = omp_get_num_procs();
    measure(1, iters / 10, 1); // warm up (clock ramp)
    double one = measure(1, iters, 5);
    double all = measure(ncores, iters, 5);
    printf("fp32 FMA peak: 1 core  %.1f GFLOP/s\n", one);
    printf("fp32 FMA peak: %d cores %.1f GFLOP/s (%.2fx)\n", ncores, all, all / one);
    printf("(12 independent ymm FMA chains, best of 5 runs of %ld iterations)\n", iters);
    return 0;
}
