// test_merge.c — residual add, channel concat and global average pool
// (src/layers/merge.c) against PyTorch 1.13 fixtures
// (tests/gen_fixtures_graph.py), finite differences for the pool, and the
// contract: outputs and input gradients overwritten, NULL gradients
// skipped, add in place.
//
// Tolerance: add, concat and their backwards move or add float32 values
// exactly as torch does, so they must match bit for bit (compared with
// rtol = atol = 0 and memcmp). The pool's mean is summed in double and
// rounded once, and its reference is float64 (rounded once), so y must be
// within 1 ulp: 1.2e-7 relative plus an absolute 1e-7 * max|want| for
// means that cancel to ~0; dx = dy/HW is one correctly rounded division on
// both sides: 1e-7 relative.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepc.h"
#include "fixture.h"
#include "harness.h"
#include "layers/merge.h"

static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static double maxabs(const float *p, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)p[i]));
    return m;
}

static int load(dcfx *fx, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s.dcfx", name);
    int bad = dcfx_load(fx, dc_src_path(rel));
    CHECK(!bad, "%s", fx->err);
    if (!bad) printf("%s\n", name);
    return !bad;
}

static const float *need(const dcfx *fx, const char *case_name, const char *name, size_t n) {
    const float *p = dcfx_data(fx, name, n);
    CHECK(p != NULL, "%s: tensor %s (%zu values) missing or wrong size", case_name, name, n);
    return p;
}

static void exact(const char *case_name, const char *what, const float *got, const float *want,
                  size_t n) {
    char label[160];
    snprintf(label, sizeof label, "%s %s", case_name, what);
    dc_check_close(label, got, want, n, 0.0, 0.0);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "%s: not bit-identical", label);
}

// ---------------------------------------------------------------------------

static void test_gap(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 4);
    if (!cfg) goto out;
    const int N = (int)cfg[0], C = (int)cfg[1], HW = (int)cfg[2] * (int)cfg[3];
    const size_t nx = (size_t)N * C * HW, ny = (size_t)N * C;
    const float *x = need(&fx, name, "x", nx), *y = need(&fx, name, "y", ny),
                *dy = need(&fx, name, "dy", ny), *dx = need(&fx, name, "dx", nx);
    if (!x || !y || !dy || !dx) goto out;
    float *oy = falloc(ny), *odx = falloc(nx);
    fill(oy, ny, NAN);
    fill(odx, nx, NAN);
    dc_gap_forward(oy, x, N, C, HW);
    dc_gap_backward(odx, dy, N, C, HW);
    char label[160];
    snprintf(label, sizeof label, "%s y", name);
    dc_check_close(label, oy, y, ny, 1.2e-7, 1e-7 * maxabs(y, ny));
    snprintf(label, sizeof label, "%s dx", name);
    dc_check_close(label, odx, dx, nx, 1e-7, 0.0);
    free(oy);
    free(odx);
out:
    dcfx_free(&fx);
}

static void test_add(void) {
    const char *name = "add";
    dcfx fx;
    if (!load(&fx, name)) return;
    const dcfx_tensor *ta = dcfx_get(&fx, "a");
    CHECK(ta != NULL, "add: no tensor a");
    if (!ta) goto out;
    const size_t n = ta->n;
    const float *a = need(&fx, name, "a", n), *b = need(&fx, name, "b", n),
                *y = need(&fx, name, "y", n), *dy = need(&fx, name, "dy", n),
                *da = need(&fx, name, "da", n), *db = need(&fx, name, "db", n);
    if (!a || !b || !y || !dy || !da || !db) goto out;
    float *oy = falloc(n), *oda = falloc(n), *odb = falloc(n), *ip = falloc(n);
    fill(oy, n, NAN);
    fill(oda, n, NAN);
    fill(odb, n, NAN);
    dc_add_forward(oy, a, b, n);
    exact(name, "y", oy, y, n);
    memcpy(ip, a, n * sizeof(float));
    dc_add_forward(ip, ip, b, n); // in place onto a
    exact(name, "y in place (y == a)", ip, y, n);
    memcpy(ip, b, n * sizeof(float));
    dc_add_forward(ip, a, ip, n); // in place onto b
    exact(name, "y in place (y == b)", ip, y, n);
    dc_add_backward(oda, odb, dy, n);
    exact(name, "da", oda, da, n);
    exact(name, "db", odb, db, n);
    fill(oda, n, NAN);
    dc_add_backward(oda, NULL, dy, n); // db skipped
    exact(name, "da (db NULL)", oda, da, n);
    free(oy); free(oda); free(odb); free(ip);
out:
    dcfx_free(&fx);
}

static void test_concat(void) {
    const char *name = "concat3";
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = need(&fx, name, "cfg", 6);
    if (!cfg) goto out;
    const int N = (int)cfg[0], HW = (int)cfg[1] * (int)cfg[2];
    const int Cs[3] = {(int)cfg[3], (int)cfg[4], (int)cfg[5]}, CT = Cs[0] + Cs[1] + Cs[2];
    const size_t ny = (size_t)N * CT * HW;
    const float *xs[3], *dxs[3];
    char nm[8];
    for (int k = 0; k < 3; k++) {
        snprintf(nm, sizeof nm, "x%d", k);
        xs[k] = need(&fx, name, nm, (size_t)N * Cs[k] * HW);
        snprintf(nm, sizeof nm, "dx%d", k);
        dxs[k] = need(&fx, name, nm, (size_t)N * Cs[k] * HW);
        if (!xs[k] || !dxs[k]) goto out;
    }
    const float *y = need(&fx, name, "y", ny), *dy = need(&fx, name, "dy", ny);
    if (!y || !dy) goto out;
    float *oy = falloc(ny), *odx[3];
    fill(oy, ny, NAN);
    for (int k = 0; k < 3; k++) {
        odx[k] = falloc((size_t)N * Cs[k] * HW);
        fill(odx[k], (size_t)N * Cs[k] * HW, NAN);
    }
    dc_concat_forward(oy, xs, Cs, 3, N, HW);
    exact(name, "y", oy, y, ny);
    dc_concat_backward(odx, dy, Cs, 3, N, HW);
    for (int k = 0; k < 3; k++) {
        snprintf(nm, sizeof nm, "dx%d", k);
        exact(name, nm, odx[k], dxs[k], (size_t)N * Cs[k] * HW);
    }
    // a NULL gradient is skipped and leaves the others right
    float *sparse[3] = {odx[0], NULL, odx[2]};
    fill(odx[0], (size_t)N * Cs[0] * HW, NAN);
    fill(odx[2], (size_t)N * Cs[2] * HW, NAN);
    dc_concat_backward(sparse, dy, Cs, 3, N, HW);
    exact(name, "dx0 (dx1 NULL)", odx[0], dxs[0], (size_t)N * Cs[0] * HW);
    exact(name, "dx2 (dx1 NULL)", odx[2], dxs[2], (size_t)N * Cs[2] * HW);
    free(oy);
    for (int k = 0; k < 3; k++) free(odx[k]);
out:
    dcfx_free(&fx);
}

// Finite differences of L = sum(gap(x) * r): the pool is linear, so the
// central difference (eps = 1e-2, denominator from the stored floats) is
// exact up to L's float32 roundoff; pass at 1e-3 relative to max(|numeric|,
// |analytic|, 0.1 rms) — a wrong 1/HW or a misplaced plane is O(1).
static void test_gap_fd(void) {
    printf("fd gap\n");
    const int N = 2, C = 3, HW = 11;
    const size_t nx = (size_t)N * C * HW, ny = (size_t)N * C;
    dc_rng r;
    dc_rng_seed(&r, 3);
    float *x = falloc(nx), *y = falloc(ny), *w = falloc(ny), *dx = falloc(nx);
    for (size_t i = 0; i < nx; i++) x[i] = dc_rng_normal(&r) + 0.5f;
    for (size_t i = 0; i < ny; i++) w[i] = dc_rng_normal(&r);
    dc_gap_backward(dx, w, N, C, HW);
    double ss = 0;
    for (size_t i = 0; i < nx; i++) ss += (double)dx[i] * dx[i];
    const double floor = 0.1 * sqrt(ss / nx);
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < nx; i++) {
        const float v0 = x[i], vp = v0 + 1e-2f, vm = v0 - 1e-2f;
        double lp = 0, lm = 0;
        x[i] = vp;
        dc_gap_forward(y, x, N, C, HW);
        for (size_t j = 0; j < ny; j++) lp += (double)y[j] * w[j];
        x[i] = vm;
        dc_gap_forward(y, x, N, C, HW);
        for (size_t j = 0; j < ny; j++) lm += (double)y[j] * w[j];
        x[i] = v0;
        const double num = (lp - lm) / ((double)vp - vm);
        const double scale = fmax(fmax(fabs(num), fabs((double)dx[i])), floor);
        const double err = fabs(num - dx[i]) / scale;
        worst = fmax(worst, err);
        if (!(err <= 1e-3)) bad++;
    }
    printf("  %-36s %4zu coords, worst rel err %.2e\n", "fd gap dx", nx, worst);
    CHECK(bad == 0, "gap dx: %zu of %zu coordinates off by more than 1e-3", bad, nx);
    free(x); free(y); free(w); free(dx);
}

// Finite differences for add and concat: both are linear in each input,
// so the numeric gradient of L = sum(y * r) is exact up to roundoff (same
// criterion as the pool's). Inputs x0 (2,2,5), x1 (2,3,5), x2 (2,1,5); add
// uses x0 and a copy of it shifted, concat all three.
typedef struct lin_ctx {
    int op; // 0 add, 1 concat
    float *xs[3], *y, *r;
    int Cs[3], N, HW;
    size_t ny;
} lin_ctx;

static double lin_loss(lin_ctx *c) {
    if (c->op == 0)
        dc_add_forward(c->y, c->xs[0], c->xs[1], c->ny);
    else
        dc_concat_forward(c->y, (const float *const *)c->xs, c->Cs, 3, c->N, c->HW);
    double l = 0;
    for (size_t j = 0; j < c->ny; j++) l += (double)c->y[j] * c->r[j];
    return l;
}

static void test_lin_fd(int op) {
    const char *name = op ? "fd concat" : "fd add";
    printf("%s\n", name);
    dc_rng r;
    dc_rng_seed(&r, 17 + op);
    lin_ctx c = {.op = op, .Cs = {2, op ? 3 : 2, 1}, .N = 2, .HW = 5};
    const int K = op ? 3 : 2, CT = op ? 6 : 2;
    c.ny = (size_t)c.N * CT * c.HW;
    c.y = falloc(c.ny);
    c.r = falloc(c.ny);
    for (size_t j = 0; j < c.ny; j++) c.r[j] = dc_rng_normal(&r);
    float *dxs[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        const size_t nk = (size_t)c.N * c.Cs[k] * c.HW;
        c.xs[k] = falloc(nk);
        dxs[k] = falloc(nk);
        for (size_t i = 0; i < nk; i++) c.xs[k][i] = dc_rng_normal(&r);
    }
    if (op == 0)
        dc_add_backward(dxs[0], dxs[1], c.r, c.ny);
    else
        dc_concat_backward(dxs, c.r, c.Cs, 3, c.N, c.HW);
    for (int k = 0; k < K; k++) {
        const size_t nk = (size_t)c.N * c.Cs[k] * c.HW;
        size_t bad = 0;
        double worst = 0;
        for (size_t i = 0; i < nk; i++) {
            const float v0 = c.xs[k][i], vp = v0 + 1e-2f, vm = v0 - 1e-2f;
            c.xs[k][i] = vp;
            const double lp = lin_loss(&c);
            c.xs[k][i] = vm;
            const double lm = lin_loss(&c);
            c.xs[k][i] = v0;
            const double num = (lp - lm) / ((double)vp - vm);
            const double err = fabs(num - dxs[k][i]) / fmax(fmax(fabs(num), fabs(dxs[k][i])), 0.1);
            worst = fmax(worst, err);
            if (!(err <= 1e-3)) bad++;
        }
        printf("  %s dx%d %4zu coords, worst rel err %.2e\n", name, k, nk, worst);
        CHECK(bad == 0, "%s dx%d: %zu of %zu coordinates off by more than 1e-3", name, k, bad, nk);
    }
    for (int k = 0; k < 3; k++) {
        free(c.xs[k]);
        free(dxs[k]);
    }
    free(c.y);
    free(c.r);
}

int main(void) {
    test_gap("gap_5x7");
    test_gap("gap_1x1");
    test_add();
    test_concat();
    test_gap_fd();
    test_lin_fd(0);
    test_lin_fd(1);
    return dc_test_finish();
}
