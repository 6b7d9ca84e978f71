// npy.c — NumPy .npy reader and float32 writer (format notes in npy.h).
//
// Why by hand: the format is a magic, a length and a Python dict literal with
// three keys; a dependency (libnpy, cnpy) would be bigger than this file and
// none is packaged in Debian for C.
//
// The header parser is strict about structure (every key once, no unknown
// keys, a well-formed tuple) but accepts any key order, either quote style
// and arbitrary whitespace, as numpy's own reader (ast.literal_eval) does.
#define _POSIX_C_SOURCE 200809L
#include "io/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_FILE ((size_t)1 << 31) // 2 GiB: an attribution map is KBs

static const char NPY_MAGIC[6] = {(char)0x93, 'N', 'U', 'M', 'P', 'Y'};

void dc_npy_free(dc_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

// ---------------------------------------------------------------------------
// Header dict parsing: a tiny cursor over the header bytes.

typedef struct cur {
    const char *p, *end;
} cur;

static void skip_ws(cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cur *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

// A quoted string ('...' or "...") without escapes, into out (cap bytes).
static int parse_str(cur *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = 0;
    return 1;
}

static int parse_word(cur *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, w, n)) {
        c->p += n;
        return 1;
    }
    return 0;
}

// (d0, d1, ...) with an optional trailing comma; () is a scalar.
static int parse_shape(cur *c, int *rank, int64_t *shape) {
    if (!eat(c, '(')) return 0;
    *rank = 0;
    for (;;) {
        skip_ws(c);
        if (eat(c, ')')) return 1;
        if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return 0;
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        // numpy writes Python ints; an 'L' suffix appears in Python 2 files
        if (c->p < c->end && *c->p == 'L') c->p++;
        if (*rank >= DC_NPY_MAX_RANK) return 0;
        shape[(*rank)++] = v;
        if (eat(c, ',')) continue;
        return eat(c, ')');
    }
}

dc_status dc_npy_view_parse(dc_npy_view *v, const uint8_t *buf, size_t len, const char *origin,
                            dc_error *err) {
    memset(v, 0, sizeof *v);
    if (len < 10 || memcmp(buf, NPY_MAGIC, 6))
        return dc_fail(err, DC_ERR_FORMAT, "%s: not a NumPy .npy file (expected the magic \\x93NUMPY)", origin);
    int major = buf[6], minor = buf[7];
    size_t hlen, pos;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        pos = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header truncated", origin);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        pos = 12;
    } else {
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy version %d.%d, expected 1.0, 2.0 or 3.0", origin, major,
                       minor);
    }
    if (minor != 0)
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy version %d.%d, expected 1.0, 2.0 or 3.0", origin, major,
                       minor);
    if (hlen > len - pos)
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header length %zu runs past the end of the file (%zu bytes)",
                       origin, hlen, len);
    cur c = {(const char *)buf + pos, (const char *)buf + pos + hlen};
    char descr[16] = "";
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    int rank = 0;
    int64_t shape[DC_NPY_MAX_RANK] = {0};
    if (!eat(&c, '{')) return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header is not a dict ('{' expected)", origin);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: expected 'key': value", origin);
        if (!strcmp(key, "descr")) {
            if (have_descr) return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'descr' given twice", origin);
            if (!parse_str(&c, descr, sizeof descr))
                return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'descr' is not a simple type string (structured dtypes are not supported)", origin);
            have_descr = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_order) return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'fortran_order' given twice", origin);
            if (parse_word(&c, "False")) fortran = false;
            else if (parse_word(&c, "True")) fortran = true;
            else return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'fortran_order' must be True or False", origin);
            have_order = true;
        } else if (!strcmp(key, "shape")) {
            if (have_shape) return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'shape' given twice", origin);
            if (!parse_shape(&c, &rank, shape))
                return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: 'shape' must be a tuple of at most %d non-negative integers",
                               origin, DC_NPY_MAX_RANK);
            have_shape = true;
        } else {
            return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: unknown key '%s' (expected descr, fortran_order, shape)",
                           origin, key);
        }
        if (eat(&c, '}')) break;
        if (!eat(&c, ','))
            return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: expected ',' or '}' after '%s'", origin, key);
    }
    skip_ws(&c);
    if (c.p != c.end)
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header: unexpected text after the dict", origin);
    if (!have_descr || !have_order || !have_shape)
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy header lacks %s", origin,
                       !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
    if (fortran)
        return dc_fail(err, DC_ERR_FORMAT, "%s: Fortran-order arrays are not supported (save with np.ascontiguousarray)",
                       origin);
    // descr: an optional byte order ('<' little, '>' big, '|' not
    // applicable), a kind (f float, i signed, u unsigned, b bool) and the
    // item size in bytes
    const char *d = descr;
    char order = 0;
    if (*d == '<' || *d == '>' || *d == '|') order = *d++;
    char kind = d[0];
    int isz = d[0] && d[1] >= '1' && d[1] <= '8' && !d[2] ? d[1] - '0' : 0;
    bool ok = (kind == 'f' && (isz == 4 || isz == 8)) ||
              ((kind == 'i' || kind == 'u') && (isz == 1 || isz == 2 || isz == 4 || isz == 8)) ||
              (kind == 'b' && isz == 1);
    if (ok && isz > 1 && order != '<' && order != '>') ok = false; // a multi-byte type needs its byte order
    if (ok && isz == 1 && order == '>') ok = true;                 // harmless
    if (!ok)
        return dc_fail(err, DC_ERR_FORMAT, "%s: dtype '%s' is not supported (use uint8, an integer type, "
                       "float32 or float64)", origin, descr);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > (SIZE_MAX / (size_t)isz) / (size_t)shape[i]))
            return dc_fail(err, DC_ERR_FORMAT, "%s: .npy shape is too large", origin);
        n *= (size_t)shape[i];
    }
    size_t data_off = pos + hlen, have = len - data_off;
    if (have != n * (size_t)isz)
        return dc_fail(err, DC_ERR_FORMAT, "%s: .npy data is %zu bytes, but shape and dtype '%s' need %zu (%s)", origin,
                       have, descr, n * (size_t)isz, have < n * (size_t)isz ? "truncated file?" : "trailing bytes");
    v->rank = rank;
    memcpy(v->shape, shape, sizeof shape);
    v->n = n;
    v->kind = kind;
    v->itemsize = isz;
    v->big_endian = order == '>' && isz > 1;
    snprintf(v->descr, sizeof v->descr, "%s", descr);
    v->data = buf + data_off;
    return DC_OK;
}

// Element i's bytes as a little-endian integer (any host order).
static uint64_t raw_at(const dc_npy_view *v, size_t i) {
    const uint8_t *p = v->data + i * (size_t)v->itemsize;
    uint64_t u = 0;
    for (int k = 0; k < v->itemsize; k++) u |= (uint64_t)p[v->big_endian ? v->itemsize - 1 - k : k] << (8 * k);
    return u;
}

double dc_npy_view_f64(const dc_npy_view *v, size_t i) {
    uint64_t u = raw_at(v, i);
    switch (v->kind) {
    case 'f':
        if (v->itemsize == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, 4);
            return f;
        } else {
            double f;
            memcpy(&f, &u, 8);
            return f;
        }
    case 'i': {
        int sh = 64 - 8 * v->itemsize; // sign-extend
        return (double)((int64_t)(u << sh) >> sh);
    }
    default: // 'u', 'b'
        return (double)u;
    }
}

bool dc_npy_view_i64(const dc_npy_view *v, size_t i, int64_t *out) {
    uint64_t u = raw_at(v, i);
    if (v->kind == 'i') {
        int sh = 64 - 8 * v->itemsize;
        *out = (int64_t)(u << sh) >> sh;
        return true;
    }
    if (v->kind == 'u' || v->kind == 'b') {
        if (u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        return true;
    }
    return false;
}

dc_status dc_npy_parse(dc_npy *a, const uint8_t *buf, size_t len, const char *origin,
                       dc_error *err) {
    memset(a, 0, sizeof *a);
    dc_npy_view v;
    dc_status st = dc_npy_view_parse(&v, buf, len, origin, err);
    if (st) return st;
    const bool f4 = v.kind == 'f' && v.itemsize == 4, f8 = v.kind == 'f' && v.itemsize == 8,
               u1 = v.kind == 'u' && v.itemsize == 1;
    if (!f4 && !f8 && !u1)
        return dc_fail(err, DC_ERR_FORMAT, "%s: dtype '%s' is not supported (use float32, float64 or uint8)", origin,
                       v.descr);
    float *data = malloc(v.n ? v.n * sizeof(float) : 1);
    if (!data) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %zu values", origin, v.n);
    for (size_t i = 0; i < v.n; i++) data[i] = (float)dc_npy_view_f64(&v, i);
    a->rank = v.rank;
    memcpy(a->shape, v.shape, sizeof v.shape);
    snprintf(a->dtype, sizeof a->dtype, "%s", f4 ? "f4" : f8 ? "f8" : "u1");
    a->n = v.n;
    a->data = data;
    return DC_OK;
}

dc_status dc_npy_read(dc_npy *a, const char *path, dc_error *err) {
    memset(a, 0, sizeof *a);
    uint8_t *buf;
    size_t len;
    dc_status st = dc_read_file(path, &buf, &len, NPY_MAX_FILE, err);
    if (st) return st;
    st = dc_npy_parse(a, buf, len, path, err);
    free(buf);
    return st;
}

// ---------------------------------------------------------------------------
// Writer

size_t dc_npy_header_f32(char *hdr, size_t cap, int rank, const int64_t *shape) {
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[i],
                      rank == 1 ? "," : i + 1 < rank ? ", " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n <= 0 || (size_t)n >= sizeof dict) return 0;
    // magic(6) + version(2) + u16 length + dict + spaces + '\n', total % 64 == 0
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535) return 0;
    memcpy(hdr, NPY_MAGIC, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    size_t hl = total - 10;
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);
    memcpy(hdr + 10, dict, (size_t)n);
    memset(hdr + 10 + n, ' ', total - 10 - (size_t)n - 1);
    hdr[total - 1] = '\n';
    return total;
}

dc_status dc_npy_write_f32(const char *path, const float *data, int rank, const int64_t *shape,
                           dc_error *err) {
    if (rank < 0 || rank > DC_NPY_MAX_RANK)
        return dc_fail(err, DC_ERR_ARG, "%s: .npy rank %d, expected 0..%d", path, rank, DC_NPY_MAX_RANK);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) return dc_fail(err, DC_ERR_ARG, "%s: negative dimension %lld", path, (long long)shape[i]);
        n *= (size_t)shape[i];
    }
    char hdr[640];
    size_t hl = dc_npy_header_f32(hdr, sizeof hdr, rank, shape);
    if (!hl) return dc_fail(err, DC_ERR_ARG, "%s: .npy header does not fit", path);
    // little-endian bytes explicitly, so the file is the same on any host
    uint8_t *le = malloc(n ? n * 4 : 1);
    if (!le) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        le[4 * i] = (uint8_t)u;
        le[4 * i + 1] = (uint8_t)(u >> 8);
        le[4 * i + 2] = (uint8_t)(u >> 16);
        le[4 * i + 3] = (uint8_t)(u >> 24);
    }
    dc_buf parts[2] = {{hdr, hl}, {le, n * 4}};
    dc_status st = dc_write_atomic(path, parts, 2, err);
    free(le);
    return st;
}
