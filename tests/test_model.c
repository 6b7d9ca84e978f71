// test_model.c — the model as a whole: one LeNet-5 SGD-momentum step against
// PyTorch (tests/fixtures/lenet5_step.dcfx from tests/gen_fixtures.py), shape
// checks at build time (the seed document's two mistakes among them), the
// text format's strictness, determinism, save/load, resume equivalence, and
// the divergence guard.
//
// Tolerances: the loss and every updated weight within 1e-5 relative
// (+1e-6 absolute for values near zero); gradients, which are sums of up to
// 16*784 products and so carry more rounding, within 1e-5 relative +
// 1e-6 absolute as well — the same order of error as PyTorch's own
// summation-order noise.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"
#include "harness.h"
#include "rt_helper.h"
#include "model/model.h"

static const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                              "fc1.bias",     "fc2.weight", "fc2.bias",     "fc3.weight", "fc3.bias"};

// Pointer into the flat buffer for a PyTorch parameter name.
static float *param_view(dc_model *m, float *flat, const char *name, size_t *n) {
    const dc_tensor_ref *t = dc_model_find_tensor(m, name);
    if (!t || t->buf != DC_BUF_PARAM) return NULL;
    *n = t->n;
    return flat + t->off;
}

static void lenet_step_vs_torch(int nthreads) {
    printf("LeNet-5 SGD-momentum steps vs PyTorch, %d thread(s)\n", nthreads);
    dcfx fx;
    if (dcfx_load(&fx, dc_src_path("tests/fixtures/lenet5_step.dcfx"))) {
        CHECK(0, "%s", fx.err);
        return;
    }
    dc_error err;
    dc_model *m;
    CHECK(dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    for (int k = 0; k < 10; k++) {
        size_t n = 0;
        float *p = param_view(m, m->params, names[k], &n);
        const dcfx_tensor *t = dcfx_get(&fx, names[k]);
        CHECK(p && t && t->n == n, "%s: missing or wrong size", names[k]);
        memcpy(p, t->data, sizeof(float) * n);
    }
    const dcfx_tensor *hyper = dcfx_get(&fx, "hyper");
    float lr = hyper->data[0], mom = hyper->data[1];
    dc_optim opt;
    CHECK(dc_optim_init(&opt, DC_OPTIM_SGD, mom, false, 0, 0.9f, 0.999f, 1e-8f, m->n_params, &err) == DC_OK, "%s",
          err.msg);
    dc_runtime *rt = NULL;
    CHECK(dc_test_runtime(&rt, m, 16, true, nthreads, &err) == DC_OK, "%s", err.msg);
    const char *in_names[2] = {"input", "input2"}, *lab_names[2] = {"labels", "labels2"};
    const char *loss_names[2] = {"loss", "loss2"}, *after[2] = {"after1.", "after2."};
    for (int step = 0; step < 2; step++) {
        const dcfx_tensor *x = dcfx_get(&fx, in_names[step]), *lab = dcfx_get(&fx, lab_names[step]);
        memcpy(dc_runtime_input(rt), x->data, sizeof(float) * x->n);
        int32_t y[16];
        for (int i = 0; i < 16; i++) y[i] = (int32_t)lab->data[i];
        memset(m->grads, 0, sizeof(float) * m->n_params);
        double loss = dc_runtime_train_step(rt, 16, y, NULL, NULL, NULL);
        float lf = (float)loss;
        dc_check_close(loss_names[step], &lf, dcfx_get(&fx, loss_names[step])->data, 1, 1e-5, 1e-6);
        if (step == 0)
            for (int k = 0; k < 10; k++) {
                char g[64];
                snprintf(g, sizeof g, "grad.%s", names[k]);
                size_t n = 0;
                float *p = param_view(m, m->grads, names[k], &n);
                dc_check_close(g, p, dcfx_get(&fx, g)->data, n, 1e-5, 1e-6);
            }
        dc_optim_step(&opt, m->params, m->grads, lr);
        for (int k = 0; k < 10; k++) {
            char a[64];
            snprintf(a, sizeof a, "%s%s", after[step], names[k]);
            size_t n = 0;
            float *p = param_view(m, m->params, names[k], &n);
            dc_check_close(a, p, dcfx_get(&fx, a)->data, n, 1e-5, 1e-6);
        }
    }
    dc_runtime_free(rt);
    dc_optim_free(&opt);
    dc_model_free(m);
    dcfx_free(&fx);
}

static void expect_parse_error(const char *text, int c, int h, int w, int classes, const char *needle1,
                               const char *needle2) {
    dc_error err = {{0}};
    dc_model *m = NULL;
    dc_status st = dc_model_parse(&m, text, "arch.txt", c, h, w, classes, &err);
    CHECK(st != DC_OK && m == NULL, "expected an error for: %s", text);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    if (st != DC_OK) printf("  ok: %s\n", err.msg);
    dc_model_free(m);
}

static void parse_checks(void) {
    printf("architecture text: shape checks and strict parsing\n");
    // the seed document's mistakes: a 3-channel conv on 1-channel images...
    expect_parse_error("conv2d in=3 out=6 k=5\nrelu\nflatten\nlinear out=10\n", 1, 28, 28, 10, "conv1",
                       "1x28x28");
    // ...and a flatten size that does not match the incoming shape
    expect_parse_error("conv2d out=6 k=5 pad=2\nrelu\nmaxpool k=2\nconv2d out=16 k=5\nrelu\nmaxpool k=2\n"
                       "flatten\nlinear in=256 out=120\nrelu\nlinear out=10\n",
                       1, 28, 28, 10, "fc1", "400");
    expect_parse_error("conv2d out=6 k=5\nlinear out=10\n", 1, 28, 28, 10, "flatten", "6x24x24");
    expect_parse_error("conv2d out=6 kernel=5\n", 1, 28, 28, 10, "unknown key 'kernel'", "arch.txt:1");
    expect_parse_error("\n\nconvolution out=6\n", 1, 28, 28, 10, "unknown layer kind", "arch.txt:3");
    expect_parse_error("conv2d out=6 k=5 k=3\n", 1, 28, 28, 10, "twice", NULL);
    expect_parse_error("conv2d out=six k=5\n", 1, 28, 28, 10, "out=six", NULL);
    expect_parse_error("conv2d out=6 k=50\nflatten\nlinear out=10\n", 1, 28, 28, 10, "does not fit", NULL);
    expect_parse_error("flatten\nlinear out=12\n", 1, 28, 28, 10, "12 values", "10 classes");
    expect_parse_error("flatten\nlinear out=10 name=a\nlinear out=10 name=a\n", 1, 28, 28, 10, "already used", NULL);
    expect_parse_error("# nothing\n", 1, 28, 28, 10, "no layers", NULL);
    expect_parse_error("flatten\ndropout p=1.5\nlinear out=10\n", 1, 28, 28, 10, "dropout", NULL);
    expect_parse_error("maxpool\n", 1, 28, 28, 10, "needs k", NULL);
    // a good file with comments, names and defaults
    dc_error err;
    dc_model *m = NULL;
    const char *good = "# a small net\nconv2d out=4 k=3 pad=1 # same size\nrelu\navgpool k=2\n"
                       "flatten name=flat\ndropout p=0.25\nlinear in=784 out=10 bias=0\n";
    CHECK(dc_model_parse(&m, good, "good.txt", 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    if (m) {
        CHECK(m->n_params == 4 * 9 + 4 + 784 * 10, "n_params %zu", m->n_params);
        CHECK(!strcmp(m->nodes[4].name, "flat"), "custom name kept");
        char table[4096];
        dc_model_summary(m, table, sizeof table);
        CHECK(strstr(table, "4x28x28") && strstr(table, "stride=1"), "summary shows shapes and defaults:\n%s",
              table);
        dc_model_free(m);
    }
}

// A small synthetic data set: class k has a bright square at a k-dependent place.
static dc_model *fresh_model(const dc_dataset *ds, const char *arch) {
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_create(&m, arch, 1, 28, 28, ds->n_classes, &err)) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    dc_model_set_normalisation(m, ds);
    dc_rng r = dc_rng_stream(7, 0, 0);
    dc_model_init_params(m, &r);
    return m;
}

static void training_checks(void) {
    printf("determinism, save/load, resume equivalence, divergence guard\n");
    dc_dataset tr, te;
    dc_test_make_data(&tr, 600, 4, 1);
    dc_test_make_data(&te, 200, 4, 2);
    dc_error err;
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 4;
    cfg.batch = 32;
    cfg.lr = 0.02f;
    cfg.nthreads = 2;
    cfg.augment.rotate_deg = 5; // exercise the augmentation stream too
    cfg.augment.translate = 1;
    const char *arch = dc_src_path("tests/fixtures/small_dropout.arch");

    dc_model *a = fresh_model(&tr, arch), *b = fresh_model(&tr, arch);
    if (!a || !b) return;
    CHECK(dc_train(a, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_train(b, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(!memcmp(a->params, b->params, sizeof(float) * a->n_params), "same seed and threads: same bits");
    dc_eval_result r;
    CHECK(dc_evaluate(a, &te, 64, 2, &r, &err) == DC_OK, "%s", err.msg);
    printf("  synthetic accuracy after 4 epochs: %.3f\n", r.accuracy);
    CHECK(r.accuracy > 0.9, "the model learns the synthetic task (accuracy %.3f)", r.accuracy);
    int64_t total = 0;
    for (int i = 0; i < 16; i++) total += r.confusion[i];
    CHECK(total == 200, "confusion matrix counts every sample");
    dc_eval_result_free(&r);

    // resume: 2 epochs, save, load, 2 more == 4 straight
    char path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dc_test_tmpdir());
    dc_model *c = fresh_model(&tr, arch);
    dc_train_config half = cfg;
    half.epochs = 2;
    half.checkpoint = path;
    CHECK(dc_train(c, &tr, &te, &half, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    dc_model_free(c);
    dc_model *d = NULL;
    CHECK(dc_model_load(&d, path, &err) == DC_OK, "%s", err.msg);
    if (d) {
        CHECK(d->epochs_done == 2, "epochs_done %d", d->epochs_done);
        CHECK(dc_train(d, &tr, &te, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
        CHECK(!memcmp(a->params, d->params, sizeof(float) * a->n_params),
              "2 epochs + resume + 2 epochs == 4 epochs, bit for bit");
        CHECK(d->history_json && strstr(d->history_json, "\"epoch\":4"), "history kept across resume");
        // save/load round trip of the finished model: same predictions
        CHECK(dc_model_save(d, path, &err) == DC_OK, "%s", err.msg);
        dc_model *e = NULL;
        CHECK(dc_model_load(&e, path, &err) == DC_OK, "%s", err.msg);
        if (e) {
            CHECK(!memcmp(e->params, d->params, sizeof(float) * d->n_params), "params round-trip exactly");
            CHECK(e->norm_mean[0] == d->norm_mean[0] && e->norm_std[0] == d->norm_std[0], "normalisation round-trips");
            float x[784], p1[4], p2[4];
            dc_model_normalise(e, x, te.pixels, 784);
            CHECK(dc_model_predict(d, x, 1, p1, 1, &err) == DC_OK, "%s", err.msg);
            CHECK(dc_model_predict(e, x, 1, p2, 1, &err) == DC_OK, "%s", err.msg);
            CHECK(!memcmp(p1, p2, sizeof p1), "loaded model predicts the same");
            dc_model_free(e);
        }
        dc_model_free(d);
    }
    dc_model_free(a);
    dc_model_free(b);

    // a different thread count is allowed to differ, but must still learn
    dc_model *f = fresh_model(&tr, "lenet5");
    dc_train_config bad = cfg;
    bad.epochs = 1;
    bad.lr = 1e6f; // diverges
    bad.momentum = 0.9f;
    dc_status st = dc_train(f, &tr, NULL, &bad, NULL, NULL, &err);
    CHECK(st == DC_ERR_NUMERIC, "a diverging run stops with DC_ERR_NUMERIC (got %d)", st);
    CHECK(strstr(err.msg, "step") && strstr(err.msg, "learning rate"), "message names the step and lr: %s",
          err.msg);
    printf("  ok: %s\n", err.msg);
    dc_model_free(f);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
}

int main(void) {
    lenet_step_vs_torch(1);
    lenet_step_vs_torch(2);
    parse_checks();
    training_checks();
    return dc_test_finish();
}
