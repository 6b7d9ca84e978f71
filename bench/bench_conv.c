// bench_conv.c — times every convolution kernel in the registry on the
// shapes resnet20 (and LeNet-5) run, per pass, single-threaded as the graph
// executor calls them (one contiguous slice of the batch per thread: N = 64
// is a batch of 128 on 2 threads; N = 1 and 256 are inference batches), and
// states each as GFLOP/s and as a percentage of the measured single-core FMA
// peak. Columns: the kernel the plan chooses (dc_conv_plan_make), the kernel
// deepc ran before the registry (lanes8 for N >= 4, the direct forward for
// N < 4; im2col without AVX2), and every usable kernel forced, so the choice
// can be checked against measurement. At the end of each N: the convolution
// time of one resnet20 training step on the slice (each shape times its
// count in the network; the stem needs no dx), chosen vs previous.
//
// Build and run from the repository root:
//   gcc -O3 -Iinclude -Isrc bench/bench_conv.c src/kernels/*.c src/core/cpu.c \
//       src/core/status.c -fopenmp -lm -o /tmp/bench_conv && /tmp/bench_conv
//   /tmp/bench_conv 64            only N = 64 (default: 64 1 256)
//   /tmp/bench_conv --samples 31  more samples (default 15)
//   DEEPC_CPU=avx2 /tmp/bench_conv   the plan on an AVX2-only CPU
//
// Forwards run on weights prepared once where the kernel can (the Winograd
// kernels' transformed U, dc_conv_pack), as an inference session runs them;
// the chosen column is the plan with prepared weights.
//
// FLOPs: 2 x the multiply-adds of the direct algorithm, N*OC*C*K*K*OH*OW,
// for every pass and every kernel (Winograd's are fewer; its GFLOP/s are
// "direct-equivalent", which is what makes them comparable).
//
// Timing: thread CPU time (time descheduled on the shared 2-core VM does not
// count); each sample runs the call enough times to take >= 2 ms; the
// candidates of one shape and pass are sampled in turn (interleaved) so a
// slow spell hits all of them; the median and the minimum of the samples are
// reported (the minimum is the better estimate when the machine is loaded).
// The peaks are best-of-5 runs of 12 (ymm) or 16 (zmm) independent FMA
// chains, as bench/peak.c.
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/cpu.h"
#include "kernels/conv_registry.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// --- single-core FMA peaks ---------------------------------------------------
__attribute__((target("avx2,fma"))) static float fma_ymm(long iters) {
    __m256 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], x, y);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float fma_zmm(long iters) {
    __m512 a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) a[j] = _mm512_fmadd_ps(a[j], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

static double peak(bool zmm) {
    const long iters = 10L * 1000 * 1000;
    volatile float sink = zmm ? fma_zmm(iters / 4) : fma_ymm(iters / 4); // clock ramp
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t0 = cpu_now();
        sink += zmm ? fma_zmm(iters) : fma_ymm(iters);
        const double t = cpu_now() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    return (zmm ? 16.0 * 32 : 12.0 * 16) * iters / best * 1e-9;
}

// --- shapes ------------------------------------------------------------------
typedef struct shape {
    const char *name;
    int C, H, OC, K, stride, pad;
    int count;   // convolutions of this shape in one resnet20 (0: LeNet-5, not summed)
    bool no_dx;  // the network needs no dx (its input is the image)
} shape;

static const shape shapes[] = {
    {"stem 1->16 28", 1, 28, 16, 3, 1, 1, 1, true},
    {"16->16 28", 16, 28, 16, 3, 1, 1, 6, false},
    {"16->32 28 s2", 16, 28, 32, 3, 2, 1, 1, false},
    {"32->32 14", 32, 14, 32, 3, 1, 1, 5, false},
    {"1x1 16->32 s2", 16, 28, 32, 1, 2, 0, 1, false},
    {"32->64 14 s2", 32, 14, 64, 3, 2, 1, 1, false},
    {"64->64 7", 64, 7, 64, 3, 1, 1, 5, false},
    {"1x1 32->64 s2", 32, 14, 64, 1, 2, 0, 1, false},
    {"lenet 1->6 5x5", 1, 28, 6, 5, 1, 2, 0, true},
    {"lenet 6->16 5x5", 6, 14, 16, 5, 1, 0, 0, false},
};

static const char *const kernels[] = {"im2col", "direct", "direct16", "lanes8", "lanes16", "wino8", "wino16", "winot8", "winot16", "wino4t8", "wino4t16"};
#define NK (int)(sizeof kernels / sizeof kernels[0])
#define MAXS 101

static const char *pass_name(unsigned pass) {
    return pass == DC_CONV_FWD ? "fwd" : pass == DC_CONV_BWD_DATA ? "dx" : "dw";
}

typedef struct bufs {
    float *x, *w, *y, *dy, *dx, *dw, *sc;
    float *pk; // the weights prepared once (dc_conv_pack), or NULL
} bufs;

static void run(const dc_conv_impl *k, unsigned pass, const dc_conv_shape *s, int N,
                const bufs *b) {
    if (pass == DC_CONV_FWD && b->pk && k->forward_packed)
        k->forward_packed(b->y, b->x, b->pk, s->OC, NULL, false, NULL, N, s, b->sc);
    else if (pass == DC_CONV_FWD)
        k->forward(b->y, b->x, b->w, NULL, false, N, s, b->sc);
    else if (pass == DC_CONV_BWD_DATA)
        k->backward(b->dx, NULL, NULL, b->dy, b->x, b->w, N, s, b->sc);
    else
        k->backward(NULL, b->dw, NULL, b->dy, b->x, b->w, N, s, b->sc);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *rand_buf(size_t n, uint64_t *st) {
    float *x = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63);
    if (!x) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((*st >> 40) * (1.0 / (1 << 24))) * 2.0f - 1.0f;
    }
    return x;
}

// Median and minimum seconds per call of each candidate, interleaved.
static void time_candidates(const dc_conv_impl **cand, int nc, unsigned pass,
                            const dc_conv_shape *s, int N, const bufs *b, int samples,
                            double *med, double *mn) {
    int reps[NK + 2];
    for (int c = 0; c < nc; c++) {
        run(cand[c], pass, s, N, b); // warm
        reps[c] = 1;
        for (;;) {
            const double t0 = cpu_now();
            for (int r = 0; r < reps[c]; r++) run(cand[c], pass, s, N, b);
            if (cpu_now() - t0 >= 2e-3 || reps[c] >= (1 << 16)) break;
            reps[c] *= 2;
        }
    }
    static double t[NK + 2][MAXS];
    for (int r = 0; r < samples; r++)
        for (int c = 0; c < nc; c++) {
            const double t0 = cpu_now();
            for (int k = 0; k < reps[c]; k++) run(cand[c], pass, s, N, b);
            t[c][r] = (cpu_now() - t0) / reps[c];
        }
    for (int c = 0; c < nc; c++) {
        qsort(t[c], (size_t)samples, sizeof(double), cmp_double);
        med[c] = t[c][samples / 2];
        mn[c] = t[c][0];
    }
}

int main(int argc, char **argv) {
    int Ns[8], nN = 0, samples = 15;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
            samples = atoi(argv[++i]);
            if (samples < 1 || samples > MAXS) samples = 15;
        } else if (nN < 8 && atoi(argv[i]) > 0) {
            Ns[nN++] = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: bench_conv [--samples S] [N ...]\n");
            return 2;
        }
    }
    if (!nN) Ns[nN++] = 64, Ns[nN++] = 1, Ns[nN++] = 256;
    const unsigned cpu = dc_cpu_features(), hw = dc_cpu_detected();
    const double p2 = dc_cpu_has(hw, DC_CPU_LEVEL_AVX2) ? peak(false) : 0;
    const double p5 = dc_cpu_has(hw, DC_CPU_AVX512F) ? peak(true) : 0;
    printf("CPU level for the plans: %s (hardware: %s). Single-core fp32 FMA peak: %.1f "
           "GFLOP/s with ymm (AVX2), %.1f with zmm (AVX-512).\n",
           dc_cpu_level_name(cpu), dc_cpu_level_name(hw), p2, p5);
    printf("GFLOP/s = direct-algorithm FLOPs / median time (min time in brackets); %%pk = "
           "median GFLOP/s / the ymm peak, %%pk512 / the zmm peak.\n\n");
    uint64_t st = 7;
    for (int ni = 0; ni < nN; ni++) {
        const int N = Ns[ni];
        double step_new = 0, step_old = 0, step_flop = 0;
        printf("N = %d\n", N);
        printf("%-16s %-3s | %-7s %16s %5s %6s | %-7s %16s | %5s |", "shape", "pass", "chosen",
               "GFLOP/s", "%pk", "%pk512", "before", "GFLOP/s", "x");
        for (int k = 0; k < NK; k++) printf(" %8s", kernels[k]);
        printf("\n");
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *sh = &shapes[si];
            const dc_conv_shape s = dc_conv_shape_make(sh->C, sh->H, sh->H, sh->OC, sh->K,
                                                       sh->stride, sh->pad);
            const size_t nx = (size_t)N * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
            const size_t ny = (size_t)N * s.OC * s.OH * s.OW;
            bufs b = {rand_buf(nx, &st), rand_buf(nw, &st), rand_buf(ny, &st), rand_buf(ny, &st),
                      rand_buf(nx, &st), rand_buf(nw, &st), NULL, NULL};
            const size_t npk = dc_conv_pack_floats(&s, cpu);
            if (npk) {
                b.pk = rand_buf(npk, &st);
                dc_conv_pack(b.pk, b.w, &s, cpu);
            }
            const double flop = 2.0 * N * s.OC * s.C * s.K * s.K * s.OH * s.OW;
            dc_conv_plan plan;
            dc_error err;
            if (dc_conv_plan_make_prepared(&plan, &s, N, DC_CONV_ALL, cpu, npk > 0, &err) != DC_OK) {
                fprintf(stderr, "bench_conv: %s\n", err.msg);
                return 1;
            }
            const unsigned passes[3] = {DC_CONV_FWD, DC_CONV_BWD_DATA, DC_CONV_BWD_WEIGHTS};
            for (int pi = 0; pi < 3; pi++) {
                const unsigned pass = passes[pi];
                if (pass == DC_CONV_BWD_DATA && sh->no_dx) continue;
                const dc_conv_impl *chosen = pass == DC_CONV_FWD        ? plan.fwd
                                             : pass == DC_CONV_BWD_DATA ? plan.bwd_data
                                                                        : plan.bwd_weights;
                const char *old = !dc_cpu_has(cpu, DC_CPU_LEVEL_AVX2)   ? "im2col"
                                  : pass == DC_CONV_FWD && N < 4 ? "direct"
                                                                         : "lanes8";
                const dc_conv_impl *cand[NK + 2];
                int col[NK + 2], nc = 0;
                cand[nc] = chosen, col[nc++] = -1;
                cand[nc] = dc_conv_impl_find(old), col[nc++] = -2;
                for (int k = 0; k < NK; k++) {
                    const dc_conv_impl *impl = dc_conv_impl_find(kernels[k]);
                    if (!dc_conv_impl_usable(impl, &s, pass, hw)) continue;
                    cand[nc] = impl, col[nc++] = k;
                }
                size_t nsc = 16;
                for (int c = 0; c < nc; c++) {
                    const size_t n = cand[c]->scratch_floats(&s, pass);
                    if (n > nsc) nsc = n;
                }
                b.sc = rand_buf(nsc, &st);
                double med[NK + 2], mn[NK + 2];
                time_candidates(cand, nc, pass, &s, N, &b, samples, med, mn);
                free(b.sc);
                const double g0 = flop / med[0] * 1e-9, g1 = flop / med[1] * 1e-9;
                char c0[32], c1[32];
                snprintf(c0, sizeof c0, "%.1f [%.1f]", g0, flop / mn[0] * 1e-9);
                snprintf(c1, sizeof c1, "%.1f [%.1f]", g1, flop / mn[1] * 1e-9);
                printf("%-16s %-3s | %-7s %16s %4.0f%% %5.0f%% | %-7s %16s | %5.2f |", sh->name,
                       pass_name(pass), chosen->name, c0, p2 > 0 ? 100 * g0 / p2 : 0.0,
                       p5 > 0 ? 100 * g0 / p5 : 0.0, old, c1, med[1] / med[0]);
                for (int k = 0; k < NK; k++) {
                    int c = 2;
                    while (c < nc && col[c] != k) c++;
                    if (c < nc)
                        printf(" %8.1f", flop / med[c] * 1e-9);
                    else
                        printf(" %8s", "-");
                }
                printf("\n");
                if (sh->count) {
                    step_new += sh->count * med[0];
                    step_old += sh->count * med[1];
                    step_flop += sh->count * flop;
                }
            }
            free(b.x); free(b.w); free(b.y); free(b.dy); free(b.dx); free(b.dw); free(b.pk);
        }
        printf("resnet20 training step, convolutions of one slice of N = %d (sum of medians): "
               "%.2f ms at %.1f GFLOP/s chosen, %.2f ms at %.1f GFLOP/s before: %.2fx\n\n",
               N, 1e3 * step_new, step_flop / step_new * 1e-9, 1e3 * step_old,
               step_flop / step_old * 1e-9, step_old / step_new);
    }
    return 0;
}
