// bench_data.c — how long deepc takes to load a data set into memory (bytes
// (N,C,H,W) and labels), as `deepc train --data SPEC` does before training.
//
//   bench_data SPEC [--reps R] [--threads T] [--input-size HxW] [--channels C]
//
// Prints one JSON line: spec, n, c, h, w, threads, reps, seconds (each rep),
// median. Built by bench/data_loading.sh against build/libdeepc.a.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "deepc.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_data SPEC [--reps R] [--threads T] [--input-size HxW] [--channels C]\n");
        return 2;
    }
    dc_data_options o = dc_data_options_default();
    int reps = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) o.nthreads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--channels")) o.channels = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--input-size")) sscanf(argv[i + 1], "%dx%d", &o.height, &o.width);
        else {
            fprintf(stderr, "bench_data: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (reps < 1 || reps > 100) reps = 3;
    double s[100];
    dc_dataset tr, te;
    for (int r = 0; r < reps; r++) {
        dc_error err;
        double t0 = now();
        if (dc_data_open_opts(&tr, &te, argv[1], &o, &err)) {
            fprintf(stderr, "bench_data: %s\n", err.msg);
            return 1;
        }
        s[r] = now() - t0;
        if (r + 1 < reps) {
            dc_dataset_free(&tr);
            dc_dataset_free(&te);
        }
    }
    double sorted[100];
    memcpy(sorted, s, sizeof(double) * reps);
    qsort(sorted, reps, sizeof(double), cmp);
    printf("{\"spec\":\"%s\",\"n\":%d,\"c\":%d,\"h\":%d,\"w\":%d,\"threads\":%d,\"reps\":%d,\"seconds\":[", argv[1],
           tr.n + te.n, tr.c, tr.h, tr.w, o.nthreads, reps);
    for (int r = 0; r < reps; r++) printf("%s%.4f", r ? "," : "", s[r]);
    printf("],\"median\":%.4f}\n", sorted[reps / 2]);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
    return 0;
}
