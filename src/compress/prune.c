// prune.c — magnitude pruning (see prune.h): unstructured masks, channel
// groups coupled through residual adds, structured channel removal through
// the text format (compress/model_edit.h) with index maps for every tensor,
// iterative schedules with fine-tuning, and the per-layer table.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/model_edit.h"
#include "compress/prune.h"
#include "core/core.h"

static bool kind_is(const dc_node *n, const char *k) { return !strcmp(n->op->kind, k); }
static bool weighted(const dc_node *n) { return kind_is(n, "conv2d") || kind_is(n, "linear"); }

dc_prune_config dc_prune_config_default(void) {
    dc_prune_config c = {.structured = false, .per_layer = false, .norm = 1, .multiple = 1, .sparsity = 0.5, .macs = 0, .steps = 1,
                         .finetune = 0};
    return c;
}

// ---------------------------------------------------------------------------
// Unstructured

typedef struct mag {
    float a;       // |w| (0 for an already pruned weight)
    uint8_t kept;  // 0: already pruned (sorts first)
    uint32_t j;    // position (ties)
} mag;

static int mag_cmp(const void *x, const void *y) {
    const mag *a = x, *b = y;
    if (a->kept != b->kept) return a->kept < b->kept ? -1 : 1;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return a->j < b->j ? -1 : a->j > b->j;
}

// Prunes the `count` smallest of the weights at flat positions pos (n of them).
static dc_status prune_positions(dc_model *m, const size_t *pos, size_t n, size_t count) {
    mag *v = malloc(sizeof *v * (n ? n : 1));
    if (!v) return DC_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        const size_t p = pos[k];
        v[k] = (mag){.a = fabsf(m->params[p]), .kept = m->mask[p] != 0, .j = (uint32_t)k};
    }
    qsort(v, n, sizeof *v, mag_cmp);
    for (size_t k = 0; k < n && k < count; k++) {
        const size_t p = pos[v[k].j];
        m->mask[p] = 0;
        m->params[p] = 0.0f;
        if (m->has_optim) {
            if (m->optim.buf1) m->optim.buf1[p] = 0.0f;
            if (m->optim.buf2) m->optim.buf2[p] = 0.0f;
        }
    }
    free(v);
    return DC_OK;
}

dc_status dc_prune_unstructured(dc_model *m, double sparsity, bool per_layer, dc_error *err) {
    if (!(sparsity >= 0 && sparsity < 1)) return dc_fail(err, DC_ERR_ARG, "--sparsity %g: expected a share in [0, 1)", sparsity);
    if (m->quant) return dc_fail(err, DC_ERR_ARG, "prune: the model is int8; prune its fp32 model, then quantise");
    if (!m->mask) {
        if (!(m->mask = malloc(m->n_params ? m->n_params : 1))) return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
        memset(m->mask, 1, m->n_params);
    }
    size_t total = 0;
    for (int i = 1; i < m->n_nodes; i++)
        if (weighted(&m->nodes[i])) total += m->nodes[i].t[0].n;
    size_t *pos = malloc(sizeof(size_t) * (total ? total : 1));
    if (!pos) return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    size_t n = 0;
    dc_status st = DC_OK;
    for (int i = 1; !st && i < m->n_nodes; i++) {
        const dc_node *nd = &m->nodes[i];
        if (!weighted(nd)) continue;
        const size_t start = n;
        for (size_t j = 0; j < nd->t[0].n; j++) pos[n++] = nd->t[0].off + j;
        if (per_layer) {
            const size_t cnt = n - start;
            if (prune_positions(m, pos + start, cnt, (size_t)llround(sparsity * (double)cnt)))
                st = dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
        }
    }
    if (!st && !per_layer && prune_positions(m, pos, n, (size_t)llround(sparsity * (double)n)))
        st = dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    free(pos);
    return st;
}

// ---------------------------------------------------------------------------
// Channel groups

static int uf_find(int *p, int x) {
    while (p[x] != x) x = p[x] = p[p[x]];
    return x;
}

void dc_channel_groups_free(dc_channel_groups *g) {
    free(g->group), free(g->rep), free(g->fixed), free(g->size), free(g->producers);
    memset(g, 0, sizeof *g);
}

dc_status dc_channel_groups_make(dc_channel_groups *g, const dc_model *m, dc_error *err) {
    memset(g, 0, sizeof *g);
    const int nn = m->n_nodes;
    int *raw = calloc((size_t)nn, sizeof(int)), *uf = malloc(sizeof(int) * (size_t)nn);
    bool *fix = calloc((size_t)nn, sizeof(bool));
    int *sz = calloc((size_t)nn, sizeof(int));
    g->group = malloc(sizeof(int) * (size_t)nn);
    g->rep = malloc(sizeof(int) * (size_t)nn);
    if (!raw || !uf || !fix || !sz || !g->group || !g->rep) {
        free(raw), free(uf), free(fix), free(sz);
        dc_channel_groups_free(g);
        return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    }
    int ng = 0;
    for (int i = 0; i < nn; i++) uf[i] = i;
    for (int i = 0; i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        g->rep[i] = n->h * n->w; // a spatial tensor read as a vector: feature f is channel f / (H*W)
        if (i == 0 || (n->op->flags & DC_OP_INPUT)) {
            raw[i] = ng, sz[ng] = n->c, fix[ng] = true, ng++;
        } else if (weighted(n) || kind_is(n, "concat")) {
            raw[i] = ng, sz[ng] = n->c, fix[ng] = kind_is(n, "concat") || i == nn - 1, ng++;
            if (kind_is(n, "concat"))
                for (int k = 0; k < n->n_in; k++) fix[raw[n->in[k]]] = true; // resolved below through uf
        } else if (kind_is(n, "flatten")) {
            raw[i] = raw[n->in[0]];
            g->rep[i] = m->nodes[n->in[0]].h * m->nodes[n->in[0]].w;
            if (m->nodes[n->in[0]].h * m->nodes[n->in[0]].w == 1) g->rep[i] = g->rep[n->in[0]];
        } else if (kind_is(n, "add")) {
            raw[i] = raw[n->in[0]];
            for (int k = 1; k < n->n_in; k++) {
                const int a = uf_find(uf, raw[n->in[0]]), b = uf_find(uf, raw[n->in[k]]);
                if (a != b) uf[b] = a;
            }
        } else {
            // channel-preserving: batchnorm2d, relu, tanh, sigmoid, pooling, dropout, groupnorm, layernorm
            raw[i] = raw[n->in[0]];
            if (kind_is(n, "groupnorm") || kind_is(n, "layernorm")) fix[raw[i]] = true;
            if (m->nodes[n->in[0]].h * m->nodes[n->in[0]].w == 1 && n->h * n->w == 1) g->rep[i] = g->rep[n->in[0]];
        }
    }
    // the logits' group is fixed (it may be joined by an add)
    fix[raw[nn - 1]] = true;
    // compact the union-find roots into group ids
    int *id = malloc(sizeof(int) * (size_t)(ng ? ng : 1));
    g->fixed = calloc((size_t)(ng ? ng : 1), sizeof(bool));
    g->size = calloc((size_t)(ng ? ng : 1), sizeof(int));
    g->producers = calloc((size_t)(ng ? ng : 1), sizeof(int));
    if (!id || !g->fixed || !g->size || !g->producers) {
        free(raw), free(uf), free(fix), free(sz), free(id);
        dc_channel_groups_free(g);
        return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    }
    for (int k = 0; k < ng; k++) id[k] = -1;
    int n_groups = 0;
    for (int k = 0; k < ng; k++) {
        const int r = uf_find(uf, k);
        if (id[r] < 0) id[r] = n_groups++;
        id[k] = id[r];
    }
    for (int k = 0; k < ng; k++) {
        g->fixed[id[k]] = g->fixed[id[k]] || fix[k];
        g->size[id[k]] = sz[k];
    }
    for (int i = 0; i < nn; i++) {
        g->group[i] = id[raw[i]];
        if (weighted(&m->nodes[i])) g->producers[g->group[i]]++;
    }
    g->n_nodes = nn;
    g->n_groups = n_groups;
    free(raw), free(uf), free(fix), free(sz), free(id);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Structured

// keep[g] (size[g] flags) for every group: the channels kept.
static dc_status choose_channels(bool **keep, const dc_model *m, const dc_channel_groups *g, double ratio, int norm,
                                 int multiple, dc_error *err) {
    for (int k = 0; k < g->n_groups; k++) {
        const int S = g->size[k];
        if (!(keep[k] = malloc((size_t)(S ? S : 1)))) return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
        memset(keep[k], 1, (size_t)S);
        if (g->fixed[k] || !g->producers[k] || S < 2) continue;
        double *imp = calloc((size_t)S, sizeof(double));
        int *ord = malloc(sizeof(int) * (size_t)S);
        if (!imp || !ord) {
            free(imp), free(ord);
            return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
        }
        // importance: sum over producers of channel norm / that producer's mean channel norm
        for (int i = 1; i < m->n_nodes; i++) {
            const dc_node *n = &m->nodes[i];
            if (!weighted(n) || g->group[i] != k) continue;
            const size_t per = n->t[0].n / (size_t)n->c;
            const float *w = m->params + n->t[0].off;
            double mean = 0;
            double *cn = malloc(sizeof(double) * (size_t)S);
            if (!cn) {
                free(imp), free(ord);
                return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
            }
            for (int o = 0; o < S; o++) {
                double s = 0;
                for (size_t j = 0; j < per; j++) {
                    const double v = w[(size_t)o * per + j];
                    s += norm == 2 ? v * v : fabs(v);
                }
                cn[o] = norm == 2 ? sqrt(s) : s;
                mean += cn[o] / S;
            }
            for (int o = 0; o < S; o++) imp[o] += mean > 0 ? cn[o] / mean : 0;
            free(cn);
        }
        for (int o = 0; o < S; o++) ord[o] = o;
        // the least important first (insertion sort: groups are small); ties: the later channel first
        for (int a = 1; a < S; a++) {
            const int x = ord[a];
            int b = a - 1;
            while (b >= 0 && (imp[ord[b]] > imp[x] || (imp[ord[b]] == imp[x] && ord[b] < x))) {
                ord[b + 1] = ord[b];
                b--;
            }
            ord[b + 1] = x;
        }
        int drop = (int)llround(ratio * S);
        if (drop > S - 1) drop = S - 1;
        if (multiple > 1 && S >= multiple) { // the nearest multiple, at least one
            int kept = (int)llround((double)(S - drop) / multiple) * multiple;
            kept = kept < multiple ? multiple : kept > S ? S : kept;
            drop = S - kept;
        }
        for (int o = 0; o < drop; o++) keep[k][ord[o]] = 0;
        free(imp), free(ord);
    }
    return DC_OK;
}

static int count_kept(const bool *k, int S) {
    int c = 0;
    for (int o = 0; o < S; o++) c += k[o];
    return c;
}

// Index list of the kept entries of a dimension of `S * rep` elements
// (channel-major: element e is channel e / rep).
static int *kept_index(const bool *keep, int S, int rep, int *n) {
    int *ix = malloc(sizeof(int) * (size_t)(S * rep > 0 ? S * rep : 1));
    if (!ix) return NULL;
    int c = 0;
    for (int o = 0; o < S; o++)
        if (keep[o])
            for (int r = 0; r < rep; r++) ix[c++] = o * rep + r;
    *n = c;
    return ix;
}

static dc_status build_pruned(dc_model **out, const dc_model *m, const dc_channel_groups *g, bool **keep, dc_error *err) {
    const int nn = m->n_nodes;
    int *oc = calloc((size_t)nn, sizeof(int));
    if (!oc) return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    for (int i = 1; i < nn; i++)
        if (weighted(&m->nodes[i])) oc[i] = count_kept(keep[g->group[i]], g->size[g->group[i]]);
    dc_model_edit e = {.out = oc};
    dc_model *p = NULL;
    dc_status st = dc_model_edit_apply(&p, m, &e, err);
    free(oc);
    if (st) return st;
    // every tensor through the index maps of its dimensions
    for (int i = 1; !st && i < nn; i++) {
        const dc_node *n = &m->nodes[i];
        const dc_node *pn = &p->nodes[dc_model_find_node(p, n->name)];
        const int go = g->group[i];
        for (int k = 0; !st && k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k], *pt = &pn->t[k];
            const float *src = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            float *dst = (pt->buf == DC_BUF_PARAM ? p->params : p->state) + pt->off;
            if (t->n == 1 && pt->n == 1) { // num_batches_tracked and other scalars
                dst[0] = src[0];
                continue;
            }
            int n0 = 0, n1 = 1, *i0 = NULL, *i1 = NULL;
            const size_t inner = t->rank == 4 ? (size_t)(t->shape[2] * t->shape[3]) : 1;
            if (weighted(n) && !strcmp(t->suffix, "weight")) {
                const int gi = g->group[n->in[0]];
                const int rep = kind_is(n, "linear") ? g->rep[n->in[0]] : 1;
                i0 = kept_index(keep[go], g->size[go], 1, &n0);
                i1 = kept_index(keep[gi], g->size[gi], rep, &n1);
                if (i1 && (size_t)n1 * inner * (size_t)n0 != pt->n) {
                    st = dc_fail(err, DC_ERR_SHAPE, "prune: %s.weight: %d x %d kept, the pruned layer holds %zu (channel "
                                 "groups inconsistent)", n->name, n0, n1, pt->n);
                }
            } else {
                // one value per output channel (bias, BatchNorm), or a fixed group's tensor copied as it is
                i0 = kept_index(keep[go], g->size[go], 1, &n0);
                if (i0 && (size_t)n0 != pt->n) {
                    if (t->n == pt->n) {
                        memcpy(dst, src, sizeof(float) * t->n);
                        free(i0);
                        continue;
                    }
                    st = dc_fail(err, DC_ERR_SHAPE, "prune: %s.%s: %d channels kept, the pruned layer holds %zu", n->name,
                                 t->suffix, n0, pt->n);
                }
            }
            if (!st && (!i0 || (weighted(n) && !strcmp(t->suffix, "weight") && !i1)))
                st = dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
            if (!st) {
                const size_t in_dim = weighted(n) && !strcmp(t->suffix, "weight") ? (size_t)(t->n / (size_t)n->c / inner) : 1;
                for (int a = 0; a < n0; a++)
                    for (int b = 0; b < (i1 ? n1 : 1); b++)
                        for (size_t q = 0; q < inner; q++) {
                            const size_t s = ((size_t)i0[a] * in_dim + (size_t)(i1 ? i1[b] : 0)) * inner + q;
                            const size_t d = ((size_t)a * (size_t)(i1 ? n1 : 1) + (size_t)b) * inner + q;
                            dst[d] = src[s];
                        }
            }
            free(i0), free(i1);
        }
    }
    if (st) {
        dc_model_free(p);
        return st;
    }
    p->epochs_done = m->epochs_done;
    *out = p;
    return DC_OK;
}

dc_status dc_prune_keep(bool ***keep, const dc_model *m, const dc_channel_groups *g, double ratio, int norm,
                        int multiple, dc_error *err) {
    *keep = calloc((size_t)(g->n_groups ? g->n_groups : 1), sizeof(bool *));
    if (!*keep) return dc_fail(err, DC_ERR_NOMEM, "prune: out of memory");
    return choose_channels(*keep, m, g, ratio, norm, multiple, err);
}

dc_status dc_prune_structured(dc_model **out, const dc_model *m, double ratio, int norm, int multiple, dc_error *err) {
    *out = NULL;
    if (!(ratio >= 0 && ratio < 1)) return dc_fail(err, DC_ERR_ARG, "--sparsity %g: expected a share of channels in [0, 1)", ratio);
    if (norm != 1 && norm != 2) return dc_fail(err, DC_ERR_ARG, "--channel-norm %d: expected 1 (L1) or 2 (L2)", norm);
    if (multiple < 1 || multiple > 4096) return dc_fail(err, DC_ERR_ARG, "--multiple %d: expected 1 to 4096", multiple);
    if (m->quant) return dc_fail(err, DC_ERR_ARG, "prune: the model is int8; prune its fp32 model, then quantise");
    if (m->mask) return dc_fail(err, DC_ERR_ARG, "prune: the model is already pruned unstructured; structured pruning "
                                "starts from a dense model");
    dc_channel_groups g;
    dc_status st = dc_channel_groups_make(&g, m, err);
    if (st) return st;
    bool **keep = NULL;
    st = dc_prune_keep(&keep, m, &g, ratio, norm, multiple, err);
    if (!st) st = build_pruned(out, m, &g, keep, err);
    for (int k = 0; keep && k < g.n_groups; k++) free(keep[k]);
    free(keep);
    dc_channel_groups_free(&g);
    return st;
}

dc_status dc_prune_ratio_for_macs(double *ratio, const dc_model *m, double macs, int multiple, dc_error *err) {
    if (!(macs > 0 && macs < 1)) return dc_fail(err, DC_ERR_ARG, "--macs %g: expected a share in (0, 1)", macs);
    const double full = (double)dc_model_macs(m);
    double lo = 0, hi = 0.97;
    for (int it = 0; it < 24; it++) {
        const double mid = 0.5 * (lo + hi);
        dc_model *p = NULL;
        dc_status st = dc_prune_structured(&p, m, mid, 1, multiple, err);
        if (st) return st;
        const double removed = 1.0 - (double)dc_model_macs(p) / full;
        dc_model_free(p);
        if (removed < macs) lo = mid;
        else hi = mid;
    }
    *ratio = hi;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Statistics and the table

size_t dc_node_zero_weights(const dc_model *m, const dc_node *n) {
    if (!weighted(n)) return 0;
    size_t z = 0;
    for (size_t j = 0; j < n->t[0].n; j++) z += m->params[n->t[0].off + j] == 0.0f;
    return z;
}

double dc_model_weight_sparsity(const dc_model *m) {
    size_t z = 0, t = 0;
    for (int i = 1; i < m->n_nodes; i++)
        if (weighted(&m->nodes[i])) z += dc_node_zero_weights(m, &m->nodes[i]), t += m->nodes[i].t[0].n;
    return t ? (double)z / (double)t : 0;
}

static int64_t node_nz_macs(const dc_model *m, const dc_node *n) {
    const int64_t macs = dc_node_macs(n);
    if (!weighted(n) || !n->t[0].n) return macs;
    const double dense = 1.0 - (double)dc_node_zero_weights(m, n) / (double)n->t[0].n;
    return (int64_t)llround((double)macs * dense);
}

int64_t dc_model_nonzero_macs(const dc_model *m) {
    int64_t s = 0;
    for (int i = 1; i < m->n_nodes; i++) s += node_nz_macs(m, &m->nodes[i]);
    return s;
}

static void human(char *b, size_t cap, double v) {
    if (v >= 1e9) snprintf(b, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(b, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(b, cap, "%.1fK", v / 1e3);
    else snprintf(b, cap, "%.0f", v);
}

void dc_prune_table(char *buf, size_t cap, const dc_model *before, const dc_model *after) {
    size_t l = 0;
#define OUT(...) (l += (size_t)snprintf(buf + (l < cap ? l : cap), l < cap ? cap - l : 0, __VA_ARGS__))
    OUT("%-24s %11s %9s %17s %17s\n", "layer", "channels", "sparsity", "params", "MACs");
    int64_t pb = 0, pa = 0, mb = 0, ma = 0;
    for (int i = 1; i < before->n_nodes; i++) {
        const dc_node *b = &before->nodes[i];
        if (!weighted(b)) continue;
        const int j = dc_model_find_node(after, b->name);
        const dc_node *a = j >= 0 ? &after->nodes[j] : NULL;
        const int64_t p0 = (int64_t)dc_node_num_params(b) - (int64_t)dc_node_zero_weights(before, b);
        const int64_t p1 = a ? (int64_t)dc_node_num_params(a) - (int64_t)dc_node_zero_weights(after, a) : 0;
        const int64_t m0 = node_nz_macs(before, b), m1 = a ? node_nz_macs(after, a) : 0;
        pb += p0, pa += p1, mb += m0, ma += m1;
        char ch[32], sp[16], pp[40], mm[40], h0[16], h1[16];
        snprintf(ch, sizeof ch, "%d->%d", b->c, a ? a->c : 0);
        snprintf(sp, sizeof sp, "%.1f%%", a && a->t[0].n ? 100.0 * (double)dc_node_zero_weights(after, a) / (double)a->t[0].n : 0.0);
        human(h0, sizeof h0, (double)p0), human(h1, sizeof h1, (double)p1);
        snprintf(pp, sizeof pp, "%s->%s", h0, h1);
        human(h0, sizeof h0, (double)m0), human(h1, sizeof h1, (double)m1);
        snprintf(mm, sizeof mm, "%s->%s", h0, h1);
        OUT("%-24.24s %11s %9s %17s %17s\n", b->name, ch, sp, pp, mm);
    }
    char h0[16], h1[16], pp[40], mm[40];
    human(h0, sizeof h0, (double)pb), human(h1, sizeof h1, (double)pa);
    snprintf(pp, sizeof pp, "%s->%s", h0, h1);
    human(h0, sizeof h0, (double)mb), human(h1, sizeof h1, (double)ma);
    snprintf(mm, sizeof mm, "%s->%s", h0, h1);
    OUT("%-24s %11s %8.1f%% %17s %17s   (non-zero weights; MACs of non-zero weights)\n", "total", "",
        100.0 * dc_model_weight_sparsity(after), pp, mm);
#undef OUT
}

// ---------------------------------------------------------------------------
// The whole job

dc_status dc_prune(dc_model **out, const dc_model *m, const dc_prune_config *cfg, const dc_dataset *train,
                   const dc_dataset *heldout, const dc_train_config *tc, dc_train_callback cb, void *user,
                   dc_error *err) {
    *out = NULL;
    if (cfg->steps < 1 || cfg->steps > 100) return dc_fail(err, DC_ERR_ARG, "--steps %d: expected 1 to 100", cfg->steps);
    if (cfg->finetune < 0) return dc_fail(err, DC_ERR_ARG, "--finetune %d: must be >= 0", cfg->finetune);
    if (cfg->finetune > 0 && (!tc || !train)) return dc_fail(err, DC_ERR_ARG, "prune: fine-tuning needs data");
    double target = cfg->sparsity;
    dc_status st = DC_OK;
    if (cfg->structured && cfg->macs > 0 && (st = dc_prune_ratio_for_macs(&target, m, cfg->macs, cfg->multiple, err)))
        return st;
    if (!(target >= 0 && target < 1)) return dc_fail(err, DC_ERR_ARG, "--sparsity %g: expected a share in [0, 1)", target);
    dc_model *cur = NULL;
    if ((st = dc_model_clone(&cur, m, err))) return st;
    double done = 0; // cumulative share pruned so far
    // the fine-tune's schedule (cosine, warmup) runs over its own epochs,
    // all rounds together, from the model's next epoch: not from epoch 0 of
    // a model trained for many (a cosine would be near its end, lr ~ 0)
    const int ft_start = cur->epochs_done;
    for (int r = 1; !st && r <= cfg->steps; r++) {
        const double f = 1.0 - (double)r / cfg->steps;
        const double s_r = target * (1.0 - f * f * f); // Zhu & Gupta's cubic schedule
        if (cfg->structured) {
            // channels kept so far: 1 - done of the original; this round removes its share of what is left
            const double ratio = done < 1 ? 1.0 - (1.0 - s_r) / (1.0 - done) : 0;
            dc_model *next = NULL;
            st = dc_prune_structured(&next, cur, ratio > 0 ? ratio : 0, cfg->norm, cfg->multiple, err);
            if (!st) {
                dc_model_free(cur);
                cur = next;
            }
        } else {
            st = dc_prune_unstructured(cur, s_r, cfg->per_layer, err);
        }
        done = s_r;
        const int epochs = cfg->finetune / cfg->steps + (r == cfg->steps ? cfg->finetune % cfg->steps : 0);
        if (!st && epochs > 0) {
            dc_train_config c = *tc;
            c.epochs = cur->epochs_done + epochs;
            c.sched_start = ft_start;
            c.sched_epochs = cfg->finetune;
            c.checkpoint = NULL;
            st = dc_train(cur, train, heldout, &c, cb, user, err);
        }
    }
    if (st) {
        dc_model_free(cur);
        return st;
    }
    *out = cur;
    return DC_OK;
}
