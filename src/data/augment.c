// augment.c — on-the-fly augmentation of normalised float batches.
//
// Contract: each sample gets one combined affine transform (rotation about
// the image centre, scaling about the centre, translation) resampled
// bilinearly, then optionally a left-right mirror. Pixels that map from
// outside the image take `fill[c]`, the normalised value of a 0 byte in
// channel c, so the
// border looks like the black background of MNIST-style images rather than
// like an artificial mid-grey.
//
// Then, for residual nets, torchvision's two: a random crop of the image
// zero-padded by P pixels (an integer shift, what RandomCrop(28, padding=P)
// does on the unnormalised image: the padding is `fill`), and random
// erasing (RandomErasing's rule, on the normalised image: value 0).
//
// Determinism: the random parameters are drawn sequentially from the caller's
// rng, always five uniforms per sample (angle, scale, tx, ty, flip) whenever
// one of those options is on, then two for the crop when it is on, then the
// erasing draws when it is on, so the draws do not depend on the thread
// count; the per-sample resampling then runs in parallel. With every option
// off nothing is drawn and nothing is touched.
//
// Legend: N batch, C channels, H height, W width; x is (N,C,H,W).
#include "core/core.h"
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct aug_params {
    float angle_deg, scale, tx, ty;
    bool flip;
    int crop_dx, crop_dy;      // integer shift of the crop
    int er_x, er_y, er_w, er_h; // erased rectangle (er_w == 0: none)
} aug_params;

// Shifts each plane of x (c,h,w) by (dx, dy) pixels, filling with fill:
// out(y, x) = in(y + dy, x + dx), the crop at offset (P+dx, P+dy) of the
// image padded by P.
static void crop_one(float *x, float *tmp, int c, int h, int w, int dx, int dy, const float *fills) {
    const size_t plane = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        float *img = x + plane * (size_t)ch;
        const float fill = fills[ch];
        memcpy(tmp, img, plane * sizeof(float));
        for (int yo = 0; yo < h; yo++) {
            int ys = yo + dy;
            for (int xo = 0; xo < w; xo++) {
                int xs = xo + dx;
                img[(size_t)yo * w + xo] = ys >= 0 && ys < h && xs >= 0 && xs < w ? tmp[(size_t)ys * w + xs] : fill;
            }
        }
    }
}

static void erase_one(float *x, int c, int h, int w, const aug_params *p) {
    for (int ch = 0; ch < c; ch++)
        for (int yy = p->er_y; yy < p->er_y + p->er_h; yy++)
            for (int xx = p->er_x; xx < p->er_x + p->er_w; xx++) x[((size_t)ch * h + yy) * w + xx] = 0.0f;
}

// torchvision.transforms.RandomErasing.get_params with scale (0.02, 0.33),
// ratio (0.3, 3.3): up to 10 tries for a rectangle that fits.
static void erase_params(aug_params *p, int h, int w, float prob, dc_rng *rng) {
    p->er_w = 0;
    if (!(dc_rng_uniform(rng) < prob)) return;
    const double area = (double)h * w, lr0 = log(0.3), lr1 = log(3.3);
    for (int t = 0; t < 10; t++) {
        double ea = area * (0.02 + (0.33 - 0.02) * dc_rng_uniform(rng));
        double ar = exp(lr0 + (lr1 - lr0) * dc_rng_uniform(rng));
        int eh = (int)lround(sqrt(ea * ar)), ew = (int)lround(sqrt(ea / ar));
        if (!(eh < h && ew < w && eh > 0 && ew > 0)) continue;
        p->er_y = (int)dc_rng_below(rng, (uint32_t)(h - eh + 1));
        p->er_x = (int)dc_rng_below(rng, (uint32_t)(w - ew + 1));
        p->er_h = eh;
        p->er_w = ew;
        return;
    }
}

// Resamples x (c,h,w) in place through tmp (h*w floats of scratch).
static void augment_one(float *x, float *tmp, int c, int h, int w,
                        const aug_params *p, const float *fills) {
    // x is (c,h,w); tmp is (h,w).
    size_t plane = (size_t)h * w;
    int identity = p->angle_deg == 0.0f && p->scale == 1.0f && p->tx == 0.0f &&
                   p->ty == 0.0f;
    if (identity) {
        // Exact path: bilinear weights of 0/1 would also give the same
        // values, but could turn -0.0 into +0.0; a mirror is a pure copy.
        if (!p->flip) return;
        for (int ch = 0; ch < c; ch++) {
            float *img = x + plane * (size_t)ch;
            for (int i = 0; i < h; i++) {
                float *row = img + (size_t)i * w;
                for (int j = 0, k = w - 1; j < k; j++, k--) {
                    float t = row[j];
                    row[j] = row[k];
                    row[k] = t;
                }
            }
        }
        return;
    }

    // Inverse map: output pixel (xo, yo) samples the input at
    //   (dx, dy) = ((xo - cx - tx) / s, (yo - cy - ty) / s)
    //   sx = cx + dx cos(a) - dy sin(a),  sy = cy + dx sin(a) + dy cos(a)
    // which is the inverse of "rotate by a counter-clockwise as displayed
    // (y grows downward), scale by s, shift by (tx, ty)". Pixel centres sit
    // at integer coordinates, so the centre is ((w-1)/2, (h-1)/2).
    double a = (double)p->angle_deg * (3.14159265358979323846 / 180.0);
    float ca = (float)cos(a), sa = (float)sin(a);
    float inv_s = 1.0f / p->scale;
    float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
    for (int ch = 0; ch < c; ch++) {
        float *img = x + plane * (size_t)ch;
        const float fill = fills[ch];
        memcpy(tmp, img, plane * sizeof(float));
        for (int yo = 0; yo < h; yo++) {
            float dy = ((float)yo - cy - p->ty) * inv_s;
            for (int xo = 0; xo < w; xo++) {
                int xm = p->flip ? w - 1 - xo : xo; // mirror of the result
                float dx = ((float)xm - cx - p->tx) * inv_s;
                float sx = cx + dx * ca - dy * sa;
                float sy = cy + dx * sa + dy * ca;
                float fx0 = floorf(sx), fy0 = floorf(sy);
                float fx = sx - fx0, fy = sy - fy0;
                // Far outside: all four neighbours are fill (also keeps the
                // int conversion below in range).
                if (!(fx0 >= -1.0f && fx0 < (float)w && fy0 >= -1.0f && fy0 < (float)h)) {
                    img[(size_t)yo * w + xo] = fill;
                    continue;
                }
                int x0 = (int)fx0, y0 = (int)fy0, x1 = x0 + 1, y1 = y0 + 1;
                int in_x0 = x0 >= 0, in_x1 = x1 < w, in_y0 = y0 >= 0, in_y1 = y1 < h;
                float v00 = in_y0 && in_x0 ? tmp[(size_t)y0 * w + x0] : fill;
                float v01 = in_y0 && in_x1 ? tmp[(size_t)y0 * w + x1] : fill;
                float v10 = in_y1 && in_x0 ? tmp[(size_t)y1 * w + x0] : fill;
                float v11 = in_y1 && in_x1 ? tmp[(size_t)y1 * w + x1] : fill;
                float top = v00 + fx * (v01 - v00);
                float bot = v10 + fx * (v11 - v10);
                img[(size_t)yo * w + xo] = top + fy * (bot - top);
            }
        }
    }
}

void dc_augment_sample(float *x, int c, int h, int w, float angle_deg,
                       float scale, float tx, float ty, bool flip, const float *fill) {
    // x is (c,h,w).
    DC_ASSERT(scale > 0.0f);
    aug_params p = {angle_deg, scale, tx, ty, flip, 0, 0, 0, 0, 0, 0};
    float *tmp = malloc(sizeof(float) * (size_t)h * w);
    DC_ASSERT(tmp); // a few KB; no status to return it through
    augment_one(x, tmp, c, h, w, &p, fill);
    free(tmp);
}

void dc_augment_batch(float *x, int n, int c, int h, int w,
                      const dc_augment *a, const float *fill, dc_rng *rng) {
    // x is (n,c,h,w).
    float rot = fabsf(a->rotate_deg), tr = fabsf(a->translate);
    // A scale range reaching 0 would collapse or invert images; cap it.
    float sc = fabsf(a->scale) > 0.9f ? 0.9f : fabsf(a->scale);
    const bool affine = rot != 0.0f || sc != 0.0f || tr != 0.0f || a->hflip;
    const int crop = a->crop > 0 ? a->crop : 0;
    const float erase = a->erase > 0 ? a->erase : 0.0f;
    if (!affine && !crop && !erase) return;

    size_t plane = (size_t)h * w, sample = (size_t)c * plane;
    enum { CHUNK = 256 };
    aug_params prm[CHUNK];
    for (int k0 = 0; k0 < n; k0 += CHUNK) {
        int m = n - k0 < CHUNK ? n - k0 : CHUNK;
        for (int k = 0; k < m; k++) {
            memset(&prm[k], 0, sizeof prm[k]);
            prm[k].scale = 1.0f;
            if (affine) {
                float u0 = dc_rng_uniform(rng), u1 = dc_rng_uniform(rng);
                float u2 = dc_rng_uniform(rng), u3 = dc_rng_uniform(rng);
                float u4 = dc_rng_uniform(rng);
                prm[k].angle_deg = (2.0f * u0 - 1.0f) * rot;
                prm[k].scale = 1.0f + (2.0f * u1 - 1.0f) * sc;
                prm[k].tx = (2.0f * u2 - 1.0f) * tr;
                prm[k].ty = (2.0f * u3 - 1.0f) * tr;
                prm[k].flip = a->hflip && u4 < 0.5f;
            }
            if (crop) {
                prm[k].crop_dx = (int)dc_rng_below(rng, (uint32_t)(2 * crop + 1)) - crop;
                prm[k].crop_dy = (int)dc_rng_below(rng, (uint32_t)(2 * crop + 1)) - crop;
            }
            if (erase) erase_params(&prm[k], h, w, erase, rng);
        }
#pragma omp parallel if ((size_t)m * sample >= 65536)
        {
            float *tmp = malloc(sizeof(float) * plane);
            DC_ASSERT(tmp); // a few KB per thread; no status to return
#pragma omp for schedule(static)
            for (int k = 0; k < m; k++) {
                float *xk = x + sample * (size_t)(k0 + k);
                if (affine) augment_one(xk, tmp, c, h, w, &prm[k], fill);
                if (prm[k].crop_dx || prm[k].crop_dy) crop_one(xk, tmp, c, h, w, prm[k].crop_dx, prm[k].crop_dy, fill);
                if (prm[k].er_w) erase_one(xk, c, h, w, &prm[k]);
            }
            free(tmp);
        }
    }
}
