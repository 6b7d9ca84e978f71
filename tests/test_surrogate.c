// test_surrogate.c — global surrogates (src/surrogate/): region features
// worked out by hand; the presorted CART against a brute-force twin that
// tries every (feature, threshold) at every node; a tree recovered from data
// labelled by a known tree, and from a network that is itself a decision
// stump; fidelity 1.0 on the training features with unlimited depth; depth
// and leaf limits; cost-complexity pruning's defining property; the L1
// logistic model's optimality (KKT) conditions; thread-count independence;
// the JSON round trip and the strict parser's errors, each naming its line,
// for axis-aligned and oblique trees (the oblique fit itself:
// test_surrogate_oblique.c).
//
// Tolerances: counts and tree structures are exact; the KKT check allows
// 2e-4 on gradients of a mean cross-entropy (FISTA stopped at 1e-9 change).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "privacy/membership.h"
#include "surrogate/surrogate.h"

// ---------------------------------------------------------------------------
// Features

static void features_by_hand(void) {
    printf("region features\n");
    dc_error err;
    dc_surr_features f;
    CHECK(dc_surr_features_init(&f, "pool:4x4", 1, 28, 28, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(f.n_regions == 49 && f.n_features == 49, "pool:4x4 on 28x28: %d regions", f.n_regions);
    uint8_t img[784];
    for (int p = 0; p < 784; p++) img[p] = (uint8_t)((p / 28) < 4 && (p % 28) < 4 ? 255 : 0); // block 0 white
    img[4] = 51;                                                                              // one pixel of block 1
    float x[49];
    dc_surr_features_compute(&f, img, 1, x);
    CHECK(x[0] == 1.0f && fabsf(x[1] - 51.0f / 255 / 16) < 1e-7f && x[2] == 0.0f, "block means %g %g %g", x[0],
          x[1], x[2]);
    dc_surr_features_free(&f);
    // ragged blocks: 28 = 9*3 + 1, so a last row and column of 1-pixel blocks
    CHECK(dc_surr_features_init(&f, "pool:3", 1, 28, 28, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(f.n_regions == 100 && f.region_size[9] == 3 && f.region_size[99] == 1, "pool:3: %d regions, sizes %d %d",
          f.n_regions, f.region_size[9], f.region_size[99]);
    dc_surr_features_free(&f);
    CHECK(dc_surr_features_init(&f, "pool:2x7", 3, 8, 14, NULL, &err) == DC_OK && f.n_regions == 8 &&
              f.n_features == 24,
          "pool:2x7 on 3x8x14: %d regions, %d features", f.n_regions, f.n_features);
    dc_surr_features_free(&f);
    CHECK(dc_surr_features_init(&f, "grid:4", 1, 28, 28, NULL, &err) == DC_OK && f.n_regions == 16, "grid:4");
    dc_surr_features_free(&f);
    float mean[784];
    for (int p = 0; p < 784; p++) mean[p] = (p % 28) < 14 ? 0.9f : 0.1f;
    CHECK(dc_surr_features_init(&f, "slic:8", 1, 28, 28, mean, &err) == DC_OK && f.n_regions >= 2, "slic:8: %s",
          err.msg);
    dc_surr_features_free(&f);
    const char *bad[] = {"pool:0", "pool:4x", "pool:29x4", "pool:-4", "pool:4x4x4", "slic:8", "grid:0", "blocks:4",
                         "pool:"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dc_status st = dc_surr_features_init(&f, bad[i], 1, 28, 28, NULL, &err);
        CHECK(st == DC_ERR_ARG && strstr(err.msg, bad[i]), "'%s' refused: %s", bad[i], err.msg);
    }
}

// ---------------------------------------------------------------------------
// Brute-force CART twin: at every node every feature and every threshold
// between distinct sorted values, the score computed from scratch.

typedef struct naive_tree {
    int n;
    int feature[4096], left[4096], right[4096], klass[4096], count[4096];
    float thr[4096];
} naive_tree;

static int cmp_float_asc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int naive_grow(naive_tree *t, const float *X, const int32_t *y, const int *idx, int n, int F, int C,
                      int depth, int max_depth, int min_leaf) {
    const int id = t->n++;
    int cnt[16] = {0};
    for (int i = 0; i < n; i++) cnt[y[idx[i]]]++;
    int k = 0;
    for (int c = 1; c < C; c++)
        if (cnt[c] > cnt[k]) k = c;
    t->klass[id] = k;
    t->count[id] = n;
    t->feature[id] = -1;
    t->left[id] = t->right[id] = -1;
    if (cnt[k] == n || (max_depth > 0 && depth >= max_depth) || n < 2 * min_leaf) return id;
    double best = -1;
    int bf = -1;
    float bthr = 0;
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int f = 0; f < F; f++) {
        for (int i = 0; i < n; i++) v[i] = X[(size_t)idx[i] * F + f];
        qsort(v, (size_t)n, sizeof(float), cmp_float_asc);
        for (int q = 0; q + 1 < n; q++) {
            if (!(v[q] < v[q + 1])) continue;
            const float cut = v[q]; // everything <= cut goes left
            int64_t l[16] = {0}, r[16] = {0};
            int nl = 0;
            for (int i = 0; i < n; i++) {
                const bool left = X[(size_t)idx[i] * F + f] <= cut;
                if (left) l[y[idx[i]]]++, nl++;
                else r[y[idx[i]]]++;
            }
            const int nr = n - nl;
            if (nl < min_leaf || nr < min_leaf) continue;
            int64_t lsq = 0, rsq = 0;
            for (int c = 0; c < C; c++) lsq += l[c] * l[c], rsq += r[c] * r[c];
            const double s = (double)lsq / nl + (double)rsq / nr;
            if (s > best) {
                best = s;
                bf = f;
                float thr = (float)(((double)v[q] + (double)v[q + 1]) / 2.0);
                if (!(thr < v[q + 1])) thr = v[q];
                bthr = thr;
            }
        }
    }
    free(v);
    if (bf < 0) return id;
    t->feature[id] = bf;
    t->thr[id] = bthr;
    int *li = malloc(sizeof(int) * (size_t)n), *ri = malloc(sizeof(int) * (size_t)n), nl = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        if (X[(size_t)idx[i] * F + bf] <= bthr) li[nl++] = idx[i];
        else ri[nr++] = idx[i];
    }
    t->left[id] = naive_grow(t, X, y, li, nl, F, C, depth + 1, max_depth, min_leaf);
    t->right[id] = naive_grow(t, X, y, ri, nr, F, C, depth + 1, max_depth, min_leaf);
    free(li);
    free(ri);
    return id;
}

// Quantised random features (so ties between values occur) and labels.
static void random_problem(float *X, int32_t *y, int n, int F, int C, int levels, dc_rng *r) {
    for (int i = 0; i < n * F; i++) X[i] = (float)dc_rng_below(r, (uint32_t)levels) / levels;
    for (int i = 0; i < n; i++) y[i] = (int32_t)dc_rng_below(r, (uint32_t)C);
}

static void against_brute_force(void) {
    printf("presorted CART == brute-force CART\n");
    dc_rng r;
    dc_rng_seed(&r, 7);
    const int cases[][6] = {
        // n, F, C, levels, max_depth, min_leaf
        {60, 3, 2, 5, 0, 1}, {200, 5, 4, 7, 4, 1}, {300, 4, 3, 1000, 0, 3}, {97, 7, 5, 3, 6, 2}, {1, 2, 2, 4, 0, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int n = cases[c][0], F = cases[c][1], C = cases[c][2];
        float *X = malloc(sizeof(float) * (size_t)n * F);
        int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
        random_problem(X, y, n, F, C, cases[c][3], &r);
        naive_tree *nt = calloc(1, sizeof *nt);
        int *idx = malloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) idx[i] = i;
        naive_grow(nt, X, y, idx, n, F, C, 0, cases[c][4], cases[c][5]);
        dc_tree t;
        dc_error err;
        dc_tree_config cfg = dc_tree_config_default();
        cfg.max_depth = cases[c][4];
        cfg.min_leaf = cases[c][5];
        CHECK(dc_tree_fit(&t, X, y, n, F, C, &cfg, &err) == DC_OK, "%s", err.msg);
        bool same = t.n_nodes == nt->n;
        for (int q = 0; same && q < t.n_nodes; q++)
            same = t.nodes[q].feature == nt->feature[q] && t.nodes[q].left == nt->left[q] &&
                   t.nodes[q].right == nt->right[q] && t.nodes[q].klass == nt->klass[q] &&
                   t.nodes[q].n == nt->count[q] && (nt->feature[q] < 0 || t.nodes[q].threshold == nt->thr[q]);
        CHECK(same, "case %zu: %d nodes vs brute force %d, identical structure", c, t.n_nodes, nt->n);
        for (int q = 0; q < t.n_nodes; q++) {
            const dc_tree_node *d = &t.nodes[q];
            int64_t s = 0;
            for (int k = 0; k < C; k++) s += t.counts[(size_t)q * C + k];
            if (s != d->n || (d->feature < 0 && d->n < cfg.min_leaf) || (cfg.max_depth && d->depth > cfg.max_depth)) {
                CHECK(0, "case %zu node %d: counts %lld n %d depth %d", c, q, (long long)s, d->n, d->depth);
                break;
            }
        }
        // one thread and two give the same tree
        cfg.nthreads = 1;
        dc_tree t1;
        dc_tree_fit(&t1, X, y, n, F, C, &cfg, &err);
        bool same1 = t1.n_nodes == t.n_nodes;
        for (int q = 0; same1 && q < t.n_nodes; q++)
            same1 = t1.nodes[q].feature == t.nodes[q].feature && t1.nodes[q].threshold == t.nodes[q].threshold &&
                    t1.nodes[q].left == t.nodes[q].left && t1.nodes[q].impurity == t.nodes[q].impurity;
        CHECK(same1, "case %zu: 1 thread == default threads", c);
        dc_tree_free(&t1);
        dc_tree_free(&t);
        free(nt);
        free(idx);
        free(X);
        free(y);
    }
}

// ---------------------------------------------------------------------------
// A known tree is recovered

// root x0 <= .5: (x1 <= .3 ? 0 : 1) : (x2 <= .6 ? 2 : (x3 <= .4 ? 3 : 4))
static int known_tree(const float *x) {
    if (x[0] <= 0.5f) return x[1] <= 0.3f ? 0 : 1;
    if (x[2] <= 0.6f) return 2;
    return x[3] <= 0.4f ? 3 : 4;
}

static void recovers_known_tree(void) {
    printf("a tree fitted to a known tree recovers it\n");
    const int n = 4000, F = 6, C = 5;
    dc_rng r;
    dc_rng_seed(&r, 11);
    float *X = malloc(sizeof(float) * (size_t)n * F);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n * F; i++) X[i] = dc_rng_uniform(&r);
    for (int i = 0; i < n; i++) y[i] = known_tree(X + (size_t)i * F);
    dc_tree t;
    dc_error err;
    CHECK(dc_tree_fit(&t, X, y, n, F, C, NULL, &err) == DC_OK, "%s", err.msg);
    // preorder: 0 root, 1 x1-split, 2 leaf0, 3 leaf1, 4 x2-split, 5 leaf2, 6 x3-split, 7 leaf3, 8 leaf4
    const int want_feature[9] = {0, 1, -1, -1, 2, -1, 3, -1, -1};
    const float want_thr[9] = {0.5f, 0.3f, 0, 0, 0.6f, 0, 0.4f, 0, 0};
    const int want_class[9] = {-1, -1, 0, 1, -1, 2, -1, 3, 4};
    bool same = t.n_nodes == 9;
    for (int q = 0; same && q < 9; q++) {
        same = t.nodes[q].feature == want_feature[q];
        if (want_feature[q] >= 0) same = same && fabsf(t.nodes[q].threshold - want_thr[q]) < 2e-3f;
        else same = same && t.nodes[q].klass == want_class[q];
    }
    CHECK(same, "the same 9 nodes, features, classes and thresholds within 2e-3 (got %d nodes, root x%d <= %g)",
          t.n_nodes, t.nodes[0].feature, t.nodes[0].threshold);
    // and the same function on fresh inputs away from the thresholds
    int agree = 0;
    float x[6];
    for (int i = 0; i < 2000; i++) {
        for (int j = 0; j < F; j++) x[j] = dc_rng_uniform(&r);
        agree += dc_tree_predict(&t, x, 0) == known_tree(x);
    }
    CHECK(agree >= 1990, "fresh inputs: %d/2000 agree", agree);
    dc_tree_free(&t);
    free(X);
    free(y);
}

// A network that is a decision stump: class 1 iff the mean of the 4x4
// block at block-row 2, block-column 5 (feature 2*7+5 = 19) exceeds 0.35.
// Logits (0, s * (mean_block - 0.35)) with inputs px/255 (normalisation 0, 1).
static void recovers_stump_network(void) {
    printf("a surrogate of a network that is a stump recovers the stump\n");
    dc_error err;
    dc_model *m = NULL;
    const char *arch = "flatten\nlinear out=2\n";
    if (dc_model_parse(&m, arch, "stump", 1, 28, 28, 2, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    dc_model_set_normalisation_values(m, 0.0f, 1.0f);
    float *w = dc_model_params(m);
    CHECK(dc_model_num_params(m) == 2 * 784 + 2, "linear 784 -> 2: %zu params", dc_model_num_params(m));
    memset(w, 0, sizeof(float) * dc_model_num_params(m));
    const float s = 1000.0f, t = 0.35f;
    for (int yy = 8; yy < 12; yy++)
        for (int xx = 20; xx < 24; xx++) w[784 + yy * 28 + xx] = s / 16;
    w[2 * 784 + 1] = -s * t;
    dc_dataset train, test;
    dc_rng r;
    dc_rng_seed(&r, 3);
    dc_dataset *sets[2] = {&train, &test};
    for (int q = 0; q < 2; q++) {
        dc_dataset *ds = sets[q];
        memset(ds, 0, sizeof *ds);
        ds->n = q == 0 ? 3000 : 1000;
        ds->c = 1;
        ds->h = ds->w = 28;
        ds->n_classes = 2;
        ds->pixels = malloc((size_t)ds->n * 784);
        ds->labels = calloc((size_t)ds->n, sizeof(int32_t));
        snprintf(ds->source, sizeof ds->source, "blocks");
        for (int i = 0; i < ds->n; i++) {
            uint8_t level[49];
            for (int b = 0; b < 49; b++) level[b] = (uint8_t)dc_rng_below(&r, 256);
            for (int p = 0; p < 784; p++) ds->pixels[(size_t)i * 784 + p] = level[(p / 28 / 4) * 7 + (p % 28) / 4];
            ds->labels[i] = level[19] > 0.35 * 255;
        }
    }
    dc_surrogate_config cfg = dc_surrogate_config_default();
    cfg.tree.max_depth = 0;
    dc_surrogate sur;
    if (dc_surrogate_build(&sur, m, &train, &test, &cfg, &err) == DC_OK) {
        CHECK(sur.tree.n_nodes == 3 && sur.tree.nodes[0].feature == 19 &&
                  fabsf(sur.tree.nodes[0].threshold - t) < 1.0f / 255,
              "one split on feature 19 at %g (got %d nodes, feature %d at %g)", t, sur.tree.n_nodes,
              sur.tree.nodes[0].feature, sur.tree.nodes[0].threshold);
        CHECK(sur.fidelity == 1.0 && sur.train_fidelity == 1.0, "fidelity %g, train fidelity %g", sur.fidelity,
              sur.train_fidelity);
        CHECK(sur.network_accuracy == 1.0 && sur.accuracy == 1.0, "the stump is the labelling rule");
        dc_surrogate_free(&sur);
    } else {
        CHECK(0, "%s", err.msg);
    }
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_model_free(m);
}

static void unlimited_depth_fits_training_set(void) {
    printf("unlimited depth: fidelity 1.0 on the training features\n");
    // a network = a dense random linear model over the pool features of
    // random images: its classes are an arbitrary function of the features
    dc_error err;
    dc_model *m = NULL;
    if (dc_model_parse(&m, "flatten\nlinear out=4\n", "dense", 1, 28, 28, 4, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    dc_rng r;
    dc_rng_seed(&r, 5);
    dc_model_init_params(m, &r);
    dc_dataset train, test;
    dc_test_make_data(&train, 1500, 4, 21);
    dc_test_make_data(&test, 300, 4, 22);
    dc_surrogate_config cfg = dc_surrogate_config_default();
    cfg.tree.max_depth = 0;
    cfg.features = "pool:4x4";
    dc_surrogate s;
    if (dc_surrogate_build(&s, m, &train, &test, &cfg, &err) == DC_OK) {
        CHECK(s.train_fidelity == 1.0, "train fidelity %.6f (depth %d, %d leaves)", s.train_fidelity, s.tree.depth,
              s.tree.n_leaves);
        CHECK(s.curve_n == s.tree.depth && s.curve_train_fidelity[s.curve_n - 1] == 1.0,
              "the curve ends at the full tree");
        bool mono = true;
        for (int d = 1; d < s.curve_n; d++) mono = mono && s.curve_leaves[d] >= s.curve_leaves[d - 1];
        CHECK(mono, "leaves grow with depth");
        dc_surrogate_free(&s);
    } else {
        CHECK(0, "%s", err.msg);
    }
    // and the same on raw random features with random labels
    const int n = 500, F = 4, C = 3;
    float *X = malloc(sizeof(float) * n * F);
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n * F; i++) X[i] = dc_rng_uniform(&r);
    for (int i = 0; i < n; i++) y[i] = (int32_t)dc_rng_below(&r, C);
    dc_tree t;
    dc_tree_fit(&t, X, y, n, F, C, NULL, &err);
    int agree = 0;
    for (int i = 0; i < n; i++) agree += dc_tree_predict(&t, X + (size_t)i * F, 0) == y[i];
    CHECK(agree == n, "random labels: %d/%d fitted", agree, n);
    // a depth limit caps the depth and the leaves
    dc_tree_config cfg2 = dc_tree_config_default();
    cfg2.max_depth = 3;
    cfg2.min_leaf = 20;
    dc_tree t3;
    dc_tree_fit(&t3, X, y, n, F, C, &cfg2, &err);
    bool leaf_ok = true;
    for (int q = 0; q < t3.n_nodes; q++)
        if (t3.nodes[q].feature < 0) leaf_ok = leaf_ok && t3.nodes[q].n >= 20;
    CHECK(t3.depth <= 3 && t3.n_leaves <= 8 && leaf_ok, "depth %d, %d leaves, every leaf >= 20 samples", t3.depth,
          t3.n_leaves);
    dc_tree_free(&t3);
    dc_tree_free(&t);
    free(X);
    free(y);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_model_free(m);
}

// ---------------------------------------------------------------------------
// Pruning: what is left has every effective alpha > ccp_alpha, and a pruned
// node's subtree was removed whole.

static double subtree_r(const dc_tree *t, int i, int *leaves, double N) {
    const dc_tree_node *d = &t->nodes[i];
    if (d->feature < 0) {
        *leaves = 1;
        return d->n / N * d->impurity;
    }
    int l1, l2;
    double r = subtree_r(t, d->left, &l1, N) + subtree_r(t, d->right, &l2, N);
    *leaves = l1 + l2;
    return r;
}

static void pruning(void) {
    printf("cost-complexity pruning\n");
    const int n = 800, F = 3, C = 3;
    dc_rng r;
    dc_rng_seed(&r, 9);
    float *X = malloc(sizeof(float) * n * F);
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n * F; i++) X[i] = dc_rng_uniform(&r);
    for (int i = 0; i < n; i++) { // signal in x0 plus 20% label noise
        const float *x = X + (size_t)i * F;
        y[i] = x[0] < 0.33f ? 0 : x[0] < 0.66f ? 1 : 2;
        if (dc_rng_uniform(&r) < 0.2f) y[i] = (int32_t)dc_rng_below(&r, C);
    }
    dc_error err;
    dc_tree full;
    dc_tree_fit(&full, X, y, n, F, C, NULL, &err);
    int last_leaves = full.n_leaves + 1;
    const double alphas[] = {0.0, 1e-4, 1e-3, 5e-3, 0.02, 10.0};
    for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++) {
        dc_tree_config cfg = dc_tree_config_default();
        cfg.ccp_alpha = alphas[a];
        dc_tree t;
        CHECK(dc_tree_fit(&t, X, y, n, F, C, &cfg, &err) == DC_OK, "%s", err.msg);
        bool ok = true;
        for (int q = 0; q < t.n_nodes; q++) {
            if (t.nodes[q].feature < 0) continue;
            int leaves;
            const double rb = subtree_r(&t, q, &leaves, n);
            const double eff = (t.nodes[q].n / (double)n * t.nodes[q].impurity - rb) / (leaves - 1);
            if (alphas[a] > 0 && !(eff > alphas[a])) ok = false;
        }
        CHECK(ok, "alpha %g: every internal node left has effective alpha > alpha (%d leaves)", alphas[a], t.n_leaves);
        CHECK(t.n_leaves <= last_leaves, "alpha %g: %d leaves, no more than at a smaller alpha (%d)", alphas[a],
              t.n_leaves, last_leaves);
        if (alphas[a] == 0) CHECK(t.n_nodes == full.n_nodes, "alpha 0 prunes nothing");
        if (alphas[a] == 10.0) CHECK(t.n_nodes == 1, "a huge alpha leaves the root");
        last_leaves = t.n_leaves;
        dc_tree_free(&t);
    }
    dc_tree_free(&full);
    free(X);
    free(y);
}

// ---------------------------------------------------------------------------
// Sparse logistic model: KKT conditions of the L1 problem at the solution
//   W_j != 0: grad_j = -lambda sign(W_j);  W_j == 0: |grad_j| <= lambda;  grad_b = 0

static void linear_kkt(void) {
    printf("L1 multinomial logistic: optimality conditions\n");
    const int n = 600, F = 8, C = 3;
    dc_rng r;
    dc_rng_seed(&r, 13);
    float *X = malloc(sizeof(float) * n * F);
    int32_t *y = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) {
        float *x = X + (size_t)i * F;
        for (int j = 0; j < F; j++) x[j] = dc_rng_normal(&r) * (1.0f + j);
        const double s0 = x[0] - 0.5 * x[1], s1 = 0.3 * x[2], s2 = 0.0;
        y[i] = s0 > s1 && s0 > s2 ? 0 : s1 > s2 ? 1 : 2;
        if (dc_rng_uniform(&r) < 0.1f) y[i] = (int32_t)dc_rng_below(&r, C);
    }
    const double lambdas[] = {0.0, 0.01, 0.05, 10.0};
    int last_nnz = F * C + 1;
    for (size_t a = 0; a < sizeof lambdas / sizeof *lambdas; a++) {
        dc_linear_config cfg = dc_linear_config_default();
        cfg.lambda = lambdas[a];
        cfg.max_iter = 20000;
        cfg.tol = 1e-9;
        dc_linear lm;
        dc_error err;
        if (dc_linear_fit(&lm, X, y, n, F, C, &cfg, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        double gW[24], gb[3], worst = 0.0;
        dc_linear_gradient(&lm, X, y, n, gW, gb);
        for (int q = 0; q < C * F; q++) {
            const double v = lm.W[q];
            const double viol = v > 0 ? fabs(gW[q] + lambdas[a]) : v < 0 ? fabs(gW[q] - lambdas[a])
                                                                        : fmax(0.0, fabs(gW[q]) - lambdas[a]);
            worst = fmax(worst, viol);
        }
        for (int c = 0; c < C; c++) worst = fmax(worst, fabs(gb[c]));
        CHECK(worst < 2e-4, "lambda %g: largest KKT violation %.2e (%d iterations, %d nonzero)", lambdas[a], worst,
              lm.iters, lm.nonzero);
        CHECK(lm.nonzero <= last_nnz, "lambda %g: %d nonzero, no more than at a smaller lambda", lambdas[a],
              lm.nonzero);
        if (lambdas[a] == 10.0) CHECK(lm.nonzero == 0, "a huge lambda zeroes every coefficient");
        if (lambdas[a] == 0.05) CHECK(lm.nonzero > 0 && lm.nonzero < C * F, "lambda 0.05 is sparse: %d", lm.nonzero);
        last_nnz = lm.nonzero;
        // threads do not change the bits
        cfg.nthreads = 1;
        dc_linear l1;
        dc_linear_fit(&l1, X, y, n, F, C, &cfg, &err);
        CHECK(!memcmp(l1.W, lm.W, sizeof(double) * C * F) && l1.iters == lm.iters, "lambda %g: 1 thread == default",
              lambdas[a]);
        dc_linear_free(&l1);
        dc_linear_free(&lm);
    }
    free(X);
    free(y);
}

// ---------------------------------------------------------------------------
// JSON

static dc_surrogate small_surrogate(dc_model **mp, dc_dataset *train, dc_dataset *test, dc_surrogate_kind kind) {
    dc_error err;
    dc_model *m = NULL;
    dc_model_parse(&m, "flatten\nlinear out=4\n", "dense", 1, 28, 28, 4, &err);
    dc_rng r;
    dc_rng_seed(&r, 5);
    dc_model_init_params(m, &r);
    dc_test_make_data(train, 400, 4, 31);
    dc_test_make_data(test, 100, 4, 32);
    dc_surrogate_config cfg = dc_surrogate_config_default();
    cfg.kind = kind;
    cfg.tree.max_depth = 4;
    cfg.features = "pool:7x7";
    dc_surrogate s;
    if (dc_surrogate_build(&s, m, train, test, &cfg, &err)) {
        CHECK(0, "%s", err.msg);
        memset(&s, 0, sizeof s);
    }
    *mp = m;
    return s;
}

static void parse_expect(const char *text, const char *want, const char *what) {
    dc_surrogate s;
    dc_error err;
    dc_status st = dc_surrogate_parse_json(&s, text, strlen(text), "t.json", &err);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, want), "%s: want '%s', got '%s'", what, want,
          st ? err.msg : "accepted");
    if (!st) dc_surrogate_free(&s);
}

// text with the first occurrence of `from` replaced by `to` (malloc'd)
static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    if (!at) return NULL;
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return o;
}

static int line_of(const char *text, const char *needle) {
    const char *at = strstr(text, needle);
    int line = 1;
    for (const char *p = text; at && p < at; p++) line += *p == '\n';
    return at ? line : -1;
}

static void json_round_trip(void) {
    printf("surrogate JSON: round trip and strict parsing\n");
    dc_model *m;
    dc_dataset train, test;
    dc_surrogate s = small_surrogate(&m, &train, &test, DC_SURR_TREE);
    dc_error err;
    char *json = NULL;
    CHECK(dc_surrogate_to_json(&s, &json, &err) == DC_OK, "%s", err.msg);
    dc_surrogate back;
    CHECK(dc_surrogate_parse_json(&back, json, strlen(json), "t.json", &err) == DC_OK, "%s", err.msg);
    bool same = back.tree.n_nodes == s.tree.n_nodes && back.tree.depth == s.tree.depth &&
                back.fidelity == s.fidelity && back.curve_n == s.curve_n && back.n_classes == s.n_classes &&
                back.feat.n_features == s.feat.n_features;
    for (int q = 0; same && q < s.tree.n_nodes; q++) {
        const dc_tree_node *a = &s.tree.nodes[q], *b = &back.tree.nodes[q];
        same = a->feature == b->feature && a->threshold == b->threshold && a->left == b->left &&
               a->right == b->right && a->n == b->n && a->klass == b->klass && a->depth == b->depth;
    }
    CHECK(same, "every node, threshold (bit for bit) and score survives");
    double fid, acc;
    int32_t *pred = malloc(sizeof(int32_t) * test.n);
    for (int i = 0; i < test.n; i++) pred[i] = test.labels[i];
    dc_surrogate_score(&back, &test, pred, &fid, &acc, &err);
    double fid0, acc0;
    dc_surrogate_score(&s, &test, pred, &fid0, &acc0, &err);
    CHECK(fid == fid0 && acc == acc0, "the parsed surrogate predicts the same");
    free(pred);
    dc_surrogate_free(&back);

    // malformed input, each error naming its line
    char want[64];
    char *bad = replace(json, "\"version\": 1", "\"version\": 2");
    snprintf(want, sizeof want, "t.json:%d:", line_of(json, "\"version\""));
    parse_expect(bad, want, "version 2");
    free(bad);
    bad = replace(json, "\"format\": \"deepc-surrogate\",", "\"format\": \"deepc-surrogate\",\n\"colour\": 1,");
    snprintf(want, sizeof want, "t.json:%d: a tree surrogate: unknown", line_of(json, "\"format\"") + 1);
    parse_expect(bad, want, "unknown key");
    free(bad);
    // node 1: make its left child point back at the root
    const char *node1 = strstr(strstr(json, "\"nodes\""), "\n{") + 1;
    node1 = strstr(node1, "\n{") + 1; // the second node line
    const int l1 = line_of(json, node1);
    char *n1 = strndup(node1, (size_t)(strchr(node1, '\n') - node1));
    if (strstr(n1, "\"feature\":-1")) { // a leaf: give it a bad class instead
        char *b2 = replace(n1, "\"class\":", "\"class\":99,\"x\":");
        bad = replace(json, n1, b2);
        free(b2);
        snprintf(want, sizeof want, "t.json:%d: nodes[1]", l1);
    } else {
        char *b2 = replace(n1, "\"left\":", "\"left\":0,\"leftx\":");
        bad = replace(json, n1, b2);
        free(b2);
        snprintf(want, sizeof want, "t.json:%d: nodes[1]: unknown", l1);
    }
    parse_expect(bad, want, "bad node 1");
    free(bad);
    free(n1);
    // the last node's counts no longer add up
    const char *lastn = strstr(json, "\n]\n}");
    const char *ln = lastn - 1;
    while (*ln != '\n') ln--;
    ln++;
    char *lastline = strndup(ln, (size_t)(lastn - ln));
    char *b3 = replace(lastline, "\"n\":", "\"n\":1");
    bad = replace(json, lastline, b3);
    snprintf(want, sizeof want, "t.json:%d: nodes[%d]", line_of(json, lastline), s.tree.n_nodes - 1);
    parse_expect(bad, want, "counts vs n");
    free(bad);
    free(b3);
    free(lastline);
    // syntax errors: line of the break
    bad = replace(json, "\"kind\": \"tree\"", "\"kind\": tree");
    snprintf(want, sizeof want, "t.json:%d:9: not valid JSON", line_of(json, "\"kind\""));
    parse_expect(bad, want, "syntax error");
    free(bad);
    parse_expect("", "t.json:1:1: not valid JSON", "empty");
    parse_expect("{\"format\": \"deepc-surrogate\"}\n{}", "t.json:2: text after", "two objects");
    parse_expect("[1, 2]", "t.json:1: expected a JSON object", "an array");
    parse_expect("{\"format\": \"other\"}", "t.json:1: \"format\" must be", "wrong format");
    bad = strndup(json, strlen(json) / 2);
    parse_expect(bad, "not valid JSON", "truncated");
    free(bad);
    char embedded[] = "{\"format\": \"deepc-su\0rrogate\"}";
    dc_surrogate t;
    CHECK(dc_surrogate_parse_json(&t, embedded, sizeof embedded - 1, "t.json", &err) == DC_ERR_FORMAT,
          "a NUL byte inside: %s", err.msg);
    // features map out of range
    bad = replace(json, "\"map\":[0,", "\"map\":[999,");
    snprintf(want, sizeof want, "t.json:%d: features: map element 0", line_of(json, "\"features\""));
    if (bad) parse_expect(bad, want, "map out of range");
    else CHECK(0, "no map in the JSON");
    free(bad);
    // a second parent for a node: point node 0's right child at its left
    char rootl[32], rootr[32];
    snprintf(rootl, sizeof rootl, "\"right\":%d", s.tree.nodes[0].right);
    snprintf(rootr, sizeof rootr, "\"right\":%d", s.tree.nodes[0].left == 1 ? 2 : 1);
    if (s.tree.nodes[0].feature >= 0) {
        bad = replace(json, rootl, rootr);
        parse_expect(bad, "nodes[", "a node with two parents or none");
        free(bad);
    }
    free(json);
    dc_surrogate_free(&s);

    // linear surrogate round trip
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_model_free(m);
    s = small_surrogate(&m, &train, &test, DC_SURR_LINEAR);
    CHECK(dc_surrogate_to_json(&s, &json, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_surrogate_parse_json(&back, json, strlen(json), "l.json", &err) == DC_OK, "%s", err.msg);
    double wdiff = 0.0;
    for (int q = 0; q < s.lin.n_classes * s.lin.n_features; q++) wdiff = fmax(wdiff, fabs(back.lin.W[q] - s.lin.W[q]));
    CHECK(back.kind == DC_SURR_LINEAR && wdiff == 0.0, "linear coefficients survive bit for bit (max diff %g)", wdiff);
    float x[16];
    bool agree = true;
    for (int i = 0; i < test.n; i++) {
        dc_surr_features_compute(&s.feat, test.pixels + (size_t)i * 784, 1, x);
        agree = agree && dc_surrogate_predict(&s, x) == dc_surrogate_predict(&back, x);
    }
    CHECK(agree, "the parsed linear surrogate predicts the same");
    bad = replace(json, "\"sd\":[", "\"sd\":[-1,");
    snprintf(want, sizeof want, "t.json:%d: linear.sd", line_of(json, "\"linear\": {"));
    parse_expect(bad, want, "bad sd");
    free(bad);
    dc_surrogate_free(&back);
    free(json);
    dc_surrogate_free(&s);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_model_free(m);
}

// text with [from, the next `until` after it) replaced by to (malloc'd);
// NULL when from is not there.
static char *splice(const char *text, const char *from, const char *until, const char *to) {
    const char *a = strstr(text, from);
    const char *b = a ? strstr(a, until) : NULL;
    if (!b) return NULL;
    const size_t n = strlen(text) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(a - text), text, to, b);
    return o;
}

// An oblique tree surrogate (depth 3, 4 classes) over pool:7x7 features
// (F = 16) of random features and labels, without a network; n samples into
// *X (n, 16), malloc'd.
static dc_status oblique_surrogate(dc_surrogate *s, float **X, int n, dc_error *err) {
    memset(s, 0, sizeof *s);
    const int F = 16, C = 4;
    dc_status st = dc_surr_features_init(&s->feat, "pool:7x7", 1, 28, 28, NULL, err);
    if (st) return st;
    dc_rng r;
    dc_rng_seed(&r, 17);
    *X = malloc(sizeof(float) * (size_t)n * F);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    random_problem(*X, y, n, F, C, 50, &r);
    s->kind = DC_SURR_TREE;
    s->n_classes = C;
    s->class_names = calloc((size_t)C, sizeof(char *));
    for (int k = 0; k < C; k++) s->class_names[k] = strdup(k % 2 ? "odd \"class\"" : "even");
    s->tree_cfg = dc_tree_config_default();
    s->tree_cfg.max_depth = 3;
    s->tree_cfg.split = DC_SPLIT_OBLIQUE;
    s->tree_cfg.refine = 5;
    s->tree_cfg.nthreads = 2;
    st = dc_tree_fit(&s->tree, *X, y, n, F, C, &s->tree_cfg, err);
    int agree = 0;
    for (int i = 0; !st && i < n; i++) agree += dc_tree_predict(&s->tree, *X + (size_t)i * F, 0) == y[i];
    s->n_train = s->n_test = n;
    s->fidelity = s->accuracy = s->train_fidelity = (double)agree / n;
    s->network_accuracy = 1.0;
    free(y);
    return st;
}

static void json_oblique(void) {
    printf("oblique surrogate JSON: round trip and strict parsing\n");
    dc_surrogate s, back;
    dc_error err;
    const int n = 1500;
    float *X = NULL;
    char *json = NULL, *again = NULL;
    if (oblique_surrogate(&s, &X, n, &err) || dc_surrogate_to_json(&s, &json, &err) ||
        dc_surrogate_parse_json(&back, json, strlen(json), "t.json", &err)) {
        CHECK(0, "an oblique surrogate, written and parsed: %s", err.msg);
        dc_surrogate_free(&s);
        free(X), free(json);
        return;
    }
    const dc_tree *a = &s.tree, *b = &back.tree;
    const dc_tree_split_stats ss = dc_tree_split_summary(a);
    CHECK(ss.oblique >= 2, "the surrogate has oblique splits (%d, and %d axis-aligned)", ss.oblique, ss.axis);
    bool same = a->n_nodes == b->n_nodes && a->n_weights == b->n_weights && back.tree_cfg.split == DC_SPLIT_OBLIQUE &&
                back.tree_cfg.lambda == s.tree_cfg.lambda && back.tree_cfg.max_iter == s.tree_cfg.max_iter;
    for (int q = 0; same && q < a->n_nodes; q++) {
        const dc_tree_node *u = &a->nodes[q], *v = &b->nodes[q];
        same = u->feature == v->feature && u->threshold == v->threshold && u->w_off == v->w_off && u->w_n == v->w_n &&
               u->bias == v->bias && u->left == v->left && u->right == v->right && u->depth == v->depth;
    }
    for (int k = 0; same && k < a->n_weights; k++)
        same = a->w_feature[k] == b->w_feature[k] && a->w_value[k] == b->w_value[k];
    CHECK(same, "every node, weight and bias survives bit for bit, with split, lambda and max-iter");
    int agree = 0;
    for (int i = 0; i < n; i++) agree += dc_surrogate_predict(&s, X + (size_t)i * 16) == dc_surrogate_predict(&back, X + (size_t)i * 16);
    CHECK(agree == n, "the same class for every input (%d of %d)", agree, n);
    CHECK(dc_surrogate_to_json(&back, &again, &err) == DC_OK && again && !strcmp(json, again),
          "written again, the same text");
    free(again);
    dc_surrogate_free(&back);

    // malformed oblique nodes and configs, each error naming its line and node
    int node = -1;
    for (int q = 0; q < a->n_nodes && node < 0; q++)
        if (a->nodes[q].feature == DC_TREE_OBLIQUE) node = q;
    const int ln = line_of(json, "{\"weights\":"), lc = line_of(json, "\"config\"");
    CHECK(node >= 0 && line_of(json, "\"nodes\"") + 1 + node == ln, "node %d is on line %d", node, ln);
    const struct {
        const char *from, *until, *to, *want;
        bool at_node; // the error names the node's line (else the config's)
    } bad[] = {
        {"\"weights\":", ",\"bias\"", "\"weights\":[]", "\"weights\" must be an array of 1 to 16", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":\"x\"", "\"weights\" must be an array of 1 to 16", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[3,0.5],[3,1]]", "weights[1]: the feature must be an integer in [4, 15]", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[5,0.5],[2,1]]", "weights[1]: the feature must be an integer in [6, 15]", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[16,1]]", "weights[0]: the feature must be an integer in [0, 15]", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[-1,1]]", "weights[0]: the feature must be an integer in [0, 15]", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[2.5,1]]", "weights[0]: the feature must be an integer", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[3,0]]", "weights[0]: the weight must be a finite nonzero number", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[3]]", "weights[0] must be a [feature, weight] pair of numbers", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[3,1,2]]", "weights[0] must be a [feature, weight] pair of numbers", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[[3,\"a\"]]", "weights[0] must be a [feature, weight] pair of numbers", true},
        {"\"weights\":", ",\"bias\"", "\"weights\":[3,1]", "weights[0] must be a [feature, weight] pair of numbers", true},
        {"\"bias\":", ",\"left\"", "\"bias\":\"b\"", "\"bias\" must be a finite number", true},
        {",\"bias\":", ",\"left\"", "", "missing key \"bias\"", true},
        {"{\"weights\":", "\"weights\":", "{\"feature\":3,", "unknown or repeated key \"feature\"", true},
        {",\"splits\":\"oblique\"", "}", "", "an oblique split (\"weights\") in a tree whose config has no \"splits\"", true},
        {"\"splits\":\"oblique\"", ",", "\"splits\":\"diagonal\"", "config: \"splits\" must be \"axis\" or \"oblique\"", false},
        {",\"max_iter\":", "}", "", "config: missing key \"max_iter\"", false},
        {"\"lambda\":", ",", "\"lambda\":-1", "config: \"lambda\" must be a number in [0,", false},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char *t = splice(json, bad[k].from, bad[k].until, bad[k].to), want[192];
        if (bad[k].at_node) snprintf(want, sizeof want, "t.json:%d: nodes[%d]: %s", ln, node, bad[k].want);
        else snprintf(want, sizeof want, "t.json:%d: %s", lc, bad[k].want);
        if (t) parse_expect(t, want, bad[k].to[0] ? bad[k].to : bad[k].from);
        else CHECK(0, "no '%s' in the JSON", bad[k].from);
        free(t);
    }
    free(json);
    free(X);
    dc_surrogate_free(&s);
}

// ---------------------------------------------------------------------------
// The report's sections: present, class names escaped, the same bytes twice

static void report_sections(void) {
    printf("report: surrogate and membership sections\n");
    dc_error err;
    dc_model *m = NULL;
    dc_model_parse(&m, "flatten\nlinear out=4\n", "dense", 1, 28, 28, 4, &err);
    const char *names[4] = {"<b>&amp", "a\"b", "c", "d"};
    dc_model_set_class_names(m, names, 4, &err);
    dc_rng r;
    dc_rng_seed(&r, 5);
    dc_model_init_params(m, &r);
    dc_dataset train, test;
    dc_test_make_data(&train, 400, 4, 31);
    dc_test_make_data(&test, 100, 4, 32);
    dc_surrogate_config sc = dc_surrogate_config_default();
    sc.tree.max_depth = 6;
    sc.nthreads = 1;
    dc_surrogate s;
    dc_membership_result mr;
    dc_membership_config mc = dc_membership_config_default();
    mc.n = 100;
    mc.n_ref = 0;
    mc.nthreads = 1;
    if (dc_surrogate_build(&s, m, &train, &test, &sc, &err) ||
        dc_membership_audit(&mr, m, &train, &test, NULL, NULL, &mc, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    dc_report_config rc = dc_report_config_default();
    rc.examples = 0;
    rc.nthreads = 1;
    rc.surrogate = &s;
    rc.membership = &mr;
    char *h1 = NULL, *h2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK(dc_report_render(&h1, &l1, m, &test, &rc, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_report_render(&h2, &l2, m, &test, &rc, &err) == DC_OK, "%s", err.msg);
    CHECK(h1 && h2 && l1 == l2 && !memcmp(h1, h2, l1), "the same bytes twice");
    CHECK(h1 && strstr(h1, "id=\"surrogate\"") && strstr(h1, "id=\"membership\"") && strstr(h1, "class=\"tree\"") &&
              strstr(h1, "ROC of the attacks") && strstr(h1, "href=\"#surrogate\""),
          "both sections, the tree and the ROC chart");
    CHECK(h1 && !strstr(h1, "<b>&amp") && strstr(h1, "&lt;b&gt;&amp;amp") && !strstr(h1, "a\"b"),
          "class names escaped in the tree");
    free(h1);
    free(h2);
    // a surrogate of another number of classes is refused
    s.n_classes = 3;
    CHECK(dc_report_render(&h1, &l1, m, &test, &rc, &err) == DC_ERR_SHAPE && strstr(err.msg, "3 classes"), "%s",
          err.msg);
    s.n_classes = 4;
    dc_surrogate_free(&s);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_model_free(m);
}

int main(void) {
    report_sections();
    features_by_hand();
    against_brute_force();
    recovers_known_tree();
    recovers_stump_network();
    unlimited_depth_fits_training_set();
    pruning();
    linear_kkt();
    json_round_trip();
    json_oblique();
    return dc_test_finish();
}
