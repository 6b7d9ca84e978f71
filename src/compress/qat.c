// qat.c — quantisation-aware training (see quant.h): the folded model with
// fakequant nodes (model/ops.c) after every node that owns an int8 range,
// trained by dc_train with the weights on their int8 grid (m->qat_master:
// the straight-through estimator for weights), then quantised.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/model_edit.h"
#include "compress/quant.h"
#include "core/core.h"

// ---------------------------------------------------------------------------
// Weights on the int8 grid (dc_quantize_weights' arithmetic, without its buffer)

void dc_qat_fake_weights(dc_model *m) {
    // params hold the fp32 weights the optimizer just updated: keep them, then
    // replace each conv2d/linear weight by s[o] * round(w / s[o]), s[o] = max|w[o]| / 127
    memcpy(m->qat_master, m->params, sizeof(float) * m->n_params);
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (!dc_q_weighted(n)) continue;
        const size_t per = n->t[0].n / (size_t)n->c;
        float *w = m->params + n->t[0].off;
        for (int o = 0; o < n->c; o++) {
            float *wo = w + (size_t)o * per, mx = 0;
            for (size_t j = 0; j < per; j++) mx = fabsf(wo[j]) > mx ? fabsf(wo[j]) : mx;
            const float s = mx > 0 ? mx / 127.0f : 1.0f;
            for (size_t j = 0; j < per; j++) {
                int32_t v = dc_round_i32((double)wo[j] / s);
                v = v < -127 ? -127 : v > 127 ? 127 : v;
                wo[j] = s * (float)v;
            }
        }
    }
}

void dc_qat_restore(dc_model *m) { memcpy(m->params, m->qat_master, sizeof(float) * m->n_params); }

// ---------------------------------------------------------------------------
// The training graph

static bool append(char **s, size_t *len, size_t *cap, const char *part) {
    const size_t n = strlen(part);
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *len + n + 1) nc *= 2;
        char *ns = realloc(*s, nc);
        if (!ns) return false;
        *s = ns;
        *cap = nc;
    }
    memcpy(*s + *len, part, n + 1);
    *len += n;
    return true;
}

// fm's architecture with "fakequant" lines: after the input, and after each
// node owning a range (after its fused relu when it has one); readers of a
// quantised node read its fakequant.
static dc_status qat_text(char **text, const dc_model *fm, const float *lo, const float *hi, int qmax, dc_error *err) {
    const int nn = fm->n_nodes;
    char (*src)[DC_NODE_NAME_MAX + 4] = calloc((size_t)nn, sizeof *src); // the name readers of node i read
    int *fq_after = malloc(sizeof(int) * (size_t)nn);                    // node whose range follows node i, or -1
    char *s = NULL, line[1200];
    size_t len = 0, cap = 0;
    bool ok = src && fq_after;
    for (int i = 0; ok && i < nn; i++) fq_after[i] = -1;
    for (int i = 0; ok && i < nn - 1; i++) {
        const dc_node *n = &fm->nodes[i];
        if (i > 0 && dc_q_passthrough(n)) continue;
        const int r = dc_q_fused_relu(fm, i);
        fq_after[r >= 0 ? r : i] = i;
    }
    for (int i = 0; ok && i < nn; i++) {
        const dc_node *n = &fm->nodes[i];
        snprintf(src[i], sizeof src[i], "%s", n->name);
        if (i > 0) {
            char cfg[512], clean[512];
            dc_node_config_text(n, cfg, sizeof cfg);
            size_t cl = 0;
            clean[0] = 0;
            for (char *save = NULL, *tok = strtok_r(cfg, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                if (!strncmp(tok, "in=", 3)) continue;
                cl += (size_t)snprintf(clean + cl, sizeof clean - cl, "%s%s", cl ? " " : "", tok);
            }
            size_t l = (size_t)snprintf(line, sizeof line, "%s%s%s from=", n->op->kind, cl ? " " : "", clean);
            for (int k = 0; k < n->n_in; k++) l += (size_t)snprintf(line + l, sizeof line - l, "%s%s", k ? "," : "", src[n->in[k]]);
            snprintf(line + l, sizeof line - l, " name=%s\n", n->name);
            ok = append(&s, &len, &cap, line);
        }
        const int o = fq_after[i];
        if (ok && o >= 0) {
            float scale;
            int32_t zp;
            dc_qparams(lo[o], hi[o], qmax, &scale, &zp);
            snprintf(line, sizeof line, "fakequant scale=%.9g zero=%d qmax=%d from=%s name=%s.fq\n", (double)scale, (int)zp,
                     qmax, n->name, n->name);
            ok = append(&s, &len, &cap, line);
            snprintf(src[i], sizeof src[i], "%s.fq", n->name);
        }
    }
    free(src);
    free(fq_after);
    if (!ok) {
        free(s);
        return dc_fail(err, DC_ERR_NOMEM, "qat: out of memory");
    }
    *text = s;
    return DC_OK;
}

dc_status dc_quantize_qat(dc_model **out, const dc_model *m, const dc_dataset *train, const dc_dataset *heldout,
                          const dc_quant_config *qcfg, const dc_train_config *tc, dc_train_callback cb, void *user,
                          dc_error *err) {
    *out = NULL;
    if (m->quant) return dc_fail(err, DC_ERR_ARG, "the model is already quantised (int8): quantise its fp32 model");
    if (tc->epochs < 1) return dc_fail(err, DC_ERR_ARG, "--qat %d: expected at least 1 epoch", tc->epochs);
    dc_model *fm = NULL, *qm = NULL;
    dc_status st = dc_fold_batchnorm(&fm, m, NULL, err);
    if (!st) st = dc_q_check_supported(fm, err);
    const int nn = fm ? fm->n_nodes : 0, qmax = qcfg->reduce_range ? 127 : 255;
    float *r = st ? NULL : malloc(sizeof(float) * 3 * (size_t)nn);
    if (!st && !r) st = dc_fail(err, DC_ERR_NOMEM, "qat: out of memory");
    if (!st) st = dc_q_calibrate_ranges(r, r + nn, r + 2 * nn, fm, train, qcfg, err);
    char *text = NULL;
    if (!st) st = qat_text(&text, fm, r, r + nn, qmax, err);
    if (!st) st = dc_model_parse_tabular(&qm, text, "quantisation-aware model", fm->in_c, fm->in_h, fm->in_w,
                                         fm->n_classes, fm->tab_f, err);
    free(text);
    free(r);
    if (!st) st = dc_model_copy_meta(qm, fm, err);
    if (!st) {
        dc_model_copy_same_tensors(qm, fm);
        if (!(qm->qat_master = dc_alloc(sizeof(float) * (qm->n_params ? qm->n_params : 1))))
            st = dc_fail(err, DC_ERR_NOMEM, "qat: out of memory");
    }
    if (!st) {
        dc_train_config c = *tc;
        c.epochs = qm->epochs_done + tc->epochs;
        c.sched_start = qm->epochs_done; // the schedule runs over the QAT epochs
        c.sched_epochs = tc->epochs;
        c.checkpoint = NULL;
        st = dc_train(qm, train, heldout, &c, cb, user, err);
    }
    dc_model *q8 = NULL;
    if (!st) {
        // the trained fp32 weights back into the folded model, then its int8 model
        dc_model_copy_same_tensors(fm, qm);
        fm->epochs_done = m->epochs_done + tc->epochs;
        st = dc_quantize(&q8, fm, train, qcfg, err);
    }
    if (!st) snprintf(q8->quant->method, sizeof q8->quant->method, "qat+%s", dc_calib_method_name(qcfg->method));
    dc_model_free(qm);
    dc_model_free(fm);
    if (st) return st;
    *out = q8;
    return DC_OK;
}
