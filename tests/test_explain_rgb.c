// test_explain_rgb.c — heatmaps and superpixels of RGB models un-normalise
// each channel with its own mean and std: a flat mid-gray image (every
// pixel 0.5 in each channel) under very different per-channel statistics
// renders as gray 128 wherever the map is zero, and SLIC sees one flat
// image, as an un-normalised flat image gives.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "deepc.h"
#include "explain/explain.h"
#include "harness.h"

int main(void) {
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_builtin(&m, "mlp", 3, 8, 8, 10, &err) == DC_OK, "%s", err.msg);
    if (!m) return dc_test_finish();
    const float mean[3] = {0.1f, 0.5f, 0.9f}, std[3] = {0.2f, 0.3f, 0.4f};
    CHECK(dc_model_set_normalisation_channels(m, mean, std, 3, &err) == DC_OK, "%s", err.msg);
    enum { P = 64 };
    float x[3 * P];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < P; p++) x[c * P + p] = (0.5f - mean[c]) / std[c];
    float attr[P] = {0};
    attr[0] = 1.0f; // one hot pixel, the rest zero: their colour is the image's gray
    dc_explanation e = {0};
    e.c = 1, e.h = 8, e.w = 8, e.attr = attr;
    uint8_t *png = NULL;
    size_t len = 0;
    CHECK(dc_explanation_encode_png(&png, &len, &e, m, x, 1, "rgb.png", &err) == DC_OK, "%s", err.msg);
    uint8_t *px = NULL;
    if (png) CHECK(dc_image_decode(&px, png, len, "rgb.png", 3, 8, 8, &err) == DC_OK, "%s", err.msg);
    if (px) {
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int p = 1; p < P; p++) bad += abs((int)px[c * P + p] - 128) > 0;
        CHECK(bad == 0, "%d zero-attribution pixel values are not gray 128 (e.g. %d %d %d)", bad, px[1], px[P + 1],
              px[2 * P + 1]);
        CHECK(px[0] > 200 && px[P] < 128 && px[2 * P] < 128, "the hot pixel is red (%d %d %d)", px[0], px[P], px[2 * P]);
    }
    free(px);
    free(png);
    // SLIC on the flat image: every superpixel has the same mean colour, so
    // the segmentation is the plain spatial one that an un-normalised
    // identical image gives
    int32_t seg_a[P], seg_b[P];
    int na = 0, nb = 0;
    float flat[3 * P];
    for (int i = 0; i < 3 * P; i++) flat[i] = 0.5f;
    CHECK(dc_ex_segment(seg_a, &na, "slic:4", x, 3, 8, 8, mean, std, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_ex_segment(seg_b, &nb, "slic:4", flat, 3, 8, 8, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(na == nb && !memcmp(seg_a, seg_b, sizeof seg_a), "per-channel un-normalisation gives the flat image's "
          "superpixels (%d vs %d)", na, nb);
    dc_model_free(m);
    return dc_test_finish();
}
