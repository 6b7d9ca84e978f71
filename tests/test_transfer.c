// test_transfer.c — fine-tuning and transfer (src/transfer, the node_lr and
// stop_after fields of dc_train_config, dc_runtime_set_frozen,
// dc_optim_step_scaled):
//   - frozen parameters and the BatchNorm statistics of frozen nodes are
//     bit-identical after fine-tuning (SGD with momentum and weight decay,
//     Adam, 1 and 2 threads), trainable ones move;
//   - a frozen BatchNorm runs in eval mode inside a training step: the head's
//     gradient equals the one computed by hand from eval-mode features;
//   - per-group learning rates equal separate optimizers with lr * mult;
//   - a new head has the right shape, the backbone's tensors are the parent's;
//   - the cut graph computes the parent's features;
//   - --labels-per-class subsets are balanced, seeded and drawn from the data;
//   - --freeze names, globs and 'backbone'; errors name the pattern;
//   - stop_after: 2 epochs + 2 more equal 4 straight (cosine over 4);
//   - SHA-256 of a known input.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/data.h"
#include "harness.h"
#include "model/model.h"
#include "optim/optim.h"
#include "transfer/transfer.h"

static const char *ARCH =
    "conv2d out=4 k=3 pad=1 bias=0 name=layer1.conv\n"
    "batchnorm2d name=layer1.bn\n"
    "relu name=layer1.relu\n"
    "maxpool k=2 name=pool1\n"
    "conv2d out=8 k=3 pad=1 name=layer2.conv\n"
    "batchnorm2d name=layer2.bn\n"
    "relu name=layer2.relu\n"
    "globalavgpool name=gap\n"
    "linear out=10 name=fc\n";

static dc_model *make_parent(const dc_dataset *ds) {
    dc_model *m = NULL;
    dc_error err;
    if (dc_model_parse(&m, ARCH, "test", 1, 28, 28, 10, &err)) {
        printf("parse: %s\n", err.msg);
        exit(2);
    }
    dc_model_set_normalisation(m, ds);
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_model_init_params(m, &rng);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 1;
    cfg.batch = 32;
    cfg.lr = 0.05f;
    cfg.nthreads = 2;
    if (dc_train(m, ds, NULL, &cfg, NULL, NULL, &err)) {
        printf("parent training: %s\n", err.msg);
        exit(2);
    }
    return m;
}

static const float *tensor(const dc_model *m, const char *name) {
    const dc_tensor_ref *t = dc_model_find_tensor(m, name);
    if (!t) {
        printf("no tensor %s\n", name);
        exit(2);
    }
    return (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
}

static const float *tensor_grad(const dc_model *m, const char *name) {
    return m->grads + dc_model_find_tensor(m, name)->off;
}

static size_t tensor_n(const dc_model *m, const char *name) { return dc_model_find_tensor(m, name)->n; }

static bool same(const dc_model *a, const dc_model *b, const char *name) {
    return memcmp(tensor(a, name), tensor(b, name), sizeof(float) * tensor_n(a, name)) == 0;
}

// ---------------------------------------------------------------------------

static void test_freeze_bit_identical(const dc_dataset *ds, const dc_model *parent, dc_optim_kind optim, int threads,
                                      const char *spec) {
    dc_error err;
    dc_model *m = NULL;
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    CHECK(dc_transfer_model(&m, parent, 0, false, &rng, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    CHECK(m->epochs_done == 0 && !m->has_optim, "a transferred model starts with no training state");
    const int nn = dc_model_num_nodes(m);
    float *node_lr = malloc(sizeof(float) * (size_t)nn);
    for (int i = 0; i < nn; i++) node_lr[i] = 1.0f;
    int nf = 0;
    CHECK(dc_freeze_nodes(node_lr, m, spec, &nf, &err) == DC_OK, "%s", err.msg);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 2;
    cfg.batch = 32;
    cfg.optim = optim;
    cfg.lr = 0.05f;
    cfg.momentum = optim == DC_OPTIM_SGD ? 0.9f : 0.0f;
    cfg.weight_decay = 0.01f; // would move frozen weights if the mask were only on the gradient
    cfg.nthreads = threads;
    cfg.node_lr = node_lr;
    CHECK(dc_train(m, ds, NULL, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int frozen_same = 0, frozen_total = 0, free_moved = 0, free_total = 0;
    for (int i = 1; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", n->name, n->t[k].suffix);
            bool eq = same(m, parent, name);
            if (node_lr[i] == 0.0f) {
                frozen_total++;
                frozen_same += eq;
                CHECK(eq, "%s (%s, %d threads, optim %d): frozen tensor %s changed", spec, n->op->kind, threads,
                      optim, name);
            } else if (n->t[k].buf == DC_BUF_PARAM || !strcmp(n->t[k].suffix, "running_mean")) {
                free_total++;
                free_moved += !eq;
                CHECK(!eq, "%s: trainable tensor %s did not move", spec, name);
            }
        }
    }
    printf("  freeze %-10s optim %d threads %d: %d/%d frozen tensors bit-identical, %d/%d trainable moved\n", spec,
           optim, threads, frozen_same, frozen_total, free_moved, free_total);
    CHECK(frozen_total > 0, "%s froze nothing", spec);
    free(node_lr);
    dc_model_free(m);
}

// A frozen BatchNorm normalises by its running statistics inside a
// training step: the head's gradient must be the one from eval features.
static void test_frozen_bn_eval_mode(const dc_dataset *ds, dc_model *parent) {
    dc_error err;
    const int n = 16, C = 10, nn = parent->n_nodes;
    dc_graph g = dc_model_graph(parent);
    dc_runtime *tr = NULL, *ev = NULL;
    CHECK(dc_runtime_new(&tr, &g, n, DC_MODE_TRAIN, DC_RT_BACKWARD, 2, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_runtime_new(&ev, &g, n, DC_MODE_EVAL, DC_RT_KEEP_ALL, 1, &err) == DC_OK, "%s", err.msg);
    bool *frozen = calloc((size_t)nn, sizeof(bool));
    for (int i = 1; i < nn - 1; i++) frozen[i] = true;
    float *state0 = malloc(sizeof(float) * parent->n_state);
    memcpy(state0, parent->state, sizeof(float) * parent->n_state);
    memset(parent->grads, 0, sizeof(float) * parent->n_params);
    dc_runtime_bind_model(tr, parent);
    dc_runtime_bind_model(ev, parent);
    dc_runtime_set_frozen(tr, frozen);
    int32_t idx[16], y[16];
    for (int i = 0; i < n; i++) idx[i] = i;
    dc_batch_gather(dc_runtime_input(tr), y, ds, idx, n, parent->norm_mean, parent->norm_std);
    memcpy(dc_runtime_input(ev), dc_runtime_input(tr), sizeof(float) * (size_t)n * 784);
    dc_runtime_train_step(tr, n, y, NULL, NULL, NULL);
    dc_runtime_forward(ev, n, NULL);
    CHECK(memcmp(state0, parent->state, sizeof(float) * parent->n_state) == 0,
          "a training step changed the running statistics of frozen BatchNorm nodes");
    const int feat = nn - 2;
    const float *f = dc_runtime_node_output(ev, feat); // (n, 8) eval-mode features
    const float *logits = dc_runtime_node_output(ev, nn - 1);
    const int F = 8;
    float want_w[80] = {0}, want_b[10] = {0};
    for (int i = 0; i < n; i++) {
        double mx = -1e30, s = 0;
        for (int k = 0; k < C; k++) mx = fmax(mx, logits[i * C + k]);
        for (int k = 0; k < C; k++) s += exp(logits[i * C + k] - mx);
        for (int k = 0; k < C; k++) {
            float d = (float)((exp(logits[i * C + k] - mx) / s - (k == y[i])) / n);
            want_b[k] += d;
            for (int j = 0; j < F; j++) want_w[k * F + j] += d * f[i * F + j];
        }
    }
    dc_check_close("head weight grad == eval-feature grad", tensor_grad(parent, "fc.weight"), want_w, 80, 1e-4, 1e-6);
    dc_check_close("head bias grad == eval-feature grad", parent->grads + dc_model_find_tensor(parent, "fc.bias")->off,
                   want_b, 10, 1e-4, 1e-6);
    // nothing behind the head was back-propagated into
    size_t head_off = dc_model_find_tensor(parent, "fc.weight")->off;
    double s = 0;
    for (size_t j = 0; j < parent->n_params; j++)
        if (j < head_off) s += fabs(parent->grads[j]);
    CHECK(s == 0, "frozen nodes received gradients (sum |g| = %g)", s);
    // the same step unfrozen uses batch statistics: a different gradient
    memset(parent->grads, 0, sizeof(float) * parent->n_params);
    dc_runtime_set_frozen(tr, NULL);
    dc_runtime_train_step(tr, n, y, NULL, NULL, NULL);
    float d = 0;
    const float *gw = tensor_grad(parent, "fc.weight");
    for (int j = 0; j < 80; j++) d = fmaxf(d, fabsf(gw[j] - want_w[j]));
    CHECK(d > 1e-5, "training-mode BatchNorm gave the eval-mode gradient (the test cannot tell them apart)");
    memcpy(parent->state, state0, sizeof(float) * parent->n_state);
    memset(parent->grads, 0, sizeof(float) * parent->n_params);
    free(state0);
    free(frozen);
    dc_runtime_free(tr);
    dc_runtime_free(ev);
}

// Per-group learning rates: one optimizer with multipliers == one optimizer
// per group with lr * mult (SGD with momentum and weight decay; Adam).
static void test_scaled_step(void) {
    enum { N = 37, SPLIT = 20 };
    for (int kind = 0; kind < 3; kind++) {
        dc_optim a, b1, b2;
        dc_error err;
        const float mom = kind == 0 ? 0.9f : 0.0f;
        dc_optim_init(&a, (dc_optim_kind)kind, mom, false, 0.01f, 0.9f, 0.999f, 1e-8f, N, &err);
        dc_optim_init(&b1, (dc_optim_kind)kind, mom, false, 0.01f, 0.9f, 0.999f, 1e-8f, SPLIT, &err);
        dc_optim_init(&b2, (dc_optim_kind)kind, mom, false, 0.01f, 0.9f, 0.999f, 1e-8f, N - SPLIT, &err);
        float pa[N], pb[N], g[N], mult[N];
        dc_rng r;
        dc_rng_seed(&r, 11);
        for (int i = 0; i < N; i++) pa[i] = pb[i] = dc_rng_normal(&r), mult[i] = i < SPLIT ? 0.1f : 1.0f;
        mult[3] = 0.0f; // one frozen element inside the first group
        float frozen0 = pa[3];
        for (int s = 0; s < 4; s++) {
            for (int i = 0; i < N; i++) g[i] = dc_rng_normal(&r);
            dc_optim_step_scaled(&a, pa, g, 0.03f, mult);
            float keep = pb[3];
            dc_optim_step(&b1, pb, g, 0.03f * 0.1f);
            pb[3] = keep; // frozen
            dc_optim_step(&b2, pb + SPLIT, g + SPLIT, 0.03f);
        }
        CHECK(memcmp(pa + SPLIT, pb + SPLIT, sizeof(float) * (N - SPLIT)) == 0, "optim %d: mult-1 group differs", kind);
        int diff = 0;
        for (int i = 0; i < SPLIT; i++)
            if (i != 3) diff += pa[i] != pb[i];
        CHECK(diff == 0, "optim %d: %d elements of the lr x 0.1 group differ from an optimizer at lr*0.1", kind, diff);
        CHECK(pa[3] == frozen0 && a.buf1[3] == 0.0f, "optim %d: a frozen element or its state moved", kind);
        dc_optim_free(&a);
        dc_optim_free(&b1);
        dc_optim_free(&b2);
    }
}

static void test_new_head(const dc_dataset *ds, const dc_model *parent) {
    dc_error err;
    dc_model *m = NULL;
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    CHECK(dc_transfer_model(&m, parent, 5, false, &rng, &err) == DC_OK, "%s", err.msg);
    if (!m) return;
    const dc_tensor_ref *w = dc_model_find_tensor(m, "fc.weight"), *b = dc_model_find_tensor(m, "fc.bias");
    CHECK(w && w->rank == 2 && w->shape[0] == 5 && w->shape[1] == 8, "new head weight is not (5, 8)");
    CHECK(b && b->n == 5, "new head bias is not (5)");
    CHECK(dc_model_num_classes(m) == 5 && !strcmp(dc_model_class_name(m, 4), "4"), "5 classes named 0..4");
    const char *keep[] = {"layer1.conv.weight", "layer1.bn.weight", "layer1.bn.running_var", "layer2.conv.bias",
                          "layer2.bn.num_batches_tracked"};
    for (int i = 0; i < 5; i++) CHECK(same(m, parent, keep[i]), "%s not copied from the parent", keep[i]);
    float mean, sd, pm, ps;
    dc_model_get_normalisation(m, &mean, &sd);
    dc_model_get_normalisation(parent, &pm, &ps);
    CHECK(mean == pm && sd == ps, "normalisation not kept");
    // the head is PyTorch's init: |w| <= 1/sqrt(8), not all zero
    const float *hw = tensor(m, "fc.weight");
    float mx = 0;
    for (int i = 0; i < 40; i++) mx = fmaxf(mx, fabsf(hw[i]));
    CHECK(mx > 0 && mx <= 1.0f / sqrtf(8.0f), "new head init out of PyTorch's bound: max |w| %g", mx);
    dc_model_free(m);
    // same class count, --new-head: re-initialised, not the parent's
    CHECK(dc_transfer_model(&m, parent, 10, true, &rng, &err) == DC_OK, "%s", err.msg);
    CHECK(m && !same(m, parent, "fc.weight") && same(m, parent, "layer2.conv.weight"),
          "--new-head with the same class count re-initialises only the head");
    dc_model_free(m);
    // kept head: everything equal, class names kept
    CHECK(dc_transfer_model(&m, parent, 0, false, &rng, &err) == DC_OK, "%s", err.msg);
    CHECK(m && same(m, parent, "fc.weight") && !strcmp(m->arch_text, parent->arch_text), "no new head: a copy");
    dc_model_free(m);
    // a model that does not end in a linear layer has no head to replace
    dc_model *odd = NULL;
    dc_model_parse(&odd, "conv2d out=2 k=3\nflatten\nlinear out=4\nrelu\n", "odd", 1, 28, 28, 0, &err);
    CHECK(odd && dc_transfer_model(&m, odd, 3, true, &rng, &err) == DC_ERR_ARG && strstr(err.msg, "relu"),
          "a non-linear head is refused naming it: %s", err.msg);
    dc_model_free(odd);
    (void)ds;
}

// The cut graph (backbone up to the features) computes the parent's features.
static void test_subgraph(const dc_dataset *ds, const dc_model *parent) {
    dc_error err;
    int head, feat;
    CHECK(dc_model_head(parent, &head, &feat, &err) == DC_OK, "%s", err.msg);
    CHECK(!strcmp(parent->nodes[feat].name, "gap") && head == parent->n_nodes - 1, "head fc reads gap");
    char *text = NULL;
    CHECK(dc_arch_subgraph(&text, parent, feat, &err) == DC_OK, "%s", err.msg);
    dc_model *enc = NULL;
    CHECK(text && dc_model_parse(&enc, text, "enc", 1, 28, 28, 0, &err) == DC_OK, "%s", err.msg);
    if (!enc) return;
    CHECK(enc->n_nodes == parent->n_nodes - 1 && dc_model_num_classes(enc) == 8, "encoder: %d nodes, width %d",
          enc->n_nodes, dc_model_num_classes(enc));
    int copied = 0, missing = 0;
    dc_model_copy_matching(enc, parent, NULL, &copied, &missing);
    CHECK(missing == 0 && copied == 13, "encoder tensors copied %d, missing %d", copied, missing);
    dc_graph ge = dc_model_graph(enc), gp = dc_model_graph(parent);
    dc_runtime *re = NULL, *rp = NULL;
    dc_runtime_new(&re, &ge, 8, DC_MODE_EVAL, DC_RT_KEEP_ALL, 1, &err);
    dc_runtime_new(&rp, &gp, 8, DC_MODE_EVAL, DC_RT_KEEP_ALL, 1, &err);
    dc_runtime_bind_model(re, enc);
    dc_runtime_bind_model(rp, (dc_model *)parent);
    int32_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    dc_batch_gather(dc_runtime_input(re), NULL, ds, idx, 8, parent->norm_mean, parent->norm_std);
    memcpy(dc_runtime_input(rp), dc_runtime_input(re), sizeof(float) * 8 * 784);
    const float *fe = dc_runtime_forward(re, 8, NULL);
    dc_runtime_forward(rp, 8, NULL);
    CHECK(memcmp(fe, dc_runtime_node_output(rp, feat), sizeof(float) * 64) == 0,
          "the cut graph's output differs from the parent's features");
    dc_runtime_free(re);
    dc_runtime_free(rp);
    dc_model_free(enc);
    free(text);
    // a graph with a residual branch keeps both inputs of the add
    dc_model *res = NULL;
    dc_model_parse(&res, "conv2d out=2 k=3 pad=1 name=a\nrelu name=b\nadd from=a,b name=c\nflatten\nlinear out=3\n",
                   "res", 1, 6, 6, 3, &err);
    CHECK(res && dc_arch_subgraph(&text, res, 3, &err) == DC_OK && strstr(text, "from=a,b") &&
              strstr(text, "from=input"),
          "subgraph of a residual graph: %s", text ? text : err.msg);
    free(text);
    dc_model_free(res);
}

static void test_per_class(const dc_dataset *ds) {
    dc_error err;
    dc_dataset a, b, c;
    CHECK(dc_dataset_per_class(&a, ds, 6, 42, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_dataset_per_class(&b, ds, 6, 42, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_dataset_per_class(&c, ds, 6, 43, &err) == DC_OK, "%s", err.msg);
    int count[10] = {0};
    for (int i = 0; i < a.n; i++) count[a.labels[i]]++;
    int balanced = a.n == 60;
    for (int k = 0; k < 10; k++) balanced &= count[k] == 6;
    CHECK(balanced, "6 per class: n=%d, class 0 has %d", a.n, count[0]);
    CHECK(a.n == b.n && !memcmp(a.pixels, b.pixels, (size_t)a.n * 784) && !memcmp(a.labels, b.labels, 4 * (size_t)a.n),
          "the same seed draws the same subset");
    CHECK(memcmp(a.pixels, c.pixels, (size_t)a.n * 784) != 0, "another seed draws another subset");
    // every sample is one of the source's, with its label, without repeats
    int found = 0, last = -1, ordered = 1;
    for (int i = 0; i < a.n; i++)
        for (int j = 0; j < ds->n; j++)
            if (!memcmp(a.pixels + (size_t)i * 784, ds->pixels + (size_t)j * 784, 784) && a.labels[i] == ds->labels[j]) {
                found++;
                ordered &= j > last;
                last = j;
                break;
            }
    CHECK(found == a.n && ordered, "subset samples come from the data in its order (%d of %d found)", found, a.n);
    dc_dataset_free(&c);
    CHECK(dc_dataset_per_class(&c, ds, 100000, 1, &err) == DC_ERR_ARG && strstr(err.msg, "class 0"),
          "too many per class is refused naming the class: %s", err.msg);
    dc_dataset d;
    CHECK(dc_dataset_class_range(&d, ds, 5, 10, &err) == DC_OK && d.n_classes == 5, "%s", err.msg);
    int ok = d.n > 0;
    for (int i = 0; i < d.n; i++) ok &= d.labels[i] >= 0 && d.labels[i] < 5;
    CHECK(ok, "classes 5..9 relabelled 0..4");
    // each class draws from a stream of its own: without class 9 in the
    // data, classes 0..8 get the same samples
    dc_dataset e, f;
    CHECK(dc_dataset_class_range(&e, ds, 0, 9, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_dataset_per_class(&f, &e, 6, 42, &err) == DC_OK && f.n == 54, "%s", err.msg);
    int same = 1, j = 0;
    for (int i = 0; i < a.n && same; i++) {
        if (a.labels[i] == 9) continue;
        same = j < f.n && f.labels[j] == a.labels[i] && !memcmp(f.pixels + (size_t)j * 784, a.pixels + (size_t)i * 784, 784);
        j++;
    }
    CHECK(same && j == f.n, "one class's draw depends on another class's samples");
    dc_dataset_free(&e);
    dc_dataset_free(&f);
    dc_dataset_free(&a);
    dc_dataset_free(&b);
    dc_dataset_free(&c);
    dc_dataset_free(&d);
}

static void test_freeze_specs(const dc_model *m) {
    dc_error err;
    float lr[16];
    int nf;
    for (int i = 0; i < 16; i++) lr[i] = 1;
    CHECK(dc_freeze_nodes(lr, m, "layer1", &nf, &err) == DC_OK && nf == 3, "layer1 freezes its 3 children: %d", nf);
    for (int i = 0; i < 16; i++) lr[i] = 1;
    CHECK(dc_freeze_nodes(lr, m, "*.bn,pool1", &nf, &err) == DC_OK && nf == 3, "glob *.bn + pool1: %d", nf);
    CHECK(lr[dc_model_find_node(m, "layer2.bn")] == 0 && lr[dc_model_find_node(m, "layer2.conv")] == 1, "glob hits");
    for (int i = 0; i < 16; i++) lr[i] = 1;
    CHECK(dc_freeze_nodes(lr, m, "backbone", &nf, &err) == DC_OK && nf == m->n_nodes - 2 && lr[m->n_nodes - 1] == 1,
          "backbone: all but the head");
    CHECK(dc_freeze_nodes(lr, m, "layer3", &nf, &err) == DC_ERR_ARG && strstr(err.msg, "'layer3'") &&
              strstr(err.msg, "layer1.conv"),
          "an unmatched pattern is named with the node names: %s", err.msg);
    CHECK(dc_freeze_nodes(lr, m, "layer1.c", &nf, &err) == DC_ERR_ARG, "a name prefix is not a module");
    float mult;
    CHECK(dc_parse_lr_backbone(&mult, "0.1x", 0.01f, &err) == DC_OK && mult == 0.1f, "0.1x");
    CHECK(dc_parse_lr_backbone(&mult, "0.001", 0.01f, &err) == DC_OK && fabsf(mult - 0.1f) < 1e-7f, "absolute");
    CHECK(dc_parse_lr_backbone(&mult, "fast", 0.01f, &err) == DC_ERR_ARG && strstr(err.msg, "fast"), "bad value");
    CHECK(dc_parse_lr_backbone(&mult, "-1x", 0.01f, &err) == DC_ERR_ARG, "negative");
}

// Staged training (a tuner's rungs) equals a straight run: the schedule
// spans `epochs` whatever stop_after says.
static void test_stop_after(const dc_dataset *ds) {
    dc_error err;
    dc_model *a = NULL, *b = NULL;
    dc_model_parse(&a, ARCH, "a", 1, 28, 28, 10, &err);
    dc_model_parse(&b, ARCH, "b", 1, 28, 28, 10, &err);
    dc_rng r1, r2;
    dc_rng_seed(&r1, 9);
    dc_rng_seed(&r2, 9);
    dc_model_init_params(a, &r1);
    dc_model_init_params(b, &r2);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 4;
    cfg.batch = 64;
    cfg.lr = 0.05f;
    cfg.sched = DC_SCHED_COSINE;
    cfg.nthreads = 2;
    CHECK(dc_train(a, ds, NULL, &cfg, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    cfg.stop_after = 2;
    CHECK(dc_train(b, ds, NULL, &cfg, NULL, NULL, &err) == DC_OK && b->epochs_done == 2, "stop_after 2");
    char path[512];
    snprintf(path, sizeof path, "%s/stage.safetensors", dc_test_tmpdir());
    dc_model_save(b, path, &err);
    dc_model_free(b);
    b = NULL;
    dc_model_load(&b, path, &err);
    cfg.stop_after = 4;
    CHECK(b && dc_train(b, ds, NULL, &cfg, NULL, NULL, &err) == DC_OK && b->epochs_done == 4, "%s", err.msg);
    CHECK(b && memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0 &&
              memcmp(a->state, b->state, sizeof(float) * a->n_state) == 0,
          "2 + 2 epochs (saved, loaded) differ from 4 straight");
    dc_model_free(a);
    dc_model_free(b);
}

static void test_sha256(void) {
    char path[512], hex[65];
    snprintf(path, sizeof path, "%s/abc.txt", dc_test_tmpdir());
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    dc_error err;
    CHECK(dc_file_sha256(hex, path, &err) == DC_OK &&
              !strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256(abc) = %s", hex);
    CHECK(dc_file_sha256(hex, "/nonexistent/x", &err) == DC_ERR_IO, "missing file");
}

int main(void) {
    dc_dataset ds;
    dc_test_make_data(&ds, 384, 10, 1);
    dc_model *parent = make_parent(&ds);
    test_freeze_bit_identical(&ds, parent, DC_OPTIM_SGD, 1, "backbone");
    test_freeze_bit_identical(&ds, parent, DC_OPTIM_SGD, 2, "backbone");
    test_freeze_bit_identical(&ds, parent, DC_OPTIM_ADAMW, 2, "layer1");
    test_freeze_bit_identical(&ds, parent, DC_OPTIM_ADAM, 2, "layer2.*,fc");
    test_frozen_bn_eval_mode(&ds, parent);
    test_scaled_step();
    test_new_head(&ds, parent);
    test_subgraph(&ds, parent);
    test_per_class(&ds);
    test_freeze_specs(parent);
    test_stop_after(&ds);
    test_sha256();
    dc_model_free(parent);
    dc_dataset_free(&ds);
    return dc_test_finish();
}
