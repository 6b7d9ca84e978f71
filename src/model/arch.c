// arch.c — the text architecture format and the built-in architectures.
//
// One node per line: `kind key=value ...`, '#' starts a comment. Kinds and
// keys come from the ops table (ops.c), which also gives each key's type,
// range and default; unknown kinds or keys, duplicate keys, malformed or
// out-of-range numbers are errors with the line number. Two keys every kind
// takes:
//   name=NAME   the node's name (letters, digits, '_', '.'); tensors are
//               stored as NAME.weight, NAME.bias, ... Default: the kind's
//               prefix and a counter (conv1, relu2, fc3, pool1, ...).
//   from=A,B    the nodes this one reads; default: the previous line (the
//               model input for the first line), so a plain chain needs no
//               from= at all. `input` names the model input.
// Inputs: the image is the model input `input`; a first line `input
// name=NAME` renames it. More inputs are lines `input kind=tabular
// name=NAME [features=F]` (a vector of F values per sample; F defaults to
// the width of the tabular data the model is built for), read by from=.
// The last line is the output (the logits). Lines may name nodes defined
// further down; the nodes are put in topological order (text order where
// it already is one), and a cycle, an unknown input name or a node that
// does not feed the output is refused naming the nodes. Shapes are inferred
// from the input shape and checked as the model is built, so a mismatch is
// reported, naming both nodes and shapes, before any data is touched.
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "model/model.h"

// A line as parsed, before its inputs are resolved.
typedef struct raw_node {
    dc_node node;
    int n_from;                          // 0: default (previous line)
    char from[DC_NODE_MAX_IN][DC_NODE_NAME_MAX];
    int text_index;                      // position in the file (0 = input)
} raw_node;

typedef struct name_counter {
    const char *prefix;
    int count;
} name_counter;

static dc_status parse_value(const dc_key *k, const char *v, void *field, const char *where,
                             const char *kind, dc_error *err) {
    char *end;
    errno = 0;
    switch (k->type) {
    case DC_KEY_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < (long)k->lo || x > (long)k->hi)
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not an integer in [%ld, %ld]", where, k->name, v,
                           (long)k->lo, (long)k->hi);
        *(int *)field = (int)x;
        return DC_OK;
    }
    case DC_KEY_FLOAT: {
        float x = strtof(v, &end);
        // ERANGE from an underflow to a subnormal or zero is still a number
        if ((errno && !(errno == ERANGE && fabsf(x) <= 1.0f)) || end == v || *end || !isfinite(x))
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not a number", where, k->name, v);
        if (x < k->lo || x > k->hi)
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is outside [%g, %g]", where, k->name, v, k->lo, k->hi);
        *(float *)field = x;
        return DC_OK;
    }
    case DC_KEY_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *(bool *)field = true;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *(bool *)field = false;
        else return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not a boolean (use 1/0)", where, k->name, v);
        return DC_OK;
    case DC_KEY_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (!strcmp(v, k->choices[i])) {
                *(int *)field = i;
                return DC_OK;
            }
        {
            char list[256] = "";
            size_t len = 0;
            for (int i = 0; k->choices[i] && len < sizeof list; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", k->choices[i]);
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s: %s=%s is not one of %s", where, kind, k->name, v, list);
        }
    }
    return DC_OK;
}

static void key_list(const dc_op *op, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    for (const dc_key *k = op->keys; k->name; k++)
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "%s, ", k->name);
    if (len < cap) snprintf(buf + len, cap - len, "name, from");
}

static bool valid_name(const char *s) {
    if (!*s) return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.') return false;
    return true;
}

static void set_defaults(dc_node *n) {
    char *base = (char *)&n->cfg;
    for (const dc_key *k = n->op->keys; k->name; k++) {
        void *f = base + k->offset;
        switch (k->type) {
        case DC_KEY_INT:
        case DC_KEY_ENUM: *(int *)f = (int)k->def; break;
        case DC_KEY_FLOAT: *(float *)f = (float)k->def; break;
        case DC_KEY_BOOL: *(bool *)f = k->def != 0; break;
        }
    }
}

static const dc_key *find_key(const dc_op *op, const char *name) {
    for (const dc_key *k = op->keys; k->name; k++)
        if (!strcmp(k->name, name)) return k;
    return NULL;
}

// Parses one line's tokens into r.
static dc_status parse_line(raw_node *r, char *line, const char *where, dc_error *err) {
    char *save = NULL;
    char *tok = strtok_r(line, " \t", &save);
    const dc_op *op = dc_op_find(tok);
    if (!op) {
        char known[512];
        dc_op_list(known, sizeof known);
        return dc_fail(err, DC_ERR_FORMAT, "%s: unknown layer kind '%s' (known: %s, input)", where, tok, known);
    }
    dc_node *n = &r->node;
    n->op = op;
    set_defaults(n);
    unsigned given = 0; // bit i: key i of the table was given
    bool have_name = false;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return dc_fail(err, DC_ERR_FORMAT, "%s: expected key=value, found '%s'", where, tok);
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        if (!strcmp(key, "name")) {
            if (have_name) return dc_fail(err, DC_ERR_FORMAT, "%s: %s: key 'name' given twice", where, op->kind);
            have_name = true;
            if (strlen(val) >= DC_NODE_NAME_MAX)
                return dc_fail(err, DC_ERR_FORMAT, "%s: name '%s' longer than %d characters", where, val,
                               DC_NODE_NAME_MAX - 1);
            if (!valid_name(val) || (!strcmp(val, "input") && !(op->flags & DC_OP_INPUT)))
                return dc_fail(err, DC_ERR_FORMAT, "%s: name '%s' may hold only letters, digits, _ and . (and is not 'input')",
                               where, val);
            snprintf(n->name, sizeof n->name, "%s", val);
            continue;
        }
        if (!strcmp(key, "from")) {
            if (op->flags & DC_OP_INPUT) return dc_fail(err, DC_ERR_FORMAT, "%s: an input reads nothing: no from=", where);
            if (r->n_from) return dc_fail(err, DC_ERR_FORMAT, "%s: %s: key 'from' given twice", where, op->kind);
            char *s2 = NULL;
            for (char *f = strtok_r((char *)val, ",", &s2); f; f = strtok_r(NULL, ",", &s2)) {
                if (r->n_from == DC_NODE_MAX_IN)
                    return dc_fail(err, DC_ERR_FORMAT, "%s: from= names more than %d inputs", where, DC_NODE_MAX_IN);
                if (strlen(f) >= DC_NODE_NAME_MAX || !valid_name(f))
                    return dc_fail(err, DC_ERR_FORMAT, "%s: from=: '%s' is not a node name", where, f);
                snprintf(r->from[r->n_from++], DC_NODE_NAME_MAX, "%s", f);
            }
            if (!r->n_from) return dc_fail(err, DC_ERR_FORMAT, "%s: from= names no node", where);
            continue;
        }
        const dc_key *k = find_key(op, key);
        if (!k) {
            char known[256];
            key_list(op, known, sizeof known);
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s: unknown key '%s' (known: %s)", where, op->kind, key, known);
        }
        unsigned bit = 1u << (k - op->keys);
        if (given & bit) return dc_fail(err, DC_ERR_FORMAT, "%s: %s: key '%s' given twice", where, op->kind, key);
        given |= bit;
        dc_status st = parse_value(k, val, (char *)&n->cfg + k->offset, where, op->kind, err);
        if (st) return st;
    }
    for (const dc_key *k = op->keys; k->name; k++) {
        unsigned bit = 1u << (k - op->keys);
        if ((k->flags & DC_KEY_REQUIRED) && !(given & bit))
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s needs %s= (%s)", where, op->kind, k->name, k->help);
        if (k->default_from && !(given & bit)) {
            const dc_key *src = find_key(op, k->default_from);
            DC_ASSERT(src && src->type == DC_KEY_INT && k->type == DC_KEY_INT);
            *(int *)((char *)&n->cfg + k->offset) = *(const int *)((char *)&n->cfg + src->offset);
        }
    }
    int n_in = r->n_from ? r->n_from : 1;
    if (op->flags & DC_OP_INPUT) return DC_OK;
    if (n_in < op->min_in || n_in > op->max_in)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s takes %d to %d inputs, from= names %d", where, op->kind, op->min_in,
                       op->max_in, n_in);
    return DC_OK;
}

static int find_raw(const raw_node *r, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].node.name, name)) return i;
    return -1;
}

static void where_of(char *buf, size_t cap, const char *origin, const dc_node *n) {
    if (n->line) snprintf(buf, cap, "%s:%d", origin, n->line);
    else snprintf(buf, cap, "%s", origin);
}

// Resolves from= names, orders the nodes topologically (stable: the
// earliest ready node in text order goes first) and fills m->nodes.
static dc_status order_nodes(dc_model *m, raw_node *raw, int nr, const char *origin, dc_error *err) {
    char where[700];
    int *indeg = calloc((size_t)nr, sizeof(int)), *pos = malloc(sizeof(int) * (size_t)nr);
    int *src = malloc(sizeof(int) * (size_t)nr * DC_NODE_MAX_IN);
    m->nodes = calloc((size_t)nr, sizeof(dc_node));
    if (!indeg || !pos || !src || !m->nodes) {
        free(indeg), free(pos), free(src);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    }
    dc_status st = DC_OK;
    for (int i = 1; i < nr && !st; i++) {
        raw_node *r = &raw[i];
        if (r->node.op->flags & DC_OP_INPUT) {
            r->node.n_in = 0;
        } else if (!r->n_from) {
            r->node.n_in = 1;
            src[i * DC_NODE_MAX_IN] = i - 1;
        } else {
            r->node.n_in = r->n_from;
            for (int k = 0; k < r->n_from && !st; k++) {
                int j = find_raw(raw, nr, r->from[k]);
                if (j < 0) {
                    where_of(where, sizeof where, origin, &r->node);
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: layer %s takes input from '%s', which no line defines",
                                 where, r->node.name, r->from[k]);
                } else if (j == i) {
                    where_of(where, sizeof where, origin, &r->node);
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: layer %s takes its own output as input (a cycle)", where,
                                 r->node.name);
                }
                src[i * DC_NODE_MAX_IN + k] = j;
            }
        }
        for (int k = 0; k < r->node.n_in; k++) indeg[i]++;
    }
    // Kahn's algorithm, always taking the lowest text index that is ready
    int placed = 0;
    bool *done = calloc((size_t)nr, sizeof(bool));
    if (!st && !done) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    while (!st && placed < nr) {
        int pick = -1;
        for (int i = 0; i < nr && pick < 0; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (int k = 0; k < (i ? raw[i].node.n_in : 0) && ready; k++) ready = done[src[i * DC_NODE_MAX_IN + k]];
            if (ready) pick = i;
        }
        if (pick < 0) {
            // every remaining node waits on another: follow inputs to a cycle
            int a = -1;
            for (int i = 0; i < nr && a < 0; i++)
                if (!done[i]) a = i;
            for (int steps = 0; steps < nr; steps++) {
                int nx = -1;
                for (int k = 0; k < raw[a].node.n_in && nx < 0; k++)
                    if (!done[src[a * DC_NODE_MAX_IN + k]]) nx = src[a * DC_NODE_MAX_IN + k];
                a = nx;
            }
            int b = -1;
            for (int k = 0; k < raw[a].node.n_in && b < 0; k++)
                if (!done[src[a * DC_NODE_MAX_IN + k]]) b = src[a * DC_NODE_MAX_IN + k];
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: layers %s (line %d) and %s (line %d) depend on each other through from= (a cycle)",
                         origin, raw[a].node.name, raw[a].node.line, raw[b].node.name, raw[b].node.line);
            break;
        }
        done[pick] = true;
        pos[pick] = placed++;
        m->nodes[pos[pick]] = raw[pick].node;
    }
    if (!st)
        for (int i = 1; i < nr; i++) {
            dc_node *n = &m->nodes[pos[i]];
            for (int k = 0; k < n->n_in; k++) n->in[k] = pos[src[i * DC_NODE_MAX_IN + k]];
        }
    free(done);
    free(indeg);
    free(pos);
    free(src);
    if (!st) m->n_nodes = nr;
    return st;
}

// Every node must feed the output (the last line).
static dc_status check_used(const dc_model *m, const raw_node *raw, int nr, const char *origin, dc_error *err) {
    int out = -1;
    for (int i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].name, raw[nr - 1].node.name)) out = i;
    bool *used = calloc(m->n_nodes > 0 ? (size_t)m->n_nodes : 1, sizeof(bool));
    if (!used) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    used[out] = true;
    for (int i = out; i >= 0; i--)
        if (used[i])
            for (int k = 0; k < m->nodes[i].n_in; k++) used[m->nodes[i].in[k]] = true;
    dc_status st = DC_OK;
    for (int i = 1; i < m->n_nodes && !st; i++)
        if (!used[i]) {
            char where[700];
            where_of(where, sizeof where, origin, &m->nodes[i]);
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: layer %s does not feed the output (the last line, %s): remove it or use it in a from=",
                         where, m->nodes[i].name, raw[nr - 1].node.name);
        }
    free(used);
    if (!st && out != m->n_nodes - 1) {
        // the last line must come last in topological order too
        char where[700];
        where_of(where, sizeof where, origin, &m->nodes[m->n_nodes - 1]);
        st = dc_fail(err, DC_ERR_FORMAT, "%s: layer %s reads the output node %s: the last line must be the output",
                     where, m->nodes[m->n_nodes - 1].name, raw[nr - 1].node.name);
    }
    return st;
}

// Canonical text: every node with its defaults, from= only where it is not
// the previous line, so the file is self-describing.
static dc_status canonical_text(dc_model *m, const char *origin, dc_error *err) {
    size_t cap = 256 + (size_t)m->n_nodes * (160 + DC_NODE_MAX_IN * DC_NODE_NAME_MAX);
    m->arch_text = malloc(cap);
    if (!m->arch_text) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    size_t len = 0;
    m->arch_text[0] = 0;
    if (strcmp(m->nodes[0].name, "input"))
        len += (size_t)snprintf(m->arch_text + len, cap - len, "input name=%s\n", m->nodes[0].name);
    for (int i = 1; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        char cfg[256], from[DC_NODE_MAX_IN * DC_NODE_NAME_MAX + 8] = "";
        if (n->op->flags & DC_OP_INPUT) {
            len += (size_t)snprintf(m->arch_text + len, cap - len, "input kind=tabular features=%d name=%s\n",
                                    n->cfg.input.features, n->name);
            continue;
        }
        dc_node_config_text(n, cfg, sizeof cfg);
        if (!(n->n_in == 1 && n->in[0] == i - 1)) {
            size_t fl = (size_t)snprintf(from, sizeof from, "from=");
            for (int k = 0; k < n->n_in; k++)
                fl += (size_t)snprintf(from + fl, sizeof from - fl, "%s%s", k ? "," : "", m->nodes[n->in[k]].name);
        }
        len += (size_t)snprintf(m->arch_text + len, cap - len, "%s%s%s%s%s%sname=%s\n", n->op->kind, cfg[0] ? " " : "",
                                cfg, from[0] ? " " : "", from, " ", n->name);
    }
    return DC_OK;
}

dc_status dc_model_build(dc_model **out, const char *text, const char *origin, int in_c, int in_h, int in_w,
                         int n_classes, int tab_features, dc_error *err) {
    *out = NULL;
    if (in_c < 1 || in_h < 1 || in_w < 1 || in_c > DC_MAX_DIM || in_h > DC_MAX_DIM || in_w > DC_MAX_DIM ||
        (int64_t)in_c * in_h * in_w > DC_MAX_ACT_ELEMS)
        return dc_fail(err, DC_ERR_ARG, "%s: input shape %dx%dx%d is not valid", origin, in_c, in_h, in_w);
    dc_model *m = dc_model_alloc();
    char *copy = strdup(text);
    raw_node *raw = NULL;
    int nr = 0, cap = 0;
    dc_status st = DC_OK;
    if (!m || !copy) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    // node 0: the input
    if (!st && !(raw = calloc((size_t)(cap = 16), sizeof *raw))) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    if (!st) {
        raw[0].node.op = dc_op_find("input");
        snprintf(raw[0].node.name, sizeof raw[0].node.name, "input");
        raw[0].node.c = in_c;
        raw[0].node.h = in_h;
        raw[0].node.w = in_w;
        nr = 1;
    }
    name_counter counters[64];
    int n_counters = 0;
    int lineno = 0;
    // lines are split by hand so empty lines keep their numbers
    char *p = st ? NULL : copy;
    while (!st && p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        char *s = p;
        while (isspace((unsigned char)*s)) s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
        p = nl ? nl + 1 : NULL;
        if (!*s) continue;
        char where[700];
        snprintf(where, sizeof where, "%s:%d", origin, lineno);
        if (nr == cap) {
            raw_node *nraw = cap < (1 << 20) ? realloc(raw, sizeof *raw * (size_t)cap * 2) : NULL;
            if (!nraw) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: too many lines", origin);
                break;
            }
            raw = nraw;
            memset(raw + cap, 0, sizeof *raw * (size_t)cap);
            cap *= 2;
        }
        raw_node *r = &raw[nr];
        memset(r, 0, sizeof *r);
        r->text_index = nr;
        r->node.line = lineno;
        if ((st = parse_line(r, s, where, err))) break;
        if (r->node.op->flags & DC_OP_INPUT) {
            if (r->node.cfg.input.kind == DC_INPUT_IMAGE) {
                // names the image input: only as the first line
                if (nr != 1) {
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: an image input line must be the first line", where);
                    break;
                }
                if (r->node.name[0]) memcpy(raw[0].node.name, r->node.name, sizeof raw[0].node.name);
                raw[0].node.line = lineno;
                continue;
            }
            int F = r->node.cfg.input.features ? r->node.cfg.input.features : tab_features;
            if (F < 1) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: tabular input %s needs features=F (or tabular data to take its width from: --tabular FILE)",
                             where, r->node.name[0] ? r->node.name : "");
                break;
            }
            r->node.cfg.input.features = F;
            r->node.c = F;
            r->node.h = r->node.w = 1;
        }
        if (!r->node.name[0]) {
            // automatic names count per prefix (max and avg pools share "pool")
            int c = 0;
            while (c < n_counters && strcmp(counters[c].prefix, r->node.op->prefix)) c++;
            if (c == n_counters && n_counters < 64) counters[n_counters++] = (name_counter){r->node.op->prefix, 0};
            if (c < 64) snprintf(r->node.name, sizeof r->node.name, "%s%d", r->node.op->prefix, ++counters[c].count);
        }
        if (find_raw(raw, nr, r->node.name) >= 0) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: layer name '%s' is already used", where, r->node.name);
            break;
        }
        nr++;
    }
    free(copy);
    if (!st && nr == 1) st = dc_fail(err, DC_ERR_FORMAT, "%s: no layers", origin);
    if (!st) st = order_nodes(m, raw, nr, origin, err);
    if (!st) st = check_used(m, raw, nr, origin, err);
    free(raw);
    // shapes and the buffer layout, in topological order
    int64_t n_params = 0, n_state = 0;
    for (int i = 0; !st && i < m->n_nodes; i++) {
        dc_node *n = &m->nodes[i];
        const dc_node *in[DC_NODE_MAX_IN];
        for (int k = 0; k < n->n_in; k++) in[k] = &m->nodes[n->in[k]];
        if (n->n_in) {
            n->in_c = in[0]->c;
            n->in_h = in[0]->h;
            n->in_w = in[0]->w;
        }
        if ((st = n->op->infer(n, in, err))) {
            char tmp[sizeof err->msg], where[700];
            snprintf(tmp, sizeof tmp, "%s", err ? err->msg : "");
            where_of(where, sizeof where, origin, n);
            dc_fail(err, st, "%s: %s", where, tmp);
            break;
        }
        for (int t = 0; t < n->n_t; t++) {
            dc_tensor_ref *r = &n->t[t];
            int64_t *acc = r->buf == DC_BUF_PARAM ? &n_params : &n_state;
            r->off = (size_t)*acc;
            *acc += (int64_t)r->n;
        }
        if (n_params > DC_MAX_MODEL_PARAMS || n_state > DC_MAX_MODEL_PARAMS) {
            char where[700];
            where_of(where, sizeof where, origin, n);
            st = dc_fail(err, DC_ERR_SHAPE, "%s: layer %s brings the model past %lld parameters, more than deepc allows",
                         where, n->name, (long long)DC_MAX_MODEL_PARAMS);
        }
    }
    if (!st) {
        m->in_c = in_c;
        m->in_h = in_h;
        m->in_w = in_w;
        m->n_params = (size_t)n_params;
        m->n_state = (size_t)n_state;
        for (int i = 1; !st && i < m->n_nodes; i++) {
            const dc_node *n = &m->nodes[i];
            if (!(n->op->flags & DC_OP_INPUT)) continue;
            if (m->tab_f && m->tab_f != n->c)
                st = dc_fail(err, DC_ERR_SHAPE, "%s: tabular inputs of %d and %d features: every tabular input takes the same row",
                             origin, m->tab_f, n->c);
            m->tab_f = n->c;
        }
        if (!st && m->tab_f) {
            m->tab_mean = calloc((size_t)m->tab_f, sizeof(float));
            m->tab_std = malloc(sizeof(float) * (size_t)m->tab_f);
            if (!m->tab_mean || !m->tab_std) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
            for (int k = 0; !st && k < m->tab_f; k++) m->tab_std[k] = 1.0f;
        }
        const dc_node *last = &m->nodes[m->n_nodes - 1];
        int64_t width = (int64_t)dc_node_size(last);
        if (last->h != 1 || last->w != 1)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %dx%dx%d; a classifier must end in a vector (flatten + linear)",
                         origin, last->name, last->c, last->h, last->w);
        else if (n_classes > 0 && width != n_classes)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %lld values but the data has %d classes",
                         origin, last->name, (long long)width, n_classes);
        else if (width < 2)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %lld value; a classifier needs at least 2",
                         origin, last->name, (long long)width);
        else if (width > 1 << 20)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %lld classes, more than 1048576",
                         origin, last->name, (long long)width);
        else
            m->n_classes = (int)width;
    }
    if (!st) st = canonical_text(m, origin, err);
    if (!st) st = dc_model_default_class_names(m, err);
    if (st) {
        dc_model_free(m);
        return st;
    }
    *out = m;
    return DC_OK;
}

dc_status dc_model_parse_tabular(dc_model **out, const char *text, const char *origin, int in_c, int in_h, int in_w,
                                 int n_classes, int tab_features, dc_error *err) {
    dc_status st = dc_model_build(out, text, origin, in_c, in_h, in_w, n_classes, tab_features, err);
    if (st) return st;
    if ((st = dc_model_alloc_buffers(*out, err))) {
        dc_model_free(*out);
        *out = NULL;
    }
    return st;
}

dc_status dc_model_parse(dc_model **out, const char *text, const char *origin, int in_c, int in_h, int in_w,
                         int n_classes, dc_error *err) {
    return dc_model_parse_tabular(out, text, origin, in_c, in_h, in_w, n_classes, 0, err);
}

// ---------------------------------------------------------------------------
// Built-in architectures, written in the text format so there is one path.
// Each generator appends text to a growing buffer.

typedef struct text_buf {
    char *s;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

static void gen_lenet5(text_buf *b, int K) {
    put(b, "conv2d out=6 k=5 pad=2\nrelu\nmaxpool k=2\nconv2d out=16 k=5\nrelu\nmaxpool k=2\n"
           "flatten\nlinear out=120\nrelu\nlinear out=84\nrelu\nlinear out=%d\n", K);
}

static void gen_mlp(text_buf *b, int K) {
    put(b, "flatten\nlinear out=256\nrelu\nlinear out=128\nrelu\nlinear out=%d\n", K);
}

// ResNets with torchvision's names: conv1/bn1/relu stem, stages layer1..,
// BasicBlocks layerS.B with conv1/bn1/conv2/bn2 and a 1x1 projection
// (downsample.0/.1) where the shape changes, global average pool, fc.
static void gen_resnet(text_buf *b, int K, int n_stages, const int *width, const int *blocks) {
    const char *conv = "bias=0 init=kaiming_fan_out";
    put(b, "conv2d out=%d k=3 pad=1 %s name=conv1\nbatchnorm2d name=bn1\nrelu name=relu\n", width[0], conv);
    char prev[DC_NODE_NAME_MAX] = "relu";
    int in = width[0];
    for (int s = 0; s < n_stages; s++)
        for (int k = 0; k < blocks[s]; k++) {
            int out = width[s], stride = s > 0 && k == 0 ? 2 : 1;
            char p[32];
            snprintf(p, sizeof p, "layer%d.%d", s + 1, k);
            put(b, "# %s\n", p);
            put(b, "conv2d out=%d k=3 stride=%d pad=1 %s from=%s name=%s.conv1\n", out, stride, conv, prev, p);
            put(b, "batchnorm2d name=%s.bn1\nrelu name=%s.relu1\n", p, p);
            put(b, "conv2d out=%d k=3 pad=1 %s name=%s.conv2\nbatchnorm2d name=%s.bn2\n", out, conv, p, p);
            if (stride != 1 || in != out) {
                put(b, "conv2d out=%d k=1 stride=%d %s from=%s name=%s.downsample.0\n", out, stride, conv, prev, p);
                put(b, "batchnorm2d name=%s.downsample.1\n", p);
                put(b, "add from=%s.bn2,%s.downsample.1 name=%s.add\n", p, p, p);
            } else {
                put(b, "add from=%s.bn2,%s name=%s.add\n", p, prev, p);
            }
            put(b, "relu name=%s.relu2\n", p);
            snprintf(prev, sizeof prev, "%s.relu2", p);
            in = out;
        }
    put(b, "globalavgpool name=avgpool\nlinear out=%d name=fc\n", K);
}

// He et al. 2016's CIFAR ResNets, depth 6n+2: three stages of 16/32/64.
static void gen_resnet_cifar(text_buf *b, int K, int n) {
    const int width[3] = {16, 32, 64}, blocks[3] = {n, n, n};
    gen_resnet(b, K, 3, width, blocks);
}
static void gen_resnet8(text_buf *b, int K) { gen_resnet_cifar(b, K, 1); }
static void gen_resnet20(text_buf *b, int K) { gen_resnet_cifar(b, K, 3); }
static void gen_resnet32(text_buf *b, int K) { gen_resnet_cifar(b, K, 5); }

// torchvision's resnet18 with a 3x3 stride-1 stem and no max-pool (the
// usual form for 28-32 px inputs)
static void gen_resnet18(text_buf *b, int K) {
    const int width[4] = {64, 128, 256, 512}, blocks[4] = {2, 2, 2, 2};
    gen_resnet(b, K, 4, width, blocks);
}

static void gen_alexnet(text_buf *b, int K) {
    put(b, "conv2d out=64 k=3 pad=1 name=conv1\nrelu\nmaxpool k=2\n"
           "conv2d out=192 k=3 pad=1 name=conv2\nrelu\nmaxpool k=2\n"
           "conv2d out=384 k=3 pad=1 name=conv3\nrelu\n"
           "conv2d out=256 k=3 pad=1 name=conv4\nrelu\n"
           "conv2d out=256 k=3 pad=1 name=conv5\nrelu\nmaxpool k=2\n"
           "flatten\ndropout p=0.5\nlinear out=1024 name=fc1\nrelu\ndropout p=0.5\n"
           "linear out=1024 name=fc2\nrelu\nlinear out=%d name=fc3\n", K);
}

static void gen_mcmahan(text_buf *b, int K) {
    put(b, "conv2d out=32 k=5 pad=2 name=conv1\nrelu\nmaxpool k=2\n"
           "conv2d out=64 k=5 pad=2 name=conv2\nrelu\nmaxpool k=2\n"
           "flatten\nlinear out=512 name=fc1\nrelu\nlinear out=%d name=fc2\n", K);
}

static const struct {
    const char *name;
    void (*gen)(text_buf *b, int n_classes);
    const char *help;
} builtins[] = {
    {"lenet5", gen_lenet5, "LeNet-5: conv 6@5x5 (pad 2), pool, conv 16@5x5, pool, fc 120, fc 84, fc classes"},
    {"mlp", gen_mlp, "MLP: 256 and 128 hidden units with ReLU"},
    {"resnet8", gen_resnet8, "ResNet-8 (He et al. 2016, CIFAR form): 3 stages of 16/32/64 channels, 1 block each"},
    {"resnet20", gen_resnet20, "ResNet-20: 3 stages of 16/32/64 channels, 3 BasicBlocks each, BatchNorm"},
    {"resnet32", gen_resnet32, "ResNet-32: 3 stages of 16/32/64 channels, 5 BasicBlocks each"},
    {"resnet18", gen_resnet18, "ResNet-18 (torchvision's names, 3x3 stride-1 stem, no max-pool)"},
    {"alexnet", gen_alexnet, "a small AlexNet for 28-32 px: 5 convs (64-384), 3 pools, fc 1024, 1024"},
    {"mcmahan_cnn", gen_mcmahan, "the FedAvg paper's CNN: conv 32@5x5, conv 64@5x5, fc 512"},
};

const char *dc_model_builtin_names(void) {
    return "lenet5, mlp, resnet8, resnet20, resnet32, resnet18, alexnet, mcmahan_cnn";
}

dc_status dc_model_builtin_text(char **text, const char *name, int n_classes, dc_error *err) {
    *text = NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) {
            text_buf b = {0};
            builtins[i].gen(&b, n_classes);
            if (b.failed || !b.s) {
                free(b.s);
                return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", name);
            }
            *text = b.s;
            return DC_OK;
        }
    return dc_fail(err, DC_ERR_ARG, "unknown built-in model '%s' (built-ins: %s; or give a path to an architecture file)",
                   name, dc_model_builtin_names());
}

dc_status dc_model_builtin(dc_model **m, const char *name, int in_c, int in_h, int in_w, int n_classes,
                           dc_error *err) {
    *m = NULL;
    char *text;
    dc_status st = dc_model_builtin_text(&text, name, n_classes, err);
    if (st) return st;
    st = dc_model_parse(m, text, name, in_c, in_h, in_w, n_classes, err);
    free(text);
    return st;
}

dc_status dc_model_create(dc_model **m, const char *name_or_path, int in_c, int in_h, int in_w, int n_classes,
                          dc_error *err) {
    return dc_model_create_tabular(m, name_or_path, in_c, in_h, in_w, n_classes, 0, err);
}

dc_status dc_model_create_tabular(dc_model **m, const char *name_or_path, int in_c, int in_h, int in_w,
                                  int n_classes, int tab_features, dc_error *err) {
    if (!strchr(name_or_path, '/') && !strchr(name_or_path, '.'))
        return dc_model_builtin(m, name_or_path, in_c, in_h, in_w, n_classes, err);
    uint8_t *data;
    size_t len;
    dc_status st = dc_read_file(name_or_path, &data, &len, 1 << 20, err);
    if (st) return st;
    if (memchr(data, 0, len)) {
        free(data);
        return dc_fail(err, DC_ERR_FORMAT, "%s: not a text architecture file (contains NUL bytes)", name_or_path);
    }
    st = dc_model_parse_tabular(m, (const char *)data, name_or_path, in_c, in_h, in_w, n_classes, tab_features, err);
    free(data);
    return st;
}
