// request.c — parsing request bodies and query strings, writing responses.
//
// Pure functions over bytes: no server, no socket, no global state, so the
// protocol tests and the libFuzzer harness (tests/fuzz/fuzz_serve_request.c)
// drive them directly. Every malformed input is an HTTP status (400, 413 or
// 415) and a one-line message naming the field; nothing here can crash on
// any input (the fuzzer's job is to show that).
//
// JSON (the Open Inference Protocol v2 tensor form) is parsed with cJSON.
// cJSON allocates a node per number, so before parsing, the commas of the
// body are counted: a body with more values than max_rows * C*H*W (plus a
// margin for the other fields) is refused with 413 without building the
// tree, which bounds the memory one request can make the parser take.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layers/layers.h"
#include "serve/serve.h"

static int fail(char *msg, size_t cap, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *msg, size_t cap, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

// ---------------------------------------------------------------------------
// Query strings

void serve_query_init(serve_query *q) {
    q->top_k = q->logits = q->probabilities = q->method = q->target = q->format = q->steps = q->scale = -1;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes s[0..n) (%XX, '+') into out (cap bytes, NUL-terminated); false
// when it does not fit, a %-escape is bad, or it decodes to a NUL byte.
static bool url_decode(char *out, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (i + 2 >= n) return false;
            int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0) return false;
            c = a * 16 + b;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap) return false;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return true;
}

static bool parse_int(const char *v, long lo, long hi, int *out) {
    if (!*v) return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi || isspace((unsigned char)*v)) return false;
    *out = (int)x;
    return true;
}

static bool parse_bool(const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false")) *out = 0;
    else return false;
    return true;
}

static int query_set(serve_query *q, const char *k, const char *v, char *msg, size_t cap) {
    int *slot = NULL;
    bool ok;
    int x = 0;
    if (!strcmp(k, "top_k")) slot = &q->top_k, ok = parse_int(v, 1, 1000000, &x);
    else if (!strcmp(k, "logits")) slot = &q->logits, ok = parse_bool(v, &x);
    else if (!strcmp(k, "probabilities")) slot = &q->probabilities, ok = parse_bool(v, &x);
    else if (!strcmp(k, "target")) slot = &q->target, ok = parse_int(v, 0, 1000000, &x);
    else if (!strcmp(k, "steps")) slot = &q->steps, ok = parse_int(v, 1, 1024, &x);
    else if (!strcmp(k, "scale")) slot = &q->scale, ok = parse_int(v, 1, 32, &x);
    else if (!strcmp(k, "format")) {
        slot = &q->format;
        ok = !strcmp(v, "json") || !strcmp(v, "png");
        x = !strcmp(v, "png");
    } else if (!strcmp(k, "method")) {
        // the explainers a server offers: the fast ones (LIME and KernelSHAP
        // run thousands of model inputs per request: `deepc explain` has them)
        static const char *const names[] = {"saliency", "gradxinput", "ig", "gradcam", "occlusion"};
        static const int ids[] = {DC_EXPLAIN_SALIENCY, DC_EXPLAIN_GRADXINPUT, DC_EXPLAIN_IG, DC_EXPLAIN_GRADCAM,
                                  DC_EXPLAIN_OCCLUSION};
        slot = &q->method;
        ok = false;
        for (int i = 0; i < 5; i++)
            if (!strcmp(v, names[i])) ok = true, x = ids[i];
        if (!ok) return fail(msg, cap, 400, "query: method '%.64s' unknown (saliency, gradxinput, ig, gradcam, occlusion)", v);
    } else {
        return fail(msg, cap, 400,
                    "query: unknown parameter '%.64s' (top_k, logits, probabilities, method, target, format, steps, scale)",
                    k);
    }
    if (!ok) return fail(msg, cap, 400, "query: %s='%.64s' is not a valid value", k, v);
    if (*slot != -1) return fail(msg, cap, 400, "query: %s given twice", k);
    *slot = x;
    return 0;
}

int serve_query_parse(serve_query *q, const char *qs, size_t len, char *msg, size_t cap) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && qs[j] != '&') j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && qs[eq] != '=') eq++;
            char k[32], v[128];
            if (!url_decode(k, sizeof k, qs + i, eq - i) || !k[0])
                return fail(msg, cap, 400, "query: a parameter name is empty, too long or badly %%-encoded");
            if (eq == j) return fail(msg, cap, 400, "query: parameter '%s' has no value (expected %s=VALUE)", k, k);
            if (!url_decode(v, sizeof v, qs + eq + 1, j - eq - 1))
                return fail(msg, cap, 400, "query: the value of '%s' is too long or badly %%-encoded", k);
            int st = query_set(q, k, v, msg, cap);
            if (st) return st;
        }
        i = j + 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Image headers

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// The next integer of a PNM header at *i (whitespace and # comments skipped).
static bool pnm_next(const uint8_t *b, size_t len, size_t *i, long *v) {
    for (;;) {
        while (*i < len && isspace(b[*i])) (*i)++;
        if (*i < len && b[*i] == '#') {
            while (*i < len && b[*i] != '\n') (*i)++;
            continue;
        }
        break;
    }
    if (*i >= len || !isdigit(b[*i])) return false;
    long x = 0;
    while (*i < len && isdigit(b[*i])) {
        if (x > 100000000L) return false;
        x = x * 10 + (b[(*i)++] - '0');
    }
    *v = x;
    return true;
}

bool serve_image_dims(const uint8_t *b, size_t len, long *w, long *h) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 24 && !memcmp(b, png, 8) && !memcmp(b + 12, "IHDR", 4)) {
        *w = be32(b + 16);
        *h = be32(b + 20);
        return true;
    }
    if (len >= 2 && b[0] == 'P' && b[1] && strchr("2356", b[1])) {
        size_t i = 2;
        return pnm_next(b, len, &i, w) && pnm_next(b, len, &i, h);
    }
    if (len >= 4 && b[0] == 0xff && b[1] == 0xd8) { // JPEG: walk the segments to a SOFn
        size_t i = 2;
        while (i + 4 <= len) {
            if (b[i] != 0xff) return false;
            int mk = b[i + 1];
            if (mk == 0xff) { i++; continue; } // fill byte
            if (mk == 0xd8 || (mk >= 0xd0 && mk <= 0xd7) || mk == 0x01) { i += 2; continue; }
            size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
            if (seg < 2) return false;
            bool sof = mk >= 0xc0 && mk <= 0xcf && mk != 0xc4 && mk != 0xc8 && mk != 0xcc;
            if (sof) {
                if (i + 9 > len) return false;
                *h = (long)b[i + 5] << 8 | b[i + 6];
                *w = (long)b[i + 7] << 8 | b[i + 8];
                return true;
            }
            if (mk == 0xd9 || mk == 0xda) return false; // end, or scan data before any frame header
            i += 2 + seg;
        }
        return false;
    }
    return false;
}

// ---------------------------------------------------------------------------
// Bodies

void serve_input_free(serve_input *in) {
    free(in->x);
    in->x = NULL;
    in->cap = 0;
}

static int ensure_rows(serve_input *in, int rows, size_t in_size, char *msg, size_t cap) {
    size_t need = (size_t)rows * in_size;
    if (need <= in->cap) return 0;
    float *x = realloc(in->x, sizeof(float) * need);
    if (!x) return fail(msg, cap, 503, "out of memory for %d rows", rows);
    in->x = x;
    in->cap = need;
    return 0;
}

// The media type of a Content-Type value, lower-cased, without parameters.
static void media_type(char *out, size_t cap, const char *ct) {
    size_t o = 0;
    if (ct)
        for (; *ct && *ct != ';' && o + 1 < cap; ct++)
            if (!isspace((unsigned char)*ct)) out[o++] = (char)tolower((unsigned char)*ct);
    out[o] = 0;
}

static int parse_image(serve_input *in, const serve_shape *sh, const uint8_t *body, size_t len, char *msg,
                       size_t cap) {
    long w = 0, h = 0;
    if (!serve_image_dims(body, len, &w, &h)) {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0, o = 0; i < len && i < 8; i++)
            o += (size_t)snprintf(hex + o, sizeof hex - o, "%s%02x", i ? " " : "", body[i]);
        return fail(msg, cap, 415, "body: not a PNG, PGM/PPM or JPEG image (first bytes [%s])", len ? hex : "empty");
    }
    if (w < 1 || h < 1 || w > 65535 || h > 65535 || w * h > sh->max_pixels)
        return fail(msg, cap, 413, "body: a %ldx%ld image; this server takes images of at most %ld pixels", w, h,
                    sh->max_pixels);
    const size_t in_size = (size_t)sh->c * sh->h * sh->w;
    int st = ensure_rows(in, 1, in_size, msg, cap);
    if (st) return st;
    uint8_t *px = NULL;
    dc_error err;
    if (dc_image_decode(&px, body, len, "body", sh->c, sh->h, sh->w, &err)) {
        // a format the decoder does not know yet is unsupported; a broken file is malformed
        bool unknown = strstr(err.msg, "unknown image format") != NULL;
        return fail(msg, cap, unknown ? 415 : 400, "%s", err.msg);
    }
    const float scale = 1.0f / (255.0f * sh->std), shift = sh->mean / sh->std;
    for (size_t i = 0; i < in_size; i++) in->x[i] = (float)px[i] * scale - shift;
    free(px);
    in->rows = 1;
    in->is_image = true;
    return 0;
}

typedef enum { DT_FP32, DT_FP64, DT_UINT8 } dtype;

typedef struct flat {
    float *dst;
    size_t n, want;
    dtype dt;
    float scale, shift; // UINT8: pixel * scale - shift
    char *msg;
    size_t cap;
} flat;

// Flattens nested arrays of numbers row-major into f->dst; depth is bounded
// by the shape's rank (<= 4) + 1.
static int flatten(flat *f, const cJSON *a, int depth) {
    if (depth > 5) return fail(f->msg, f->cap, 400, "inputs[0].data: nested deeper than the shape");
    for (const cJSON *e = a->child; e; e = e->next) {
        if (cJSON_IsArray(e)) {
            int st = flatten(f, e, depth + 1);
            if (st) return st;
            continue;
        }
        if (!cJSON_IsNumber(e))
            return fail(f->msg, f->cap, 400, "inputs[0].data[%zu]: expected a number", f->n);
        if (f->n >= f->want)
            return fail(f->msg, f->cap, 400, "inputs[0].data: more than the %zu values the shape holds", f->want);
        double v = e->valuedouble;
        float x;
        if (f->dt == DT_UINT8) {
            if (!(v >= 0 && v <= 255) || v != floor(v))
                return fail(f->msg, f->cap, 400, "inputs[0].data[%zu]=%g: UINT8 values are integers 0..255", f->n, v);
            x = (float)v * f->scale - f->shift;
        } else {
            if (!isfinite(v) || fabs(v) > FLT_MAX)
                return fail(f->msg, f->cap, 400, "inputs[0].data[%zu]: %g is not a finite float", f->n, v);
            x = (float)v;
        }
        f->dst[f->n++] = x;
    }
    return 0;
}

static const char *const out_names[] = {"probabilities", "logits", "top_k_index", "top_k_label", "top_k_probability"};

static int parse_json(serve_input *in, serve_query *q, const serve_shape *sh, const uint8_t *body, size_t len,
                      char *msg, size_t cap) {
    const size_t in_size = (size_t)sh->c * sh->h * sh->w;
    // bound cJSON's memory before it builds anything: one node per value
    size_t commas = 0;
    for (size_t i = 0; i < len; i++) commas += body[i] == ',';
    const size_t most = (size_t)sh->max_rows * in_size + 4096;
    if (commas > most)
        return fail(msg, cap, 413, "body: about %zu values; a request holds at most %d rows of %zu values", commas + 1,
                    sh->max_rows, in_size);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, len, &end, false);
    if (!root) {
        size_t at = end ? (size_t)(end - (const char *)body) : 0;
        return fail(msg, cap, 400, "body: invalid JSON near byte %zu", at);
    }
    // only whitespace may follow the value
    for (const char *p = end; p && p < (const char *)body + len; p++)
        if (!isspace((unsigned char)*p)) {
            cJSON_Delete(root);
            return fail(msg, cap, 400, "body: unexpected data after the JSON value at byte %zu",
                        (size_t)(p - (const char *)body));
        }
    int st = 0;
    const cJSON *inputs = NULL, *outputs = NULL, *params = NULL;
    if (!cJSON_IsObject(root)) {
        st = fail(msg, cap, 400, "body: expected a JSON object {\"inputs\": [...]}");
        goto done;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) continue;
        if (!strcmp(e->string, "inputs")) inputs = e;
        else if (!strcmp(e->string, "outputs")) outputs = e;
        else if (!strcmp(e->string, "parameters")) params = e;
        else if (!strcmp(e->string, "id")) {
            if (!cJSON_IsString(e) || strlen(e->valuestring) >= sizeof in->id) {
                st = fail(msg, cap, 400, "id: expected a string of at most %zu bytes", sizeof in->id - 1);
                goto done;
            }
            snprintf(in->id, sizeof in->id, "%s", e->valuestring);
        } else {
            st = fail(msg, cap, 400, "body: unknown field '%.64s' (id, parameters, inputs, outputs)", e->string);
            goto done;
        }
    }
    if (params) {
        if (!cJSON_IsObject(params)) {
            st = fail(msg, cap, 400, "parameters: expected an object");
            goto done;
        }
        // the keys this server knows; others (a client's own) are ignored,
        // as the protocol lets parameters carry anything
        for (const cJSON *e = params->child; e; e = e->next) {
            if (!e->string) continue;
            int *slot = !strcmp(e->string, "top_k") ? &q->top_k
                        : !strcmp(e->string, "logits") ? &q->logits
                        : !strcmp(e->string, "probabilities") ? &q->probabilities
                        : NULL;
            if (!slot) continue;
            int v;
            if (slot == &q->top_k) {
                if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 1 ||
                    e->valuedouble > 1000000) {
                    st = fail(msg, cap, 400, "parameters.top_k: expected an integer >= 1");
                    goto done;
                }
                v = (int)e->valuedouble;
            } else {
                if (!cJSON_IsBool(e)) {
                    st = fail(msg, cap, 400, "parameters.%s: expected true or false", e->string);
                    goto done;
                }
                v = cJSON_IsTrue(e);
            }
            *slot = v; // the body wins over the query string
        }
    }
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) != 1) {
        st = fail(msg, cap, 400, "inputs: expected an array with one tensor (this model has one input, \"input\")");
        goto done;
    }
    const cJSON *t = inputs->child, *name = NULL, *shape = NULL, *dt = NULL, *data = NULL;
    if (!cJSON_IsObject(t)) {
        st = fail(msg, cap, 400, "inputs[0]: expected an object {name, shape, datatype, data}");
        goto done;
    }
    for (const cJSON *e = t->child; e; e = e->next) {
        if (!e->string) continue;
        if (!strcmp(e->string, "name")) name = e;
        else if (!strcmp(e->string, "shape")) shape = e;
        else if (!strcmp(e->string, "datatype")) dt = e;
        else if (!strcmp(e->string, "data")) data = e;
        else if (strcmp(e->string, "parameters")) {
            st = fail(msg, cap, 400, "inputs[0]: unknown field '%.64s' (name, shape, datatype, parameters, data)",
                      e->string);
            goto done;
        }
    }
    if (!cJSON_IsString(name) || strcmp(name->valuestring, "input")) {
        st = fail(msg, cap, 400, "inputs[0].name: expected \"input\"");
        goto done;
    }
    if (!cJSON_IsString(dt)) {
        st = fail(msg, cap, 400, "inputs[0].datatype: expected FP32, FP64 or UINT8");
        goto done;
    }
    dtype kind;
    if (!strcmp(dt->valuestring, "FP32")) kind = DT_FP32;
    else if (!strcmp(dt->valuestring, "FP64")) kind = DT_FP64;
    else if (!strcmp(dt->valuestring, "UINT8")) kind = DT_UINT8;
    else {
        st = fail(msg, cap, 400, "inputs[0].datatype '%.32s': expected FP32, FP64 (normalised inputs) or UINT8 (pixels)",
                  dt->valuestring);
        goto done;
    }
    int rank = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    long dims[4] = {0};
    if (rank != 3 && rank != 4) {
        st = fail(msg, cap, 400, "inputs[0].shape: expected [N,%d,%d,%d] or [%d,%d,%d]", sh->c, sh->h, sh->w, sh->c,
                  sh->h, sh->w);
        goto done;
    }
    int k = 0;
    for (const cJSON *e = shape->child; e; e = e->next, k++) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v <= 1e9) || v != floor(v)) {
            st = fail(msg, cap, 400, "inputs[0].shape[%d]: expected a non-negative integer", k);
            goto done;
        }
        dims[k] = (long)v;
    }
    long n = rank == 4 ? dims[0] : 1;
    const long *chw = rank == 4 ? dims + 1 : dims;
    if (chw[0] != sh->c || chw[1] != sh->h || chw[2] != sh->w) {
        st = fail(msg, cap, 400, "inputs[0].shape: [...,%ld,%ld,%ld] but the model takes %dx%dx%d inputs", chw[0],
                  chw[1], chw[2], sh->c, sh->h, sh->w);
        goto done;
    }
    if (n < 1 || n > sh->max_rows) {
        st = fail(msg, cap, n < 1 ? 400 : 413, "inputs[0].shape[0]=%ld: a request holds 1 to %d rows", n,
                  sh->max_rows);
        goto done;
    }
    if (!cJSON_IsArray(data)) {
        st = fail(msg, cap, 400, "inputs[0].data: expected an array of numbers");
        goto done;
    }
    if ((st = ensure_rows(in, (int)n, in_size, msg, cap))) goto done;
    flat f = {in->x, 0, (size_t)n * in_size, kind, 1.0f / (255.0f * sh->std), sh->mean / sh->std, msg, cap};
    if ((st = flatten(&f, data, 1))) goto done;
    if (f.n != f.want) {
        st = fail(msg, cap, 400, "inputs[0].data: %zu values, the shape [%ld,%d,%d,%d] holds %zu", f.n, n, sh->c, sh->h,
                  sh->w, f.want);
        goto done;
    }
    in->rows = (int)n;
    if (outputs) {
        if (!cJSON_IsArray(outputs) || !outputs->child) {
            st = fail(msg, cap, 400, "outputs: expected a non-empty array of {\"name\": ...}");
            goto done;
        }
        unsigned mask = 0;
        for (const cJSON *e = outputs->child; e; e = e->next) {
            const cJSON *nm = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "name") : NULL;
            int j = -1;
            for (int i = 0; cJSON_IsString(nm) && i < 5; i++)
                if (!strcmp(nm->valuestring, out_names[i])) j = i;
            if (j < 0) {
                st = fail(msg, cap, 400,
                          "outputs: each is {\"name\": N} with N one of probabilities, logits, top_k_index, "
                          "top_k_label, top_k_probability");
                goto done;
            }
            mask |= 1u << j;
        }
        in->outputs = mask;
    }
done:
    cJSON_Delete(root);
    return st;
}

int serve_parse_body(serve_input *in, serve_query *q, const serve_shape *sh, const char *content_type,
                     const uint8_t *body, size_t len, char *msg, size_t cap) {
    in->rows = 0;
    in->outputs = 0;
    in->id[0] = 0;
    in->is_image = false;
    if (len == 0) return fail(msg, cap, 400, "body: empty (send a JSON tensor or an image)");
    char mt[64];
    media_type(mt, sizeof mt, content_type);
    // curl --data sends this when told nothing else: take it as no type at all
    if (!strcmp(mt, "application/x-www-form-urlencoded")) mt[0] = 0;
    size_t first = 0;
    while (first < len && isspace(body[first])) first++;
    bool json = !strcmp(mt, "application/json") || (!mt[0] && first < len && body[first] == '{');
    bool image = !strncmp(mt, "image/", 6) || !strcmp(mt, "application/octet-stream") || (!mt[0] && !json);
    int st;
    if (json) st = parse_json(in, q, sh, body, len, msg, cap);
    else if (image) st = parse_image(in, sh, body, len, msg, cap);
    else
        return fail(msg, cap, 415,
                    "Content-Type '%.48s': expected application/json or an image (image/png, image/x-portable-graymap, "
                    "image/jpeg, application/octet-stream)",
                    mt);
    if (st) return st;
    // what to send back: the body's "outputs", else the defaults plus the query's wishes
    unsigned out = in->outputs ? in->outputs : SERVE_OUT_DEFAULT;
    if (q->logits == 1) out |= SERVE_OUT_LOGITS;
    if (q->logits == 0) out &= ~(unsigned)SERVE_OUT_LOGITS;
    if (q->probabilities == 1) out |= SERVE_OUT_PROBS;
    if (q->probabilities == 0) out &= ~(unsigned)SERVE_OUT_PROBS;
    if (!out) out = SERVE_OUT_TOPK;
    in->outputs = out;
    return 0;
}

// ---------------------------------------------------------------------------
// Responses

char *serve_error_json(const char *msg) {
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "error", msg)) s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void serve_softmax(float *p, const float *z, int K) {
    // the very arithmetic of dc_session_predict, so both give the same bits
    dc_softmax_xent_forward(p, z, NULL, NULL, 1, K);
}

// A float as the shortest of %.9g (which reads back to the same float):
// cJSON's own double formatting would print 17 digits for most floats.
static cJSON *float_raw(float v) {
    char b[32];
    if (!isfinite(v)) return cJSON_CreateNull();
    snprintf(b, sizeof b, "%.9g", (double)v);
    return cJSON_CreateRaw(b);
}

// An integer as a raw number (cJSON_CreateNumber prints through a double
// and checks it by reading it back: several times slower, same text).
static cJSON *int_raw(int v) {
    char b[16];
    snprintf(b, sizeof b, "%d", v);
    return cJSON_CreateRaw(b);
}

static cJSON *tensor(cJSON *outputs, const char *name, const char *dt, int rows, int cols) {
    cJSON *t = cJSON_CreateObject();
    if (!t) return NULL;
    cJSON_AddItemToArray(outputs, t);
    // names and types are constants: referenced, not copied
    cJSON_AddItemToObjectCS(t, "name", cJSON_CreateStringReference(name));
    cJSON_AddItemToObjectCS(t, "datatype", cJSON_CreateStringReference(dt));
    cJSON *shape = cJSON_CreateArray();
    cJSON_AddItemToObjectCS(t, "shape", shape);
    cJSON_AddItemToArray(shape, int_raw(rows));
    cJSON_AddItemToArray(shape, int_raw(cols));
    cJSON *data = cJSON_CreateArray();
    cJSON_AddItemToObjectCS(t, "data", data);
    return data;
}

char *serve_infer_json(const char *model, int version, const char *id, const float *logits, int rows, int K,
                       const char *const *labels, int k, unsigned outputs) {
    if (k > K) k = K;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", version);
    cJSON_AddItemToObjectCS(o, "model_name", cJSON_CreateStringReference(model));
    cJSON_AddItemToObjectCS(o, "model_version", cJSON_CreateString(ver));
    if (id && id[0]) cJSON_AddItemToObjectCS(o, "id", cJSON_CreateStringReference(id));
    cJSON *outs = cJSON_CreateArray();
    cJSON_AddItemToObjectCS(o, "outputs", outs);
    float p[1024], *pp = K <= 1024 ? p : malloc(sizeof(float) * (size_t)K);
    int ord[64];
    cJSON *d_probs = NULL, *d_logits = NULL, *d_idx = NULL, *d_lab = NULL, *d_tp = NULL;
    if (outputs & SERVE_OUT_PROBS) d_probs = tensor(outs, "probabilities", "FP32", rows, K);
    if (outputs & SERVE_OUT_LOGITS) d_logits = tensor(outs, "logits", "FP32", rows, K);
    if (k > 64) k = 64;
    if (outputs & SERVE_OUT_TOPK_INDEX) d_idx = tensor(outs, "top_k_index", "INT32", rows, k);
    if (outputs & SERVE_OUT_TOPK_LABEL) d_lab = tensor(outs, "top_k_label", "BYTES", rows, k);
    if (outputs & SERVE_OUT_TOPK_PROB) d_tp = tensor(outs, "top_k_probability", "FP32", rows, k);
    for (int r = 0; pp && r < rows; r++) {
        const float *z = logits + (size_t)r * K;
        serve_softmax(pp, z, K);
        for (int c = 0; d_probs && c < K; c++) cJSON_AddItemToArray(d_probs, float_raw(pp[c]));
        for (int c = 0; d_logits && c < K; c++) cJSON_AddItemToArray(d_logits, float_raw(z[c]));
        // top k by probability, the lower index first on ties (as deepc predict)
        int n = 0;
        for (int c = 0; c < K; c++) {
            int pos;
            if (n < k) pos = n++;
            else if (pp[c] > pp[ord[k - 1]]) pos = k - 1;
            else continue;
            while (pos > 0 && pp[c] > pp[ord[pos - 1]]) {
                ord[pos] = ord[pos - 1];
                pos--;
            }
            ord[pos] = c;
        }
        for (int j = 0; j < k; j++) {
            if (d_idx) cJSON_AddItemToArray(d_idx, int_raw(ord[j]));
            if (d_lab) cJSON_AddItemToArray(d_lab, cJSON_CreateStringReference(labels[ord[j]]));
            if (d_tp) cJSON_AddItemToArray(d_tp, float_raw(pp[ord[j]]));
        }
    }
    // printed into a stack buffer first (cJSON_PrintUnformatted would grow
    // its own by reallocs), then copied out at its size
    char stack[8192], *s = NULL;
    if (pp && cJSON_PrintPreallocated(o, stack, sizeof stack, false)) s = strdup(stack);
    else if (pp) s = cJSON_PrintUnformatted(o);
    if (pp != p) free(pp);
    cJSON_Delete(o);
    return s;
}
