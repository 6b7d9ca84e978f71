// test_conv_registry.c — every convolution kernel in the registry
// (src/kernels/conv_registry.h) against its reference twin (dc_conv_ref_*,
// the definition summed in double), on every pass it supports, on awkward
// shapes: N = 1, 3, 7 and batches that leave a partial lane group (17, 19,
// 33); channel counts that are not multiples of 8 or 16; prime H and W;
// stride 2 with odd sizes; 1x1; pad 0, 1, 2 (and 3 for 7x7); outputs of 1x1;
// and the resnet20 shapes themselves. Then the plans: the automatic choice at
// each CPU level this machine can reach through DEEPC_CPU (generic, avx2,
// avx512), forced kernels, the errors, and the override itself.
//
// Tolerance: |got - want| <= 1e-5 |want| + f * u, where u = 1e-6 * rms(a) *
// rms(b) * sqrt(terms) is the rounding scale of an fp32 sum of `terms`
// products of a and b values (never below 1e-6), as in test_conv_kernels.c.
// f = 2 for every kernel: the measured worst case over these shapes, printed
// per kernel at the end, is about 1.1 u for the direct kernels (one FMA chain
// over C*K*K taps) and for Winograd F(2,3) alike (its transforms are +-1
// additions; the weight transform is done in double). dw and db are summed
// over the whole batch, so u for them uses N*OH*OW terms.
//
// Exact checks: scratch contents on entry do not matter (NaN filled), the
// scratch a kernel's size function asks for is enough (a guard after it
// stays untouched), a repeated call gives the same bits, dx is overwritten (NaN filled before)
// and dw/db accumulate (a second call adds the same amount), dx-only and
// dw-only calls give the bits of a call doing both, the fused ReLU is
// max(0, .) of the kernel's own output bit for bit, and a sample's forward
// output does not depend on the batch around it.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/cpu.h"
#include "kernels/conv_registry.h"

#define RTOL 1e-5

static float *falloc(size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    memset(p, 0, bytes);
    return p;
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

// xorshift64*: a fixed stream of uniform values in [-1, 1).
static float urand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

static void randomise(float *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) p[i] = urand(s);
}

static double rms(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

static double unit(double ra, double rb, double terms) {
    double a = 1e-6 * ra * rb * sqrt(terms);
    return a > 1e-6 ? a : 1e-6;
}

// Worst error per kernel in units of u, for the summary.
typedef struct worst {
    const char *name;
    double err;
} worst;
static worst worsts[32];

static void note_worst(const char *name, double e) {
    for (int i = 0; i < 32; i++) {
        if (!worsts[i].name) worsts[i].name = name;
        if (strcmp(worsts[i].name, name) == 0) {
            if (e > worsts[i].err) worsts[i].err = e;
            return;
        }
    }
}

// Compares with the tolerance above; records max |d| / u.
static void check_tol(const char *impl, const char *label, const float *got, const float *want,
                      size_t n, double u, double f) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]) - RTOL * fabs((double)want[i]);
        if (d / u > e || d != d) e = d != d ? INFINITY : d / u;
    }
    note_worst(impl, e);
    dc_check_close(label, got, want, n, RTOL, f * u);
}

static double tol_factor(const char *name) {
    // every kernel, Winograd F(2,3) included, measures under 1.1 u; F(4,3)
    // (wino4t8/16, batch-1 inference) multiplies by up to 8 in its output
    // transform and 5 in its input one, and measures 25.9 u (the summary
    // printed at the end; u is about 1e-6 of the output's rms, so about
    // 2.6e-5 of it), bounded at 32 u
    if (!strncmp(name, "wino4t", 6)) return 32.0;
    return 2.0;
}

typedef struct conv_case {
    int N, C, H, W, OC, K, stride, pad;
} conv_case;

typedef struct refs {
    dc_conv_shape s;
    int N;
    size_t nx, nw, ny;
    float *x, *w, *b, *dy, *y, *yr, *dx, *dw, *db;
    double uy, udx, udw, udb;
} refs;

static void refs_make(refs *r, const conv_case *cc, uint64_t *rng) {
    r->s = dc_conv_shape_make(cc->C, cc->H, cc->W, cc->OC, cc->K, cc->stride, cc->pad);
    r->N = cc->N;
    r->nx = (size_t)cc->N * cc->C * cc->H * cc->W;
    r->nw = (size_t)cc->OC * cc->C * cc->K * cc->K;
    r->ny = (size_t)cc->N * cc->OC * r->s.OH * r->s.OW;
    r->x = falloc(r->nx);
    r->w = falloc(r->nw);
    r->b = falloc(cc->OC);
    r->dy = falloc(r->ny);
    r->y = falloc(r->ny);
    r->yr = falloc(r->ny);
    r->dx = falloc(r->nx);
    r->dw = falloc(r->nw);
    r->db = falloc(cc->OC);
    randomise(r->x, r->nx, rng);
    randomise(r->w, r->nw, rng);
    randomise(r->b, cc->OC, rng);
    randomise(r->dy, r->ny, rng);
    dc_conv_ref_forward(r->y, r->x, r->w, r->b, false, r->N, &r->s, NULL);
    dc_conv_ref_forward(r->yr, r->x, r->w, r->b, true, r->N, &r->s, NULL);
    dc_conv_ref_backward(r->dx, r->dw, r->db, r->dy, r->x, r->w, r->N, &r->s, NULL);
    const double rx = rms(r->x, r->nx), rw = rms(r->w, r->nw), rdy = rms(r->dy, r->ny);
    const int K = cc->K;
    r->uy = unit(rx, rw, (double)cc->C * K * K);
    r->udx = unit(rw, rdy, (double)cc->OC * K * K);
    r->udw = unit(rx, rdy, (double)r->N * r->s.OH * r->s.OW);
    r->udb = unit(1.0, rdy, (double)r->N * r->s.OH * r->s.OW);
}

static void refs_free(refs *r) {
    free(r->x); free(r->w); free(r->b); free(r->dy); free(r->y); free(r->yr); free(r->dx);
    free(r->dw); free(r->db);
}

#define LABEL(what)                                                                          \
    snprintf(label, sizeof label, "%s N%d C%d %dx%d OC%d K%d s%d p%d %s", impl->name, r->N,  \
             s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad, what)

static void check_forward(const dc_conv_impl *impl, const refs *r) {
    const dc_conv_shape *s = &r->s;
    char label[160];
    const double f = tol_factor(impl->name);
    const size_t nsc = impl->scratch_floats(s, DC_CONV_FWD);
    float *sc = falloc(nsc + 64), *y = falloc(r->ny), *y2 = falloc(r->ny);
    fill(sc, nsc, NAN);
    fill(sc + nsc, 64, 5.0f); // a guard: must stay untouched
    fill(y, r->ny, NAN);
    impl->forward(y, r->x, r->w, r->b, false, r->N, s, sc);
    LABEL("y");
    check_tol(impl->name, label, y, r->y, r->ny, r->uy, f);
    fill(sc, nsc, -3.0f);
    impl->forward(y2, r->x, r->w, r->b, false, r->N, s, sc);
    CHECK(memcmp(y, y2, r->ny * sizeof(float)) == 0, "%s: repeated forward differs", label);
    // fused ReLU: the kernel's own output, ReLU'd, bit for bit
    impl->forward(y2, r->x, r->w, r->b, true, r->N, s, sc);
    int same = 1;
    for (size_t i = 0; i < r->ny; i++) {
        const float v = y[i] > 0.0f || y[i] != y[i] ? y[i] : 0.0f;
        same &= memcmp(&v, &y2[i], sizeof v) == 0;
    }
    CHECK(same, "%s: fused ReLU is not max(0, y) of the plain forward", label);
    LABEL("y relu");
    check_tol(impl->name, label, y2, r->yr, r->ny, r->uy, f);
    // no bias: the reference without it
    float *ynb = falloc(r->ny);
    dc_conv_ref_forward(ynb, r->x, r->w, NULL, false, r->N, s, NULL);
    impl->forward(y2, r->x, r->w, NULL, false, r->N, s, sc);
    LABEL("y no bias");
    check_tol(impl->name, label, y2, ynb, r->ny, r->uy, f);
    // batch invariance: each sample alone gives the bits it had in the batch
    const size_t xs = r->nx / r->N, ys = r->ny / r->N;
    same = 1;
    for (int n = 0; n < r->N; n++) {
        impl->forward(y2, r->x + n * xs, r->w, r->b, false, 1, s, sc);
        same &= memcmp(y2, y + n * ys, ys * sizeof(float)) == 0;
    }
    CHECK(same, "%s: a sample's forward output depends on its batch", label);
    int guard_ok = 1;
    for (int i = 0; i < 64; i++) guard_ok &= sc[nsc + i] == 5.0f;
    CHECK(guard_ok, "%s: forward wrote past the scratch its size asked for", label);
    free(sc); free(y); free(y2); free(ynb);
}

// Backward with dx and/or dw, db as the kernel's passes allow.
static void check_backward(const dc_conv_impl *impl, const refs *r, bool data, bool weights) {
    const dc_conv_shape *s = &r->s;
    char label[160];
    const double f = tol_factor(impl->name);
    const unsigned passes = (data ? DC_CONV_BWD_DATA : 0u) | (weights ? DC_CONV_BWD_WEIGHTS : 0u);
    const size_t nsc = impl->scratch_floats(s, passes);
    float *sc = falloc(nsc), *dx = falloc(r->nx), *dx2 = falloc(r->nx);
    float *dw = falloc(r->nw), *db = falloc(s->OC), *dw1 = falloc(r->nw), *db1 = falloc(s->OC);
    fill(sc, nsc, NAN);
    fill(dx, r->nx, NAN);
    impl->backward(data ? dx : NULL, weights ? dw : NULL, weights ? db : NULL, r->dy, r->x, r->w,
                   r->N, s, sc);
    if (data) {
        LABEL("dx");
        check_tol(impl->name, label, dx, r->dx, r->nx, r->udx, f);
    }
    if (weights) {
        LABEL("dw");
        check_tol(impl->name, label, dw, r->dw, r->nw, r->udw, f);
        LABEL("db");
        check_tol(impl->name, label, db, r->db, s->OC, r->udb, f);
        memcpy(dw1, dw, r->nw * sizeof(float));
        memcpy(db1, db, s->OC * sizeof(float));
    }
    // again: dx the same bits (overwritten), dw and db doubled (accumulated)
    fill(sc, nsc, 7.0f);
    impl->backward(data ? dx2 : NULL, weights ? dw : NULL, weights ? db : NULL, r->dy, r->x,
                   r->w, r->N, s, sc);
    LABEL("repeat");
    if (data) CHECK(memcmp(dx, dx2, r->nx * sizeof(float)) == 0, "%s: dx differs", label);
    if (weights) { // a kernel may add sample by sample (im2col), so not bit for bit
        float *dw2 = falloc(r->nw), *db2 = falloc(s->OC);
        for (size_t i = 0; i < r->nw; i++) dw2[i] = 2.0f * r->dw[i];
        for (int i = 0; i < s->OC; i++) db2[i] = 2.0f * r->db[i];
        LABEL("dw accumulated");
        check_tol(impl->name, label, dw, dw2, r->nw, 2 * r->udw, f);
        LABEL("db accumulated");
        check_tol(impl->name, label, db, db2, s->OC, 2 * r->udb, f);
        free(dw2); free(db2);
    }
    // each pass alone, in exactly the scratch its own size function asks for
    // (a guard after it must stay untouched): the same bits as the joint call
    if (data && weights) {
        enum { GUARD = 64 };
        float *dw3 = falloc(r->nw), *db3 = falloc(s->OC), *dx3 = falloc(r->nx);
        const size_t nd = impl->scratch_floats(s, DC_CONV_BWD_DATA);
        const size_t nwt = impl->scratch_floats(s, DC_CONV_BWD_WEIGHTS);
        float *sd = falloc(nd + GUARD), *swt = falloc(nwt + GUARD);
        fill(sd, nd, NAN);
        fill(sd + nd, GUARD, 5.0f);
        fill(swt, nwt, NAN);
        fill(swt + nwt, GUARD, 5.0f);
        impl->backward(dx3, NULL, NULL, r->dy, r->x, r->w, r->N, s, sd);
        impl->backward(NULL, dw3, db3, r->dy, r->x, r->w, r->N, s, swt);
        CHECK(memcmp(dx3, dx, r->nx * sizeof(float)) == 0 &&
                  memcmp(dw3, dw1, r->nw * sizeof(float)) == 0 &&
                  memcmp(db3, db1, s->OC * sizeof(float)) == 0,
              "%s: separate dx / dw calls differ from the joint call", label);
        int guard_ok = 1;
        for (int i = 0; i < GUARD; i++) guard_ok &= sd[nd + i] == 5.0f && swt[nwt + i] == 5.0f;
        CHECK(guard_ok, "%s: a one-pass call wrote past the scratch its size asked for", label);
        free(dw3); free(db3); free(dx3); free(sd); free(swt);
    }
    free(sc); free(dx); free(dx2); free(dw); free(db); free(dw1); free(db1);
}

static void check_impls(const refs *r, unsigned cpu) {
    for (int i = 0; i < dc_conv_impl_count(); i++) {
        const dc_conv_impl *impl = dc_conv_impl_at(i);
        if (strcmp(impl->name, "ref") == 0) continue;
        if (dc_conv_impl_usable(impl, &r->s, DC_CONV_FWD, cpu)) check_forward(impl, r);
        const bool d = dc_conv_impl_usable(impl, &r->s, DC_CONV_BWD_DATA, cpu);
        const bool w = dc_conv_impl_usable(impl, &r->s, DC_CONV_BWD_WEIGHTS, cpu);
        if (d && w) check_backward(impl, r, true, true);
        else if (d) check_backward(impl, r, true, false);
        else if (w) check_backward(impl, r, false, true);
    }
}

// The automatic plan at a CPU level: it runs, it is right, it uses only
// kernels of that level.
static void check_plan(const refs *r, unsigned cpu) {
    dc_conv_plan p;
    dc_error err;
    CHECK(dc_conv_plan_make_with(&p, &r->s, r->N, DC_CONV_ALL, cpu, NULL, NULL, NULL, &err) ==
              DC_OK,
          "plan: %s", err.msg);
    CHECK(dc_cpu_has(cpu, p.fwd->cpu) && dc_cpu_has(cpu, p.bwd_data->cpu) &&
              dc_cpu_has(cpu, p.bwd_weights->cpu),
          "plan at %s took a kernel the level lacks", dc_cpu_level_name(cpu));
    const size_t n = dc_conv_plan_floats(&p);
    float *sc = falloc(n), *y = falloc(r->ny), *dx = falloc(r->nx), *dw = falloc(r->nw),
          *db = falloc(r->s.OC);
    fill(sc, n, NAN);
    dc_conv_run_forward(&p, y, r->x, r->w, r->b, false, r->N, sc);
    dc_conv_run_backward(&p, dx, dw, db, r->dy, r->x, r->w, r->N, sc);
    char label[160];
    const dc_conv_shape *s = &r->s;
    snprintf(label, sizeof label, "plan %s (%s/%s/%s) N%d C%d %dx%d OC%d K%d s%d p%d",
             dc_cpu_level_name(cpu), p.fwd->name, p.bwd_data->name, p.bwd_weights->name, r->N,
             s->C, s->H, s->W, s->OC, s->K, s->stride, s->pad);
    const double f = 2.0;
    check_tol("plans", label, y, r->y, r->ny, r->uy, f);
    check_tol("plans", label, dx, r->dx, r->nx, r->udx, f);
    check_tol("plans", label, dw, r->dw, r->nw, r->udw, f);
    check_tol("plans", label, db, r->db, s->OC, r->udb, f);
    free(sc); free(y); free(dx); free(dw); free(db);
}

static const conv_case cases[] = {
    {1, 3, 7, 7, 5, 3, 1, 1},      // one sample, tiny
    {3, 5, 11, 13, 7, 3, 1, 1},    // primes, N = 3
    {7, 16, 28, 28, 16, 3, 1, 1},  // resnet20 layer1
    {7, 32, 14, 14, 32, 3, 1, 1},  // resnet20 layer2
    {3, 64, 7, 7, 64, 3, 1, 1},    // resnet20 layer3 (no Winograd dw: too many lane sums)
    {19, 16, 28, 28, 32, 3, 2, 1}, // resnet20 16->32 stride 2, a partial lane group
    {17, 1, 28, 28, 16, 3, 1, 1},  // the stem
    {33, 8, 6, 6, 8, 3, 1, 1},     // two groups of 16 and one sample
    {5, 3, 9, 7, 4, 3, 2, 1},      // stride 2, odd sizes
    {9, 4, 10, 11, 6, 3, 1, 0},    // pad 0
    {6, 5, 5, 6, 3, 3, 1, 2},      // pad 2
    {3, 2, 3, 3, 2, 3, 1, 0},      // 3x3 input, 1x1 output
    {2, 1, 1, 1, 1, 3, 1, 1},      // 1x1 input, pad 1
    {4, 5, 8, 8, 13, 1, 2, 0},     // 1x1 stride 2
    {10, 3, 6, 5, 7, 1, 1, 0},     // 1x1 stride 1
    {7, 16, 28, 28, 32, 1, 2, 0},  // resnet20 projection 16->32
    {2, 2, 16, 9, 3, 7, 1, 3},     // 7x7, pad 3
    {8, 4, 5, 5, 2, 5, 1, 0},      // 5x5, 1x1 output
    {7, 6, 14, 14, 16, 5, 1, 0},   // LeNet-5 conv2
    {3, 1, 28, 28, 6, 5, 1, 2},    // LeNet-5 conv1
};

// ----------------------------------------------------------------------------

static void test_kernels(void) {
    const unsigned cpu = dc_cpu_detected();
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        refs r;
        refs_make(&r, &cases[i], &rng);
        check_impls(&r, cpu);
        const unsigned levels[] = {0u, DC_CPU_LEVEL_AVX2, ~0u};
        for (int l = 0; l < 3; l++) check_plan(&r, cpu & levels[l]);
        refs_free(&r);
    }
}

static void test_plan_errors(void) {
    dc_conv_plan p;
    dc_error err = {0};
    dc_conv_shape s = dc_conv_shape_make(3, 2, 2, 4, 5, 1, 0); // K > padded input
    CHECK(dc_conv_plan_make(&p, &s, 4, DC_CONV_ALL, &err) == DC_ERR_SHAPE, "K > input accepted");
    CHECK(strstr(err.msg, "not a convolution") != NULL, "message: %s", err.msg);
    s = dc_conv_shape_make(3, 8, 8, 4, 3, 0, 1);
    CHECK(dc_conv_plan_make(&p, &s, 4, DC_CONV_ALL, &err) == DC_ERR_SHAPE, "stride 0 accepted");
    s = dc_conv_shape_make(3, 8, 8, 4, 3, 1, 1);
    CHECK(dc_conv_plan_make(&p, &s, 0, DC_CONV_ALL, &err) == DC_ERR_ARG, "N = 0 accepted");
    CHECK(dc_conv_plan_make(&p, &s, 4, 8u, &err) == DC_ERR_ARG, "pass 8 accepted");
    CHECK(dc_conv_plan_make_with(&p, &s, 4, DC_CONV_FWD, ~0u, "nope", NULL, NULL, &err) ==
              DC_ERR_UNSUPPORTED,
          "unknown kernel accepted");
    CHECK(strstr(err.msg, "nope") != NULL, "message names the kernel: %s", err.msg);
    s = dc_conv_shape_make(3, 8, 8, 4, 5, 1, 2);
    CHECK(dc_conv_plan_make_with(&p, &s, 4, DC_CONV_FWD, ~0u, "wino8", NULL, NULL, &err) ==
              DC_ERR_UNSUPPORTED,
          "Winograd accepted a 5x5 kernel");
    CHECK(dc_conv_plan_make_with(&p, &s, 4, DC_CONV_BWD_DATA, ~0u, NULL, "direct", NULL, &err) ==
              DC_ERR_UNSUPPORTED,
          "the forward-only direct kernel accepted backward-data");
    CHECK(dc_conv_plan_make_with(&p, &s, 4, DC_CONV_FWD, 0u, "lanes8", NULL, NULL, &err) ==
              DC_ERR_UNSUPPORTED,
          "an AVX2 kernel accepted on a generic CPU");
    // names are unique and every row is complete
    for (int i = 0; i < dc_conv_impl_count(); i++) {
        const dc_conv_impl *a = dc_conv_impl_at(i);
        CHECK(dc_conv_impl_find(a->name) == a, "%s: name not unique", a->name);
        CHECK(a->scratch_floats && a->algorithm && (!(a->passes & DC_CONV_FWD) || a->forward) &&
                  (!(a->passes & (DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS)) || a->backward),
              "%s: incomplete row", a->name);
    }
    CHECK(dc_conv_impl_at(-1) == NULL && dc_conv_impl_at(dc_conv_impl_count()) == NULL,
          "out of range rows");
}

// DEEPC_CPU lowers what dc_cpu_features reports, never raises it, and the
// plans follow it.
static void test_override(void) {
    const unsigned hw = dc_cpu_detected();
    dc_error err;
    setenv("DEEPC_CPU", "generic", 1);
    CHECK(dc_cpu_features() == 0, "generic: features %#x", dc_cpu_features());
    CHECK(dc_cpu_check_env(&err) == DC_OK, "generic rejected");
    dc_conv_plan p;
    dc_conv_shape s = dc_conv_shape_make(16, 28, 28, 16, 3, 1, 1);
    CHECK(dc_conv_plan_make(&p, &s, 64, DC_CONV_ALL, &err) == DC_OK, "plan: %s", err.msg);
    CHECK(strcmp(p.fwd->name, "im2col") == 0 && strcmp(p.bwd_weights->name, "im2col") == 0,
          "generic plan took %s / %s", p.fwd->name, p.bwd_weights->name);
    setenv("DEEPC_CPU", "avx2", 1);
    CHECK(dc_cpu_features() == (hw & DC_CPU_LEVEL_AVX2), "avx2: features %#x", dc_cpu_features());
    CHECK(dc_conv_plan_make(&p, &s, 64, DC_CONV_ALL, &err) == DC_OK, "plan: %s", err.msg);
    CHECK(dc_cpu_has(DC_CPU_LEVEL_AVX2, p.fwd->cpu) &&
              dc_cpu_has(DC_CPU_LEVEL_AVX2, p.bwd_data->cpu) &&
              dc_cpu_has(DC_CPU_LEVEL_AVX2, p.bwd_weights->cpu),
          "avx2 plan took an AVX-512 kernel");
    setenv("DEEPC_CPU", "avx512", 1);
    CHECK(dc_cpu_features() == hw, "avx512 raised or lowered the features");
    setenv("DEEPC_CPU", "avx9000", 1);
    CHECK(dc_cpu_features() == hw, "an invalid level changed the features");
    CHECK(dc_cpu_check_env(&err) == DC_ERR_ARG && strstr(err.msg, "DEEPC_CPU") != NULL,
          "invalid level: %s", err.msg);
    unsetenv("DEEPC_CPU");
    CHECK(dc_cpu_check_env(&err) == DC_OK && dc_cpu_features() == hw, "unset");
    printf("CPU: %s (features %#x)\n", dc_cpu_level_name(hw), hw);
}

int main(void) {
    unsetenv("DEEPC_CPU"); // the kernels' own checks use what the hardware has
    test_override();
    test_plan_errors();
    test_kernels();
    printf("worst error per kernel, in units of the fp32 rounding scale u:\n");
    for (int i = 0; i < 32 && worsts[i].name; i++)
        printf("  %-10s %.3f\n", worsts[i].name, worsts[i].err);
    return dc_test_finish();
}
