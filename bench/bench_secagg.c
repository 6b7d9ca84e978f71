// bench_secagg.c — the cost of one secure-aggregation round (dc_secagg_simulate)
// against the plain float sum it replaces, at LeNet-5's parameter count
// (n = 61706) for K = 10, 30, 100 clients with 10% of them dropping out.
// Reports wall seconds per round (median of 5), and what a real deployment
// would send per client (mean over all K clients; masked vectors are 8 bytes a value, twice a float).
//
// Build and run from the repository root:
//   gcc -O2 -Iinclude -Isrc bench/bench_secagg.c src/federated/secagg.c src/core/*.c
//       -fopenmp -lsodium -lm -o /tmp/bench_secagg && /tmp/bench_secagg [threads]
//
// Cost model: each client expands K keystreams of 8n bytes (XChaCha20), the
// server one per survivor plus one per (dropped, survivor) pair; key
// agreement and share encryption grow with K^2 but are tiny next to that.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "federated/secagg.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const size_t n = 61706;
    const int threads = argc > 1 ? atoi(argv[1]) : 0;
    const int Ks[] = {10, 30, 100};
    printf("| clients | dropped | threads | secagg s/round | plain sum s/round | up KB/client | F |\n");
    printf("|--------:|--------:|--------:|---------------:|------------------:|-------------:|--:|\n");
    for (int ki = 0; ki < 3; ki++) {
        const int K = Ks[ki], t = (2 * K + 2) / 3;
        float **u = malloc(sizeof *u * (size_t)K);
        bool *drop = calloc((size_t)K, sizeof *drop);
        float *sum = malloc(sizeof(float) * n);
        if (!u || !drop || !sum) return 1;
        uint64_t s = 1;
        for (int k = 0; k < K; k++) {
            if (!(u[k] = malloc(sizeof(float) * n))) return 1;
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                u[k][i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5) * 0.1f;
            }
            drop[k] = k % 10 == 9; // 10%
        }
        dc_secagg_params p = dc_secagg_params_default(K, t, n);
        p.nthreads = threads;
        double ts[5], tp[5];
        dc_secagg_stats st;
        for (int r = 0; r < 5; r++) {
            dc_error err;
            p.round = (uint64_t)r;
            double t0 = dc_now_seconds();
            if (dc_secagg_simulate(&p, (const float *const *)u, drop, sum, NULL, &st, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            ts[r] = dc_now_seconds() - t0;
            t0 = dc_now_seconds();
            memset(sum, 0, sizeof(float) * n);
            for (int k = 0; k < K; k++)
                if (!drop[k])
                    for (size_t i = 0; i < n; i++) sum[i] += u[k][i];
            tp[r] = dc_now_seconds() - t0;
        }
        qsort(ts, 5, sizeof *ts, cmp_d);
        qsort(tp, 5, sizeof *tp, cmp_d);
        int nd = 0;
        for (int k = 0; k < K; k++) nd += drop[k];
        printf("| %d | %d | %d | %.3f | %.5f | %.0f | %d |\n", K, nd,
               threads > 0 ? threads : dc_default_threads(), ts[2], tp[2],
               st.bytes_up / K / 1024.0, st.frac_bits);
        for (int k = 0; k < K; k++) free(u[k]);
        free(u);
        free(drop);
        free(sum);
    }
    return 0;
}
