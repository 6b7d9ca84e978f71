// render.c — writing an explanation: the heatmap over the input as a PNG and
// the raw values as .npy.
//
// The overlay: the input in gray (channel mean of the [0,1] pixels, so an RGB
// input shows its luminance), attributions summed over channels, scaled by
// the 99.5th percentile of |a| (one hot pixel does not wash the rest out),
// clipped to [-1, 1]; positive values blend towards red, negative towards
// blue, with opacity 0.85 |a|. Both are upscaled `scale` times by pixel
// replication so every input pixel stays a visible block.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"
#include "io/png_write.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The heatmap as PNG bytes (*png, *len; malloc'd) for dc_explanation_write_png
// and for callers that send it elsewhere (deepc serve's /explain); `path`
// only names the output in messages.
dc_status dc_explanation_encode_png(uint8_t **png, size_t *len, const dc_explanation *e, const dc_model *m,
                                    const float *x, int scale, const char *path, dc_error *err) {
    *png = NULL;
    *len = 0;
    int C, H, W;
    dc_model_input_shape(m, &C, &H, &W);
    if (!e->attr || e->h != H || e->w != W || (e->c != 1 && e->c != C))
        return dc_fail(err, DC_ERR_SHAPE, "%s: the explanation (%dx%dx%d) does not fit the model input %dx%dx%d", path,
                       e->c, e->h, e->w, C, H, W);
    if (scale < 1 || scale > 64) return dc_fail(err, DC_ERR_ARG, "%s: scale %d must be in [1, 64]", path, scale);
    const size_t P = (size_t)H * W;
    float *a = malloc(sizeof(float) * P), *mag = malloc(sizeof(float) * P);
    uint8_t *img = malloc((size_t)H * scale * W * scale * 3);
    if (!a || !mag || !img) {
        free(a);
        free(mag);
        free(img);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t p = 0; p < P; p++) {
        double s = 0.0;
        for (int c = 0; c < e->c; c++) s += e->attr[(size_t)c * P + p];
        a[p] = (float)s;
        mag[p] = fabsf(a[p]);
    }
    qsort(mag, P, sizeof(float), cmp_float);
    float top = mag[(size_t)floor(0.995 * (double)(P - 1))];
    if (!(top > 0.0f)) top = mag[P - 1];
    if (!(top > 0.0f)) top = 1.0f; // an all-zero map: plain gray image
    const int OW = W * scale;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            size_t p = (size_t)y * W + xx;
            double g = 0.0;
            for (int c = 0; c < C; c++) g += x[(size_t)c * P + p] * m->norm_std[c] + m->norm_mean[c];
            g /= C;
            g = g < 0 ? 0 : g > 1 ? 1 : g;
            double v = a[p] / top;
            v = v > 1 ? 1 : v < -1 ? -1 : v;
            double al = 0.85 * fabs(v);
            double r = (1 - al) * g + al * (v > 0 ? 1.0 : 0.0);
            double gr = (1 - al) * g;
            double bl = (1 - al) * g + al * (v < 0 ? 1.0 : 0.0);
            uint8_t rgb[3] = {(uint8_t)lround(255 * r), (uint8_t)lround(255 * gr), (uint8_t)lround(255 * bl)};
            for (int dy = 0; dy < scale; dy++)
                for (int dx = 0; dx < scale; dx++)
                    memcpy(img + ((size_t)(y * scale + dy) * OW + (size_t)(xx * scale + dx)) * 3, rgb, 3);
        }
    dc_status st = dc_png_encode(png, len, img, H * scale, OW, 3, err);
    if (st) { // name the output in the message
        char tmp[sizeof err->msg];
        snprintf(tmp, sizeof tmp, "%s", err ? err->msg : "");
        dc_fail(err, st, "%s: %s", path, tmp);
    }
    free(a);
    free(mag);
    free(img);
    return st;
}

dc_status dc_explanation_write_png(const dc_explanation *e, const dc_model *m, const float *x, int scale,
                                   const char *path, dc_error *err) {
    uint8_t *png;
    size_t len;
    dc_status st = dc_explanation_encode_png(&png, &len, e, m, x, scale, path, err);
    if (st) return st;
    dc_buf part = {png, len};
    st = dc_write_atomic(path, &part, 1, err);
    free(png);
    return st;
}

dc_status dc_explanation_write_npy(const dc_explanation *e, const char *path, dc_error *err) {
    if (!e->attr) return dc_fail(err, DC_ERR_ARG, "%s: empty explanation", path);
    int64_t shape[3] = {e->c, e->h, e->w};
    // per-channel methods keep their channel axis even for gray models, so a
    // method's file always has the same rank
    bool per_channel = e->method == DC_EXPLAIN_GRADXINPUT || e->method == DC_EXPLAIN_IG;
    if (!per_channel && e->c == 1) return dc_npy_write_f32(path, e->attr, 2, shape + 1, err);
    return dc_npy_write_f32(path, e->attr, 3, shape, err);
}
