// model.c — building a model from the text architecture format, shape
// inference, the layer table, parameter layout and initialisation, and the
// forward/backward passes over a runtime (activation buffers).
//
// Text format: one layer per line, `kind key=value ...`, '#' starts a
// comment. Kinds and keys come from the layer table in layer_ops.c; unknown
// kinds or keys, duplicate keys, malformed numbers are errors with the line
// number. Shapes are inferred from the input shape and checked as the model
// is built, so a mismatch is reported before any data is touched.
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "layers/layers.h"
#include "model/model.h"

dc_model *dc_model_alloc(void) {
    dc_model *m = calloc(1, sizeof *m);
    if (m) {
        m->norm_mean = 0.0f;
        m->norm_std = 1.0f;
    }
    return m;
}

void dc_model_free(dc_model *m) {
    if (!m) return;
    free(m->layers);
    dc_free(m->params);
    dc_free(m->grads);
    free(m->arch_text);
    if (m->class_names)
        for (int i = 0; i < m->n_classes; i++) free(m->class_names[i]);
    free(m->class_names);
    if (m->has_optim) dc_optim_free(&m->optim);
    free(m->train_config_json);
    free(m->history_json);
    free(m->provenance_json);
    free(m->privacy_json);
    if (m->infer_rt) {
        dc_runtime_free(m->infer_rt);
        free(m->infer_rt);
    }
    free(m);
}

// ---------------------------------------------------------------------------
// Parsing

static dc_status parse_int(const char *v, int lo, int hi, int *out, const char *where,
                           const char *key, dc_error *err) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not an integer in [%d, %d]", where, key, v, lo, hi);
    *out = (int)x;
    return DC_OK;
}

static dc_status parse_float(const char *v, float *out, const char *where, const char *key,
                             dc_error *err) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not a number", where, key, v);
    *out = x;
    return DC_OK;
}

static dc_status parse_bool(const char *v, bool *out, const char *where, const char *key,
                            dc_error *err) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) *out = true;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) *out = false;
    else return dc_fail(err, DC_ERR_FORMAT, "%s: %s=%s is not a boolean (use 1/0)", where, key, v);
    return DC_OK;
}

static bool key_allowed(const dc_layer_ops *ops, const char *key) {
    // ops->keys is a ", "-separated list
    size_t kl = strlen(key);
    const char *p = ops->keys;
    while (*p) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == kl && !strncmp(p, key, n)) return true;
        if (!q) break;
        p = q + 1;
        while (*p == ' ') p++;
    }
    return false;
}

static const char *auto_prefix(const dc_layer_ops *ops) {
    if (!strcmp(ops->kind, "conv2d")) return "conv";
    if (!strcmp(ops->kind, "linear")) return "fc";
    if (!strcmp(ops->kind, "maxpool") || !strcmp(ops->kind, "avgpool")) return "pool";
    return ops->kind;
}

// Parses one line's tokens into l. `declared` receives in= (0 if absent).
static dc_status parse_layer(dc_layer *l, char *line, const char *where, int *declared,
                             dc_error *err) {
    char *save = NULL;
    char *tok = strtok_r(line, " \t", &save);
    const dc_layer_ops *ops = dc_layer_find(tok);
    if (!ops) {
        char known[256] = "";
        for (int i = 0; dc_layer_kinds[i]; i++) {
            strcat(known, i ? ", " : "");
            strcat(known, dc_layer_kinds[i]->kind);
        }
        return dc_fail(err, DC_ERR_FORMAT, "%s: unknown layer kind '%s' (known: %s)", where, tok, known);
    }
    memset(l, 0, sizeof *l);
    l->ops = ops;
    *declared = 0;
    bool have_out = false, have_k = false, have_stride = false;
    // defaults
    l->cfg.conv.stride = 1;
    l->cfg.conv.bias = true;
    if (!strcmp(ops->kind, "linear")) l->cfg.linear.bias = true;
    if (!strcmp(ops->kind, "dropout")) l->cfg.dropout.p = 0.5f;
    char seen[16][16];
    int n_seen = 0;
    dc_status st;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return dc_fail(err, DC_ERR_FORMAT, "%s: expected key=value, found '%s'", where, tok);
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        if (!key_allowed(ops, key))
            return dc_fail(err, DC_ERR_FORMAT, "%s: %s: unknown key '%s' (known: %s)", where, ops->kind,
                           key, ops->keys);
        for (int i = 0; i < n_seen; i++)
            if (!strcmp(seen[i], key))
                return dc_fail(err, DC_ERR_FORMAT, "%s: %s: key '%s' given twice", where, ops->kind, key);
        if (n_seen < 16) snprintf(seen[n_seen++], 16, "%s", key);
        if (!strcmp(key, "name")) {
            size_t n = strlen(val);
            if (n >= sizeof l->name)
                return dc_fail(err, DC_ERR_FORMAT, "%s: name '%s' longer than %zu characters", where, val,
                               sizeof l->name - 1);
            for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)val[i]) && val[i] != '_')
                    return dc_fail(err, DC_ERR_FORMAT, "%s: name '%s' may hold only letters, digits, _", where, val);
            memcpy(l->name, val, n + 1);
            continue;
        }
        if (!strcmp(ops->kind, "conv2d")) {
            dc_conv_cfg *c = &l->cfg.conv;
            if (!strcmp(key, "in")) st = parse_int(val, 1, 1 << 20, declared, where, key, err);
            else if (!strcmp(key, "out")) st = parse_int(val, 1, 1 << 20, &c->out, where, key, err), have_out = true;
            else if (!strcmp(key, "k")) st = parse_int(val, 1, 1024, &c->k, where, key, err), have_k = true;
            else if (!strcmp(key, "stride")) st = parse_int(val, 1, 1024, &c->stride, where, key, err);
            else if (!strcmp(key, "pad")) st = parse_int(val, 0, 1024, &c->pad, where, key, err);
            else st = parse_bool(val, &c->bias, where, key, err);
        } else if (!strcmp(ops->kind, "maxpool") || !strcmp(ops->kind, "avgpool")) {
            dc_pool_cfg *c = &l->cfg.pool;
            if (!strcmp(key, "k")) st = parse_int(val, 1, 1024, &c->k, where, key, err), have_k = true;
            else st = parse_int(val, 1, 1024, &c->stride, where, key, err), have_stride = true;
        } else if (!strcmp(ops->kind, "linear")) {
            dc_linear_cfg *c = &l->cfg.linear;
            if (!strcmp(key, "in")) st = parse_int(val, 1, 1 << 28, declared, where, key, err);
            else if (!strcmp(key, "out")) st = parse_int(val, 1, 1 << 24, &c->out, where, key, err), have_out = true;
            else st = parse_bool(val, &c->bias, where, key, err);
        } else if (!strcmp(ops->kind, "dropout")) {
            st = parse_float(val, &l->cfg.dropout.p, where, key, err);
        } else {
            st = DC_OK;
        }
        if (st) return st;
    }
    if (!strcmp(ops->kind, "conv2d") && (!have_out || !have_k))
        return dc_fail(err, DC_ERR_FORMAT, "%s: conv2d needs out= and k=", where);
    if (!strcmp(ops->kind, "linear") && !have_out)
        return dc_fail(err, DC_ERR_FORMAT, "%s: linear needs out=", where);
    if ((!strcmp(ops->kind, "maxpool") || !strcmp(ops->kind, "avgpool"))) {
        if (!have_k) return dc_fail(err, DC_ERR_FORMAT, "%s: %s needs k=", where, ops->kind);
        if (!have_stride) l->cfg.pool.stride = l->cfg.pool.k;
    }
    return DC_OK;
}

// Canonical text of one layer with every default spelled out.
static int layer_config(const dc_layer *l, char *buf, size_t cap) {
    const char *k = l->ops->kind;
    if (!strcmp(k, "conv2d"))
        return snprintf(buf, cap, "in=%d out=%d k=%d stride=%d pad=%d bias=%d", l->in_c, l->cfg.conv.out,
                        l->cfg.conv.k, l->cfg.conv.stride, l->cfg.conv.pad, l->cfg.conv.bias);
    if (!strcmp(k, "maxpool") || !strcmp(k, "avgpool"))
        return snprintf(buf, cap, "k=%d stride=%d", l->cfg.pool.k, l->cfg.pool.stride);
    if (!strcmp(k, "linear"))
        return snprintf(buf, cap, "in=%d out=%d bias=%d", l->in_c, l->cfg.linear.out, l->cfg.linear.bias);
    if (!strcmp(k, "dropout")) return snprintf(buf, cap, "p=%g", l->cfg.dropout.p);
    if (cap) buf[0] = 0;
    return 0;
}

dc_status dc_model_parse(dc_model **out, const char *text, const char *origin, int in_c,
                         int in_h, int in_w, int n_classes, dc_error *err) {
    *out = NULL;
    if (in_c < 1 || in_h < 1 || in_w < 1)
        return dc_fail(err, DC_ERR_ARG, "%s: input shape %dx%dx%d is not valid", origin, in_c, in_h, in_w);
    dc_model *m = dc_model_alloc();
    char *copy = strdup(text);
    if (!m || !copy) {
        free(copy);
        dc_model_free(m);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    }
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    int cap = 0;
    int c = in_c, h = in_h, w = in_w;
    dc_status st = DC_OK;
    char *save = NULL;
    int lineno = 0;
    int counters[16] = {0};
    // lines are split by hand so empty lines keep their numbers
    char *p = copy;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        char *s = p;
        while (isspace((unsigned char)*s)) s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
        p = nl ? nl + 1 : NULL;
        if (!*s) continue;
        char where[600];
        snprintf(where, sizeof where, "%s:%d", origin, lineno);
        if (m->n_layers == cap) {
            cap = cap ? cap * 2 : 16;
            dc_layer *nlayers = realloc(m->layers, sizeof(dc_layer) * (size_t)cap);
            if (!nlayers) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
                break;
            }
            m->layers = nlayers;
        }
        dc_layer *l = &m->layers[m->n_layers];
        int declared = 0;
        if ((st = parse_layer(l, s, where, &declared, err))) break;
        if (!l->name[0]) {
            int ki = 0;
            while (dc_layer_kinds[ki] && dc_layer_kinds[ki] != l->ops) ki++;
            const char *pre = auto_prefix(l->ops);
            // pools share a counter, as do conv/fc by their own kind
            int slot = !strcmp(pre, "pool") ? 15 : ki;
            snprintf(l->name, sizeof l->name, "%s%d", pre, ++counters[slot]);
        }
        for (int i = 0; i < m->n_layers; i++)
            if (!strcmp(m->layers[i].name, l->name)) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: layer name '%s' is already used", where, l->name);
                break;
            }
        if (st) break;
        l->in_c = c;
        l->in_h = h;
        l->in_w = w;
        if ((st = l->ops->infer(l, declared, err))) {
            // prefix the location
            char tmp[sizeof err->msg];
            snprintf(tmp, sizeof tmp, "%s", err ? err->msg : "");
            dc_fail(err, st, "%s: %s", where, tmp);
            break;
        }
        l->w_off = m->n_params;
        m->n_params += l->w_n;
        l->b_off = m->n_params;
        m->n_params += l->b_n;
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
        m->n_layers++;
    }
    (void)save;
    free(copy);
    if (!st && m->n_layers == 0) st = dc_fail(err, DC_ERR_FORMAT, "%s: no layers", origin);
    if (!st) {
        const dc_layer *last = &m->layers[m->n_layers - 1];
        int width = last->out_c * last->out_h * last->out_w;
        if (last->out_h != 1 || last->out_w != 1)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %dx%dx%d; a classifier must end in a vector (flatten + linear)",
                         origin, last->name, last->out_c, last->out_h, last->out_w);
        else if (n_classes > 0 && width != n_classes)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %d values but the data has %d classes",
                         origin, last->name, width, n_classes);
        else if (width < 2)
            st = dc_fail(err, DC_ERR_SHAPE, "%s: the last layer (%s) outputs %d value; a classifier needs at least 2",
                         origin, last->name, width);
        else
            m->n_classes = width;
    }
    if (!st) {
        m->params = dc_alloc(sizeof(float) * m->n_params);
        m->grads = dc_alloc(sizeof(float) * m->n_params);
        if (!m->params || !m->grads) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %zu parameters", origin, m->n_params);
    }
    if (!st) {
        // canonical text: every layer with its defaults, so the file is self-describing
        size_t tcap = 128 + (size_t)m->n_layers * 128;
        m->arch_text = malloc(tcap);
        if (!m->arch_text) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        else {
            size_t len = 0;
            for (int i = 0; i < m->n_layers; i++) {
                char cfg[160];
                layer_config(&m->layers[i], cfg, sizeof cfg);
                len += (size_t)snprintf(m->arch_text + len, tcap - len, "%s %s%sname=%s\n",
                                        m->layers[i].ops->kind, cfg, cfg[0] ? " " : "", m->layers[i].name);
            }
        }
    }
    if (!st) st = dc_model_default_class_names(m, err);
    if (st) {
        dc_model_free(m);
        return st;
    }
    *out = m;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Built-in architectures, written in the text format so there is one path.

static const struct {
    const char *name, *text, *help;
} builtins[] = {
    {"lenet5",
     "conv2d out=6 k=5 pad=2\nrelu\nmaxpool k=2\n"
     "conv2d out=16 k=5\nrelu\nmaxpool k=2\n"
     "flatten\nlinear out=120\nrelu\nlinear out=84\nrelu\nlinear out=%d\n",
     "LeNet-5: conv 6@5x5 (pad 2), pool, conv 16@5x5, pool, fc 120, fc 84, fc classes"},
    {"mlp", "flatten\nlinear out=256\nrelu\nlinear out=128\nrelu\nlinear out=%d\n",
     "MLP: 256 and 128 hidden units with ReLU"},
};

dc_status dc_model_builtin(dc_model **m, const char *name, int in_c, int in_h, int in_w,
                           int n_classes, dc_error *err) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) {
            char text[1024];
            snprintf(text, sizeof text, builtins[i].text, n_classes);
            return dc_model_parse(m, text, name, in_c, in_h, in_w, n_classes, err);
        }
    return dc_fail(err, DC_ERR_ARG, "unknown built-in model '%s' (built-ins: lenet5, mlp; or give a path to an architecture file)", name);
}

dc_status dc_model_create(dc_model **m, const char *name_or_path, int in_c, int in_h,
                          int in_w, int n_classes, dc_error *err) {
    if (!strchr(name_or_path, '/') && !strchr(name_or_path, '.'))
        return dc_model_builtin(m, name_or_path, in_c, in_h, in_w, n_classes, err);
    uint8_t *data;
    size_t len;
    dc_status st = dc_read_file(name_or_path, &data, &len, 1 << 20, err);
    if (st) return st;
    if (memchr(data, 0, len)) {
        free(data);
        return dc_fail(err, DC_ERR_FORMAT, "%s: not a text architecture file (contains NUL bytes)", name_or_path);
    }
    st = dc_model_parse(m, (const char *)data, name_or_path, in_c, in_h, in_w, n_classes, err);
    free(data);
    return st;
}

// ---------------------------------------------------------------------------
// Accessors, summary, initialisation

size_t dc_model_num_params(const dc_model *m) { return m->n_params; }
float *dc_model_params(dc_model *m) { return m->params; }
float *dc_model_grads(dc_model *m) { return m->grads; }
int dc_model_num_classes(const dc_model *m) { return m->n_classes; }
const char *dc_model_arch_text(const dc_model *m) { return m->arch_text; }
int dc_model_epochs_done(const dc_model *m) { return m->epochs_done; }

static char **info_slot(const dc_model *m, const char *key) {
    dc_model *mm = (dc_model *)m;
    if (!strcmp(key, "train_config")) return &mm->train_config_json;
    if (!strcmp(key, "provenance")) return &mm->provenance_json;
    if (!strcmp(key, "history")) return &mm->history_json;
    if (!strcmp(key, "privacy")) return &mm->privacy_json;
    return NULL;
}

const char *dc_model_info(const dc_model *m, const char *key) {
    char **slot = info_slot(m, key);
    return slot ? *slot : NULL;
}

dc_status dc_model_set_info(dc_model *m, const char *key, const char *json, dc_error *err) {
    char **slot = info_slot(m, key);
    if (!slot) return dc_fail(err, DC_ERR_ARG, "model info: unknown key '%s' (train_config, provenance, history, privacy)", key);
    char *copy = json ? strdup(json) : NULL;
    if (json && !copy) return dc_fail(err, DC_ERR_NOMEM, "model info: out of memory");
    free(*slot);
    *slot = copy;
    return DC_OK;
}

void dc_model_input_shape(const dc_model *m, int *c, int *h, int *w) {
    *c = m->in_c;
    *h = m->in_h;
    *w = m->in_w;
}

const char *dc_model_class_name(const dc_model *m, int k) {
    return (k >= 0 && k < m->n_classes && m->class_names) ? m->class_names[k] : "?";
}

dc_status dc_model_set_class_names(dc_model *m, const char *const *names, int n, dc_error *err) {
    if (n != m->n_classes)
        return dc_fail(err, DC_ERR_ARG, "class names: %d given for a model with %d classes", n, m->n_classes);
    for (int i = 0; i < n; i++) {
        char *s = strdup(names[i]);
        if (!s) return dc_fail(err, DC_ERR_NOMEM, "class names: out of memory");
        free(m->class_names[i]);
        m->class_names[i] = s;
    }
    return DC_OK;
}

dc_status dc_model_default_class_names(dc_model *m, dc_error *err) {
    m->class_names = calloc((size_t)m->n_classes, sizeof(char *));
    if (!m->class_names) return dc_fail(err, DC_ERR_NOMEM, "class names: out of memory");
    for (int i = 0; i < m->n_classes; i++) {
        char b[16];
        snprintf(b, sizeof b, "%d", i);
        if (!(m->class_names[i] = strdup(b))) return dc_fail(err, DC_ERR_NOMEM, "class names: out of memory");
    }
    return DC_OK;
}

void dc_model_summary(const dc_model *m, char *buf, size_t cap) {
    size_t len = 0;
#define OUT(...) do { if (len < cap) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__); } while (0)
    OUT("%-3s %-10s %-8s %-40s %-12s %10s\n", "#", "name", "kind", "config", "output", "params");
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", m->in_c, m->in_h, m->in_w);
    OUT("%-3s %-10s %-8s %-40s %-12s %10s\n", "-", "input", "", "", shape, "");
    for (int i = 0; i < m->n_layers; i++) {
        const dc_layer *l = &m->layers[i];
        char cfg[160];
        layer_config(l, cfg, sizeof cfg);
        snprintf(shape, sizeof shape, "%dx%dx%d", l->out_c, l->out_h, l->out_w);
        OUT("%-3d %-10s %-8s %-40s %-12s %10zu\n", i, l->name, l->ops->kind, cfg, shape, l->w_n + l->b_n);
    }
    OUT("total parameters: %zu (%.1f KiB as fp32)\n", m->n_params, m->n_params * 4.0 / 1024.0);
#undef OUT
}

void dc_model_init_params(dc_model *m, dc_rng *rng) {
    // PyTorch's default: kaiming_uniform(a=sqrt(5)) gives bound 1/sqrt(fan_in)
    // for weights, and biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    for (int i = 0; i < m->n_layers; i++) {
        const dc_layer *l = &m->layers[i];
        if (!l->w_n) continue;
        size_t fan_in = l->w_n / (size_t)l->w_shape[0];
        float bound = 1.0f / sqrtf((float)fan_in);
        for (size_t j = 0; j < l->w_n; j++)
            m->params[l->w_off + j] = (2.0f * dc_rng_uniform(rng) - 1.0f) * bound;
        for (size_t j = 0; j < l->b_n; j++)
            m->params[l->b_off + j] = (2.0f * dc_rng_uniform(rng) - 1.0f) * bound;
    }
}

void dc_model_set_normalisation(dc_model *m, const dc_dataset *train) {
    // mean/std over every pixel of the training set, in [0,1] units, in double
    size_t count = (size_t)train->n * train->c * train->h * train->w;
    uint64_t hist[256] = {0};
    for (size_t i = 0; i < count; i++) hist[train->pixels[i]]++;
    double s = 0, s2 = 0;
    for (int v = 0; v < 256; v++) {
        double x = v / 255.0;
        s += (double)hist[v] * x;
        s2 += (double)hist[v] * x * x;
    }
    double mean = count ? s / (double)count : 0.0;
    double var = count ? s2 / (double)count - mean * mean : 1.0;
    m->norm_mean = (float)mean;
    m->norm_std = var > 1e-12 ? (float)sqrt(var) : 1.0f;
}

void dc_model_get_normalisation(const dc_model *m, float *mean, float *std) {
    *mean = m->norm_mean;
    *std = m->norm_std;
}

void dc_model_normalise(const dc_model *m, float *x, const uint8_t *px, size_t count) {
    const float scale = 1.0f / (255.0f * m->norm_std), shift = m->norm_mean / m->norm_std;
    for (size_t i = 0; i < count; i++) x[i] = (float)px[i] * scale - shift;
}

// ---------------------------------------------------------------------------
// Runtime: activations and caches for up to max_n samples

dc_status dc_runtime_init(dc_runtime *rt, const dc_model *m, int max_n, bool train,
                          int nthreads, dc_error *err) {
    memset(rt, 0, sizeof *rt);
    rt->m = m;
    rt->max_n = max_n;
    rt->train = train;
    if (nthreads <= 0) nthreads = dc_default_threads();
    rt->nthreads = nthreads > max_n ? max_n : nthreads;
    rt->acts = calloc((size_t)m->n_layers + 1, sizeof(float *));
    rt->caches = calloc((size_t)m->n_layers, sizeof(void *));
    if (!rt->acts || !rt->caches) goto nomem;
    size_t in_size = (size_t)m->in_c * m->in_h * m->in_w, biggest = in_size;
    if (!(rt->acts[0] = dc_alloc(sizeof(float) * max_n * in_size))) goto nomem;
    for (int i = 0; i < m->n_layers; i++) {
        const dc_layer *l = &m->layers[i];
        size_t o = dc_layer_out_size(l);
        if (o > biggest) biggest = o;
        if (!(rt->acts[i + 1] = dc_alloc(sizeof(float) * max_n * o))) goto nomem;
        size_t cb = l->ops->cache_bytes(l, max_n);
        if (cb && !(rt->caches[i] = dc_alloc(cb))) goto nomem;
    }
    rt->biggest = biggest;
    if (train) {
        for (int k = 0; k < 2; k++)
            if (!(rt->gbuf[k] = dc_alloc(sizeof(float) * max_n * biggest))) goto nomem;
        if (!(rt->dlogits = dc_alloc(sizeof(float) * max_n * m->n_classes))) goto nomem;
        if (rt->nthreads > 1 &&
            !(rt->tgrads = dc_alloc(sizeof(float) * (size_t)(rt->nthreads - 1) * m->n_params)))
            goto nomem;
    }
    if (!(rt->probs = dc_alloc(sizeof(float) * max_n * m->n_classes))) goto nomem;
    return DC_OK;
nomem:
    dc_runtime_free(rt);
    return dc_fail(err, DC_ERR_NOMEM, "out of memory for activations of batch %d", max_n);
}

void dc_runtime_free(dc_runtime *rt) {
    if (rt->acts && rt->m)
        for (int i = 0; i <= rt->m->n_layers; i++) dc_free(rt->acts[i]);
    if (rt->caches && rt->m)
        for (int i = 0; i < rt->m->n_layers; i++) dc_free(rt->caches[i]);
    free(rt->acts);
    free(rt->caches);
    dc_free(rt->gbuf[0]);
    dc_free(rt->gbuf[1]);
    dc_free(rt->probs);
    dc_free(rt->dlogits);
    dc_free(rt->tgrads);
    dc_free(rt->sgrads);
    free(rt->sq);
    memset(rt, 0, sizeof *rt);
}

static void slice(int n, int t, int T, int *lo, int *hi) {
    *lo = (int)((long)n * t / T);
    *hi = (int)((long)n * (t + 1) / T);
}

// Forward of samples [lo, hi) through every layer, single-threaded.
static void forward_slice(dc_runtime *rt, dc_model *m, int lo, int hi, dc_rng *rng) {
    for (int i = 0; i < m->n_layers; i++) {
        const dc_layer *l = &m->layers[i];
        dc_layer_io io = {.N = hi - lo, .nthreads = 1, .train = rt->train,
                          .x = rt->acts[i] + (size_t)lo * dc_layer_in_size(l),
                          .y = rt->acts[i + 1] + (size_t)lo * dc_layer_out_size(l),
                          .params = m->params, .grads = m->grads,
                          .cache = rt->caches[i] ? (char *)rt->caches[i] + l->ops->cache_bytes(l, lo) : NULL,
                          .rng = rng};
        l->ops->forward(l, &io);
    }
}

// Backward of samples [lo, hi) from dlogits, weight gradients into grads.
static void backward_slice(dc_runtime *rt, dc_model *m, int lo, int hi, const float *dlogits,
                           float *dinput, float *grads, int cap_layer, float *cap) {
    const float *dy = dlogits + (size_t)lo * m->n_classes;
    int cur = 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        const dc_layer *l = &m->layers[i];
        if (i == cap_layer && cap)
            memcpy(cap + (size_t)lo * dc_layer_out_size(l), dy,
                   sizeof(float) * (size_t)(hi - lo) * dc_layer_out_size(l));
        size_t isz = dc_layer_in_size(l);
        // each thread's part of gbuf starts at lo * biggest, whatever the layer,
        // so threads working on different layers never overlap
        float *dx = i > 0 ? rt->gbuf[cur] + (size_t)lo * rt->biggest
                          : (dinput ? dinput + (size_t)lo * isz : NULL);
        dc_layer_io io = {.N = hi - lo, .nthreads = 1, .train = true,
                          .x = rt->acts[i] + (size_t)lo * isz,
                          .y = rt->acts[i + 1] + (size_t)lo * dc_layer_out_size(l),
                          .dx = dx, .dy = dy, .params = m->params, .grads = grads,
                          .cache = rt->caches[i] ? (char *)rt->caches[i] + l->ops->cache_bytes(l, lo) : NULL,
                          .rng = NULL};
        l->ops->backward(l, &io);
        dy = dx;
        cur ^= 1;
    }
}

static dc_rng thread_rng(uint64_t base, int t) { return dc_rng_stream(base, (uint64_t)t, 0x64726f70); }

float *dc_runtime_forward(dc_runtime *rt, dc_model *m, int n, dc_rng *rng) {
    DC_ASSERT(n >= 1 && n <= rt->max_n);
    const int T = rt->nthreads < n ? rt->nthreads : n;
    const uint64_t base = rng ? dc_rng_u64(rng) : 0;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        dc_rng r = thread_rng(base, t);
        forward_slice(rt, m, lo, hi, &r);
    }
    return rt->acts[m->n_layers];
}

// Grads of threads 1..T-1 are added into m->grads in thread order; the
// parameter range is split across threads (each element summed in one order).
static void reduce_grads(dc_runtime *rt, dc_model *m, int t, int T) {
    if (T < 2) return;
    int lo, hi;
    slice((int)m->n_params, t, T, &lo, &hi);
    for (int k = 1; k < T; k++) {
        const float *g = rt->tgrads + (size_t)(k - 1) * m->n_params;
        for (int j = lo; j < hi; j++) m->grads[j] += g[j];
    }
}

static float *grads_of(dc_runtime *rt, dc_model *m, int t) {
    if (t == 0) return m->grads;
    float *g = rt->tgrads + (size_t)(t - 1) * m->n_params;
    memset(g, 0, sizeof(float) * m->n_params);
    return g;
}

void dc_runtime_backward(dc_runtime *rt, dc_model *m, int n, const float *dlogits,
                         float *dinput) {
    dc_runtime_backward_capture(rt, m, n, dlogits, dinput, -1, NULL);
}

void dc_runtime_backward_capture(dc_runtime *rt, dc_model *m, int n, const float *dlogits,
                                 float *dinput, int layer, float *dlayer_out) {
    DC_ASSERT(rt->train && n >= 1 && n <= rt->max_n);
    const int T = rt->nthreads < n ? rt->nthreads : n;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        backward_slice(rt, m, lo, hi, dlogits, dinput, grads_of(rt, m, t), layer, dlayer_out);
#pragma omp barrier
        reduce_grads(rt, m, t, T);
    }
}

// Mean (weighted) cross-entropy of the logits in acts[n_layers], summed in
// sample order in double, so it does not depend on the thread count.
static double batch_loss(const dc_runtime *rt, const dc_model *m, int n, const int32_t *labels,
                         const float *weights) {
    const int C = m->n_classes;
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = rt->acts[m->n_layers] + (size_t)i * C;
        float mx = z[0];
        for (int k = 1; k < C; k++)
            if (z[k] > mx) mx = z[k];
        double s = 0.0;
        for (int k = 0; k < C; k++) s += exp((double)z[k] - mx);
        double l = -((double)z[labels[i]] - mx - log(s));
        loss += weights ? weights[i] * l : l;
    }
    return loss / n;
}

double dc_runtime_train_step(dc_runtime *rt, dc_model *m, int n, const int32_t *labels,
                             const float *weights, dc_rng *rng, float *dinput) {
    DC_ASSERT(rt->train && n >= 1 && n <= rt->max_n);
    const int T = rt->nthreads < n ? rt->nthreads : n;
    const int C = m->n_classes;
    const uint64_t base = rng ? dc_rng_u64(rng) : 0;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        dc_rng r = thread_rng(base, t);
        forward_slice(rt, m, lo, hi, &r);
        // softmax and its gradient are per sample; only the 1/n scale is global
        const float *logits = rt->acts[m->n_layers] + (size_t)lo * C;
        float *probs = rt->probs + (size_t)lo * C;
        dc_softmax_xent_forward(probs, logits, labels + lo, weights ? weights + lo : NULL, hi - lo, C);
        const float invn = 1.0f / (float)n;
        for (int i = lo; i < hi; i++) {
            float s = (weights ? weights[i] : 1.0f) * invn;
            const float *p = rt->probs + (size_t)i * C;
            float *d = rt->dlogits + (size_t)i * C;
            for (int k = 0; k < C; k++) d[k] = p[k] * s;
            d[labels[i]] -= s;
        }
        backward_slice(rt, m, lo, hi, rt->dlogits, dinput, grads_of(rt, m, t), -1, NULL);
#pragma omp barrier
        reduce_grads(rt, m, t, T);
    }
    return batch_loss(rt, m, n, labels, weights);
}

// DP-SGD's first pass over a slice: per-sample squared norms of every
// parameterised layer's gradient, propagating dx as usual; the weight
// gradients land in a scratch buffer and are discarded.
static void norm_slice(dc_runtime *rt, dc_model *m, int lo, int hi, const float *dlogits,
                       float *scratch, double *sq) {
    const float *dy = dlogits + (size_t)lo * m->n_classes;
    int cur = 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        const dc_layer *l = &m->layers[i];
        size_t isz = dc_layer_in_size(l);
        float *dx = i > 0 ? rt->gbuf[cur] + (size_t)lo * rt->biggest : NULL;
        dc_layer_io io = {.N = hi - lo, .nthreads = 1, .train = true,
                          .x = rt->acts[i] + (size_t)lo * isz,
                          .y = rt->acts[i + 1] + (size_t)lo * dc_layer_out_size(l),
                          .dx = dx, .dy = dy, .params = m->params, .grads = scratch,
                          .cache = rt->caches[i] ? (char *)rt->caches[i] + l->ops->cache_bytes(l, lo) : NULL,
                          .rng = NULL};
        if (l->ops->backward_sqnorm) {
            l->ops->backward_sqnorm(l, &io, sq + lo);
        } else {
            if (l->ops->sample_sqnorm) l->ops->sample_sqnorm(l, &io, sq + lo);
            if (i > 0) l->ops->backward(l, &io);
        }
        dy = dx;
        cur ^= 1;
    }
}

double dc_runtime_dp_step(dc_runtime *rt, dc_model *m, int n, const int32_t *labels, float clip,
                          double *sq_out, int *n_clipped) {
    DC_ASSERT(rt->train && n >= 1 && n <= rt->max_n);
    const int T = rt->nthreads < n ? rt->nthreads : n;
    const int C = m->n_classes;
    if (!rt->sgrads) rt->sgrads = dc_alloc(sizeof(float) * (size_t)rt->nthreads * m->n_params);
    if (!rt->sq) rt->sq = malloc(sizeof(double) * (size_t)rt->max_n);
    DC_ASSERT(rt->sgrads && rt->sq);
    double *sq = rt->sq;
    int clipped = 0;
#pragma omp parallel num_threads(T) if (T > 1) reduction(+ : clipped)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        forward_slice(rt, m, lo, hi, NULL);
        dc_softmax_xent_forward(rt->probs + (size_t)lo * C, rt->acts[m->n_layers] + (size_t)lo * C,
                                labels + lo, NULL, hi - lo, C);
        // per-sample loss gradients (no 1/n: each sample is clipped alone)
        for (int i = lo; i < hi; i++) {
            const float *p = rt->probs + (size_t)i * C;
            float *d = rt->dlogits + (size_t)i * C;
            for (int k = 0; k < C; k++) d[k] = p[k];
            d[labels[i]] -= 1.0f;
            sq[i] = 0.0;
        }
        norm_slice(rt, m, lo, hi, rt->dlogits, rt->sgrads + (size_t)t * m->n_params, sq);
        // Opacus's rule: factor = min(1, C / (norm + 1e-6))
        for (int i = lo; i < hi; i++) {
            double f = (double)clip / (sqrt(sq[i]) + 1e-6);
            if (f < 1.0) {
                clipped++;
                float *d = rt->dlogits + (size_t)i * C;
                for (int k = 0; k < C; k++) d[k] = (float)(d[k] * f);
            }
        }
        backward_slice(rt, m, lo, hi, rt->dlogits, NULL, grads_of(rt, m, t), -1, NULL);
#pragma omp barrier
        reduce_grads(rt, m, t, T);
    }
    if (sq_out) memcpy(sq_out, sq, sizeof(double) * (size_t)n);
    if (n_clipped) *n_clipped = clipped;
    return batch_loss(rt, m, n, labels, NULL);
}

dc_status dc_model_predict(dc_model *m, const float *x, int n, float *probs, int nthreads,
                           dc_error *err) {
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "predict: batch size %d must be >= 1", n);
    if (nthreads <= 0) nthreads = dc_default_threads();
    if (!m->infer_rt || m->infer_rt->max_n < n) {
        if (m->infer_rt) dc_runtime_free(m->infer_rt);
        else if (!(m->infer_rt = calloc(1, sizeof(dc_runtime))))
            return dc_fail(err, DC_ERR_NOMEM, "predict: out of memory");
        dc_status st = dc_runtime_init(m->infer_rt, m, n, false, nthreads, err);
        if (st) {
            free(m->infer_rt);
            m->infer_rt = NULL;
            return st;
        }
    }
    dc_runtime *rt = m->infer_rt;
    memcpy(rt->acts[0], x, sizeof(float) * (size_t)n * m->in_c * m->in_h * m->in_w);
    float *logits = dc_runtime_forward(rt, m, n, NULL);
    dc_softmax_xent_forward(probs, logits, NULL, NULL, n, m->n_classes);
    return DC_OK;
}
