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
//   - a sparse oblique tree (split "oblique"): the CART tree above, then
//     passes of tree alternating optimisation (TAO, Carreira-Perpinan &
//     Tavallali 2018) in which each split may become a hyperplane
//     sum_k w_k x[f_k] + bias <= 0 fitted by an L1-penalised logistic
//     regression to the node's "care" points; L1 keeps few terms per split,
//     and the terms are kept in the original feature units, so a split reads
//     (and a file is evaluated) without any standardisation;
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

typedef enum dc_tree_split {
    DC_SPLIT_AXIS,         // x[f] <= threshold (CART's)
    DC_SPLIT_OBLIQUE,      // sparse oblique: sum_k w_k x[f_k] + bias <= 0 (dc_tree_refine_oblique)
} dc_tree_split;

typedef struct dc_tree_config {
    dc_tree_criterion criterion; // split criterion [gini]
    int max_depth;         // <= 0: unlimited [0]
    int min_leaf;          // samples in each leaf, >= 1 [1]
    int min_split;         // samples a node needs to be split, >= 2 [2]
    double ccp_alpha;      // cost-complexity pruning, >= 0 [0: none]
    int refine;            // passes of tree alternating optimisation after
                           // growing (dc_tree_refine), 0: plain CART [0]
    dc_tree_split split;   // axis: CART (+ axis TAO); oblique: CART, then
                           // `refine` passes of oblique TAO [axis]
    double lambda;         // oblique: L1 penalty of each node's logistic fit [0.03]
    int max_iter;          // oblique: FISTA iterations per node and pass [300]
    int nthreads;          // <= 0: all cores [0]
} dc_tree_config;
dc_tree_config dc_tree_config_default(void);

#define DC_TREE_LEAF (-1)     // dc_tree_node.feature of a leaf
#define DC_TREE_OBLIQUE (-2)  // dc_tree_node.feature of an oblique split

typedef struct dc_tree_node {
    int feature;       // axis split feature; DC_TREE_LEAF; DC_TREE_OBLIQUE
    float threshold;   // axis split: x[feature] <= threshold goes left
    int w_off, w_n;    // oblique split: its terms are t->w_feature, t->w_value
                       // [w_off, w_off + w_n), w_n >= 1, features ascending; 0, 0 otherwise
    double bias;       // oblique split: sum_k w_value[k] x[w_feature[k]] + bias <= 0
                       // goes left (summed in double, terms in order)
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
    int n_weights;          // terms of all oblique splits (in the original feature units)
    int32_t *w_feature;     // (n_weights) feature of each term, owned (NULL when none)
    double *w_value;        // (n_weights) its weight, != 0, owned
    int passes_run;         // passes of the last refinement that changed something (0: none run)
} dc_tree;

// Whether x (F) goes to the left child at internal node q.
bool dc_tree_goes_left(const dc_tree *t, int q, const float *x);

// Oblique splits of t: how many, and the mean and largest number of nonzero
// weights among them (0 when there are none); axis splits are the rest of
// t's internal nodes.
typedef struct dc_tree_split_stats {
    int axis, oblique;      // internal nodes of each kind
    double nonzero_mean;    // mean terms per oblique split
    int nonzero_max;        // most terms of one oblique split
} dc_tree_split_stats;
dc_tree_split_stats dc_tree_split_summary(const dc_tree *t);

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
// Sparse oblique TAO (the same paper, section 4; Zharmagambetov &
// Carreira-Perpinan 2020): as dc_tree_refine, but a node's step also fits a
// binary L1-penalised logistic regression (dc_logistic_fit: mean loss,
// penalty lambda, at most max_iter FISTA iterations, stopped at a change of
// 1e-4, warm-started from the node's current oblique split) to its care
// points, over their features standardised among them, with the care
// point's target child as the label, and moves its bias to the
// threshold along w.x with the fewest care errors. The split becomes the
// best of {current, best axis split, that hyperplane} by care errors
// (strictly fewer to change; an axis split wins a tie with a hyperplane),
// subject to min_leaf, so a pass never raises the training error. Stops
// early after a pass that changes nothing. The result is the same for every
// nthreads (sums over samples run in fixed blocks).
dc_status dc_tree_refine_oblique(dc_tree *t, const float *X, const int32_t *y, int n, int passes, int min_leaf,
                                 double lambda, int max_iter, int nthreads, int *passes_run, dc_error *err);
// Minimal cost-complexity pruning in place (part of dc_tree_fit when
// cfg.ccp_alpha > 0; exposed for tests). Renumbers the nodes.
dc_status dc_tree_prune(dc_tree *t, double ccp_alpha, dc_error *err);
// The class of x (F): the leaf's, or that of the node where the path reaches
// max_depth (<= 0: no limit) — the tree truncated at that depth.
int dc_tree_predict(const dc_tree *t, const float *x, int max_depth);
void dc_tree_free(dc_tree *t);

// Standardised features: Z = (X - mu) / sd per column of X (N, F), mu and sd
// (F) the column means and standard deviations (sd 1 where it is below
// 1e-12). Z may be X (in place).
void dc_surr_standardise(float *Z, float *mu, float *sd, const float *X, int N, int F);

// ---------------------------------------------------------------------------
// L1-penalised proximal gradient (FISTA with backtracking and restarts,
// Beck & Teboulle 2009; O'Donoghue & Candes 2015), shared by the linear
// surrogate and the oblique splits. Minimises f(theta) + lambda * sum over
// theta[0 .. n_penalised) of |theta_j| (the rest unpenalised).

// f at theta; fills grad (n_params) when it is not NULL.
typedef double (*dc_smooth_fn)(void *ctx, const double *theta, double *grad);

typedef struct dc_fista_problem {
    size_t n_params, n_penalised;
    double lambda;
    dc_smooth_fn f;
    void *ctx;
    double L0;         // first estimate of f's gradient Lipschitz constant (> 0); doubled when too small
    int max_iter;
    double tol;        // stop when max |change of a coordinate| < tol
} dc_fista_problem;

// theta (n_params) holds the start and receives the solution; scratch is
// (4 * n_params). Returns the iterations run.
int dc_fista_l1(const dc_fista_problem *p, double *theta, double *scratch);

// Weighted binary logistic regression with an L1 penalty on w, by FISTA:
//   minimise (1/V) sum_i v_i log(1 + exp(-s_i (w . z_i + b))) + lambda |w|_1,
// s_i = +1 when t[i] is 1 and -1 when it is 0, V = sum v_i; v NULL: all 1.
// Z (n, F) is taken as given (the caller standardises it). w (F) and *b hold
// the start and receive the solution; *iters (may be NULL) the iterations.
dc_status dc_logistic_fit(double *w, double *b, const float *Z, const int8_t *t, const float *v, int n, int F,
                          double lambda, int max_iter, double tol, int nthreads, int *iters, dc_error *err);
// The penalised objective above at (w, b) (tests compare solutions by it).
double dc_logistic_objective(const double *w, double b, const float *Z, const int8_t *t, const float *v, int n,
                             int F, double lambda);

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
