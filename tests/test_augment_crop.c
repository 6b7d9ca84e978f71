// test_augment_crop.c — the augmentations for residual nets: random crop
// with zero padding (--crop) and random erasing (--erase). Property tests:
// a crop is an integer shift within [-P, P] with the padding value outside,
// every shift occurs, erasing clears exactly one rectangle of RandomErasing's
// size and shape ranges, p = 0 changes nothing, and the same seed gives the
// same bits.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "data/data.h"

enum { N = 400, C = 2, H = 12, W = 9 };

static float src_val(int c, int y, int x) { return 1.0f + (float)(c * 1000 + y * 31 + x); } // all distinct, nonzero

static void fill_batch(float *x) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) x[(((size_t)n * C + c) * H + y) * W + xx] = src_val(c, y, xx);
}

// The shift (dx, dy) with out(y,x) = in(y+dy, x+dx) that explains sample
// n, or -99 when none does.
static int find_shift(const float *s, int P, int *dxo, int *dyo, float fill) {
    for (int dy = -P; dy <= P; dy++)
        for (int dx = -P; dx <= P; dx++) {
            bool ok = true;
            for (int c = 0; c < C && ok; c++)
                for (int y = 0; y < H && ok; y++)
                    for (int x = 0; x < W && ok; x++) {
                        int ys = y + dy, xs = x + dx;
                        float want = ys >= 0 && ys < H && xs >= 0 && xs < W ? src_val(c, ys, xs) : fill;
                        ok = s[((size_t)c * H + y) * W + x] == want;
                    }
            if (ok) {
                *dxo = dx;
                *dyo = dy;
                return 0;
            }
        }
    return -99;
}

int main(void) {
    const size_t S = (size_t)C * H * W;
    float *x = malloc(sizeof(float) * N * S), *x2 = malloc(sizeof(float) * N * S);
    const float fill = -0.5f, fills[C] = {fill, fill};
    printf("random crop with padding 2\n");
    fill_batch(x);
    dc_augment a = {0};
    a.crop = 2;
    dc_rng r = dc_rng_stream(5, 1, 2);
    dc_augment_batch(x, N, C, H, W, &a, fills, &r);
    int seen[5][5] = {{0}}, bad = 0;
    for (int n = 0; n < N; n++) {
        int dx, dy;
        if (find_shift(x + n * S, 2, &dx, &dy, fill)) bad++;
        else seen[dy + 2][dx + 2]++;
    }
    CHECK(bad == 0, "%d of %d samples are not a shift within [-2, 2] with fill outside", bad, N);
    int all = 1;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) all &= seen[i][j] > 0;
    CHECK(all, "every one of the 25 shifts occurs in %d samples", N);
    fill_batch(x2);
    r = dc_rng_stream(5, 1, 2);
    dc_augment_batch(x2, N, C, H, W, &a, fills, &r);
    CHECK(!memcmp(x, x2, sizeof(float) * N * S), "same seed, same crops");

    printf("random erasing with p = 1 and p = 0.5\n");
    fill_batch(x);
    a = (dc_augment){0};
    a.erase = 1.0f;
    r = dc_rng_stream(6, 1, 2);
    dc_augment_batch(x, N, C, H, W, &a, fills, &r);
    int erased = 0, rect_bad = 0;
    for (int n = 0; n < N; n++) {
        // the zeros of channel 0 must form one rectangle, the same in channel 1
        int y0 = H, y1 = -1, x0 = W, x1 = -1, zeros = 0;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                if (x[n * S + (size_t)y * W + xx] == 0.0f) {
                    zeros++;
                    y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1, x0 = xx < x0 ? xx : x0, x1 = xx > x1 ? xx : x1;
                }
        if (!zeros) continue; // no rectangle fitted in 10 tries (allowed, as in torchvision)
        erased++;
        int eh = y1 - y0 + 1, ew = x1 - x0 + 1;
        double frac = (double)eh * ew / (H * W), ar = (double)eh / ew;
        bool ok = zeros == eh * ew && eh < H && ew < W;
        // area and ratio were drawn before rounding to whole pixels: allow that
        ok = ok && frac > 0.02 * 0.3 && frac < 0.33 * 2.0 && ar > 0.3 / 3.0 && ar < 3.3 * 3.0;
        for (int y = 0; y < H && ok; y++)
            for (int xx = 0; xx < W && ok; xx++) {
                bool in = y >= y0 && y <= y1 && xx >= x0 && xx <= x1;
                float got1 = x[n * S + (size_t)(H + y) * W + xx];
                ok = in ? got1 == 0.0f : got1 == src_val(1, y, xx);
            }
        rect_bad += !ok;
    }
    printf("  %d of %d samples erased\n", erased, N);
    CHECK(rect_bad == 0, "%d erased samples are not one rectangle in range across channels", rect_bad);
    CHECK(erased > N * 8 / 10, "p = 1 erases almost every sample (%d of %d)", erased, N);
    fill_batch(x);
    a.erase = 0.5f;
    r = dc_rng_stream(7, 1, 2);
    dc_augment_batch(x, N, C, H, W, &a, fills, &r);
    int touched = 0;
    for (int n = 0; n < N; n++) {
        int z = 0;
        for (size_t i = 0; i < S; i++) z += x[n * S + i] == 0.0f;
        touched += z > 0;
    }
    printf("  p = 0.5: %d of %d erased\n", touched, N);
    CHECK(touched > N * 3 / 10 && touched < N * 6 / 10, "p = 0.5 erases about half (%d of %d)", touched, N);

    printf("everything off: nothing drawn, nothing changed\n");
    fill_batch(x);
    fill_batch(x2);
    a = (dc_augment){0};
    r = dc_rng_stream(8, 1, 2);
    dc_rng before = r;
    dc_augment_batch(x, N, C, H, W, &a, fills, &r);
    CHECK(!memcmp(x, x2, sizeof(float) * N * S) && !memcmp(&r, &before, sizeof r), "untouched");
    free(x);
    free(x2);
    return dc_test_finish();
}
