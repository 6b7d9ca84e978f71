// test_norm_simd.c — BatchNorm's vectorised sums give the plain loops' bits:
// the statistics and backward partials with the AVX2 variant and with
// DEEPC_CPU=generic are compared with memcmp over every remainder of the
// 8-lane sums (HW 1..41) and awkward channel and batch counts.
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "core/cpu.h"
#include "layers/norm.h"

int main(void) {
    if (!dc_cpu_has(dc_cpu_detected(), DC_CPU_AVX2)) {
        printf("SKIPPED: no AVX2 on this CPU (the plain loops are the only variant)\n");
        return dc_test_finish();
    }
    dc_rng r;
    dc_rng_seed(&r, 12);
    int bad = 0, cases = 0;
    for (int HW = 1; HW <= 41; HW++)
        for (int C = 1; C <= 5; C += 2)
            for (int N = 1; N <= 3; N++) {
                size_t n = (size_t)N * C * HW;
                float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n);
                for (size_t i = 0; i < n; i++) x[i] = 3.0f + 2.0f * dc_rng_normal(&r), dy[i] = dc_rng_normal(&r);
                float mean[5], invstd[5];
                for (int c = 0; c < C; c++) mean[c] = 3.0f + 0.1f * c, invstd[c] = 0.5f;
                double s1[5], q1[5], s2[5], q2[5], a1[5], b1[5], a2[5], b2[5];
                unsetenv("DEEPC_CPU");
                dc_bn2d_stats_partial(s1, q1, x, N, C, HW);
                dc_bn2d_backward_partial(a1, b1, dy, x, mean, invstd, N, C, HW);
                setenv("DEEPC_CPU", "generic", 1);
                dc_bn2d_stats_partial(s2, q2, x, N, C, HW);
                dc_bn2d_backward_partial(a2, b2, dy, x, mean, invstd, N, C, HW);
                unsetenv("DEEPC_CPU");
                cases++;
                bad += memcmp(s1, s2, sizeof(double) * C) || memcmp(q1, q2, sizeof(double) * C) ||
                       memcmp(a1, a2, sizeof(double) * C) || memcmp(b1, b2, sizeof(double) * C);
                free(x);
                free(dy);
            }
    CHECK(bad == 0, "%d of %d shapes differ between the AVX2 and plain sums", bad, cases);
    printf("  %d shapes, AVX2 and plain sums bit-identical\n", cases);
    return dc_test_finish();
}
