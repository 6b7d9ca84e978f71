// test_prune.c — magnitude pruning (src/compress/prune.c, compress_io.c).
//
//   - Unstructured: exactly round(s * n) conv/linear weights are 0 (one
//     global threshold, or in every layer with per_layer), all in the mask;
//     the file stores them sparse (smaller, mask restored on load, same
//     weights); fine-tuning keeps them 0; a saved pruned model with its
//     optimizer state resumes fine-tuning to the same bits as one that never
//     left memory.
//   - Structured: the pruned model equals, to 1e-5, the original with the
//     removed channels' consumers cut (their input columns zeroed), for
//     lenet5 and resnet8 (randomised BatchNorm, residual adds): so every
//     tensor was sliced with the right index map. Channel counts as asked;
//     channels joined by an add pruned together; the logits never pruned.
//   - --macs: the ratio found removes at least the share asked, within 5
//     points.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "compress/prune.h"
#include "data/data.h"
#include "model/model.h"

static dc_model *make(const char *arch, uint64_t seed) {
    dc_error err;
    dc_model *m = NULL;
    CHECK(dc_model_create(&m, arch, 1, 28, 28, 10, &err) == DC_OK, "%s", err.msg);
    dc_rng r;
    dc_rng_seed(&r, seed);
    dc_model_init_params(m, &r);
    for (int i = 0; i < m->n_nodes; i++) { // BatchNorm statistics that matter
        const dc_node *n = &m->nodes[i];
        if (strcmp(n->op->kind, "batchnorm2d")) continue;
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            if (t->int64_on_disk) continue;
            float *p = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            for (size_t j = 0; j < t->n; j++) {
                const float u = dc_rng_uniform(&r);
                p[j] = !strcmp(t->suffix, "running_var") || !strcmp(t->suffix, "weight") ? 0.5f + u : 0.4f * (u - 0.5f);
            }
        }
    }
    return m;
}

static void logits(const dc_model *m, const float *x, int n, float *z) {
    dc_error err;
    dc_session *s = NULL;
    CHECK(dc_session_new(&s, m, n, 1, &err) == DC_OK, "%s", err.msg);
    if (s) dc_session_logits(s, x, n, z, &err);
    dc_session_free(s);
}

static bool weighted(const dc_node *n) { return !strcmp(n->op->kind, "conv2d") || !strcmp(n->op->kind, "linear"); }

static void check_unstructured(const dc_dataset *ds) {
    dc_error err;
    for (int per = 0; per < 2; per++) {
        dc_model *m = make("lenet5", 3);
        CHECK(dc_prune_unstructured(m, 0.8, per, &err) == DC_OK, "%s", err.msg);
        size_t total = 0, zeros = 0, masked = 0;
        for (int i = 1; i < m->n_nodes; i++) {
            const dc_node *n = &m->nodes[i];
            if (!weighted(n)) continue;
            const size_t z = dc_node_zero_weights(m, n);
            if (per) CHECK(z == (size_t)llround(0.8 * n->t[0].n), "%s: %zu zeros of %zu", n->name, z, n->t[0].n);
            total += n->t[0].n, zeros += z;
            for (size_t j = 0; j < n->t[0].n; j++) masked += !m->mask[n->t[0].off + j];
        }
        CHECK(zeros == (size_t)llround(0.8 * total) || per, "global: %zu zeros of %zu", zeros, total);
        CHECK(masked == zeros, "every zero is masked (%zu, %zu)", masked, zeros);
        if (per) {
            // a second, higher sparsity keeps the first zeros
            uint8_t *before = malloc(m->n_params);
            memcpy(before, m->mask, m->n_params);
            dc_prune_unstructured(m, 0.9, true, &err);
            bool kept = true;
            for (size_t j = 0; j < m->n_params; j++) kept = kept && (before[j] || !m->mask[j]);
            CHECK(kept, "pruned weights stay pruned");
            free(before);
        }
        dc_model_free(m);
    }
    // file, fine-tuning and resume
    dc_model *m = make("lenet5", 4), *dense = make("lenet5", 4);
    dc_model_set_normalisation_values(m, 0.3f, 0.35f);
    dc_prune_unstructured(m, 0.9, false, &err);
    dc_train_config tc = dc_train_config_default();
    tc.epochs = 1, tc.batch = 16, tc.lr = 0.01f, tc.nthreads = 1;
    CHECK(dc_train(m, ds, NULL, &tc, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    bool zero = true;
    for (size_t j = 0; j < m->n_params; j++) zero = zero && (m->mask[j] || m->params[j] == 0.0f);
    CHECK(zero, "fine-tuning keeps pruned weights at 0");
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/sparse.safetensors", dc_test_tmpdir());
    snprintf(p2, sizeof p2, "%s/dense.safetensors", dc_test_tmpdir());
    CHECK(dc_model_save(m, p1, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_train(dense, ds, NULL, &tc, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_model_save(dense, p2, &err) == DC_OK, "%s", err.msg);
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    long s1 = 0, s2 = 0;
    if (f1 && f2) fseek(f1, 0, SEEK_END), fseek(f2, 0, SEEK_END), s1 = ftell(f1), s2 = ftell(f2);
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    printf("  90%% sparse LeNet-5 with optimizer state: %ld bytes, dense %ld (%.1fx)\n", s1, s2, (double)s2 / s1);
    CHECK(s1 > 0 && s2 > 4 * s1, "the sparse file is over 4x smaller (%ld vs %ld)", s1, s2);
    dc_model *l = NULL;
    CHECK(dc_model_load(&l, p1, &err) == DC_OK, "%s", err.msg);
    if (l) {
        CHECK(l->mask && !memcmp(l->mask, m->mask, m->n_params), "the mask comes back");
        CHECK(!memcmp(l->params, m->params, sizeof(float) * m->n_params), "the weights come back");
        tc.epochs = 2;
        CHECK(dc_train(l, ds, NULL, &tc, NULL, NULL, &err) == DC_OK, "%s", err.msg);
        CHECK(dc_train(m, ds, NULL, &tc, NULL, NULL, &err) == DC_OK, "%s", err.msg);
        CHECK(!memcmp(l->params, m->params, sizeof(float) * m->n_params),
              "a loaded pruned model resumes fine-tuning to the same bits");
        dc_model_free(l);
    }
    dc_model_free(m);
    dc_model_free(dense);
}

// The original with the removed channels' consumers cut must compute what the pruned model does.
static void check_structured(const char *arch, const dc_dataset *ds) {
    dc_error err;
    dc_model *m = make(arch, 5);
    dc_channel_groups g;
    CHECK(dc_channel_groups_make(&g, m, &err) == DC_OK, "%s", err.msg);
    bool **keep = NULL;
    CHECK(dc_prune_keep(&keep, m, &g, 0.5, 1, 1, &err) == DC_OK, "%s", err.msg);
    dc_model *p = NULL;
    CHECK(dc_prune_structured(&p, m, 0.5, 1, 1, &err) == DC_OK, "%s", err.msg);
    if (!p) return;
    dc_model *cut = make(arch, 5);
    for (int i = 1; i < cut->n_nodes; i++) {
        const dc_node *n = &cut->nodes[i];
        if (!weighted(n)) continue;
        const int gi = g.group[n->in[0]], rep = !strcmp(n->op->kind, "linear") ? g.rep[n->in[0]] : 1;
        const size_t per = n->t[0].n / (size_t)n->c, inner = per / ((size_t)g.size[gi] * rep);
        for (int o = 0; o < n->c; o++)
            for (size_t f = 0; f < per; f++)
                if (!keep[gi][f / inner / rep]) cut->params[n->t[0].off + (size_t)o * per + f] = 0.0f;
        // channel counts: round(0.5 * size) removed from prunable groups
        const int go = g.group[i], want = g.fixed[go] ? n->c : n->c - (int)llround(0.5 * n->c);
        const dc_node *pn = &p->nodes[dc_model_find_node(p, n->name)];
        CHECK(pn->c == want, "%s %s: %d channels, want %d", arch, n->name, pn->c, want);
    }
    enum { NB = 6 };
    float x[NB * 784], a[NB * 10], b[NB * 10];
    int32_t idx[NB] = {0, 1, 2, 3, 4, 5};
    dc_batch_gather(x, NULL, ds, idx, NB, m->norm_mean, m->norm_std);
    logits(cut, x, NB, a);
    logits(p, x, NB, b);
    char what[128];
    snprintf(what, sizeof what, "%s: pruned model vs original with the channels cut", arch);
    CHECK(dc_check_close(what, b, a, NB * 10, 1e-5, 1e-5), "%s", arch);
    CHECK(dc_model_macs(p) < dc_model_macs(m) / 2, "%s: MACs %lld -> %lld", arch, (long long)dc_model_macs(m),
          (long long)dc_model_macs(p));
    // residual groups: an add's inputs keep the same channels
    for (int i = 1; i < p->n_nodes; i++)
        if (!strcmp(p->nodes[i].op->kind, "add"))
            CHECK(p->nodes[p->nodes[i].in[0]].c == p->nodes[p->nodes[i].in[1]].c, "%s: add inputs agree", p->nodes[i].name);
    // saves and loads
    char path[512];
    snprintf(path, sizeof path, "%s/%s-p.safetensors", dc_test_tmpdir(), arch);
    dc_model *l = NULL;
    CHECK(dc_model_save(p, path, &err) == DC_OK && dc_model_load(&l, path, &err) == DC_OK, "%s", err.msg);
    if (l) {
        logits(l, x, NB, a);
        CHECK(!memcmp(a, b, sizeof a), "%s: the pruned file gives the same logits", arch);
        dc_model_free(l);
    }
    if (!strcmp(arch, "resnet8")) {
        double ratio = 0;
        CHECK(dc_prune_ratio_for_macs(&ratio, m, 0.5, 1, &err) == DC_OK, "%s", err.msg);
        dc_model *q = NULL;
        dc_prune_structured(&q, m, ratio, 1, 1, &err);
        const double removed = q ? 1.0 - (double)dc_model_macs(q) / (double)dc_model_macs(m) : 0;
        CHECK(removed >= 0.5 && removed < 0.55, "--macs 0.5 removes %.3f of the MACs (ratio %.3f)", removed, ratio);
        printf("  resnet8 --macs 0.5: channel ratio %.3f removes %.1f%% of the MACs\n", ratio, 100 * removed);
        dc_model_free(q);
        // channels kept in multiples of 8: every convolution's count is one, the MAC share still reached
        CHECK(dc_prune_ratio_for_macs(&ratio, m, 0.5, 8, &err) == DC_OK, "%s", err.msg);
        q = NULL;
        CHECK(dc_prune_structured(&q, m, ratio, 1, 8, &err) == DC_OK, "%s", err.msg);
        int odd = 0, convs = 0;
        for (int i = 1; q && i < q->n_nodes; i++)
            if (!strcmp(q->nodes[i].op->kind, "conv2d")) convs++, odd += q->nodes[i].c % 8 != 0;
        const double removed8 = q ? 1.0 - (double)dc_model_macs(q) / (double)dc_model_macs(m) : 0;
        CHECK(q && convs > 0 && odd == 0, "--multiple 8: %d of %d convolutions keep a count that is not a multiple", odd, convs);
        CHECK(removed8 >= 0.5, "--multiple 8 --macs 0.5 removes %.3f of the MACs", removed8);
        printf("  resnet8 --macs 0.5 --multiple 8: channel ratio %.3f removes %.1f%% of the MACs\n", ratio, 100 * removed8);
        dc_model_free(q);
        q = NULL;
        CHECK(dc_prune_structured(&q, m, 0.9, 1, 16, &err) == DC_OK && q, "%s", err.msg);
        int below = 0;
        for (int i = 1; q && i < q->n_nodes; i++)
            if (!strcmp(q->nodes[i].op->kind, "conv2d") && q->nodes[i].c < 16) below++;
        CHECK(below == 0, "--multiple 16 keeps at least 16 channels per group (%d below)", below);
        dc_model_free(q);
        CHECK(dc_prune_structured(&q, m, 0.5, 1, 0, &err) != DC_OK && strstr(err.msg, "--multiple"), "multiple checked");
    }
    for (int k = 0; k < g.n_groups; k++) free(keep[k]);
    free(keep);
    dc_channel_groups_free(&g);
    dc_model_free(cut);
    dc_model_free(p);
    dc_model_free(m);
}

int main(void) {
    dc_dataset ds;
    dc_test_make_data(&ds, 64, 10, 2);
    check_unstructured(&ds);
    check_structured("lenet5", &ds);
    check_structured("resnet8", &ds);
    {
        dc_error err;
        dc_model *m = make("lenet5", 1), *p = NULL;
        CHECK(dc_prune_structured(&p, m, 1.5, 1, 1, &err) != DC_OK && strstr(err.msg, "--sparsity"), "ratio checked: %s", err.msg);
        CHECK(dc_prune_unstructured(m, -0.1, false, &err) != DC_OK && strstr(err.msg, "--sparsity"), "sparsity checked");
        dc_model_free(m);
    }
    dc_dataset_free(&ds);
    return dc_test_finish();
}
