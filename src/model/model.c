// model.c — the model object: allocation and teardown of its flat buffers,
// accessors, metadata records, class names, the layer table, parameter
// initialisation and input normalisation. The text format is arch.c's, the
// passes are exec.c's.
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/quant.h"
#include "core/core.h"
#include "layers/layers.h"
#include "model/model.h"

dc_model *dc_model_alloc(void) { return calloc(1, sizeof(dc_model)); }

dc_status dc_model_alloc_buffers(dc_model *m, dc_error *err) {
    dc_free(m->params);
    dc_free(m->grads);
    dc_free(m->state);
    m->params = dc_alloc(sizeof(float) * m->n_params);
    m->grads = dc_alloc(sizeof(float) * m->n_params);
    m->state = m->n_state ? dc_alloc(sizeof(float) * m->n_state) : NULL;
    if (!m->params || !m->grads || (m->n_state && !m->state))
        return dc_fail(err, DC_ERR_NOMEM, "out of memory for %zu parameters (%.1f MiB)", m->n_params,
                       m->n_params * 8.0 / (1 << 20));
    // per-channel normalisation, mean 0 and std 1 until it is set
    if (!m->norm_mean) {
        m->norm_mean = malloc(sizeof(float) * (size_t)m->in_c);
        m->norm_std = malloc(sizeof(float) * (size_t)m->in_c);
        if (!m->norm_mean || !m->norm_std) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
        for (int k = 0; k < m->in_c; k++) {
            m->norm_mean[k] = 0.0f;
            m->norm_std[k] = 1.0f;
        }
    }
    return DC_OK;
}

void dc_model_free(dc_model *m) {
    if (!m) return;
    free(m->nodes);
    dc_free(m->params);
    dc_free(m->grads);
    dc_free(m->state);
    free(m->arch_text);
    free(m->norm_mean);
    free(m->norm_std);
    if (m->class_names)
        for (int i = 0; i < m->n_classes; i++) free(m->class_names[i]);
    free(m->class_names);
    if (m->has_optim) dc_optim_free(&m->optim);
    free(m->train_config_json);
    free(m->history_json);
    free(m->provenance_json);
    free(m->privacy_json);
    free(m->tab_mean);
    free(m->tab_std);
    for (int k = 0; m->tab_columns && k < m->tab_f; k++) free(m->tab_columns[k]);
    free(m->tab_columns);
    free(m->reference_json);
    free(m->mask);
    dc_qmodel_free(m->quant);
    dc_free(m->qat_master);
    free(m);
}

int dc_model_find_node(const dc_model *m, const char *name) {
    for (int i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].name, name)) return i;
    return -1;
}

const dc_node *dc_model_coupled_node(const dc_model *m) {
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op->flags & DC_OP_COUPLED) return &m->nodes[i];
    return NULL;
}

int dc_model_min_train_batch(const dc_model *m) {
    int need = 1;
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (!(n->op->flags & DC_OP_COUPLED)) continue;
        int hw = n->h * n->w, k = hw >= 2 ? 1 : 2;
        if (k > need) need = k;
    }
    return need;
}

const dc_tensor_ref *dc_model_find_tensor(const dc_model *m, const char *name) {
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        size_t ln = strlen(n->name);
        if (strncmp(name, n->name, ln) || name[ln] != '.') continue;
        const dc_tensor_ref *t = dc_node_tensor(n, name + ln + 1);
        if (t) return t;
    }
    return NULL;
}

// ---------------------------------------------------------------------------
// Accessors

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
    if (!strcmp(key, "reference")) return &mm->reference_json;
    return NULL;
}

const char *dc_model_info(const dc_model *m, const char *key) {
    char **slot = info_slot(m, key);
    return slot ? *slot : NULL;
}

dc_status dc_model_set_info(dc_model *m, const char *key, const char *json, dc_error *err) {
    char **slot = info_slot(m, key);
    if (!slot) return dc_fail(err, DC_ERR_ARG, "model info: unknown key '%s' (train_config, provenance, history, privacy, reference)", key);
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

// ---------------------------------------------------------------------------
// The layer table

int dc_model_num_nodes(const dc_model *m) { return m->n_nodes; }

void dc_model_node_info(const dc_model *m, int i, dc_node_info *info) {
    const dc_node *n = &m->nodes[i];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->kind = n->op->kind;
    dc_node_config_text(n, info->config, sizeof info->config);
    info->c = n->c;
    info->h = n->h;
    info->w = n->w;
    info->params = dc_node_num_params(n);
    info->macs = dc_node_macs(n);
    info->n_in = n->n_in;
    for (int k = 0; k < n->n_in && k < 8; k++) info->in[k] = n->in[k];
}

int64_t dc_model_macs(const dc_model *m) {
    int64_t s = 0;
    for (int i = 0; i < m->n_nodes; i++) s += dc_node_macs(&m->nodes[i]);
    return s;
}

// 1234567 -> "1.23M"
static void human(char *buf, size_t cap, double v) {
    if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, cap, "%.1fK", v / 1e3);
    else snprintf(buf, cap, "%.0f", v);
}

void dc_model_summary(const dc_model *m, char *buf, size_t cap) {
    size_t len = 0;
    if (cap) buf[0] = 0;
#define OUT(...) do { if (len < cap) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__); } while (0)
    int nw = 5;
    for (int i = 0; i < m->n_nodes; i++) {
        int l = (int)strlen(m->nodes[i].name);
        if (l > nw) nw = l;
    }
    OUT("%-3s %-*s %-13s %-10s %9s %8s  %s\n", "#", nw, "name", "kind", "output", "params", "MACs", "config");
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        char shape[48], macs[16], idx[16], cfg[512];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->c, n->h, n->w);
        human(macs, sizeof macs, (double)dc_node_macs(n));
        snprintf(idx, sizeof idx, "%d", i - 1);
        size_t cl = (size_t)dc_node_config_text(n, cfg, sizeof cfg);
        if (!(n->n_in == 0 || (n->n_in == 1 && n->in[0] == i - 1))) { // inputs, where not the row above
            cl += (size_t)snprintf(cfg + cl, sizeof cfg - cl, "%sfrom=", cl ? " " : "");
            for (int k = 0; k < n->n_in && cl < sizeof cfg; k++)
                cl += (size_t)snprintf(cfg + cl, sizeof cfg - cl, "%s%s", k ? "," : "", m->nodes[n->in[k]].name);
        }
        if (i == 0) OUT("%-3s %-*s %-13s %-10s\n", "-", nw, n->name, "", shape);
        else OUT("%-3s %-*s %-13s %-10s %9zu %8s  %s\n", idx, nw, n->name, n->op->kind, shape, dc_node_num_params(n),
                 macs, cfg);
    }
    char tm[16];
    human(tm, sizeof tm, (double)dc_model_macs(m));
    OUT("total parameters: %zu (%.1f KiB as fp32), %s multiply-adds per sample", m->n_params, m->n_params * 4.0 / 1024.0,
        tm);
    if (m->n_state) OUT(", %zu state values (BatchNorm statistics)", m->n_state);
    OUT("\n");
#undef OUT
}

// ---------------------------------------------------------------------------
// Initialisation and normalisation

void dc_model_init_params(dc_model *m, dc_rng *rng) {
    // each kind's own rule, in node order (so a given seed gives given bits)
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        if (n->op->init) n->op->init(n, m->params, m->state, rng);
    }
}

void dc_model_set_normalisation(dc_model *m, const dc_dataset *train) {
    // mean/std of the training pixels in [0,1] units, in double: one pair per
    // channel when the data has the model's channels (colour data is
    // normalised per channel, as torchvision's Normalize), else one pair over
    // all of them for every channel
    const int C = train->c == m->in_c ? m->in_c : 1;
    const size_t plane = (size_t)train->h * train->w * (size_t)(train->c / C);
    for (int k = 0; k < C; k++) {
        uint64_t hist[256] = {0};
        for (int i = 0; i < train->n; i++) {
            const uint8_t *p = train->pixels + ((size_t)i * train->c + (size_t)k * (train->c / C)) *
                                                   ((size_t)train->h * train->w);
            for (size_t j = 0; j < plane; j++) hist[p[j]]++;
        }
        size_t count = plane * (size_t)train->n;
        double s = 0, s2 = 0;
        for (int v = 0; v < 256; v++) {
            double x = v / 255.0;
            s += (double)hist[v] * x;
            s2 += (double)hist[v] * x * x;
        }
        double mean = count ? s / (double)count : 0.0;
        double var = count ? s2 / (double)count - mean * mean : 1.0;
        m->norm_mean[k] = (float)mean;
        m->norm_std[k] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    for (int k = C; k < m->in_c; k++) {
        m->norm_mean[k] = m->norm_mean[0];
        m->norm_std[k] = m->norm_std[0];
    }
    m->norm_given = true;
}

int dc_model_tabular_features(const dc_model *m) { return m->tab_f; }

void dc_model_normalise_tabular(const dc_model *m, float *tab, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->tab_f; k++) {
            float *v = tab + (size_t)i * m->tab_f + k;
            *v = (*v - m->tab_mean[k]) / m->tab_std[k];
        }
}

dc_status dc_model_set_tabular_normalisation(dc_model *m, const dc_tabular *train, dc_error *err) {
    if (!m->tab_f) return dc_fail(err, DC_ERR_ARG, "%s: the model has no tabular input", train->source);
    if (train->f != m->tab_f)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %d columns, the model's tabular input takes %d", train->source, train->f,
                       m->tab_f);
    char **names = calloc((size_t)m->tab_f, sizeof(char *));
    if (!names) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < m->tab_f; k++)
        if (!(names[k] = strdup(train->columns[k]))) {
            for (int j = 0; j < k; j++) free(names[j]);
            free(names);
            return dc_fail(err, DC_ERR_NOMEM, "out of memory");
        }
    // per-column mean and (biased) std in double; a constant column keeps std 1
    for (int k = 0; k < m->tab_f; k++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < train->n; i++) s += train->x[(size_t)i * train->f + k];
        double mean = s / train->n;
        for (int i = 0; i < train->n; i++) {
            double d = train->x[(size_t)i * train->f + k] - mean;
            s2 += d * d;
        }
        double sd = sqrt(s2 / train->n);
        m->tab_mean[k] = (float)mean;
        m->tab_std[k] = sd > 1e-12 && (float)sd >= FLT_MIN ? (float)sd : 1.0f;
    }
    for (int k = 0; m->tab_columns && k < m->tab_f; k++) free(m->tab_columns[k]);
    free(m->tab_columns);
    m->tab_columns = names;
    return DC_OK;
}

void dc_model_set_normalisation_values(dc_model *m, float mean, float std) {
    for (int k = 0; k < m->in_c; k++) {
        m->norm_mean[k] = mean;
        m->norm_std[k] = std > 0 ? std : 1.0f;
    }
    m->norm_given = true;
}

dc_status dc_model_set_normalisation_channels(dc_model *m, const float *mean, const float *std, int n,
                                              dc_error *err) {
    if (n != 1 && n != m->in_c)
        return m->in_c == 1 ? dc_fail(err, DC_ERR_ARG, "normalisation: %d mean/std values for a model with 1 input "
                                      "channel: give one mean and one std", n)
                            : dc_fail(err, DC_ERR_ARG, "normalisation: %d mean/std values for a model with %d input "
                                      "channels (give 1 or %d)", n, m->in_c, m->in_c);
    for (int k = 0; k < n; k++)
        if (!isfinite(mean[k]) || !(std[k] >= FLT_MIN) || !isfinite(std[k]))
            return dc_fail(err, DC_ERR_ARG, "normalisation: channel %d: mean %g, std %g: expected a finite mean "
                           "and a positive finite std", k, mean[k], std[k]);
    for (int k = 0; k < m->in_c; k++) {
        m->norm_mean[k] = mean[n == 1 ? 0 : k];
        m->norm_std[k] = std[n == 1 ? 0 : k];
    }
    m->norm_given = true;
    return DC_OK;
}

void dc_model_get_normalisation(const dc_model *m, float *mean, float *std) {
    *mean = m->norm_mean[0];
    *std = m->norm_std[0];
}

int dc_model_get_normalisation_channels(const dc_model *m, float *mean, float *std) {
    for (int k = 0; k < m->in_c; k++) {
        mean[k] = m->norm_mean[k];
        std[k] = m->norm_std[k];
    }
    return m->in_c;
}

bool dc_model_has_normalisation(const dc_model *m) { return m->norm_given; }

void dc_model_normalise(const dc_model *m, float *x, const uint8_t *px, size_t count) {
    // count is a whole number of (in_c, in_h, in_w) images (or of planes for
    // a model whose channels all share one normalisation)
    const size_t plane = (size_t)m->in_h * m->in_w;
    bool same = true;
    for (int k = 1; k < m->in_c; k++)
        same = same && m->norm_mean[k] == m->norm_mean[0] && m->norm_std[k] == m->norm_std[0];
    if (same) {
        const float scale = 1.0f / (255.0f * m->norm_std[0]), shift = m->norm_mean[0] / m->norm_std[0];
        for (size_t i = 0; i < count; i++) x[i] = (float)px[i] * scale - shift;
        return;
    }
    DC_ASSERT(count % (plane * (size_t)m->in_c) == 0);
    for (size_t p0 = 0, k = 0; p0 < count; p0 += plane, k = (k + 1) % (size_t)m->in_c) {
        const float scale = 1.0f / (255.0f * m->norm_std[k]), shift = m->norm_mean[k] / m->norm_std[k];
        for (size_t i = p0; i < p0 + plane; i++) x[i] = (float)px[i] * scale - shift;
    }
}

// ---------------------------------------------------------------------------
// The legacy one-call inference (not re-entrant: it caches a runtime in the
// model). New code uses dc_session.

dc_status dc_model_predict(dc_model *m, const float *x, int n, float *probs, int nthreads, dc_error *err) {
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "predict: batch size %d must be >= 1", n);
    if (nthreads <= 0) nthreads = dc_default_threads();
    // planned afresh per call: the model may have been trained since
    dc_session *s;
    dc_status st = dc_session_new(&s, m, n, nthreads, err);
    if (st) return st;
    st = dc_session_predict(s, x, n, probs, err);
    dc_session_free(s);
    return st;
}
