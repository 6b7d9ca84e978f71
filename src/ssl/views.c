// views.c — the augmentation pipeline of self-supervised pretraining:
// random resized crop, flip, brightness/contrast jitter, grayscale and
// Gaussian blur on raw pixels scaled to [0,1], then normalisation.
//
// Contract: the parameters of every view are drawn sequentially from the
// caller's RNG, in sample order, before any pixel is touched; the pixel
// work then runs in parallel and is a pure function of (image, parameters),
// so a seed gives the same bits at any thread count. Every stage maps
// [0,1] into [0,1] (bilinear and blur weights are convex, jitter clamps).
//
// Legend: C channels, H height, W width; an image is (C,H,W).
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "ssl/ssl.h"

dc_view_aug dc_view_aug_default(void) {
    dc_view_aug a = {.crop_min = 0.2f, .crop_max = 1.0f, .ratio_min = 0.75f, .ratio_max = 4.0f / 3.0f,
                     .hflip = true, .jitter_p = 0.8f, .brightness = 0.4f, .contrast = 0.4f, .gray_p = 0.2f,
                     .blur_p = 0.0f, .blur_sigma_min = 0.1f, .blur_sigma_max = 2.0f};
    return a;
}

dc_view_aug dc_view_aug_none(void) {
    dc_view_aug a = {.crop_min = 1.0f, .crop_max = 1.0f, .ratio_min = 1.0f, .ratio_max = 1.0f,
                     .blur_sigma_min = 0.1f, .blur_sigma_max = 2.0f};
    return a;
}

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static float uniform_in(dc_rng *r, float lo, float hi) { return lo + (hi - lo) * dc_rng_uniform(r); }

void dc_view_draw(dc_view_params *p, const dc_view_aug *a, int h, int w, dc_rng *rng) {
    memset(p, 0, sizeof *p);
    p->brightness = p->contrast = 1.0f;
    p->x0 = p->y0 = 0;
    p->cw = w;
    p->ch = h;
    if (a->crop_min < 1.0f) {
        // torchvision RandomResizedCrop.get_params
        const double area = (double)h * w, lr0 = log(a->ratio_min), lr1 = log(a->ratio_max);
        bool found = false;
        for (int t = 0; t < 10 && !found; t++) {
            double ta = area * uniform_in(rng, a->crop_min, a->crop_max);
            double ar = exp(lr0 + (lr1 - lr0) * dc_rng_uniform(rng));
            int cw = (int)lround(sqrt(ta * ar)), ch = (int)lround(sqrt(ta / ar));
            if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
                p->y0 = (int)dc_rng_below(rng, (uint32_t)(h - ch + 1));
                p->x0 = (int)dc_rng_below(rng, (uint32_t)(w - cw + 1));
                p->cw = cw;
                p->ch = ch;
                found = true;
            }
        }
        if (!found) { // centre crop at the nearest allowed ratio
            double in_ratio = (double)w / h;
            int cw = w, ch = h;
            if (in_ratio < a->ratio_min) ch = (int)lround(w / a->ratio_min);
            else if (in_ratio > a->ratio_max) cw = (int)lround(h * a->ratio_max);
            if (ch < 1) ch = 1;
            if (cw < 1) cw = 1;
            p->cw = cw;
            p->ch = ch;
            p->x0 = (w - cw) / 2;
            p->y0 = (h - ch) / 2;
        }
    }
    if (a->hflip) p->flip = dc_rng_uniform(rng) < 0.5f;
    if (a->jitter_p > 0 && dc_rng_uniform(rng) < a->jitter_p) {
        float b = a->brightness, c = a->contrast;
        if (b > 0) p->brightness = uniform_in(rng, b < 1 ? 1 - b : 0, 1 + b);
        if (c > 0) p->contrast = uniform_in(rng, c < 1 ? 1 - c : 0, 1 + c);
    }
    if (a->gray_p > 0) p->gray = dc_rng_uniform(rng) < a->gray_p;
    if (a->blur_p > 0 && dc_rng_uniform(rng) < a->blur_p)
        p->blur_sigma = uniform_in(rng, a->blur_sigma_min, a->blur_sigma_max);
}

int dc_view_blur_radius(int h, int w) {
    int side = h < w ? h : w;
    int r = (int)lround(0.05 * side);
    return r < 1 ? 1 : r;
}

// Bilinear resize of the crop box to h x w with half-pixel centres
// (align_corners=False): out (h,w) from img (H,W)=(h,w) region
// [y0, y0+ch) x [x0, x0+cw). The column taps and weights are the same for
// every row: tab holds them (3w floats; a column index is exact in a float).
// The two source taps and the weight of output index o when n source
// pixels map onto outputs at scale s (half-pixel centres, clamped borders).
static void bilinear_tap(int o, float s, int n, int *i0, int *i1, float *wt) {
    float f = ((float)o + 0.5f) * s - 0.5f;
    if (f < 0) f = 0;
    int a = (int)f;
    if (a > n - 1) a = n - 1;
    *i0 = a;
    *i1 = a + 1 < n ? a + 1 : n - 1;
    const float w = f - (float)a;
    *wt = w > 1 ? 1 : w;
}

static void resize_crop(float *out, const float *img, int h, int w, const dc_view_params *p, float *tab) {
    const float sy = (float)p->ch / h, sx = (float)p->cw / w;
    float *tx0 = tab, *tx1 = tab + w, *twx = tab + 2 * (size_t)w;
    for (int xo = 0; xo < w; xo++) {
        int x0, x1;
        bilinear_tap(xo, sx, p->cw, &x0, &x1, &twx[xo]);
        tx0[xo] = (float)x0;
        tx1[xo] = (float)x1;
    }
    for (int yo = 0; yo < h; yo++) {
        int y0, y1;
        float wy;
        bilinear_tap(yo, sy, p->ch, &y0, &y1, &wy);
        const float *r0 = img + (size_t)(p->y0 + y0) * w + p->x0, *r1 = img + (size_t)(p->y0 + y1) * w + p->x0;
        float *o = out + (size_t)yo * w;
        for (int xo = 0; xo < w; xo++) {
            const int x0 = (int)tx0[xo], x1 = (int)tx1[xo];
            const float wx = twx[xo];
            float top = r0[x0] + wx * (r0[x1] - r0[x0]);
            float bot = r1[x0] + wx * (r1[x1] - r1[x0]);
            o[xo] = clamp01(top + wy * (bot - top));
        }
    }
}

// Reflected index (torchvision's GaussianBlur pads with "reflect").
static int reflect(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

// Separable Gaussian blur of one plane (h,w) in place through tmp (h*w).
static void blur_plane(float *img, float *tmp, int h, int w, float sigma) {
    enum { MAXR = 64 };
    int r = dc_view_blur_radius(h, w);
    if (r > MAXR) r = MAXR;
    float k[2 * MAXR + 1];
    double s = 0;
    for (int i = -r; i <= r; i++) s += exp(-0.5 * (double)i * i / ((double)sigma * sigma));
    for (int i = -r; i <= r; i++) k[i + r] = (float)(exp(-0.5 * (double)i * i / ((double)sigma * sigma)) / s);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float acc = 0;
            for (int i = -r; i <= r; i++) acc += k[i + r] * img[(size_t)y * w + reflect(x + i, w)];
            tmp[(size_t)y * w + x] = acc;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float acc = 0;
            for (int i = -r; i <= r; i++) acc += k[i + r] * tmp[(size_t)reflect(y + i, h) * w + x];
            img[(size_t)y * w + x] = clamp01(acc);
        }
}

void dc_view_apply(float *out, const uint8_t *px, int c, int h, int w, const dc_view_params *p, float *scratch) {
    // out, px are (c,h,w); scratch is 2*c*h*w + 3*w floats
    const size_t plane = (size_t)h * w, n = plane * (size_t)c;
    float *img = scratch, *tmp = scratch + n, *tab = scratch + 2 * n;
    for (size_t i = 0; i < n; i++) img[i] = (float)px[i] / 255.0f;
    const bool crop = !(p->x0 == 0 && p->y0 == 0 && p->cw == w && p->ch == h);
    for (int ch = 0; ch < c; ch++) {
        float *o = out + plane * (size_t)ch;
        const float *in = img + plane * (size_t)ch;
        if (crop) resize_crop(o, in, h, w, p, tab);
        else memcpy(o, in, sizeof(float) * plane);
        if (p->flip)
            for (int y = 0; y < h; y++) {
                float *row = o + (size_t)y * w;
                for (int a = 0, b = w - 1; a < b; a++, b--) {
                    float t = row[a];
                    row[a] = row[b];
                    row[b] = t;
                }
            }
    }
    if (p->brightness != 1.0f)
        for (size_t i = 0; i < n; i++) out[i] = clamp01(out[i] * p->brightness);
    if (p->contrast != 1.0f) {
        // torchvision adjust_contrast: blend with the mean of the grayscale image
        double m = 0;
        if (c == 3)
            for (size_t i = 0; i < plane; i++)
                m += 0.299 * out[i] + 0.587 * out[plane + i] + 0.114 * out[2 * plane + i];
        else
            for (size_t i = 0; i < n; i++) m += out[i];
        const float mean = (float)(m / (double)(c == 3 ? plane : n));
        for (size_t i = 0; i < n; i++) out[i] = clamp01(p->contrast * out[i] + (1.0f - p->contrast) * mean);
    }
    if (p->gray && c == 3)
        for (size_t i = 0; i < plane; i++) {
            float g = clamp01(0.299f * out[i] + 0.587f * out[plane + i] + 0.114f * out[2 * plane + i]);
            out[i] = out[plane + i] = out[2 * plane + i] = g;
        }
    if (p->blur_sigma > 0)
        for (int ch = 0; ch < c; ch++) blur_plane(out + plane * (size_t)ch, tmp, h, w, p->blur_sigma);
}

void dc_views_batch(float *x, const dc_dataset *ds, const int32_t *idx, int n, const dc_view_aug *a, const float *mean,
                    const float *std, dc_rng *rng, int nthreads) {
    // x is (n, c, h, w)
    const int c = ds->c, h = ds->h, w = ds->w;
    const size_t sample = (size_t)c * h * w;
    enum { CHUNK = 512 };
    dc_view_params prm[CHUNK];
    if (nthreads < 1) nthreads = 1;
    for (int k0 = 0; k0 < n; k0 += CHUNK) {
        const int m = n - k0 < CHUNK ? n - k0 : CHUNK;
        for (int k = 0; k < m; k++) dc_view_draw(&prm[k], a, h, w, rng);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1 && (size_t)m * sample >= 32768)
        {
            float *scratch = malloc(sizeof(float) * (2 * sample + 3 * (size_t)w));
            DC_ASSERT(scratch); // a few KB per thread; no status to return
#pragma omp for schedule(static)
            for (int k = 0; k < m; k++) {
                float *o = x + sample * (size_t)(k0 + k);
                dc_view_apply(o, ds->pixels + sample * (size_t)idx[k0 + k], c, h, w, &prm[k], scratch);
                const size_t plane = (size_t)h * w;
                for (int ch = 0; ch < c; ch++) { // per channel: (v - mean_c) / std_c
                    const float inv = 1.0f / std[ch];
                    float *oc = o + plane * (size_t)ch;
                    for (size_t i = 0; i < plane; i++) oc[i] = (oc[i] - mean[ch]) * inv;
                }
            }
            free(scratch);
        }
    }
}
