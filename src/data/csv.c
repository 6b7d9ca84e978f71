// csv.c — Kaggle's digit-recognizer CSV layout, read with libcsv.
//
// Contract: a header row names the columns: "label" (optional, anywhere;
// without it the set is unlabelled, for prediction) and the pixel columns
// pixel0..pixelN-1 (or pixel1..pixelN, as Kaggle's Fashion-MNIST files
// number them), in order. Every following row holds one sample: integers,
// pixels 0..255 and a label >= 0 (below the class count when one is given).
// N is a square (one gray channel, side sqrt(N)) unless opt->shape_* gives
// C,H,W with C*H*W == N; the columns are then in C,H,W order. Quoting and
// \r\n line ends are libcsv's business (RFC 4180, strict mode); a UTF-8 byte
// order mark before the header is skipped; blank lines are skipped.
//
// Refused, each with the file and line named: an empty file, a binary one
// (a NUL byte), a gzip file, a header without pixel columns or with a column
// of another name, pixel columns out of order, a header and no rows, a row
// with more or fewer fields than the header, an empty or non-integer cell, a
// pixel outside 0..255, a negative or out-of-range label, a pixel count that
// is not a square (or not C*H*W). On failure ds is zeroed.
//
// Why libcsv: it is Debian's packaged, long-lived CSV parser; fed line by
// line (so that messages can name the line) it reads a 100 MB file in well
// under a second (BENCHMARKS.md, "Data loading").
#define _POSIX_C_SOURCE 200809L
#include "data/loaders.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define CSV_CHUNK ((size_t)1 << 20)

typedef struct csv_ctx {
    const char *origin;
    const dc_data_options *opt;
    dc_error *err;
    dc_status st;          // first error; once set, callbacks do nothing
    long line;             // 1-based line being parsed
    int field;             // index of the next field in the current record
    // header
    bool header_done;
    int n_cols, cap_cols;
    char **names;          // (n_cols) header names, for messages
    int label_col;         // -1: none
    int n_pix, first_number; // pixel columns and the number of the first (0 or 1)
    // rows
    dc_grow g;
    dc_dataset *ds;
    uint8_t *row;          // the current sample's pixel slot
    int32_t label;
    int max_label, k;      // k: class count from opt->classes (0: none)
} csv_ctx;

static void csv_failf(csv_ctx *c, dc_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void csv_failf(csv_ctx *c, dc_status st, const char *fmt, ...) {
    if (c->st) return;
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = dc_fail(c->err, st, "%s: %s", c->origin, msg);
}

// A cell as a decimal integer: digits only, with a '-' allowed when `neg`.
static bool parse_int(const char *s, size_t len, bool neg, long *out) {
    size_t i = 0;
    bool minus = false;
    if (neg && len > 0 && s[0] == '-') minus = true, i = 1;
    if (i == len) return false;
    long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        if (v < 100000000) v = v * 10 + (s[i] - '0'); // saturates: only range checks follow
    }
    *out = minus ? -v : v;
    return true;
}

static const char *col_name(const csv_ctx *c, int i) { return i < c->n_cols ? c->names[i] : "?"; }

// Shown in messages: the cell, cut short and with control bytes as '?'.
static void cell_text(char *out, size_t cap, const char *s, size_t len) {
    size_t n = len < cap - 4 ? len : cap - 4, k = 0;
    for (size_t i = 0; i < n; i++) out[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n < len) out[k++] = '.', out[k++] = '.', out[k++] = '.';
    out[k] = 0;
}

static void on_field(void *data, size_t len, void *ctx) {
    csv_ctx *c = ctx;
    if (c->st) return;
    const char *s = data;
    if (!c->header_done) {
        if (c->n_cols == c->cap_cols) {
            int nc = c->cap_cols ? 2 * c->cap_cols : 1024;
            char **nn = realloc(c->names, sizeof(char *) * (size_t)nc);
            if (!nn) return csv_failf(c, DC_ERR_NOMEM, "out of memory reading the header");
            c->names = nn;
            c->cap_cols = nc;
        }
        if (c->n_cols == 0 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, len -= 3; // byte order mark
        char *name = malloc(len + 1);
        if (!name) return csv_failf(c, DC_ERR_NOMEM, "out of memory reading the header");
        memcpy(name, s, len);
        name[len] = 0;
        c->names[c->n_cols++] = name;
        return;
    }
    const int f = c->field++;
    if (f >= c->n_cols) return; // counted; refused at the end of the row
    char shown[48];
    if (len == 0) return csv_failf(c, DC_ERR_FORMAT, "line %ld, column %d (%s): empty cell", c->line, f + 1, col_name(c, f));
    long v;
    if (f == c->label_col) {
        if (!parse_int(s, len, true, &v)) {
            cell_text(shown, sizeof shown, s, len);
            return csv_failf(c, DC_ERR_FORMAT, "line %ld, column %d (label): '%s' is not an integer class label", c->line,
                             f + 1, shown);
        }
        if (v < 0) return csv_failf(c, DC_ERR_FORMAT, "line %ld: label %ld is negative: labels are class indices 0, 1, ...",
                                    c->line, v);
        if (c->k > 0 && v >= c->k)
            return csv_failf(c, DC_ERR_FORMAT, "line %ld: label %ld is outside the %d classes (0..%d) of --classes", c->line,
                             v, c->k, c->k - 1);
        if (v > DC_MAX_LABEL)
            return csv_failf(c, DC_ERR_FORMAT, "line %ld: label %ld is out of range (at most %d classes): is column %d "
                             "really the label?", c->line, v, DC_MAX_LABEL + 1, f + 1);
        c->label = (int32_t)v;
        return;
    }
    if (!parse_int(s, len, false, &v)) {
        cell_text(shown, sizeof shown, s, len);
        return csv_failf(c, DC_ERR_FORMAT, "line %ld, column %d (%s): '%s' is not an integer pixel value 0..255", c->line,
                         f + 1, col_name(c, f), shown);
    }
    if (v > 255)
        return csv_failf(c, DC_ERR_FORMAT, "line %ld, column %d (%s): pixel value %ld is outside 0..255", c->line, f + 1,
                         col_name(c, f), v);
    // pixel columns before the label keep their index, those after it shift by one
    const int p = c->label_col >= 0 && f > c->label_col ? f - 1 : f;
    c->row[p] = (uint8_t)v;
}

// The header row is complete: check the names and fix the sample shape.
static void end_header(csv_ctx *c) {
    c->header_done = true;
    c->label_col = -1;
    int pix = 0;
    for (int i = 0; i < c->n_cols; i++) {
        const char *nm = c->names[i];
        if (!strcmp(nm, "label")) {
            if (c->label_col >= 0)
                return csv_failf(c, DC_ERR_FORMAT, "line 1: two 'label' columns (%d and %d)", c->label_col + 1, i + 1);
            c->label_col = i;
            continue;
        }
        long num;
        if (strncmp(nm, "pixel", 5) || !parse_int(nm + 5, strlen(nm + 5), false, &num))
            return csv_failf(c, DC_ERR_FORMAT, "line 1, column %d is '%.60s': expected 'label' or 'pixelN' (Kaggle's "
                             "digit-recognizer header: label,pixel0,pixel1,...)", i + 1, nm);
        if (pix == 0) {
            if (num != 0 && num != 1)
                return csv_failf(c, DC_ERR_FORMAT, "line 1, column %d: the first pixel column is '%.60s': expected "
                                 "pixel0 (or pixel1)", i + 1, nm);
            c->first_number = (int)num;
        } else if (num != c->first_number + pix) {
            return csv_failf(c, DC_ERR_FORMAT, "line 1, column %d is '%.60s', expected 'pixel%d': pixel columns must be "
                             "numbered in order", i + 1, nm, c->first_number + pix);
        }
        pix++;
    }
    if (pix == 0)
        return csv_failf(c, DC_ERR_FORMAT, "line 1 (the header) has no pixel columns: expected label,pixel0,pixel1,...");
    c->n_pix = pix;
    int C, H, W;
    const dc_data_options *o = c->opt;
    if (o && o->shape_c > 0) {
        C = o->shape_c, H = o->shape_h, W = o->shape_w;
        if ((int64_t)C * H * W != pix)
            return csv_failf(c, DC_ERR_SHAPE, "the header has %d pixel columns but the input shape %dx%dx%d (C,H,W) "
                             "needs %lld", pix, C, H, W, (long long)C * H * W);
    } else {
        int side = (int)lround(sqrt((double)pix));
        if ((int64_t)side * side != pix)
            return csv_failf(c, DC_ERR_SHAPE, "the header has %d pixel columns, which is not a square (28x28 = 784): "
                             "give the shape with --input-shape C,H,W", pix);
        C = 1, H = W = side;
    }
    dc_error e2;
    if (dc_grow_init(&c->g, c->ds, C, H, W, 1024, c->origin, &e2))
        return csv_failf(c, DC_ERR_NOMEM, "out of memory");
}

static void on_record(int term, void *ctx) {
    csv_ctx *c = ctx;
    (void)term;
    if (c->st) return;
    if (!c->header_done) {
        end_header(c);
        c->field = 0;
        if (!c->st && !(c->row = dc_grow_next(&c->g, c->origin, c->err))) c->st = DC_ERR_NOMEM;
        return;
    }
    if (c->field != c->n_cols) {
        csv_failf(c, DC_ERR_FORMAT, "line %ld has %d fields, but the header has %d", c->line, c->field, c->n_cols);
        return;
    }
    dc_dataset *ds = c->ds;
    ds->labels[ds->n] = c->label_col >= 0 ? c->label : 0;
    if (c->label > c->max_label) c->max_label = c->label;
    ds->n++;
    c->field = 0;
    c->label = 0;
    if (!(c->row = dc_grow_next(&c->g, c->origin, c->err))) c->st = DC_ERR_NOMEM;
}

// Feeds bytes to the parser a line at a time, so that c->line is the line
// the parser is in when a callback runs.
static void feed(struct csv_parser *p, csv_ctx *c, const uint8_t *buf, size_t len) {
    size_t pos = 0;
    while (pos < len && !c->st) {
        const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) + 1 : len;
        if (memchr(buf + pos, 0, end - pos))
            return csv_failf(c, DC_ERR_FORMAT, "line %ld holds a NUL byte: a binary file, not a CSV", c->line);
        if (csv_parse(p, buf + pos, end - pos, on_field, on_record, c) != end - pos && !c->st)
            return csv_failf(c, DC_ERR_FORMAT, "line %ld: %s (a stray or unclosed quote?)", c->line,
                             csv_strerror(csv_error(p)));
        if (nl) c->line++;
        pos = end;
    }
}

typedef struct csv_src {
    const uint8_t *buf; // in memory, or
    FILE *fp;           // a file read in chunks
    size_t len;
} csv_src;

static dc_status csv_run(dc_dataset *ds, csv_src *src, const char *origin, const dc_data_options *opt,
                         dc_error *err) {
    memset(ds, 0, sizeof *ds);
    csv_ctx c = {.origin = origin, .opt = opt, .err = err, .line = 1, .ds = ds, .max_label = 0};
    char **class_names = NULL; // from opt->classes
    if (opt && opt->classes) {
        dc_status st = dc_classes_read(opt->classes, &c.k, &class_names, err);
        if (st) return st;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        dc_names_free(class_names, c.k);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory starting the CSV parser", origin);
    }
    uint8_t *chunk = NULL;
    size_t total = 0;
    if (src->fp) {
        if (!(chunk = malloc(CSV_CHUNK))) {
            csv_free(&p);
            return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        }
        for (;;) {
            size_t got = fread(chunk, 1, CSV_CHUNK, src->fp);
            if (total == 0 && got >= 2 && chunk[0] == 0x1f && chunk[1] == 0x8b) {
                csv_failf(&c, DC_ERR_FORMAT, "is gzip-compressed: decompress it first (gunzip)");
                break;
            }
            total += got;
            feed(&p, &c, chunk, got);
            if (c.st || got < CSV_CHUNK) break;
        }
        if (!c.st && ferror(src->fp)) csv_failf(&c, DC_ERR_IO, "read error: %s", strerror(errno));
    } else {
        total = src->len;
        if (total >= 2 && src->buf[0] == 0x1f && src->buf[1] == 0x8b)
            csv_failf(&c, DC_ERR_FORMAT, "is gzip-compressed: decompress it first (gunzip)");
        else feed(&p, &c, src->buf, src->len);
    }
    free(chunk);
    if (!c.st && total == 0) csv_failf(&c, DC_ERR_FORMAT, "is empty (0 bytes): expected a CSV with a header row "
                                       "(label,pixel0,pixel1,...)");
    if (!c.st && csv_fini(&p, on_field, on_record, &c) != 0)
        csv_failf(&c, DC_ERR_FORMAT, "the file ends inside a quoted field: an unclosed quote (libcsv: %s)",
                  csv_strerror(csv_error(&p)));
    csv_free(&p);
    if (!c.st && !c.header_done) csv_failf(&c, DC_ERR_FORMAT, "has no header row");
    if (!c.st && ds->n == 0) csv_failf(&c, DC_ERR_FORMAT, "has a header but no rows of data");
    for (int i = 0; i < c.n_cols; i++) free(c.names[i]);
    free(c.names);
    if (!c.st) {
        ds->unlabelled = c.label_col < 0;
        snprintf(ds->source, sizeof ds->source, "%s", origin);
        if (c.k > 0) c.st = dc_dataset_apply_classes(ds, c.k, class_names, origin, err);
        else dc_dataset_count_classes(ds);
    }
    dc_names_free(class_names, c.k);
    if (c.st) dc_dataset_free(ds);
    return c.st;
}

dc_status dc_csv_parse(dc_dataset *ds, const uint8_t *buf, size_t len, const char *origin,
                       const dc_data_options *opt, dc_error *err) {
    csv_src src = {.buf = buf, .len = len};
    return csv_run(ds, &src, origin, opt, err);
}

dc_status dc_csv_load(dc_dataset *ds, const char *path, const dc_data_options *opt, dc_error *err) {
    memset(ds, 0, sizeof *ds);
    struct stat sb;
    if (stat(path, &sb) != 0) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return dc_fail(err, DC_ERR_IO, "%s: is a folder, expected a CSV file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    csv_src src = {.fp = fp};
    dc_status st = csv_run(ds, &src, path, opt, err);
    fclose(fp);
    return st;
}
