// explain.h — internals shared by the attribution methods (src/explain/*.c).
//
// Legend: C channels, H height, W width of the model input; P = H*W pixels;
// N rows of a batch; F superpixel features; S samples (coalitions).
//
// Every method turns its work into batches of model inputs: the explainer
// owns one eval-mode runtime of `batch` rows with gradient buffers (eval
// mode throughout: dropout is the identity and BatchNorm uses its running
// statistics, forward and backward alike), and fills its input with up to
// `batch` images at a time. The weight gradients a backward pass also
// produces land in the explainer's own scratch buffer, never in the model.
#ifndef DC_EXPLAIN_H
#define DC_EXPLAIN_H

#include "core/core.h"
#include "model/model.h"

struct dc_explainer {
    const dc_model *m;
    dc_runtime *rt;       // eval-mode runtime of `batch` rows, with backward
    float *grads;         // (n_params) scratch for the weight gradients, owned
    int batch;            // rows per forward/backward
    int C, H, W;          // input shape
    size_t in_size;       // C*H*W
    int n_classes;
    float *dlogits;       // (batch, n_classes) backward seed
    float *dinput;        // (batch, in_size) input gradients
    float *dlayer;        // (batch, biggest node) captured node-output gradients
    // multimodal: tabular inputs all take one row per model input row
    int tab_f, n_tab;
    int tab_node[8];
    const float *tab_row; // (tab_f) the explained sample's row, or NULL
    bool tab_custom;      // dc_ex_tabular rows were set for the next forward
    float *dtab;          // (batch, tab_f) the gradient w.r.t. the row (summed over tabular inputs)
    float *dtab_k;        // (n_tab, batch, tab_f) each tabular input's gradient
};

// Multimodal models: the (batch, tab_f) rows of the first tabular input to
// fill for the next forward (the others get the same); without this the
// explained sample's row is repeated. NULL for image models.
float *dc_ex_tabular(dc_explainer *ex);

// ---------------------------------------------------------------------------
// Running the model (explainer.c)

// Forward of the first n rows of the input (dc_ex_input); returns the logits (n, K).
float *dc_ex_input(dc_explainer *ex);
const float *dc_ex_forward(dc_explainer *ex, int n);
// Backward of the last forward's n rows from one-hot(target) on the logits:
// the gradient of the target logit. dinput (n, in_size) receives the input
// gradient (may be NULL); if node >= 0, dlayer (n, size of that node) the
// gradient w.r.t. that node's output.
void dc_ex_backward_logit(dc_explainer *ex, int n, int target, float *dinput, int layer,
                          float *dlayer);
// The explained output of one row of logits (K): the logit or the softmax
// probability (computed in double, max-shifted).
double dc_ex_output(const float *logits, int K, int target, dc_explain_output out);

// Evaluates `n` images produced by make(dc_ex_input(ex) + r*in_size, i, user)
// for i in [0, n), batch by batch; y[i] receives output `out` of class target.
typedef void (*dc_ex_make_fn)(float *img, int i, void *user);
void dc_ex_eval(dc_explainer *ex, int n, dc_ex_make_fn make, void *user, int target,
                dc_explain_output out, double *y);

// ---------------------------------------------------------------------------
// Methods (gradient.c, perturb.c). Each fills e->attr (allocated by the
// caller with e->c, e->h, e->w set) and the method-specific fields.

dc_status dc_ex_saliency(dc_explainer *ex, const float *x, dc_explanation *e, bool times_input,
                         dc_error *err);
dc_status dc_ex_ig(dc_explainer *ex, const float *x, const float *base, int steps,
                   dc_explanation *e, dc_error *err);
dc_status dc_ex_gradcam(dc_explainer *ex, const float *x, const char *layer, dc_explanation *e,
                        dc_error *err);
dc_status dc_ex_occlusion(dc_explainer *ex, const float *x, const dc_explain_config *cfg,
                          dc_explanation *e, dc_error *err);
// LIME and KernelSHAP: features are superpixels; `base` gives the values of
// switched-off pixels.
dc_status dc_ex_lime(dc_explainer *ex, const float *x, const float *base,
                     const dc_explain_config *cfg, dc_explanation *e, dc_error *err);
dc_status dc_ex_kernelshap(dc_explainer *ex, const float *x, const float *base,
                           const dc_explain_config *cfg, dc_explanation *e, dc_error *err);

// ---------------------------------------------------------------------------
// Superpixels (segment.c)

// Parses "grid:K" or "slic:N" and segments x (C,H,W normalised; `mean`/`std`,
// (C) each or NULL for none, undo the normalisation for SLIC's intensities). seg (H*W) receives ids
// 0..*n_seg-1, numbered in raster order of first appearance, none empty.
dc_status dc_ex_segment(int32_t *seg, int *n_seg, const char *spec, const float *x, int C, int H,
                        int W, const float *mean, const float *std, dc_error *err);

// ---------------------------------------------------------------------------
// Dense linear algebra (solve.c)

// Solves A z = b for symmetric positive definite A (n x n, row-major; only
// the lower triangle is read) by Cholesky, in double. A is overwritten by its
// factor, b by the solution. Returns false if A is not positive definite.
bool dc_ex_cholesky_solve(double *A, double *b, int n);
// Reference: Gaussian elimination with partial pivoting (tests compare the two).
bool dc_ex_gauss_solve(double *A, double *b, int n);

// Bilinear resize of one plane with PyTorch's align_corners=False convention
// (F.interpolate(mode="bilinear")): src (ih, iw) -> dst (oh, ow).
void dc_ex_resize_bilinear(float *dst, int oh, int ow, const float *src, int ih, int iw);

// ---------------------------------------------------------------------------
// Rendering (render.c)

// dc_explanation_write_png's image as PNG bytes in memory (*png malloc'd,
// *len bytes); `path` names the output in messages only.
dc_status dc_explanation_encode_png(uint8_t **png, size_t *len, const dc_explanation *e, const dc_model *m,
                                    const float *x, int scale, const char *path, dc_error *err);

#endif
