// harness.c — see harness.h.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "deepc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

dc_test_counts dc_tc;

int dc_check_close(const char *what, const float *got, const float *want,
                   size_t n, double rtol, double atol) {
    double max_abs = 0, max_rel = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        double d = fabs(a - b);
        double r = d / (fabs(b) > 1e-30 ? fabs(b) : 1e-30);
        if (!(d <= atol + rtol * fabs(b))) {
            if (!bad) first_bad = i;
            bad++;
        }
        if (d > max_abs || isnan(d)) max_abs = d;
        if (fabs(b) > atol && r > max_rel) max_rel = r;
    }
    printf("  %-40s n=%-8zu max_abs=%.3g max_rel=%.3g %s\n", what, n, max_abs,
           max_rel, bad ? "FAIL" : "ok");
    if (bad) {
        dc_tc.failed++;
        printf("FAIL %s: %zu of %zu values out of tolerance (rtol %.1g, atol %.1g); "
               "first at %zu: got %.9g want %.9g\n",
               what, bad, n, rtol, atol, first_bad, got[first_bad], want[first_bad]);
        return 0;
    }
    dc_tc.passed++;
    return 1;
}

const char *dc_src_path(const char *rel) {
    static char buf[4][4096];
    static int k;
    const char *root = getenv("DEEPC_SOURCE_DIR");
    if (!root) root = ".";
    char *b = buf[k++ & 3];
    snprintf(b, 4096, "%s/%s", root, rel);
    return b;
}

const char *dc_test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/deepc-test-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

int dc_test_finish(void) {
    printf("%d passed, %d failed\n", dc_tc.passed, dc_tc.failed);
    return dc_tc.failed ? 1 : 0;
}

void dc_test_make_data(dc_dataset *ds, int n, int n_classes, uint64_t seed) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->c = 1;
    ds->h = ds->w = 28;
    ds->n_classes = n_classes;
    ds->pixels = calloc((size_t)n * 784, 1);
    ds->labels = calloc((size_t)n, sizeof(int32_t));
    if (!ds->pixels || !ds->labels) {
        perror("dc_test_make_data");
        exit(2);
    }
    snprintf(ds->source, sizeof ds->source, "synthetic");
    int g = 1;
    while (g * g < n_classes) g++;
    const int cell = 28 / g, size = cell * 2 / 3, pad = (cell - size) / 2;
    dc_rng r;
    dc_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)dc_rng_below(&r, (uint32_t)n_classes);
        ds->labels[i] = k;
        uint8_t *p = ds->pixels + (size_t)i * 784;
        for (int j = 0; j < 784; j++) p[j] = (uint8_t)dc_rng_below(&r, 60);
        int y0 = (k / g) * cell + pad, x0 = (k % g) * cell + pad;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) p[(y0 + y) * 28 + x0 + x] = 210;
    }
}
