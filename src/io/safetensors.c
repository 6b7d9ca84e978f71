// safetensors.c — strict reader and atomic writer for safetensors files.
//
// Contract (see safetensors.h for the format): dc_st_read either returns a
// fully validated file — every tensor entry well-typed, a known dtype, rank
// <= 8, dims >= 0, byte counts that match the shapes, offsets that tile the
// data buffer exactly, unique names, string-only metadata — or fails with one
// line naming the file and the field, leaving nothing allocated. The JSON is
// parsed by cJSON; everything cJSON does not check (UTF-8, duplicate keys,
// integer-ness of numbers, trailing garbage, a \u0000 that would cut a C
// string short) is checked here. A tensor name must not be empty (the writer
// refuses one too, so whatever is read can be written back).
//
// Strictness choices: an unknown key inside a tensor entry is an error (the
// format has exactly dtype/shape/data_offsets, and silently ignoring a key is
// how format drift goes unnoticed); a zero-size tensor must sit exactly at the
// running offset like any other (the reference Rust reader does the same).
//
// Data is read with sequential freads straight into 64-byte aligned slots,
// so loading costs one copy of the data and never an unaligned cast.
#define _POSIX_C_SOURCE 200809L
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// The format is little-endian and we hand tensor bytes out as they are.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "deepc's safetensors I/O assumes a little-endian host"
#endif

// ---------------------------------------------------------------------------
// dtypes

static const struct {
    const char *name;
    size_t size;
} k_dtypes[] = {
    [DC_ST_F32] = {"F32", 4}, [DC_ST_I32] = {"I32", 4}, [DC_ST_I64] = {"I64", 8},
    [DC_ST_U8] = {"U8", 1},   [DC_ST_F64] = {"F64", 8}, [DC_ST_I8] = {"I8", 1},
};
#define N_DTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))

// dtypes of the format that deepc does not handle: named in the error so the
// user sees "unsupported" rather than "unknown".
static const char *const k_other_dtypes[] = {"F16", "BF16", "I16", "U16", "U32",
                                             "U64", "BOOL", "F8_E4M3", "F8_E5M2"};

size_t dc_st_dtype_size(dc_st_dtype dt) {
    return (int)dt >= 0 && (int)dt < N_DTYPES ? k_dtypes[dt].size : 0;
}

const char *dc_st_dtype_name(dc_st_dtype dt) {
    return (int)dt >= 0 && (int)dt < N_DTYPES ? k_dtypes[dt].name : "?";
}

static int dtype_from_name(const char *s) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, k_dtypes[i].name) == 0) return i;
    return -1;
}

// ---------------------------------------------------------------------------
// small helpers

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Returns the offset
// of the first bad byte, or len when all is well.
static size_t utf8_bad_offset(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

// Offset of the first "\u0000" escape in JSON text (a NUL inside a string),
// or len when there is none. cJSON hands strings back NUL-terminated, so a
// name or value holding one would be cut short without a word. Backslashes
// only occur inside JSON strings, so pairing them up is enough.
static size_t json_nul_escape(const char *s, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4)) return i;
        i++; // skip the escaped character (\\ included)
    }
    return len;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

// A JSON number that is a non-negative integer exactly representable in a
// double (<= 2^53). Returns 1 and sets *v on success.
static int json_uint(const cJSON *x, uint64_t *v) {
    if (!cJSON_IsNumber(x)) return 0;
    double d = x->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) return 0;
    *v = (uint64_t)d;
    return 1;
}

static const char *json_type_name(const cJSON *x) {
    if (cJSON_IsString(x)) return "a string";
    if (cJSON_IsNumber(x)) return "a number";
    if (cJSON_IsArray(x)) return "an array";
    if (cJSON_IsObject(x)) return "an object";
    if (cJSON_IsBool(x)) return "a boolean";
    if (cJSON_IsNull(x)) return "null";
    return "something else";
}

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

// ---------------------------------------------------------------------------
// reading

void dc_st_free(dc_st_file *f) {
    if (!f) return;
    free(f->path);
    dc_free(f->blob);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    memset(f, 0, sizeof *f);
}

// Per-tensor bookkeeping during validation.
typedef struct {
    uint64_t begin, end;
    int idx; // index into f->tensors
} st_span;

static int cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

static int cmp_name_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Parses one tensor entry `e` named `name` into *t and its span.
static dc_status parse_entry(const char *path, const char *name, const cJSON *e,
                             uint64_t data_len, dc_st_tensor *t, st_span *sp,
                             dc_error *err) {
    if (!cJSON_IsObject(e))
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": entry is %s, expected an object with dtype, "
                       "shape, data_offsets",
                       path, name, json_type_name(e));
    for (const cJSON *k = e->child; k; k = k->next)
        if (strcmp(k->string, "dtype") && strcmp(k->string, "shape") &&
            strcmp(k->string, "data_offsets"))
            return dc_fail(err, DC_ERR_FORMAT,
                           "%s: tensor \"%s\": unexpected key \"%s\" (an entry has only "
                           "dtype, shape, data_offsets)",
                           path, name, k->string);
    if (!name[0])
        return dc_fail(err, DC_ERR_FORMAT, "%s: a tensor has an empty name (\"\")", path);
    if (strlen(name) >= DC_ST_MAX_NAME)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor name \"%.40s...\" is %zu bytes, at most %d allowed",
                       path, name, strlen(name), DC_ST_MAX_NAME - 1);
    snprintf(t->name, sizeof t->name, "%s", name);

    // dtype
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!dt)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": missing \"dtype\"", path, name);
    if (!cJSON_IsString(dt))
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": \"dtype\" is %s, expected a string like \"F32\"",
                       path, name, json_type_name(dt));
    int d = dtype_from_name(dt->valuestring);
    if (d < 0) {
        for (size_t i = 0; i < sizeof k_other_dtypes / sizeof *k_other_dtypes; i++)
            if (strcmp(dt->valuestring, k_other_dtypes[i]) == 0)
                return dc_fail(err, DC_ERR_FORMAT,
                               "%s: tensor \"%s\": dtype \"%s\" is not supported by deepc "
                               "(F32, F64, I32, I64, U8, I8 are; convert with tensor.float())",
                               path, name, dt->valuestring);
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": unknown dtype \"%.32s\" (expected F32, F64, I32, I64, U8 or I8)",
                       path, name, dt->valuestring);
    }
    t->dtype = (dc_st_dtype)d;

    // shape
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!sh)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": missing \"shape\"", path, name);
    if (!cJSON_IsArray(sh))
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": \"shape\" is %s, expected an array of dims",
                       path, name, json_type_name(sh));
    int rank = cJSON_GetArraySize(sh);
    if (rank > DC_ST_MAX_RANK)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": rank %d, at most %d supported",
                       path, name, rank, DC_ST_MAX_RANK);
    t->rank = rank;
    uint64_t numel = 1;
    int r = 0;
    for (const cJSON *x = sh->child; x; x = x->next, r++) {
        uint64_t v;
        if (!json_uint(x, &v)) {
            if (cJSON_IsNumber(x) && x->valuedouble < 0)
                return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is negative (%g)",
                               path, name, r, x->valuedouble);
            return dc_fail(err, DC_ERR_FORMAT,
                           "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                           path, name, r);
        }
        t->shape[r] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel))
            return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": shape product overflows", path, name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)k_dtypes[d].size, &nbytes) || nbytes > SIZE_MAX)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": byte size overflows", path, name);
    t->nbytes = (size_t)nbytes;

    // data_offsets
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!off)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": missing \"data_offsets\"", path, name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": \"data_offsets\" must be an array [begin, end]", path, name);
    uint64_t b, en;
    if (!json_uint(off->child, &b) || !json_uint(off->child->next, &en))
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": \"data_offsets\" must hold two non-negative integers",
                       path, name);
    if (b > en)
        return dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] has begin after end", path, name, b, en);
    if (en > data_len)
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets end %" PRIu64
                       " is beyond the %" PRIu64 "-byte data buffer (truncated file?)",
                       path, name, en, data_len);
    if (en - b != nbytes) {
        char shp[160] = "";
        size_t o = 0;
        for (int i = 0; i < rank && o < sizeof shp - 24; i++)
            o += (size_t)snprintf(shp + o, sizeof shp - o, "%s%" PRId64, i ? "," : "", t->shape[i]);
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: tensor \"%s\": shape (%s) of %s needs %" PRIu64
                       " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64,
                       path, name, shp, k_dtypes[d].name, nbytes, b, en, en - b);
    }
    sp->begin = b;
    sp->end = en;
    return DC_OK;
}

static dc_status parse_metadata(const char *path, const cJSON *m, dc_st_file *f, dc_error *err) {
    if (!cJSON_IsObject(m))
        return dc_fail(err, DC_ERR_FORMAT, "%s: \"__metadata__\" is %s, expected an object of strings",
                       path, json_type_name(m));
    int n = cJSON_GetArraySize(m);
    f->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    f->meta_vals = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_vals)
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for metadata", path);
    for (const cJSON *x = m->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ \"%s\" is %s, expected a string",
                           path, x->string, json_type_name(x));
        for (int i = 0; i < f->n_meta; i++)
            if (strcmp(f->meta_keys[i], x->string) == 0)
                return dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ key \"%s\" appears twice",
                               path, x->string);
        char *k = dup_str(x->string), *v = dup_str(x->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for metadata", path);
        }
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta] = v;
        f->n_meta++;
    }
    return DC_OK;
}

// Validates the parsed header and reads the data; fp is positioned just after
// the header. Fills f; the caller frees f on failure.
static dc_status read_body(dc_st_file *f, const char *path, const cJSON *root, FILE *fp,
                           uint64_t data_len, dc_error *err) {
    int n = 0, n_meta_objs = 0;
    for (const cJSON *x = root->child; x; x = x->next) {
        if (strcmp(x->string, "__metadata__") == 0) n_meta_objs++;
        else n++;
    }
    if (n_meta_objs > 1)
        return dc_fail(err, DC_ERR_FORMAT, "%s: \"__metadata__\" appears twice in the header", path);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    st_span *spans = calloc((size_t)n + 1, sizeof *spans);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    dc_status st = DC_OK;
    if (!f->tensors || !spans || !names) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %d tensor entries", path, n);
        goto done;
    }
    for (const cJSON *x = root->child; x && st == DC_OK; x = x->next) {
        if (strcmp(x->string, "__metadata__") == 0) {
            st = parse_metadata(path, x, f, err);
            continue;
        }
        int i = f->n_tensors;
        st = parse_entry(path, x->string, x, data_len, &f->tensors[i], &spans[i], err);
        spans[i].idx = i;
        names[i] = f->tensors[i].name;
        f->n_tensors++;
    }
    if (st) goto done;

    // Duplicate names: cJSON keeps both copies of a repeated key.
    qsort(names, (size_t)n, sizeof *names, cmp_name_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\" appears twice in the header",
                         path, names[i]);
            goto done;
        }

    // The spans must tile [0, data_len) exactly.
    qsort(spans, (size_t)n, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = f->tensors[spans[i].idx].name;
        if (spans[i].begin < at) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                         "] overlap tensor \"%s\" (which ends at %" PRIu64 ")",
                         path, nm, spans[i].begin, spans[i].end,
                         f->tensors[spans[i - 1].idx].name, at);
            goto done;
        }
        if (spans[i].begin > at) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: tensor \"%s\": data_offsets begin %" PRIu64
                         " leaves a gap after byte %" PRIu64 " (tensors must be packed)",
                         path, nm, spans[i].begin, at);
            goto done;
        }
        at = spans[i].end;
    }
    if (at != data_len) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: %" PRIu64 " trailing bytes after the last tensor (data buffer is %" PRIu64
                     " bytes, tensors cover %" PRIu64 ")",
                     path, data_len - at, data_len, at);
        goto done;
    }

    // One aligned allocation, one slot per tensor; sequential reads in
    // offset order.
    size_t total = 0;
    size_t *slot = calloc((size_t)n + 1, sizeof *slot);
    if (!slot) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        slot[i] = total;
        total += round_up64(f->tensors[i].nbytes);
    }
    f->blob = dc_alloc(total);
    if (!f->blob) {
        free(slot);
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %zu bytes of tensor data", path, total);
        goto done;
    }
    f->len = total;
    for (int i = 0; i < n; i++) {
        dc_st_tensor *t = &f->tensors[spans[i].idx];
        t->data = f->blob + slot[spans[i].idx];
        if (t->nbytes && fread(f->blob + slot[spans[i].idx], 1, t->nbytes, fp) != t->nbytes) {
            st = dc_fail(err, DC_ERR_IO, "%s: tensor \"%s\": read error or file shrank while reading",
                         path, t->name);
            break;
        }
    }
    free(slot);
done:
    free(spans);
    free(names);
    return st;
}

dc_status dc_st_read(dc_st_file *f, const char *path, dc_error *err) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    dc_status st = DC_OK;
    char *hdr = NULL;
    cJSON *root = NULL;
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = dc_fail(err, DC_ERR_IO, "%s: not a regular file (a directory?)", path);
        goto out;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: file is %" PRIu64 " bytes, shorter than the 8-byte header length "
                     "(empty or truncated safetensors file)", path, size);
        goto out;
    }
    uint8_t lb[8];
    if (fread(lb, 1, 8, fp) != 8) {
        st = dc_fail(err, DC_ERR_IO, "%s: read error in the header length", path);
        goto out;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lb[i];
    if (hlen > DC_ST_MAX_HEADER) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: header length %" PRIu64 " is absurd (more than 100 MB): not a "
                     "safetensors file?", path, hlen);
        goto out;
    }
    if (hlen > size - 8) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: header length %" PRIu64 " is larger than the rest of the file (%" PRIu64
                     " bytes): truncated?", path, hlen, size - 8);
        goto out;
    }
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
        goto out;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != hlen) {
        st = dc_fail(err, DC_ERR_IO, "%s: read error in the JSON header", path);
        goto out;
    }
    hdr[hlen] = 0;
    size_t bad = utf8_bad_offset((const uint8_t *)hdr, (size_t)hlen);
    if (bad != hlen) {
        st = dc_fail(err, DC_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu of the JSON header)",
                     path, bad);
        goto out;
    }
    size_t nul = json_nul_escape(hdr, (size_t)hlen);
    if (nul != hlen) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: header holds a \\u0000 escape (byte %zu): NUL is not allowed in names or metadata",
                     path, nul);
        goto out;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        st = dc_fail(err, DC_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu: \"%.20s\")",
                     path, at, at < hlen ? hdr + at : "");
        goto out;
    }
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: unexpected bytes after the JSON header object (at byte %zu)", path,
                         (size_t)(p - hdr));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        st = dc_fail(err, DC_ERR_FORMAT, "%s: header is %s, expected a JSON object",
                     path, json_type_name(root));
        goto out;
    }
    f->path = dup_str(path);
    if (!f->path) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    st = read_body(f, path, root, fp, size - 8 - hlen, err);
out:
    cJSON_Delete(root);
    free(hdr);
    fclose(fp);
    if (st) dc_st_free(f);
    return st;
}

const dc_st_tensor *dc_st_find(const dc_st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? "," : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

dc_status dc_st_expect(const dc_st_file *f, const char *name, dc_st_dtype dtype,
                       int rank, const int64_t *shape, const dc_st_tensor **out,
                       dc_error *err) {
    const char *path = f->path ? f->path : "safetensors";
    if (out) *out = NULL;
    const dc_st_tensor *t = dc_st_find(f, name);
    if (!t) return dc_fail(err, DC_ERR_FORMAT, "%s: no tensor \"%s\" (file has %d tensors)",
                           path, name, f->n_tensors);
    int same = t->dtype == dtype;
    if (rank >= 0) {
        same = same && t->rank == rank;
        for (int i = 0; same && i < rank; i++) same = t->shape[i] == shape[i];
    }
    if (!same) {
        char want[200] = "", got[200];
        if (rank >= 0) shape_str(want, sizeof want, rank, shape);
        shape_str(got, sizeof got, t->rank, t->shape);
        return dc_fail(err, DC_ERR_SHAPE, "%s: tensor \"%s\": expected %s %s, found %s %s", path,
                       name, dc_st_dtype_name(dtype), rank >= 0 ? want : "(any shape)",
                       dc_st_dtype_name(t->dtype), got);
    }
    if (out) *out = t;
    return DC_OK;
}

const char *dc_st_meta(const dc_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

// ---------------------------------------------------------------------------
// writing

void dc_st_writer_init(dc_st_writer *w) {
    memset(w, 0, sizeof *w);
    w->first_status = DC_OK;
}

void dc_st_writer_free(dc_st_writer *w) {
    if (!w) return;
    free(w->tensors);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_vals[i]);
    }
    free(w->meta_keys);
    free(w->meta_vals);
    memset(w, 0, sizeof *w);
}

// Records the first error in the writer (sticky) and returns st.
static dc_status w_fail(dc_st_writer *w, dc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dc_status w_fail(dc_st_writer *w, dc_status st, const char *fmt, ...) {
    if (w->first_status == DC_OK) {
        char buf[sizeof w->first_err.msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        w->first_status = dc_fail(&w->first_err, st, "%s", buf);
    }
    return st;
}

dc_status dc_st_add(dc_st_writer *w, const char *name, dc_st_dtype dtype,
                    int rank, const int64_t *shape, const void *data) {
    if (!name || !name[0]) return w_fail(w, DC_ERR_ARG, "tensor with an empty name");
    size_t nl = strlen(name);
    if (nl >= DC_ST_MAX_NAME)
        return w_fail(w, DC_ERR_ARG, "tensor name \"%.40s...\" is %zu bytes, at most %d allowed",
                      name, nl, DC_ST_MAX_NAME - 1);
    if (utf8_bad_offset((const uint8_t *)name, nl) != nl)
        return w_fail(w, DC_ERR_ARG, "tensor name \"%s\" is not valid UTF-8", name);
    if (strcmp(name, "__metadata__") == 0)
        return w_fail(w, DC_ERR_ARG, "\"__metadata__\" is reserved and cannot name a tensor");
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES)
        return w_fail(w, DC_ERR_ARG, "tensor \"%s\": invalid dtype %d", name, (int)dtype);
    if (rank < 0 || rank > DC_ST_MAX_RANK || (rank > 0 && !shape))
        return w_fail(w, DC_ERR_ARG, "tensor \"%s\": rank %d, expected 0..%d with a shape",
                      name, rank, DC_ST_MAX_RANK);
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return w_fail(w, DC_ERR_ARG, "tensor \"%s\": shape[%d] = %" PRId64 " is negative",
                          name, i, shape[i]);
        if (__builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
            return w_fail(w, DC_ERR_ARG, "tensor \"%s\": shape product overflows", name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)k_dtypes[dtype].size, &nbytes) || nbytes > SIZE_MAX)
        return w_fail(w, DC_ERR_ARG, "tensor \"%s\": byte size overflows", name);
    if (nbytes && !data)
        return w_fail(w, DC_ERR_ARG, "tensor \"%s\": data is NULL for %" PRIu64 " bytes", name, nbytes);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return w_fail(w, DC_ERR_ARG, "tensor \"%s\" added twice", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        dc_st_tensor *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return w_fail(w, DC_ERR_NOMEM, "out of memory adding tensor \"%s\"", name);
        w->tensors = t;
        w->cap = cap;
    }
    dc_st_tensor *t = &w->tensors[w->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, nl + 1);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = (size_t)nbytes;
    return DC_OK;
}

dc_status dc_st_add_meta(dc_st_writer *w, const char *key, const char *value) {
    if (!key || !value) return w_fail(w, DC_ERR_ARG, "metadata key or value is NULL");
    if (utf8_bad_offset((const uint8_t *)key, strlen(key)) != strlen(key) ||
        utf8_bad_offset((const uint8_t *)value, strlen(value)) != strlen(value))
        return w_fail(w, DC_ERR_ARG, "metadata \"%.60s\": key or value is not valid UTF-8", key);
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_keys[i], key) == 0)
            return w_fail(w, DC_ERR_ARG, "metadata key \"%s\" added twice", key);
    if (w->n_meta == w->meta_cap) {
        int cap = w->meta_cap ? 2 * w->meta_cap : 8;
        char **k = realloc(w->meta_keys, (size_t)cap * sizeof *k);
        if (!k) return w_fail(w, DC_ERR_NOMEM, "out of memory adding metadata \"%s\"", key);
        w->meta_keys = k;
        char **v = realloc(w->meta_vals, (size_t)cap * sizeof *v);
        if (!v) return w_fail(w, DC_ERR_NOMEM, "out of memory adding metadata \"%s\"", key);
        w->meta_vals = v;
        w->meta_cap = cap;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return w_fail(w, DC_ERR_NOMEM, "out of memory adding metadata \"%s\"", key);
    }
    w->meta_keys[w->n_meta] = k;
    w->meta_vals[w->n_meta] = v;
    w->n_meta++;
    return DC_OK;
}

// Integers go in as raw JSON text: cJSON prints doubles above INT_MAX with
// %g, which would turn a large offset into "1e+15" that strict readers
// (serde's usize) refuse.
static cJSON *json_u64(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

// Builds the header JSON (unpadded). Returns NULL when out of memory.
static char *build_header(const dc_st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->n_meta) {
        cJSON *m = cJSON_CreateObject();
        ok = m && cJSON_AddItemToObject(root, "__metadata__", m);
        if (!ok) cJSON_Delete(m);
        for (int i = 0; ok && i < w->n_meta; i++)
            ok = cJSON_AddStringToObject(m, w->meta_keys[i], w->meta_vals[i]) != NULL;
    }
    uint64_t at = 0;
    for (int i = 0; ok && i < w->n; i++) {
        const dc_st_tensor *t = &w->tensors[i];
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToObject(root, t->name, e);
        if (!ok) {
            cJSON_Delete(e);
            break;
        }
        ok = cJSON_AddStringToObject(e, "dtype", k_dtypes[t->dtype].name) != NULL;
        cJSON *sh = ok ? cJSON_AddArrayToObject(e, "shape") : NULL;
        ok = sh != NULL;
        for (int r = 0; ok && r < t->rank; r++) {
            cJSON *d = json_u64((uint64_t)t->shape[r]);
            ok = d && cJSON_AddItemToArray(sh, d);
            if (!ok) cJSON_Delete(d);
        }
        cJSON *off = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = off != NULL;
        uint64_t v[2] = {at, at + t->nbytes};
        for (int k = 0; ok && k < 2; k++) {
            cJSON *d = json_u64(v[k]);
            ok = d && cJSON_AddItemToArray(off, d);
            if (!ok) cJSON_Delete(d);
        }
        at += t->nbytes;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

dc_status dc_st_write(const dc_st_writer *w, const char *path, dc_error *err) {
    if (w->first_status != DC_OK)
        return dc_fail(err, w->first_status, "%s: not written: %s", path, w->first_err.msg);
    char *json = build_header(w);
    if (!json) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory building the header", path);
    size_t n = strlen(json);
    size_t padded = (n + 7) & ~(size_t)7; // 8 + padded is a multiple of 8
    uint8_t *hdr = malloc(8 + padded);
    dc_buf *parts = malloc(((size_t)w->n + 1) * sizeof *parts);
    if (!hdr || !parts) {
        cJSON_free(json);
        free(hdr);
        free(parts);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(hdr + 8, json, n);
    memset(hdr + 8 + n, ' ', padded - n);
    cJSON_free(json);
    parts[0] = (dc_buf){hdr, 8 + padded};
    for (int i = 0; i < w->n; i++) parts[i + 1] = (dc_buf){w->tensors[i].data, w->tensors[i].nbytes};
    dc_status st = dc_write_atomic(path, parts, w->n + 1, err);
    free(hdr);
    free(parts);
    return st;
}
