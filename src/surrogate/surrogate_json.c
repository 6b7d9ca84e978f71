// surrogate_json.c — surrogate models as JSON files: written with cJSON, one
// tree node per line, and read back by a strict parser whose every error
// names the line (contract in surrogate.h).
//
// A tree node is an axis split {"feature", "threshold", ...}, a leaf
// (feature -1) or an oblique split {"weights": [[feature, weight], ...],
// "bias", ...} (sum of weight * x[feature] + bias <= 0 goes left, in the
// original feature units); weights, biases and impurities are written with
// 17 digits so that they come back bit for bit.
//
// cJSON keeps no positions, so lines come from a small scanner over the
// text (locate): the line of a top-level key, or of the i-th element of a
// top-level array ("nodes"). A syntax error names the line and column where
// cJSON stopped.
//
// Legend: F features, C classes, R regions, H, W the image side.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "surrogate/surrogate.h"

#define FORMAT_NAME "deepc-surrogate"
#define FORMAT_VERSION 1
#define MAX_SIDE 4096
#define MAX_CLASSES 4096
#define MAX_NODES (1 << 24)

// ---------------------------------------------------------------------------
// Writing

static cJSON *curve_json(const dc_surrogate *s) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; a && d < s->curve_n; d++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "depth", d + 1);
        cJSON_AddNumberToObject(o, "fidelity", s->curve_fidelity[d]);
        cJSON_AddNumberToObject(o, "train_fidelity", s->curve_train_fidelity[d]);
        cJSON_AddNumberToObject(o, "accuracy", s->curve_accuracy[d]);
        cJSON_AddNumberToObject(o, "leaves", s->curve_leaves[d]);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

// A double printed with 17 significant digits as a raw JSON number: cJSON's
// own printer keeps 15 unless the value fails its tolerant round-trip test,
// so a double could come back one ulp off; these come back bit for bit.
static cJSON *num17(double v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static cJSON *doubles(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num17(v[i]));
    return a;
}

static cJSON *floats(const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

// Appends `"key": <item unformatted>` to the text; frees item.
static bool put_member(char **txt, size_t *len, size_t *cap, const char *key, cJSON *item, bool last) {
    char *v = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (!v) return false;
    const size_t need = strlen(key) + strlen(v) + 16;
    if (*len + need > *cap) {
        size_t nc = (*cap + need) * 2;
        char *nt = realloc(*txt, nc);
        if (!nt) {
            free(v);
            return false;
        }
        *txt = nt;
        *cap = nc;
    }
    *len += (size_t)snprintf(*txt + *len, *cap - *len, "\"%s\": %s%s\n", key, v, last ? "" : ",");
    free(v);
    return true;
}

static bool put_raw(char **txt, size_t *len, size_t *cap, const char *s) {
    const size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap + n + 1) * 2;
        char *nt = realloc(*txt, nc);
        if (!nt) return false;
        *txt = nt;
        *cap = nc;
    }
    memcpy(*txt + *len, s, n + 1);
    *len += n;
    return true;
}

dc_status dc_surrogate_to_json(const dc_surrogate *s, char **json, dc_error *err) {
    *json = NULL;
    const int C = s->n_classes, F = s->feat.n_features;
    size_t len = 0, cap = 0;
    char *txt = NULL;
    bool ok = put_raw(&txt, &len, &cap, "{\n");
    ok = ok && put_member(&txt, &len, &cap, "format", cJSON_CreateString(FORMAT_NAME), false);
    ok = ok && put_member(&txt, &len, &cap, "version", cJSON_CreateNumber(FORMAT_VERSION), false);
    ok = ok && put_member(&txt, &len, &cap, "kind", cJSON_CreateString(s->kind == DC_SURR_TREE ? "tree" : "linear"),
                          false);
    ok = ok && put_member(&txt, &len, &cap, "model", cJSON_CreateString(s->model_path), false);
    cJSON *fe = cJSON_CreateObject();
    if (fe) {
        cJSON_AddStringToObject(fe, "spec", s->feat.spec);
        cJSON_AddNumberToObject(fe, "c", s->feat.c);
        cJSON_AddNumberToObject(fe, "h", s->feat.h);
        cJSON_AddNumberToObject(fe, "w", s->feat.w);
        cJSON_AddNumberToObject(fe, "regions", s->feat.n_regions);
        cJSON_AddItemToObject(fe, "map", cJSON_CreateIntArray(s->feat.region, s->feat.h * s->feat.w));
    }
    ok = ok && put_member(&txt, &len, &cap, "features", fe, false);
    cJSON *cl = cJSON_CreateArray();
    for (int k = 0; cl && k < C; k++) cJSON_AddItemToArray(cl, cJSON_CreateString(s->class_names[k]));
    ok = ok && put_member(&txt, &len, &cap, "classes", cl, false);
    cJSON *sc = cJSON_CreateObject();
    if (sc) {
        cJSON_AddNumberToObject(sc, "fidelity", s->fidelity);
        cJSON_AddNumberToObject(sc, "accuracy", s->accuracy);
        cJSON_AddNumberToObject(sc, "train_fidelity", s->train_fidelity);
        cJSON_AddNumberToObject(sc, "network_accuracy", s->network_accuracy);
        cJSON_AddNumberToObject(sc, "n_train", s->n_train);
        cJSON_AddNumberToObject(sc, "n_test", s->n_test);
    }
    ok = ok && put_member(&txt, &len, &cap, "scores", sc, false);
    if (s->kind == DC_SURR_TREE) {
        cJSON *co = cJSON_CreateObject();
        if (co) {
            cJSON_AddStringToObject(co, "criterion", s->tree_cfg.criterion == DC_TREE_ENTROPY ? "entropy" : "gini");
            cJSON_AddNumberToObject(co, "max_depth", s->tree_cfg.max_depth);
            cJSON_AddNumberToObject(co, "min_leaf", s->tree_cfg.min_leaf);
            cJSON_AddNumberToObject(co, "min_split", s->tree_cfg.min_split);
            cJSON_AddNumberToObject(co, "ccp_alpha", s->tree_cfg.ccp_alpha);
            cJSON_AddNumberToObject(co, "refine", s->tree_cfg.refine);
            if (s->tree_cfg.split == DC_SPLIT_OBLIQUE) { // absent for axis trees: their files are as before
                cJSON_AddStringToObject(co, "splits", "oblique");
                cJSON_AddItemToObject(co, "lambda", num17(s->tree_cfg.lambda));
                cJSON_AddNumberToObject(co, "max_iter", s->tree_cfg.max_iter);
            }
        }
        ok = ok && put_member(&txt, &len, &cap, "config", co, false);
        ok = ok && put_member(&txt, &len, &cap, "curve", curve_json(s), false);
        ok = ok && put_raw(&txt, &len, &cap, "\"nodes\": [\n");
        const dc_tree *t = &s->tree;
        for (int i = 0; ok && i < t->n_nodes; i++) {
            const dc_tree_node *d = &t->nodes[i];
            cJSON *o = cJSON_CreateObject();
            if (!o) {
                ok = false;
                break;
            }
            if (d->feature == DC_TREE_OBLIQUE) {
                cJSON *ws = cJSON_AddArrayToObject(o, "weights");
                for (int k = 0; ws && k < d->w_n; k++) {
                    cJSON *pr = cJSON_CreateArray();
                    cJSON_AddItemToArray(pr, cJSON_CreateNumber(t->w_feature[d->w_off + k]));
                    cJSON_AddItemToArray(pr, num17(t->w_value[d->w_off + k]));
                    cJSON_AddItemToArray(ws, pr);
                }
                cJSON_AddItemToObject(o, "bias", num17(d->bias));
            } else {
                cJSON_AddNumberToObject(o, "feature", d->feature);
                cJSON_AddNumberToObject(o, "threshold", d->threshold);
            }
            cJSON_AddNumberToObject(o, "left", d->left);
            cJSON_AddNumberToObject(o, "right", d->right);
            cJSON_AddNumberToObject(o, "n", d->n);
            cJSON_AddNumberToObject(o, "class", d->klass);
            cJSON_AddItemToObject(o, "impurity", num17(d->impurity));
            cJSON_AddItemToObject(o, "counts", cJSON_CreateIntArray(t->counts + (size_t)i * C, C));
            char *v = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            ok = v && put_raw(&txt, &len, &cap, v) && put_raw(&txt, &len, &cap, i + 1 < t->n_nodes ? ",\n" : "\n");
            free(v);
        }
        ok = ok && put_raw(&txt, &len, &cap, "]\n}\n");
    } else {
        const dc_linear *lm = &s->lin;
        cJSON *lo = cJSON_CreateObject();
        if (lo) {
            cJSON_AddItemToObject(lo, "lambda", num17(lm->lambda));
            cJSON_AddNumberToObject(lo, "iters", lm->iters);
            cJSON_AddNumberToObject(lo, "nonzero", lm->nonzero);
            cJSON_AddItemToObject(lo, "objective", num17(lm->objective));
            cJSON_AddItemToObject(lo, "mu", floats(lm->mu, F));
            cJSON_AddItemToObject(lo, "sd", floats(lm->sd, F));
            cJSON_AddItemToObject(lo, "b", doubles(lm->b, C));
            cJSON *W = cJSON_AddArrayToObject(lo, "W");
            for (int k = 0; W && k < C; k++) cJSON_AddItemToArray(W, doubles(lm->W + (size_t)k * F, F));
        }
        ok = ok && put_member(&txt, &len, &cap, "linear", lo, true);
        ok = ok && put_raw(&txt, &len, &cap, "}\n");
    }
    if (!ok) {
        free(txt);
        return dc_fail(err, DC_ERR_NOMEM, "surrogate: out of memory writing JSON");
    }
    *json = txt;
    return DC_OK;
}

dc_status dc_surrogate_write(const dc_surrogate *s, const char *path, dc_error *err) {
    char *json;
    dc_status st = dc_surrogate_to_json(s, &json, err);
    if (st) return st;
    dc_buf part = {json, strlen(json)};
    st = dc_write_atomic(path, &part, 1, err);
    free(json);
    return st;
}

// ---------------------------------------------------------------------------
// Locating lines

static int line_at(const char *t, size_t len, size_t off) {
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++) line += t[i] == '\n';
    return line;
}

// Offset of top-level member `key` (its name) or, for idx >= 0, of element
// idx of its array value (the key's offset when there is no such element).
// Returns 0 when the key is not there. Strings are skipped with their escapes.
static size_t locate(const char *t, size_t len, const char *key, int idx) {
    int depth = 0;
    const size_t klen = strlen(key);
    for (size_t i = 0; i < len; i++) {
        const char ch = t[i];
        if (ch == '"') {
            const size_t s0 = i++;
            while (i < len && t[i] != '"') i += t[i] == '\\' ? 2 : 1;
            if (i >= len) return 0;
            if (depth != 1 || i - s0 - 1 != klen || memcmp(t + s0 + 1, key, klen)) continue;
            size_t j = i + 1;
            while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r')) j++;
            if (j >= len || t[j] != ':') continue; // a string value, not a key
            if (idx < 0) return s0;
            j++;
            while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\n' || t[j] == '\r')) j++;
            if (j >= len || t[j] != '[') return s0;
            int d = 0, el = 0;
            bool want_start = true; // the next non-blank character at depth 1 starts an element
            for (size_t q = j; q < len; q++) {
                const char c = t[q];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
                if (d == 1 && want_start) {
                    if (el == idx) return q;
                    want_start = false;
                }
                if (c == '"') {
                    q++;
                    while (q < len && t[q] != '"') q += t[q] == '\\' ? 2 : 1;
                } else if (c == '[' || c == '{') {
                    d++;
                } else if (c == ']' || c == '}') {
                    if (--d == 0) return s0;
                } else if (c == ',' && d == 1) {
                    el++;
                    want_start = true;
                }
            }
            return s0;
        }
        if (ch == '{' || ch == '[') depth++;
        else if (ch == '}' || ch == ']') depth--;
    }
    return 0;
}

typedef struct pctx {
    const char *text, *origin;
    size_t len;
    dc_error *err;
} pctx;

static dc_status perr(const pctx *p, const char *key, int idx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static dc_status perr(const pctx *p, const char *key, int idx, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const int line = key ? line_at(p->text, p->len, locate(p->text, p->len, key, idx)) : 1;
    return dc_fail(p->err, DC_ERR_FORMAT, "%s:%d: %s", p->origin, line, msg);
}

// ---------------------------------------------------------------------------
// Typed getters: each names the line of (key, idx) on failure

static bool only_keys(const cJSON *o, const char *const *keys, const char **bad) {
    for (const cJSON *it = o->child; it; it = it->next) {
        bool known = false;
        for (const char *const *k = keys; *k; k++) known = known || (it->string && !strcmp(it->string, *k));
        if (!known) {
            *bad = it->string ? it->string : "?";
            return false;
        }
    }
    // duplicate keys: cJSON keeps both, the second would be ignored silently
    for (const cJSON *it = o->child; it; it = it->next)
        for (const cJSON *jt = it->next; jt; jt = jt->next)
            if (it->string && jt->string && !strcmp(it->string, jt->string)) {
                *bad = it->string;
                return false;
            }
    return true;
}

static dc_status keys_check(const pctx *p, const cJSON *o, const char *const *keys, const char *what, const char *key,
                            int idx) {
    const char *bad = NULL;
    // at the top level (key NULL) an unknown key names its own line
    if (!only_keys(o, keys, &bad))
        return perr(p, key ? key : bad, key ? idx : -1, "%s: unknown or repeated key \"%s\"", what, bad);
    for (const char *const *k = keys; *k; k++)
        if (!cJSON_GetObjectItemCaseSensitive(o, *k)) return perr(p, key, idx, "%s: missing key \"%s\"", what, *k);
    return DC_OK;
}

static dc_status get_int(const pctx *p, const cJSON *o, const char *name, long lo, long hi, int *out,
                         const char *what, const char *key, int idx) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return perr(p, key, idx, "%s: \"%s\" must be an integer in [%ld, %ld]", what, name, lo, hi);
    *out = (int)v->valuedouble;
    return DC_OK;
}

static dc_status get_num(const pctx *p, const cJSON *o, const char *name, double lo, double hi, double *out,
                         const char *what, const char *key, int idx) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return perr(p, key, idx, "%s: \"%s\" must be a number in [%g, %g]", what, name, lo, hi);
    *out = v->valuedouble;
    return DC_OK;
}

// A numeric array of exactly n finite values into out (doubles).
static dc_status get_darray(const pctx *p, const cJSON *a, int n, double *out, const char *what, const char *key,
                            int idx) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return perr(p, key, idx, "%s must be an array of %d numbers", what, n);
    int i = 0;
    for (const cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            return perr(p, key, idx, "%s: element %d is not a finite number", what, i);
        out[i] = it->valuedouble;
    }
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Parsing

static dc_status parse_features(const pctx *p, dc_surrogate *s, const cJSON *fe) {
    static const char *const keys[] = {"spec", "c", "h", "w", "regions", "map", NULL};
    const char *K = "features";
    if (!cJSON_IsObject(fe)) return perr(p, K, -1, "\"features\" must be an object");
    dc_status st = keys_check(p, fe, keys, "features", K, -1);
    int c = 0, h = 0, w = 0, R = 0;
    if (!st) st = get_int(p, fe, "c", 1, MAX_SIDE, &c, "features", K, -1);
    if (!st) st = get_int(p, fe, "h", 1, MAX_SIDE, &h, "features", K, -1);
    if (!st) st = get_int(p, fe, "w", 1, MAX_SIDE, &w, "features", K, -1);
    if (st) return st;
    if ((int64_t)h * w > (1 << 22) || (int64_t)c * h * w > (1 << 24))
        return perr(p, K, -1, "features: %dx%dx%d images are too large", c, h, w);
    if ((st = get_int(p, fe, "regions", 1, (long)h * w, &R, "features", K, -1))) return st;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(fe, "spec");
    if (!cJSON_IsString(spec) || strlen(spec->valuestring) >= sizeof s->feat.spec)
        return perr(p, K, -1, "features: \"spec\" must be a string of at most %zu characters",
                    sizeof s->feat.spec - 1);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(fe, "map");
    const int P = h * w;
    if (!cJSON_IsArray(map) || cJSON_GetArraySize(map) != P)
        return perr(p, K, -1, "features: \"map\" must be an array of h*w = %d region numbers", P);
    int32_t *reg = malloc(sizeof(int32_t) * (size_t)P);
    if (!reg) return dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory", p->origin);
    int i = 0;
    for (const cJSON *it = map->child; it; it = it->next, i++) {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble >= R) {
            free(reg);
            return perr(p, K, -1, "features: map element %d must be a region number in [0, %d)", i, R);
        }
        reg[i] = (int32_t)it->valuedouble;
    }
    dc_error e2;
    st = dc_surr_features_from_map(&s->feat, spec->valuestring, c, h, w, reg, R, &e2);
    free(reg);
    if (st) return perr(p, K, -1, "%s", e2.msg);
    return DC_OK;
}

// The terms of oblique node i ("weights": [[feature, weight], ...] with
// features ascending, weights finite and nonzero; "bias" finite), appended to
// t's term arrays (*cap their capacity).
static dc_status parse_oblique(const pctx *p, dc_tree *t, dc_tree_node *d, const cJSON *o, int i, int *cap) {
    const char *K = "nodes";
    const int F = t->n_features;
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(o, "weights");
    const int nw = cJSON_IsArray(ws) ? cJSON_GetArraySize(ws) : -1;
    if (nw < 1 || nw > F)
        return perr(p, K, i, "nodes[%d]: \"weights\" must be an array of 1 to %d [feature, weight] pairs", i, F);
    if (t->n_weights + nw > *cap) {
        const int nc = (t->n_weights + nw) * 2;
        int32_t *nf = realloc(t->w_feature, sizeof(int32_t) * (size_t)nc);
        if (nf) t->w_feature = nf;
        double *nv = nf ? realloc(t->w_value, sizeof(double) * (size_t)nc) : NULL;
        if (nv) t->w_value = nv;
        if (!nf || !nv) return dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory for oblique weights", p->origin);
        *cap = nc;
    }
    d->feature = DC_TREE_OBLIQUE;
    d->threshold = 0.0f;
    d->w_off = t->n_weights;
    d->w_n = nw;
    int k = 0;
    for (const cJSON *pr = ws->child; pr; pr = pr->next, k++) {
        const cJSON *f = cJSON_IsArray(pr) && cJSON_GetArraySize(pr) == 2 ? pr->child : NULL, *w = f ? f->next : NULL;
        if (!f || !cJSON_IsNumber(f) || !cJSON_IsNumber(w))
            return perr(p, K, i, "nodes[%d]: weights[%d] must be a [feature, weight] pair of numbers", i, k);
        const int lo = k ? t->w_feature[d->w_off + k - 1] + 1 : 0;
        if (!isfinite(f->valuedouble) || f->valuedouble != floor(f->valuedouble) || f->valuedouble < lo ||
            f->valuedouble > F - 1)
            return perr(p, K, i, "nodes[%d]: weights[%d]: the feature must be an integer in [%d, %d] (features "
                                 "ascending, each once)", i, k, lo, F - 1);
        if (!isfinite(w->valuedouble) || w->valuedouble == 0)
            return perr(p, K, i, "nodes[%d]: weights[%d]: the weight must be a finite nonzero number", i, k);
        t->w_feature[d->w_off + k] = (int32_t)f->valuedouble;
        t->w_value[d->w_off + k] = w->valuedouble;
    }
    t->n_weights += nw;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bias");
    if (!cJSON_IsNumber(b) || !isfinite(b->valuedouble))
        return perr(p, K, i, "nodes[%d]: \"bias\" must be a finite number", i);
    d->bias = b->valuedouble;
    return DC_OK;
}

static dc_status parse_nodes(const pctx *p, dc_surrogate *s, const cJSON *nodes) {
    static const char *const keys[] = {"feature", "threshold", "left", "right", "n", "class", "impurity", "counts",
                                       NULL};
    static const char *const obl_keys[] = {"weights", "bias", "left", "right", "n", "class", "impurity", "counts",
                                           NULL};
    const bool oblique_ok = s->tree_cfg.split == DC_SPLIT_OBLIQUE;
    int w_cap = 0;
    const char *K = "nodes";
    const int C = s->n_classes, F = s->feat.n_features;
    if (!cJSON_IsArray(nodes)) return perr(p, K, -1, "\"nodes\" must be an array");
    const int nn = cJSON_GetArraySize(nodes);
    if (nn < 1 || nn > MAX_NODES) return perr(p, K, -1, "\"nodes\" must hold 1 to %d nodes", MAX_NODES);
    dc_tree *t = &s->tree;
    t->n_classes = C;
    t->n_features = F;
    t->nodes = calloc((size_t)nn, sizeof(dc_tree_node));
    t->counts = calloc((size_t)nn * C, sizeof(int32_t));
    int *parents = calloc((size_t)nn, sizeof(int));
    double *cv = malloc(sizeof(double) * (size_t)C);
    if (!t->nodes || !t->counts || !parents || !cv) {
        free(parents);
        free(cv);
        return dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory for %d nodes", p->origin, nn);
    }
    t->n_nodes = nn;
    dc_status st = DC_OK;
    int i = 0;
    char what[48];
    for (const cJSON *o = nodes->child; o && !st; o = o->next, i++) {
        snprintf(what, sizeof what, "nodes[%d]", i);
        if (!cJSON_IsObject(o)) {
            st = perr(p, K, i, "%s must be an object", what);
            break;
        }
        dc_tree_node *d = &t->nodes[i];
        double thr = 0.0, imp = 0.0;
        const bool obl = cJSON_GetObjectItemCaseSensitive(o, "weights") != NULL;
        if (obl && !oblique_ok) {
            st = perr(p, K, i, "%s: an oblique split (\"weights\") in a tree whose config has no \"splits\": "
                               "\"oblique\"", what);
            break;
        }
        if ((st = keys_check(p, o, obl ? obl_keys : keys, what, K, i))) break;
        if (obl && (st = parse_oblique(p, t, d, o, i, &w_cap))) break;
        if (!obl && (st = get_int(p, o, "feature", -1, F - 1, &d->feature, what, K, i))) break;
        if (!obl && (st = get_num(p, o, "threshold", -HUGE_VAL, HUGE_VAL, &thr, what, K, i))) break;
        if ((st = get_int(p, o, "left", -1, nn - 1, &d->left, what, K, i))) break;
        if ((st = get_int(p, o, "right", -1, nn - 1, &d->right, what, K, i))) break;
        if ((st = get_int(p, o, "n", 0, 2147483647L, &d->n, what, K, i))) break;
        if ((st = get_int(p, o, "class", 0, C - 1, &d->klass, what, K, i))) break;
        if ((st = get_num(p, o, "impurity", 0.0, 1.0, &imp, what, K, i))) break;
        if ((st = get_darray(p, cJSON_GetObjectItemCaseSensitive(o, "counts"), C, cv, "counts", K, i))) break;
        if (fabs(thr) > 3.4e38) {
            st = perr(p, K, i, "%s: threshold %g is outside the float range", what, thr);
            break;
        }
        d->threshold = (float)thr;
        d->impurity = imp;
        int64_t sum = 0;
        for (int k = 0; k < C && !st; k++) {
            if (cv[k] < 0 || cv[k] != floor(cv[k]) || cv[k] > 2147483647.0)
                st = perr(p, K, i, "%s: counts[%d] must be a count (an integer >= 0)", what, k);
            t->counts[(size_t)i * C + k] = (int32_t)cv[k];
            sum += (int64_t)cv[k];
        }
        if (st) break;
        if (sum != d->n) {
            st = perr(p, K, i, "%s: counts add up to %lld but n is %d", what, (long long)sum, d->n);
            break;
        }
        const bool leaf = d->feature == DC_TREE_LEAF;
        if (leaf && (d->left != -1 || d->right != -1)) {
            st = perr(p, K, i, "%s: a leaf (feature -1) must have left and right -1", what);
            break;
        }
        if (!leaf && (d->left <= i || d->right <= i || d->left == d->right)) {
            st = perr(p, K, i, "%s: children %d and %d must be two different nodes listed after it", what, d->left,
                      d->right);
            break;
        }
        if (!leaf) {
            parents[d->left]++;
            parents[d->right]++;
        }
        if (i == 0) d->depth = 0;
    }
    for (int q = 0; q < nn && !st; q++) {
        const int want = q == 0 ? 0 : 1;
        if (parents[q] != want)
            st = perr(p, K, q, "nodes[%d] is the child of %d nodes: every node but the root has one parent", q,
                      parents[q]);
    }
    for (int q = 0; q < nn && !st; q++) { // parents come first: depths top-down
        dc_tree_node *d = &t->nodes[q];
        if (d->feature == DC_TREE_LEAF) continue;
        const int64_t kids = (int64_t)t->nodes[d->left].n + t->nodes[d->right].n;
        if (kids != d->n)
            st = perr(p, K, q, "nodes[%d]: its children hold %lld samples but it holds %d", q, (long long)kids, d->n);
        t->nodes[d->left].depth = t->nodes[d->right].depth = d->depth + 1;
    }
    if (!st) {
        t->n_leaves = 0;
        t->depth = 0;
        for (int q = 0; q < nn; q++)
            if (t->nodes[q].feature == DC_TREE_LEAF) {
                t->n_leaves++;
                if (t->nodes[q].depth > t->depth) t->depth = t->nodes[q].depth;
            }
    }
    free(parents);
    free(cv);
    return st;
}

static dc_status parse_linear(const pctx *p, dc_surrogate *s, const cJSON *lo) {
    static const char *const keys[] = {"lambda", "iters", "nonzero", "objective", "mu", "sd", "b", "W", NULL};
    const char *K = "linear";
    const int C = s->n_classes, F = s->feat.n_features;
    if (!cJSON_IsObject(lo)) return perr(p, K, -1, "\"linear\" must be an object");
    if (C > 256) return perr(p, K, -1, "linear: at most 256 classes (the file has %d)", C);
    dc_status st = keys_check(p, lo, keys, "linear", K, -1);
    dc_linear *lm = &s->lin;
    lm->n_features = F;
    lm->n_classes = C;
    if (!st) st = get_num(p, lo, "lambda", 0.0, HUGE_VAL, &lm->lambda, "linear", K, -1);
    if (!st) st = get_int(p, lo, "iters", 0, 2147483647L, &lm->iters, "linear", K, -1);
    if (!st) st = get_int(p, lo, "nonzero", 0, (long)C * F, &lm->nonzero, "linear", K, -1);
    if (!st) st = get_num(p, lo, "objective", 0.0, HUGE_VAL, &lm->objective, "linear", K, -1);
    if (st) return st;
    lm->mu = malloc(sizeof(float) * (size_t)F);
    lm->sd = malloc(sizeof(float) * (size_t)F);
    lm->W = malloc(sizeof(double) * (size_t)C * F);
    lm->b = malloc(sizeof(double) * (size_t)C);
    double *tmp = malloc(sizeof(double) * (size_t)F);
    if (!lm->mu || !lm->sd || !lm->W || !lm->b || !tmp) {
        free(tmp);
        return dc_fail(p->err, DC_ERR_NOMEM, "%s: out of memory", p->origin);
    }
    st = get_darray(p, cJSON_GetObjectItemCaseSensitive(lo, "mu"), F, tmp, "linear.mu", K, -1);
    for (int j = 0; !st && j < F; j++) lm->mu[j] = (float)tmp[j];
    if (!st) st = get_darray(p, cJSON_GetObjectItemCaseSensitive(lo, "sd"), F, tmp, "linear.sd", K, -1);
    for (int j = 0; !st && j < F; j++) {
        if (!(tmp[j] > 0) || tmp[j] > 3.4e38) st = perr(p, K, -1, "linear.sd[%d] must be > 0", j);
        lm->sd[j] = (float)tmp[j];
    }
    for (int j = 0; !st && j < F; j++)
        if (fabs(tmp[j]) > 3.4e38) st = perr(p, K, -1, "linear.mu[%d] is outside the float range", j);
    if (!st) st = get_darray(p, cJSON_GetObjectItemCaseSensitive(lo, "b"), C, lm->b, "linear.b", K, -1);
    const cJSON *W = cJSON_GetObjectItemCaseSensitive(lo, "W");
    if (!st && (!cJSON_IsArray(W) || cJSON_GetArraySize(W) != C))
        st = perr(p, K, -1, "linear.W must be an array of %d rows (one per class)", C);
    int k = 0;
    for (const cJSON *row = W ? W->child : NULL; !st && row; row = row->next, k++)
        st = get_darray(p, row, F, lm->W + (size_t)k * F, "a row of linear.W", K, -1);
    free(tmp);
    return st;
}

static dc_status parse_curve(const pctx *p, dc_surrogate *s, const cJSON *cu) {
    static const char *const keys[] = {"depth", "fidelity", "train_fidelity", "accuracy", "leaves", NULL};
    const char *K = "curve";
    if (!cJSON_IsArray(cu) || cJSON_GetArraySize(cu) > DC_SURR_MAX_CURVE)
        return perr(p, K, -1, "\"curve\" must be an array of at most %d points", DC_SURR_MAX_CURVE);
    int d = 0;
    dc_status st = DC_OK;
    char what[32];
    for (const cJSON *o = cu->child; o && !st; o = o->next, d++) {
        snprintf(what, sizeof what, "curve[%d]", d);
        int depth;
        if (!cJSON_IsObject(o)) return perr(p, K, d, "%s must be an object", what);
        if (!st) st = keys_check(p, o, keys, what, K, d);
        if (!st) st = get_int(p, o, "depth", d + 1, d + 1, &depth, what, K, d);
        if (!st) st = get_num(p, o, "fidelity", 0, 1, &s->curve_fidelity[d], what, K, d);
        if (!st) st = get_num(p, o, "train_fidelity", 0, 1, &s->curve_train_fidelity[d], what, K, d);
        if (!st) st = get_num(p, o, "accuracy", 0, 1, &s->curve_accuracy[d], what, K, d);
        if (!st) st = get_int(p, o, "leaves", 1, 2147483647L, &s->curve_leaves[d], what, K, d);
    }
    s->curve_n = d;
    return st;
}

dc_status dc_surrogate_parse_json(dc_surrogate *s, const char *text, size_t len, const char *origin,
                                  dc_error *err) {
    memset(s, 0, sizeof *s);
    pctx p = {text, origin, len, err};
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        size_t col = 1;
        for (size_t i = off; i > 0 && text[i - 1] != '\n'; i--) col++;
        return dc_fail(err, DC_ERR_FORMAT, "%s:%d:%zu: not valid JSON", origin, line_at(text, len, off), col);
    }
    dc_status st = DC_OK;
    for (const char *q = end; q && q < text + len; q++)
        if (*q != ' ' && *q != '\n' && *q != '\t' && *q != '\r') {
            st = dc_fail(err, DC_ERR_FORMAT, "%s:%d: text after the JSON object", origin,
                         line_at(text, len, (size_t)(q - text)));
            break;
        }
    const cJSON *kind = NULL;
    bool tree = false;
    if (!st && !cJSON_IsObject(j)) st = perr(&p, NULL, -1, "expected a JSON object (a deepc surrogate file)");
    if (!st) {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
        if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT_NAME))
            st = perr(&p, fmt ? "format" : NULL, -1, "\"format\" must be \"%s\" (is this a deepc surrogate file?)",
                      FORMAT_NAME);
    }
    if (!st) {
        int v;
        st = get_int(&p, j, "version", FORMAT_VERSION, FORMAT_VERSION, &v, "version", "version", -1);
    }
    if (!st) {
        kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "tree") && strcmp(kind->valuestring, "linear")))
            st = perr(&p, "kind", -1, "\"kind\" must be \"tree\" or \"linear\"");
        else tree = !strcmp(kind->valuestring, "tree");
    }
    if (!st) {
        static const char *const tree_keys[] = {"format", "version", "kind", "model", "features", "classes",
                                                "scores", "config", "curve", "nodes", NULL};
        static const char *const lin_keys[] = {"format", "version", "kind", "model", "features", "classes",
                                               "scores", "linear", NULL};
        st = keys_check(&p, j, tree ? tree_keys : lin_keys, tree ? "a tree surrogate" : "a linear surrogate",
                        NULL, -1);
    }
    if (st) goto done;
    s->kind = tree ? DC_SURR_TREE : DC_SURR_LINEAR;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(model)) {
        st = perr(&p, "model", -1, "\"model\" must be a string");
        goto done;
    }
    snprintf(s->model_path, sizeof s->model_path, "%s", model->valuestring);
    if ((st = parse_features(&p, s, cJSON_GetObjectItemCaseSensitive(j, "features")))) goto done;
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "classes");
    if (!cJSON_IsArray(cl) || cJSON_GetArraySize(cl) < 2 || cJSON_GetArraySize(cl) > MAX_CLASSES) {
        st = perr(&p, "classes", -1, "\"classes\" must be an array of 2 to %d class names", MAX_CLASSES);
        goto done;
    }
    s->n_classes = cJSON_GetArraySize(cl);
    if (!(s->class_names = calloc((size_t)s->n_classes, sizeof(char *)))) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        goto done;
    }
    int k = 0;
    for (const cJSON *it = cl->child; it; it = it->next, k++) {
        if (!cJSON_IsString(it) || strlen(it->valuestring) > 255) {
            st = perr(&p, "classes", -1, "classes[%d] must be a string of at most 255 bytes", k);
            goto done;
        }
        if (!(s->class_names[k] = strdup(it->valuestring))) {
            st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
            goto done;
        }
    }
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scores");
    static const char *const score_keys[] = {"fidelity", "accuracy", "train_fidelity", "network_accuracy",
                                             "n_train", "n_test", NULL};
    if (!cJSON_IsObject(sc)) st = perr(&p, "scores", -1, "\"scores\" must be an object");
    if (!st) st = keys_check(&p, sc, score_keys, "scores", "scores", -1);
    if (!st) st = get_num(&p, sc, "fidelity", 0, 1, &s->fidelity, "scores", "scores", -1);
    if (!st) st = get_num(&p, sc, "accuracy", 0, 1, &s->accuracy, "scores", "scores", -1);
    if (!st) st = get_num(&p, sc, "train_fidelity", 0, 1, &s->train_fidelity, "scores", "scores", -1);
    if (!st) st = get_num(&p, sc, "network_accuracy", 0, 1, &s->network_accuracy, "scores", "scores", -1);
    if (!st) st = get_int(&p, sc, "n_train", 0, 2147483647L, &s->n_train, "scores", "scores", -1);
    if (!st) st = get_int(&p, sc, "n_test", 0, 2147483647L, &s->n_test, "scores", "scores", -1);
    if (st) goto done;
    if (tree) {
        // "splits" is absent from axis trees written before oblique splits
        // existed (and from axis trees now); an oblique tree also has its
        // lambda and max_iter
        static const char *const cfg_keys[] = {"criterion", "max_depth", "min_leaf", "min_split", "ccp_alpha",
                                               "refine", NULL};
        static const char *const axis_keys[] = {"criterion", "max_depth", "min_leaf", "min_split", "ccp_alpha",
                                                "refine", "splits", NULL};
        static const char *const obl_keys[] = {"criterion", "max_depth", "min_leaf", "min_split", "ccp_alpha",
                                               "refine", "splits", "lambda", "max_iter", NULL};
        const cJSON *co = cJSON_GetObjectItemCaseSensitive(j, "config");
        const cJSON *sp = cJSON_IsObject(co) ? cJSON_GetObjectItemCaseSensitive(co, "splits") : NULL;
        if (!cJSON_IsObject(co)) st = perr(&p, "config", -1, "\"config\" must be an object");
        if (!st && sp && (!cJSON_IsString(sp) || (strcmp(sp->valuestring, "axis") && strcmp(sp->valuestring, "oblique"))))
            st = perr(&p, "config", -1, "config: \"splits\" must be \"axis\" or \"oblique\"");
        if (!st && sp && !strcmp(sp->valuestring, "oblique")) s->tree_cfg.split = DC_SPLIT_OBLIQUE;
        if (!st)
            st = keys_check(&p, co, !sp ? cfg_keys : s->tree_cfg.split == DC_SPLIT_OBLIQUE ? obl_keys : axis_keys,
                            "config", "config", -1);
        if (!st && s->tree_cfg.split == DC_SPLIT_OBLIQUE)
            st = get_num(&p, co, "lambda", 0, HUGE_VAL, &s->tree_cfg.lambda, "config", "config", -1);
        if (!st && s->tree_cfg.split == DC_SPLIT_OBLIQUE)
            st = get_int(&p, co, "max_iter", 1, 2147483647L, &s->tree_cfg.max_iter, "config", "config", -1);
        if (!st) st = get_int(&p, co, "max_depth", 0, 2147483647L, &s->tree_cfg.max_depth, "config", "config", -1);
        if (!st) st = get_int(&p, co, "min_leaf", 1, 2147483647L, &s->tree_cfg.min_leaf, "config", "config", -1);
        if (!st) st = get_int(&p, co, "min_split", 2, 2147483647L, &s->tree_cfg.min_split, "config", "config", -1);
        if (!st) st = get_num(&p, co, "ccp_alpha", 0, HUGE_VAL, &s->tree_cfg.ccp_alpha, "config", "config", -1);
        if (!st) st = get_int(&p, co, "refine", 0, 1000000, &s->tree_cfg.refine, "config", "config", -1);
        if (!st) {
            const cJSON *cr = cJSON_GetObjectItemCaseSensitive(co, "criterion");
            if (cJSON_IsString(cr) && !strcmp(cr->valuestring, "gini")) s->tree_cfg.criterion = DC_TREE_GINI;
            else if (cJSON_IsString(cr) && !strcmp(cr->valuestring, "entropy")) s->tree_cfg.criterion = DC_TREE_ENTROPY;
            else st = perr(&p, "config", -1, "config: \"criterion\" must be \"gini\" or \"entropy\"");
        }
        if (!st) st = parse_curve(&p, s, cJSON_GetObjectItemCaseSensitive(j, "curve"));
        if (!st) st = parse_nodes(&p, s, cJSON_GetObjectItemCaseSensitive(j, "nodes"));
    } else {
        st = parse_linear(&p, s, cJSON_GetObjectItemCaseSensitive(j, "linear"));
    }
done:
    cJSON_Delete(j);
    if (st) dc_surrogate_free(s);
    return st;
}

dc_status dc_surrogate_read(dc_surrogate *s, const char *path, dc_error *err) {
    memset(s, 0, sizeof *s);
    uint8_t *data;
    size_t len;
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 30, err);
    if (st) return st;
    st = dc_surrogate_parse_json(s, (const char *)data, len, path, err);
    free(data);
    return st;
}
