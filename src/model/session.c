// session.c — dc_session: re-entrant inference over a read-only model.
//
// A session is planned once (dc_session_new) and then runs forward passes
// only. Planning copies what it will change and never writes the model:
//   - BatchNorm folding: a batchnorm2d (eval mode) whose input is a conv2d
//     that feeds nothing else is folded into that convolution,
//       w'[o] = w[o] * gamma[o] * invstd[o],  b'[o] = beta[o] + (b[o] - mean[o]) * gamma[o] * invstd[o],
//     with invstd = 1/sqrt(running_var + eps) (PyTorch's eval formula), and
//     the BatchNorm node disappears from the plan. The folded model gives the
//     unfolded one's outputs to float rounding (about 1e-6 relative).
//   - ReLU fusion (the executor's, exec.c): a relu that is the only reader
//     of a convolution (folded or not), a BatchNorm or an add becomes that
//     node's epilogue, the same bits as a separate relu.
//   - int8: a quantised model (compress/quant.h) is planned by
//     dc_qplan_build instead: the same executor over int8 nodes, whose
//     kernels come from the int8 registry (kernels/int8_kernels.h).
//   - The plan's nodes and parameters are the session's own copies; its
//     executor shares output buffers by liveness, so a batch of 256 through
//     a ResNet costs a few activation buffers rather than one per node.
// Everything a pass writes (activations, scratch) belongs to the session, so
// any number of sessions may run over one model at once (a server's
// workers, parallel explanations): the model is only read.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "layers/layers.h"
#include "model/model.h"

struct dc_session {
    const dc_model *m;
    dc_node *nodes;      // (n_nodes) the plan, owned
    int n_nodes;
    float *params;       // (n_params) the plan's parameters (folded), owned
    size_t n_params;
    dc_runtime *rt;
    int max_n, n_classes, folded;
    size_t in_size;
    int n_tab;                 // tabular input nodes of the plan
    int tab_node[DC_NODE_MAX_IN];
    int tab_f;
    dc_qplan *qp;        // int8 plans: the kernel data, owned (NULL for fp32)
};

static bool is_conv(const dc_node *n) { return n->n_t && n->t[0].rank == 4 && n->t[0].buf == DC_BUF_PARAM; }
static bool is_bn(const dc_node *n) { return (n->op->flags & DC_OP_COUPLED) && n->n_in == 1; }

// Builds the plan: the model's nodes minus the folded BatchNorms, tensors
// re-laid in a fresh parameter buffer (a folded conv gains a bias).
static dc_status plan(dc_session *s, dc_error *err) {
    const dc_model *m = s->m;
    const int nn = m->n_nodes;
    int *consumers = calloc((size_t)nn, sizeof(int)), *map = malloc(sizeof(int) * (size_t)nn);
    bool *fold = calloc((size_t)nn, sizeof(bool));  // fold[i]: BN node i folds into its input
    bool *gains = calloc((size_t)nn, sizeof(bool)); // gains[i]: a BN folds into conv i
    s->nodes = calloc((size_t)nn, sizeof(dc_node));
    if (!consumers || !map || !fold || !gains || !s->nodes) {
        free(consumers), free(map), free(fold), free(gains);
        return dc_fail(err, DC_ERR_NOMEM, "session: out of memory");
    }
    for (int i = 1; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) consumers[m->nodes[i].in[k]]++;
    for (int i = 1; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (is_bn(n) && n->cfg.bn.affine && is_conv(&m->nodes[n->in[0]]) && consumers[n->in[0]] == 1) {
            fold[i] = true;
            gains[n->in[0]] = true;
        }
    }
    // the plan's nodes, in order; a folded BN maps to its conv
    size_t np = 0;
    int out = 0;
    for (int i = 0; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        if (fold[i]) {
            map[i] = map[n->in[0]];
            continue;
        }
        dc_node *p = &s->nodes[out];
        *p = *n;
        for (int k = 0; k < p->n_in; k++) p->in[k] = map[n->in[k]];
        if (gains[i] && p->n_t == 1) { // the conv gains a bias: what the BN adds
            dc_tensor_ref *b = &p->t[p->n_t++];
            memset(b, 0, sizeof *b);
            b->suffix = "bias";
            b->buf = DC_BUF_PARAM;
            b->n = (size_t)p->c;
            b->rank = 1;
            b->shape[0] = p->c;
            p->cfg.conv.bias = true;
        }
        for (int t = 0; t < p->n_t; t++)
            if (p->t[t].buf == DC_BUF_PARAM) {
                p->t[t].off = np;
                np += p->t[t].n;
            }
        map[i] = out++;
    }
    s->n_nodes = out;
    s->n_params = np;
    s->params = dc_alloc(sizeof(float) * (np ? np : 1));
    dc_status st = s->params ? DC_OK : dc_fail(err, DC_ERR_NOMEM, "session: out of memory");
    // copy the parameters, then fold
    for (int i = 0; !st && i < nn; i++) {
        if (fold[i]) continue;
        const dc_node *n = &m->nodes[i];
        const dc_node *p = &s->nodes[map[i]];
        for (int t = 0; t < n->n_t; t++)
            if (n->t[t].buf == DC_BUF_PARAM) memcpy(s->params + p->t[t].off, m->params + n->t[t].off, sizeof(float) * n->t[t].n);
        if (p->n_t > n->n_t) memset(s->params + p->t[1].off, 0, sizeof(float) * p->t[1].n);
    }
    for (int i = 0; !st && i < nn; i++) {
        if (!fold[i]) continue;
        const dc_node *bn = &m->nodes[i];
        const dc_node *conv = &s->nodes[map[i]];
        const float *gamma = m->params + bn->t[0].off, *beta = m->params + bn->t[1].off;
        const float *rm = m->state + bn->t[2].off, *rv = m->state + bn->t[3].off;
        float *w = s->params + conv->t[0].off, *b = s->params + conv->t[1].off;
        const size_t per = conv->t[0].n / (size_t)conv->c;
        for (int o = 0; o < conv->c; o++) {
            const float scale = gamma[o] / sqrtf(rv[o] + bn->cfg.bn.eps);
            for (size_t j = 0; j < per; j++) w[(size_t)o * per + j] *= scale;
            b[o] = beta[o] + (b[o] - rm[o]) * scale;
        }
        s->folded++;
    }
    free(consumers);
    free(map);
    free(fold);
    free(gains);
    return st;
}

// The int8 plan of a quantised model: its nodes become the session's.
static dc_status plan_int8(dc_session *s, dc_error *err) {
    if (!(s->qp = calloc(1, sizeof *s->qp)) || !(s->params = dc_alloc(sizeof(float))))
        return dc_fail(err, DC_ERR_NOMEM, "session: out of memory");
    dc_status st = dc_qplan_build(s->qp, s->m, NULL, err);
    if (st) return st;
    s->nodes = s->qp->nodes;
    s->n_nodes = s->qp->n_nodes;
    s->qp->nodes = NULL;
    return DC_OK;
}

static void set_tabular(dc_session *s, const float *tab, int n) {
    // every tabular input takes the same (n, tab_f) rows
    for (int k = 0; k < s->n_tab; k++)
        memcpy(dc_runtime_input_at(s->rt, s->tab_node[k]), tab, sizeof(float) * (size_t)n * s->tab_f);
}

dc_status dc_session_new(dc_session **out, const dc_model *m, int max_batch, int nthreads, dc_error *err) {
    *out = NULL;
    if (max_batch < 1) return dc_fail(err, DC_ERR_ARG, "session: max batch %d must be >= 1", max_batch);
    dc_session *s = calloc(1, sizeof *s);
    if (!s) return dc_fail(err, DC_ERR_NOMEM, "session: out of memory");
    s->m = m;
    s->max_n = max_batch;
    s->n_classes = m->n_classes;
    s->in_size = (size_t)m->in_c * m->in_h * m->in_w;
    dc_status st = m->quant ? plan_int8(s, err) : plan(s, err);
    if (!st) {
        dc_graph g = {s->nodes, s->n_nodes, s->n_params, m->n_state};
        st = dc_runtime_new(&s->rt, &g, max_batch, DC_MODE_EVAL, 0, nthreads, err);
        // int8: 16 samples at a time through the whole plan, their bytes in
        // L1/L2 (LeNet-5 at batch 256, 1 thread: +12% over the whole slice
        // at once; 4 and 64 measured too, BENCHMARKS.md)
        if (!st && m->quant) dc_runtime_set_chunk(s->rt, 16);
    }
    if (st) {
        dc_session_free(s);
        return st;
    }
    for (int i = 1; i < s->n_nodes; i++)
        if ((s->nodes[i].op->flags & DC_OP_INPUT) && s->n_tab < DC_NODE_MAX_IN) s->tab_node[s->n_tab++] = i;
    s->tab_f = m->tab_f;
    // state is only read in eval mode (BatchNorms that were not folded)
    dc_runtime_bind(s->rt, s->params, NULL, (float *)m->state);
    st = dc_runtime_prepare(s->rt, err); // the session's parameters never change
    if (st) {
        dc_session_free(s);
        return st;
    }
    *out = s;
    return DC_OK;
}

void dc_session_free(dc_session *s) {
    if (!s) return;
    dc_runtime_free(s->rt);
    dc_qplan_free(s->qp);
    free(s->qp);
    dc_free(s->params);
    free(s->nodes);
    free(s);
}

int dc_session_max_batch(const dc_session *s) { return s->max_n; }
int dc_session_folded(const dc_session *s) { return s->folded; }
int dc_session_fused(const dc_session *s) { return dc_runtime_fused(s->rt); }

dc_status dc_session_logits(dc_session *s, const float *x, int n, float *logits, dc_error *err) {
    if (n < 1 || n > s->max_n)
        return dc_fail(err, DC_ERR_ARG, "session: batch of %d samples; this session takes 1 to %d", n, s->max_n);
    if (s->n_tab) return dc_fail(err, DC_ERR_ARG, "session: the model has a tabular input: use dc_session_predict_tabular");
    memcpy(dc_runtime_input(s->rt), x, sizeof(float) * (size_t)n * s->in_size);
    const float *z = dc_runtime_forward(s->rt, n, NULL);
    memcpy(logits, z, sizeof(float) * (size_t)n * s->n_classes);
    return DC_OK;
}

dc_status dc_session_predict(dc_session *s, const float *x, int n, float *probs, dc_error *err) {
    if (n < 1 || n > s->max_n)
        return dc_fail(err, DC_ERR_ARG, "session: batch of %d samples; this session takes 1 to %d", n, s->max_n);
    if (s->n_tab) return dc_fail(err, DC_ERR_ARG, "session: the model has a tabular input: use dc_session_predict_tabular");
    memcpy(dc_runtime_input(s->rt), x, sizeof(float) * (size_t)n * s->in_size);
    const float *z = dc_runtime_forward(s->rt, n, NULL);
    dc_softmax_xent_forward(probs, z, NULL, NULL, n, s->n_classes);
    return DC_OK;
}

dc_status dc_session_predict_tabular(dc_session *s, const float *x, const float *tab, int n, float *probs,
                                     dc_error *err) {
    if (n < 1 || n > s->max_n)
        return dc_fail(err, DC_ERR_ARG, "session: batch of %d samples; this session takes 1 to %d", n, s->max_n);
    memcpy(dc_runtime_input(s->rt), x, sizeof(float) * (size_t)n * s->in_size);
    if (s->n_tab) set_tabular(s, tab, n);
    const float *z = dc_runtime_forward(s->rt, n, NULL);
    dc_softmax_xent_forward(probs, z, NULL, NULL, n, s->n_classes);
    return DC_OK;
}

float *dc_session_input(dc_session *s) { return dc_runtime_input(s->rt); }

int dc_session_tabular_features(const dc_session *s) { return s->tab_f; }


float *dc_session_tabular(dc_session *s) { return s->n_tab ? dc_runtime_input_at(s->rt, s->tab_node[0]) : NULL; }

const float *dc_session_run(dc_session *s, int n) {
    DC_ASSERT(n >= 1 && n <= s->max_n);
    // dc_session_tabular filled the first tabular input: the others take the same rows
    for (int k = 1; k < s->n_tab; k++)
        memcpy(dc_runtime_input_at(s->rt, s->tab_node[k]), dc_runtime_input_at(s->rt, s->tab_node[0]),
               sizeof(float) * (size_t)n * s->tab_f);
    return dc_runtime_forward(s->rt, n, NULL);
}

