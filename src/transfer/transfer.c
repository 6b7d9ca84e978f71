// transfer.c — graph surgery and freezing for transfer learning (see
// transfer.h). A new model is always built from architecture text and its
// tensors copied by name, so the result is an ordinary model: its file,
// its layer table and every verb treat it like one trained from scratch.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "model/model.h"
#include "transfer/transfer.h"

// ---------------------------------------------------------------------------
// Cutting a graph

dc_status dc_arch_subgraph(char **text, const dc_model *m, int out, dc_error *err) {
    *text = NULL;
    if (out < 1 || out >= m->n_nodes)
        return dc_fail(err, DC_ERR_ARG, "subgraph: node %d is not a layer of this model (1..%d)", out, m->n_nodes - 1);
    bool *keep = calloc((size_t)m->n_nodes, sizeof(bool));
    if (!keep) return dc_fail(err, DC_ERR_NOMEM, "subgraph: out of memory");
    keep[out] = true;
    for (int i = out; i >= 1; i--)
        if (keep[i])
            for (int k = 0; k < m->nodes[i].n_in; k++) keep[m->nodes[i].in[k]] = true;
    size_t cap = 256 + (size_t)m->n_nodes * (300 + DC_NODE_MAX_IN * DC_NODE_NAME_MAX), len = 0;
    char *t = malloc(cap);
    if (!t) {
        free(keep);
        return dc_fail(err, DC_ERR_NOMEM, "subgraph: out of memory");
    }
    t[0] = 0;
    for (int i = 1; i <= out; i++) {
        if (!keep[i]) continue;
        const dc_node *n = &m->nodes[i];
        char cfg[256];
        dc_node_config_text(n, cfg, sizeof cfg);
        len += (size_t)snprintf(t + len, cap - len, "%s%s%s from=", n->op->kind, cfg[0] ? " " : "", cfg);
        for (int k = 0; k < n->n_in; k++)
            len += (size_t)snprintf(t + len, cap - len, "%s%s", k ? "," : "", m->nodes[n->in[k]].name);
        len += (size_t)snprintf(t + len, cap - len, " name=%s\n", n->name);
    }
    free(keep);
    DC_ASSERT(len < cap);
    *text = t;
    return DC_OK;
}

dc_status dc_model_head(const dc_model *m, int *head, int *features, dc_error *err) {
    const int h = m->n_nodes - 1;
    const dc_node *n = &m->nodes[h];
    if (h < 1 || strcmp(n->op->kind, "linear") || n->n_in != 1)
        return dc_fail(err, DC_ERR_ARG,
                       "the head (the last node, %s) is a %s layer, not a linear one: transfer needs a model that ends "
                       "in a linear classifier", n->name, n->op->kind);
    if (n->in[0] == 0)
        return dc_fail(err, DC_ERR_ARG, "the head %s reads the model input directly: there is no backbone to transfer",
                       n->name);
    *head = h;
    *features = n->in[0];
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Copying tensors

static bool same_shape(const dc_tensor_ref *a, const dc_tensor_ref *b) {
    if (a->n != b->n || a->rank != b->rank || a->buf != b->buf) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void dc_model_copy_matching(dc_model *dst, const dc_model *src, const char *skip_node, int *copied, int *missing) {
    int c = 0, miss = 0;
    char name[DC_NODE_NAME_MAX + 32];
    for (int i = 0; i < dst->n_nodes; i++) {
        const dc_node *n = &dst->nodes[i];
        const bool skip = skip_node && !strcmp(n->name, skip_node);
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            snprintf(name, sizeof name, "%s.%s", n->name, t->suffix);
            const dc_tensor_ref *s = skip ? NULL : dc_model_find_tensor(src, name);
            if (!s || !same_shape(s, t)) {
                miss++;
                continue;
            }
            float *to = (t->buf == DC_BUF_PARAM ? dst->params : dst->state) + t->off;
            const float *from = (s->buf == DC_BUF_PARAM ? src->params : src->state) + s->off;
            memcpy(to, from, sizeof(float) * t->n);
            c++;
        }
    }
    if (copied) *copied = c;
    if (missing) *missing = miss;
}

dc_status dc_transfer_model(dc_model **out, const dc_model *parent, int n_classes, bool new_head, dc_rng *rng,
                            dc_error *err) {
    *out = NULL;
    if (n_classes < 0 || n_classes == 1 || n_classes > (1 << 20))
        return dc_fail(err, DC_ERR_ARG, "new head: %d classes (expected 2 or more)", n_classes);
    if (n_classes == 0) n_classes = parent->n_classes;
    const bool replace = new_head || n_classes != parent->n_classes;
    dc_status st;
    char *text = NULL;
    const char *head_name = NULL;
    if (replace) {
        int head, feat;
        if ((st = dc_model_head(parent, &head, &feat, err))) return st;
        head_name = parent->nodes[head].name;
        if ((st = dc_arch_subgraph(&text, parent, feat, err))) return st;
        const dc_node *h = &parent->nodes[head];
        size_t len = strlen(text), cap = len + 128 + DC_NODE_NAME_MAX;
        char *t2 = realloc(text, cap);
        if (!t2) {
            free(text);
            return dc_fail(err, DC_ERR_NOMEM, "new head: out of memory");
        }
        text = t2;
        snprintf(text + len, cap - len, "linear out=%d bias=%d name=%s\n", n_classes, h->cfg.linear.bias ? 1 : 0,
                 head_name);
    } else if (!(text = strdup(parent->arch_text))) {
        return dc_fail(err, DC_ERR_NOMEM, "transfer: out of memory");
    }
    dc_model *m = NULL;
    st = dc_model_parse(&m, text, "transferred model", parent->in_c, parent->in_h, parent->in_w, n_classes, err);
    free(text);
    if (st) return st;
    if (replace) {
        // PyTorch's rule for the new layer, drawn from the caller's stream
        const dc_node *h = &m->nodes[m->n_nodes - 1];
        h->op->init(h, m->params, m->state, rng);
    }
    int copied = 0, missing = 0;
    dc_model_copy_matching(m, parent, head_name, &copied, &missing);
    const int head_tensors = replace ? m->nodes[m->n_nodes - 1].n_t : 0;
    if (missing != head_tensors) {
        dc_model_free(m);
        return dc_fail(err, DC_ERR_SHAPE, "transfer: %d tensors of the new model have no counterpart in the parent",
                       missing - head_tensors);
    }
    memcpy(m->norm_mean, parent->norm_mean, sizeof(float) * (size_t)parent->in_c);
    memcpy(m->norm_std, parent->norm_std, sizeof(float) * (size_t)parent->in_c);
    m->norm_given = parent->norm_given;
    if (!replace && parent->class_names &&
        (st = dc_model_set_class_names(m, (const char *const *)parent->class_names, parent->n_classes, err))) {
        dc_model_free(m);
        return st;
    }
    *out = m;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Freezing and learning-rate groups

// NAME matches itself and its children NAME.*; anything with a glob
// character is an fnmatch pattern.
static bool item_matches(const char *item, const char *name) {
    if (strpbrk(item, "*?[")) return fnmatch(item, name, 0) == 0;
    size_t l = strlen(item);
    return !strncmp(item, name, l) && (name[l] == 0 || name[l] == '.');
}

dc_status dc_freeze_nodes(float *node_lr, const dc_model *m, const char *spec, int *n_frozen, dc_error *err) {
    if (n_frozen) *n_frozen = 0;
    if (!spec || !*spec) return dc_fail(err, DC_ERR_ARG, "--freeze: empty list (give node names, globs or backbone)");
    char *copy = strdup(spec);
    if (!copy) return dc_fail(err, DC_ERR_NOMEM, "--freeze: out of memory");
    dc_status st = DC_OK;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !st; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ') item++;
        int hits = 0;
        if (!strcmp(item, "backbone")) {
            int head, feat;
            if ((st = dc_model_head(m, &head, &feat, err))) break;
            for (int i = 1; i < m->n_nodes; i++)
                if (i != head) node_lr[i] = 0.0f, hits++;
        } else {
            for (int i = 1; i < m->n_nodes; i++)
                if (item_matches(item, m->nodes[i].name)) node_lr[i] = 0.0f, hits++;
        }
        if (!hits) {
            char names[400];
            size_t len = 0;
            names[0] = 0;
            for (int i = 1; i < m->n_nodes && len + 4 < sizeof names; i++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i > 1 ? ", " : "", m->nodes[i].name);
            if (len + 4 >= sizeof names) snprintf(names + sizeof names - 5, 5, "...");
            st = dc_fail(err, DC_ERR_ARG, "--freeze: '%s' matches no node (nodes: %s; or 'backbone')", item, names);
        }
    }
    free(copy);
    if (!st && n_frozen)
        for (int i = 1; i < m->n_nodes; i++) *n_frozen += node_lr[i] == 0.0f;
    return st;
}

dc_status dc_parse_lr_backbone(float *mult, const char *spec, float lr, dc_error *err) {
    char *end;
    errno = 0;
    double v = strtod(spec, &end);
    const bool rel = *end == 'x' && end[1] == 0;
    if (end == spec || errno || (*end && !rel) || !isfinite(v) || v < 0 || v > 1e6)
        return dc_fail(err, DC_ERR_ARG,
                       "--lr-backbone '%s': expected a multiplier of --lr such as 0.1x, or a learning rate such as 1e-4",
                       spec);
    *mult = rel ? (float)v : (float)(v / lr);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Label subsets

static dc_status take(dc_dataset *dst, const dc_dataset *src, const uint8_t *pick, int n, dc_error *err) {
    const size_t plane = (size_t)src->c * src->h * src->w;
    memset(dst, 0, sizeof *dst);
    dst->pixels = dc_alloc(plane * (size_t)(n ? n : 1));
    dst->labels = dc_alloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!dst->pixels || !dst->labels) {
        dc_dataset_free(dst);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for a subset of %d samples", src->source, n);
    }
    int k = 0;
    for (int i = 0; i < src->n; i++)
        if (pick[i]) {
            memcpy(dst->pixels + plane * (size_t)k, src->pixels + plane * (size_t)i, plane);
            dst->labels[k++] = src->labels[i];
        }
    dst->n = n;
    dst->c = src->c;
    dst->h = src->h;
    dst->w = src->w;
    dst->n_classes = src->n_classes;
    snprintf(dst->source, sizeof dst->source, "%s", src->source);
    return DC_OK;
}

// Stream of the per-class draw ("PERCLASS" in ASCII, any constant apart
// from the trainer's and the split's).
#define PER_CLASS_STREAM 0x5045524331415353ull

dc_status dc_dataset_per_class(dc_dataset *dst, const dc_dataset *src, int per_class, uint64_t seed, dc_error *err) {
    memset(dst, 0, sizeof *dst);
    const int C = src->n_classes;
    if (per_class < 1) return dc_fail(err, DC_ERR_ARG, "--labels-per-class %d: must be >= 1", per_class);
    int *count = calloc((size_t)C, sizeof(int));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(src->n ? src->n : 1));
    uint8_t *pick = calloc((size_t)(src->n ? src->n : 1), 1);
    dc_status st = DC_OK;
    if (!count || !idx || !pick) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", src->source);
    for (int i = 0; !st && i < src->n; i++) {
        if (src->labels[i] < 0 || src->labels[i] >= C)
            st = dc_fail(err, DC_ERR_FORMAT, "%s: sample %d has label %d outside 0..%d", src->source, i,
                         src->labels[i], C - 1);
        else
            count[src->labels[i]]++;
    }
    for (int c = 0; !st && c < C; c++)
        if (count[c] < per_class)
            st = dc_fail(err, DC_ERR_ARG, "%s: --labels-per-class %d, but class %d has only %d samples", src->source,
                         per_class, c, count[c]);
    for (int c = 0; !st && c < C; c++) {
        // this class's samples in order, shuffled by a stream of its own,
        // so that one class's draw does not depend on the others
        int m = 0;
        for (int i = 0; i < src->n; i++)
            if (src->labels[i] == c) idx[m++] = i;
        dc_rng r = dc_rng_stream(seed, PER_CLASS_STREAM, (uint64_t)c);
        dc_rng_shuffle_i32(&r, idx, (size_t)m);
        for (int j = 0; j < per_class; j++) pick[idx[j]] = 1;
    }
    if (!st) st = take(dst, src, pick, per_class * C, err);
    free(count);
    free(idx);
    free(pick);
    return st;
}

dc_status dc_dataset_class_range(dc_dataset *dst, const dc_dataset *src, int lo, int hi, dc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (lo < 0 || hi > src->n_classes || hi - lo < 2)
        return dc_fail(err, DC_ERR_ARG, "%s: classes [%d, %d) are not a range of at least 2 of its %d classes",
                       src->source, lo, hi, src->n_classes);
    uint8_t *pick = calloc((size_t)(src->n ? src->n : 1), 1);
    if (!pick) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", src->source);
    int n = 0;
    for (int i = 0; i < src->n; i++) n += pick[i] = src->labels[i] >= lo && src->labels[i] < hi;
    dc_status st = take(dst, src, pick, n, err);
    free(pick);
    if (st) return st;
    for (int i = 0; i < dst->n; i++) dst->labels[i] -= lo;
    dst->n_classes = hi - lo;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Provenance

dc_status dc_file_sha256(char hex[65], const char *path, dc_error *err) {
    hex[0] = 0;
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "libsodium failed to initialise");
    FILE *f = fopen(path, "rb");
    if (!f) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) crypto_hash_sha256_update(&s, buf, got);
    const bool bad = ferror(f);
    fclose(f);
    if (bad) return dc_fail(err, DC_ERR_IO, "%s: read error", path);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&s, h);
    for (int i = 0; i < (int)sizeof h; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return DC_OK;
}
