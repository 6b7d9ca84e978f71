// explainer.c — the explainer (a batch runtime over a model), the dispatch of
// dc_explain to the methods, baselines, and the deletion/insertion
// faithfulness scores.
//
// Contract: dc_explain validates the configuration first (every bad value is
// a DC_ERR_ARG naming the option), runs the input once to find the predicted
// class and the target's probability, allocates the attribution map in the
// method's shape and hands over to the method. Nothing is printed; results
// depend only on the model, the input, the configuration (seed included) and
// the thread count.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"

static const char *const method_names[DC_EXPLAIN_N_METHODS] = {
    "saliency", "gradxinput", "ig", "gradcam", "occlusion", "lime", "kernelshap",
};

const char *dc_explain_method_name(dc_explain_method method) {
    return (unsigned)method < DC_EXPLAIN_N_METHODS ? method_names[method] : "?";
}

dc_status dc_explain_method_parse(dc_explain_method *method, const char *name, dc_error *err) {
    for (int i = 0; i < DC_EXPLAIN_N_METHODS; i++)
        if (!strcmp(name, method_names[i])) {
            *method = (dc_explain_method)i;
            return DC_OK;
        }
    return dc_fail(err, DC_ERR_ARG,
                   "unknown explanation method '%s' (known: saliency, gradxinput, ig, gradcam, occlusion, lime, kernelshap)",
                   name);
}

dc_explain_config dc_explain_config_default(void) {
    dc_explain_config c = {0};
    c.method = DC_EXPLAIN_SALIENCY;
    c.target = -1;
    c.baseline = DC_EXPLAIN_BASE_BLACK;
    c.steps = 64;
    c.window = 4;
    c.stride = 2;
    c.fill = 0.0f;
    c.segments = "grid:4";
    c.samples = 1000;
    c.kernel_width = 0.25f;
    c.ridge_alpha = 1.0f;
    c.output = DC_EXPLAIN_OUT_PROB;
    c.seed = 0;
    return c;
}

// ---------------------------------------------------------------------------
// The explainer

dc_status dc_explainer_new(dc_explainer **out, dc_model *m, int batch, int nthreads, dc_error *err) {
    *out = NULL;
    if (batch < 1) return dc_fail(err, DC_ERR_ARG, "explainer: batch %d must be >= 1", batch);
    dc_explainer *ex = calloc(1, sizeof *ex);
    if (!ex) return dc_fail(err, DC_ERR_NOMEM, "explainer: out of memory");
    ex->m = m;
    ex->batch = batch;
    dc_model_input_shape(m, &ex->C, &ex->H, &ex->W);
    ex->in_size = (size_t)ex->C * ex->H * ex->W;
    ex->n_classes = dc_model_num_classes(m);
    dc_graph g = dc_model_graph(m);
    dc_status st = dc_runtime_new(&ex->rt, &g, batch, DC_MODE_EVAL, DC_RT_BACKWARD | DC_RT_NO_FUSE, nthreads, err);
    if (st) {
        free(ex);
        return st;
    }
    ex->grads = dc_alloc(sizeof(float) * (m->n_params ? m->n_params : 1));
    ex->dlogits = dc_alloc(sizeof(float) * (size_t)batch * ex->n_classes);
    ex->dinput = dc_alloc(sizeof(float) * (size_t)batch * ex->in_size);
    ex->dlayer = dc_alloc(sizeof(float) * (size_t)batch * dc_runtime_biggest(ex->rt));
    if (!ex->grads || !ex->dlogits || !ex->dinput || !ex->dlayer) {
        dc_explainer_free(ex);
        return dc_fail(err, DC_ERR_NOMEM, "explainer: out of memory for a batch of %d", batch);
    }
    dc_runtime_bind(ex->rt, m->params, ex->grads, m->state);
    for (int i = 1; i < m->n_nodes && ex->n_tab < 8; i++)
        if (m->nodes[i].op->flags & DC_OP_INPUT) ex->tab_node[ex->n_tab++] = i;
    ex->tab_f = m->tab_f;
    if (ex->n_tab) {
        ex->dtab = dc_alloc(sizeof(float) * (size_t)batch * ex->tab_f);
        ex->dtab_k = dc_alloc(sizeof(float) * (size_t)ex->n_tab * batch * ex->tab_f);
        if (!ex->dtab || !ex->dtab_k) {
            dc_explainer_free(ex);
            return dc_fail(err, DC_ERR_NOMEM, "explainer: out of memory for a batch of %d", batch);
        }
    }
    *out = ex;
    return DC_OK;
}

void dc_explainer_free(dc_explainer *ex) {
    if (!ex) return;
    dc_runtime_free(ex->rt);
    dc_free(ex->grads);
    dc_free(ex->dlogits);
    dc_free(ex->dinput);
    dc_free(ex->dlayer);
    dc_free(ex->dtab);
    dc_free(ex->dtab_k);
    free(ex);
}

float *dc_ex_input(dc_explainer *ex) { return dc_runtime_input(ex->rt); }

float *dc_ex_tabular(dc_explainer *ex) {
    if (!ex->n_tab) return NULL;
    ex->tab_custom = true;
    return dc_runtime_input_at(ex->rt, ex->tab_node[0]);
}

const float *dc_ex_forward(dc_explainer *ex, int n) {
    if (ex->n_tab) {
        float *t0 = dc_runtime_input_at(ex->rt, ex->tab_node[0]);
        if (!ex->tab_custom)
            for (int r = 0; r < n; r++) memcpy(t0 + (size_t)r * ex->tab_f, ex->tab_row, sizeof(float) * ex->tab_f);
        for (int k = 1; k < ex->n_tab; k++)
            memcpy(dc_runtime_input_at(ex->rt, ex->tab_node[k]), t0, sizeof(float) * (size_t)n * ex->tab_f);
        ex->tab_custom = false;
    }
    return dc_runtime_forward(ex->rt, n, NULL);
}

void dc_ex_backward_logit(dc_explainer *ex, int n, int target, float *dinput, int layer,
                          float *dlayer) {
    const int K = ex->n_classes;
    memset(ex->dlogits, 0, sizeof(float) * (size_t)n * K);
    for (int i = 0; i < n; i++) ex->dlogits[(size_t)i * K + target] = 1.0f;
    // the weight gradients are a by-product: they go to ex->grads (never read)
    for (int k = 0; k < ex->n_tab; k++)
        dc_runtime_set_input_grad(ex->rt, ex->tab_node[k], ex->dtab_k + (size_t)k * ex->batch * ex->tab_f);
    dc_runtime_backward(ex->rt, n, ex->dlogits, dinput, layer, dlayer);
    // the row feeds every tabular input: its gradient is their sum
    if (ex->n_tab) {
        const size_t cnt = (size_t)n * ex->tab_f;
        memcpy(ex->dtab, ex->dtab_k, sizeof(float) * cnt);
        for (int k = 1; k < ex->n_tab; k++)
            for (size_t j = 0; j < cnt; j++) ex->dtab[j] += ex->dtab_k[(size_t)k * ex->batch * ex->tab_f + j];
    }
}

double dc_ex_output(const float *logits, int K, int target, dc_explain_output out) {
    if (out == DC_EXPLAIN_OUT_LOGIT) return logits[target];
    double mx = logits[0];
    for (int k = 1; k < K; k++)
        if (logits[k] > mx) mx = logits[k];
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)logits[k] - mx);
    return exp((double)logits[target] - mx) / s;
}

void dc_ex_eval(dc_explainer *ex, int n, dc_ex_make_fn make, void *user, int target,
                dc_explain_output out, double *y) {
    for (int lo = 0; lo < n; lo += ex->batch) {
        int nb = n - lo < ex->batch ? n - lo : ex->batch;
        for (int r = 0; r < nb; r++) make(dc_ex_input(ex) + (size_t)r * ex->in_size, lo + r, user);
        const float *logits = dc_ex_forward(ex, nb);
        for (int r = 0; r < nb; r++)
            y[lo + r] = dc_ex_output(logits + (size_t)r * ex->n_classes, ex->n_classes, target, out);
    }
}

// ---------------------------------------------------------------------------
// Baselines

// Separable Gaussian blur with replicated edges, per channel. Blurring the
// normalised values equals blurring pixels then normalising (the kernel sums
// to 1 and normalisation is affine).
static dc_status blur(float *b, const float *x, int C, int H, int W, dc_error *err) {
    const double sigma = (H > W ? H : W) / 10.0;
    const int r = (int)ceil(3.0 * sigma);
    double *k = malloc(sizeof(double) * (size_t)(2 * r + 1));
    float *tmp = malloc(sizeof(float) * (size_t)H * W);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return dc_fail(err, DC_ERR_NOMEM, "blur baseline: out of memory");
    }
    double ks = 0.0;
    for (int i = -r; i <= r; i++) ks += k[i + r] = exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] /= ks;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *bc = b + (size_t)c * H * W;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double s = 0.0;
                for (int i = -r; i <= r; i++) {
                    int q = xx + i < 0 ? 0 : xx + i >= W ? W - 1 : xx + i;
                    s += k[i + r] * xc[(size_t)y * W + q];
                }
                tmp[(size_t)y * W + xx] = (float)s;
            }
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double s = 0.0;
                for (int i = -r; i <= r; i++) {
                    int q = y + i < 0 ? 0 : y + i >= H ? H - 1 : y + i;
                    s += k[i + r] * tmp[(size_t)q * W + xx];
                }
                bc[(size_t)y * W + xx] = (float)s;
            }
    }
    free(k);
    free(tmp);
    return DC_OK;
}

// b (C,H,W) = the normalised value of a 0 pixel, each channel its own
// (colour models normalise per channel).
static void fill_black(const dc_model *m, float *b, size_t in_size) {
    int C, H, W;
    dc_model_input_shape(m, &C, &H, &W);
    const size_t P = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        const float v = (0.0f - m->norm_mean[c]) / m->norm_std[c];
        for (size_t i = (size_t)c * P; i < (size_t)(c + 1) * P && i < in_size; i++) b[i] = v;
    }
}

dc_status dc_explain_baseline(dc_explainer *ex, const float *x, const dc_explain_config *cfg, float *b,
                              dc_error *err) {
    switch (cfg->baseline) {
    case DC_EXPLAIN_BASE_BLACK:
        fill_black(ex->m, b, ex->in_size);
        return DC_OK;
    case DC_EXPLAIN_BASE_BLUR:
        return blur(b, x, ex->C, ex->H, ex->W, err);
    case DC_EXPLAIN_BASE_CUSTOM:
        if (!cfg->baseline_x) return dc_fail(err, DC_ERR_ARG, "baseline: custom baseline selected but none given");
        memcpy(b, cfg->baseline_x, sizeof(float) * ex->in_size);
        return DC_OK;
    }
    return dc_fail(err, DC_ERR_ARG, "baseline: unknown kind %d", (int)cfg->baseline);
}

// ---------------------------------------------------------------------------
// Dispatch

static dc_status check_config(const dc_explainer *ex, const dc_explain_config *cfg, dc_error *err) {
    if ((unsigned)cfg->method >= DC_EXPLAIN_N_METHODS)
        return dc_fail(err, DC_ERR_ARG, "explain: unknown method %d", (int)cfg->method);
    if (cfg->target < -1 || cfg->target >= ex->n_classes)
        return dc_fail(err, DC_ERR_ARG, "explain: --target %d is not a class of this model (0..%d, or -1 for the predicted class)",
                       cfg->target, ex->n_classes - 1);
    if (cfg->method == DC_EXPLAIN_IG && (cfg->steps < 1 || cfg->steps > 100000))
        return dc_fail(err, DC_ERR_ARG, "explain: --steps %d must be in [1, 100000]", cfg->steps);
    if (cfg->method == DC_EXPLAIN_OCCLUSION && (cfg->window < 1 || cfg->stride < 1))
        return dc_fail(err, DC_ERR_ARG, "explain: --window %d and --stride %d must be >= 1", cfg->window, cfg->stride);
    if (cfg->method == DC_EXPLAIN_OCCLUSION && !isfinite(cfg->fill))
        return dc_fail(err, DC_ERR_ARG, "explain: --fill must be a finite number or black");
    if ((cfg->method == DC_EXPLAIN_LIME || cfg->method == DC_EXPLAIN_KERNELSHAP) &&
        (cfg->samples < 1 || cfg->samples > 10000000))
        return dc_fail(err, DC_ERR_ARG, "explain: --samples %d must be in [1, 10000000]", cfg->samples);
    if (cfg->method == DC_EXPLAIN_LIME && !(cfg->kernel_width > 0.0f && isfinite(cfg->kernel_width)))
        return dc_fail(err, DC_ERR_ARG, "explain: LIME kernel width %g must be > 0", cfg->kernel_width);
    if (cfg->method == DC_EXPLAIN_LIME && !(cfg->ridge_alpha > 0.0f && isfinite(cfg->ridge_alpha)))
        return dc_fail(err, DC_ERR_ARG, "explain: LIME ridge alpha %g must be > 0", cfg->ridge_alpha);
    if (cfg->output != DC_EXPLAIN_OUT_PROB && cfg->output != DC_EXPLAIN_OUT_LOGIT)
        return dc_fail(err, DC_ERR_ARG, "explain: unknown output %d", (int)cfg->output);
    if (cfg->baseline == DC_EXPLAIN_BASE_CUSTOM && !cfg->baseline_x)
        return dc_fail(err, DC_ERR_ARG, "explain: custom baseline selected but no values given");
    return DC_OK;
}

void dc_explanation_free(dc_explanation *e) {
    if (!e) return;
    free(e->attr);
    free(e->segments);
    free(e->feature_attr);
    free(e->tab_attr);
    memset(e, 0, sizeof *e);
}

dc_status dc_explain(dc_explainer *ex, const float *x, const dc_explain_config *cfg, dc_explanation *e,
                     dc_error *err) {
    memset(e, 0, sizeof *e);
    dc_status st = check_config(ex, cfg, err);
    if (st) return st;
    if (ex->n_tab && !cfg->tabular)
        return dc_fail(err, DC_ERR_ARG, "explain: the model has a tabular input: give the sample's row (--tabular)");
    ex->tab_row = cfg->tabular;
    ex->tab_custom = false;
    for (int k = 0; ex->n_tab && k < ex->tab_f; k++)
        if (!isfinite(cfg->tabular[k])) return dc_fail(err, DC_ERR_ARG, "explain: tabular value %d is not finite", k);
    for (size_t i = 0; i < ex->in_size; i++)
        if (!isfinite(x[i])) return dc_fail(err, DC_ERR_ARG, "explain: the input has a non-finite value at %zu", i);
    // the input once: predicted class and the target's probability
    memcpy(dc_ex_input(ex), x, sizeof(float) * ex->in_size);
    const float *logits = dc_ex_forward(ex, 1);
    int pred = 0;
    for (int k = 1; k < ex->n_classes; k++)
        if (logits[k] > logits[pred]) pred = k;
    e->method = cfg->method;
    e->predicted = pred;
    e->target = cfg->target < 0 ? pred : cfg->target;
    e->prob = (float)dc_ex_output(logits, ex->n_classes, e->target, DC_EXPLAIN_OUT_PROB);
    e->evaluations = 1;
    bool per_channel = cfg->method == DC_EXPLAIN_GRADXINPUT || cfg->method == DC_EXPLAIN_IG;
    e->c = per_channel ? ex->C : 1;
    e->h = ex->H;
    e->w = ex->W;
    e->attr = calloc((size_t)e->c * e->h * e->w, sizeof(float));
    bool tab_methods = cfg->method == DC_EXPLAIN_SALIENCY || cfg->method == DC_EXPLAIN_GRADXINPUT ||
                       cfg->method == DC_EXPLAIN_IG;
    if (ex->n_tab && tab_methods) {
        e->tab_f = ex->tab_f;
        if (!(e->tab_attr = calloc((size_t)e->tab_f, sizeof(float)))) {
            dc_explanation_free(e);
            return dc_fail(err, DC_ERR_NOMEM, "explain: out of memory");
        }
    }
    float *base = NULL;
    bool need_base = cfg->method == DC_EXPLAIN_IG || cfg->method == DC_EXPLAIN_LIME ||
                     cfg->method == DC_EXPLAIN_KERNELSHAP;
    if (need_base) base = malloc(sizeof(float) * ex->in_size);
    if (!e->attr || (need_base && !base)) {
        free(base);
        dc_explanation_free(e);
        return dc_fail(err, DC_ERR_NOMEM, "explain: out of memory");
    }
    if (need_base) st = dc_explain_baseline(ex, x, cfg, base, err);
    if (!st) switch (cfg->method) {
        case DC_EXPLAIN_SALIENCY: st = dc_ex_saliency(ex, x, e, false, err); break;
        case DC_EXPLAIN_GRADXINPUT: st = dc_ex_saliency(ex, x, e, true, err); break;
        case DC_EXPLAIN_IG: st = dc_ex_ig(ex, x, base, cfg->steps, e, err); break;
        case DC_EXPLAIN_GRADCAM: st = dc_ex_gradcam(ex, x, cfg->layer, e, err); break;
        case DC_EXPLAIN_OCCLUSION: st = dc_ex_occlusion(ex, x, cfg, e, err); break;
        case DC_EXPLAIN_LIME: st = dc_ex_lime(ex, x, base, cfg, e, err); break;
        case DC_EXPLAIN_KERNELSHAP: st = dc_ex_kernelshap(ex, x, base, cfg, e, err); break;
        }
    free(base);
    if (!st)
        for (size_t i = 0; i < (size_t)e->c * e->h * e->w; i++)
            if (!isfinite(e->attr[i])) {
                st = dc_fail(err, DC_ERR_NUMERIC, "explain: %s produced a non-finite attribution (is the model diverged?)",
                             dc_explain_method_name(cfg->method));
                break;
            }
    if (st) dc_explanation_free(e);
    return st;
}

// ---------------------------------------------------------------------------
// Faithfulness: deletion and insertion curves

typedef struct ranked {
    float v;
    int i;
} ranked;

static int by_value_desc(const void *a, const void *b) {
    const ranked *p = a, *q = b;
    if (p->v > q->v) return -1;
    if (p->v < q->v) return 1;
    return (p->i > q->i) - (p->i < q->i); // ties: raster order, so the order is total
}

typedef struct faith_ctx {
    const float *x, *base;
    const ranked *order;
    int steps, C, P;
} faith_ctx;

// Rows 0..steps: deletion after k_i pixels; rows steps+1..2*steps+1: insertion.
static void faith_make(float *img, int row, void *user) {
    const faith_ctx *f = user;
    bool del = row <= f->steps;
    int i = del ? row : row - f->steps - 1;
    int k = (int)(((long)i * f->P + f->steps / 2) / f->steps); // round(i * P / steps)
    memcpy(img, del ? f->x : f->base, sizeof(float) * (size_t)f->C * f->P);
    const float *src = del ? f->base : f->x;
    for (int j = 0; j < k; j++) {
        int p = f->order[j].i;
        for (int c = 0; c < f->C; c++) img[(size_t)c * f->P + p] = src[(size_t)c * f->P + p];
    }
}

dc_status dc_explain_faithfulness(dc_explainer *ex, const float *x, const dc_explanation *e,
                                  const float *baseline, int steps, dc_faithfulness *f, dc_error *err) {
    memset(f, 0, sizeof *f);
    if (steps < 1 || steps > 100000)
        return dc_fail(err, DC_ERR_ARG, "faithfulness: steps %d must be in [1, 100000]", steps);
    if (e->h != ex->H || e->w != ex->W || (e->c != 1 && e->c != ex->C) || !e->attr)
        return dc_fail(err, DC_ERR_SHAPE, "faithfulness: attribution map %dx%dx%d does not fit the model input %dx%dx%d",
                       e->c, e->h, e->w, ex->C, ex->H, ex->W);
    if (e->target < 0 || e->target >= ex->n_classes)
        return dc_fail(err, DC_ERR_ARG, "faithfulness: target %d is not a class", e->target);
    const int P = ex->H * ex->W;
    ranked *order = malloc(sizeof(ranked) * (size_t)P);
    float *black = baseline ? NULL : malloc(sizeof(float) * ex->in_size);
    double *y = malloc(sizeof(double) * (size_t)(2 * steps + 2));
    f->deletion = malloc(sizeof(float) * (size_t)(steps + 1));
    f->insertion = malloc(sizeof(float) * (size_t)(steps + 1));
    if (!order || (!baseline && !black) || !y || !f->deletion || !f->insertion) {
        free(order);
        free(black);
        free(y);
        dc_faithfulness_free(f);
        return dc_fail(err, DC_ERR_NOMEM, "faithfulness: out of memory");
    }
    if (!baseline) fill_black(ex->m, black, ex->in_size);
    for (int p = 0; p < P; p++) {
        double s = 0.0;
        for (int c = 0; c < e->c; c++) s += e->attr[(size_t)c * P + p];
        order[p].v = (float)s;
        order[p].i = p;
    }
    qsort(order, (size_t)P, sizeof *order, by_value_desc);
    faith_ctx ctx = {x, baseline ? baseline : black, order, steps, ex->C, P};
    dc_ex_eval(ex, 2 * steps + 2, faith_make, &ctx, e->target, DC_EXPLAIN_OUT_PROB, y);
    f->steps = steps;
    double del = 0.0, ins = 0.0;
    for (int i = 0; i <= steps; i++) {
        f->deletion[i] = (float)y[i];
        f->insertion[i] = (float)y[steps + 1 + i];
        if (i) {
            del += 0.5 * (y[i - 1] + y[i]) / steps;
            ins += 0.5 * (y[steps + i] + y[steps + 1 + i]) / steps;
        }
    }
    f->deletion_auc = del;
    f->insertion_auc = ins;
    free(order);
    free(black);
    free(y);
    return DC_OK;
}

void dc_faithfulness_free(dc_faithfulness *f) {
    if (!f) return;
    free(f->deletion);
    free(f->insertion);
    memset(f, 0, sizeof *f);
}
