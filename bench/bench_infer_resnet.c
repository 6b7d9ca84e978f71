// bench_infer_resnet.c — inference throughput of one deepc model at one
// batch size and thread count, for bench/resnet.sh (a bench tool, not part
// of the library).
//
// Loads MODEL and the test set, normalises the test images once (outside the
// timing, as bench_torch_resnet.py infer does), plans one dc_session (as a
// server does once), warms up, then runs R timed repeats of about 0.5 s each:
// consecutive batches of B test images through dc_session_predict (softmax
// included). Prints one JSON line: "images_per_s" (the median repeat),
// "best_images_per_s", "cpu_images_per_s" (images per CPU-second of the
// process over all repeats) and the accuracy of the last pass over the
// first images as a check that the model is the trained one.
//
// Build (resnet.sh does this):
//   gcc -std=c11 -O2 -Wall -Wextra -Iinclude bench/bench_infer_resnet.c build/libdeepc.a -fopenmp -lz -lpng -lcjson -lm
// Run:
//   bench_infer_resnet MODEL.safetensors [--data SPEC] [--batch B] [--threads T] [--repeats R]
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *data = "fashion-mnist";
    int batch = 1, threads = 1, repeats = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else model_path = NULL, i = argc;
    }
    if (!model_path || batch < 1 || batch > 4096 || threads < 1 || repeats < 1 || repeats > 1000) {
        fprintf(stderr, "usage: %s MODEL.safetensors [--data SPEC] [--batch 1..4096] [--threads T>=1] [--repeats R]\n",
                argv[0]);
        return 2;
    }
    dc_error err;
    dc_model *m = NULL;
    dc_dataset train, test;
    if (dc_model_load(&m, model_path, &err)) {
        fprintf(stderr, "bench_infer_resnet: %s\n", err.msg);
        return 1;
    }
    if (dc_data_open(&train, &test, data, &err)) {
        fprintf(stderr, "bench_infer_resnet: %s\n", err.msg);
        dc_model_free(m);
        return 1;
    }
    dc_dataset_free(&train);
    int rc = 1;
    const int n = test.n, k = dc_model_num_classes(m);
    const size_t img = (size_t)test.c * test.h * test.w;
    float *x = malloc((size_t)n * img * sizeof *x), *probs = malloc((size_t)batch * k * sizeof *probs);
    double *rate = malloc(sizeof(double) * (size_t)repeats);
    dc_session *s = NULL;
    if (!x || !probs || !rate || n < batch) {
        fprintf(stderr, "bench_infer_resnet: out of memory, or fewer than %d test images\n", batch);
        goto done;
    }
    dc_model_normalise(m, x, test.pixels, (size_t)n * img);
    if (dc_session_new(&s, m, batch, threads, &err)) goto fail;
    // warm-up, and the batches a 0.5 s repeat takes
    int pos = 0, per_repeat = 0, correct = 0, checked = 0;
    double t0 = clock_s(CLOCK_MONOTONIC);
    while (clock_s(CLOCK_MONOTONIC) - t0 < 0.5 || per_repeat < 2) {
        if (pos + batch > n) pos = 0;
        if (dc_session_predict(s, x + (size_t)pos * img, batch, probs, &err)) goto fail;
        for (int i = 0; i < batch; i++, checked++) {
            int arg = 0;
            for (int j = 1; j < k; j++) arg = probs[(size_t)i * k + j] > probs[(size_t)i * k + arg] ? j : arg;
            correct += arg == test.labels[pos + i];
        }
        pos += batch;
        per_repeat++;
    }
    const double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int r = 0; r < repeats; r++) {
        const double a = clock_s(CLOCK_MONOTONIC);
        for (int b = 0; b < per_repeat; b++) {
            if (pos + batch > n) pos = 0;
            if (dc_session_predict(s, x + (size_t)pos * img, batch, probs, &err)) goto fail;
            pos += batch;
        }
        rate[r] = (double)per_repeat * batch / (clock_s(CLOCK_MONOTONIC) - a);
    }
    const double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    qsort(rate, (size_t)repeats, sizeof(double), cmp_double);
    printf("{\"system\":\"deepc\",\"model\":\"%s\",\"batch\":%d,\"threads\":%d,\"repeats\":%d,"
           "\"images_per_s\":%.1f,\"best_images_per_s\":%.1f,\"cpu_images_per_s\":%.1f,\"warmup_accuracy\":%.4f,"
           "\"folded\":%d,\"fused\":%d}\n",
           model_path, batch, threads, repeats, rate[repeats / 2], rate[repeats - 1],
           (double)repeats * per_repeat * batch / cpu, (double)correct / checked, dc_session_folded(s),
           dc_session_fused(s));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench_infer_resnet: %s\n", err.msg);
done:
    dc_session_free(s);
    free(x);
    free(probs);
    free(rate);
    dc_dataset_free(&test);
    dc_model_free(m);
    return rc;
}
