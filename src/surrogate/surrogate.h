// surrogate.h — global surrogate models of a network (issue 12): an
// interpretable model trained to mimic the network's PREDICTIONS (not the
// labels) over interpretable features of the input.
//
// Features (dc_surr_features): every feature is the mean raw intensity, in
// [0, 1], of one region of the image in one channel; a region map assigns
// each pixel to one of R regions, and feature ch*R + r is region r of
// channel ch (F = C*R features). The maps:
//   "pool:AxB"  blocks of A rows by B columns of pixels (an average pool with
//               kernel and stride AxB; ragged last blocks when A or B does not
//               divide the side): pool:4x4 on 28x28 gives a 7x7 grid, 49
//               features; "pool:A" is pool:AxA;
//   "grid:K"    the explainers' K x K grid of equal cells (src/explain/segment.c);
//   "slic:N"    the explainers' SLIC superpixels, computed once on the MEAN
//               training image, so that every image shares one region map
//               (a global surrogate needs the same features for every input).
//
// Models:
//   - a CART decision tree (Breiman et al. 1984) with Gini impurity (or
//     entropy, as scikit-learn's criterion="entropy"), a depth
//     limit, minimum samples per leaf and per split, and minimal
//     cost-complexity pruning as scikit-learn defines it (impurity weighted
//     by n_t/N, weakest link first, pruned while its effective alpha <=
//     ccp_alpha; alpha 0 prunes nothing). Splits are "x[f] <= threshold"
//     with the threshold half-way between two consecutive distinct values.
//     A node is split whenever it is impure and a split satisfying the leaf
//     limits exists, even one that does not lower the impurity (as
//     scikit-learn does), so an unlimited tree fits every training set
//     without two equal feature vectors of different classes exactly.
//     Ties between candidate splits go to the lowest feature, then the
//     lowest threshold: the tree is a function of its inputs (and, for a
//     given thread count, so are the bits of everything else here).
//   - a sparse multinomial logistic model: softmax(W z + b) over the
//     standardised features z = (x - mu) / sd, fitted by FISTA with
//     backtracking (Beck & Teboulle 2009) on
//       (1/N) sum_i -log p(y_i | x_i) + lambda * sum |W|   (b not penalised).
//
// Fidelity is the fraction of inputs on which the surrogate predicts the
// network's class; accuracy the fraction on which it predicts the true label.
//
// Legend: N samples, F features, C classes, R regions, H, W the image side.
#ifndef DC_SURROGATE_H
#define DC_SURROGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "deepc.h"

// ---------------------------------------------------------------------------
// Features

typedef struct dc_surr_features {
    char spec[64];          // as given: "pool:4x4", "grid:4", "slic:20"
    int c, h, w;            // input shape
    int n_regions;          // R
    int n_features;         // F = c * R
    int32_t *region;        // (h*w) region of each pixel, in [0, R), owned
    int32_t *region_size;   // (R) pixels in each region, each >= 1, owned
    int32_t *start;         // (R+1) region r's pixels are pix[start[r] .. start[r+1]), owned
    int32_t *pix;           // (h*w) pixel indices grouped by region, owned
} dc_surr_features;

// Parses spec and builds the region map for c x h x w images. mean_image
// (c, h, w) in [0, 1] is needed by "slic:N" (the mean training image) and
// ignored otherwise (may be NULL then). On failure *f is empty.
dc_status dc_surr_features_init(dc_surr_features *f, const char *spec, int c, int h, int w,
                                const float *mean_image, dc_error *err);
// A region map given directly (from a surrogate file): region (h*w) values
// in [0, n_regions), every region used. Copies region.
dc_status dc_surr_features_from_map(dc_surr_features *f, const char *spec, int c, int h, int w,
                                    const int32_t *region, int n_regions, dc_error *err);
void dc_surr_features_free(dc_surr_features *f);
// out (n, F) features of px (n, c, h, w) bytes.
void dc_surr_features_compute(const dc_surr_features *f, const uint8_t *px, int n, float *out);
// The mean image (c, h, w) in [0, 1] of ds's pixels, into mean (caller's).
void dc_surr_mean_image(float *mean, const dc_dataset *ds);

// ---------------------------------------------------------------------------
// CART decision tree

typedef enum dc_tree_criterion {
    DC_TREE_GINI,          // Gini impurity (CART's)
    DC_TREE_ENTROPY,       // Shannon entropy (information gain, as ID3/C4.5)
} dc_tree_criterion;

typedef struct dc_tree_config {
    dc_tree_criterion criterion; // split criterion [gini]
    int max_depth;         // <= 0: unlimited [0]
    int min_leaf;          // samples in each leaf, >= 1 [1]
    int min_split;         // samples a node needs to be split, >= 2 [2]
    double ccp_alpha;      // cost-complexity pruning, >= 0 [0: none]
    int refine;            // passes of tree alternating optimisation after
                           // growing (dc_tree_refine), 0: plain CART [0]
    int nthreads;          // <= 0: all cores [0]
} dc_tree_config;
dc_tree_config dc_tree_config_default(void);

typedef struct dc_tree_node {
    int feature;       // split feature, -1 for a leaf
    float threshold;   // x[feature] <= threshold goes left
    int left, right;   // children (node indices), -1 for a leaf
    int depth;         // root 0
    int n;             // training samples that reach the node
    int klass;         // majority class of those (lowest index on ties)
    double impurity;   // their Gini impurity
} dc_tree_node;

typedef struct dc_tree {
    int n_nodes;            // nodes in preorder (root 0, left subtree, right subtree)
    int n_classes, n_features;
    dc_tree_node *nodes;    // (n_nodes), owned
    int32_t *counts;        // (n_nodes, C) training samples of each class, owned
    int n_leaves, depth;    // leaves and the deepest leaf's depth
} dc_tree;

// Fits t to X (n, F) row-major and y (n) in [0, C). On failure *t is empty.
dc_status dc_tree_fit(dc_tree *t, const float *X, const int32_t *y, int n, int F, int C,
                      const dc_tree_config *cfg, dc_error *err);
// Tree alternating optimisation (TAO, Carreira-Perpinan & Tavallali 2018,
// "Alternating optimization of decision trees"), axis-aligned: keeps the
// tree's shape and lowers its training error by re-choosing one split at a
// time with the rest of the tree fixed. For a node, a training sample that
// reaches it is a "care" point when exactly one of the two subtrees would
// classify it correctly; the new split is the (feature, threshold) that
// sends the fewest care points the wrong way, which is the split minimising
// the whole tree's training error. Nodes of one depth reach disjoint
// samples, so a pass goes level by level from the deepest up; leaves take
// the majority class of the samples that reach them. A split is only
// replaced by one with strictly fewer errors that leaves every leaf below
// it at least min_leaf samples, so each pass lowers the error or stops.
// Counts, impurities and classes of all nodes are recomputed at the end.
// *passes_run (may be NULL) receives the passes that changed something.
dc_status dc_tree_refine(dc_tree *t, const float *X, const int32_t *y, int n, int passes, int min_leaf,
                         int nthreads, int *passes_run, dc_error *err);
// Minimal cost-complexity pruning in place (part of dc_tree_fit when
// cfg.ccp_alpha > 0; exposed for tests). Renumbers the nodes.
dc_status dc_tree_prune(dc_tree *t, double ccp_alpha, dc_error *err);
// The class of x (F): the leaf's, or that of the node where the path reaches
// max_depth (<= 0: no limit) — the tree truncated at that depth.
int dc_tree_predict(const dc_tree *t, const float *x, int max_depth);
void dc_tree_free(dc_tree *t);

// ---------------------------------------------------------------------------
// Sparse multinomial logistic model

typedef struct dc_linear_config {
    double lambda;     // L1 penalty, >= 0 [0.001]
    int max_iter;      // FISTA iterations [500]
    double tol;        // stop when max |change of a coefficient| < tol [1e-5]
    int nthreads;      // <= 0: all cores [0]
} dc_linear_config;
dc_linear_config dc_linear_config_default(void);

typedef struct dc_linear {
    int n_features, n_classes;
    double lambda;
    float *mu, *sd;        // (F) standardisation (sd 1 for constant features), owned
    double *W;             // (C, F) coefficients on the standardised features, owned
    double *b;             // (C), owned
    int iters;             // iterations run
    int nonzero;           // coefficients != 0
    double objective;      // the penalised objective at the solution
} dc_linear;

dc_status dc_linear_fit(dc_linear *lm, const float *X, const int32_t *y, int n, int F, int C,
                        const dc_linear_config *cfg, dc_error *err);
// The gradient of the smooth part (mean cross-entropy) at lm's coefficients,
// gW (C, F) and gb (C): the optimality (KKT) check of tests.
void dc_linear_gradient(const dc_linear *lm, const float *X, const int32_t *y, int n, double *gW,
                        double *gb);
int dc_linear_predict(const dc_linear *lm, const float *x);
void dc_linear_free(dc_linear *lm);

// ---------------------------------------------------------------------------
// A surrogate of a model: features + tree or linear model + its scores

typedef enum dc_surrogate_kind { DC_SURR_TREE, DC_SURR_LINEAR } dc_surrogate_kind;

typedef struct dc_surrogate_config {
    dc_surrogate_kind kind;  // [tree]
    const char *features;    // feature spec ["pool:4x4"]
    dc_tree_config tree;
    dc_linear_config linear;
    int batch;               // inference batch [1000]
    int nthreads;            // <= 0: all cores
} dc_surrogate_config;
dc_surrogate_config dc_surrogate_config_default(void);

#define DC_SURR_MAX_CURVE 64

typedef struct dc_surrogate {
    dc_surrogate_kind kind;
    dc_surr_features feat;
    int n_classes;
    char **class_names;      // (C) owned
    dc_tree tree;            // kind == DC_SURR_TREE
    dc_tree_config tree_cfg;
    dc_linear lin;           // kind == DC_SURR_LINEAR
    // scores (from dc_surrogate_build, or as stored in the file)
    int n_train, n_test;
    double fidelity;         // agreement with the network on the test set
    double accuracy;         // the surrogate's accuracy on the test labels
    double train_fidelity;   // agreement on the training set it was fitted to
    double network_accuracy; // the network's own test accuracy
    int curve_n;             // tree: depths 1..curve_n of the fidelity/depth curve
    double curve_fidelity[DC_SURR_MAX_CURVE];       // test fidelity of the tree cut at depth d+1
    double curve_train_fidelity[DC_SURR_MAX_CURVE];
    double curve_accuracy[DC_SURR_MAX_CURVE];
    int curve_leaves[DC_SURR_MAX_CURVE];            // leaves of the cut tree
    char model_path[512];    // what it mimics (informational)
} dc_surrogate;

// Runs m over train and test (the network's predicted classes), fits the
// surrogate on train's features and predictions, and scores it on test.
// train and test must match the model's input. On failure *s is empty.
dc_status dc_surrogate_build(dc_surrogate *s, dc_model *m, const dc_dataset *train,
                             const dc_dataset *test, const dc_surrogate_config *cfg,
                             dc_error *err);
// The class the surrogate predicts for features x (F).
int dc_surrogate_predict(const dc_surrogate *s, const float *x);
// Fidelity and accuracy of s on ds given the network's predictions pred (ds->n).
dc_status dc_surrogate_score(const dc_surrogate *s, const dc_dataset *ds, const int32_t *pred,
                             double *fidelity, double *accuracy, dc_error *err);
void dc_surrogate_free(dc_surrogate *s);

// JSON: {"format": "deepc-surrogate", "version": 1, "kind": "tree"|"linear",
// "features": {...region map...}, "classes": [...], scores, "curve": [...],
// and "nodes" (one object per line) or "linear"}. *json is malloc'd.
dc_status dc_surrogate_to_json(const dc_surrogate *s, char **json, dc_error *err);
// Strict parser: unknown or missing keys, wrong types, out-of-range values,
// a tree that is not a tree (a child before its parent, a node reached twice
// or never) are refused with the line of the offending element:
// "ORIGIN:LINE: ...". On failure *s is empty.
dc_status dc_surrogate_parse_json(dc_surrogate *s, const char *text, size_t len, const char *origin,
                                  dc_error *err);
dc_status dc_surrogate_read(dc_surrogate *s, const char *path, dc_error *err);
dc_status dc_surrogate_write(const dc_surrogate *s, const char *path, dc_error *err);

#endif
