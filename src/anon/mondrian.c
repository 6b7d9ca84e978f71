// mondrian.c — k-anonymity and l-diversity by Mondrian partitioning,
// pseudonyms, and the checker (contract and definitions in anon.h).
//
// The rows to partition are an index array; a partition is a range of it.
// Cutting a partition partitions its range stably (the rows keep their
// order inside each part), so every step is deterministic. Per partition the
// extent of each quasi-identifier is recomputed from its rows: numeric min
// and max, categorical the lowest common ancestor (LCA) of its leaves, found
// through an ancestor table anc[node][depth].
//
// Legend: N rows, Q quasi-identifiers, m rows of a partition.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "anon/anon.h"
#include "anon/strmap.h"
#include "core/core.h"

// ---------------------------------------------------------------------------
// Pseudonyms

dc_status dc_pseudonym(char out[33], const char *value, const uint8_t *key, size_t key_len, dc_error *err) {
    if (!key || key_len < crypto_generichash_KEYBYTES_MIN || key_len > crypto_generichash_KEYBYTES_MAX)
        return dc_fail(err, DC_ERR_ARG, "pseudonym key: %zu bytes, expected %d to %d", key ? key_len : 0,
                       (int)crypto_generichash_KEYBYTES_MIN, (int)crypto_generichash_KEYBYTES_MAX);
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "libsodium could not start");
    unsigned char h[16];
    if (crypto_generichash(h, sizeof h, (const unsigned char *)value, strlen(value), key, key_len))
        return dc_fail(err, DC_ERR_ARG, "pseudonym: BLAKE2b failed");
    sodium_bin2hex(out, 33, h, sizeof h);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Checking (also how dc_anonymize computes its report, on its own output)

static bool join_key(char **buf, size_t *cap, const dc_table *t, int r, const int *cols, int n) {
    size_t need = 1;
    for (int q = 0; q < n; q++) need += strlen(dc_table_cell(t, r, cols[q])) + 1;
    if (need > *cap) {
        char *nb = realloc(*buf, need * 2);
        if (!nb) return false;
        *buf = nb;
        *cap = need * 2;
    }
    size_t p = 0;
    for (int q = 0; q < n; q++) {
        const char *s = dc_table_cell(t, r, cols[q]);
        const size_t l = strlen(s);
        memcpy(*buf + p, s, l);
        p += l;
        (*buf)[p++] = '\x1f'; // unit separator: not in a cell key's pieces' boundaries
    }
    (*buf)[p] = 0;
    return true;
}

dc_status dc_anon_verify(dc_anon_report *rep, const dc_table *t, const char *const *quasi, int n_quasi,
                         const char *sensitive, int k, int l, dc_error *err) {
    memset(rep, 0, sizeof *rep);
    rep->ncp = NAN;
    if (n_quasi < 1 || n_quasi > DC_ANON_MAX_QUASI)
        return dc_fail(err, DC_ERR_ARG, "expected 1 to %d quasi-identifiers, got %d", DC_ANON_MAX_QUASI, n_quasi);
    int cols[DC_ANON_MAX_QUASI], scol = -1;
    for (int q = 0; q < n_quasi; q++)
        if ((cols[q] = dc_table_column(t, quasi[q])) < 0)
            return dc_fail(err, DC_ERR_ARG, "%s: no column '%s' (quasi-identifier)", t->origin, quasi[q]);
    if (sensitive && (scol = dc_table_column(t, sensitive)) < 0)
        return dc_fail(err, DC_ERR_ARG, "%s: no column '%s' (sensitive)", t->origin, sensitive);
    rep->n_in = rep->n_out = t->n_rows;
    rep->n_quasi = n_quasi;
    dc_strmap classes, pairs;
    dc_strmap_init(&classes);
    dc_strmap_init(&pairs);
    int *size = NULL, *distinct = NULL, cap = 0;
    char *buf = NULL;
    size_t bcap = 0;
    dc_status st = DC_OK;
    for (int r = 0; r < t->n_rows && !st; r++) {
        int id;
        bool found;
        if (!join_key(&buf, &bcap, t, r, cols, n_quasi) ||
            !dc_strmap_put(&classes, buf, strlen(buf), (int)classes.count, &id, &found)) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory checking %d rows", t->n_rows);
            break;
        }
        if (id >= cap) {
            int nc = cap ? cap * 2 : 1024;
            int *ns = realloc(size, sizeof(int) * (size_t)nc);
            if (ns) size = ns;
            int *nd = ns ? realloc(distinct, sizeof(int) * (size_t)nc) : NULL;
            if (nd) distinct = nd;
            if (!nd) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory checking %d rows", t->n_rows);
                break;
            }
            cap = nc;
        }
        if (!found) size[id] = distinct[id] = 0;
        size[id]++;
        if (scol >= 0) {
            // (class, sensitive value) pairs: a new pair is a new distinct value of the class
            char pre[16];
            const int pl = snprintf(pre, sizeof pre, "%d\x1f", id);
            const char *sv = dc_table_cell(t, r, scol);
            const size_t sl = strlen(sv);
            if ((size_t)pl + sl + 1 > bcap) {
                char *nb = realloc(buf, (pl + sl + 1) * 2);
                if (!nb) {
                    st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                    break;
                }
                buf = nb;
                bcap = (pl + sl + 1) * 2;
            }
            memcpy(buf, pre, (size_t)pl);
            memcpy(buf + pl, sv, sl + 1);
            bool pf;
            if (!dc_strmap_put(&pairs, buf, (size_t)pl + sl, 0, NULL, &pf)) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                break;
            }
            if (!pf) distinct[id]++;
        }
    }
    if (!st) {
        rep->n_classes = (int)classes.count;
        rep->smallest_class = rep->n_classes ? t->n_rows : 0;
        rep->min_distinct = scol >= 0 && rep->n_classes ? t->n_rows : 0;
        for (int c = 0; c < rep->n_classes; c++) {
            if (size[c] < rep->smallest_class) rep->smallest_class = size[c];
            if (size[c] > rep->largest_class) rep->largest_class = size[c];
            if (scol >= 0 && distinct[c] < rep->min_distinct) rep->min_distinct = distinct[c];
        }
        rep->prosecutor_max = rep->smallest_class ? 1.0 / rep->smallest_class : 0.0;
        rep->prosecutor_avg = t->n_rows ? (double)rep->n_classes / t->n_rows : 0.0;
        rep->k_ok = t->n_rows == 0 || rep->smallest_class >= k;
        rep->l_ok = t->n_rows == 0 || (scol < 0 ? l <= 1 : rep->min_distinct >= l);
    }
    dc_strmap_free(&classes);
    dc_strmap_free(&pairs);
    free(size);
    free(distinct);
    free(buf);
    return st;
}

// ---------------------------------------------------------------------------
// Quasi-identifiers

typedef struct qi_t {
    int col;
    bool numeric;
    double *v;             // (N) numeric values
    double dom_lo, dom_hi; // their range over the table
    const dc_hierarchy *h; // categorical: the hierarchy (flat or given)
    dc_hierarchy flat;     // owned when h == &flat
    int32_t *leaf;         // (N) categorical: each row's leaf
    int32_t *anc;          // (n_nodes, height + 1) ancestor of a node at a depth
    int32_t *slot;         // (n_nodes) scratch for categorical cuts, -1 when unused
} qi_t;

static void qi_free(qi_t *q) {
    free(q->v);
    free(q->leaf);
    free(q->anc);
    free(q->slot);
    if (q->h == &q->flat) dc_hierarchy_free(&q->flat);
    memset(q, 0, sizeof *q);
}

static bool parse_number(const char *s, double *v) {
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !*end && end != s && errno != ERANGE && isfinite(*v);
}

static dc_status qerr(dc_error *err, const dc_table *t, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static dc_status qerr(dc_error *err, const dc_table *t, int r, const char *fmt, ...) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dc_fail(err, DC_ERR_ARG, "%s:%d: %s", t->origin, t->line ? t->line[r] : r + 2, msg);
}

// A flat hierarchy "*" -> every distinct value of column col, in order of appearance.
static dc_status build_flat(dc_hierarchy *h, const dc_table *t, int col, dc_error *err) {
    memset(h, 0, sizeof *h);
    dc_strmap seen;
    dc_strmap_init(&seen);
    size_t cap = 0, tl = 0;
    char *text = NULL;
    dc_status st = DC_OK;
    for (int r = 0; r < t->n_rows && !st; r++) {
        const char *s = dc_table_cell(t, r, col);
        if (!*s) {
            st = qerr(err, t, r, "column %s: an empty value: give the column a hierarchy with a name for it",
                      t->header[col]);
            break;
        }
        if (!strcmp(s, "*")) {
            st = qerr(err, t, r, "column %s: the value '*' stands for a suppressed value; give the column a "
                      "hierarchy file if '*' is a real value", t->header[col]);
            break;
        }
        if (strchr(s, ';') || strchr(s, '\n')) { // the flat hierarchy is built in the file format
            st = qerr(err, t, r, "column %s: value '%s' holds ';' or a newline: give the column a hierarchy",
                      t->header[col], s);
            break;
        }
        bool found;
        if (!dc_strmap_put(&seen, s, strlen(s), 0, NULL, &found)) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            break;
        }
        if (found) continue;
        const size_t n = strlen(s);
        if (tl + n + 4 > cap) {
            cap = (tl + n + 4) * 2;
            char *nt = realloc(text, cap);
            if (!nt) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                break;
            }
            text = nt;
        }
        memcpy(text + tl, s, n);
        memcpy(text + tl + n, ";*\n", 3);
        tl += n + 3;
    }
    if (!st && !tl) st = dc_fail(err, DC_ERR_ARG, "%s: column %s has no rows", t->origin, t->header[col]);
    if (!st) st = dc_hierarchy_parse(h, text, tl, t->header[col], err);
    dc_strmap_free(&seen);
    free(text);
    return st;
}

static dc_status qi_init(qi_t *q, const dc_table *t, int col, const dc_hierarchy *h, bool force_cat,
                         dc_error *err) {
    memset(q, 0, sizeof *q);
    q->col = col;
    const int N = t->n_rows;
    if (!h) {
        bool all = N > 0;
        if (!force_cat) {
            q->v = malloc(sizeof(double) * (size_t)(N ? N : 1));
            if (!q->v) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
            for (int r = 0; r < N && all; r++) all = parse_number(dc_table_cell(t, r, col), &q->v[r]);
        }
        if (!force_cat && all) {
            q->numeric = true;
            q->dom_lo = q->dom_hi = q->v[0];
            for (int r = 1; r < N; r++) {
                if (q->v[r] < q->dom_lo) q->dom_lo = q->v[r];
                if (q->v[r] > q->dom_hi) q->dom_hi = q->v[r];
            }
            return DC_OK;
        }
        free(q->v);
        q->v = NULL;
        dc_status st = build_flat(&q->flat, t, col, err);
        if (st) return st;
        q->h = &q->flat;
    } else {
        q->h = h;
    }
    const dc_hierarchy *hh = q->h;
    const int H = hh->height + 1;
    q->leaf = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    q->anc = malloc(sizeof(int32_t) * (size_t)hh->n_nodes * H);
    q->slot = malloc(sizeof(int32_t) * (size_t)hh->n_nodes);
    if (!q->leaf || !q->anc || !q->slot) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    for (int u = 0; u < hh->n_nodes; u++) { // parents come first
        q->slot[u] = -1;
        int32_t *a = q->anc + (size_t)u * H;
        if (hh->parent[u] >= 0) memcpy(a, q->anc + (size_t)hh->parent[u] * H, sizeof(int32_t) * (size_t)H);
        a[hh->depth[u]] = u;
    }
    for (int r = 0; r < N; r++) {
        const int u = dc_hierarchy_find(hh, dc_table_cell(t, r, col));
        if (u < 0 || hh->depth[u] != hh->height) // every leaf is at the bottom level
            return qerr(err, t, r, "column %s: value '%s' is not a leaf of its hierarchy%s", t->header[col],
                        dc_table_cell(t, r, col), u >= 0 ? " (it is a generalised value)" : "");
        q->leaf[r] = u;
    }
    return DC_OK;
}

static int lca(const qi_t *q, int a, int b) {
    const int H = q->h->height + 1;
    int d = q->h->depth[a] < q->h->depth[b] ? q->h->depth[a] : q->h->depth[b];
    while (q->anc[(size_t)a * H + d] != q->anc[(size_t)b * H + d]) d--;
    return q->anc[(size_t)a * H + d];
}

// ---------------------------------------------------------------------------
// Partitioning

typedef struct extent {
    double lo, hi;   // numeric
    int lo_row, hi_row; // rows holding lo and hi (their texts are written)
    int node;        // categorical: the LCA
    double ncp;      // this QI's certainty penalty for the partition
} extent;

typedef struct mctx {
    const dc_table *t;
    qi_t *q;
    int Q, k, l;
    int32_t *sens;        // (N) sensitive value ids, or NULL
    int32_t *stamp;       // (distinct sensitive values) scratch
    int gen;
    int32_t *tmp;         // (N) scratch for stable partitioning
    double *vtmp;         // (N) scratch for the median
    long budget;          // suppression left
    bool *suppressed;     // (N)
} mctx;

static void extent_of(const mctx *c, const int32_t *idx, int m, int j, extent *e) {
    const qi_t *q = &c->q[j];
    if (q->numeric) {
        e->lo = e->hi = q->v[idx[0]];
        e->lo_row = e->hi_row = idx[0];
        for (int i = 1; i < m; i++) {
            const double v = q->v[idx[i]];
            if (v < e->lo) e->lo = v, e->lo_row = idx[i];
            if (v > e->hi) e->hi = v, e->hi_row = idx[i];
        }
        const double range = q->dom_hi - q->dom_lo;
        e->ncp = range > 0 ? (e->hi - e->lo) / range : 0.0;
    } else {
        int u = q->leaf[idx[0]];
        for (int i = 1; i < m && u != 0; i++) u = lca(q, u, q->leaf[idx[i]]);
        e->node = u;
        e->ncp = q->h->leaves[u] > 1 ? (double)q->h->leaves[u] / q->h->n_leaves : 0.0;
    }
}

static int distinct_sens(mctx *c, const int32_t *idx, int m) {
    if (!c->sens) return m > 0 ? 1 : 0;
    c->gen++;
    int d = 0;
    for (int i = 0; i < m; i++) {
        const int s = c->sens[idx[i]];
        if (c->stamp[s] != c->gen) {
            c->stamp[s] = c->gen;
            d++;
        }
    }
    return d;
}

static bool ok_part(mctx *c, const int32_t *idx, int m) { return m >= c->k && distinct_sens(c, idx, m) >= c->l; }

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Quickselect: the k-th smallest of v (n), v reordered.
static double select_kth(double *v, int n, int k) {
    int lo = 0, hi = n - 1;
    while (hi - lo > 16) {
        // median of three as the pivot
        const int mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], cc = v[hi];
        const double p = a < b ? (b < cc ? b : a < cc ? cc : a) : (a < cc ? a : b < cc ? cc : b);
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) {
                const double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    qsort(v + lo, (size_t)(hi - lo + 1), sizeof(double), cmp_double);
    return v[k];
}

// Cuts idx (m) on QI j into parts, reordering idx stably; part p is
// idx[start[p] .. start[p+1]). Returns the number of parts (< 2: no cut).
static int cut(mctx *c, int32_t *idx, int m, int j, const extent *e, int *start, int max_parts) {
    const qi_t *q = &c->q[j];
    if (q->numeric) {
        for (int i = 0; i < m; i++) c->vtmp[i] = q->v[idx[i]];
        const double med = select_kth(c->vtmp, m, (m - 1) / 2);
        int le = 0, lt = 0;
        for (int i = 0; i < m; i++) {
            le += q->v[idx[i]] <= med;
            lt += q->v[idx[i]] < med;
        }
        // the boundary between distinct values nearest the middle
        int nl = -1;
        const bool le_ok = le < m, lt_ok = lt > 0;
        if (le_ok && lt_ok) nl = abs(2 * le - m) <= abs(2 * lt - m) ? le : lt;
        else if (le_ok) nl = le;
        else if (lt_ok) nl = lt;
        if (nl < 0) return 0;
        const bool by_le = nl == le && le_ok;
        int a = 0, b = nl;
        for (int i = 0; i < m; i++) {
            const double v = q->v[idx[i]];
            const bool left = by_le ? v <= med : v < med;
            c->tmp[left ? a++ : b++] = idx[i];
        }
        memcpy(idx, c->tmp, sizeof(int32_t) * (size_t)m);
        start[0] = 0;
        start[1] = nl;
        start[2] = m;
        return 2;
    }
    const dc_hierarchy *h = q->h;
    const int u = e->node;
    if (h->leaves[u] <= 1) return 0;
    const int H = h->height + 1, d = h->depth[u] + 1;
    // children of u in node order, with counts
    int n_parts = 0;
    int *child = malloc(sizeof(int) * (size_t)(m < max_parts ? m : max_parts)); // distinct children met
    if (!child) return 0;
    for (int i = 0; i < m; i++) {
        const int ch = q->anc[(size_t)q->leaf[idx[i]] * H + d];
        if (q->slot[ch] < 0) {
            if (n_parts == max_parts) { // more children than parts room: do not cut here
                for (int p = 0; p < n_parts; p++) q->slot[child[p]] = -1;
                free(child);
                return 0;
            }
            q->slot[ch] = n_parts;
            child[n_parts++] = ch;
        }
    }
    // order the parts by node id (stable, independent of row order)
    for (int a = 1; a < n_parts; a++)
        for (int b = a; b > 0 && child[b - 1] > child[b]; b--) {
            const int t = child[b];
            child[b] = child[b - 1];
            child[b - 1] = t;
        }
    for (int p = 0; p < n_parts; p++) q->slot[child[p]] = p;
    for (int p = 0; p <= n_parts; p++) start[p] = 0;
    for (int i = 0; i < m; i++) start[q->slot[q->anc[(size_t)q->leaf[idx[i]] * H + d]] + 1]++;
    for (int p = 0; p < n_parts; p++) start[p + 1] += start[p];
    int *fill = malloc(sizeof(int) * (size_t)(n_parts ? n_parts : 1));
    if (!fill) {
        for (int p = 0; p < n_parts; p++) q->slot[child[p]] = -1;
        free(child);
        return 0;
    }
    memcpy(fill, start, sizeof(int) * (size_t)n_parts);
    for (int i = 0; i < m; i++) c->tmp[fill[q->slot[q->anc[(size_t)q->leaf[idx[i]] * H + d]]]++] = idx[i];
    memcpy(idx, c->tmp, sizeof(int32_t) * (size_t)m);
    for (int p = 0; p < n_parts; p++) q->slot[child[p]] = -1;
    free(fill);
    free(child);
    return n_parts;
}

typedef struct range {
    int lo, hi;
} range;

typedef struct order_t {
    double w;
    int j;
} order_t;

static int cmp_order(const void *a, const void *b) {
    const order_t *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? 1 : -1; // widest first
    return (x->j > y->j) - (x->j < y->j);
}

// Partitions idx (N): classes receives the final ranges (*n_classes), rows
// of failing parts are marked in c->suppressed.
static dc_status mondrian(mctx *c, int32_t *idx, int N, range **classes, int *n_classes, dc_error *err) {
    *classes = NULL;
    *n_classes = 0;
    int ccap = 0, scap = 64, sp = 0;
    range *stack = malloc(sizeof(range) * (size_t)scap);
    const int max_parts = N + 1;
    int *start = malloc(sizeof(int) * ((size_t)max_parts + 1));
    extent *ex = malloc(sizeof(extent) * (size_t)c->Q), *pe = malloc(sizeof(extent) * (size_t)c->Q);
    order_t *ord = malloc(sizeof(order_t) * (size_t)c->Q);
    bool *pass = malloc(sizeof(bool) * (size_t)max_parts);
    dc_status st = DC_OK;
    if (!stack || !start || !ex || !pe || !ord || !pass) {
        st = dc_fail(err, DC_ERR_NOMEM, "out of memory partitioning %d rows", N);
        goto done;
    }
    stack[sp++] = (range){0, N};
    while (sp > 0) {
        const range pr = stack[--sp];
        int32_t *pidx = idx + pr.lo;
        const int m = pr.hi - pr.lo;
        double ncp_before = 0.0;
        for (int j = 0; j < c->Q; j++) {
            extent_of(c, pidx, m, j, &ex[j]);
            ord[j] = (order_t){ex[j].ncp, j};
            ncp_before += ex[j].ncp;
        }
        ncp_before *= m;
        qsort(ord, (size_t)c->Q, sizeof *ord, cmp_order);
        bool done_cut = false;
        for (int oi = 0; oi < c->Q && !done_cut; oi++) {
            const int j = ord[oi].j;
            if (ord[oi].w <= 0.0) break; // a single value: nothing to cut
            const int np = cut(c, pidx, m, j, &ex[j], start, max_parts);
            if (np < 2) continue;
            int n_pass = 0, s = 0;
            for (int p = 0; p < np; p++) {
                pass[p] = ok_part(c, pidx + start[p], start[p + 1] - start[p]);
                n_pass += pass[p];
                if (!pass[p]) s += start[p + 1] - start[p];
            }
            if (s > 0) {
                if (n_pass == 0 || s > c->budget) continue;
                double after = (double)s * c->Q;
                for (int p = 0; p < np; p++) {
                    if (!pass[p]) continue;
                    const int pm = start[p + 1] - start[p];
                    for (int jj = 0; jj < c->Q; jj++) {
                        extent_of(c, pidx + start[p], pm, jj, &pe[jj]);
                        after += pm * pe[jj].ncp;
                    }
                }
                if (!(after < ncp_before - 1e-9)) continue;
                c->budget -= s;
                for (int p = 0; p < np; p++)
                    if (!pass[p])
                        for (int i = start[p]; i < start[p + 1]; i++) c->suppressed[pidx[i]] = true;
            }
            // push the passing parts, the first on top (depth first, left first)
            if (sp + np > scap) {
                scap = (sp + np) * 2;
                range *ns = realloc(stack, sizeof(range) * (size_t)scap);
                if (!ns) {
                    st = dc_fail(err, DC_ERR_NOMEM, "out of memory partitioning");
                    goto done;
                }
                stack = ns;
            }
            for (int p = np - 1; p >= 0; p--)
                if (pass[p]) stack[sp++] = (range){pr.lo + start[p], pr.lo + start[p + 1]};
            done_cut = true;
        }
        if (done_cut) continue;
        if (*n_classes == ccap) {
            ccap = ccap ? ccap * 2 : 256;
            range *nc = realloc(*classes, sizeof(range) * (size_t)ccap);
            if (!nc) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory partitioning");
                goto done;
            }
            *classes = nc;
        }
        (*classes)[(*n_classes)++] = pr;
    }
done:
    free(stack);
    free(start);
    free(ex);
    free(pe);
    free(ord);
    free(pass);
    if (st) {
        free(*classes);
        *classes = NULL;
        *n_classes = 0;
    }
    return st;
}

// ---------------------------------------------------------------------------
// Building the output table

typedef struct tbuild {
    dc_table *t;
    size_t n_cells, cells_cap;
    bool oom;
} tbuild;

static void tb_cell(tbuild *b, const char *s) {
    if (b->oom) return;
    dc_table *t = b->t;
    const size_t n = strlen(s);
    if (t->arena_len + n + 1 > t->arena_cap) {
        size_t nc = (t->arena_cap + n + 1) * 2;
        char *na = realloc(t->arena, nc);
        if (!na) {
            b->oom = true;
            return;
        }
        t->arena = na;
        t->arena_cap = nc;
    }
    if (b->n_cells == b->cells_cap) {
        size_t nc = b->cells_cap ? b->cells_cap * 2 : 1024;
        size_t *no = realloc(t->off, sizeof(size_t) * nc);
        if (!no) {
            b->oom = true;
            return;
        }
        t->off = no;
        b->cells_cap = nc;
    }
    memcpy(t->arena + t->arena_len, s, n + 1);
    t->off[b->n_cells++] = t->arena_len;
    t->arena_len += n + 1;
}

static bool in_list(const char *name, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(name, list[i])) return true;
    return false;
}

dc_status dc_anonymize(dc_table *out, dc_anon_report *rep, const dc_table *in, const dc_anon_config *cfg,
                       dc_error *err) {
    memset(out, 0, sizeof *out);
    memset(rep, 0, sizeof *rep);
    const double t0 = dc_now_seconds();
    const int N = in->n_rows, Q = cfg->n_quasi;
    if (Q < 1 || Q > DC_ANON_MAX_QUASI)
        return dc_fail(err, DC_ERR_ARG, "expected 1 to %d quasi-identifiers, got %d", DC_ANON_MAX_QUASI, Q);
    if (cfg->k < 1 || cfg->l < 1) return dc_fail(err, DC_ERR_ARG, "k %d and l %d must be >= 1", cfg->k, cfg->l);
    if (!cfg->sensitive && cfg->l > 1)
        return dc_fail(err, DC_ERR_ARG, "l-diversity (l = %d) needs a sensitive column", cfg->l);
    if (cfg->max_suppress < 0) return dc_fail(err, DC_ERR_ARG, "the suppression limit must be >= 0");
    // roles: every named column exists, and plays one role
    const char *role[1024] = {0};
    if (in->n_cols > 1024) return dc_fail(err, DC_ERR_ARG, "%s: more than 1024 columns", in->origin);
    struct { const char *const *names; int n; const char *what; } lists[] = {
        {cfg->quasi, Q, "quasi-identifier"},
        {&cfg->sensitive, cfg->sensitive ? 1 : 0, "sensitive"},
        {cfg->drop, cfg->n_drop, "dropped"},
        {cfg->pseudo, cfg->n_pseudo, "pseudonymised"},
    };
    for (size_t li = 0; li < sizeof lists / sizeof *lists; li++)
        for (int i = 0; i < lists[li].n; i++) {
            const int col = dc_table_column(in, lists[li].names[i]);
            if (col < 0)
                return dc_fail(err, DC_ERR_ARG, "%s: no column '%s' (%s; the header has %d columns)", in->origin,
                               lists[li].names[i], lists[li].what, in->n_cols);
            if (role[col])
                return dc_fail(err, DC_ERR_ARG, "column '%s' is named as %s and as %s: one role each",
                               lists[li].names[i], role[col], lists[li].what);
            role[col] = lists[li].what;
        }
    for (int i = 0; i < cfg->n_hier; i++)
        if (!in_list(cfg->hier[i]->column, cfg->quasi, Q))
            return dc_fail(err, DC_ERR_ARG, "a hierarchy is given for '%s', which is not a quasi-identifier",
                           cfg->hier[i]->column);
    for (int i = 0; i < cfg->n_categorical; i++)
        if (!in_list(cfg->categorical[i], cfg->quasi, Q))
            return dc_fail(err, DC_ERR_ARG, "'%s' is marked categorical but is not a quasi-identifier",
                           cfg->categorical[i]);
    if (cfg->n_pseudo > 0 && (!cfg->key || cfg->key_len < crypto_generichash_KEYBYTES_MIN ||
                              cfg->key_len > crypto_generichash_KEYBYTES_MAX))
        return dc_fail(err, DC_ERR_ARG, "pseudonyms need a key of %d to %d bytes", (int)crypto_generichash_KEYBYTES_MIN,
                       (int)crypto_generichash_KEYBYTES_MAX);
    qi_t *q = calloc((size_t)Q, sizeof(qi_t));
    mctx c = {.t = in, .q = q, .Q = Q, .k = cfg->k, .l = cfg->l, .budget = cfg->max_suppress};
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    c.tmp = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    c.vtmp = malloc(sizeof(double) * (size_t)(N ? N : 1));
    c.suppressed = calloc((size_t)(N ? N : 1), sizeof(bool));
    int32_t *cls = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    range *classes = NULL;
    int n_classes = 0;
    char **gen = NULL; // (n_classes, Q) generalised values
    dc_strmap svals;
    dc_strmap_init(&svals);
    dc_status st = DC_OK;
    if (!q || !idx || !c.tmp || !c.vtmp || !c.suppressed || !cls) {
        st = dc_fail(err, DC_ERR_NOMEM, "out of memory for %d rows", N);
        goto done;
    }
    for (int j = 0; j < Q; j++) {
        const int col = dc_table_column(in, cfg->quasi[j]);
        const dc_hierarchy *h = NULL;
        for (int i = 0; i < cfg->n_hier; i++)
            if (!strcmp(cfg->hier[i]->column, cfg->quasi[j])) h = cfg->hier[i];
        if ((st = qi_init(&q[j], in, col, h, in_list(cfg->quasi[j], cfg->categorical, cfg->n_categorical), err)))
            goto done;
        rep->numeric[j] = q[j].numeric;
    }
    if (cfg->sensitive) {
        const int sc = dc_table_column(in, cfg->sensitive);
        c.sens = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
        if (!c.sens) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int r = 0; r < N; r++) {
            const char *s = dc_table_cell(in, r, sc);
            int id;
            if (!dc_strmap_put(&svals, s, strlen(s), (int)svals.count, &id, NULL)) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                goto done;
            }
            c.sens[r] = id;
        }
        c.stamp = calloc(svals.count ? svals.count : 1, sizeof(int32_t));
        if (!c.stamp) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    for (int r = 0; r < N; r++) idx[r] = r;
    if (N > 0 && !ok_part(&c, idx, N)) { // the whole table is one class at most
        if (N <= cfg->max_suppress) {
            for (int r = 0; r < N; r++) c.suppressed[r] = true;
        } else if (N < cfg->k) {
            st = dc_fail(err, DC_ERR_ARG, "%s: %d rows cannot be %d-anonymous (allow --max-suppress %d to drop them all)",
                         in->origin, N, cfg->k, N);
            goto done;
        } else {
            st = dc_fail(err, DC_ERR_ARG, "%s: the %d rows hold only %d distinct values of %s, fewer than l = %d",
                         in->origin, N, distinct_sens(&c, idx, N), cfg->sensitive, cfg->l);
            goto done;
        }
    } else if (N > 0) {
        if ((st = mondrian(&c, idx, N, &classes, &n_classes, err))) goto done;
    }
    // generalised values per class, and the certainty penalty
    gen = calloc((size_t)(n_classes ? n_classes : 1) * Q, sizeof(char *));
    if (!gen) {
        st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
        goto done;
    }
    double ncp_sum = 0.0;
    for (int r = 0; r < N; r++) cls[r] = -1;
    for (int ci = 0; ci < n_classes; ci++) {
        const int m = classes[ci].hi - classes[ci].lo;
        const int32_t *pidx = idx + classes[ci].lo;
        for (int i = 0; i < m; i++) cls[pidx[i]] = ci;
        for (int j = 0; j < Q; j++) {
            extent e;
            extent_of(&c, pidx, m, j, &e);
            rep->ncp_col[j] += m * e.ncp;
            ncp_sum += m * e.ncp;
            char *g;
            if (q[j].numeric) {
                const char *a = dc_table_cell(in, e.lo_row, q[j].col), *b = dc_table_cell(in, e.hi_row, q[j].col);
                const size_t need = strlen(a) + strlen(b) + 3;
                g = malloc(need);
                if (g) {
                    if (e.lo == e.hi) snprintf(g, need, "%s", a);
                    else snprintf(g, need, "%s..%s", a, b);
                }
            } else {
                g = strdup(q[j].h->name[e.node]);
            }
            if (!g) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                goto done;
            }
            gen[(size_t)ci * Q + j] = g;
        }
    }
    int suppressed = 0;
    for (int r = 0; r < N; r++) suppressed += c.suppressed[r];
    for (int j = 0; j < Q; j++) rep->ncp_col[j] = N ? (rep->ncp_col[j] + suppressed) / N : 0.0;
    const double ncp = N ? (ncp_sum + (double)suppressed * Q) / ((double)N * Q) : 0.0;

    // the output table
    int n_out_cols = 0;
    int *cols = malloc(sizeof(int) * (size_t)(in->n_cols ? in->n_cols : 1));
    out->header = calloc((size_t)(in->n_cols ? in->n_cols : 1), sizeof(char *));
    if (!cols || !out->header) {
        free(cols);
        st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t kl = 0;
    for (int col = 0; col < in->n_cols; col++) {
        if (role[col] && !strcmp(role[col], "dropped")) continue;
        cols[n_out_cols] = col;
        if (!(out->header[n_out_cols++] = strdup(in->header[col]))) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
        if (!role[col] && kl + strlen(in->header[col]) + 3 < sizeof rep->kept)
            kl += (size_t)snprintf(rep->kept + kl, sizeof rep->kept - kl, "%s%s", kl ? ", " : "", in->header[col]);
    }
    out->n_cols = n_out_cols;
    snprintf(out->origin, sizeof out->origin, "%.480s (anonymised)", in->origin);
    int qj_of[1024];
    for (int col = 0; col < in->n_cols; col++) qj_of[col] = -1;
    for (int j = 0; j < Q; j++) qj_of[q[j].col] = j;
    tbuild tb = {.t = out};
    char pseud[33];
    for (int r = 0; r < N && !st; r++) {
        if (c.suppressed[r]) continue;
        for (int oc = 0; oc < n_out_cols && !st; oc++) {
            const int col = cols[oc];
            if (qj_of[col] >= 0) {
                tb_cell(&tb, gen[(size_t)cls[r] * Q + qj_of[col]]);
            } else if (role[col] && !strcmp(role[col], "pseudonymised")) {
                if (!(st = dc_pseudonym(pseud, dc_table_cell(in, r, col), cfg->key, cfg->key_len, err)))
                    tb_cell(&tb, pseud);
            } else {
                tb_cell(&tb, dc_table_cell(in, r, col));
            }
        }
        out->n_rows++;
    }
    free(cols);
    if (!st && tb.oom) st = dc_fail(err, DC_ERR_NOMEM, "out of memory writing %d rows", N);
    if (st) goto done;
    // the report, from the output itself
    char kept[sizeof rep->kept];
    memcpy(kept, rep->kept, sizeof kept);
    double ncp_col[DC_ANON_MAX_QUASI];
    bool numeric[DC_ANON_MAX_QUASI];
    memcpy(ncp_col, rep->ncp_col, sizeof ncp_col);
    memcpy(numeric, rep->numeric, sizeof numeric);
    if ((st = dc_anon_verify(rep, out, cfg->quasi, Q, cfg->sensitive, cfg->k, cfg->l, err))) goto done;
    memcpy(rep->kept, kept, sizeof kept);
    memcpy(rep->ncp_col, ncp_col, sizeof ncp_col);
    memcpy(rep->numeric, numeric, sizeof numeric);
    rep->n_in = N;
    rep->suppressed = suppressed;
    rep->ncp = ncp;
    if (!rep->k_ok || !rep->l_ok)
        st = dc_fail(err, DC_ERR_NUMERIC, "internal error: the output is not %d-anonymous and %d-diverse (smallest "
                     "class %d, fewest distinct %d)", cfg->k, cfg->l, rep->smallest_class, rep->min_distinct);
done:
    for (int j = 0; q && j < Q; j++) qi_free(&q[j]);
    free(q);
    if (gen)
        for (size_t i = 0; i < (size_t)n_classes * Q; i++) free(gen[i]);
    free(gen);
    free(idx);
    free(c.tmp);
    free(c.vtmp);
    free(c.suppressed);
    free(c.sens);
    free(c.stamp);
    free(cls);
    free(classes);
    dc_strmap_free(&svals);
    if (st) dc_table_free(out);
    rep->seconds = dc_now_seconds() - t0;
    return st;
}
