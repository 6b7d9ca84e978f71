// surrogate.c — a global surrogate of a network: features of the training
// images, the network's predicted classes as targets, a tree or sparse
// linear model fitted to them, and its fidelity on the test images
// (contract in surrogate.h).
//
// Legend: N samples, F features, C classes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "eval/metrics.h"
#include "surrogate/surrogate.h"

dc_surrogate_config dc_surrogate_config_default(void) {
    return (dc_surrogate_config){.kind = DC_SURR_TREE,
                                 .features = "pool:4x4",
                                 .tree = dc_tree_config_default(),
                                 .linear = dc_linear_config_default(),
                                 .batch = 1000,
                                 .nthreads = 0};
}

void dc_surrogate_free(dc_surrogate *s) {
    if (!s) return;
    dc_surr_features_free(&s->feat);
    if (s->class_names)
        for (int k = 0; k < s->n_classes; k++) free(s->class_names[k]);
    free(s->class_names);
    dc_tree_free(&s->tree);
    dc_linear_free(&s->lin);
    memset(s, 0, sizeof *s);
}

int dc_surrogate_predict(const dc_surrogate *s, const float *x) {
    return s->kind == DC_SURR_TREE ? dc_tree_predict(&s->tree, x, 0) : dc_linear_predict(&s->lin, x);
}

// The network's predicted class of every sample of ds.
static dc_status predict_classes(int32_t *pred, dc_model *m, const dc_dataset *ds, int batch, int nthreads,
                                 dc_error *err) {
    const int C = dc_model_num_classes(m);
    float *probs = malloc(sizeof(float) * (size_t)ds->n * C);
    if (!probs) return dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory for %d predictions", ds->n);
    dc_status st = dc_model_predict_dataset(m, ds, batch, nthreads, probs, NULL, err);
    if (!st) dc_argmax_rows(pred, probs, ds->n, C);
    free(probs);
    return st;
}

static float *features_of(const dc_surr_features *f, const dc_dataset *ds) {
    float *X = malloc(sizeof(float) * (size_t)ds->n * f->n_features);
    if (X) dc_surr_features_compute(f, ds->pixels, ds->n, X);
    return X;
}

dc_status dc_surrogate_score(const dc_surrogate *s, const dc_dataset *ds, const int32_t *pred,
                             double *fidelity, double *accuracy, dc_error *err) {
    if (ds->c != s->feat.c || ds->h != s->feat.h || ds->w != s->feat.w)
        return dc_fail(err, DC_ERR_SHAPE, "surrogate: its features are for %dx%dx%d images but %s has %dx%dx%d",
                       s->feat.c, s->feat.h, s->feat.w, ds->source, ds->c, ds->h, ds->w);
    if (ds->n < 1) return dc_fail(err, DC_ERR_ARG, "surrogate: %s has no samples", ds->source);
    float *X = features_of(&s->feat, ds);
    if (!X) return dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory for the features of %d samples", ds->n);
    int64_t agree = 0, right = 0;
    for (int i = 0; i < ds->n; i++) {
        const int k = dc_surrogate_predict(s, X + (size_t)i * s->feat.n_features);
        agree += k == pred[i];
        right += k == ds->labels[i];
    }
    free(X);
    *fidelity = (double)agree / ds->n;
    *accuracy = (double)right / ds->n;
    return DC_OK;
}

dc_status dc_surrogate_build(dc_surrogate *s, dc_model *m, const dc_dataset *train, const dc_dataset *test,
                             const dc_surrogate_config *cfg, dc_error *err) {
    memset(s, 0, sizeof *s);
    const dc_surrogate_config def = dc_surrogate_config_default();
    if (!cfg) cfg = &def;
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    const dc_dataset *sets[2] = {train, test};
    for (int q = 0; q < 2; q++) {
        if (sets[q]->c != c || sets[q]->h != h || sets[q]->w != w)
            return dc_fail(err, DC_ERR_SHAPE, "surrogate: the model expects %dx%dx%d images but %s has %dx%dx%d", c,
                           h, w, sets[q]->source, sets[q]->c, sets[q]->h, sets[q]->w);
        if (sets[q]->n < 1) return dc_fail(err, DC_ERR_ARG, "surrogate: %s has no samples", sets[q]->source);
    }
    const int C = dc_model_num_classes(m);
    s->kind = cfg->kind;
    s->n_classes = C;
    s->tree_cfg = cfg->tree;
    s->n_train = train->n;
    s->n_test = test->n;
    dc_status st = DC_OK;
    float *mean = malloc(sizeof(float) * (size_t)c * h * w);
    int32_t *ptr = malloc(sizeof(int32_t) * (size_t)train->n), *pte = malloc(sizeof(int32_t) * (size_t)test->n);
    float *Xtr = NULL, *Xte = NULL;
    s->class_names = calloc((size_t)C, sizeof(char *));
    if (!mean || !ptr || !pte || !s->class_names) {
        st = dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory");
        goto done;
    }
    for (int k = 0; k < C; k++)
        if (!(s->class_names[k] = strdup(dc_model_class_name(m, k)))) {
            st = dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory");
            goto done;
        }
    dc_surr_mean_image(mean, train);
    if ((st = dc_surr_features_init(&s->feat, cfg->features, c, h, w, mean, err))) goto done;
    if ((st = predict_classes(ptr, m, train, cfg->batch, cfg->nthreads, err))) goto done;
    if ((st = predict_classes(pte, m, test, cfg->batch, cfg->nthreads, err))) goto done;
    const int F = s->feat.n_features;
    Xtr = features_of(&s->feat, train);
    Xte = features_of(&s->feat, test);
    if (!Xtr || !Xte) {
        st = dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory for %d x %d features", train->n, F);
        goto done;
    }
    if (cfg->kind == DC_SURR_TREE) {
        dc_tree_config tc = cfg->tree;
        if (tc.nthreads <= 0) tc.nthreads = cfg->nthreads;
        st = dc_tree_fit(&s->tree, Xtr, ptr, train->n, F, C, &tc, err);
    } else {
        dc_linear_config lc = cfg->linear;
        if (lc.nthreads <= 0) lc.nthreads = cfg->nthreads;
        st = dc_linear_fit(&s->lin, Xtr, ptr, train->n, F, C, &lc, err);
    }
    if (st) goto done;
    int64_t agree = 0, right = 0, net = 0, agree_tr = 0;
    for (int i = 0; i < test->n; i++) {
        const int k = dc_surrogate_predict(s, Xte + (size_t)i * F);
        agree += k == pte[i];
        right += k == test->labels[i];
        net += pte[i] == test->labels[i];
    }
    for (int i = 0; i < train->n; i++) agree_tr += dc_surrogate_predict(s, Xtr + (size_t)i * F) == ptr[i];
    s->fidelity = (double)agree / test->n;
    s->accuracy = (double)right / test->n;
    s->network_accuracy = (double)net / test->n;
    s->train_fidelity = (double)agree_tr / train->n;
    if (cfg->kind == DC_SURR_TREE) {
        // the fidelity/depth curve: the tree cut at each depth (with no
        // pruning, the tree a depth limit of d would have grown)
        const dc_tree *t = &s->tree;
        s->curve_n = t->depth < DC_SURR_MAX_CURVE ? t->depth : DC_SURR_MAX_CURVE;
        for (int d = 1; d <= s->curve_n; d++) {
            int64_t a = 0, r = 0, atr = 0;
            for (int i = 0; i < test->n; i++) {
                const int k = dc_tree_predict(t, Xte + (size_t)i * F, d);
                a += k == pte[i];
                r += k == test->labels[i];
            }
            for (int i = 0; i < train->n; i++) atr += dc_tree_predict(t, Xtr + (size_t)i * F, d) == ptr[i];
            int leaves = 0;
            for (int q = 0; q < t->n_nodes; q++)
                leaves += t->nodes[q].depth == d || (t->nodes[q].feature == DC_TREE_LEAF && t->nodes[q].depth < d);
            s->curve_fidelity[d - 1] = (double)a / test->n;
            s->curve_accuracy[d - 1] = (double)r / test->n;
            s->curve_train_fidelity[d - 1] = (double)atr / train->n;
            s->curve_leaves[d - 1] = leaves;
        }
    }
done:
    free(mean);
    free(ptr);
    free(pte);
    free(Xtr);
    free(Xte);
    if (st) dc_surrogate_free(s);
    return st;
}
