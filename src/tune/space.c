// space.c — the search-space file: strict parsing with line numbers, and
// seeded sampling (see space.h).
//
// cJSON gives the values but not where they were; key_line() rescans the
// (already valid) text for a key's position, tracking strings, escapes and
// nesting, so every message can name the line.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/space.h"

static const char *const dist_names[] = {"log_uniform", "uniform", "int", "choice"};

const char *dc_dist_name(dc_dist_kind d) { return dist_names[d]; }

// ---------------------------------------------------------------------------
// Positions

static int line_at(const char *text, size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos; i++) line += text[i] == '\n';
    return line;
}

// The line of the nth (0-based) key k1 at depth 1 or, with k2, of key k2
// inside that k1's object (depth 2). 0 when not found (a key spelt with
// escapes, say).
static int key_line_nth(const char *t, size_t len, const char *k1, const char *k2, int nth) {
    int depth = 0, line = 1, in_top = 0, seen = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '\n') line++;
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (depth == 2 && in_top) in_top = 0;
            depth--;
        } else if (c == '"') {
            size_t s = i + 1, e = s;
            while (e < len && t[e] != '"') e += t[e] == '\\' ? 2 : 1;
            if (e >= len) return 0;
            size_t j = e + 1;
            while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r' || t[j] == '\n')) j++;
            const bool is_key = j < len && t[j] == ':';
            const size_t kl = e - s;
            if (is_key && depth == 1) {
                in_top = strlen(k1) == kl && !memcmp(t + s, k1, kl) && seen++ == nth;
                if (in_top && !k2) return line;
            } else if (is_key && depth == 2 && in_top && k2 && strlen(k2) == kl && !memcmp(t + s, k2, kl)) {
                return line;
            }
            for (size_t k = s; k < e; k++) line += t[k] == '\n';
            i = e;
        }
    }
    return 0;
}

static int key_line(const char *t, size_t len, const char *k1, const char *k2) {
    return key_line_nth(t, len, k1, k2, 0);
}

typedef struct ctx {
    const char *text;
    size_t len;
    const char *origin;
    dc_error *err;
} ctx;

// "origin:line: " for key k1 (and k2 inside it) into buf.
static void where(char *buf, size_t cap, const ctx *c, const char *k1, const char *k2) {
    int l = k1 ? key_line(c->text, c->len, k1, k2) : 0;
    if (!l && k2) l = key_line(c->text, c->len, k1, NULL);
    if (l) snprintf(buf, cap, "%s:%d", c->origin, l);
    else snprintf(buf, cap, "%s", c->origin);
}

#define FAIL(c, k1, k2, ...)                                                                                       \
    do {                                                                                                           \
        char w_[600], m_[700];                                                                                     \
        where(w_, sizeof w_, c, k1, k2);                                                                           \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                                      \
        return dc_fail((c)->err, DC_ERR_FORMAT, "%s: %s", w_, m_);                                                 \
    } while (0)

// ---------------------------------------------------------------------------
// Parsing

static dc_status parse_number(const ctx *c, const char *key, const char *dist, const cJSON *v, const dc_topt *t,
                              double *out) {
    char range[160];
    dc_topt_range_text(t, range, sizeof range);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        FAIL(c, key, dist, "\"%s\": %s: expected finite numbers, %s", key, dist, range);
    double x = v->valuedouble;
    if (t->type == DC_TOPT_INT && x != floor(x)) FAIL(c, key, dist, "\"%s\": %s: %g is not an integer", key, dist, x);
    if (t->type == DC_TOPT_FLOAT && fabs(x) <= 3.4e38) x = (float)x; // the value that will be trained with
    if (!dc_topt_in_range(t, x))
        FAIL(c, key, dist, "\"%s\": %s: %g is outside the option's range %s", key, dist, v->valuedouble, range);
    *out = x;
    return DC_OK;
}

static dc_status parse_choice(const ctx *c, const char *key, const cJSON *v, const dc_topt *t, double *out) {
    char range[160];
    dc_topt_range_text(t, range, sizeof range);
    switch (t->type) {
    case DC_TOPT_BOOL:
        if (!cJSON_IsBool(v)) FAIL(c, key, "choice", "\"%s\": choice: expected true or false", key);
        *out = cJSON_IsTrue(v) ? 1.0 : 0.0;
        return DC_OK;
    case DC_TOPT_ENUM:
        if (!cJSON_IsString(v)) FAIL(c, key, "choice", "\"%s\": choice: expected strings, %s", key, range);
        for (int i = 0; t->choices[i]; i++)
            if (!strcmp(v->valuestring, t->choices[i])) {
                *out = i;
                return DC_OK;
            }
        FAIL(c, key, "choice", "\"%s\": choice: \"%s\" is not %s", key, v->valuestring, range);
    case DC_TOPT_FLOAT:
    case DC_TOPT_INT:
        return parse_number(c, key, "choice", v, t, out);
    }
    return DC_OK;
}

// A duplicate key among an object's children, or NULL.
static const char *duplicate_key(const cJSON *obj) {
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string)) return a->string;
    return NULL;
}

static dc_status parse_param(const ctx *c, dc_tune_param *p, const cJSON *item) {
    const char *key = item->string;
    const dc_topt *t = dc_topt_find(key);
    if (!t) {
        char known[512];
        dc_topt_list(known, sizeof known);
        if (!strcmp(key, "epochs"))
            FAIL(c, key, NULL, "\"epochs\" is the budget (--budget), not a hyperparameter to search");
        const char *s = dc_topt_suggest(key);
        if (s) FAIL(c, key, NULL, "unknown option \"%s\" (did you mean \"%s\"?)", key, s);
        FAIL(c, key, NULL, "unknown option \"%s\" (tunable: %s)", key, known);
    }
    memset(p, 0, sizeof *p);
    p->opt = t;
    snprintf(p->key, sizeof p->key, "%s", key);
    p->line = key_line(c->text, c->len, key, NULL);
    if (!cJSON_IsObject(item))
        FAIL(c, key, NULL, "\"%s\": expected an object such as {\"choice\": [...]} or {\"log_uniform\": [lo, hi]}",
             key);
    const cJSON *d = item->child;
    if (!d) FAIL(c, key, NULL, "\"%s\": empty object: give one of log_uniform, uniform, int, choice", key);
    if (d->next)
        FAIL(c, key, d->next->string, "\"%s\": one distribution per option, found \"%s\" and \"%s\"", key, d->string,
             d->next->string);
    int kind = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(d->string, dist_names[i])) kind = i;
    if (kind < 0)
        FAIL(c, key, d->string, "\"%s\": unknown distribution \"%s\" (log_uniform, uniform, int, choice)", key,
             d->string);
    p->dist = (dc_dist_kind)kind;
    const char *dn = dist_names[kind];
    if (!cJSON_IsArray(d)) FAIL(c, key, dn, "\"%s\": %s: expected an array", key, dn);
    const int n = cJSON_GetArraySize(d);
    if (p->dist == DC_DIST_CHOICE) {
        if (n < 1 || n > DC_TUNE_MAX_CHOICES)
            FAIL(c, key, dn, "\"%s\": choice: expected 1 to %d values, found %d", key, DC_TUNE_MAX_CHOICES, n);
        int i = 0;
        for (const cJSON *v = d->child; v; v = v->next, i++) {
            dc_status st = parse_choice(c, key, v, t, &p->choices[i]);
            if (st) return st;
            for (int j = 0; j < i; j++)
                if (p->choices[j] == p->choices[i]) FAIL(c, key, dn, "\"%s\": choice: value %d repeats value %d", key, i + 1, j + 1);
        }
        p->n_choices = n;
        return DC_OK;
    }
    if (n != 2) FAIL(c, key, dn, "\"%s\": %s: expected [lo, hi], found %d values", key, dn, n);
    if (p->dist == DC_DIST_INT && t->type != DC_TOPT_INT)
        FAIL(c, key, dn, "\"%s\": int: the option is not an integer option (use uniform, log_uniform or choice)", key);
    if (p->dist != DC_DIST_INT && t->type != DC_TOPT_FLOAT)
        FAIL(c, key, dn, "\"%s\": %s: needs a real-valued option (use %s)", key, dn,
             t->type == DC_TOPT_INT ? "int or choice" : "choice");
    dc_status st = parse_number(c, key, dn, cJSON_GetArrayItem(d, 0), t, &p->lo);
    if (!st) st = parse_number(c, key, dn, cJSON_GetArrayItem(d, 1), t, &p->hi);
    if (st) return st;
    if (p->dist == DC_DIST_LOG_UNIFORM && !(p->lo > 0 && p->lo < p->hi))
        FAIL(c, key, dn, "\"%s\": log_uniform [%g, %g]: needs 0 < lo < hi", key, p->lo, p->hi);
    if (p->dist == DC_DIST_UNIFORM && !(p->lo < p->hi))
        FAIL(c, key, dn, "\"%s\": uniform [%g, %g]: needs lo < hi", key, p->lo, p->hi);
    if (p->dist == DC_DIST_INT && !(p->lo <= p->hi))
        FAIL(c, key, dn, "\"%s\": int [%g, %g]: needs lo <= hi", key, p->lo, p->hi);
    return DC_OK;
}

dc_status dc_tune_space_parse(dc_tune_space *sp, const char *text, size_t len, const char *origin, dc_error *err) {
    memset(sp, 0, sizeof *sp);
    ctx c = {text, len, origin, err};
    if (len > DC_TUNE_MAX_SPACE_BYTES)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %zu bytes, more than a search space may have (%d)", origin, len,
                       DC_TUNE_MAX_SPACE_BYTES);
    if (memchr(text, 0, len)) return dc_fail(err, DC_ERR_FORMAT, "%s:%d: a NUL byte: not a text file", origin,
                                             line_at(text, (size_t)((const char *)memchr(text, 0, len) - text)));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j) {
        size_t pos = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        // the text need not end in a NUL: never print past len
        const int show = len - pos < 20 ? (int)(len - pos) : 20;
        if (!show) return dc_fail(err, DC_ERR_FORMAT, "%s:%d: malformed JSON at the end of the file", origin,
                                  line_at(text, pos));
        return dc_fail(err, DC_ERR_FORMAT, "%s:%d: malformed JSON near '%.*s'", origin, line_at(text, pos), show,
                       text + pos);
    }
    size_t pos = end ? (size_t)(end - text) : len;
    while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')) pos++;
    dc_status st = DC_OK;
    if (pos < len)
        st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: text after the JSON object: '%.*s'", origin, line_at(text, pos),
                     len - pos < 20 ? (int)(len - pos) : 20, text + pos);
    else if (!cJSON_IsObject(j))
        st = dc_fail(err, DC_ERR_FORMAT, "%s:1: expected a JSON object of options, such as {\"lr\": {\"log_uniform\": [0.001, 0.1]}}",
                     origin);
    else if (!j->child)
        st = dc_fail(err, DC_ERR_FORMAT, "%s:1: the space names no option", origin);
    for (const cJSON *it = st ? NULL : j->child; it && !st; it = it->next) {
        if (it->type & cJSON_Object) {
            const char *dup = duplicate_key(it);
            if (dup) {
                char w[600];
                where(w, sizeof w, &c, it->string, dup);
                st = dc_fail(err, DC_ERR_FORMAT, "%s: \"%s\": key \"%s\" given twice", w, it->string, dup);
                break;
            }
        }
        if (sp->n == DC_TUNE_MAX_PARAMS) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: more than %d options", origin, DC_TUNE_MAX_PARAMS);
            break;
        }
        st = parse_param(&c, &sp->p[sp->n], it);
        if (!st) {
            for (int k = 0; k < sp->n && !st; k++)
                if (sp->p[k].opt == sp->p[sp->n].opt) {
                    const bool same = !strcmp(sp->p[k].key, it->string);
                    int l = key_line_nth(text, len, it->string, NULL, same ? 1 : 0);
                    if (l) st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: option \"%s\" given twice (first as \"%s\")",
                                        origin, l, it->string, sp->p[k].key);
                    else st = dc_fail(err, DC_ERR_FORMAT, "%s: option \"%s\" given twice (first as \"%s\")", origin,
                                      it->string, sp->p[k].key);
                }
            sp->n++;
        }
    }
    cJSON_Delete(j);
    if (st) memset(sp, 0, sizeof *sp);
    return st;
}

dc_status dc_tune_space_read(dc_tune_space *sp, const char *path, char **text_out, dc_error *err) {
    if (text_out) *text_out = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    dc_status st = dc_read_file(path, &data, &len, DC_TUNE_MAX_SPACE_BYTES, err);
    if (st) return st;
    st = dc_tune_space_parse(sp, (const char *)data, len, path, err);
    if (!st && text_out) {
        char *t = malloc(len + 1);
        if (!t) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
        else {
            memcpy(t, data, len);
            t[len] = 0;
            *text_out = t;
        }
    }
    free(data);
    return st;
}

// ---------------------------------------------------------------------------
// Sampling

void dc_tune_space_sample(const dc_tune_space *sp, double *values, dc_rng *rng) {
    for (int i = 0; i < sp->n; i++) {
        const dc_tune_param *p = &sp->p[i];
        double v = 0;
        switch (p->dist) {
        case DC_DIST_LOG_UNIFORM: {
            double u = dc_rng_uniform(rng), a = log(p->lo), b = log(p->hi);
            v = exp(a + u * (b - a));
            break;
        }
        case DC_DIST_UNIFORM:
            v = p->lo + dc_rng_uniform(rng) * (p->hi - p->lo);
            break;
        case DC_DIST_INT:
            v = p->lo + (double)dc_rng_below(rng, (uint32_t)(p->hi - p->lo + 1));
            break;
        case DC_DIST_CHOICE:
            v = p->choices[dc_rng_below(rng, (uint32_t)p->n_choices)];
            break;
        }
        if (p->opt->type == DC_TOPT_FLOAT) {
            float f = (float)v; // the value trained with; kept inside [lo, hi]
            if (p->dist != DC_DIST_CHOICE) {
                if (f < (float)p->lo) f = (float)p->lo;
                if (f > (float)p->hi) f = (float)p->hi;
            }
            v = f;
        }
        values[i] = v;
    }
}

void dc_tune_space_apply(const dc_tune_space *sp, const double *values, dc_trainopts *o) {
    for (int i = 0; i < sp->n; i++) dc_topt_set(o, sp->p[i].opt, values[i]);
}

bool dc_tune_space_contains(const dc_tune_space *sp, const double *values) {
    for (int i = 0; i < sp->n; i++) {
        const dc_tune_param *p = &sp->p[i];
        const double v = values[i];
        if (!dc_topt_in_range(p->opt, v)) return false;
        if (p->dist == DC_DIST_CHOICE) {
            bool hit = false;
            for (int k = 0; k < p->n_choices; k++) hit |= p->choices[k] == v;
            if (!hit) return false;
        } else if (!(v >= (float)p->lo && v <= (float)p->hi && v >= p->lo - fabs(p->lo) * 1e-6 &&
                     v <= p->hi + fabs(p->hi) * 1e-6)) {
            return false;
        } else if (p->dist == DC_DIST_INT && v != floor(v)) {
            return false;
        }
    }
    return true;
}

void dc_tune_value_text(const dc_tune_param *p, double v, char *buf, size_t cap) {
    switch (p->opt->type) {
    case DC_TOPT_BOOL: snprintf(buf, cap, "%s", v != 0 ? "true" : "false"); break;
    case DC_TOPT_ENUM: snprintf(buf, cap, "%s", p->opt->choices[(int)v]); break;
    case DC_TOPT_INT: snprintf(buf, cap, "%d", (int)v); break;
    case DC_TOPT_FLOAT: snprintf(buf, cap, "%.4g", v); break;
    }
}
