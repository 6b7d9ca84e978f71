// quant.c — post-training static int8 quantisation (see quant.h): BatchNorm
// folding, calibration (min/max, percentile, KL entropy), the quantisation
// of every tensor, and the quantised model's own bookkeeping.
//
// Calibration runs the folded fp32 model over a seeded draw of samples with
// every node's output kept (DC_RT_KEEP_ALL, no ReLU fusion: the relu's own range is needed) and records, per node output,
// its min and max, then (percentile, KL) a 2048-bin histogram over [min,
// max] and one of |x| over [0, max|x|] in a second pass. The activation
// range of each node follows the rules in quant.h; weights are symmetric
// per output channel.
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/model_edit.h"
#include "compress/quant.h"
#include "core/core.h"
#include "data/data.h"

// ---------------------------------------------------------------------------
// The quantised model's storage

dc_status dc_qmodel_new(dc_qmodel **out, const dc_model *m, dc_error *err) {
    *out = NULL;
    dc_qmodel *q = calloc(1, sizeof *q);
    const int nn = m->n_nodes;
    if (q) {
        q->n_nodes = nn;
        q->act_scale = calloc((size_t)nn, sizeof(float));
        q->act_zp = calloc((size_t)nn, sizeof(int32_t));
        q->w = calloc((size_t)nn, sizeof(int8_t *));
        q->w_scale = calloc((size_t)nn, sizeof(float *));
        q->bias = calloc((size_t)nn, sizeof(int32_t *));
        q->qmax = 255;
        snprintf(q->method, sizeof q->method, "minmax");
    }
    bool ok = q && q->act_scale && q->act_zp && q->w && q->w_scale && q->bias;
    for (int i = 0; ok && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (!dc_q_weighted(n)) continue;
        const int OC = n->c;
        q->w[i] = malloc(n->t[0].n);
        q->w_scale[i] = calloc((size_t)OC, sizeof(float));
        q->bias[i] = calloc((size_t)OC, sizeof(int32_t));
        ok = q->w[i] && q->w_scale[i] && q->bias[i];
    }
    if (!ok) {
        dc_qmodel_free(q);
        return dc_fail(err, DC_ERR_NOMEM, "quantize: out of memory");
    }
    *out = q;
    return DC_OK;
}

void dc_qmodel_free(dc_qmodel *q) {
    if (!q) return;
    for (int i = 0; i < q->n_nodes; i++) {
        if (q->w) free(q->w[i]);
        if (q->w_scale) free(q->w_scale[i]);
        if (q->bias) free(q->bias[i]);
    }
    free(q->w);
    free(q->w_scale);
    free(q->bias);
    free(q->act_scale);
    free(q->act_zp);
    free(q);
}

dc_status dc_qmodel_copy(dc_qmodel **dst, const dc_qmodel *src, const dc_model *m, dc_error *err) {
    dc_status st = dc_qmodel_new(dst, m, err);
    if (st) return st;
    dc_qmodel *q = *dst;
    memcpy(q->act_scale, src->act_scale, sizeof(float) * (size_t)q->n_nodes);
    memcpy(q->act_zp, src->act_zp, sizeof(int32_t) * (size_t)q->n_nodes);
    for (int i = 0; i < q->n_nodes; i++) {
        if (!q->w[i]) continue;
        const dc_node *n = &m->nodes[i];
        memcpy(q->w[i], src->w[i], n->t[0].n);
        memcpy(q->w_scale[i], src->w_scale[i], sizeof(float) * (size_t)n->c);
        memcpy(q->bias[i], src->bias[i], sizeof(int32_t) * (size_t)n->c);
    }
    q->qmax = src->qmax;
    q->samples = src->samples;
    q->percentile = src->percentile;
    memcpy(q->method, src->method, sizeof q->method);
    return DC_OK;
}

dc_status dc_qmodel_dequantize_params(dc_model *m, const dc_qmodel *q, const char *path, dc_error *err) {
    // the requantisation multipliers (qplan.c) must be below 2^31, or their
    // left shift would pass 31 bits: such scales saturate every output anyway
    const double lim = 2147483648.0;
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (!strcmp(n->op->kind, "add") || !strcmp(n->op->kind, "concat")) {
            double mx = 0;
            for (int k = 0; k < n->n_in; k++) mx = fmax(mx, q->act_scale[n->in[k]]);
            if (!(2.0 * mx / ((double)(1 << 20) * q->act_scale[i]) < lim))
                return dc_fail(err, DC_ERR_FORMAT, "%s: node %s: output scale %g is too small for its inputs' scales (up "
                               "to %g)", path, n->name, q->act_scale[i], mx);
        }
        if (!q->w[i]) continue;
        const size_t per = n->t[0].n / (size_t)n->c;
        const double s_in = q->act_scale[n->in[0]];
        for (int o = 0; o < n->c; o++) {
            if (!(s_in * q->w_scale[i][o] / q->act_scale[i] < lim))
                return dc_fail(err, DC_ERR_FORMAT, "%s: node %s: input scale %g times weight scale %g over output scale "
                               "%g is not below 2^31", path, n->name, s_in, q->w_scale[i][o], q->act_scale[i]);
            for (size_t k = 0; k < per; k++) {
                float *w = &m->params[n->t[0].off + (size_t)o * per + k];
                *w = q->w_scale[i][o] * (float)q->w[i][(size_t)o * per + k];
                if (!isfinite(*w))
                    return dc_fail(err, DC_ERR_FORMAT, "%s: node %s: weight scale %g times the int8 weight overflows float",
                                   path, n->name, q->w_scale[i][o]);
            }
            float *b = &m->params[n->t[1].off + o];
            *b = (float)(q->bias[i][o] * (s_in * q->w_scale[i][o]));
            if (!isfinite(*b))
                return dc_fail(err, DC_ERR_FORMAT, "%s: node %s: the int32 bias times input scale %g times weight scale "
                               "%g overflows float", path, n->name, s_in, q->w_scale[i][o]);
        }
    }
    return DC_OK;
}

// ---------------------------------------------------------------------------
// The rules

static bool kind_is(const dc_node *n, const char *k) { return !strcmp(n->op->kind, k); }

bool dc_q_weighted(const dc_node *n) { return kind_is(n, "conv2d") || kind_is(n, "linear"); }

bool dc_q_passthrough(const dc_node *n) {
    return kind_is(n, "maxpool") || kind_is(n, "avgpool") || kind_is(n, "globalavgpool") || kind_is(n, "flatten") ||
           kind_is(n, "dropout") || kind_is(n, "relu");
}

int dc_q_fused_relu(const dc_model *m, int i) {
    const dc_node *n = &m->nodes[i];
    if (!dc_q_weighted(n) && !kind_is(n, "add")) return -1;
    int reader = -1, count = 0;
    for (int j = i + 1; j < m->n_nodes; j++)
        for (int k = 0; k < m->nodes[j].n_in; k++)
            if (m->nodes[j].in[k] == i) reader = j, count++;
    if (count != 1 || reader == m->n_nodes - 1) return -1;
    return kind_is(&m->nodes[reader], "relu") ? reader : -1;
}

dc_status dc_q_check_supported(const dc_model *m, dc_error *err) {
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (n->op->flags & DC_OP_INPUT)
            return dc_fail(err, DC_ERR_UNSUPPORTED, "int8: %s is a tabular input; only image models are quantised",
                           n->name);
        if (dc_q_weighted(n) || dc_q_passthrough(n) || kind_is(n, "add") || kind_is(n, "concat") ||
            kind_is(n, "tanh") || kind_is(n, "sigmoid"))
            continue;
        if (kind_is(n, "batchnorm2d"))
            return dc_fail(err, DC_ERR_UNSUPPORTED,
                           "int8: layer %s (batchnorm2d) does not follow a convolution it alone reads, so it cannot "
                           "be folded, and has no int8 kernel", n->name);
        return dc_fail(err, DC_ERR_UNSUPPORTED, "int8: layer %s (%s) has no int8 kernel (int8 covers conv2d, linear, "
                       "pooling, relu, tanh, sigmoid, add, concat, flatten, dropout)", n->name, n->op->kind);
    }
    return DC_OK;
}

// ---------------------------------------------------------------------------
// BatchNorm folding

dc_status dc_fold_batchnorm(dc_model **out, const dc_model *m, int *n_folded, dc_error *err) {
    *out = NULL;
    const int nn = m->n_nodes;
    bool *drop = calloc((size_t)nn, sizeof(bool)), *bias = calloc((size_t)nn, sizeof(bool));
    int *readers = calloc((size_t)nn, sizeof(int));
    if (!drop || !bias || !readers) {
        free(drop), free(bias), free(readers);
        return dc_fail(err, DC_ERR_NOMEM, "fold: out of memory");
    }
    for (int i = 1; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) readers[m->nodes[i].in[k]]++;
    int folded = 0;
    for (int i = 1; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (!kind_is(n, "batchnorm2d") || !kind_is(&m->nodes[n->in[0]], "conv2d") || readers[n->in[0]] != 1) continue;
        drop[i] = true;
        bias[n->in[0]] = true;
        folded++;
    }
    dc_model_edit e = {.drop = drop, .bias = bias};
    dc_model *fm = NULL;
    dc_status st = dc_model_edit_apply(&fm, m, &e, err);
    if (!st) {
        dc_model_copy_same_tensors(fm, m);
        for (int i = 1; i < nn; i++) {
            if (!drop[i]) continue;
            const dc_node *bn = &m->nodes[i], *conv = &m->nodes[bn->in[0]];
            const dc_node *fc = &fm->nodes[dc_model_find_node(fm, conv->name)];
            const int s0 = bn->cfg.bn.affine ? 2 : 0;
            const float *rm = m->state + bn->t[s0].off, *rv = m->state + bn->t[s0 + 1].off;
            float *w = fm->params + fc->t[0].off, *b = fm->params + fc->t[1].off;
            const size_t per = fc->t[0].n / (size_t)fc->c;
            for (int o = 0; o < fc->c; o++) {
                // the session's formula (session.c), so the folded model computes what sessions do
                const float gamma = bn->cfg.bn.affine ? m->params[bn->t[0].off + o] : 1.0f;
                const float beta = bn->cfg.bn.affine ? m->params[bn->t[1].off + o] : 0.0f;
                const float scale = gamma / sqrtf(rv[o] + bn->cfg.bn.eps);
                for (size_t j = 0; j < per; j++) w[(size_t)o * per + j] *= scale;
                b[o] = beta + (b[o] - rm[o]) * scale;
            }
        }
    }
    free(drop), free(bias), free(readers);
    if (st) return st;
    if (n_folded) *n_folded = folded;
    *out = fm;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Ranges and parameters

void dc_qparams(float lo, float hi, int qmax, float *scale, int32_t *zp) {
    double l = lo < 0 ? lo : 0, h = hi > 0 ? hi : 0;
    if (!(h - l > 1e-12)) h = l + 1e-6; // a constant tensor: any scale
    double s = (h - l) / qmax;
    int32_t z = dc_round_i32(-l / s);
    *scale = (float)s;
    *zp = z < 0 ? 0 : z > qmax ? qmax : z;
}

void dc_quantize_weights(int8_t *q, float *scale, const float *w, int OC, size_t per) {
    for (int o = 0; o < OC; o++) {
        const float *wo = w + (size_t)o * per;
        float mx = 0;
        for (size_t j = 0; j < per; j++) mx = fabsf(wo[j]) > mx ? fabsf(wo[j]) : mx;
        const float s = mx > 0 ? mx / 127.0f : 1.0f;
        scale[o] = s;
        for (size_t j = 0; j < per; j++) {
            int32_t v = dc_round_i32((double)wo[j] / s);
            q[(size_t)o * per + j] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
        }
    }
}

int dc_kl_threshold_bin(const double *hist, int bins, int levels) {
    // TensorRT's entropy calibration (as MXNet's _get_optimal_threshold):
    // for each candidate edge i, P = hist[0:i] with the tail folded into its
    // last bin, Q = hist[0:i] merged into `levels` groups and spread back
    // over each group's nonzero bins; the edge with the least KL(P || Q).
    double *p = malloc(sizeof(double) * (size_t)bins), *qd = malloc(sizeof(double) * (size_t)bins);
    if (!p || !qd) {
        free(p), free(qd);
        return bins;
    }
    double total_tail = 0;
    for (int j = 0; j < bins; j++) total_tail += hist[j];
    double best = INFINITY;
    int best_i = bins;
    double tail = total_tail;
    for (int j = 0; j < levels && j < bins; j++) tail -= hist[j];
    for (int i = levels; i <= bins; i++) {
        if (i > levels) tail -= hist[i - 1];
        double psum = 0;
        for (int j = 0; j < i; j++) p[j] = hist[j];
        p[i - 1] += tail;
        for (int j = 0; j < i; j++) psum += p[j];
        if (psum <= 0) continue;
        // Q: `levels` groups of i / levels bins (the last takes the rest)
        const int merged = i / levels;
        for (int g = 0; g < levels; g++) {
            const int a = g * merged, b = g == levels - 1 ? i : a + merged;
            double s = 0;
            int nz = 0;
            for (int j = a; j < b; j++) {
                s += hist[j];
                nz += hist[j] != 0;
            }
            for (int j = a; j < b; j++) qd[j] = hist[j] != 0 && nz ? s / nz : 0;
        }
        double qsum = 0;
        for (int j = 0; j < i; j++) qsum += qd[j];
        double kl = 0;
        for (int j = 0; j < i; j++) {
            if (p[j] <= 0) continue;
            const double pj = p[j] / psum, qj = qsum > 0 && qd[j] > 0 ? qd[j] / qsum : 1e-12;
            kl += pj * log(pj / qj);
        }
        if (kl < best) best = kl, best_i = i;
    }
    free(p), free(qd);
    return best_i;
}

static float hist_quantile(const dc_qstats *s, double frac) {
    // the value below which `frac` of the histogram's mass lies
    double total = 0;
    for (int j = 0; j < DC_QHIST; j++) total += s->hist[j];
    const double target = frac * total, w = ((double)s->max - s->min) / DC_QHIST;
    double acc = 0;
    for (int j = 0; j < DC_QHIST; j++) {
        if (acc + s->hist[j] >= target) {
            const double f = s->hist[j] > 0 ? (target - acc) / s->hist[j] : 0;
            return (float)(s->min + (j + f) * w);
        }
        acc += s->hist[j];
    }
    return s->max;
}

void dc_qrange(const dc_qstats *s, dc_calib_method method, double percentile, int levels, float *lo, float *hi) {
    *lo = s->min;
    *hi = s->max;
    if (method == DC_CALIB_MINMAX || !s->hist || !(s->max > s->min)) return;
    if (method == DC_CALIB_PERCENTILE) {
        const double cut = (100.0 - percentile) / 200.0; // from each tail
        *lo = s->min >= 0 ? s->min : hist_quantile(s, cut);
        *hi = hist_quantile(s, 1.0 - cut);
        return;
    }
    // KL on |x|; a signed tensor spends half its levels on each side
    const float amax = fmaxf(fabsf(s->min), fabsf(s->max));
    const int bin = dc_kl_threshold_bin(s->ahist, DC_QHIST, s->min >= 0 ? levels : levels / 2);
    const float t = amax * (float)bin / DC_QHIST;
    *lo = fmaxf(s->min, -t);
    *hi = fminf(s->max, t);
}

// ---------------------------------------------------------------------------
// Calibration

static void stats_free(dc_qstats *st, int n) {
    for (int i = 0; st && i < n; i++) {
        free(st[i].hist);
        free(st[i].ahist);
    }
    free(st);
}

static dc_status calibrate(dc_qstats **out, const dc_model *fm, const dc_dataset *ds, const dc_quant_config *cfg,
                           dc_error *err) {
    *out = NULL;
    const int nn = fm->n_nodes;
    const bool hist = cfg->method != DC_CALIB_MINMAX;
    int n = cfg->samples < ds->n ? cfg->samples : ds->n;
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "quantize: no calibration samples (--calibrate %d, %d in %s)",
                              cfg->samples, ds->n, ds->source);
    const int B = cfg->batch > 0 ? (cfg->batch < n ? cfg->batch : n) : (n < 64 ? n : 64);
    dc_qstats *st = calloc((size_t)nn, sizeof *st);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)ds->n);
    dc_runtime *rt = NULL;
    dc_status s = !st || !idx ? dc_fail(err, DC_ERR_NOMEM, "quantize: out of memory") : DC_OK;
    for (int i = 0; !s && i < nn; i++) {
        st[i].min = INFINITY;
        st[i].max = -INFINITY;
        if (hist && (!(st[i].hist = calloc(DC_QHIST, sizeof(double))) || !(st[i].ahist = calloc(DC_QHIST, sizeof(double)))))
            s = dc_fail(err, DC_ERR_NOMEM, "quantize: out of memory");
    }
    if (!s) {
        for (int i = 0; i < ds->n; i++) idx[i] = i;
        dc_rng r;
        dc_rng_seed(&r, cfg->seed);
        dc_rng_shuffle_i32(&r, idx, (size_t)ds->n);
        dc_graph g = dc_model_graph(fm);
        s = dc_runtime_new(&rt, &g, B, DC_MODE_EVAL, DC_RT_KEEP_ALL | DC_RT_NO_FUSE, cfg->nthreads, err);
    }
    if (!s) dc_runtime_bind(rt, fm->params, NULL, fm->state);
    for (int pass = 0; !s && pass < (hist ? 2 : 1); pass++)
        for (int b0 = 0; b0 < n; b0 += B) {
            const int nb = n - b0 < B ? n - b0 : B;
            dc_batch_gather(dc_runtime_input(rt), NULL, ds, idx + b0, nb, fm->norm_mean, fm->norm_std);
            dc_runtime_forward(rt, nb, NULL);
            for (int i = 0; i < nn; i++) {
                const float *y = dc_runtime_node_output(rt, i);
                const size_t cnt = (size_t)nb * dc_node_size(&fm->nodes[i]);
                dc_qstats *q = &st[i];
                if (pass == 0) {
                    for (size_t j = 0; j < cnt; j++) {
                        if (y[j] < q->min) q->min = y[j];
                        if (y[j] > q->max) q->max = y[j];
                    }
                    continue;
                }
                const double w = (double)q->max - q->min, amax = fmax(fabs(q->min), fabs(q->max));
                for (size_t j = 0; j < cnt; j++) {
                    int b = w > 0 ? (int)(((double)y[j] - q->min) / w * DC_QHIST) : 0;
                    int a = amax > 0 ? (int)(fabs((double)y[j]) / amax * DC_QHIST) : 0;
                    q->hist[b < DC_QHIST ? b : DC_QHIST - 1] += 1;
                    q->ahist[a < DC_QHIST ? a : DC_QHIST - 1] += 1;
                }
            }
        }
    for (int i = 0; !s && i < nn; i++)
        if (!isfinite(st[i].min) || !isfinite(st[i].max))
            s = dc_fail(err, DC_ERR_NUMERIC, "quantize: layer %s gives non-finite values on the calibration samples",
                        fm->nodes[i].name);
    dc_runtime_free(rt);
    free(idx);
    if (s) {
        stats_free(st, nn);
        return s;
    }
    *out = st;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// From ranges to the quantised model

// Activation parameters of every node from per-node ranges lo/hi (the fused
// relu's range already substituted where the rules say so).
static void assign_acts(dc_model *fm, dc_qmodel *q, const float *lo, const float *hi, const float *amax) {
    const int nn = fm->n_nodes;
    for (int i = 0; i < nn; i++) {
        const dc_node *n = &fm->nodes[i];
        if (i > 0 && dc_q_passthrough(n)) {
            q->act_scale[i] = q->act_scale[n->in[0]];
            q->act_zp[i] = q->act_zp[n->in[0]];
        } else if (i == nn - 1 && dc_q_weighted(n)) {
            q->act_scale[i] = amax[i] > 0 ? amax[i] / 32767.0f : 1.0f;
            q->act_zp[i] = 0;
        } else {
            dc_qparams(lo[i], hi[i], q->qmax, &q->act_scale[i], &q->act_zp[i]);
        }
    }
}

// The int8 weights and int32 biases from fm's fp32 parameters and the
// activation parameters; fm's parameters become their dequantised values.
static void quantize_params(dc_model *fm, dc_qmodel *q) {
    for (int i = 1; i < fm->n_nodes; i++) {
        const dc_node *n = &fm->nodes[i];
        if (!dc_q_weighted(n)) continue;
        const int OC = n->c;
        const size_t per = n->t[0].n / (size_t)OC;
        float *w = fm->params + n->t[0].off, *b = fm->params + n->t[1].off;
        dc_quantize_weights(q->w[i], q->w_scale[i], w, OC, per);
        const double s_in = q->act_scale[n->in[0]];
        for (int o = 0; o < OC; o++) {
            const double sb = s_in * q->w_scale[i][o];
            double v = b[o] / sb;
            v = v > 2147483000.0 ? 2147483000.0 : v < -2147483000.0 ? -2147483000.0 : v;
            q->bias[i][o] = dc_round_i32(v);
            b[o] = (float)(q->bias[i][o] * sb);
            for (size_t j = 0; j < per; j++) w[(size_t)o * per + j] = q->w_scale[i][o] * (float)q->w[i][(size_t)o * per + j];
        }
    }
}

// Ranges of every node from calibration statistics, with the input's exact
// range and the fused relus' ranges substituted.
static void ranges_of(const dc_model *fm, const dc_qstats *st, const dc_quant_config *cfg, int qmax, float *lo,
                      float *hi, float *amax) {
    for (int i = 0; i < fm->n_nodes; i++) {
        const int r = dc_q_fused_relu(fm, i);
        const dc_qstats *s = &st[r >= 0 ? r : i];
        dc_qrange(s, cfg->method, cfg->percentile, qmax + 1, &lo[i], &hi[i]);
        amax[i] = fmaxf(fabsf(st[i].min), fabsf(st[i].max));
    }
    // the image input: exactly the range of normalised pixels, over every
    // channel (one scale per tensor: the widest channel's range)
    lo[0] = INFINITY, hi[0] = -INFINITY;
    for (int c = 0; c < fm->in_c; c++) {
        lo[0] = fminf(lo[0], (0.0f - fm->norm_mean[c]) / fm->norm_std[c]);
        hi[0] = fmaxf(hi[0], (1.0f - fm->norm_mean[c]) / fm->norm_std[c]);
    }
}

dc_quant_config dc_quant_config_default(void) {
    dc_quant_config c = {.method = DC_CALIB_MINMAX, .samples = 512, .percentile = 99.99, .reduce_range = false,
                         .seed = 1, .batch = 64, .nthreads = 0};
    return c;
}

const char *dc_calib_method_name(dc_calib_method m) {
    return m == DC_CALIB_PERCENTILE ? "percentile" : m == DC_CALIB_KL ? "kl" : "minmax";
}

dc_status dc_calib_method_parse(dc_calib_method *m, const char *name, dc_error *err) {
    if (!strcmp(name, "minmax")) *m = DC_CALIB_MINMAX;
    else if (!strcmp(name, "percentile")) *m = DC_CALIB_PERCENTILE;
    else if (!strcmp(name, "kl") || !strcmp(name, "entropy")) *m = DC_CALIB_KL;
    else return dc_fail(err, DC_ERR_ARG, "--method %s: expected minmax, percentile or kl", name);
    return DC_OK;
}

// Calibrates fm (folded) on ds and fills its quantisation (fm->quant set).
static dc_status quantize_folded(dc_model *fm, const dc_dataset *ds, const dc_quant_config *cfg, dc_error *err) {
    dc_status s = dc_q_check_supported(fm, err);
    if (s) return s;
    if (ds->c != fm->in_c || ds->h != fm->in_h || ds->w != fm->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d", ds->source, ds->c,
                       ds->h, ds->w, fm->in_c, fm->in_h, fm->in_w);
    if (cfg->method == DC_CALIB_PERCENTILE && !(cfg->percentile > 50 && cfg->percentile <= 100))
        return dc_fail(err, DC_ERR_ARG, "--percentile %g: expected a share in (50, 100]", cfg->percentile);
    dc_qstats *st = NULL;
    dc_qmodel *q = NULL;
    const int nn = fm->n_nodes;
    float *lo = malloc(sizeof(float) * 3 * (size_t)nn);
    if (!lo) return dc_fail(err, DC_ERR_NOMEM, "quantize: out of memory");
    if (!(s = calibrate(&st, fm, ds, cfg, err)) && !(s = dc_qmodel_new(&q, fm, err))) {
        q->qmax = cfg->reduce_range ? 127 : 255;
        q->samples = cfg->samples < ds->n ? cfg->samples : ds->n;
        q->percentile = cfg->method == DC_CALIB_PERCENTILE ? cfg->percentile : 0;
        snprintf(q->method, sizeof q->method, "%s", dc_calib_method_name(cfg->method));
        ranges_of(fm, st, cfg, q->qmax, lo, lo + nn, lo + 2 * nn);
        assign_acts(fm, q, lo, lo + nn, lo + 2 * nn);
        quantize_params(fm, q);
        dc_qmodel_free(fm->quant);
        fm->quant = q;
    }
    stats_free(st, nn);
    free(lo);
    return s;
}

dc_status dc_quantize(dc_model **out, const dc_model *m, const dc_dataset *calib, const dc_quant_config *cfg,
                      dc_error *err) {
    *out = NULL;
    if (m->quant) return dc_fail(err, DC_ERR_ARG, "the model is already quantised (int8): quantise its fp32 model");
    dc_model *fm = NULL;
    dc_status s = dc_fold_batchnorm(&fm, m, NULL, err);
    if (!s) s = quantize_folded(fm, calib, cfg, err);
    if (s) {
        dc_model_free(fm);
        return s;
    }
    *out = fm;
    return DC_OK;
}

dc_status dc_q_calibrate_ranges(float *lo, float *hi, float *amax, const dc_model *fm, const dc_dataset *ds,
                                const dc_quant_config *cfg, dc_error *err) {
    dc_qstats *st = NULL;
    dc_status s = calibrate(&st, fm, ds, cfg, err);
    if (s) return s;
    ranges_of(fm, st, cfg, cfg->reduce_range ? 127 : 255, lo, hi, amax);
    stats_free(st, fm->n_nodes);
    return DC_OK;
}
