// tree.c — CART classification trees: Gini splits over presorted features,
// depth and leaf-size limits, minimal cost-complexity pruning (contract in
// surrogate.h).
//
// Fitting keeps, for every feature f, the sample indices sorted by
// (x[f], index) in ord[f] (F, N). A node owns the same range [lo, hi) of
// every ord[f]; scanning that range in order evaluates every threshold of f
// with running class counts in O(node size), and a split partitions every
// feature's range stably into left then right, so the sorted order survives
// without sorting again: O(F N) per tree level in all. The best split
// maximises, for Gini, sum_children (sum_c n_c^2) / n_child, which is
// minimising the children's size-weighted Gini impurity, and for entropy
// sum_children (sum_c n_c ln n_c - n_child ln n_child), which is minimising
// their size-weighted entropy (n ln n from a table, summed in class order).
// Either score is a function of the integer counts alone, so the threads
// (one feature each) never change the tree.
//
// Tree alternating optimisation (tao, at the end) re-chooses one split at a
// time with the rest of the tree fixed, deepest nodes first. Its oblique
// kind adds one candidate per node, a sparse hyperplane from an L1 logistic
// fit (linear.c) with its bias moved to the best cut along w.x; both kinds
// take a new split only when it sends strictly fewer care points the wrong
// way. A hyperplane's terms live in the tree's term arrays (two slots of F
// per node while refining: the current one and a candidate), compacted to
// node order at the end; dc_tree_goes_left sums them in double, in order.
//
// Legend: N samples, F features, C classes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "surrogate/surrogate.h"

#ifdef _OPENMP
#include <omp.h>
#endif

dc_tree_config dc_tree_config_default(void) {
    return (dc_tree_config){.criterion = DC_TREE_GINI, .max_depth = 0, .min_leaf = 1, .min_split = 2, .ccp_alpha = 0.0, .refine = 0,
                            .split = DC_SPLIT_AXIS, .lambda = 0.03, .max_iter = 300, .nthreads = 0};
}

void dc_tree_free(dc_tree *t) {
    if (!t) return;
    free(t->nodes);
    free(t->counts);
    free(t->w_feature);
    free(t->w_value);
    memset(t, 0, sizeof *t);
}

bool dc_tree_goes_left(const dc_tree *t, int q, const float *x) {
    const dc_tree_node *d = &t->nodes[q];
    if (d->feature != DC_TREE_OBLIQUE) return x[d->feature] <= d->threshold;
    const int32_t *f = t->w_feature + d->w_off;
    const double *w = t->w_value + d->w_off;
    double s = 0.0;
    for (int k = 0; k < d->w_n; k++) s += w[k] * x[f[k]];
    return s + d->bias <= 0.0;
}

dc_tree_split_stats dc_tree_split_summary(const dc_tree *t) {
    dc_tree_split_stats r = {0, 0, 0.0, 0};
    long total = 0;
    for (int q = 0; q < t->n_nodes; q++) {
        const dc_tree_node *d = &t->nodes[q];
        if (d->feature == DC_TREE_OBLIQUE) {
            r.oblique++;
            total += d->w_n;
            if (d->w_n > r.nonzero_max) r.nonzero_max = d->w_n;
        } else if (d->feature != DC_TREE_LEAF) {
            r.axis++;
        }
    }
    r.nonzero_mean = r.oblique ? (double)total / r.oblique : 0.0;
    return r;
}

// Rewrites the term arrays to hold exactly the terms of the oblique nodes,
// in node order (refinement and pruning leave unused terms behind).
static dc_status compact_weights(dc_tree *t, dc_error *err) {
    int total = 0;
    for (int q = 0; q < t->n_nodes; q++)
        if (t->nodes[q].feature == DC_TREE_OBLIQUE) total += t->nodes[q].w_n;
    int32_t *f = total ? malloc(sizeof(int32_t) * (size_t)total) : NULL;
    double *w = total ? malloc(sizeof(double) * (size_t)total) : NULL;
    if (total && (!f || !w)) {
        free(f), free(w);
        return dc_fail(err, DC_ERR_NOMEM, "tree: out of memory for %d oblique terms", total);
    }
    int at = 0;
    for (int q = 0; q < t->n_nodes; q++) {
        dc_tree_node *d = &t->nodes[q];
        if (d->feature != DC_TREE_OBLIQUE) {
            d->w_off = d->w_n = 0;
            continue;
        }
        memcpy(f + at, t->w_feature + d->w_off, sizeof(int32_t) * (size_t)d->w_n);
        memcpy(w + at, t->w_value + d->w_off, sizeof(double) * (size_t)d->w_n);
        d->w_off = at;
        at += d->w_n;
    }
    free(t->w_feature);
    free(t->w_value);
    t->w_feature = f;
    t->w_value = w;
    t->n_weights = total;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Presorting

typedef struct fpair {
    float v;
    int32_t i;
} fpair;

static int cmp_fpair(const void *a, const void *b) {
    const fpair *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

// ---------------------------------------------------------------------------
// Growing

typedef struct split_best {
    double score;  // sum_children sum_c n_c^2 / n_child (larger is better)
    int pos;       // last position (in the node's range) that goes left; -1: none
} split_best;

typedef struct work_item {
    int lo, hi, depth, parent;
    bool left;     // which child of parent
} work_item;

static dc_status grow(dc_tree *t, int *cap) {
    if (t->n_nodes < *cap) return DC_OK;
    int nc = *cap ? *cap * 2 : 64;
    dc_tree_node *nn = realloc(t->nodes, sizeof(dc_tree_node) * (size_t)nc);
    if (!nn) return DC_ERR_NOMEM;
    t->nodes = nn;
    int32_t *cc = realloc(t->counts, sizeof(int32_t) * (size_t)nc * t->n_classes);
    if (!cc) return DC_ERR_NOMEM;
    t->counts = cc;
    *cap = nc;
    return DC_OK;
}

static double gini_of(const int32_t *cnt, int C, int n) {
    double s = 0.0;
    for (int c = 0; c < C; c++) s += (double)cnt[c] * cnt[c];
    return n > 0 ? 1.0 - s / ((double)n * n) : 0.0;
}

static int argmax_i32(const int32_t *v, int C) {
    int b = 0;
    for (int c = 1; c < C; c++)
        if (v[c] > v[b]) b = c;
    return b;
}

// The best threshold of feature f over ord_f[lo, hi), given the node's class
// counts; left and right (C) are scratch. nlogn (N+1) is k ln k for the
// entropy criterion, NULL for Gini.
static split_best best_for_feature(const float *X, const int32_t *y, const int32_t *ord_f, int f, int F, int C,
                                   int lo, int hi, const int32_t *node_cnt, int min_leaf, int64_t *left,
                                   int64_t *right, const double *nlogn) {
    split_best b = {-INFINITY, -1};
    const int n = hi - lo;
    int64_t lsq = 0, rsq = 0;
    for (int c = 0; c < C; c++) {
        left[c] = 0;
        right[c] = node_cnt[c];
        rsq += (int64_t)node_cnt[c] * node_cnt[c];
    }
    for (int p = lo; p < hi - 1; p++) {
        const int i = ord_f[p], c = y[i];
        lsq += 2 * left[c] + 1;
        left[c]++;
        rsq -= 2 * right[c] - 1;
        right[c]--;
        const int nl = p - lo + 1, nr = n - nl;
        if (nl < min_leaf) continue;
        if (nr < min_leaf) break;
        const float a = X[(size_t)i * F + f], bnext = X[(size_t)ord_f[p + 1] * F + f];
        if (!(a < bnext)) continue; // no threshold between equal values
        double score;
        if (nlogn) {
            double el = 0.0, er = 0.0;
            for (int k = 0; k < C; k++) {
                el += nlogn[left[k]];
                er += nlogn[right[k]];
            }
            score = (el - nlogn[nl]) + (er - nlogn[nr]);
        } else {
            score = (double)lsq / nl + (double)rsq / nr;
        }
        if (score > b.score) {
            b.score = score;
            b.pos = p;
        }
    }
    return b;
}

dc_status dc_tree_fit(dc_tree *t, const float *X, const int32_t *y, int n, int F, int C,
                      const dc_tree_config *cfg, dc_error *err) {
    memset(t, 0, sizeof *t);
    const dc_tree_config def = dc_tree_config_default();
    if (!cfg) cfg = &def;
    if (n < 1 || F < 1 || C < 1)
        return dc_fail(err, DC_ERR_ARG, "tree: need samples, features and classes (got %d, %d, %d)", n, F, C);
    if (cfg->min_leaf < 1 || cfg->min_split < 2 || !(cfg->ccp_alpha >= 0) || !isfinite(cfg->ccp_alpha) ||
        cfg->refine < 0 || (cfg->criterion != DC_TREE_GINI && cfg->criterion != DC_TREE_ENTROPY))
        return dc_fail(err, DC_ERR_ARG,
                       "tree: min-leaf %d must be >= 1, min-split %d >= 2, ccp-alpha %g >= 0, refine %d >= 0",
                       cfg->min_leaf, cfg->min_split, cfg->ccp_alpha, cfg->refine);
    if ((cfg->split != DC_SPLIT_AXIS && cfg->split != DC_SPLIT_OBLIQUE) ||
        (cfg->split == DC_SPLIT_OBLIQUE && (!(cfg->lambda >= 0) || !isfinite(cfg->lambda) || cfg->max_iter < 1)))
        return dc_fail(err, DC_ERR_ARG, "tree: oblique splits need lambda %g >= 0 and max-iter %d >= 1", cfg->lambda,
                       cfg->max_iter);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C) return dc_fail(err, DC_ERR_ARG, "tree: sample %d has class %d outside [0, %d)", i, y[i], C);
    for (size_t q = 0; q < (size_t)n * F; q++)
        if (!isfinite(X[q]))
            return dc_fail(err, DC_ERR_ARG, "tree: feature %zu of sample %zu is not finite", q % F, q / F);
    const int nthreads = cfg->nthreads > 0 ? cfg->nthreads : dc_default_threads();
    t->n_classes = C;
    t->n_features = F;
    int32_t *ord = malloc(sizeof(int32_t) * (size_t)F * n);
    uint8_t *goes_left = malloc((size_t)n);
    int32_t *tmp = malloc(sizeof(int32_t) * (size_t)n * nthreads);
    int64_t *cnt_scratch = malloc(sizeof(int64_t) * 2 * (size_t)C * nthreads);
    fpair *pairs = malloc(sizeof(fpair) * (size_t)n * nthreads);
    split_best *best = malloc(sizeof(split_best) * (size_t)F);
    work_item *stack = malloc(sizeof(work_item) * ((size_t)n + 1));
    double *nlogn = cfg->criterion == DC_TREE_ENTROPY ? malloc(sizeof(double) * ((size_t)n + 1)) : NULL;
    int cap = 0;
    dc_status st = DC_OK;
    if (!ord || !goes_left || !tmp || !cnt_scratch || !pairs || !best || !stack ||
        (cfg->criterion == DC_TREE_ENTROPY && !nlogn)) {
        st = dc_fail(err, DC_ERR_NOMEM, "tree: out of memory for %d samples x %d features", n, F);
        goto done;
    }
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
    for (int f = 0; f < F; f++) {
#ifdef _OPENMP
        fpair *pr = pairs + (size_t)n * omp_get_thread_num();
#else
        fpair *pr = pairs;
#endif
        for (int i = 0; i < n; i++) pr[i] = (fpair){X[(size_t)i * F + f], i};
        qsort(pr, (size_t)n, sizeof *pr, cmp_fpair);
        int32_t *o = ord + (size_t)f * n;
        for (int i = 0; i < n; i++) o[i] = pr[i].i;
    }
    free(pairs);
    pairs = NULL;
    if (nlogn) {
        nlogn[0] = 0.0;
        for (int k = 1; k <= n; k++) nlogn[k] = k * log((double)k);
    }

    int sp = 0;
    stack[sp++] = (work_item){0, n, 0, -1, false};
    while (sp > 0) {
        work_item wi = stack[--sp];
        if (grow(t, &cap)) {
            st = dc_fail(err, DC_ERR_NOMEM, "tree: out of memory for %d nodes", t->n_nodes);
            goto done;
        }
        const int id = t->n_nodes++;
        dc_tree_node *nd = &t->nodes[id];
        int32_t *cnt = t->counts + (size_t)id * C;
        memset(cnt, 0, sizeof(int32_t) * (size_t)C);
        for (int p = wi.lo; p < wi.hi; p++) cnt[y[ord[p]]]++;
        const int nn = wi.hi - wi.lo;
        *nd = (dc_tree_node){.feature = DC_TREE_LEAF, .threshold = 0.0f, .left = -1, .right = -1, .depth = wi.depth,
                             .n = nn, .klass = argmax_i32(cnt, C), .impurity = gini_of(cnt, C, nn)};
        if (wi.parent >= 0) {
            if (wi.left) t->nodes[wi.parent].left = id;
            else t->nodes[wi.parent].right = id;
        }
        const bool pure = cnt[nd->klass] == nn;
        if (pure || nn < cfg->min_split || nn < 2 * cfg->min_leaf ||
            (cfg->max_depth > 0 && wi.depth >= cfg->max_depth))
            continue;
        const int lo = wi.lo, hi = wi.hi;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
        for (int f = 0; f < F; f++) {
#ifdef _OPENMP
            int64_t *sc = cnt_scratch + 2 * (size_t)C * omp_get_thread_num();
#else
            int64_t *sc = cnt_scratch;
#endif
            best[f] = best_for_feature(X, y, ord + (size_t)f * n, f, F, C, lo, hi, cnt, cfg->min_leaf, sc, sc + C,
                                       nlogn);
        }
        int bf = -1;
        for (int f = 0; f < F; f++)
            if (best[f].pos >= 0 && (bf < 0 || best[f].score > best[bf].score)) bf = f;
        if (bf < 0) continue; // every feature constant here (or the leaf limits forbid every cut)
        const int32_t *ob = ord + (size_t)bf * n;
        const int p = best[bf].pos;
        const float a = X[(size_t)ob[p] * F + bf], b = X[(size_t)ob[p + 1] * F + bf];
        float thr = (float)(((double)a + (double)b) / 2.0);
        if (!(thr < b)) thr = a; // a and b adjacent floats: the midpoint rounds to b
        nd->feature = bf;
        nd->threshold = thr;
        for (int q = lo; q < hi; q++) goes_left[ob[q]] = q <= p;
        const int nl = p - lo + 1;
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int f = 0; f < F; f++) {
#ifdef _OPENMP
            int32_t *tb = tmp + (size_t)n * omp_get_thread_num();
#else
            int32_t *tb = tmp;
#endif
            int32_t *o = ord + (size_t)f * n;
            int l = 0, r = nl;
            for (int q = lo; q < hi; q++) {
                const int32_t i = o[q];
                tb[goes_left[i] ? l++ : r++] = i;
            }
            memcpy(o + lo, tb, sizeof(int32_t) * (size_t)(hi - lo));
        }
        // right pushed first: the left subtree is numbered next (preorder)
        stack[sp++] = (work_item){lo + nl, hi, wi.depth + 1, id, false};
        stack[sp++] = (work_item){lo, lo + nl, wi.depth + 1, id, true};
    }
    t->n_leaves = 0;
    t->depth = 0;
    for (int i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].feature == DC_TREE_LEAF) {
            t->n_leaves++;
            if (t->nodes[i].depth > t->depth) t->depth = t->nodes[i].depth;
        }
    if (cfg->refine > 0 && cfg->split == DC_SPLIT_OBLIQUE)
        st = dc_tree_refine_oblique(t, X, y, n, cfg->refine, cfg->min_leaf, cfg->lambda, cfg->max_iter, nthreads, NULL,
                                    err);
    else if (cfg->refine > 0)
        st = dc_tree_refine(t, X, y, n, cfg->refine, cfg->min_leaf, nthreads, NULL, err);
    if (!st && cfg->ccp_alpha > 0) st = dc_tree_prune(t, cfg->ccp_alpha, err);
done:
    free(ord);
    free(goes_left);
    free(tmp);
    free(cnt_scratch);
    free(pairs);
    free(best);
    free(stack);
    free(nlogn);
    if (st) dc_tree_free(t);
    return st;
}

// ---------------------------------------------------------------------------
// Pruning (scikit-learn's _cost_complexity_prune): R(t) = n_t / N * gini(t);
// the weakest link is the internal node with the smallest
// (R(t) - R(T_t)) / (leaves(T_t) - 1); it becomes a leaf while that value is
// <= ccp_alpha. In preorder a subtree is a contiguous range of nodes.

dc_status dc_tree_prune(dc_tree *t, double ccp_alpha, dc_error *err) {
    const int nn = t->n_nodes, C = t->n_classes;
    if (ccp_alpha <= 0 || nn <= 1) return DC_OK;
    double *r_node = malloc(sizeof(double) * (size_t)nn), *r_branch = malloc(sizeof(double) * (size_t)nn);
    int *leaves = malloc(sizeof(int) * (size_t)nn), *parent = malloc(sizeof(int) * (size_t)nn);
    int *size = malloc(sizeof(int) * (size_t)nn), *map = malloc(sizeof(int) * (size_t)nn);
    bool *leaf = malloc(sizeof(bool) * (size_t)nn), *alive = malloc(sizeof(bool) * (size_t)nn);
    dc_tree_node *nodes = malloc(sizeof(dc_tree_node) * (size_t)nn);
    int32_t *counts = malloc(sizeof(int32_t) * (size_t)nn * C);
    dc_status st = DC_OK;
    if (!r_node || !r_branch || !leaves || !parent || !size || !map || !leaf || !alive || !nodes || !counts) {
        st = dc_fail(err, DC_ERR_NOMEM, "tree: out of memory pruning %d nodes", nn);
        goto done;
    }
    const double N = t->nodes[0].n;
    for (int i = 0; i < nn; i++) parent[i] = -1;
    for (int i = 0; i < nn; i++) {
        const dc_tree_node *d = &t->nodes[i];
        r_node[i] = d->n / N * d->impurity;
        leaf[i] = d->feature == DC_TREE_LEAF;
        alive[i] = true;
        if (!leaf[i]) parent[d->left] = parent[d->right] = i;
    }
    for (int i = nn - 1; i >= 0; i--) { // children come after their parent
        const dc_tree_node *d = &t->nodes[i];
        if (leaf[i]) {
            r_branch[i] = r_node[i];
            leaves[i] = 1;
            size[i] = 1;
        } else {
            r_branch[i] = r_branch[d->left] + r_branch[d->right];
            leaves[i] = leaves[d->left] + leaves[d->right];
            size[i] = 1 + size[d->left] + size[d->right];
        }
    }
    for (;;) {
        int weakest = -1;
        double amin = INFINITY;
        for (int i = 0; i < nn; i++) {
            if (!alive[i] || leaf[i]) continue;
            const double a = (r_node[i] - r_branch[i]) / (leaves[i] - 1);
            if (a < amin) {
                amin = a;
                weakest = i;
            }
        }
        if (weakest < 0 || amin > ccp_alpha) break;
        const double dr = r_node[weakest] - r_branch[weakest];
        const int dl = leaves[weakest] - 1;
        for (int i = weakest + 1; i < weakest + size[weakest]; i++) alive[i] = false;
        leaf[weakest] = true;
        r_branch[weakest] = r_node[weakest];
        leaves[weakest] = 1;
        for (int a = parent[weakest]; a >= 0; a = parent[a]) {
            r_branch[a] += dr;
            leaves[a] -= dl;
        }
    }
    // compact: alive nodes keep their preorder
    int m = 0;
    for (int i = 0; i < nn; i++) map[i] = alive[i] ? m++ : -1;
    m = 0;
    t->n_leaves = 0;
    t->depth = 0;
    for (int i = 0; i < nn; i++) {
        if (!alive[i]) continue;
        dc_tree_node d = t->nodes[i];
        if (leaf[i]) {
            d.feature = DC_TREE_LEAF;
            d.threshold = 0.0f;
            d.w_off = d.w_n = 0;
            d.bias = 0.0;
            d.left = d.right = -1;
            t->n_leaves++;
            if (d.depth > t->depth) t->depth = d.depth;
        } else {
            d.left = map[d.left];
            d.right = map[d.right];
        }
        nodes[m] = d;
        memcpy(counts + (size_t)m * C, t->counts + (size_t)i * C, sizeof(int32_t) * (size_t)C);
        m++;
    }
    free(t->nodes);
    free(t->counts);
    t->nodes = nodes;
    t->counts = counts;
    t->n_nodes = m;
    nodes = NULL;
    counts = NULL;
    st = compact_weights(t, err);
done:
    free(r_node);
    free(r_branch);
    free(leaves);
    free(parent);
    free(size);
    free(map);
    free(leaf);
    free(alive);
    free(nodes);
    free(counts);
    return st;
}

// ---------------------------------------------------------------------------
// Tree alternating optimisation (see surrogate.h)

typedef struct care_pt {
    double v;      // the feature's value, or the projection w.x of an oblique candidate
    int8_t right;  // 1: only the right subtree classifies it correctly
    int32_t i;     // sample (ties in v broken by it: a total order)
} care_pt;

static int cmp_care(const void *a, const void *b) {
    const care_pt *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

// The best cut of mc care points sorted by v, n_left_target of which want
// the left child: the fewest points sent the wrong way when those with
// v <= pf[*pos].v go left (a cut only between two distinct values, so never
// all on one side); *pos -1 when every v is equal. Returns the errors.
static int best_cut(const care_pt *pf, int mc, int n_left_target, int *pos) {
    // a cut below everything: all go right, the left targets are wrong
    int e = n_left_target, best = 1 << 30;
    *pos = -1;
    for (int p = 0; p + 1 < mc; p++) {
        e += pf[p].right ? 1 : -1; // pf[p] now goes left
        if (!(pf[p].v < pf[p + 1].v)) continue;
        if (e < best) {
            best = e;
            *pos = p;
        }
    }
    return best;
}

// The class the subtree at node i gives x.
static int predict_from(const dc_tree *t, int i, const float *x) {
    while (t->nodes[i].feature != DC_TREE_LEAF) i = dc_tree_goes_left(t, i, x) ? t->nodes[i].left : t->nodes[i].right;
    return t->nodes[i].klass;
}

static int leaf_from(const dc_tree *t, int i, const float *x) {
    while (t->nodes[i].feature != DC_TREE_LEAF) i = dc_tree_goes_left(t, i, x) ? t->nodes[i].left : t->nodes[i].right;
    return i;
}

typedef struct split_cand {
    int errors, feature;
    float threshold;
} split_cand;

static int cmp_cand(const void *a, const void *b) {
    const split_cand *x = a, *y = b;
    if (x->errors != y->errors) return (x->errors > y->errors) - (x->errors < y->errors);
    return (x->feature > y->feature) - (x->feature < y->feature);
}

// Routes every sample from the root: reach (n) holds the samples grouped by
// node, node q's at reach[start[q] .. start[q+1]). Recomputes n, counts,
// impurity and class of every node (leaves: the majority of their samples;
// a node no sample reaches keeps its class).
static void route_all(dc_tree *t, const float *X, const int32_t *y, int n, int *start, int32_t *reach, int *fill) {
    const int nn = t->n_nodes, C = t->n_classes, F = t->n_features;
    memset(t->counts, 0, sizeof(int32_t) * (size_t)nn * C);
    for (int q = 0; q <= nn; q++) start[q] = 0;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * F;
        int q = 0;
        for (;;) {
            start[q + 1]++;
            t->counts[(size_t)q * C + y[i]]++;
            if (t->nodes[q].feature == DC_TREE_LEAF) break;
            q = dc_tree_goes_left(t, q, x) ? t->nodes[q].left : t->nodes[q].right;
        }
    }
    for (int q = 0; q < nn; q++) start[q + 1] += start[q];
    memcpy(fill, start, sizeof(int) * (size_t)nn);
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * F;
        int q = 0;
        for (;;) {
            reach[fill[q]++] = i;
            if (t->nodes[q].feature == DC_TREE_LEAF) break;
            q = dc_tree_goes_left(t, q, x) ? t->nodes[q].left : t->nodes[q].right;
        }
    }
    for (int q = 0; q < nn; q++) {
        dc_tree_node *d = &t->nodes[q];
        const int32_t *cnt = t->counts + (size_t)q * C;
        d->n = start[q + 1] - start[q];
        d->impurity = gini_of(cnt, C, d->n);
        if (d->n > 0) d->klass = argmax_i32(cnt, C);
    }
}

// Every leaf of the subtree at q keeps at least min_leaf of the m samples S
// that reach q. leafn (n_nodes) is zero on entry and on return; stk is
// (n_nodes + 1) scratch.
static bool leaves_keep(const dc_tree *t, int q, const int32_t *S, int m, const float *X, int min_leaf, int *leafn,
                        int *stk) {
    const int F = t->n_features;
    bool ok = true;
    for (int k = 0; k < m; k++) leafn[leaf_from(t, q, X + (size_t)S[k] * F)]++;
    int sp = 0;
    stk[sp++] = q;
    while (sp > 0 && ok) {
        const int u = stk[--sp];
        if (t->nodes[u].feature == DC_TREE_LEAF) {
            ok = leafn[u] >= min_leaf;
        } else {
            stk[sp++] = t->nodes[u].left;
            stk[sp++] = t->nodes[u].right;
        }
    }
    for (int k = 0; k < m; k++) leafn[leaf_from(t, q, X + (size_t)S[k] * F)] = 0;
    return ok;
}

// An oblique candidate of one node: its terms (in the original units) in
// the node's spare slot of the term arrays, the bias, and its care errors.
typedef struct obl_cand {
    int errors;    // 1 << 30: none
    int w_off, w_n;
    double bias;
} obl_cand;

// The scratch of the oblique step, sized for n samples and F features.
typedef struct obl_work {
    float *Z;      // (n, F) the care points' features, standardised in place
    int8_t *tc;    // (n) their target (1: right)
    float *mu, *sd; // (F)
    double *w;     // (F) weights on the standardised features
    care_pt *proj; // (n) projections
} obl_work;

// Fits the hyperplane for node q over its care points (S[k] with target[k]
// >= 0, k < m) and places its bias at the best cut of w.x (see surrogate.h).
static dc_status oblique_candidate(dc_tree *t, int q, const float *X, const int32_t *S, const int8_t *target, int m,
                                   double lambda, int max_iter, int nthreads, obl_work *wk, obl_cand *out,
                                   dc_error *err) {
    const int F = t->n_features;
    const dc_tree_node *d = &t->nodes[q];
    out->errors = 1 << 30;
    int mc = 0, n_left_target = 0;
    for (int k = 0; k < m; k++) {
        if (target[k] < 0) continue;
        memcpy(wk->Z + (size_t)mc * F, X + (size_t)S[k] * F, sizeof(float) * (size_t)F);
        wk->tc[mc++] = target[k];
        n_left_target += target[k] == 0;
    }
    dc_surr_standardise(wk->Z, wk->mu, wk->sd, wk->Z, mc, F);
    // warm start from the node's hyperplane when it has one
    double b = 0.0;
    for (int j = 0; j < F; j++) wk->w[j] = 0.0;
    if (d->feature == DC_TREE_OBLIQUE) {
        b = d->bias;
        for (int k = 0; k < d->w_n; k++) {
            const int j = t->w_feature[d->w_off + k];
            wk->w[j] = t->w_value[d->w_off + k] * wk->sd[j];
            b += t->w_value[d->w_off + k] * wk->mu[j];
        }
    }
    dc_status st = dc_logistic_fit(wk->w, &b, wk->Z, wk->tc, NULL, mc, F, lambda, max_iter, 1e-4, nthreads, NULL, err);
    if (st) return st;
    // the terms in the original units, into the slot the node does not use
    const int slot0 = 2 * q * F, off = d->feature == DC_TREE_OBLIQUE && d->w_off == slot0 ? slot0 + F : slot0;
    int nw = 0;
    for (int j = 0; j < F; j++)
        if (wk->w[j] != 0.0) {
            t->w_feature[off + nw] = j;
            t->w_value[off + nw] = wk->w[j] / wk->sd[j];
            nw++;
        }
    if (nw == 0) return DC_OK; // lambda removed every weight: no hyperplane
    const int32_t *tf = t->w_feature + off;
    const double *tw = t->w_value + off;
    mc = 0;
    for (int k = 0; k < m; k++) {
        if (target[k] < 0) continue;
        const float *x = X + (size_t)S[k] * F;
        double s = 0.0; // summed as dc_tree_goes_left sums it
        for (int u = 0; u < nw; u++) s += tw[u] * x[tf[u]];
        wk->proj[mc++] = (care_pt){s, target[k], S[k]};
    }
    qsort(wk->proj, (size_t)mc, sizeof *wk->proj, cmp_care);
    int p;
    const int e = best_cut(wk->proj, mc, n_left_target, &p);
    if (p < 0) return DC_OK;
    const double a = wk->proj[p].v, bnext = wk->proj[p + 1].v;
    double thr = (a + bnext) / 2.0;
    if (!(thr < bnext)) thr = a;
    // s + (-thr) <= 0 exactly when s <= thr: the sign of a difference of doubles is exact
    *out = (obl_cand){e, off, nw, -thr};
    return DC_OK;
}

// One TAO implementation for both kinds: oblique adds the hyperplane
// candidate to the axis ones.
static dc_status tao(dc_tree *t, const float *X, const int32_t *y, int n, int passes, int min_leaf, bool oblique,
                     double lambda, int max_iter, int nthreads, int *passes_run, dc_error *err) {
    const int nn = t->n_nodes, F = t->n_features;
    if (passes_run) *passes_run = 0;
    t->passes_run = 0;
    if (nthreads <= 0) nthreads = dc_default_threads();
    if (min_leaf < 1) min_leaf = 1;
    int *start = malloc(sizeof(int) * ((size_t)nn + 1)), *fill = malloc(sizeof(int) * ((size_t)nn + 1));
    int32_t *reach = malloc(sizeof(int32_t) * (size_t)n * (t->depth + 1));
    int8_t *target = malloc((size_t)n); // per sample reaching the node: -1 don't care, 0 left, 1 right
    care_pt *pts = malloc(sizeof(care_pt) * (size_t)n * nthreads);
    split_cand *cand = malloc(sizeof(split_cand) * (size_t)F);
    int *leafn = calloc((size_t)nn, sizeof(int));
    int *level = malloc(sizeof(int) * (size_t)nn), *stk = malloc(sizeof(int) * ((size_t)nn + 1));
    obl_work wk = {0};
    int32_t *wf = NULL;
    double *wv = NULL;
    dc_status st = DC_OK;
    bool ok = start && fill && reach && target && pts && cand && leafn && level && stk;
    if (ok && oblique) {
        // two term slots of F per node: its current hyperplane and a candidate
        wf = malloc(sizeof(int32_t) * 2 * (size_t)nn * F);
        wv = malloc(sizeof(double) * 2 * (size_t)nn * F);
        wk = (obl_work){malloc(sizeof(float) * (size_t)n * F), malloc((size_t)n), malloc(sizeof(float) * (size_t)F),
                        malloc(sizeof(float) * (size_t)F), malloc(sizeof(double) * (size_t)F),
                        malloc(sizeof(care_pt) * (size_t)n)};
        ok = wf && wv && wk.Z && wk.tc && wk.mu && wk.sd && wk.w && wk.proj;
    }
    if (!ok) {
        st = dc_fail(err, DC_ERR_NOMEM, "tree: out of memory refining %d nodes over %d samples", nn, n);
        goto done;
    }
    if (oblique) {
        for (int q = 0; q < nn; q++) {
            dc_tree_node *d = &t->nodes[q];
            if (d->feature != DC_TREE_OBLIQUE) continue;
            memcpy(wf + (size_t)2 * q * F, t->w_feature + d->w_off, sizeof(int32_t) * (size_t)d->w_n);
            memcpy(wv + (size_t)2 * q * F, t->w_value + d->w_off, sizeof(double) * (size_t)d->w_n);
            d->w_off = 2 * q * F;
        }
        free(t->w_feature);
        free(t->w_value);
        t->w_feature = wf;
        t->w_value = wv;
        t->n_weights = 2 * nn * F;
        wf = NULL;
        wv = NULL;
    }
    // internal nodes, deepest first (a stable order: by depth, then index)
    int n_int = 0;
    for (int d = t->depth; d >= 0; d--)
        for (int q = 0; q < nn; q++)
            if (t->nodes[q].depth == d && t->nodes[q].feature != DC_TREE_LEAF) level[n_int++] = q;
    for (int pass = 0; pass < passes; pass++) {
        route_all(t, X, y, n, start, reach, fill);
        bool changed = false;
        for (int li = 0; li < n_int; li++) {
            const int q = level[li];
            dc_tree_node *d = &t->nodes[q];
            const int32_t *S = reach + start[q];
            const int m = start[q + 1] - start[q];
            if (m < 2) continue;
            int cur = 0, n_care = 0;
            for (int k = 0; k < m; k++) {
                const int i = S[k];
                const float *x = X + (size_t)i * F;
                const bool okl = predict_from(t, d->left, x) == y[i], okr = predict_from(t, d->right, x) == y[i];
                target[k] = okl == okr ? -1 : okr;
                if (target[k] < 0) continue;
                n_care++;
                const int goes_right = !dc_tree_goes_left(t, q, x);
                cur += goes_right != target[k];
            }
            if (cur == 0 || n_care < 2) continue;
#pragma omp parallel for num_threads(nthreads) schedule(dynamic, 1)
            for (int f = 0; f < F; f++) {
#ifdef _OPENMP
                care_pt *pf = pts + (size_t)n * omp_get_thread_num();
#else
                care_pt *pf = pts;
#endif
                int mc = 0, n_left_target = 0;
                for (int k = 0; k < m; k++) {
                    if (target[k] < 0) continue;
                    pf[mc++] = (care_pt){X[(size_t)S[k] * F + f], target[k], S[k]};
                    n_left_target += target[k] == 0;
                }
                qsort(pf, (size_t)mc, sizeof *pf, cmp_care);
                int bp;
                const int best = best_cut(pf, mc, n_left_target, &bp);
                cand[f].errors = bp < 0 ? 1 << 30 : best;
                cand[f].feature = f;
                if (bp >= 0) {
                    const float a = (float)pf[bp].v, b = (float)pf[bp + 1].v;
                    float thr = (float)(((double)a + (double)b) / 2.0);
                    if (!(thr < b)) thr = a;
                    cand[f].threshold = thr;
                }
            }
            qsort(cand, (size_t)F, sizeof *cand, cmp_cand);
            obl_cand oc = {1 << 30, 0, 0, 0.0};
            if (oblique && (st = oblique_candidate(t, q, X, S, target, m, lambda, max_iter, nthreads, &wk, &oc, err)))
                goto done;
            const dc_tree_node old = *d;
            // candidates by errors, an axis split before a hyperplane with as few
            bool tried_obl = oc.errors >= cur;
            for (int c = 0;;) {
                const bool take_axis = c < F && cand[c].errors < cur && (tried_obl || cand[c].errors <= oc.errors);
                if (take_axis) {
                    d->feature = cand[c].feature;
                    d->threshold = cand[c].threshold;
                    d->w_off = d->w_n = 0;
                    d->bias = 0.0;
                    c++;
                } else if (!tried_obl) {
                    d->feature = DC_TREE_OBLIQUE;
                    d->threshold = 0.0f;
                    d->w_off = oc.w_off;
                    d->w_n = oc.w_n;
                    d->bias = oc.bias;
                    tried_obl = true;
                } else {
                    break;
                }
                if (leaves_keep(t, q, S, m, X, min_leaf, leafn, stk)) {
                    changed = true;
                    break;
                }
                *d = old;
            }
        }
        // leaves take the majority of what reaches them now
        route_all(t, X, y, n, start, reach, fill);
        if (!changed) break;
        t->passes_run++;
    }
    if (passes_run) *passes_run = t->passes_run;
    route_all(t, X, y, n, start, reach, fill);
    st = compact_weights(t, err);
done:
    free(start), free(fill), free(reach), free(target), free(pts), free(cand), free(leafn), free(level);
    free(stk), free(wf), free(wv);
    free(wk.Z), free(wk.tc), free(wk.mu), free(wk.sd), free(wk.w), free(wk.proj);
    return st;
}

dc_status dc_tree_refine(dc_tree *t, const float *X, const int32_t *y, int n, int passes, int min_leaf,
                         int nthreads, int *passes_run, dc_error *err) {
    return tao(t, X, y, n, passes, min_leaf, false, 0.0, 1, nthreads, passes_run, err);
}

dc_status dc_tree_refine_oblique(dc_tree *t, const float *X, const int32_t *y, int n, int passes, int min_leaf,
                                 double lambda, int max_iter, int nthreads, int *passes_run, dc_error *err) {
    if (!(lambda >= 0) || !isfinite(lambda) || max_iter < 1)
        return dc_fail(err, DC_ERR_ARG, "tree: oblique refinement needs lambda %g >= 0 and max-iter %d >= 1", lambda,
                       max_iter);
    return tao(t, X, y, n, passes, min_leaf, true, lambda, max_iter, nthreads, passes_run, err);
}

int dc_tree_predict(const dc_tree *t, const float *x, int max_depth) {
    int i = 0;
    for (;;) {
        const dc_tree_node *d = &t->nodes[i];
        if (d->feature == DC_TREE_LEAF || (max_depth > 0 && d->depth >= max_depth)) return d->klass;
        i = dc_tree_goes_left(t, i, x) ? d->left : d->right;
    }
}
