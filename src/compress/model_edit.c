// model_edit.c — edited copies of a model through the text format (see
// model_edit.h).
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "compress/model_edit.h"
#include "compress/quant.h"
#include "core/core.h"

// Appends to a growing string; false on out of memory.
static bool append(char **s, size_t *len, size_t *cap, const char *part) {
    size_t n = strlen(part);
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

// The node a reader of i reads once the dropped nodes are gone.
static int resolve(const dc_model *m, const dc_model_edit *e, int i) {
    while (e->drop && e->drop[i]) i = m->nodes[i].in[0];
    return i;
}

dc_status dc_model_edit_text(char **text, const dc_model *m, const dc_model_edit *e, dc_error *err) {
    *text = NULL;
    char *s = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    char line[1024];
    if (strcmp(m->nodes[0].name, "input")) {
        snprintf(line, sizeof line, "input name=%s\n", m->nodes[0].name);
        ok = append(&s, &len, &cap, line);
    }
    for (int i = 1; ok && i < m->n_nodes; i++) {
        if (e->drop && e->drop[i]) {
            DC_ASSERT(m->nodes[i].n_in == 1);
            continue;
        }
        dc_node n = m->nodes[i];
        if (n.op->flags & DC_OP_INPUT) {
            snprintf(line, sizeof line, "input kind=tabular features=%d name=%s\n", n.cfg.input.features, n.name);
            ok = append(&s, &len, &cap, line);
            continue;
        }
        const bool conv = !strcmp(n.op->kind, "conv2d"), lin = !strcmp(n.op->kind, "linear");
        if (e->out && e->out[i] > 0) {
            if (conv) n.cfg.conv.out = e->out[i];
            if (lin) n.cfg.linear.out = e->out[i];
        }
        if (e->bias && e->bias[i]) {
            if (conv) n.cfg.conv.bias = true;
            if (lin) n.cfg.linear.bias = true;
        }
        char cfg[512];
        dc_node_config_text(&n, cfg, sizeof cfg);
        // drop the declared input width (in=N): it is inferred again
        char clean[512];
        size_t cl = 0;
        clean[0] = 0;
        for (char *save = NULL, *tok = strtok_r(cfg, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (!strncmp(tok, "in=", 3)) continue;
            cl += (size_t)snprintf(clean + cl, sizeof clean - cl, "%s%s", cl ? " " : "", tok);
        }
        size_t l = (size_t)snprintf(line, sizeof line, "%s%s%s", n.op->kind, cl ? " " : "", clean);
        l += (size_t)snprintf(line + l, sizeof line - l, " from=");
        for (int k = 0; k < n.n_in; k++)
            l += (size_t)snprintf(line + l, sizeof line - l, "%s%s", k ? "," : "", m->nodes[resolve(m, e, n.in[k])].name);
        snprintf(line + l, sizeof line - l, " name=%s\n", n.name);
        ok = append(&s, &len, &cap, line);
    }
    if (!ok) {
        free(s);
        return dc_fail(err, DC_ERR_NOMEM, "model edit: out of memory");
    }
    *text = s;
    return DC_OK;
}

dc_status dc_model_copy_meta(dc_model *dst, const dc_model *m, dc_error *err) {
    dc_status st = dc_model_set_class_names(dst, (const char *const *)m->class_names, m->n_classes, err);
    if (st) return st;
    if (dst->in_c == m->in_c) {
        memcpy(dst->norm_mean, m->norm_mean, sizeof(float) * (size_t)m->in_c);
        memcpy(dst->norm_std, m->norm_std, sizeof(float) * (size_t)m->in_c);
        dst->norm_given = m->norm_given;
    }
    if (m->tab_f && dst->tab_f == m->tab_f) {
        memcpy(dst->tab_mean, m->tab_mean, sizeof(float) * (size_t)m->tab_f);
        memcpy(dst->tab_std, m->tab_std, sizeof(float) * (size_t)m->tab_f);
        if (m->tab_columns) {
            if (!(dst->tab_columns = calloc((size_t)m->tab_f, sizeof(char *))))
                return dc_fail(err, DC_ERR_NOMEM, "model edit: out of memory");
            for (int k = 0; k < m->tab_f; k++)
                if (!(dst->tab_columns[k] = strdup(m->tab_columns[k])))
                    return dc_fail(err, DC_ERR_NOMEM, "model edit: out of memory");
        }
    }
    const char *keys[] = {"train_config", "provenance", "history", "privacy", "reference"};
    for (int k = 0; k < 5; k++)
        if ((st = dc_model_set_info(dst, keys[k], dc_model_info(m, keys[k]), err))) return st;
    return DC_OK;
}

dc_status dc_model_edit_apply(dc_model **out, const dc_model *m, const dc_model_edit *e, dc_error *err) {
    *out = NULL;
    char *text;
    dc_status st = dc_model_edit_text(&text, m, e, err);
    if (st) return st;
    dc_model *nm = NULL;
    st = dc_model_parse_tabular(&nm, text, "edited model", m->in_c, m->in_h, m->in_w, m->n_classes, m->tab_f, err);
    free(text);
    if (!st) st = dc_model_copy_meta(nm, m, err);
    if (st) {
        dc_model_free(nm);
        return st;
    }
    *out = nm;
    return DC_OK;
}

void dc_model_copy_same_tensors(dc_model *dst, const dc_model *src) {
    char name[300];
    for (int i = 0; i < dst->n_nodes; i++) {
        const dc_node *n = &dst->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            snprintf(name, sizeof name, "%s.%s", n->name, t->suffix);
            const dc_tensor_ref *s = dc_model_find_tensor(src, name);
            if (!s || s->n != t->n || s->buf != t->buf) continue;
            const float *from = (s->buf == DC_BUF_PARAM ? src->params : src->state) + s->off;
            float *to = (t->buf == DC_BUF_PARAM ? dst->params : dst->state) + t->off;
            memcpy(to, from, sizeof(float) * t->n);
        }
    }
}

dc_status dc_model_clone(dc_model **out, const dc_model *m, dc_error *err) {
    dc_model_edit none = {0};
    dc_status st = dc_model_edit_apply(out, m, &none, err);
    if (st) return st;
    dc_model *c = *out;
    DC_ASSERT(c->n_params == m->n_params && c->n_state == m->n_state);
    memcpy(c->params, m->params, sizeof(float) * m->n_params);
    if (m->n_state) memcpy(c->state, m->state, sizeof(float) * m->n_state);
    c->epochs_done = m->epochs_done;
    if (m->mask) {
        if (!(c->mask = malloc(m->n_params))) {
            dc_model_free(c);
            *out = NULL;
            return dc_fail(err, DC_ERR_NOMEM, "clone: out of memory");
        }
        memcpy(c->mask, m->mask, m->n_params);
    }
    if (m->quant && (st = dc_qmodel_copy(&c->quant, m->quant, m, err))) {
        dc_model_free(c);
        *out = NULL;
        return st;
    }
    return DC_OK;
}
