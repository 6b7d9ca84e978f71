// hierarchy.c — generalisation hierarchies in ARX's CSV format (contract
// in anon.h): "leaf;parent;...;root" per line.
//
// A line is split on ';' with no quoting (ARX's hierarchies are plain);
// fields are trimmed of spaces, tabs and a trailing '\r'. Nodes are created
// root first, so node 0 is the root and a parent always precedes its
// children. Each node remembers the line that introduced it, for messages
// about contradictions.
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "anon/anon.h"
#include "anon/strmap.h"
#include "core/core.h"

#define MAX_LEVELS 64

void dc_hierarchy_free(dc_hierarchy *h) {
    if (!h) return;
    if (h->name)
        for (int i = 0; i < h->n_nodes; i++) free(h->name[i]);
    free(h->name);
    free(h->parent);
    free(h->depth);
    free(h->leaves);
    if (h->index) {
        dc_strmap_free(h->index);
        free(h->index);
    }
    memset(h, 0, sizeof *h);
}

int dc_hierarchy_find(const dc_hierarchy *h, const char *name) {
    return h->index ? dc_strmap_get(h->index, name, strlen(name)) : -1;
}

typedef struct hbuild {
    dc_hierarchy *h;
    int cap;
    int *line;       // (cap) line that introduced each node
    bool *is_leaf;   // (cap) introduced as a leaf (level 0)
} hbuild;

static int add_node(hbuild *b, const char *name, size_t len, int parent, int depth, int line, bool leaf) {
    dc_hierarchy *h = b->h;
    if (h->n_nodes == b->cap) {
        int nc = b->cap ? b->cap * 2 : 64;
        char **nn = realloc(h->name, sizeof(char *) * (size_t)nc);
        if (nn) h->name = nn;
        int *np = nn ? realloc(h->parent, sizeof(int) * (size_t)nc) : NULL;
        if (np) h->parent = np;
        int *nd = np ? realloc(h->depth, sizeof(int) * (size_t)nc) : NULL;
        if (nd) h->depth = nd;
        int *nl = nd ? realloc(b->line, sizeof(int) * (size_t)nc) : NULL;
        if (nl) b->line = nl;
        bool *nf = nl ? realloc(b->is_leaf, sizeof(bool) * (size_t)nc) : NULL;
        if (nf) b->is_leaf = nf;
        if (!nf) return -1;
        b->cap = nc;
    }
    char *s = malloc(len + 1);
    if (!s) return -1;
    memcpy(s, name, len);
    s[len] = 0;
    const int id = h->n_nodes;
    if (!dc_strmap_put(h->index, s, len, id, NULL, NULL)) {
        free(s);
        return -1;
    }
    h->name[id] = s;
    h->parent[id] = parent;
    h->depth[id] = depth;
    b->line[id] = line;
    b->is_leaf[id] = leaf;
    h->n_nodes++;
    return id;
}

static dc_status herr(dc_error *err, const char *origin, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dc_status herr(dc_error *err, const char *origin, int line, const char *fmt, ...) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dc_fail(err, DC_ERR_FORMAT, "%s:%d: %s", origin, line, msg);
}

dc_status dc_hierarchy_parse(dc_hierarchy *h, const char *text, size_t len, const char *origin, dc_error *err) {
    memset(h, 0, sizeof *h);
    h->index = malloc(sizeof(dc_strmap));
    if (!h->index) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    dc_strmap_init(h->index);
    hbuild b = {.h = h};
    dc_status st = DC_OK;
    int levels = 0, line = 0, first_line = 0;
    size_t pos = 0;
    const char *fs[MAX_LEVELS];
    size_t fl[MAX_LEVELS];
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) pos = 3;
    while (pos < len && !st) {
        line++;
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        if (memchr(s, 0, n)) {
            st = herr(err, origin, line, "a NUL byte (is this a text file?)");
            break;
        }
        if (n && s[n - 1] == '\r') n--;
        bool blank = true;
        for (size_t i = 0; i < n; i++) blank = blank && (s[i] == ' ' || s[i] == '\t');
        if (blank) continue;
        // split on ';', trimming each field
        int nf = 0;
        size_t a = 0;
        for (size_t i = 0; i <= n && !st; i++) {
            if (i < n && s[i] != ';') continue;
            size_t x = a, y = i;
            while (x < y && (s[x] == ' ' || s[x] == '\t')) x++;
            while (y > x && (s[y - 1] == ' ' || s[y - 1] == '\t')) y--;
            if (nf == MAX_LEVELS) st = herr(err, origin, line, "more than %d levels", MAX_LEVELS);
            else if (x == y) st = herr(err, origin, line, "level %d is empty", nf);
            else {
                fs[nf] = s + x;
                fl[nf] = y - x;
                nf++;
            }
            a = i + 1;
        }
        if (st) break;
        if (nf < 2) {
            st = herr(err, origin, line, "'%.*s': expected leaf;parent;...;root (at least two levels, ';' between them)",
                      (int)(n > 200 ? 200 : n), s);
            break;
        }
        if (!levels) {
            levels = nf;
            first_line = line;
            if (add_node(&b, fs[nf - 1], fl[nf - 1], -1, 0, line, false) < 0) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
                break;
            }
        } else if (nf != levels) {
            st = herr(err, origin, line, "%d levels, but line %d has %d: every line needs the same number", nf,
                      first_line, levels);
            break;
        }
        if (fl[nf - 1] != strlen(h->name[0]) || memcmp(fs[nf - 1], h->name[0], fl[nf - 1])) {
            st = herr(err, origin, line, "root '%.*s' differs from '%s' on line %d: a hierarchy has one root",
                      (int)fl[nf - 1], fs[nf - 1], h->name[0], first_line);
            break;
        }
        // from the root down: each name is one node with one parent
        int parent = 0;
        for (int lv = nf - 2; lv >= 0 && !st; lv--) {
            const bool leaf = lv == 0;
            const int depth = nf - 1 - lv;
            int id = dc_strmap_get(h->index, fs[lv], fl[lv]);
            if (id >= 0) {
                if (leaf && b.is_leaf[id])
                    st = herr(err, origin, line, "leaf '%s' was already listed on line %d", h->name[id], b.line[id]);
                else if (leaf || b.is_leaf[id] || h->depth[id] != depth)
                    st = herr(err, origin, line, "'%s' is at level %d here but at level %d on line %d", h->name[id],
                              lv, nf - 1 - h->depth[id], b.line[id]);
                else if (h->parent[id] != parent)
                    st = herr(err, origin, line, "'%s' has parent '%s' here but '%s' on line %d", h->name[id],
                              h->name[parent], h->name[h->parent[id]], b.line[id]);
            } else if ((id = add_node(&b, fs[lv], fl[lv], parent, depth, line, leaf)) < 0) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
            }
            parent = id;
        }
    }
    if (!st && !levels) st = herr(err, origin, 1, "no lines: expected leaf;parent;...;root per line");
    if (!st) {
        h->height = levels - 1;
        h->leaves = calloc((size_t)h->n_nodes, sizeof(int));
        if (!h->leaves) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    }
    if (!st) {
        for (int i = h->n_nodes - 1; i >= 0; i--) { // children after parents
            if (b.is_leaf[i]) h->leaves[i]++;
            if (h->parent[i] >= 0) h->leaves[h->parent[i]] += h->leaves[i];
        }
        h->n_leaves = h->leaves[0];
    }
    free(b.line);
    free(b.is_leaf);
    if (st) dc_hierarchy_free(h);
    return st;
}

dc_status dc_hierarchy_read(dc_hierarchy *h, const char *path, dc_error *err) {
    memset(h, 0, sizeof *h);
    uint8_t *data;
    size_t len;
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 30, err);
    if (st) return st;
    st = dc_hierarchy_parse(h, (const char *)data, len, path, err);
    free(data);
    return st;
}
