// test_dp.c — DP-SGD's per-sample machinery (Abadi et al. 2016):
//  - each sample's gradient norm from the two-pass method equals the norm of
//    that sample's gradient computed alone (a batch of one, whose gradients
//    test_model.c checks against PyTorch);
//  - the clipped sum equals the sum of the individually clipped gradients,
//    and every clipped contribution has norm <= C;
//  - with a huge clip the clipped sum is n times the mean-loss gradient (so
//    with sigma = 0 DP-SGD is SGD on the same lots);
//  - seeded DP training is deterministic and resumes bit-identically.
// Tolerance: 1e-4 relative + 1e-7 absolute — the two-pass norms are summed in
// double from float per-layer products, the reference in float.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "rt_helper.h"
#include "model/model.h"

enum { N = 6 };

static dc_model *small_lenet(void) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    dc_rng r;
    dc_rng_seed(&r, 11);
    dc_model_init_params(m, &r);
    return m;
}

static void per_sample_checks(int nthreads) {
    printf("per-sample norms and clipping, %d thread(s)\n", nthreads);
    dc_error err;
    dc_model *m = small_lenet();
    if (!m) return;
    const size_t P = m->n_params;
    dc_runtime *rt = NULL, *one = NULL;
    CHECK(dc_test_runtime(&rt, m, N, true, nthreads, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_test_runtime(&one, m, 1, true, 1, &err) == DC_OK, "%s", err.msg);
    float x[N * 784];
    int32_t y[N];
    dc_rng r;
    dc_rng_seed(&r, 5);
    for (int i = 0; i < N * 784; i++) x[i] = dc_rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int32_t)dc_rng_below(&r, 10);
    // reference: each sample alone
    float *g = malloc(sizeof(float) * P * N);
    double ref_sq[N];
    for (int i = 0; i < N; i++) {
        memcpy(dc_runtime_input(one), x + i * 784, sizeof(float) * 784);
        memset(m->grads, 0, sizeof(float) * P);
        dc_runtime_train_step(one, 1, y + i, NULL, NULL, NULL);
        memcpy(g + P * i, m->grads, sizeof(float) * P);
        double s = 0;
        for (size_t j = 0; j < P; j++) s += (double)m->grads[j] * m->grads[j];
        ref_sq[i] = s;
    }
    // two-pass norms with a clip between the smallest and largest norm
    double lo = 1e30, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = fmin(lo, sqrt(ref_sq[i]));
        hi = fmax(hi, sqrt(ref_sq[i]));
    }
    float clip = (float)(0.5 * (lo + hi));
    double sq[N];
    int nclipped = -1;
    memcpy(dc_runtime_input(rt), x, sizeof x);
    memset(m->grads, 0, sizeof(float) * P);
    dc_runtime_dp_step(rt, N, y, clip, sq, &nclipped);
    float fsq[N], fref[N];
    int expect_clipped = 0;
    for (int i = 0; i < N; i++) {
        fsq[i] = (float)sq[i];
        fref[i] = (float)ref_sq[i];
        expect_clipped += (double)clip / (sqrt(ref_sq[i]) + 1e-6) < 1.0;
    }
    dc_check_close("per-sample squared norms vs batches of one", fsq, fref, N, 1e-4, 1e-7);
    CHECK(nclipped == expect_clipped && nclipped > 0 && nclipped < N, "clipped %d, expected %d", nclipped,
          expect_clipped);
    // sum of individually clipped gradients
    float *want = calloc(P, sizeof(float));
    for (int i = 0; i < N; i++) {
        double f = fmin(1.0, (double)clip / (sqrt(ref_sq[i]) + 1e-6));
        double s = 0;
        for (size_t j = 0; j < P; j++) {
            want[j] += (float)(g[P * i + j] * f);
            s += (g[P * i + j] * f) * (g[P * i + j] * f);
        }
        CHECK(sqrt(s) <= clip * (1 + 1e-5), "clipped sample %d has norm %g > %g", i, sqrt(s), clip);
    }
    dc_check_close("clipped sum vs sum of clipped batches of one", m->grads, want, P, 1e-4, 1e-7);
    // huge clip: sum of per-sample gradients == N * gradient of the mean loss
    memcpy(dc_runtime_input(rt), x, sizeof x);
    memset(m->grads, 0, sizeof(float) * P);
    dc_runtime_dp_step(rt, N, y, 1e9f, NULL, &nclipped);
    float *sum = malloc(sizeof(float) * P);
    memcpy(sum, m->grads, sizeof(float) * P);
    memcpy(dc_runtime_input(rt), x, sizeof x);
    memset(m->grads, 0, sizeof(float) * P);
    dc_runtime_train_step(rt, N, y, NULL, NULL, NULL);
    for (size_t j = 0; j < P; j++) m->grads[j] *= N;
    CHECK(nclipped == 0, "nothing clipped with a huge clip");
    dc_check_close("huge clip: clipped sum == N * mean gradient", sum, m->grads, P, 1e-4, 1e-7);
    free(sum);
    free(want);
    free(g);
    dc_runtime_free(rt);
    dc_runtime_free(one);
    dc_model_free(m);
}

static dc_model *fresh(const dc_dataset *ds) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_create(&m, "lenet5", 1, 28, 28, 4, &err)) return NULL;
    dc_model_set_normalisation(m, ds);
    dc_rng r = dc_rng_stream(3, 0, 0);
    dc_model_init_params(m, &r);
    return m;
}

static void training_checks(void) {
    printf("seeded DP-SGD training: determinism and resume\n");
    dc_dataset tr, te;
    dc_test_make_data(&tr, 512, 4, 1);
    dc_test_make_data(&te, 128, 4, 2);
    dc_error err;
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 2;
    cfg.batch = 64;
    cfg.lr = 0.1f;
    cfg.nthreads = 2;
    cfg.dp.enabled = true;
    cfg.dp.clip = 1.0f;
    cfg.dp.sigma = 1.0;
    cfg.dp.delta = 1e-5;
    cfg.dp.seeded = true;
    cfg.dp.seed = 42;
    dc_model *a = fresh(&tr), *b = fresh(&tr), *c = fresh(&tr);
    CHECK(a && b && c, "models");
    if (!a || !b || !c) return;
    CHECK(dc_train(a, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_train(b, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(!memcmp(a->params, b->params, sizeof(float) * a->n_params), "seeded DP runs are bit-identical");
    CHECK(a->privacy_json && strstr(a->privacy_json, "\"sigma\":1") && strstr(a->privacy_json, "seed"),
          "privacy record in the model: %s", a->privacy_json ? a->privacy_json : "(none)");
    dc_train_config one = cfg;
    one.epochs = 1;
    char path[512];
    snprintf(path, sizeof path, "%s/dp.safetensors", dc_test_tmpdir());
    one.checkpoint = path;
    CHECK(dc_train(c, &tr, &te, &one, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_model *d = NULL;
    CHECK(dc_model_load(&d, path, &err) == DC_OK, "%s", err.msg);
    if (d) {
        CHECK(dc_train(d, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
        CHECK(!memcmp(a->params, d->params, sizeof(float) * a->n_params), "DP: 1 + resume + 1 == 2 epochs");
        dc_model_free(d);
    }
    dc_train_config bad = cfg;
    bad.dp.clip = 0;
    CHECK(dc_train(c, &tr, &te, &bad, NULL, NULL, &err) == DC_ERR_ARG, "clip 0 is refused");
    dc_model_free(a);
    dc_model_free(b);
    dc_model_free(c);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
}

int main(void) {
    per_sample_checks(1);
    per_sample_checks(2);
    training_checks();
    return dc_test_finish();
}
