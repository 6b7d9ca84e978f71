// features.c — interpretable features for surrogates: mean intensities of
// pixel regions (contract in surrogate.h).
//
// Legend: C channels, H, W the image side, P = H*W pixels, R regions,
// F = C*R features, N images.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "explain/explain.h"
#include "surrogate/surrogate.h"

void dc_surr_features_free(dc_surr_features *f) {
    if (!f) return;
    free(f->region);
    free(f->region_size);
    free(f->start);
    free(f->pix);
    memset(f, 0, sizeof *f);
}

static int parse_int(const char *s, const char **end, int lo, int hi) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || v < lo || v > hi || *s == '+' || *s == '-' || *s == ' ') return -1;
    *end = e;
    return (int)v;
}

// Region sizes from the map; fails when a region is empty.
static dc_status finish(dc_surr_features *f, dc_error *err) {
    const int R = f->n_regions;
    const size_t P = (size_t)f->h * f->w;
    f->region_size = calloc((size_t)R, sizeof(int32_t));
    f->start = calloc((size_t)R + 1, sizeof(int32_t));
    f->pix = malloc(sizeof(int32_t) * P);
    if (!f->region_size || !f->start || !f->pix) return dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
    for (size_t p = 0; p < P; p++) f->region_size[f->region[p]]++;
    for (int r = 0; r < R; r++) {
        if (f->region_size[r] == 0)
            return dc_fail(err, DC_ERR_FORMAT, "features '%s': region %d has no pixel", f->spec, r);
        f->start[r + 1] = f->start[r] + f->region_size[r];
    }
    int32_t *fill = malloc(sizeof(int32_t) * (size_t)R);
    if (!fill) return dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
    memcpy(fill, f->start, sizeof(int32_t) * (size_t)R);
    for (size_t p = 0; p < P; p++) f->pix[fill[f->region[p]]++] = (int32_t)p;
    free(fill);
    f->n_features = f->c * f->n_regions;
    return DC_OK;
}

dc_status dc_surr_features_init(dc_surr_features *f, const char *spec, int c, int h, int w,
                                const float *mean_image, dc_error *err) {
    memset(f, 0, sizeof *f);
    if (c < 1 || h < 1 || w < 1) return dc_fail(err, DC_ERR_ARG, "features: bad image shape %dx%dx%d", c, h, w);
    if (strlen(spec) >= sizeof f->spec)
        return dc_fail(err, DC_ERR_ARG, "--features '%.64s...': too long", spec);
    snprintf(f->spec, sizeof f->spec, "%s", spec);
    f->c = c;
    f->h = h;
    f->w = w;
    const size_t P = (size_t)h * w;
    f->region = malloc(sizeof(int32_t) * P);
    if (!f->region) return dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
    dc_status st = DC_OK;
    if (!strncmp(spec, "pool:", 5)) {
        const char *e = spec + 5;
        int a = parse_int(e, &e, 1, h), b = a;
        if (a > 0 && *e == 'x') b = parse_int(e + 1, &e, 1, w);
        if (a < 0 || b < 0 || *e) {
            st = dc_fail(err, DC_ERR_ARG,
                         "--features '%s': pool:AxB needs block sizes A in [1, %d] and B in [1, %d] "
                         "(pixels; e.g. pool:4x4)", spec, h, w);
        } else {
            const int gx = (w + b - 1) / b, gy = (h + a - 1) / a;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) f->region[(size_t)y * w + x] = (y / a) * gx + x / b;
            f->n_regions = gx * gy;
        }
    } else if (!strncmp(spec, "grid:", 5) || !strncmp(spec, "slic:", 5)) {
        float *x = NULL;
        if (!strncmp(spec, "slic:", 5)) {
            if (!mean_image) st = dc_fail(err, DC_ERR_ARG, "--features %s needs the mean training image", spec);
            x = (float *)mean_image;
        } else {
            // grid ignores the pixels; any image of the right size will do
            x = calloc((size_t)c * P, sizeof(float));
            if (!x) st = dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
        }
        if (!st) st = dc_ex_segment(f->region, &f->n_regions, spec, x, c, h, w, NULL, NULL, err);
        if (x != mean_image) free(x);
    } else {
        st = dc_fail(err, DC_ERR_ARG,
                     "--features '%s': expected pool:AxB (mean of AxB pixel blocks), grid:K (K x K cells) "
                     "or slic:N (superpixels of the mean image)", spec);
    }
    if (!st) st = finish(f, err);
    if (st) dc_surr_features_free(f);
    return st;
}

dc_status dc_surr_features_from_map(dc_surr_features *f, const char *spec, int c, int h, int w,
                                    const int32_t *region, int n_regions, dc_error *err) {
    memset(f, 0, sizeof *f);
    if (c < 1 || h < 1 || w < 1 || n_regions < 1 || (size_t)n_regions > (size_t)h * w)
        return dc_fail(err, DC_ERR_ARG, "features: bad shape %dx%dx%d with %d regions", c, h, w, n_regions);
    snprintf(f->spec, sizeof f->spec, "%s", spec);
    f->c = c;
    f->h = h;
    f->w = w;
    f->n_regions = n_regions;
    const size_t P = (size_t)h * w;
    f->region = malloc(sizeof(int32_t) * P);
    if (!f->region) return dc_fail(err, DC_ERR_NOMEM, "features: out of memory");
    for (size_t p = 0; p < P; p++) {
        if (region[p] < 0 || region[p] >= n_regions) {
            dc_surr_features_free(f);
            return dc_fail(err, DC_ERR_FORMAT, "features: pixel %zu is in region %d, outside [0, %d)", p,
                           region[p], n_regions);
        }
        f->region[p] = region[p];
    }
    dc_status st = finish(f, err);
    if (st) dc_surr_features_free(f);
    return st;
}

void dc_surr_features_compute(const dc_surr_features *f, const uint8_t *px, int n, float *out) {
    // px is (N, C, H, W) bytes, out (N, F) with F = C*R
    const int C = f->c, R = f->n_regions;
    const size_t P = (size_t)f->h * f->w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * f->n_features;
        for (int ch = 0; ch < C; ch++) {
            const uint8_t *p = px + ((size_t)i * C + ch) * P;
            for (int r = 0; r < R; r++) {
                // an integer sum: each feature is an exact function of the bytes
                uint32_t s = 0;
                for (int32_t q = f->start[r]; q < f->start[r + 1]; q++) s += p[f->pix[q]];
                o[(size_t)ch * R + r] = (float)((double)s / (255.0 * f->region_size[r]));
            }
        }
    }
}

void dc_surr_mean_image(float *mean, const dc_dataset *ds) {
    // mean (C, H, W) in [0, 1]
    const size_t S = (size_t)ds->c * ds->h * ds->w;
    double *acc = calloc(S, sizeof(double));
    if (!acc) {
        for (size_t q = 0; q < S; q++) mean[q] = 0.0f;
        return;
    }
    for (int i = 0; i < ds->n; i++) {
        const uint8_t *p = ds->pixels + (size_t)i * S;
        for (size_t q = 0; q < S; q++) acc[q] += p[q];
    }
    for (size_t q = 0; q < S; q++) mean[q] = ds->n ? (float)(acc[q] / (255.0 * ds->n)) : 0.0f;
    free(acc);
}
