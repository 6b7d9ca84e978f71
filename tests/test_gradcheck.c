// test_gradcheck.c — finite-difference gradient checks of every layer's
// backward, independent of PyTorch.
//
// For each layer a scalar loss L = sum(y * dy) with a fixed random dy (for
// softmax cross-entropy L is the returned mean loss itself) is evaluated in
// double from our fp32 forward. For a random subset of coordinates of every
// input that has a gradient (x, w, b, logits) the central difference
//   (L(v + eps) - L(v - eps)) / ((v + eps) - (v - eps)),   eps = 1e-2,
// is compared with the analytic gradient from our backward. The denominator
// uses the fp32 values actually stored, so representation error does not
// count. Pass when
//   |numeric - analytic| <= 1e-2 * max(|numeric|, |analytic|, floor)
// with floor = 0.1 * rms(analytic gradient of that tensor): fp32 forward
// roundoff in L is ~1e-7 * |L| and dividing by 2e-2 makes it ~1e-5 |L|, so a
// 1% relative tolerance is what fp32 differences support; the floor keeps
// coordinates whose true gradient is ~0 from dividing noise by noise.
// Piecewise-linear layers are fed inputs away from their kinks: ReLU inputs
// with |x| >= 0.1, max-pool inputs whose values in a plane are all at least
// 0.1 apart (no near-ties), so +-eps never changes the selected branch.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "layers/layers.h"

#define EPS 1e-2f
#define TOL 1e-2
#define NCOORD 24 // coordinates checked per tensor

typedef double (*loss_fn)(void *ctx);

static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

static void randn(float *p, size_t n, float scale, dc_rng *r) {
    for (size_t i = 0; i < n; i++) p[i] = scale * dc_rng_normal(r);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Checks analytic grad g (n) of L with respect to v (n), perturbing v in place.
static void gradcheck(const char *what, void *ctx, loss_fn L, float *v,
                      const float *g, size_t n, dc_rng *r) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double floor = 0.1 * sqrt(ss / (double)n);
    size_t m = n < NCOORD ? n : NCOORD, bad = 0;
    double worst = 0;
    size_t worst_i = 0;
    double worst_num = 0;
    for (size_t k = 0; k < m; k++) {
        size_t i = n <= NCOORD ? k : dc_rng_below(r, (uint32_t)n);
        float v0 = v[i];
        float vp = v0 + EPS, vm = v0 - EPS;
        v[i] = vp;
        double lp = L(ctx);
        v[i] = vm;
        double lm = L(ctx);
        v[i] = v0;
        double num = (lp - lm) / ((double)vp - (double)vm);
        double ana = g[i];
        double scale = fmax(fmax(fabs(num), fabs(ana)), floor);
        double err = fabs(num - ana) / (scale > 0 ? scale : 1.0);
        if (err > TOL) bad++;
        if (err > worst || k == 0) {
            worst = err;
            worst_i = i;
            worst_num = num;
        }
    }
    printf("  %-36s checked %3zu of %-6zu worst rel err %.2e (at %zu: analytic %.6g numeric %.6g)\n",
           what, m, n, worst, worst_i, (double)g[worst_i], worst_num);
    CHECK(bad == 0, "%s: %zu of %zu coordinates off by more than %g relative; worst %.3g at %zu "
          "(analytic %.6g, numeric %.6g)", what, bad, m, TOL, worst, worst_i,
          (double)g[worst_i], worst_num);
}

// ---------------------------------------------------------------------------
// conv2d

typedef struct conv_ctx {
    int N, C, H, W, OC, K, S, P;
    float *x, *w, *b, *y, *dy; // (N,C,H,W) (OC,C,K,K) (OC) (N,OC,OH,OW) x2
    size_t nx, nw, ny;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    dc_conv2d_forward(c->y, c->x, c->w, c->b, c->N, c->C, c->H, c->W, c->OC, c->K, c->S,
                      c->P, 1);
    return dot(c->y, c->dy, c->ny);
}

static void check_conv(int N, int C, int H, int W, int OC, int K, int S, int P,
                       dc_rng *r) {
    conv_ctx c = {N, C, H, W, OC, K, S, P, 0, 0, 0, 0, 0, 0, 0, 0};
    int OH = dc_conv_out(H, K, S, P), OW = dc_conv_out(W, K, S, P);
    c.nx = (size_t)N * C * H * W;
    c.nw = (size_t)OC * C * K * K;
    c.ny = (size_t)N * OC * OH * OW;
    c.x = falloc(c.nx); c.w = falloc(c.nw); c.b = falloc(OC);
    c.y = falloc(c.ny); c.dy = falloc(c.ny);
    randn(c.x, c.nx, 1.0f, r);
    randn(c.w, c.nw, 1.0f / sqrtf((float)(C * K * K)), r);
    randn(c.b, OC, 0.1f, r);
    randn(c.dy, c.ny, 1.0f, r);
    float *dx = falloc(c.nx), *dw = falloc(c.nw), *db = falloc(OC);
    // analytic gradients with 2 threads, loss evaluations with 1
    dc_conv2d_backward(dx, dw, db, c.dy, c.x, c.w, N, C, H, W, OC, K, S, P, 2);
    char name[160];
    snprintf(name, sizeof name, "conv2d (%d,%d,%d,%d,%d,K%d,s%d,p%d)", N, C, H, W, OC, K, S, P);
    printf("%s\n", name);
    gradcheck("dx", &c, conv_loss, c.x, dx, c.nx, r);
    gradcheck("dw", &c, conv_loss, c.w, dw, c.nw, r);
    gradcheck("db", &c, conv_loss, c.b, db, OC, r);
    free(c.x); free(c.w); free(c.b); free(c.y); free(c.dy); free(dx); free(dw); free(db);
}

// ---------------------------------------------------------------------------
// linear

typedef struct lin_ctx {
    int N, I, O;
    float *x, *w, *b, *y, *dy;
    size_t nx, nw, ny;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    dc_linear_forward(c->y, c->x, c->w, c->b, c->N, c->I, c->O, 1);
    return dot(c->y, c->dy, c->ny);
}

static void check_linear(int N, int I, int O, dc_rng *r) {
    lin_ctx c = {N, I, O, 0, 0, 0, 0, 0, (size_t)N * I, (size_t)O * I, (size_t)N * O};
    c.x = falloc(c.nx); c.w = falloc(c.nw); c.b = falloc(O);
    c.y = falloc(c.ny); c.dy = falloc(c.ny);
    randn(c.x, c.nx, 1.0f, r);
    randn(c.w, c.nw, 1.0f / sqrtf((float)I), r);
    randn(c.b, O, 0.1f, r);
    randn(c.dy, c.ny, 1.0f, r);
    float *dx = falloc(c.nx), *dw = falloc(c.nw), *db = falloc(O);
    dc_linear_backward(dx, dw, db, c.dy, c.x, c.w, N, I, O, 2);
    printf("linear (%d,%d,%d)\n", N, I, O);
    gradcheck("dx", &c, lin_loss, c.x, dx, c.nx, r);
    gradcheck("dw", &c, lin_loss, c.w, dw, c.nw, r);
    gradcheck("db", &c, lin_loss, c.b, db, O, r);
    free(c.x); free(c.w); free(c.b); free(c.y); free(c.dy); free(dx); free(dw); free(db);
}

// ---------------------------------------------------------------------------
// pooling

typedef struct pool_ctx {
    int N, C, H, W, K, S;
    bool max;
    float *x, *y, *dy;
    int32_t *arg;
    size_t nx, ny;
} pool_ctx;

static double pool_loss(void *p) {
    pool_ctx *c = p;
    if (c->max) dc_maxpool2d_forward(c->y, c->arg, c->x, c->N, c->C, c->H, c->W, c->K, c->S);
    else dc_avgpool2d_forward(c->y, c->x, c->N, c->C, c->H, c->W, c->K, c->S);
    return dot(c->y, c->dy, c->ny);
}

static void check_pool(bool max, int N, int C, int H, int W, int K, int S, dc_rng *r) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    pool_ctx c = {N, C, H, W, K, S, max, 0, 0, 0, 0, (size_t)N * C * H * W,
                  (size_t)N * C * OH * OW};
    c.x = falloc(c.nx); c.y = falloc(c.ny); c.dy = falloc(c.ny);
    c.arg = calloc(c.ny, sizeof(int32_t));
    if (!c.arg) exit(2);
    if (max) {
        // each plane: a random permutation of 0.1 * (k - HW/2): distinct
        // values 0.1 apart, so +-eps never changes a window's maximum
        int HW = H * W;
        int32_t *perm = malloc(sizeof(int32_t) * HW);
        if (!perm) exit(2);
        for (int nc = 0; nc < N * C; nc++) {
            for (int k = 0; k < HW; k++) perm[k] = k;
            dc_rng_shuffle_i32(r, perm, (size_t)HW);
            for (int k = 0; k < HW; k++)
                c.x[(size_t)nc * HW + k] = 0.1f * (float)(perm[k] - HW / 2);
        }
        free(perm);
    } else {
        randn(c.x, c.nx, 1.0f, r);
    }
    randn(c.dy, c.ny, 1.0f, r);
    float *dx = falloc(c.nx);
    pool_loss(&c); // forward fills argmax
    if (max) dc_maxpool2d_backward(dx, c.dy, c.arg, N, C, H, W, K, S);
    else dc_avgpool2d_backward(dx, c.dy, N, C, H, W, K, S);
    printf("%s (%d,%d,%d,%d,K%d,s%d)\n", max ? "maxpool2d" : "avgpool2d", N, C, H, W, K, S);
    gradcheck("dx", &c, pool_loss, c.x, dx, c.nx, r);
    free(c.x); free(c.y); free(c.dy); free(c.arg); free(dx);
}

// ---------------------------------------------------------------------------
// activations

typedef struct act_ctx {
    void (*f)(float *, const float *, size_t);
    float *x, *y, *dy;
    size_t n;
} act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    c->f(c->y, c->x, c->n);
    return dot(c->y, c->dy, c->n);
}

static void check_act(const char *name, void (*f)(float *, const float *, size_t),
                      void (*g)(float *, const float *, const float *, size_t),
                      bool away_from_zero, dc_rng *r) {
    const size_t n = 500;
    act_ctx c = {f, falloc(n), falloc(n), falloc(n), n};
    randn(c.x, n, 2.0f, r);
    if (away_from_zero)
        for (size_t i = 0; i < n; i++) c.x[i] = (c.x[i] < 0 ? -0.1f : 0.1f) + c.x[i];
    randn(c.dy, n, 1.0f, r);
    float *dx = falloc(n);
    act_loss(&c);
    g(dx, c.dy, c.y, n);
    printf("%s\n", name);
    gradcheck("dx", &c, act_loss, c.x, dx, n, r);
    free(c.x); free(c.y); free(c.dy); free(dx);
}

// ---------------------------------------------------------------------------
// softmax cross-entropy

typedef struct xent_ctx {
    int N, C;
    float *z, *p, *w;
    int32_t *labels;
} xent_ctx;

static double xent_loss(void *q) {
    xent_ctx *c = q;
    return dc_softmax_xent_forward(c->p, c->z, c->labels, c->w, c->N, c->C);
}

static void check_xent(int N, int C, bool weighted, dc_rng *r) {
    size_t nz = (size_t)N * C;
    xent_ctx c = {N, C, falloc(nz), falloc(nz), weighted ? falloc(N) : NULL, NULL};
    c.labels = calloc(N, sizeof(int32_t));
    if (!c.labels) exit(2);
    randn(c.z, nz, 3.0f, r);
    for (int i = 0; i < N; i++) {
        c.labels[i] = (int32_t)dc_rng_below(r, (uint32_t)C);
        if (weighted) c.w[i] = 2.0f * dc_rng_uniform(r);
    }
    float *dz = falloc(nz);
    xent_loss(&c);
    dc_softmax_xent_backward(dz, c.p, c.labels, c.w, N, C);
    printf("softmax_xent (%d,%d)%s\n", N, C, weighted ? " weighted" : "");
    gradcheck("dlogits", &c, xent_loss, c.z, dz, nz, r);
    free(c.z); free(c.p); free(c.w); free(c.labels); free(dz);
}

int main(void) {
    dc_rng r;
    dc_rng_seed(&r, 20240601);
    check_conv(2, 1, 12, 12, 3, 5, 1, 2, &r);  // LeNet conv1 shape, smaller image
    check_conv(2, 6, 14, 14, 16, 5, 1, 0, &r); // LeNet conv2
    check_conv(3, 3, 7, 9, 4, 3, 2, 1, &r);    // odd sizes, stride 2
    check_conv(1, 2, 5, 5, 3, 1, 1, 0, &r);    // 1x1 kernel
    check_conv(2, 3, 8, 8, 5, 4, 3, 2, &r);    // K4 s3 p2
    check_linear(5, 7, 3, &r);
    check_linear(4, 40, 6, &r);
    check_linear(1, 1, 1, &r);
    check_pool(true, 2, 3, 8, 8, 2, 2, &r);
    check_pool(true, 2, 3, 7, 7, 3, 2, &r);    // overlapping windows
    check_pool(false, 2, 3, 8, 8, 2, 2, &r);
    check_pool(false, 1, 2, 7, 7, 3, 2, &r);
    check_act("relu", dc_relu_forward, dc_relu_backward, true, &r);
    check_act("tanh", dc_tanh_forward, dc_tanh_backward, false, &r);
    check_act("sigmoid", dc_sigmoid_forward, dc_sigmoid_backward, false, &r);
    check_xent(8, 10, false, &r);
    check_xent(8, 10, true, &r);
    return dc_test_finish();
}
