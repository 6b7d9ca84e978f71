// bench_int8.c — inference throughput of deepc sessions, fp32 against int8
// (issue 9), for bench/compress.sh. A bench tool, not part of the library.
//
// For each model file given: normalises the test images once (outside the
// timed region), plans one session per batch size before the clock starts,
// then times `--reps` passes (median reported) of
//   - batch 1 over the first --n1 test images, and
//   - batch 256 over the first --n256 test images,
// with --threads threads, and the accuracy over the whole test set. One JSON
// line per model.
//   gcc -std=c11 -O2 -Iinclude bench/bench_int8.c build/libdeepc.a $(libs) -o bench_int8
//   ./bench_int8 [--threads T] [--reps R] [--n1 N] [--n256 N] MODEL.safetensors...
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// median seconds of reps passes over n images in batches of `batch`
static double timed(dc_session *s, const float *x, int n, size_t img, int batch, float *z, int reps, dc_error *err) {
    double t[64];
    if (reps > 64) reps = 64;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (int i = 0; i < n; i += batch) {
            const int b = n - i < batch ? n - i : batch;
            if (dc_session_logits(s, x + (size_t)i * img, b, z, err)) return -1;
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    int threads = 1, reps = 5, n1 = 2000, n256 = 10000;
    const char *data = "fashion-mnist";
    dc_error err;
    dc_dataset train, test;
    if (dc_data_open(&train, &test, data, &err)) {
        fprintf(stderr, "bench_int8: %s\n", err.msg);
        return 1;
    }
    dc_dataset_free(&train);
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--threads") && a + 1 < argc) { threads = atoi(argv[++a]); continue; }
        if (!strcmp(argv[a], "--reps") && a + 1 < argc) { reps = atoi(argv[++a]); continue; }
        if (!strcmp(argv[a], "--n1") && a + 1 < argc) { n1 = atoi(argv[++a]); continue; }
        if (!strcmp(argv[a], "--n256") && a + 1 < argc) { n256 = atoi(argv[++a]); continue; }
        dc_model *m = NULL;
        if (dc_model_load(&m, argv[a], &err)) {
            fprintf(stderr, "bench_int8: %s\n", err.msg);
            return 1;
        }
        const int n = test.n, k = dc_model_num_classes(m);
        const size_t img = (size_t)test.c * test.h * test.w;
        float *x = malloc(sizeof(float) * (size_t)n * img), *z = malloc(sizeof(float) * 256 * (size_t)k);
        float *all = malloc(sizeof(float) * 256 * (size_t)k);
        dc_model_normalise(m, x, test.pixels, (size_t)n * img);
        dc_session *s1 = NULL, *s256 = NULL;
        if (dc_session_new(&s1, m, 1, threads, &err) || dc_session_new(&s256, m, 256, threads, &err)) {
            fprintf(stderr, "bench_int8: %s\n", err.msg);
            return 1;
        }
        // accuracy over the whole test set (and a warm-up)
        int correct = 0;
        for (int i = 0; i < n; i += 256) {
            const int b = n - i < 256 ? n - i : 256;
            dc_session_logits(s256, x + (size_t)i * img, b, all, &err);
            for (int j = 0; j < b; j++) {
                int arg = 0;
                for (int c = 1; c < k; c++)
                    if (all[(size_t)j * k + c] > all[(size_t)j * k + arg]) arg = c;
                correct += arg == test.labels[i + j];
            }
        }
        const int a1 = n1 < n ? n1 : n, a256 = n256 < n ? n256 : n;
        const double t1 = timed(s1, x, a1, img, 1, z, reps, &err), t256 = timed(s256, x, a256, img, 256, z, reps, &err);
        printf("{\"model\":\"%s\",\"threads\":%d,\"reps\":%d,\"b1_ips\":%.1f,\"b256_ips\":%.1f,\"accuracy\":%.4f}\n", argv[a],
               threads, reps, a1 / t1, a256 / t256, (double)correct / n);
        fflush(stdout);
        dc_session_free(s1);
        dc_session_free(s256);
        free(x), free(z), free(all);
        dc_model_free(m);
    }
    dc_dataset_free(&test);
    return 0;
}
