// test_layers.c — every layer's forward and backward against PyTorch 1.13
// fixtures (tests/gen_fixtures.py writes tests/fixtures/*.dcfx), with
// nthreads 1 and 2 where the layer takes a thread count, plus the contract
// details a fixture cannot show: backward accumulates into dw/db (twice ->
// 2x), overwrites dx, accepts NULL dx/db, and repeated calls give the same
// bits. Dropout has no torch counterpart (its RNG is ours): its mask values,
// drop rate, backward and reproducibility are checked directly.
//
// Tolerance: |got - want| <= 1e-5 |want| + 1e-6 (fp32: a few ulps of
// re-association) for elementwise ops, pooling, softmax. For results that are
// sums of many products (conv2d and linear outputs and gradients) the
// absolute part is scaled to the size of the terms summed, see dot_atol():
// both torch and we round each partial sum to fp32, in different orders, so
// a value that cancels to near zero carries an absolute error proportional
// to the magnitude of its terms, not to its own. (Checked against float64:
// on linear_fc1 y and conv2d_lenet1 dw torch's own fp32 result is 1.9e-6 and
// 1.5e-4 from the float64 answer, ours closer; both pass with 2-4x margin.)
// Max pool values and indices are compared exactly (no arithmetic involved).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"
#include "layers/layers.h"

#define RTOL 1e-5
#define ATOL 1e-6

// ---------------------------------------------------------------------------
// helpers

static int load(dcfx *fx, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s.dcfx", name);
    int bad = dcfx_load(fx, dc_src_path(rel));
    CHECK(!bad, "%s", fx->err);
    if (!bad) printf("%s\n", name);
    return !bad;
}

// Fixture tensor `name` with n values, or a recorded failure and NULL.
static const float *need(const dcfx *fx, const char *case_name, const char *name,
                         size_t n) {
    const float *p = dcfx_data(fx, name, n);
    CHECK(p != NULL, "%s: tensor %s (%zu values) missing or wrong size", case_name,
          name, n);
    return p;
}

static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

static float *fdup(const float *src, size_t n) {
    float *p = falloc(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static float *scaled(const float *src, size_t n, float s) {
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = src[i] * s;
    return p;
}

// Absolute tolerance for a result that is a sum of `terms` products whose
// typical size is `rms_a * rms_b`: about 1e-6 of the root-sum-square of the
// terms (fp32 eps is 6e-8; two independently rounded sums of a few hundred
// terms differ by a few eps times that). Never below ATOL.
static double rms(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    return n ? sqrt(s / (double)n) : 0.0;
}
static double dot_atol(double rms_a, double rms_b, double terms) {
    double a = 1e-6 * rms_a * rms_b * sqrt(terms);
    return a > ATOL ? a : ATOL;
}

static void check_close(const char *case_name, const char *what, int T,
                        const float *got, const float *want, size_t n, double atol) {
    char label[128];
    snprintf(label, sizeof label, "%s %s T=%d", case_name, what, T);
    dc_check_close(label, got, want, n, RTOL, atol);
}

static void check_same_bits(const char *case_name, const char *what, int T,
                            const float *a, const float *b, size_t n) {
    CHECK(memcmp(a, b, n * sizeof(float)) == 0,
          "%s %s T=%d: repeated call gave different bits", case_name, what, T);
}

// ---------------------------------------------------------------------------
// conv2d

static void test_conv(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 8);
    if (!cfg) goto out;
    int N = (int)cfg[0], C = (int)cfg[1], H = (int)cfg[2], W = (int)cfg[3];
    int OC = (int)cfg[4], K = (int)cfg[5], S = (int)cfg[6], P = (int)cfg[7];
    int OH = dc_conv_out(H, K, S, P), OW = dc_conv_out(W, K, S, P);
    size_t nx = (size_t)N * C * H * W, nw = (size_t)OC * C * K * K, ny = (size_t)N * OC * OH * OW;
    const float *x = need(&fx, name, "x", nx), *w = need(&fx, name, "w", nw),
                *b = need(&fx, name, "b", OC), *y = need(&fx, name, "y", ny),
                *dy = need(&fx, name, "dy", ny), *dx = need(&fx, name, "dx", nx),
                *dw = need(&fx, name, "dw", nw), *db = need(&fx, name, "db", OC);
    if (!x || !w || !b || !y || !dy || !dx || !dw || !db) goto out;

    // y sums C*K*K products of x and w; dx sums OC*K*K/S^2 products of w and
    // dy; dw sums N*OH*OW products of x and dy; db sums N*OH*OW values of dy.
    double rx = rms(x, nx), rw = rms(w, nw), rdy = rms(dy, ny);
    double at_y = dot_atol(rx, rw, (double)C * K * K);
    double at_dx = dot_atol(rw, rdy, (double)OC * K * K);
    double at_dw = dot_atol(rx, rdy, (double)N * OH * OW);
    double at_db = dot_atol(1.0, rdy, (double)N * OH * OW);
    float *tw2 = scaled(dw, nw, 2.0f), *tb2 = scaled(db, OC, 2.0f);

    for (int T = 1; T <= 2; T++) {
        float *gy = falloc(ny), *gy2 = falloc(ny);
        fill(gy, ny, NAN); // forward must overwrite y
        dc_conv2d_forward(gy, x, w, b, N, C, H, W, OC, K, S, P, T);
        check_close(name, "y", T, gy, y, ny, at_y);
        dc_conv2d_forward(gy2, x, w, b, N, C, H, W, OC, K, S, P, T);
        check_same_bits(name, "y", T, gy, gy2, ny);

        float *gdx = falloc(nx), *gdw = falloc(nw), *gdb = falloc(OC);
        fill(gdx, nx, NAN); // dx is overwritten, never accumulated
        dc_conv2d_backward(gdx, gdw, gdb, dy, x, w, N, C, H, W, OC, K, S, P, T);
        check_close(name, "dx", T, gdx, dx, nx, at_dx);
        check_close(name, "dw", T, gdw, dw, nw, at_dw);
        check_close(name, "db", T, gdb, db, OC, at_db);
        float *gdx1 = fdup(gdx, nx), *gdw1 = fdup(gdw, nw);

        // second call into the same buffers: dw, db double, dx stays
        dc_conv2d_backward(gdx, gdw, gdb, dy, x, w, N, C, H, W, OC, K, S, P, T);
        check_same_bits(name, "dx (2nd call)", T, gdx, gdx1, nx);
        check_close(name, "dw accumulated x2", T, gdw, tw2, nw, 2 * at_dw);
        check_close(name, "db accumulated x2", T, gdb, tb2, OC, 2 * at_db);

        // dx and db may be NULL; dw must not change because of that
        float *gdw3 = falloc(nw);
        dc_conv2d_backward(NULL, gdw3, NULL, dy, x, w, N, C, H, W, OC, K, S, P, T);
        check_same_bits(name, "dw (dx,db NULL)", T, gdw3, gdw1, nw);
        // and without bias in forward: y - b
        float *gy3 = falloc(ny);
        dc_conv2d_forward(gy3, x, w, NULL, N, C, H, W, OC, K, S, P, T);
        float *ynb = fdup(y, ny);
        for (size_t i = 0; i < ny; i++) ynb[i] -= b[(i / ((size_t)OH * OW)) % OC];
        check_close(name, "y (no bias)", T, gy3, ynb, ny, at_y + 1e-6);
        free(gy); free(gy2); free(gy3); free(ynb); free(gdx); free(gdw); free(gdb);
        free(gdx1); free(gdw1); free(gdw3);
    }
    free(tw2); free(tb2);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// pooling

static void test_maxpool(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 6);
    if (!cfg) goto out;
    int N = (int)cfg[0], C = (int)cfg[1], H = (int)cfg[2], W = (int)cfg[3];
    int K = (int)cfg[4], S = (int)cfg[5];
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    const float *x = need(&fx, name, "x", nx), *y = need(&fx, name, "y", ny),
                *am = need(&fx, name, "argmax", ny), *dy = need(&fx, name, "dy", ny),
                *dx = need(&fx, name, "dx", nx);
    if (!x || !y || !am || !dy || !dx) goto out;
    float *gy = falloc(ny), *gdx = falloc(nx);
    int32_t *ga = calloc(ny, sizeof(int32_t));
    if (!ga) exit(2);
    fill(gy, ny, NAN);
    dc_maxpool2d_forward(gy, ga, x, N, C, H, W, K, S);
    check_close(name, "y", 1, gy, y, ny, 0.0); // exact: a copy of an input
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ny; i++)
        if (ga[i] != (int32_t)am[i] && !bad++) first = i;
    CHECK(bad == 0, "%s: %zu argmax differ from torch's first-max rule, first at %zu: "
          "got %d want %d", name, bad, first, bad ? ga[first] : 0,
          bad ? (int)am[first] : 0);
    fill(gdx, nx, NAN);
    dc_maxpool2d_backward(gdx, dy, ga, N, C, H, W, K, S);
    // overlapping windows add up to K*K/S^2 values: a few ulps
    check_close(name, "dx", 1, gdx, dx, nx, ATOL);
    free(gy); free(gdx); free(ga);
out:
    dcfx_free(&fx);
}

static void test_avgpool(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 6);
    if (!cfg) goto out;
    int N = (int)cfg[0], C = (int)cfg[1], H = (int)cfg[2], W = (int)cfg[3];
    int K = (int)cfg[4], S = (int)cfg[5];
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    const float *x = need(&fx, name, "x", nx), *y = need(&fx, name, "y", ny),
                *dy = need(&fx, name, "dy", ny), *dx = need(&fx, name, "dx", nx);
    if (!x || !y || !dy || !dx) goto out;
    float *gy = falloc(ny), *gdx = falloc(nx);
    fill(gy, ny, NAN);
    dc_avgpool2d_forward(gy, x, N, C, H, W, K, S);
    check_close(name, "y", 1, gy, y, ny, ATOL);
    fill(gdx, nx, NAN);
    dc_avgpool2d_backward(gdx, dy, N, C, H, W, K, S);
    check_close(name, "dx", 1, gdx, dx, nx, ATOL);
    free(gy); free(gdx);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// activations

typedef void (*act_fwd)(float *, const float *, size_t);
typedef void (*act_bwd)(float *, const float *, const float *, size_t);

static void test_act(const char *name, act_fwd f, act_bwd g) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const dcfx_tensor *tx = dcfx_get(&fx, "x");
    CHECK(tx != NULL, "%s: no x", name);
    if (!tx) goto out;
    size_t n = tx->n;
    const float *x = tx->data, *y = need(&fx, name, "y", n), *dy = need(&fx, name, "dy", n),
                *dx = need(&fx, name, "dx", n);
    if (!y || !dy || !dx) goto out;
    float *gy = falloc(n), *gdx = falloc(n);
    f(gy, x, n);
    check_close(name, "y", 1, gy, y, n, ATOL);
    // backward from *our* y, as the model will run it
    g(gdx, dy, gy, n);
    check_close(name, "dx", 1, gdx, dx, n, ATOL);
    free(gy); free(gdx);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// linear

static void test_linear(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 3);
    if (!cfg) goto out;
    int N = (int)cfg[0], I = (int)cfg[1], O = (int)cfg[2];
    size_t nx = (size_t)N * I, nw = (size_t)O * I, ny = (size_t)N * O;
    const float *x = need(&fx, name, "x", nx), *w = need(&fx, name, "w", nw),
                *b = need(&fx, name, "b", O), *y = need(&fx, name, "y", ny),
                *dy = need(&fx, name, "dy", ny), *dx = need(&fx, name, "dx", nx),
                *dw = need(&fx, name, "dw", nw), *db = need(&fx, name, "db", O);
    if (!x || !w || !b || !y || !dy || !dx || !dw || !db) goto out;
    double rx = rms(x, nx), rw = rms(w, nw), rdy = rms(dy, ny);
    double at_y = dot_atol(rx, rw, I), at_dx = dot_atol(rw, rdy, O),
           at_dw = dot_atol(rx, rdy, N), at_db = dot_atol(1.0, rdy, N);
    float *tw2 = scaled(dw, nw, 2.0f), *tb2 = scaled(db, O, 2.0f);
    for (int T = 1; T <= 2; T++) {
        float *gy = falloc(ny), *gy2 = falloc(ny);
        fill(gy, ny, NAN);
        dc_linear_forward(gy, x, w, b, N, I, O, T);
        check_close(name, "y", T, gy, y, ny, at_y);
        dc_linear_forward(gy2, x, w, b, N, I, O, T);
        check_same_bits(name, "y", T, gy, gy2, ny);
        float *gdx = falloc(nx), *gdw = falloc(nw), *gdb = falloc(O);
        fill(gdx, nx, NAN);
        dc_linear_backward(gdx, gdw, gdb, dy, x, w, N, I, O, T);
        check_close(name, "dx", T, gdx, dx, nx, at_dx);
        check_close(name, "dw", T, gdw, dw, nw, at_dw);
        check_close(name, "db", T, gdb, db, O, at_db);
        float *gdx1 = fdup(gdx, nx), *gdw1 = fdup(gdw, nw);
        dc_linear_backward(gdx, gdw, gdb, dy, x, w, N, I, O, T);
        check_same_bits(name, "dx (2nd call)", T, gdx, gdx1, nx);
        check_close(name, "dw accumulated x2", T, gdw, tw2, nw, 2 * at_dw);
        check_close(name, "db accumulated x2", T, gdb, tb2, O, 2 * at_db);
        float *gdw3 = falloc(nw);
        dc_linear_backward(NULL, gdw3, NULL, dy, x, w, N, I, O, T);
        check_same_bits(name, "dw (dx,db NULL)", T, gdw3, gdw1, nw);
        float *gy3 = falloc(ny), *ynb = fdup(y, ny);
        dc_linear_forward(gy3, x, w, NULL, N, I, O, T);
        for (size_t i = 0; i < ny; i++) ynb[i] -= b[i % (size_t)O];
        check_close(name, "y (no bias)", T, gy3, ynb, ny, at_y + 1e-6);
        free(gy); free(gy2); free(gy3); free(ynb); free(gdx); free(gdw); free(gdb);
        free(gdx1); free(gdw1); free(gdw3);
    }
    free(tw2); free(tb2);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// softmax cross-entropy

static void test_xent(const char *name, int weighted) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 2);
    if (!cfg) goto out;
    int N = (int)cfg[0], C = (int)cfg[1];
    size_t nl = (size_t)N * C;
    const float *z = need(&fx, name, "logits", nl), *lab = need(&fx, name, "labels", N),
                *pr = need(&fx, name, "probs", nl), *loss = need(&fx, name, "loss", 1),
                *dz = need(&fx, name, "dlogits", nl);
    const float *wt = weighted ? need(&fx, name, "weights", N) : NULL;
    if (!z || !lab || !pr || !loss || !dz || (weighted && !wt)) goto out;
    int32_t labels[64];
    if (N > 64) goto out;
    for (int i = 0; i < N; i++) labels[i] = (int32_t)lab[i];
    float *p = falloc(nl), *d = falloc(nl);
    fill(p, nl, NAN);
    double l = dc_softmax_xent_forward(p, z, labels, wt, N, C);
    float lf = (float)l;
    check_close(name, "loss", 1, &lf, loss, 1, ATOL);
    CHECK(isfinite(l), "%s: loss %g not finite with logits of +-50", name, l);
    // probs as small as e^-100 are compared with the absolute part only
    check_close(name, "probs", 1, p, pr, nl, ATOL);
    fill(d, nl, NAN);
    dc_softmax_xent_backward(d, p, labels, wt, N, C);
    check_close(name, "dlogits", 1, d, dz, nl, ATOL);
    float *p2 = falloc(nl);
    double l2 = dc_softmax_xent_forward(p2, z, labels, wt, N, C);
    CHECK(l2 == l, "%s: repeated forward gave loss %.17g then %.17g", name, l, l2);
    check_same_bits(name, "probs", 1, p, p2, nl);
    free(p); free(d); free(p2);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// knowledge distillation: torch's (1 - a) CE + a T^2 kl_div(log_softmax(z/T),
// log_softmax(t/T)), loss and dlogits, then finite differences of our own
// loss and the two limits that must hold exactly

static void test_distill(const char *name, int weighted) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 4);
    if (!cfg) goto out;
    const int N = (int)cfg[0], C = (int)cfg[1];
    const float alpha = cfg[2], temp = cfg[3];
    const size_t nl = (size_t)N * C;
    const float *z = need(&fx, name, "logits", nl), *t = need(&fx, name, "teacher", nl),
                *lab = need(&fx, name, "labels", N), *loss = need(&fx, name, "loss", 1),
                *dz = need(&fx, name, "dlogits", nl);
    const float *wt = weighted ? need(&fx, name, "weights", N) : NULL;
    if (!z || !t || !lab || !loss || !dz || (weighted && !wt) || N > 64) goto out;
    int32_t labels[64];
    for (int i = 0; i < N; i++) labels[i] = (int32_t)lab[i];
    const double l = dc_distill_loss(z, t, labels, wt, N, C, alpha, temp);
    const float lf = (float)l;
    check_close(name, "loss", 1, &lf, loss, 1, ATOL);
    float *d = falloc(nl), *d0 = falloc(nl), *p = falloc(nl), *zz = falloc(nl);
    fill(d, nl, NAN);
    dc_distill_backward(d, z, t, labels, wt, N, C, alpha, temp, 1.0f / (float)N);
    check_close(name, "dlogits", 1, d, dz, nl, ATOL);
    // central differences of the loss (double) on a few logits of moderate size
    memcpy(zz, z, sizeof(float) * nl);
    for (int i = 4; i < N; i++)
        for (int k = 0; k < C; k += 3) {
            const size_t j = (size_t)i * C + k;
            const float h = 1e-2f;
            zz[j] = z[j] + h;
            const double lp = dc_distill_loss(zz, t, labels, wt, N, C, alpha, temp);
            zz[j] = z[j] - h;
            const double lm = dc_distill_loss(zz, t, labels, wt, N, C, alpha, temp);
            zz[j] = z[j];
            const double fd = (lp - lm) / (2.0 * ((double)(z[j] + h) - (double)z[j]));
            CHECK(fabs(fd - d[j]) <= 2e-4 * (1 + fabs(fd)), "%s: dlogits[%zu] %g, finite differences %g", name, j,
                  (double)d[j], fd);
        }
    // alpha 0 is the plain cross-entropy; a student equal to its teacher at
    // alpha 1 has loss 0 and gradient exactly 0
    dc_distill_backward(d0, z, t, labels, wt, N, C, 0.0f, temp, 1.0f / (float)N);
    dc_softmax_xent_forward(p, z, labels, wt, N, C);
    dc_softmax_xent_backward(d, p, labels, wt, N, C);
    check_close(name, "dlogits at alpha 0 against softmax_xent", 1, d0, d, nl, ATOL);
    const double lx = dc_softmax_xent_forward(p, z, labels, wt, N, C);
    CHECK(fabs(dc_distill_loss(z, t, labels, wt, N, C, 0.0f, temp) - lx) <= 1e-6 * (1 + lx),
          "%s: loss at alpha 0 is not the cross-entropy", name);
    dc_distill_backward(d0, z, z, labels, wt, N, C, 1.0f, temp, 1.0f / (float)N);
    bool zero = true;
    for (size_t j = 0; j < nl; j++) zero &= d0[j] == 0.0f;
    CHECK(zero, "%s: a student equal to its teacher at alpha 1 has a gradient", name);
    CHECK(fabs(dc_distill_loss(z, z, labels, wt, N, C, 1.0f, temp)) < 1e-12, "%s: KL(p || p) != 0", name);
    free(d), free(d0), free(p), free(zz);
out:
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// dropout (no torch fixture: the mask comes from our own RNG)

static void test_dropout(void) {
    printf("dropout\n");
    const size_t n = 200000;
    const float ps[3] = {0.0f, 0.25f, 0.5f};
    float *x = falloc(n), *dy = falloc(n);
    dc_rng r;
    dc_rng_seed(&r, 99);
    for (size_t i = 0; i < n; i++) {
        x[i] = dc_rng_normal(&r);
        dy[i] = dc_rng_normal(&r);
    }
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        float keep = 1.0f / (1.0f - p);
        float *y = falloc(n), *m = falloc(n), *y2 = falloc(n), *m2 = falloc(n),
              *dx = falloc(n);
        dc_rng a, b;
        dc_rng_seed(&a, 1234);
        dc_rng_seed(&b, 1234);
        dc_dropout_forward(y, m, x, n, p, &a);
        dc_dropout_forward(y2, m2, x, n, p, &b);
        check_same_bits("dropout", "mask (same seed)", 1, m, m2, n);
        check_same_bits("dropout", "y (same seed)", 1, y, y2, n);
        size_t zeros = 0, other = 0, ybad = 0;
        for (size_t i = 0; i < n; i++) {
            if (m[i] == 0.0f) zeros++;
            else if (m[i] != keep) other++;
            if (y[i] != x[i] * m[i]) ybad++;
        }
        double frac = (double)zeros / (double)n;
        // binomial: 6 standard deviations of the drop fraction
        double tol = 6.0 * sqrt((double)p * (1 - p) / (double)n) + 1e-12;
        CHECK(other == 0, "dropout p=%g: %zu mask values neither 0 nor 1/(1-p)=%g", p, other,
              keep);
        CHECK(fabs(frac - p) <= tol, "dropout p=%g: dropped fraction %.5f, expected %.5f +- %.5f",
              p, frac, p, tol);
        CHECK(ybad == 0, "dropout p=%g: %zu outputs differ from x*mask", p, ybad);
        printf("  p=%.2f dropped %.5f (expected %.2f +- %.5f)\n", p, frac, p, tol);
        dc_dropout_backward(dx, dy, m, n);
        size_t dbad = 0;
        for (size_t i = 0; i < n; i++)
            if (dx[i] != dy[i] * m[i]) dbad++;
        CHECK(dbad == 0, "dropout p=%g: %zu of dx differ from dy*mask", p, dbad);
        if (p > 0) {
            dc_rng c;
            dc_rng_seed(&c, 1235);
            dc_dropout_forward(y2, m2, x, n, p, &c);
            CHECK(memcmp(m, m2, n * sizeof(float)) != 0,
                  "dropout p=%g: seeds 1234 and 1235 gave the same mask", p);
            // the generator advanced: a second draw from `a` differs
            dc_dropout_forward(y2, m2, x, n, p, &a);
            CHECK(memcmp(m, m2, n * sizeof(float)) != 0,
                  "dropout p=%g: consecutive calls gave the same mask", p);
        }
        free(y); free(m); free(y2); free(m2); free(dx);
    }
    free(x); free(dy);
}

int main(void) {
    const char *convs[] = {"conv2d_lenet1", "conv2d_lenet2", "conv2d_odd_s2",
                           "conv2d_1x1", "conv2d_k4s3p2"};
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) test_conv(convs[i]);
    test_maxpool("maxpool_lenet");
    test_maxpool("maxpool_k3s2_ties");
    test_maxpool("maxpool_k2s2_ties");
    test_avgpool("avgpool_k2s2");
    test_avgpool("avgpool_k3s2");
    test_act("relu", dc_relu_forward, dc_relu_backward);
    test_act("tanh", dc_tanh_forward, dc_tanh_backward);
    test_act("sigmoid", dc_sigmoid_forward, dc_sigmoid_backward);
    test_linear("linear_fc1");
    test_linear("linear_small");
    test_linear("linear_1x1x1");
    test_xent("xent", 0);
    test_xent("xent_weighted", 1);
    test_distill("distill", 0);
    test_distill("distill_weighted_t2", 1);
    test_dropout();
    return dc_test_finish();
}
