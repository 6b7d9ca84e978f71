// tabular.c — tabular side data for multimodal models: one CSV row of
// numbers per sample (a patient's age and lab values beside an image, say).
//
// Format: a header row of column names, then one row per sample, every
// cell a finite number. Rows are the samples in order, or, with an id
// column, each row names its sample by index (every index in [0, n) exactly
// once, in any order). Parsed with libcsv (quotes, CRLF and embedded commas
// handled by the library); every defect is an error naming file, line and
// column: ragged rows, empty or non-numeric cells, a missing or repeated id,
// a header only, more rows than samples.
#define _POSIX_C_SOURCE 200809L
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "data/data.h"

typedef struct tab_parse {
    const char *path;
    int id_col;              // column index of the id, -1 for none (found in the header)
    const char *id_name;     // the id column's name, or NULL
    int n_expected;          // samples the rows must cover
    int line, col;           // position (1-based line, 0-based column)
    int ncols;               // columns in the header
    bool in_header;
    char **names;            // (ncols) header names
    float *x;                // (n_expected, f) values
    bool *seen;              // (n_expected) ids seen
    int rows;                // data rows so far
    float *row;              // (ncols) the current row
    dc_status st;
    dc_error *err;
} tab_parse;

static int feature_cols(const tab_parse *p) { return p->ncols - (p->id_col >= 0 ? 1 : 0); }

static void on_field(void *s, size_t len, void *user) {
    tab_parse *p = user;
    if (p->st) return;
    if (p->in_header) {
        char **nn = realloc(p->names, sizeof(char *) * (size_t)(p->ncols + 1));
        if (!nn || p->ncols >= (1 << 24)) {
            p->st = dc_fail(p->err, DC_ERR_NOMEM, "%s: too many columns", p->path);
            return;
        }
        p->names = nn;
        char *name = malloc(len + 1);
        if (!name) {
            p->st = dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory", p->path);
            return;
        }
        memcpy(name, s, len);
        name[len] = 0;
        if (memchr(name, 0, len)) name[strlen(name)] = 0;
        p->names[p->ncols++] = name;
        return;
    }
    if (p->col >= p->ncols) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: more than the header's %d columns", p->path, p->line, p->ncols);
        return;
    }
    char buf[64];
    if (len == 0 || len >= sizeof buf) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: column %d (%s): %s", p->path, p->line, p->col + 1,
                        p->names[p->col], len ? "not a number (too long)" : "empty cell");
        return;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || !isfinite(v) || fabs(v) > 3.0e38 || (errno == ERANGE && fabs(v) > 1.0)) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: column %d (%s): '%s' is not a finite number", p->path, p->line,
                        p->col + 1, p->names[p->col], buf);
        return;
    }
    p->row[p->col++] = (float)v;
}

static void on_row(int c, void *user) {
    tab_parse *p = user;
    if (p->st) return;
    if (p->in_header) {
        p->in_header = false;
        for (int i = 0; i < p->ncols; i++)
            for (int j = 0; j < i; j++)
                if (!strcmp(p->names[i], p->names[j])) {
                    p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:1: column '%s' appears twice", p->path, p->names[i]);
                    return;
                }
        if (p->id_name) {
            for (int i = 0; i < p->ncols; i++)
                if (!strcmp(p->names[i], p->id_name)) p->id_col = i;
            if (p->id_col < 0) {
                p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:1: no id column '%s' in the header", p->path, p->id_name);
                return;
            }
        }
        if (feature_cols(p) < 1) {
            p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:1: no feature columns", p->path);
            return;
        }
        p->x = malloc(sizeof(float) * (size_t)p->n_expected * (size_t)feature_cols(p));
        p->row = malloc(sizeof(float) * (size_t)p->ncols);
        p->seen = calloc((size_t)p->n_expected, sizeof(bool));
        if (!p->x || !p->row || !p->seen) p->st = dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory", p->path);
        p->line++;
        p->col = 0;
        return;
    }
    if (p->col != p->ncols) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: %d columns, the header has %d", p->path, p->line, p->col, p->ncols);
        return;
    }
    int idx = p->rows;
    if (p->id_col >= 0) {
        float id = p->row[p->id_col];
        if (!(id >= 0 && id < (float)p->n_expected && id == floorf(id))) {
            p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: id %g is not a sample index in [0, %d)", p->path, p->line, id,
                            p->n_expected);
            return;
        }
        idx = (int)id;
    } else if (idx >= p->n_expected) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: more rows than the %d samples", p->path, p->line, p->n_expected);
        return;
    }
    if (p->seen[idx]) {
        p->st = dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: sample %d has a row already", p->path, p->line, idx);
        return;
    }
    p->seen[idx] = true;
    float *dst = p->x + (size_t)idx * feature_cols(p);
    for (int i = 0, k = 0; i < p->ncols; i++)
        if (i != p->id_col) dst[k++] = p->row[i];
    p->rows++;
    p->line++;
    p->col = 0;
    (void)c;
}

dc_status dc_tabular_parse_csv(dc_tabular *t, const char *text, size_t len, const char *origin,
                               const char *id_column, int n, dc_error *err) {
    memset(t, 0, sizeof *t);
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "%s: %d samples to match", origin, n);
    tab_parse p = {.path = origin, .id_col = -1, .id_name = id_column, .n_expected = n, .line = 1,
                   .in_header = true, .err = err};
    struct csv_parser cp;
    if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0)
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    if (memchr(text, 0, len)) p.st = dc_fail(err, DC_ERR_FORMAT, "%s: not a text file (NUL bytes)", origin);
    if (!p.st && csv_parse(&cp, text, len, on_field, on_row, &p) != len && !p.st)
        p.st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: malformed CSV (%s)", origin, p.line, csv_strerror(csv_error(&cp)));
    if (!p.st && csv_fini(&cp, on_field, on_row, &p) != 0 && !p.st)
        p.st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: malformed CSV (%s)", origin, p.line, csv_strerror(csv_error(&cp)));
    csv_free(&cp);
    if (!p.st && p.in_header) p.st = dc_fail(err, DC_ERR_FORMAT, "%s: empty file (expected a header row)", origin);
    if (!p.st && p.rows == 0) p.st = dc_fail(err, DC_ERR_FORMAT, "%s: a header but no rows", origin);
    if (!p.st && p.rows != n) {
        int missing = 0;
        while (missing < n && p.seen[missing]) missing++;
        p.st = dc_fail(err, DC_ERR_FORMAT, "%s: %d rows for %d samples (no row for sample %d)", origin, p.rows, n, missing);
    }
    if (!p.st) {
        t->n = n;
        t->f = feature_cols(&p);
        t->x = p.x;
        t->columns = malloc(sizeof(char *) * (size_t)t->f);
        if (!t->columns) p.st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        for (int i = 0, k = 0; !p.st && i < p.ncols; i++) {
            if (i == p.id_col) {
                free(p.names[i]);
                continue;
            }
            t->columns[k++] = p.names[i];
        }
        snprintf(t->source, sizeof t->source, "%s", origin);
        p.x = NULL;
        free(p.names);
        p.names = NULL;
    }
    if (p.st) {
        for (int i = 0; p.names && i < p.ncols; i++) free(p.names[i]);
        free(p.names);
        free(p.x);
        free(t->columns);
        memset(t, 0, sizeof *t);
    }
    free(p.row);
    free(p.seen);
    return p.st;
}

dc_status dc_tabular_read_csv(dc_tabular *t, const char *path, const char *id_column, int n, dc_error *err) {
    uint8_t *data;
    size_t len;
    memset(t, 0, sizeof *t);
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 31, err);
    if (st) return st;
    st = dc_tabular_parse_csv(t, (const char *)data, len, path, id_column, n, err);
    free(data);
    return st;
}

void dc_tabular_free(dc_tabular *t) {
    if (!t) return;
    for (int i = 0; t->columns && i < t->f; i++) free(t->columns[i]);
    free(t->columns);
    free(t->x);
    memset(t, 0, sizeof *t);
}

void dc_tabular_truncate(dc_tabular *t, int n) {
    if (n > 0 && n < t->n) t->n = n;
}

void dc_tabular_gather(float *x, const dc_tabular *t, const int32_t *idx, int n, const float *mean,
                       const float *std) {
    // x is (n, f): (value - mean) / std per column
    const int F = t->f;
    for (int i = 0; i < n; i++) {
        const float *src = t->x + (size_t)idx[i] * F;
        float *dst = x + (size_t)i * F;
        for (int k = 0; k < F; k++) dst[k] = (src[k] - mean[k]) / std[k];
    }
}

dc_status dc_tabular_split(dc_tabular *train, dc_tabular *val, double fraction, uint64_t seed, dc_error *err) {
    memset(val, 0, sizeof *val);
    // the same rounding and the same members as dc_dataset_split
    const int n = train->n, n_val = (int)floor(fraction * n + 0.5), n_tr = n - n_val, F = train->f;
    if (!(fraction > 0.0 && fraction < 1.0) || n_val < 1 || n_tr < 1)
        return dc_fail(err, DC_ERR_ARG, "%s: a validation fraction of %g of %d rows leaves %d for validation and %d for "
                       "training: both need at least one", train->source, fraction, n, n_val, n_tr);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *is_val = malloc((size_t)n);
    float *vx = malloc(sizeof(float) * (size_t)n_val * F), *tx = malloc(sizeof(float) * (size_t)n_tr * F);
    char **cols = calloc((size_t)F, sizeof(char *));
    bool ok = perm && is_val && vx && tx && cols;
    for (int k = 0; ok && k < F; k++) ok = (cols[k] = strdup(train->columns[k])) != NULL;
    if (!ok) {
        for (int k = 0; cols && k < F; k++) free(cols[k]);
        free(cols), free(perm), free(is_val), free(vx), free(tx);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory splitting %d rows", train->source, n);
    }
    dc_split_mask(is_val, perm, n, n_val, seed);
    for (int i = 0, kv = 0, kt = 0; i < n; i++) {
        float *dst = is_val[i] ? vx + (size_t)kv++ * F : tx + (size_t)kt++ * F;
        memcpy(dst, train->x + (size_t)i * F, sizeof(float) * (size_t)F);
    }
    free(perm);
    free(is_val);
    *val = (dc_tabular){.n = n_val, .f = F, .x = vx, .columns = cols};
    snprintf(val->source, sizeof val->source, "%s", train->source);
    free(train->x);
    train->x = tx;
    train->n = n_tr;
    return DC_OK;
}
