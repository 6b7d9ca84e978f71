// test_ssl.c — self-supervised pretraining (src/ssl) against PyTorch
// (tests/gen_fixtures_ssl.py, references in float64):
//   - NT-Xent loss and gradient (three shapes, incl. an odd batch and a
//     single pair), plus a finite-difference check and thread-count
//     independence;
//   - BYOL's and SimSiam's cosine losses and their gradients; the target
//     gets none (stop-gradient);
//   - BYOL's moving-average update and its tau schedule;
//   - one whole training step of SimCLR, BYOL and SimSiam through a network
//     with BatchNorm in the projector/predictor: loss, every gradient, the
//     updated parameters and running statistics, BYOL's updated target; the
//     SimSiam gradients differ from those of a step without the stop-gradient;
//   - the view pipeline against an independent PyTorch formulation (crop and
//     bilinear resize, flip, brightness, contrast, blur), seeded (same seed
//     same bits at 1 and 2 threads, another seed other views), in range
//     ([0,1], crop boxes inside the image, factors inside their ranges),
//     identity when every stage is off;
//   - kNN accuracy and the collapse statistic on hand-made cases;
//   - a short pretraining run of each method: finite, deterministic, the
//     monitor reports, the exported encoder is the online one.
//
// Tolerances: losses 1e-5 relative; gradients and updated parameters 2e-5
// relative + 1e-7 absolute (float32 GEMMs and BatchNorm against float64);
// the view pipeline 1e-5 absolute on [0,1] values; the EMA 1e-6 relative.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "harness.h"
#include "model/model.h"
#include "ssl/ssl.h"
#include "transfer/transfer.h"

static int load(dcfx *fx, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s.dcfx", name);
    int bad = dcfx_load(fx, dc_src_path(rel));
    CHECK(!bad, "%s", fx->err);
    if (!bad) printf("%s\n", name);
    return !bad;
}

static void check_scalar(const char *what, double got, double want, double rtol) {
    double d = fabs(got - want);
    CHECK(d <= rtol * fabs(want) + 1e-7, "%s: got %.9g want %.9g", what, got, want);
    printf("  %-40s got %.9g want %.9g\n", what, got, want);
}

// ---------------------------------------------------------------------------
// Losses

static void test_ntxent(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = dcfx_data(&fx, "cfg", 3);
    const int n2 = (int)cfg[0], d = (int)cfg[1];
    const float T = cfg[2];
    const float *z = dcfx_data(&fx, "z", (size_t)n2 * d), *dz_want = dcfx_data(&fx, "dz", (size_t)n2 * d);
    const float *loss_want = dcfx_data(&fx, "loss", 1);
    float *work = malloc(sizeof(float) * dc_ntxent_work_floats(n2, d));
    float *dz = malloc(sizeof(float) * (size_t)n2 * d), *dz2 = malloc(sizeof(float) * (size_t)n2 * d);
    double loss = dc_ntxent(dz, z, n2, d, T, work, 1);
    check_scalar("NT-Xent loss", loss, loss_want[0], 1e-5);
    dc_check_close("NT-Xent dz", dz, dz_want, (size_t)n2 * d, 2e-5, 1e-7);
    double loss2 = dc_ntxent(dz2, z, n2, d, T, work, 2);
    CHECK(loss2 == loss && !memcmp(dz, dz2, sizeof(float) * (size_t)n2 * d), "NT-Xent differs at 2 threads");
    free(work);
    free(dz);
    free(dz2);
    dcfx_free(&fx);
}

// Central differences of the loss (double) over float inputs: eps 1e-2 on
// O(1) values, tolerance 2e-3 relative + 1e-4 absolute (the loss is
// computed in float, so smaller steps only measure rounding).
static void test_ntxent_fd(void) {
    enum { N2 = 6, D = 4 };
    float z[N2 * D], dz[N2 * D], work[2 * N2 * D + N2 * N2 + N2 + 1 + 2 * N2];
    dc_rng r;
    dc_rng_seed(&r, 3);
    for (int i = 0; i < N2 * D; i++) z[i] = dc_rng_normal(&r);
    dc_ntxent(dz, z, N2, D, 0.3f, work, 1);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < N2 * D; i++) {
        const float keep = z[i], eps = 1e-2f;
        z[i] = keep + eps;
        double lp = dc_ntxent(NULL, z, N2, D, 0.3f, work, 1);
        z[i] = keep - eps;
        double lm = dc_ntxent(NULL, z, N2, D, 0.3f, work, 1);
        z[i] = keep;
        double fd = (lp - lm) / (2 * eps), e = fabs(fd - dz[i]);
        if (e > worst) worst = e;
        bad += e > 2e-3 * fabs(fd) + 1e-4;
    }
    CHECK(bad == 0, "NT-Xent finite differences: %d of %d off, worst %.3g", bad, N2 * D, worst);
    printf("  NT-Xent finite differences: worst abs error %.3g\n", worst);
}

static void test_cosine(void) {
    dcfx fx;
    if (!load(&fx, "ssl_cosine")) return;
    const float *cfg = dcfx_data(&fx, "cfg", 2);
    const int n2 = (int)cfg[0], d = (int)cfg[1];
    const float *p = dcfx_data(&fx, "p", (size_t)n2 * d), *t = dcfx_data(&fx, "t", (size_t)n2 * d);
    float dp[64];
    float t_copy[64];
    memcpy(t_copy, t, sizeof(float) * (size_t)n2 * d);
    double l = dc_cosine_loss(dp, p, t_copy, n2, d, 2.0f, 2.0f);
    check_scalar("BYOL loss", l, dcfx_data(&fx, "loss_byol", 1)[0], 1e-5);
    dc_check_close("BYOL dp", dp, dcfx_data(&fx, "dp_byol", (size_t)n2 * d), (size_t)n2 * d, 2e-5, 1e-7);
    l = dc_cosine_loss(dp, p, t_copy, n2, d, 0.0f, 1.0f);
    check_scalar("SimSiam loss", l, dcfx_data(&fx, "loss_simsiam", 1)[0], 1e-5);
    dc_check_close("SimSiam dp", dp, dcfx_data(&fx, "dp_simsiam", (size_t)n2 * d), (size_t)n2 * d, 2e-5, 1e-7);
    CHECK(!memcmp(t_copy, t, sizeof(float) * (size_t)n2 * d), "the targets were written to");
    dcfx_free(&fx);
}

static void test_ema(void) {
    dcfx fx;
    if (!load(&fx, "ssl_ema")) return;
    const float *cfg = dcfx_data(&fx, "cfg", 3);
    float t[37];
    memcpy(t, dcfx_data(&fx, "target", 37), sizeof t);
    dc_ema_update(t, dcfx_data(&fx, "online", 37), 37, cfg[0]);
    dc_check_close("EMA target update", t, dcfx_data(&fx, "target_new", 37), 37, 1e-6, 1e-7);
    const float *taus = dcfx_data(&fx, "taus", 11);
    float got[11];
    for (int k = 0; k <= 10; k++) got[k] = (float)dc_byol_tau(cfg[1], k, (long)cfg[2]);
    dc_check_close("BYOL tau schedule", got, taus, 11, 1e-7, 0);
    CHECK(got[0] == (float)cfg[1] && got[10] == 1.0f, "tau runs from the base to 1");
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// One step through a network

static const char *BASE = "flatten name=flat\nlinear out=6 name=enc\nrelu name=act\nlinear out=3 name=head\n";

static void set_from(dc_model *m, const dcfx *fx, const char *prefix) {
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            if (!strcmp(n->t[k].suffix, "num_batches_tracked")) continue;
            char name[160];
            snprintf(name, sizeof name, "%s%s.%s", prefix, n->name, n->t[k].suffix);
            const float *v = dcfx_data(fx, name, n->t[k].n);
            CHECK(v != NULL, "fixture lacks %s", name);
            if (v) memcpy((n->t[k].buf == DC_BUF_PARAM ? m->params : m->state) + n->t[k].off, v, sizeof(float) * n->t[k].n);
        }
    }
}

// Compares every tensor of m (parameters, or gradients when grads) with
// the fixture's "<prefix><name>"; returns the largest abs difference.
static double compare(const dc_model *m, const dcfx *fx, const char *prefix, bool grads, bool check) {
    double worst = 0;
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            if (!strcmp(n->t[k].suffix, "num_batches_tracked")) continue;
            if (grads && n->t[k].buf != DC_BUF_PARAM) continue;
            char name[160];
            snprintf(name, sizeof name, "%s%s.%s", prefix, n->name, n->t[k].suffix);
            const float *want = dcfx_data(fx, name, n->t[k].n);
            if (!want) {
                CHECK(false, "fixture lacks %s", name);
                continue;
            }
            const float *got = (grads ? m->grads : n->t[k].buf == DC_BUF_PARAM ? m->params : m->state) + n->t[k].off;
            for (size_t j = 0; j < n->t[k].n; j++) worst = fmax(worst, fabs(got[j] - want[j]));
            if (check) dc_check_close(name, got, want, n->t[k].n, 2e-5, 1e-7);
        }
    }
    return worst;
}

static void test_step(const char *name, dc_ssl_method method) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = dcfx_data(&fx, "cfg", 4);
    const int N = (int)cfg[0];
    dc_error err;
    dc_model *base = NULL;
    CHECK(dc_model_parse(&base, BASE, "base", 1, 4, 4, 3, &err) == DC_OK, "%s", err.msg);
    dc_ssl_config c = dc_ssl_config_default();
    c.method = method;
    c.proj_hidden = 8;
    c.proj_dim = 5;
    c.pred_hidden = 7;
    c.temperature = cfg[2];
    c.train.optim = DC_OPTIM_SGD;
    c.train.momentum = 0.9f;
    c.train.weight_decay = 0;
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_ssl_model s;
    CHECK(dc_ssl_model_new(&s, base, &c, &rng, &err) == DC_OK, "%s", err.msg);
    set_from(s.online, &fx, "");
    if (s.target) set_from(s.target, &fx, "target.");
    CHECK((method == DC_SSL_BYOL) == (s.target != NULL), "a target network exactly for BYOL");
    dc_ssl_runner *r = NULL;
    CHECK(dc_ssl_runner_new(&r, &s, &c, N, 2, &err) == DC_OK, "%s", err.msg);
    float *x = dc_ssl_runner_input(r);
    memcpy(x, dcfx_data(&fx, "x1", (size_t)N * 16), sizeof(float) * (size_t)N * 16);
    memcpy(x + N * 16, dcfx_data(&fx, "x2", (size_t)N * 16), sizeof(float) * (size_t)N * 16);
    double loss = 0;
    CHECK(dc_ssl_runner_step(r, N, cfg[1], cfg[3], NULL, &loss, &err) == DC_OK, "%s", err.msg);
    check_scalar("step loss", loss, dcfx_data(&fx, "loss", 1)[0], 1e-5);
    compare(s.online, &fx, "grad.", true, true);
    compare(s.online, &fx, "new.", false, true);
    if (s.target) compare(s.target, &fx, "target_new.", false, true);
    if (method == DC_SSL_SIMSIAM) {
        double d = compare(s.online, &fx, "grad_nostop.", true, false);
        CHECK(d > 1e-3, "SimSiam's gradients equal those without the stop-gradient (max diff %g)", d);
        printf("  gradients without the stop-gradient differ by up to %.3g\n", d);
    }
    dc_ssl_runner_free(r);
    dc_ssl_model_free(&s);
    dc_model_free(base);
    dcfx_free(&fx);
}

// ---------------------------------------------------------------------------
// Views

static void test_view_fixture(const char *name) {
    dcfx fx;
    if (!load(&fx, name)) return;
    const float *cfg = dcfx_data(&fx, "cfg", 10);
    const int H = (int)cfg[0], W = (int)cfg[1];
    const float *pxf = dcfx_data(&fx, "px", (size_t)H * W), *want = dcfx_data(&fx, "view", (size_t)H * W);
    uint8_t px[28 * 28];
    for (int i = 0; i < H * W; i++) px[i] = (uint8_t)pxf[i];
    dc_view_params p = {.x0 = (int)cfg[2], .y0 = (int)cfg[3], .cw = (int)cfg[4], .ch = (int)cfg[5],
                        .flip = cfg[6] != 0, .brightness = cfg[7], .contrast = cfg[8], .blur_sigma = cfg[9]};
    float out[28 * 28], scratch[2 * 28 * 28 + 3 * 28];
    dc_view_apply(out, px, 1, H, W, &p, scratch);
    dc_check_close("view pipeline vs PyTorch", out, want, (size_t)H * W, 0, 1e-5);
    dcfx_free(&fx);
}

// Three channels, every stage off: each plane normalised by its own mean and
// std (the per-channel normalisation a colour model stores).
static void test_views_channels(void) {
    enum { C = 3, H = 5, W = 7, N = 4 };
    uint8_t px[N * C * H * W];
    int32_t lab[N] = {0, 1, 0, 1}, idx[N] = {2, 0, 3, 1};
    for (int i = 0; i < N * C * H * W; i++) px[i] = (uint8_t)(i * 37 % 256);
    dc_dataset ds = {.n = N, .c = C, .h = H, .w = W, .n_classes = 2, .pixels = px, .labels = lab};
    const float mean[C] = {0.1f, 0.5f, 0.9f}, sd[C] = {0.2f, 0.25f, 0.5f};
    float x[N * C * H * W];
    dc_view_aug none = dc_view_aug_none();
    dc_rng r = dc_rng_stream(3, 1, 0);
    dc_views_batch(x, &ds, idx, N, &none, mean, sd, &r, 1);
    double worst = 0;
    for (int k = 0; k < N; k++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < H * W; i++) {
                const size_t o = ((size_t)k * C + ch) * H * W + i, src = ((size_t)idx[k] * C + ch) * H * W + i;
                const double want = (px[src] / 255.0 - mean[ch]) / sd[ch];
                worst = fmax(worst, fabs(x[o] - want));
            }
    CHECK(worst < 1e-5, "per-channel normalisation of views off by %g", worst);
}

static void test_views_seeded(void) {
    dc_dataset ds;
    dc_test_make_data(&ds, 64, 4, 5);
    dc_view_aug a = dc_view_aug_default();
    a.blur_p = 0.5f;
    const size_t n = 64 * 784;
    float *x1 = malloc(sizeof(float) * n), *x2 = malloc(sizeof(float) * n), *x3 = malloc(sizeof(float) * n);
    int32_t idx[64];
    for (int i = 0; i < 64; i++) idx[i] = 63 - i;
    dc_rng r1 = dc_rng_stream(9, 1, 0), r2 = dc_rng_stream(9, 1, 0), r3 = dc_rng_stream(10, 1, 0);
    const float mean[1] = {0.2f}, sd[1] = {0.3f}, zero[1] = {0.0f}, one[1] = {1.0f};
    dc_views_batch(x1, &ds, idx, 64, &a, mean, sd, &r1, 1);
    dc_views_batch(x2, &ds, idx, 64, &a, mean, sd, &r2, 2);
    dc_views_batch(x3, &ds, idx, 64, &a, mean, sd, &r3, 1);
    CHECK(!memcmp(x1, x2, sizeof(float) * n), "the same seed gives other views at 2 threads");
    CHECK(memcmp(x1, x3, sizeof(float) * n) != 0, "another seed gives the same views");
    // normalised values come from [0,1] pixels
    float lo = 1e30f, hi = -1e30f;
    for (size_t i = 0; i < n; i++) lo = fminf(lo, x1[i]), hi = fmaxf(hi, x1[i]);
    CHECK(lo >= (0 - 0.2f) / 0.3f - 1e-5f && hi <= (1 - 0.2f) / 0.3f + 1e-5f, "views outside [0,1]: %g..%g", lo, hi);
    // every stage off: the image itself
    dc_view_aug none = dc_view_aug_none();
    dc_rng r4 = dc_rng_stream(9, 1, 0);
    dc_views_batch(x1, &ds, idx, 64, &none, zero, one, &r4, 2);
    int same = 1;
    for (int k = 0; k < 64; k++)
        for (int i = 0; i < 784; i++) same &= x1[(size_t)k * 784 + i] == (float)ds.pixels[(size_t)idx[k] * 784 + i] / 255.0f;
    CHECK(same, "views with every stage off differ from the images");
    free(x1);
    free(x2);
    free(x3);
    dc_dataset_free(&ds);
}

static void test_views_in_range(void) {
    const int shapes[][2] = {{28, 28}, {5, 9}, {1, 1}, {32, 3}};
    dc_view_aug a = dc_view_aug_default();
    a.blur_p = 0.5f;
    a.brightness = 3.0f; // factors up to 4: the clamp must hold
    a.contrast = 0.9f;
    a.gray_p = 0.5f;
    dc_rng r;
    dc_rng_seed(&r, 17);
    int bad_box = 0, bad_fac = 0, bad_px = 0, flips = 0, crops = 0, draws = 0;
    uint8_t px[3 * 32 * 28];
    float out[3 * 32 * 28], scratch[2 * 3 * 32 * 28 + 3 * 32];
    for (int s = 0; s < 4; s++) {
        const int h = shapes[s][0], w = shapes[s][1];
        for (int t = 0; t < 500; t++, draws++) {
            dc_view_params p;
            dc_view_draw(&p, &a, h, w, &r);
            bad_box += !(p.x0 >= 0 && p.y0 >= 0 && p.cw >= 1 && p.ch >= 1 && p.x0 + p.cw <= w && p.y0 + p.ch <= h);
            bad_fac += !(p.brightness >= 0 && p.brightness <= 4 && p.contrast >= 0.1f - 1e-6f && p.contrast <= 1.9f &&
                         (p.blur_sigma == 0 || (p.blur_sigma >= 0.1f && p.blur_sigma <= 2.0f)));
            flips += p.flip;
            crops += p.cw * p.ch < h * w;
            for (int i = 0; i < 3 * h * w; i++) px[i] = (uint8_t)dc_rng_below(&r, 256);
            dc_view_apply(out, px, 3, h, w, &p, scratch);
            for (int i = 0; i < 3 * h * w; i++) bad_px += !(out[i] >= 0.0f && out[i] <= 1.0f);
        }
    }
    CHECK(bad_box == 0, "%d crop boxes outside the image", bad_box);
    CHECK(bad_fac == 0, "%d jitter/blur factors outside their ranges", bad_fac);
    CHECK(bad_px == 0, "%d view values outside [0,1]", bad_px);
    CHECK(flips > draws * 0.4 && flips < draws * 0.6, "flips %d of %d draws (p = 0.5)", flips, draws);
    CHECK(crops > draws / 2, "the crop shrinks most boxes (%d of %d)", crops, draws);
}

// ---------------------------------------------------------------------------
// Monitor

static void test_knn(void) {
    // bank: class 0 along +x, class 1 along +y; queries near each
    const float bank[] = {1, 0.1f, 0.9f, 0, 1, -0.1f, 0, 1, 0.1f, 0.95f};
    const int32_t by[] = {0, 0, 0, 1, 1};
    const float q[] = {2, 0.3f, 0.2f, 3, 1, 1.2f};
    const int32_t qy[] = {0, 1, 1};
    double acc;
    dc_error err;
    CHECK(dc_knn_accuracy(&acc, bank, by, 5, q, qy, 3, 2, 2, 3, 0.1f, 1, &err) == DC_OK, "%s", err.msg);
    CHECK(fabs(acc - 1.0) < 1e-12, "kNN accuracy %g, expected 1", acc);
    const int32_t wrong[] = {1, 0, 0};
    CHECK(dc_knn_accuracy(&acc, bank, by, 5, q, wrong, 3, 2, 2, 3, 0.1f, 2, &err) == DC_OK && acc == 0.0,
          "kNN against the wrong labels: %g", acc);
    float f[40];
    for (int i = 0; i < 40; i++) f[i] = (float)(i % 4 + 1); // 10 identical rows of 4
    CHECK(dc_embedding_std(f, 10, 4) < 1e-7, "collapsed rows have zero spread");
    float e[16] = {0};
    for (int i = 0; i < 4; i++) e[i * 4 + i] = 1; // one-hot rows: std of (1,0,0,0) unbiased = 0.5
    CHECK(fabs(dc_embedding_std(e, 4, 4) - 0.5) < 1e-9, "one-hot spread %g", dc_embedding_std(e, 4, 4));
}

// ---------------------------------------------------------------------------
// Short runs

typedef struct { int epochs; double last_loss, knn; double sd; } run_log;

static void on_ev(const dc_ssl_event *ev, void *user) {
    run_log *l = user;
    if (!ev->epoch_end) return;
    l->epochs++;
    l->last_loss = ev->loss;
    l->knn = ev->knn_acc;
    l->sd = ev->emb_std;
}

static void test_pretrain_runs(void) {
    dc_dataset ds;
    dc_test_make_data(&ds, 192, 4, 8);
    const char *arch = "conv2d out=4 k=3 stride=2 name=c1\nrelu\nflatten\nlinear out=16 name=feat\nrelu name=frelu\n"
                       "linear out=4 name=fc\n";
    for (int m = 0; m < 3; m++) {
        float *final[2] = {NULL, NULL};
        for (int rep = 0; rep < 2; rep++) {
            dc_error err;
            dc_model *base = NULL;
            dc_model_parse(&base, arch, "t", 1, 28, 28, 4, &err);
            dc_model_set_normalisation(base, &ds);
            dc_rng r;
            dc_rng_seed(&r, 2);
            dc_model_init_params(base, &r);
            float head0 = base->params[dc_model_find_tensor(base, "fc.weight")->off];
            dc_ssl_config c = dc_ssl_config_default();
            c.method = (dc_ssl_method)m;
            c.proj_hidden = 32;
            c.proj_dim = 16;
            c.pred_hidden = 16;
            c.train.epochs = 2;
            c.train.batch = 32;
            c.train.nthreads = 2;
            dc_ssl_model s;
            CHECK(dc_ssl_model_new(&s, base, &c, &r, &err) == DC_OK, "%s", err.msg);
            run_log log = {0};
            dc_dataset bank = ds;
            bank.n = 128;
            dc_dataset query = ds;
            query.pixels += 128 * 784;
            query.labels += 128;
            query.n = 64;
            CHECK(dc_ssl_pretrain(&s, &ds, &bank, &query, &c, on_ev, &log, &err) == DC_OK, "%s: %s",
                  dc_ssl_method_name(c.method), err.msg);
            CHECK(log.epochs == 2 && isfinite(log.last_loss) && log.knn >= 0 && log.knn <= 1 && log.sd > 0,
                  "%s: %d epochs, loss %g, kNN %g, std %g", dc_ssl_method_name(c.method), log.epochs, log.last_loss,
                  log.knn, log.sd);
            if (rep == 0)
                printf("  %-8s 2 epochs: loss %.4f, kNN %.3f, emb std %.4f\n", dc_ssl_method_name(c.method),
                       log.last_loss, log.knn, log.sd);
            dc_ssl_export(base, &s);
            const float *w = base->params + dc_model_find_tensor(base, "c1.weight")->off;
            const float *wo = s.online->params + dc_model_find_tensor(s.online, "c1.weight")->off;
            CHECK(!memcmp(w, wo, sizeof(float) * 36), "exported encoder is not the online one");
            CHECK(base->params[dc_model_find_tensor(base, "fc.weight")->off] == head0, "the head was touched");
            if (s.target) {
                const float *tw = s.target->params + dc_model_find_tensor(s.target, "c1.weight")->off;
                CHECK(memcmp(tw, wo, sizeof(float) * 36) != 0, "BYOL target equals the online network");
            }
            final[rep] = malloc(sizeof(float) * base->n_params);
            memcpy(final[rep], base->params, sizeof(float) * base->n_params);
            if (rep == 1)
                CHECK(!memcmp(final[0], final[1], sizeof(float) * base->n_params), "%s: two runs differ",
                      dc_ssl_method_name(c.method));
            dc_ssl_model_free(&s);
            dc_model_free(base);
        }
        free(final[0]);
        free(final[1]);
    }
    dc_dataset_free(&ds);
}

int main(void) {
    test_ntxent("ssl_ntxent_a");
    test_ntxent("ssl_ntxent_b");
    test_ntxent("ssl_ntxent_c");
    test_ntxent("ssl_ntxent_d");
    test_ntxent_fd();
    test_cosine();
    test_ema();
    test_step("ssl_step_simclr", DC_SSL_SIMCLR);
    test_step("ssl_step_byol", DC_SSL_BYOL);
    test_step("ssl_step_simsiam", DC_SSL_SIMSIAM);
    test_view_fixture("ssl_view_a");
    test_view_fixture("ssl_view_b");
    test_view_fixture("ssl_view_c");
    test_views_seeded();
    test_views_channels();
    test_views_in_range();
    test_knn();
    test_pretrain_runs();
    return dc_test_finish();
}
