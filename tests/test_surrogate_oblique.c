// test_surrogate_oblique.c — sparse oblique trees (dc_tree_refine_oblique,
// src/surrogate/tree.c) and the binary L1 logistic fit they use
// (dc_logistic_fit, src/surrogate/linear.c): a "network" that is itself an
// oblique tree is recovered exactly where axis-aligned trees of the same (and
// larger) depth cannot be; no TAO pass lowers the training fidelity; the
// result does not depend on the thread count; the logistic fit meets its
// optimality (KKT) conditions and a weight of 2 is a repeated sample. (The
// JSON of oblique trees is tested in test_surrogate.c, beside the rest of
// the file format.)
//
// Tolerances: fidelities, counts and trees are exact; the KKT check allows
// 1e-4 on the gradient of a mean logistic loss (FISTA stopped at a change of
// 1e-10, the gradient taken by central differences with h = 1e-5).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "surrogate/surrogate.h"

// ---------------------------------------------------------------------------
// A network that is an oblique tree

// Class 1 iff x0 + x1 > 1 and x2 > x3: the depth-2 oblique tree
// x0 + x1 - 1 <= 0 ? 0 : (x2 - x3 <= 0 ? 0 : 1).
static int oblique_net(const float *x) {
    return (double)x[0] + x[1] - 1.0 > 0 && (double)x[2] - x[3] > 0;
}

// n inputs of F uniform features at least `margin` away from both hyperplanes.
static void oblique_problem(float *X, int32_t *y, int n, int F, double margin, dc_rng *r) {
    for (int i = 0; i < n; i++) {
        float *x = X + (size_t)i * F;
        do {
            for (int j = 0; j < F; j++) x[j] = dc_rng_uniform(r);
        } while (fabs((double)x[0] + x[1] - 1.0) < margin || fabs((double)x[2] - x[3]) < margin);
        y[i] = oblique_net(x);
    }
}

static double fidelity_of(const dc_tree *t, const float *X, const int32_t *y, int n) {
    int agree = 0;
    for (int i = 0; i < n; i++) agree += dc_tree_predict(t, X + (size_t)i * t->n_features, 0) == y[i];
    return (double)agree / n;
}

static void recovers_oblique_network(void) {
    printf("a network that is an oblique tree is recovered; axis-aligned trees cannot\n");
    const int n = 3000, nt = 2000, F = 6, C = 2;
    dc_rng r;
    dc_rng_seed(&r, 21);
    float *X = malloc(sizeof(float) * (size_t)n * F), *Xt = malloc(sizeof(float) * (size_t)nt * F);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n), *yt = malloc(sizeof(int32_t) * (size_t)nt);
    oblique_problem(X, y, n, F, 0.03, &r);
    oblique_problem(Xt, yt, nt, F, 0.03, &r);
    dc_error err;
    dc_tree_config cfg = dc_tree_config_default();
    cfg.max_depth = 2;
    cfg.split = DC_SPLIT_OBLIQUE;
    cfg.refine = 20;
    cfg.lambda = 1e-4;
    cfg.max_iter = 500;
    dc_tree t;
    if (dc_tree_fit(&t, X, y, n, F, C, &cfg, &err) != DC_OK) {
        CHECK(0, "%s", err.msg);
    } else {
        const double ftr = fidelity_of(&t, X, y, n), fte = fidelity_of(&t, Xt, yt, nt);
        const dc_tree_split_stats ss = dc_tree_split_summary(&t);
        printf("  oblique, depth 2: train fidelity %.4f, test %.4f; %d oblique splits, %.1f terms each\n", ftr, fte,
               ss.oblique, ss.nonzero_mean);
        CHECK(ftr == 1.0 && fte == 1.0, "oblique depth 2: fidelity 1.0 on training and fresh inputs (got %.4f, %.4f)",
              ftr, fte);
        CHECK(ss.oblique >= 2, "both hyperplanes are oblique splits (got %d)", ss.oblique);
        // the root is x0 + x1 <= 1 up to scale: its terms are about (1, 1) on features 0, 1
        const dc_tree_node *root = &t.nodes[0];
        bool shape = root->feature == DC_TREE_OBLIQUE && root->w_n >= 2;
        double w0 = 0, w1 = 0, rest = 0;
        for (int k = 0; shape && k < root->w_n; k++) {
            const int j = t.w_feature[root->w_off + k];
            const double w = t.w_value[root->w_off + k];
            if (j == 0) w0 = w;
            else if (j == 1) w1 = w;
            else rest = fmax(rest, fabs(w));
        }
        shape = shape && w0 > 0 && fabs(w1 / w0 - 1) < 0.2 && rest < 0.1 * w0 && fabs(root->bias / w0 + 1) < 0.1;
        CHECK(shape, "root hyperplane x0 + x1 - 1 up to scale (got %d terms, w0 %g, w1 %g, largest other %g, bias %g)",
              root->w_n, w0, w1, rest, root->bias);
        dc_tree_free(&t);
    }
    // axis-aligned trees of depth 2 (CART + axis TAO) and even depth 6 cannot
    const int depths[2] = {2, 6};
    for (int q = 0; q < 2; q++) {
        dc_tree_config ac = dc_tree_config_default();
        ac.max_depth = depths[q];
        ac.refine = 20;
        if (dc_tree_fit(&t, X, y, n, F, C, &ac, &err) != DC_OK) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        const double ftr = fidelity_of(&t, X, y, n), fte = fidelity_of(&t, Xt, yt, nt);
        printf("  axis-aligned, depth %d (+ TAO): train fidelity %.4f, test %.4f\n", depths[q], ftr, fte);
        CHECK(fte < (q == 0 ? 0.9 : 0.99), "axis-aligned depth %d: test fidelity %.4f stays below %.2f", depths[q],
              fte, q == 0 ? 0.9 : 0.99);
        dc_tree_free(&t);
    }
    free(X), free(Xt), free(y), free(yt);
}

// ---------------------------------------------------------------------------
// No pass lowers the training fidelity; thread counts agree

// A 4-class labelling no depth-4 tree fits: the argmax of 4 random linear
// functions of 10 features, with 5% of the labels replaced at random.
static void messy_problem(float *X, int32_t *y, int n, int F, dc_rng *r) {
    double A[4][10];
    for (int c = 0; c < 4; c++)
        for (int j = 0; j < 10; j++) A[c][j] = 2 * dc_rng_uniform(r) - 1;
    for (int i = 0; i < n; i++) {
        float *x = X + (size_t)i * F;
        for (int j = 0; j < F; j++) x[j] = dc_rng_uniform(r);
        int best = 0;
        double bv = -INFINITY;
        for (int c = 0; c < 4; c++) {
            double s = 0;
            for (int j = 0; j < 10 && j < F; j++) s += A[c][j] * (x[j] - 0.5);
            if (s > bv) bv = s, best = c;
        }
        y[i] = dc_rng_uniform(r) < 0.05f ? (int32_t)dc_rng_below(r, 4) : best;
    }
}

static bool same_tree(const dc_tree *a, const dc_tree *b) {
    if (a->n_nodes != b->n_nodes || a->n_weights != b->n_weights) return false;
    for (int q = 0; q < a->n_nodes; q++) {
        const dc_tree_node *u = &a->nodes[q], *v = &b->nodes[q];
        if (u->feature != v->feature || u->threshold != v->threshold || u->w_off != v->w_off || u->w_n != v->w_n ||
            u->bias != v->bias || u->left != v->left || u->right != v->right || u->n != v->n || u->klass != v->klass)
            return false;
    }
    return (a->n_weights == 0 || (!memcmp(a->w_feature, b->w_feature, sizeof(int32_t) * (size_t)a->n_weights) &&
                                  !memcmp(a->w_value, b->w_value, sizeof(double) * (size_t)a->n_weights))) &&
           !memcmp(a->counts, b->counts, sizeof(int32_t) * (size_t)a->n_nodes * a->n_classes);
}

static void passes_and_threads(void) {
    printf("oblique TAO: no pass lowers the training fidelity; 1, 2 and 3 threads agree\n");
    const int n = 4000, F = 10, C = 4, min_leaf = 5;
    dc_rng r;
    dc_rng_seed(&r, 5);
    float *X = malloc(sizeof(float) * (size_t)n * F);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    messy_problem(X, y, n, F, &r);
    dc_error err;
    dc_tree_config cfg = dc_tree_config_default();
    cfg.max_depth = 4;
    cfg.min_leaf = min_leaf;
    cfg.nthreads = 1;
    dc_tree t;
    if (dc_tree_fit(&t, X, y, n, F, C, &cfg, &err) != DC_OK) {
        CHECK(0, "%s", err.msg);
        free(X), free(y);
        return;
    }
    double prev = fidelity_of(&t, X, y, n);
    const double cart = prev;
    printf("  CART (depth 4, Gini): training fidelity %.4f\n", cart);
    bool monotone = true;
    int changed_total = 0;
    for (int pass = 0; pass < 8; pass++) {
        int ran = 0;
        if (dc_tree_refine_oblique(&t, X, y, n, 1, min_leaf, 0.01, 300, 1, &ran, &err) != DC_OK) {
            CHECK(0, "%s", err.msg);
            break;
        }
        const double f = fidelity_of(&t, X, y, n);
        printf("  pass %d: training fidelity %.4f%s\n", pass + 1, f, ran ? "" : " (nothing changed)");
        monotone = monotone && f >= prev;
        changed_total += ran;
        prev = f;
    }
    CHECK(monotone, "the training fidelity never falls from one pass to the next");
    CHECK(prev > cart + 0.02 && changed_total > 0, "oblique TAO raises CART's %.4f (to %.4f)", cart, prev);
    bool leaves_ok = true;
    for (int q = 0; q < t.n_nodes; q++)
        if (t.nodes[q].feature == DC_TREE_LEAF) leaves_ok = leaves_ok && t.nodes[q].n >= min_leaf;
    CHECK(leaves_ok, "every leaf keeps min-leaf %d samples", min_leaf);
    dc_tree_free(&t);
    // the whole fit, at 1, 2 and 3 threads
    cfg.split = DC_SPLIT_OBLIQUE;
    cfg.refine = 4;
    dc_tree tt[3];
    bool fitted = true;
    for (int k = 0; k < 3; k++) {
        cfg.nthreads = k + 1;
        fitted = fitted && dc_tree_fit(&tt[k], X, y, n, F, C, &cfg, &err) == DC_OK;
    }
    CHECK(fitted, "%s", err.msg);
    if (fitted) {
        CHECK(dc_tree_split_summary(&tt[0]).oblique > 0, "the fit has oblique splits");
        CHECK(same_tree(&tt[0], &tt[1]) && same_tree(&tt[0], &tt[2]),
              "the same tree, bit for bit, from 1, 2 and 3 threads");
        for (int k = 0; k < 3; k++) dc_tree_free(&tt[k]);
    }
    free(X), free(y);
}

// ---------------------------------------------------------------------------
// The binary L1 logistic fit

static void logistic_fit(void) {
    printf("binary L1 logistic fit: KKT conditions; a weight of 2 is a repeated sample\n");
    const int n = 600, F = 5;
    const double lambda = 0.02;
    dc_rng r;
    dc_rng_seed(&r, 9);
    float *Z = malloc(sizeof(float) * (size_t)(n + 1) * F);
    int8_t *t = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < F; j++) {
            Z[(size_t)i * F + j] = 2 * dc_rng_uniform(&r) - 1;
            s += (j == 0 ? 2.0 : j == 1 ? -1.0 : 0.0) * Z[(size_t)i * F + j];
        }
        t[i] = s + 0.3 * (2 * dc_rng_uniform(&r) - 1) > 0;
    }
    double w[5] = {0}, b = 0;
    dc_error err;
    int iters = 0;
    CHECK(dc_logistic_fit(w, &b, Z, t, NULL, n, F, lambda, 20000, 1e-10, 2, &iters, &err) == DC_OK, "%s", err.msg);
    // gradient of the smooth part by central differences
    const double h = 1e-5;
    double worst = 0;
    int zeros = 0;
    for (int j = 0; j <= F; j++) {
        double wp[5], wm[5], bp = b, bm = b;
        memcpy(wp, w, sizeof w);
        memcpy(wm, w, sizeof w);
        if (j < F) wp[j] += h, wm[j] -= h;
        else bp += h, bm -= h;
        const double g = (dc_logistic_objective(wp, bp, Z, t, NULL, n, F, 0) -
                          dc_logistic_objective(wm, bm, Z, t, NULL, n, F, 0)) / (2 * h);
        double v; // the KKT violation of coordinate j
        if (j == F) v = fabs(g);                                  // b: unpenalised
        else if (w[j] == 0) v = fmax(0, fabs(g) - lambda), zeros++; // |g| <= lambda
        else v = fabs(g + lambda * (w[j] > 0 ? 1 : -1));          // g = -lambda sign(w)
        worst = fmax(worst, v);
    }
    printf("  %d iterations, w = (%.3f %.3f %.3f %.3f %.3f), b %.3f, largest KKT violation %.2e\n", iters, w[0], w[1],
           w[2], w[3], w[4], b, worst);
    CHECK(worst < 1e-4, "KKT within 1e-4 (got %.2e)", worst);
    CHECK(w[0] > 0 && w[1] < 0 && zeros >= 1, "the informative signs, and L1 zeros some noise weight (%d zeros)", zeros);
    // sample 0 with weight 2 == sample 0 listed twice
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) v[i] = i == 0 ? 2.0f : 1.0f;
    memcpy(Z + (size_t)n * F, Z, sizeof(float) * (size_t)F);
    t[n] = t[0];
    double wa[5] = {0}, ba = 0, wb[5] = {0}, bb = 0;
    CHECK(dc_logistic_fit(wa, &ba, Z, t, v, n, F, lambda, 20000, 1e-10, 1, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(dc_logistic_fit(wb, &bb, Z, t, NULL, n + 1, F, lambda, 20000, 1e-10, 1, NULL, &err) == DC_OK, "%s",
          err.msg);
    double d = fabs(ba - bb);
    for (int j = 0; j < F; j++) d = fmax(d, fabs(wa[j] - wb[j]));
    const double oa = dc_logistic_objective(wa, ba, Z, t, v, n, F, lambda),
                 ob = dc_logistic_objective(wb, bb, Z, t, NULL, n + 1, F, lambda);
    CHECK(d < 1e-6 && fabs(oa - ob) < 1e-12, "the same solution (max difference %.2e) and objective (%.17g, %.17g)", d,
          oa, ob);
    int8_t bad = 2;
    CHECK(dc_logistic_fit(wa, &ba, Z, &bad, NULL, 1, F, lambda, 10, 1e-6, 1, NULL, &err) == DC_ERR_ARG &&
              strstr(err.msg, "not 0 or 1"),
          "a label other than 0 or 1 is refused");
    free(Z), free(t), free(v);
}

int main(void) {
    recovers_oblique_network();
    passes_and_threads();
    logistic_fit();
    return dc_test_finish();
}
