// visualize.c — dc_visualize: feature maps of every layer for one input and
// the first layer's weights, as PNG grids in a folder.
//
// Layout: each channel of a layer's (C, h, w) output is one tile, upscaled
// by pixel replication to about 56 pixels on its longer side, tiles in a
// near-square grid with 2-pixel dark gaps. One gray scale per layer (min ->
// black, max -> white), not per tile, so weak and dead channels look weak
// and dead instead of being stretched to full contrast. Layers whose output
// is a vector (flatten, linear) become a grid of 8x8 cells, one per unit.
// Weights use a symmetric scale: 0 is mid-gray, +-max|w| white/black (per
// colour channel for RGB filters).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "explain/explain.h"
#include "io/png_write.h"

#define GAP 2
#define GAP_VALUE 40
#define TILE_TARGET 56
#define CELL 8

typedef struct canvas {
    int h, w, ch;  // ch: 1 gray or 3 RGB
    uint8_t *px;   // (h, w, ch)
} canvas;

static dc_status canvas_new(canvas *cv, int h, int w, int ch, const char *path, dc_error *err) {
    cv->h = h;
    cv->w = w;
    cv->ch = ch;
    cv->px = malloc((size_t)h * w * ch);
    if (!cv->px) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, h, w);
    memset(cv->px, GAP_VALUE, (size_t)h * w * ch);
    return DC_OK;
}

// Paints plane v (h, w) into channel `ch` of the canvas at (y0, x0), each
// value a s x s block, mapped with byte = 255 * (v - lo) / (hi - lo).
static void paint_plane(canvas *cv, int ch, int y0, int x0, const float *v, int h, int w, int s, double lo,
                        double hi) {
    double span = hi > lo ? hi - lo : 1.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double t = (v[(size_t)y * w + x] - lo) / span;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            uint8_t b = (uint8_t)lround(255 * t);
            for (int dy = 0; dy < s; dy++)
                for (int dx = 0; dx < s; dx++)
                    cv->px[((size_t)(y0 + y * s + dy) * cv->w + (size_t)(x0 + x * s + dx)) * cv->ch + ch] = b;
        }
}

static int tile_scale(int h, int w) {
    int m = h > w ? h : w, s = TILE_TARGET / m;
    return s < 1 ? 1 : s;
}

static void grid_shape(int n, int *rows, int *cols) {
    int c = (int)ceil(sqrt((double)n));
    if (c < 1) c = 1;
    *cols = c;
    *rows = (n + c - 1) / c;
}

static void min_max(const float *v, size_t n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

static dc_status write_canvas(const canvas *cv, const char *path, int *n_files, dc_error *err) {
    dc_status st = dc_png_write(path, cv->px, cv->h, cv->w, cv->ch, err);
    if (!st) (*n_files)++;
    return st;
}

// n tiles of planes (h, w) each (a (n, h, w) array), gray, one scale [lo, hi].
static dc_status write_tiles(const char *path, const float *v, int n, int h, int w, double lo, double hi,
                             int *n_files, dc_error *err) {
    int s = tile_scale(h, w), rows, cols;
    grid_shape(n, &rows, &cols);
    int th = h * s, tw = w * s;
    canvas cv;
    dc_status st = canvas_new(&cv, rows * th + (rows + 1) * GAP, cols * tw + (cols + 1) * GAP, 1, path, err);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        int r = i / cols, c = i % cols;
        paint_plane(&cv, 0, GAP + r * (th + GAP), GAP + c * (tw + GAP), v + (size_t)i * h * w, h, w, s, lo, hi);
    }
    st = write_canvas(&cv, path, n_files, err);
    free(cv.px);
    return st;
}

// A vector of n values as a near-square grid of CELL x CELL cells.
static dc_status write_vector(const char *path, const float *v, int n, int *n_files, dc_error *err) {
    int rows, cols;
    grid_shape(n, &rows, &cols);
    double lo, hi;
    min_max(v, (size_t)n, &lo, &hi);
    canvas cv;
    dc_status st = canvas_new(&cv, rows * (CELL + 1) + 1, cols * (CELL + 1) + 1, 1, path, err);
    if (st) return st;
    for (int i = 0; i < n; i++)
        paint_plane(&cv, 0, 1 + (i / cols) * (CELL + 1), 1 + (i % cols) * (CELL + 1), v + i, 1, 1, CELL, lo, hi);
    st = write_canvas(&cv, path, n_files, err);
    free(cv.px);
    return st;
}

// Images (n, ch, h, w) with ch 1 or 3 as a grid of RGB/gray tiles, every
// channel on the scale [lo, hi].
static dc_status write_images(const char *path, const float *v, int n, int ch, int h, int w, double lo, double hi,
                              int *n_files, dc_error *err) {
    int s = tile_scale(h, w), rows, cols;
    grid_shape(n, &rows, &cols);
    int th = h * s, tw = w * s;
    canvas cv;
    dc_status st = canvas_new(&cv, rows * th + (rows + 1) * GAP, cols * tw + (cols + 1) * GAP, ch, path, err);
    if (st) return st;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < ch; c++)
            paint_plane(&cv, c, GAP + (i / cols) * (th + GAP), GAP + (i % cols) * (tw + GAP),
                        v + ((size_t)i * ch + c) * h * w, h, w, s, lo, hi);
    st = write_canvas(&cv, path, n_files, err);
    free(cv.px);
    return st;
}

static dc_status make_dir(const char *dir, dc_error *err) {
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return dc_fail(err, DC_ERR_IO, "%s: exists and is not a folder", dir);
        return DC_OK;
    }
    if (mkdir(dir, 0777) != 0)
        return dc_fail(err, DC_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    return DC_OK;
}

static dc_status write_filters(const dc_model *m, const char *dir, int *n_files, dc_error *err) {
    // the first node with a weight tensor (a convolution or linear layer)
    int li = -1;
    for (int i = 1; i < m->n_nodes && li < 0; i++)
        if (m->nodes[i].n_t && m->nodes[i].t[0].buf == DC_BUF_PARAM && m->nodes[i].t[0].rank >= 2) li = i;
    if (li < 0) return DC_OK; // no weights at all: nothing to draw
    const dc_node *l = &m->nodes[li];
    const dc_tensor_ref *wt = &l->t[0];
    const float *w = m->params + wt->off;
    double amax = 0.0;
    for (size_t i = 0; i < wt->n; i++) amax = fmax(amax, fabs(w[i]));
    if (amax == 0.0) amax = 1.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/filters_%s.png", dir, l->name);
    if (wt->rank == 4) {
        int OC = (int)wt->shape[0], IC = (int)wt->shape[1], K = (int)wt->shape[2];
        if (IC == 1 || IC == 3) return write_images(path, w, OC, IC, K, K, -amax, amax, n_files, err);
        // other channel counts: every (out, in) kernel as its own gray tile
        return write_tiles(path, w, OC * IC, K, K, -amax, amax, n_files, err);
    }
    // linear: each unit's weights in the model input's shape when they match it
    int O = (int)wt->shape[0], I = (int)wt->shape[1];
    if (I == m->in_c * m->in_h * m->in_w && (m->in_c == 1 || m->in_c == 3))
        return write_images(path, w, O, m->in_c, m->in_h, m->in_w, -amax, amax, n_files, err);
    return write_tiles(path, w, O, 1, I, -amax, amax, n_files, err);
}

dc_status dc_visualize(dc_model *m, const float *x, const char *dir, int *n_files, dc_error *err) {
    int dummy = 0;
    if (!n_files) n_files = &dummy;
    *n_files = 0;
    char d[4000];
    if (snprintf(d, sizeof d, "%s", dir) >= (int)sizeof d)
        return dc_fail(err, DC_ERR_ARG, "visualize: folder name too long");
    for (size_t n = strlen(d); n > 1 && d[n - 1] == '/'; n--) d[n - 1] = 0; // "maps/" -> "maps"
    dir = d;
    dc_status st = make_dir(dir, err);
    if (st) return st;
    dc_runtime *rt;
    dc_graph g = dc_model_graph(m);
    if ((st = dc_runtime_new(&rt, &g, 1, DC_MODE_EVAL, DC_RT_KEEP_ALL | DC_RT_NO_FUSE, 1, err))) return st;
    dc_runtime_bind_model(rt, m);
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
    memcpy(dc_runtime_input(rt), x, sizeof(float) * in_size);
    dc_runtime_forward(rt, 1, NULL);
    char path[4096];
    // the input in pixel units
    float *px = malloc(sizeof(float) * in_size);
    if (!px) {
        dc_runtime_free(rt);
        return dc_fail(err, DC_ERR_NOMEM, "visualize: out of memory");
    }
    const size_t plane = (size_t)m->in_h * m->in_w;
    for (size_t i = 0; i < in_size; i++) px[i] = x[i] * m->norm_std[i / plane] + m->norm_mean[i / plane];
    snprintf(path, sizeof path, "%s/input.png", dir);
    if (m->in_c == 1 || m->in_c == 3)
        st = write_images(path, px, 1, m->in_c, m->in_h, m->in_w, 0.0, 1.0, n_files, err);
    else
        st = write_tiles(path, px, m->in_c, m->in_h, m->in_w, 0.0, 1.0, n_files, err);
    free(px);
    for (int i = 1; i < m->n_nodes && !st; i++) {
        const dc_node *l = &m->nodes[i];
        const float *a = dc_runtime_node_output(rt, i);
        snprintf(path, sizeof path, "%s/%02d_%s.png", dir, i - 1, l->name);
        if (l->h * l->w > 1) {
            double lo, hi;
            min_max(a, dc_node_size(l), &lo, &hi);
            st = write_tiles(path, a, l->c, l->h, l->w, lo, hi, n_files, err);
        } else {
            st = write_vector(path, a, l->c, n_files, err);
        }
    }
    if (!st) st = write_filters(m, dir, n_files, err);
    dc_runtime_free(rt);
    return st;
}
