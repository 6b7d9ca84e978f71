// bench_infer.c — inference throughput of libdeepc, for bench/run.sh. A bench
// tool, not part of the library.
//
// Loads a trained model file and the test set, normalises every test image
// once (dc_model_normalise, outside the timed region, as bench_torch.py does),
// then times dc_model_predict (softmax output included):
//   - batch 1 over the first --n1 images (default 10000) with 1 thread,
//   - batch 1000 over the whole test set with 1 thread and with all threads
//     (best of 3 passes each).
// Prints one JSON line: images/s for each, and the test accuracy of the
// batch-1000 predictions as a check that the model is the trained one.
//
// Build (run.sh does this):
//   gcc -std=c11 -O2 -Wall -Wextra -Iinclude bench/bench_infer.c
//       build/libdeepc.a -fopenmp -lz -lpng -lcjson -lm -o bench_infer
// (one line; split here only to fit).
// Run:
//   ./bench_infer MODEL.safetensors [--data fashion-mnist] [--n1 10000]
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Predicts all n images in batches of `batch` with `threads` threads; returns
// the elapsed seconds, or a negative value on error (message in err).
// The session is planned before the clock starts, as a server does once.
static double time_pass(dc_model *m, const float *x, int n, size_t img,
                        float *probs, int k, int batch, int threads,
                        dc_error *err) {
    dc_session *s;
    if (dc_session_new(&s, m, batch, threads, err)) return -1.0;
    double t0 = now();
    for (int i = 0; i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        if (dc_session_predict(s, x + (size_t)i * img, b, probs + (size_t)i * k, err)) {
            dc_session_free(s);
            return -1.0;
        }
    }
    double t = now() - t0;
    dc_session_free(s);
    return t;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *data = "fashion-mnist";
    int n1 = 10000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--n1") && i + 1 < argc)
            n1 = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model_path)
            model_path = argv[i];
        else {
            fprintf(stderr, "usage: %s MODEL.safetensors [--data SPEC] [--n1 N]\n", argv[0]);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "usage: %s MODEL.safetensors [--data SPEC] [--n1 N]\n", argv[0]);
        return 2;
    }

    dc_error err;
    dc_model *m = NULL;
    dc_dataset train, test;
    if (dc_model_load(&m, model_path, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.msg);
        return 1;
    }
    if (dc_data_open(&train, &test, data, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.msg);
        dc_model_free(m);
        return 1;
    }
    dc_dataset_free(&train); // only the test set is needed

    int rc = 1;
    int n = test.n, k = dc_model_num_classes(m);
    size_t img = (size_t)test.c * test.h * test.w;
    float *x = malloc((size_t)n * img * sizeof *x);
    float *probs = malloc((size_t)n * k * sizeof *probs);
    if (!x || !probs) {
        fprintf(stderr, "bench_infer: out of memory for %d test images\n", n);
        goto done;
    }
    dc_model_normalise(m, x, test.pixels, (size_t)n * img);
    if (n1 > n) n1 = n;
    if (n1 < 1) n1 = 1;
    int all = omp_get_num_procs();

    // Warm-up: first touches of buffers, thread pool start.
    if (time_pass(m, x, 1000 < n ? 1000 : n, img, probs, k, 1000, all, &err) < 0 ||
        time_pass(m, x, 100 < n ? 100 : n, img, probs, k, 1, 1, &err) < 0)
        goto fail;

    double t1 = time_pass(m, x, n1, img, probs, k, 1, 1, &err);
    if (t1 < 0) goto fail;
    double best_1t = 1e30, best_all = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = time_pass(m, x, n, img, probs, k, 1000, 1, &err);
        if (t < 0) goto fail;
        if (t < best_1t) best_1t = t;
        t = time_pass(m, x, n, img, probs, k, 1000, all, &err);
        if (t < 0) goto fail;
        if (t < best_all) best_all = t;
    }
    // probs now holds the last all-threads pass over the whole test set.
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * k;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (p[j] > p[arg]) arg = j;
        correct += arg == test.labels[i];
    }
    printf("{\"event\":\"infer\",\"n_b1\":%d,\"infer_b1_ips\":%.1f,"
           "\"infer_b1000_1t_ips\":%.1f,\"infer_b1000_ips\":%.1f,\"threads\":%d,"
           "\"test_accuracy\":%.4f}\n",
           n1, n1 / t1, n / best_1t, n / best_all, all, (double)correct / n);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench_infer: %s\n", err.msg);
done:
    free(x);
    free(probs);
    dc_dataset_free(&test);
    dc_model_free(m);
    return rc;
}
