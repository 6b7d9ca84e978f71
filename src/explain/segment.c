// segment.c — superpixels for LIME and Kernel SHAP.
//
// "grid:K": a K x K grid of equal cells (cell of pixel (y, x) is
// (y*K/H, x*K/W)), K in [1, min(H, W)].
//
// "slic:N": a simple SLIC (Achanta et al. 2012): k-means in (intensity, y, x)
// with about N clusters started on a regular grid of spacing S = sqrt(H*W/N),
// distance D^2 = |dI|^2 + (m/S)^2 (dy^2 + dx^2) with intensities in [0, 1]
// pixel units (per channel for RGB) and compactness m = 0.25 (an intensity
// step of 0.25 weighs as much as one grid spacing), 10 iterations of
// assignment over all centres (images here are small) and mean updates.
// No connectivity pass, so a cluster may be split in two regions; that does
// not matter for LIME/SHAP, where a feature is any set of pixels.
// Deterministic: no random initialisation.
//
// Ids are renumbered by first appearance in raster order, empty clusters
// dropped, so ids are 0..n-1 and each has at least one pixel.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"

#define SLIC_ITERS 10
#define SLIC_COMPACTNESS 0.25

static dc_status renumber(int32_t *seg, int *n_seg, size_t P, int n_max, dc_error *err) {
    int32_t *map = malloc(sizeof(int32_t) * (size_t)n_max);
    if (!map) return dc_fail(err, DC_ERR_NOMEM, "superpixels: out of memory");
    for (int i = 0; i < n_max; i++) map[i] = -1;
    int n = 0;
    for (size_t p = 0; p < P; p++) {
        if (map[seg[p]] < 0) map[seg[p]] = n++;
        seg[p] = map[seg[p]];
    }
    free(map);
    *n_seg = n;
    return DC_OK;
}

static dc_status slic(int32_t *seg, int *n_seg, int N, const float *x, int C, int H, int W, const float *mean,
                      const float *std, dc_error *err) {
    const size_t P = (size_t)H * W;
    const double S = sqrt((double)P / N);
    int ny = (int)lround(H / S), nx;
    if (ny < 1) ny = 1;
    if (ny > H) ny = H;
    nx = (N + ny - 1) / ny;
    if (nx > W) nx = W;
    if (nx < 1) nx = 1;
    const int K = ny * nx, D = C + 2; // centre: C intensities, y, x
    double *ctr = malloc(sizeof(double) * (size_t)K * D), *acc = malloc(sizeof(double) * (size_t)K * (D + 1));
    float *v = malloc(sizeof(float) * (size_t)C * P);
    if (!ctr || !acc || !v) {
        free(ctr);
        free(acc);
        free(v);
        return dc_fail(err, DC_ERR_NOMEM, "superpixels: out of memory");
    }
    for (size_t i = 0; i < (size_t)C * P; i++) // back to [0, 1] pixels, channel by channel
        v[i] = mean ? x[i] * std[i / P] + mean[i / P] : x[i];
    for (int i = 0; i < ny; i++)
        for (int j = 0; j < nx; j++) {
            double *c = ctr + (size_t)(i * nx + j) * D;
            int py = (int)((i + 0.5) * H / ny), px = (int)((j + 0.5) * W / nx);
            for (int ch = 0; ch < C; ch++) c[ch] = v[(size_t)ch * P + (size_t)py * W + px];
            c[C] = py;
            c[C + 1] = px;
        }
    const double sw = (SLIC_COMPACTNESS / S) * (SLIC_COMPACTNESS / S);
    for (int it = 0; it < SLIC_ITERS; it++) {
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                size_t p = (size_t)y * W + xx;
                double best = INFINITY;
                int bi = 0;
                for (int k = 0; k < K; k++) {
                    const double *c = ctr + (size_t)k * D;
                    double d = 0.0;
                    for (int ch = 0; ch < C; ch++) {
                        double t = v[(size_t)ch * P + p] - c[ch];
                        d += t * t;
                    }
                    double dy = y - c[C], dx = xx - c[C + 1];
                    d += sw * (dy * dy + dx * dx);
                    if (d < best) {
                        best = d;
                        bi = k;
                    }
                }
                seg[p] = bi;
            }
        memset(acc, 0, sizeof(double) * (size_t)K * (D + 1));
        for (size_t p = 0; p < P; p++) {
            double *a = acc + (size_t)seg[p] * (D + 1);
            for (int ch = 0; ch < C; ch++) a[ch] += v[(size_t)ch * P + p];
            a[C] += (double)(p / W);
            a[C + 1] += (double)(p % W);
            a[D] += 1.0;
        }
        for (int k = 0; k < K; k++) {
            const double *a = acc + (size_t)k * (D + 1);
            if (a[D] == 0) continue; // an empty cluster keeps its centre
            for (int q = 0; q < D; q++) ctr[(size_t)k * D + q] = a[q] / a[D];
        }
    }
    free(ctr);
    free(acc);
    free(v);
    return renumber(seg, n_seg, P, K, err);
}

static int parse_count(const char *s, int lo, int hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    return (int)v;
}

dc_status dc_ex_segment(int32_t *seg, int *n_seg, const char *spec, const float *x, int C, int H, int W,
                        const float *mean, const float *std, dc_error *err) {
    const int side = H < W ? H : W;
    if (!strncmp(spec, "grid:", 5)) {
        int K = parse_count(spec + 5, 1, side);
        if (K < 0)
            return dc_fail(err, DC_ERR_ARG, "--segments '%s': grid:K needs an integer K in [1, %d]", spec, side);
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) seg[(size_t)y * W + xx] = (y * K / H) * K + xx * K / W;
        return renumber(seg, n_seg, (size_t)H * W, K * K, err);
    }
    if (!strncmp(spec, "slic:", 5)) {
        int N = parse_count(spec + 5, 1, H * W);
        if (N < 0)
            return dc_fail(err, DC_ERR_ARG, "--segments '%s': slic:N needs an integer N in [1, %d]", spec, H * W);
        return slic(seg, n_seg, N, x, C, H, W, mean, std, err);
    }
    return dc_fail(err, DC_ERR_ARG, "--segments '%s': expected grid:K (KxK cells) or slic:N (about N superpixels)", spec);
}
