// audit.c — fairness audit of a classifier: groups of samples (from a CSV
// file or a built-in rule), one-vs-rest rates per group and class,
// demographic parity and equalized odds across groups, and reweighing
// weights for mitigation.
//
// Contract. Groups CSV: one "index,group" line per sample, parsed strictly —
// every problem (no comma, empty or non-numeric index, index out of range,
// duplicate index, empty group, missing samples, empty file) is an error that
// names "file:line" and what was expected. Fairness figures follow Fairlearn's
// demographic_parity_difference/_ratio and equalized_odds_difference
// (method "between_groups", agg "worst_case") for each class taken one-vs-rest,
// and report the worst class. One deliberate difference: a rate whose
// denominator is empty in a group (TPR of a class the group has no sample
// of; FPR when every sample of the group is of that class) is undefined and
// left out of the max-min, where scikit-learn's confusion matrix would turn
// it into 0 and invent a disparity out of a missing sample; a TPR or FPR
// difference needs the rate in at least two groups, so with fewer it is
// undefined too (not 0: nothing was compared), and the equalized-odds
// difference then rests on the other rate alone, which eo_basis_c records.
// All figures come
// from integer counts in double precision, so they are exact functions of the
// predictions.
//
// Legend: N samples, G groups, C classes.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"

#define MAX_GROUP_LABEL 255

// ---------------------------------------------------------------------------
// Groups

void dc_groups_free(dc_groups *g) {
    if (g->names)
        for (int i = 0; i < g->n_groups; i++) free(g->names[i]);
    free(g->names);
    free(g->group);
    memset(g, 0, sizeof *g);
}

typedef struct name_ref {
    const char *name;
    int id; // provisional id
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

dc_status dc_groups_from_ids(dc_groups *g, const int32_t *ids, int N, const char *const *names,
                             int n_names, const char *origin, dc_error *err) {
    // ids is (N) in [0, n_names), names is (n_names)
    memset(g, 0, sizeof *g);
    snprintf(g->origin, sizeof g->origin, "%s", origin);
    char *used = calloc((size_t)n_names + 1, 1);
    name_ref *refs = malloc(sizeof(name_ref) * ((size_t)n_names + 1));
    int32_t *remap = malloc(sizeof(int32_t) * ((size_t)n_names + 1));
    g->group = malloc(sizeof(int32_t) * ((size_t)N + 1));
    dc_status st = DC_OK;
    if (!used || !refs || !remap || !g->group) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %d samples", origin, N);
        goto out;
    }
    for (int i = 0; i < N; i++) {
        DC_ASSERT(ids[i] >= 0 && ids[i] < n_names);
        used[ids[i]] = 1;
    }
    int G = 0;
    for (int k = 0; k < n_names; k++)
        if (used[k]) refs[G++] = (name_ref){.name = names[k], .id = k};
    qsort(refs, (size_t)G, sizeof *refs, cmp_name_ref);
    if (!(g->names = calloc((size_t)G + 1, sizeof(char *)))) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %d groups", origin, G);
        goto out;
    }
    for (int j = 0; j < G; j++) {
        remap[refs[j].id] = j;
        size_t len = strlen(refs[j].name);
        if (!(g->names[j] = malloc(len + 1))) {
            g->n_groups = j;
            st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for group labels", origin);
            goto out;
        }
        memcpy(g->names[j], refs[j].name, len + 1);
    }
    g->n_groups = G;
    g->n = N;
    for (int i = 0; i < N; i++) g->group[i] = remap[ids[i]];
out:
    free(used);
    free(refs);
    free(remap);
    if (st) dc_groups_free(g);
    return st;
}

// A small open-addressing table from label to provisional id, so that a file
// with many distinct groups still parses in linear time.
typedef struct label_table {
    char **names;    // (n) labels by provisional id, owned
    int n, cap_names;
    int32_t *slots;  // (cap) provisional id + 1, 0 = empty
    size_t cap;      // power of two
} label_table;

static uint64_t fnv1a(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static void table_free(label_table *t) {
    for (int i = 0; i < t->n; i++) free(t->names[i]);
    free(t->names);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static bool table_grow(label_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    int32_t *slots = calloc(cap, sizeof(int32_t));
    if (!slots) return false;
    for (int id = 0; id < t->n; id++) {
        size_t i = fnv1a(t->names[id], strlen(t->names[id])) & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

// The id of label s[0..len), adding it if new; -1 when out of memory.
static int table_id(label_table *t, const char *s, size_t len) {
    if ((size_t)(t->n + 1) * 2 > t->cap && !table_grow(t)) return -1;
    size_t i = fnv1a(s, len) & (t->cap - 1);
    for (; t->slots[i]; i = (i + 1) & (t->cap - 1)) {
        const char *q = t->names[t->slots[i] - 1];
        if (strlen(q) == len && !memcmp(q, s, len)) return t->slots[i] - 1;
    }
    if (t->n == t->cap_names) {
        int cap = t->cap_names ? t->cap_names * 2 : 16;
        char **names = realloc(t->names, sizeof(char *) * (size_t)cap);
        if (!names) return -1;
        t->names = names;
        t->cap_names = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    t->names[t->n] = copy;
    t->slots[i] = t->n + 1;
    return t->n++;
}

// Trims spaces and tabs from both ends of [*s, *s + *len).
static void trim(const char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t')) (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

static bool field_is(const char *s, size_t len, const char *word) {
    return strlen(word) == len && !memcmp(s, word, len);
}

// Copies at most 40 characters of s for a message, marking a cut with "...".
static const char *shown(char *buf, size_t cap, const char *s, size_t len) {
    if (len > 40) snprintf(buf, cap, "%.40s...", s);
    else snprintf(buf, cap, "%.*s", (int)len, s);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return buf;
}

dc_status dc_groups_parse_csv(dc_groups *g, const char *text, size_t len, const char *origin, int n,
                              dc_error *err) {
    memset(g, 0, sizeof *g);
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "%s: the data set has %d samples: nothing to group", origin, n);
    size_t pos = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) pos = 3; // a UTF-8 byte-order mark (spreadsheets)
    {
        size_t k = pos;
        while (k < len && isspace((unsigned char)text[k])) k++;
        if (k == len)
            return dc_fail(err, DC_ERR_FORMAT,
                           "%s: empty file: expected one line \"index,group\" for each of the %d samples",
                           origin, n);
    }
    int *line_of = calloc((size_t)n, sizeof(int)); // line that gave each index, 0: none yet
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    label_table tab;
    memset(&tab, 0, sizeof tab);
    dc_status st = DC_OK;
    char show[64];
    if (!line_of || !ids) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %d samples", origin, n);
        goto out;
    }
    int lineno = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll && line[ll - 1] == '\r') ll--;
        if (memchr(line, 0, ll)) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: a NUL byte: expected a text file of \"index,group\" lines",
                         origin, lineno);
            goto out;
        }
        const char *s = line;
        size_t sl = ll;
        trim(&s, &sl);
        if (!sl) {
            // blank lines are tolerated only at the end of the file
            size_t k = pos;
            while (k < len && isspace((unsigned char)text[k])) k++;
            if (k == len) break;
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: empty line: expected \"index,group\"", origin, lineno);
            goto out;
        }
        const char *comma = memchr(s, ',', sl);
        if (!comma) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: expected \"index,group\", found \"%s\" (no comma)", origin,
                         lineno, shown(show, sizeof show, s, sl));
            goto out;
        }
        const char *f1 = s, *f2 = comma + 1;
        size_t l1 = (size_t)(comma - s), l2 = sl - l1 - 1;
        trim(&f1, &l1);
        trim(&f2, &l2);
        if (lineno == 1 && field_is(f1, l1, "index") && field_is(f2, l2, "group")) continue; // header
        if (!l1) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: empty index: expected \"index,group\" with index 0..%d",
                         origin, lineno, n - 1);
            goto out;
        }
        bool neg = f1[0] == '-', digits = l1 > (size_t)neg;
        long long v = 0;
        for (size_t i = neg; i < l1 && digits; i++) {
            if (!isdigit((unsigned char)f1[i])) digits = false;
            else if (v <= n) v = v * 10 + (f1[i] - '0'); // stop growing once out of range
        }
        if (!digits) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s:%d: index \"%s\" is not a number: expected a sample index 0..%d%s", origin,
                         lineno, shown(show, sizeof show, f1, l1), n - 1,
                         lineno == 1 ? " (a header line must read \"index,group\")" : "");
            goto out;
        }
        if (neg) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: negative index %s: expected a sample index 0..%d", origin,
                         lineno, shown(show, sizeof show, f1, l1), n - 1);
            goto out;
        }
        if (v >= n) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s:%d: index %s is unknown: the data set has %d samples (0..%d); does the file "
                         "belong to another split or --limit?",
                         origin, lineno, shown(show, sizeof show, f1, l1), n, n - 1);
            goto out;
        }
        if (line_of[v]) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: duplicate index %lld: already given on line %d", origin,
                         lineno, v, line_of[v]);
            goto out;
        }
        if (!l2) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: empty group for index %lld: expected \"index,group\"",
                         origin, lineno, v);
            goto out;
        }
        if (l2 > MAX_GROUP_LABEL) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: group label of %zu characters: at most %d allowed", origin,
                         lineno, l2, MAX_GROUP_LABEL);
            goto out;
        }
        int id = table_id(&tab, f2, l2);
        if (id < 0) {
            st = dc_fail(err, DC_ERR_NOMEM, "%s:%d: out of memory for group labels", origin, lineno);
            goto out;
        }
        ids[v] = id;
        line_of[v] = lineno;
    }
    {
        int first = -1, missing = 0;
        for (int i = 0; i < n; i++)
            if (!line_of[i]) {
                if (first < 0) first = i;
                missing++;
            }
        if (missing) {
            char more[48] = "";
            if (missing > 1) snprintf(more, sizeof more, " (and %d more)", missing - 1);
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s:%d: end of file, but no group for sample %d%s: expected one line "
                         "\"index,group\" for each index 0..%d",
                         origin, lineno, first, more, n - 1);
            goto out;
        }
    }
    st = dc_groups_from_ids(g, ids, n, (const char *const *)tab.names, tab.n, origin, err);
out:
    free(line_of);
    free(ids);
    table_free(&tab);
    return st;
}

dc_status dc_groups_read_csv(dc_groups *g, const char *path, int n, dc_error *err) {
    memset(g, 0, sizeof *g);
    uint8_t *data;
    size_t len;
    // 64 bytes a line is generous; 1 GiB bounds a mistaken path to a huge file
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 30, err);
    if (st) return st;
    st = dc_groups_parse_csv(g, (const char *)data, len, path, n, err);
    free(data);
    return st;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

dc_status dc_groups_builtin(dc_groups *g, const char *name, const dc_dataset *ds, dc_error *err) {
    memset(g, 0, sizeof *g);
    const int n = ds->n;
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "%s: no samples to group", ds->source);
    char origin[64];
    snprintf(origin, sizeof origin, "builtin:%.40s", name);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!ids) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    dc_status st = DC_OK;
    if (!strcmp(name, "brightness")) {
        // Pixel sums stand in for means (same order, exact integers). Twice
        // the median is compared with twice each sum so that an even count
        // (median = mean of the two middle sums) needs no division.
        static const char *const names[2] = {"bright", "dark"};
        const size_t plane = (size_t)ds->c * ds->h * ds->w;
        uint64_t *sum = malloc(sizeof(uint64_t) * (size_t)n), *sorted = malloc(sizeof(uint64_t) * (size_t)n);
        if (!sum || !sorted) {
            free(sum);
            free(sorted);
            free(ids);
            return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        }
        for (int i = 0; i < n; i++) {
            const uint8_t *px = ds->pixels + plane * (size_t)i;
            uint64_t s = 0;
            for (size_t k = 0; k < plane; k++) s += px[k];
            sum[i] = sorted[i] = s;
        }
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_u64);
        const uint64_t median2 = sorted[(n - 1) / 2] + sorted[n / 2];
        for (int i = 0; i < n; i++) ids[i] = 2 * sum[i] > median2 ? 0 : 1;
        free(sum);
        free(sorted);
        st = dc_groups_from_ids(g, ids, n, names, 2, origin, err);
    } else if (!strcmp(name, "parity")) {
        static const char *const names[2] = {"even", "odd"};
        for (int i = 0; i < n; i++) ids[i] = i & 1;
        st = dc_groups_from_ids(g, ids, n, names, 2, origin, err);
    } else {
        st = dc_fail(err, DC_ERR_ARG, "%s: unknown built-in grouping \"%s\": expected builtin:brightness or "
                     "builtin:parity", origin, name);
    }
    free(ids);
    return st;
}

dc_status dc_groups_open(dc_groups *g, const char *spec, const dc_dataset *ds, dc_error *err) {
    if (!strncmp(spec, "builtin:", 8)) return dc_groups_builtin(g, spec + 8, ds, err);
    return dc_groups_read_csv(g, spec, ds->n, err);
}

// ---------------------------------------------------------------------------
// Reweighing

dc_status dc_reweigh_weights(float *w, const dc_groups *g, const int32_t *labels, int n_classes,
                             dc_error *err) {
    // w and labels are (N); counts n_g (G), n_y (C), n_gy (G,C)
    const int N = g->n, G = g->n_groups, C = n_classes;
    if (N < 1 || G < 1 || C < 1)
        return dc_fail(err, DC_ERR_ARG, "%s: reweighing needs samples, groups and classes (got %d, %d, %d)",
                       g->origin, N, G, C);
    int64_t *ng = calloc((size_t)G, sizeof(int64_t)), *ny = calloc((size_t)C, sizeof(int64_t));
    int64_t *ngy = calloc((size_t)G * C, sizeof(int64_t));
    dc_status st = DC_OK;
    if (!ng || !ny || !ngy) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for reweighing", g->origin);
        goto out;
    }
    for (int i = 0; i < N; i++) {
        if (labels[i] < 0 || labels[i] >= C) {
            st = dc_fail(err, DC_ERR_ARG, "%s: label %d of sample %d is outside 0..%d", g->origin,
                         (int)labels[i], i, C - 1);
            goto out;
        }
        ng[g->group[i]]++;
        ny[labels[i]]++;
        ngy[(size_t)g->group[i] * C + labels[i]]++;
    }
    // P(g)P(y)/P(g,y) = (n_g/N)(n_y/N)/(n_gy/N) = n_g n_y / (N n_gy); n_gy >= 1
    // for every sample's own cell
    for (int i = 0; i < N; i++) {
        const int gi = g->group[i], y = labels[i];
        w[i] = (float)((double)ng[gi] * (double)ny[y] / ((double)N * (double)ngy[(size_t)gi * C + y]));
    }
out:
    free(ng);
    free(ny);
    free(ngy);
    return st;
}

// ---------------------------------------------------------------------------
// Fairness figures

dc_fairness_thresholds dc_fairness_thresholds_default(void) {
    return (dc_fairness_thresholds){.dp_difference = 0.1, .eo_difference = 0.1, .dp_ratio = 0.8};
}

void dc_fairness_free(dc_fairness *f) {
    free(f->group_n);
    free(f->group_accuracy);
    free(f->positives);
    free(f->selection_rate);
    free(f->tpr);
    free(f->fpr);
    free(f->dp_difference_c);
    free(f->dp_ratio_c);
    free(f->tpr_difference_c);
    free(f->fpr_difference_c);
    free(f->eo_difference_c);
    free(f->eo_basis_c);
    free(f->flags_c);
    memset(f, 0, sizeof *f);
}

// max - min of column c of v (G,C) over the rows where it is defined (not
// NaN), NaN when fewer than min_rows are. *lo/*hi get min and max.
static double spread(const double *v, int G, int C, int c, int min_rows, double *lo, double *hi) {
    double mn = NAN, mx = NAN;
    int rows = 0;
    for (int g = 0; g < G; g++) {
        const double x = v[(size_t)g * C + c];
        if (isnan(x)) continue;
        rows++;
        if (isnan(mn) || x < mn) mn = x;
        if (isnan(mx) || x > mx) mx = x;
    }
    if (lo) *lo = mn;
    if (hi) *hi = mx;
    return rows >= min_rows ? mx - mn : NAN;
}

static double ratio_or(double a, double b, double when_zero) { return b > 0 ? a / b : when_zero; }

dc_status dc_fairness_compute(dc_fairness *f, const int32_t *pred, const int32_t *labels, const dc_groups *g,
                              int n_classes, const dc_fairness_thresholds *thr, dc_error *err) {
    // pred, labels (N); per group (G), per group and class (G,C), per class (C)
    memset(f, 0, sizeof *f);
    const int N = g->n, G = g->n_groups, C = n_classes;
    if (N < 1 || G < 1 || C < 1)
        return dc_fail(err, DC_ERR_ARG, "%s: the audit needs samples, groups and classes (got %d, %d, %d)",
                       g->origin, N, G, C);
    for (int i = 0; i < N; i++) {
        if (labels[i] < 0 || labels[i] >= C || pred[i] < 0 || pred[i] >= C)
            return dc_fail(err, DC_ERR_ARG, "%s: sample %d has label %d and prediction %d: expected 0..%d",
                           g->origin, i, (int)labels[i], (int)pred[i], C - 1);
        if (g->group[i] < 0 || g->group[i] >= G)
            return dc_fail(err, DC_ERR_ARG, "%s: sample %d is in group %d of %d", g->origin, i,
                           (int)g->group[i], G);
    }
    f->n = N;
    f->n_groups = G;
    f->n_classes = C;
    f->thr = thr ? *thr : dc_fairness_thresholds_default();
    const size_t GC = (size_t)G * C;
    f->group_n = calloc((size_t)G, sizeof(int64_t));
    f->group_accuracy = calloc((size_t)G, sizeof(double));
    f->positives = calloc(GC, sizeof(int64_t));
    f->selection_rate = calloc(GC, sizeof(double));
    f->tpr = calloc(GC, sizeof(double));
    f->fpr = calloc(GC, sizeof(double));
    f->dp_difference_c = calloc((size_t)C, sizeof(double));
    f->dp_ratio_c = calloc((size_t)C, sizeof(double));
    f->tpr_difference_c = calloc((size_t)C, sizeof(double));
    f->fpr_difference_c = calloc((size_t)C, sizeof(double));
    f->eo_difference_c = calloc((size_t)C, sizeof(double));
    f->eo_basis_c = calloc((size_t)C, 1);
    f->flags_c = calloc((size_t)C, sizeof(unsigned));
    int64_t *selected = calloc(GC, sizeof(int64_t)), *tp = calloc(GC, sizeof(int64_t));
    int64_t *correct = calloc((size_t)G, sizeof(int64_t));
    if (!f->group_n || !f->group_accuracy || !f->positives || !f->selection_rate || !f->tpr || !f->fpr ||
        !f->dp_difference_c || !f->dp_ratio_c || !f->tpr_difference_c || !f->fpr_difference_c ||
        !f->eo_difference_c || !f->eo_basis_c || !f->flags_c || !selected || !tp || !correct) {
        free(selected);
        free(tp);
        free(correct);
        dc_fairness_free(f);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %d groups x %d classes", g->origin, G, C);
    }

    int64_t all_correct = 0;
    for (int i = 0; i < N; i++) {
        const int gi = g->group[i], y = labels[i], p = pred[i];
        f->group_n[gi]++;
        correct[gi] += p == y;
        all_correct += p == y;
        f->positives[(size_t)gi * C + y]++;
        selected[(size_t)gi * C + p]++;
        tp[(size_t)gi * C + y] += p == y;
    }
    f->accuracy = (double)all_correct / N;
    for (int gi = 0; gi < G; gi++) {
        const double n = (double)f->group_n[gi];
        // an empty group (possible only in a hand-built dc_groups) has no rates
        f->group_accuracy[gi] = n > 0 ? (double)correct[gi] / n : NAN;
        for (int c = 0; c < C; c++) {
            const size_t k = (size_t)gi * C + c;
            const double pos = (double)f->positives[k], neg = n - pos;
            f->selection_rate[k] = n > 0 ? (double)selected[k] / n : NAN;
            f->tpr[k] = pos > 0 ? (double)tp[k] / pos : NAN;
            f->fpr[k] = neg > 0 ? (double)(selected[k] - tp[k]) / neg : NAN;
        }
    }
    free(selected);
    free(tp);
    free(correct);

    f->dp_difference = 0;
    f->dp_ratio = 1;
    f->eo_difference = NAN;
    f->eo_difference_class = -1;
    for (int c = 0; c < C; c++) {
        double lo, hi;
        f->dp_difference_c[c] = spread(f->selection_rate, G, C, c, 1, &lo, &hi);
        // no group ever predicts c: every rate is 0, which is parity
        f->dp_ratio_c[c] = ratio_or(lo, hi, 1.0);
        // a rate compared across fewer than two groups measures nothing
        f->tpr_difference_c[c] = spread(f->tpr, G, C, c, 2, NULL, NULL);
        f->fpr_difference_c[c] = spread(f->fpr, G, C, c, 2, NULL, NULL);
        const double a = f->tpr_difference_c[c], b = f->fpr_difference_c[c];
        f->eo_difference_c[c] = isnan(a) ? b : isnan(b) ? a : (a > b ? a : b);
        f->eo_basis_c[c] = (unsigned char)((isnan(a) ? 0 : DC_FAIR_EO_TPR) | (isnan(b) ? 0 : DC_FAIR_EO_FPR));
        if (f->dp_difference_c[c] > f->thr.dp_difference) f->flags_c[c] |= DC_FAIR_FLAG_DP_DIFF;
        if (f->dp_ratio_c[c] < f->thr.dp_ratio) f->flags_c[c] |= DC_FAIR_FLAG_DP_RATIO;
        if (f->eo_difference_c[c] > f->thr.eo_difference) f->flags_c[c] |= DC_FAIR_FLAG_EO_DIFF;
        if (c == 0 || f->dp_difference_c[c] > f->dp_difference) {
            f->dp_difference = f->dp_difference_c[c];
            f->dp_difference_class = c;
        }
        if (c == 0 || f->dp_ratio_c[c] < f->dp_ratio) {
            f->dp_ratio = f->dp_ratio_c[c];
            f->dp_ratio_class = c;
        }
        if (!isnan(f->eo_difference_c[c]) && (isnan(f->eo_difference) || f->eo_difference_c[c] > f->eo_difference)) {
            f->eo_difference = f->eo_difference_c[c];
            f->eo_difference_class = c;
            f->eo_basis = f->eo_basis_c[c];
        }
    }
    if (f->dp_difference > f->thr.dp_difference) f->flags |= DC_FAIR_FLAG_DP_DIFF;
    if (f->dp_ratio < f->thr.dp_ratio) f->flags |= DC_FAIR_FLAG_DP_RATIO;
    if (f->eo_difference > f->thr.eo_difference) f->flags |= DC_FAIR_FLAG_EO_DIFF;

    f->worst_group = -1;
    double best = NAN;
    for (int gi = 0; gi < G; gi++) {
        const double a = f->group_accuracy[gi];
        if (isnan(a)) continue;
        if (f->worst_group < 0 || a < f->worst_group_accuracy) {
            f->worst_group = gi;
            f->worst_group_accuracy = a;
        }
        if (isnan(best) || a > best) best = a;
    }
    f->accuracy_difference = best - f->worst_group_accuracy;
    return DC_OK;
}
