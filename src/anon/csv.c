// csv.c — tables from and to CSV through libcsv (contract in anon.h).
//
// libcsv is a streaming parser with callbacks per field and per row. To name
// lines in errors the text is fed one line at a time: the line being fed
// when a callback fires (or when libcsv reports an error) is the line
// number; a row remembers the line its first field was on, since a quoted
// field may span lines (it is the line being fed when the parser was last
// between rows, read from libcsv's public parser state).
#define _POSIX_C_SOURCE 200809L
#include <csv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "anon/anon.h"
#include "anon/strmap.h"
#include "core/core.h"

void dc_table_free(dc_table *t) {
    if (!t) return;
    if (t->header)
        for (int c = 0; c < t->n_cols; c++) free(t->header[c]);
    free(t->header);
    free(t->off);
    free(t->arena);
    free(t->line);
    memset(t, 0, sizeof *t);
}

int dc_table_column(const dc_table *t, const char *name) {
    for (int c = 0; c < t->n_cols; c++)
        if (!strcmp(t->header[c], name)) return c;
    return -1;
}

// ---------------------------------------------------------------------------
// Parsing

typedef struct pstate {
    dc_table *t;
    const char *origin;
    dc_error *err;
    dc_status st;
    int line;           // line being fed (1-based)
    int row_line;       // line the current row started on
    int next_row_line;  // line the next row will start on (the parser was between rows when it was fed)
    bool in_row;
    size_t *row;        // offsets of the current row's fields
    int nf, row_cap;
    size_t rows_cap;    // rows t->off and t->line have room for
    bool have_header;
} pstate;

static void pfail(pstate *s, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pfail(pstate *s, int line, const char *fmt, ...) {
    if (s->st) return;
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->st = dc_fail(s->err, DC_ERR_FORMAT, "%s:%d: %s", s->origin, line, msg);
}

static void on_field(void *f, size_t len, void *user) {
    pstate *s = user;
    if (s->st) return;
    if (!s->in_row) {
        s->in_row = true;
        s->row_line = s->next_row_line;
        s->nf = 0;
    }
    if (len && memchr(f, 0, len)) {
        pfail(s, s->line, "a NUL byte in field %d (is this a text CSV file?)", s->nf + 1);
        return;
    }
    dc_table *t = s->t;
    if (t->arena_len + len + 1 > t->arena_cap) {
        size_t nc = (t->arena_cap + len + 1) * 2;
        char *na = realloc(t->arena, nc);
        if (!na) {
            s->st = dc_fail(s->err, DC_ERR_NOMEM, "%s: out of memory reading the table", s->origin);
            return;
        }
        t->arena = na;
        t->arena_cap = nc;
    }
    if (s->nf == s->row_cap) {
        int nc = s->row_cap ? s->row_cap * 2 : 16;
        size_t *nr = realloc(s->row, sizeof(size_t) * (size_t)nc);
        if (!nr) {
            s->st = dc_fail(s->err, DC_ERR_NOMEM, "%s: out of memory reading the table", s->origin);
            return;
        }
        s->row = nr;
        s->row_cap = nc;
    }
    if (len) memcpy(t->arena + t->arena_len, f, len);
    t->arena[t->arena_len + len] = 0;
    s->row[s->nf++] = t->arena_len;
    t->arena_len += len + 1;
}

static void on_row(int c, void *user) {
    (void)c;
    pstate *s = user;
    if (s->st || !s->in_row) return;
    s->in_row = false;
    dc_table *t = s->t;
    if (!s->have_header) {
        t->header = calloc((size_t)s->nf, sizeof(char *));
        if (!t->header) {
            s->st = dc_fail(s->err, DC_ERR_NOMEM, "%s: out of memory", s->origin);
            return;
        }
        t->n_cols = s->nf;
        dc_strmap seen;
        dc_strmap_init(&seen);
        for (int q = 0; q < s->nf && !s->st; q++) {
            const char *name = t->arena + s->row[q];
            t->header[q] = strdup(name);
            bool dup = false;
            if (!t->header[q] || !dc_strmap_put(&seen, name, strlen(name), q, NULL, &dup))
                s->st = dc_fail(s->err, DC_ERR_NOMEM, "%s: out of memory", s->origin);
            else if (!*name) pfail(s, s->row_line, "column %d of the header has no name", q + 1);
            else if (dup) pfail(s, s->row_line, "column name '%s' appears twice in the header", name);
        }
        dc_strmap_free(&seen);
        t->arena_len = 0; // the names are copied; the cells start afresh
        s->have_header = true;
        return;
    }
    if (s->nf != t->n_cols) {
        pfail(s, s->row_line, "%d field%s, but the header has %d columns", s->nf, s->nf == 1 ? "" : "s", t->n_cols);
        return;
    }
    if ((size_t)t->n_rows == s->rows_cap) {
        size_t nc = s->rows_cap ? s->rows_cap * 2 : 256;
        size_t *no = realloc(t->off, sizeof(size_t) * nc * (size_t)t->n_cols);
        if (no) t->off = no;
        int *nl = no ? realloc(t->line, sizeof(int) * nc) : NULL;
        if (nl) t->line = nl;
        if (!no || !nl) {
            s->st = dc_fail(s->err, DC_ERR_NOMEM, "%s: out of memory for %d rows", s->origin, t->n_rows);
            return;
        }
        s->rows_cap = nc;
    }
    memcpy(t->off + (size_t)t->n_rows * t->n_cols, s->row, sizeof(size_t) * (size_t)t->n_cols);
    t->line[t->n_rows++] = s->row_line;
}

dc_status dc_table_parse_csv(dc_table *t, const char *text, size_t len, const char *origin, dc_error *err) {
    memset(t, 0, sizeof *t);
    snprintf(t->origin, sizeof t->origin, "%s", origin);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL))
        return dc_fail(err, DC_ERR_NOMEM, "%s: cannot start the CSV parser", origin);
    pstate s = {.t = t, .origin = origin, .err = err, .line = 1};
    size_t pos = 0;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) pos = 3; // a UTF-8 byte-order mark
    while (pos < len && !s.st) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        const size_t n = nl ? (size_t)(nl - (text + pos)) + 1 : len - pos;
        // between rows (libcsv's state 0, ROW_NOT_BEGUN): a row starting now starts on this line; a
        // quoted field spanning lines only reaches on_field on the line it ends on
        if (!s.in_row && p.pstate == 0) s.next_row_line = s.line;
        if (csv_parse(&p, text + pos, n, on_field, on_row, &s) != n && !s.st) {
            const int e = csv_error(&p);
            if (e == CSV_EPARSE)
                pfail(&s, s.line, "malformed quoting (a quote inside an unquoted field, or text after a closing quote)");
            else
                s.st = dc_fail(err, DC_ERR_NOMEM, "%s:%d: %s", origin, s.line, csv_strerror(e));
        }
        pos += n;
        if (nl) s.line++;
    }
    if (!s.st && csv_fini(&p, on_field, on_row, &s) != 0 && !s.st)
        pfail(&s, s.in_row ? s.row_line : s.line, "a quoted field is not closed before the end of the file");
    csv_free(&p);
    free(s.row);
    if (!s.st && !s.have_header) s.st = dc_fail(err, DC_ERR_FORMAT, "%s:1: empty: expected a header row", origin);
    if (s.st) {
        dc_table_free(t);
        return s.st;
    }
    return DC_OK;
}

dc_status dc_table_read_csv(dc_table *t, const char *path, dc_error *err) {
    memset(t, 0, sizeof *t);
    uint8_t *data;
    size_t len;
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 32, err);
    if (st) return st;
    st = dc_table_parse_csv(t, (const char *)data, len, path, err);
    free(data);
    return st;
}

// ---------------------------------------------------------------------------
// Writing

typedef struct obuf {
    char *s;
    size_t len, cap;
    bool oom;
} obuf;

static void put(obuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->cap + n + 1) * 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void put_field(obuf *b, const char *f) {
    const size_t n = strlen(f);
    // quoted: separators, quotes, line breaks, spaces that libcsv would trim, and a leading
    // byte-order mark (which the reader drops at the start of a file)
    const bool quote = strpbrk(f, ",\"\r\n") ||
                       (n && (f[0] == ' ' || f[0] == '\t' || f[n - 1] == ' ' || f[n - 1] == '\t')) ||
                       !strncmp(f, "\xef\xbb\xbf", 3);
    if (!quote) {
        put(b, f, n);
        return;
    }
    const size_t need = csv_write(NULL, 0, f, n); // libcsv: quotes and doubles the quotes
    char *q = malloc(need);
    if (!q) {
        b->oom = true;
        return;
    }
    csv_write(q, need, f, n);
    put(b, q, need);
    free(q);
}

dc_status dc_table_to_csv(const dc_table *t, char **out, size_t *len, dc_error *err) {
    obuf b = {0};
    for (int c = 0; c < t->n_cols; c++) {
        if (c) put(&b, ",", 1);
        put_field(&b, t->header[c]);
    }
    put(&b, "\n", 1);
    for (int r = 0; r < t->n_rows; r++) {
        if (t->n_cols == 1 && !*dc_table_cell(t, r, 0)) { // an empty line would be skipped on reading
            put(&b, "\"\"\n", 3);
            continue;
        }
        for (int c = 0; c < t->n_cols; c++) {
            if (c) put(&b, ",", 1);
            put_field(&b, dc_table_cell(t, r, c));
        }
        put(&b, "\n", 1);
    }
    if (b.oom) { // put() ignores what comes after a failed allocation
        free(b.s);
        return dc_fail(err, DC_ERR_NOMEM, "out of memory writing %d rows", t->n_rows);
    }
    *out = b.s;
    *len = b.len;
    return DC_OK;
}

dc_status dc_table_write_csv(const dc_table *t, const char *path, dc_error *err) {
    char *s;
    size_t n;
    dc_status st = dc_table_to_csv(t, &s, &n, err);
    if (st) return st;
    dc_buf part = {s, n};
    st = dc_write_atomic(path, &part, 1, err);
    free(s);
    return st;
}
