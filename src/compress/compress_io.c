// compress_io.c — sparse and int8 tensors in the model file (see
// compress_io.h for the layout).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compress/compress_io.h"
#include "compress/quant.h"
#include "core/core.h"

static bool keep_add(dc_compress_keep *k, void *p) {
    if (!p) return false;
    if (k->n == k->cap) {
        int nc = k->cap ? 2 * k->cap : 32;
        void **np = realloc(k->p, sizeof(void *) * (size_t)nc);
        if (!np) {
            free(p);
            return false;
        }
        k->p = np;
        k->cap = nc;
    }
    k->p[k->n++] = p;
    return true;
}

void dc_compress_keep_free(dc_compress_keep *k) {
    for (int i = 0; i < k->n; i++) free(k->p[i]);
    free(k->p);
    memset(k, 0, sizeof *k);
}

// Does t's range of the mask have a zero?
static bool tensor_sparse(const dc_model *m, const dc_tensor_ref *t) {
    if (!m->mask || t->buf != DC_BUF_PARAM) return false;
    for (size_t j = 0; j < t->n; j++)
        if (!m->mask[t->off + j]) return true;
    return false;
}

static bool quant_tensor(const dc_node *n, const dc_tensor_ref *t) {
    return dc_q_weighted(n) && (!strcmp(t->suffix, "weight") || !strcmp(t->suffix, "bias"));
}

bool dc_compress_skips(const dc_model *m, const dc_node *n, const dc_tensor_ref *t) {
    return (m->quant && quant_tensor(n, t)) || tensor_sparse(m, t);
}

bool dc_compress_writes_optim(const dc_model *m) {
    if (!m->mask || !m->has_optim) return false;
    for (size_t j = 0; j < m->n_params; j++)
        if (!m->mask[j]) return true;
    return false;
}

static void name_of(char *buf, size_t cap, const dc_node *n, const char *suffix) {
    snprintf(buf, cap, "%s.%s", n->name, suffix);
}

static dc_status save_sparse(dc_st_writer *w, const dc_model *m, dc_compress_keep *keep, dc_error *err) {
    char name[320];
    size_t kept = 0, total = 0;
    int tensors = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            if (t->buf == DC_BUF_PARAM) total += t->n;
            if (!tensor_sparse(m, t) || (m->quant && quant_tensor(n, t))) {
                if (t->buf == DC_BUF_PARAM && m->mask) kept += t->n;
                continue;
            }
            const size_t nb = (t->n + 7) / 8;
            uint8_t *bits = calloc(nb ? nb : 1, 1);
            size_t cnt = 0;
            for (size_t j = 0; j < t->n; j++) cnt += m->mask[t->off + j] != 0;
            float *vals = malloc(sizeof(float) * (cnt ? cnt : 1));
            if (!keep_add(keep, bits) || !keep_add(keep, vals)) return dc_fail(err, DC_ERR_NOMEM, "save: out of memory");
            size_t c = 0;
            for (size_t j = 0; j < t->n; j++)
                if (m->mask[t->off + j]) {
                    bits[j / 8] |= (uint8_t)(1u << (j % 8));
                    vals[c++] = m->params[t->off + j];
                }
            int64_t sb[1] = {(int64_t)nb}, sv[1] = {(int64_t)cnt};
            snprintf(name, sizeof name, "%s.%s:mask", n->name, t->suffix);
            dc_st_add(w, name, DC_ST_U8, 1, sb, bits);
            snprintf(name, sizeof name, "%s.%s:values", n->name, t->suffix);
            dc_st_add(w, name, DC_ST_F32, 1, sv, vals);
            kept += cnt;
            tensors++;
        }
    }
    if (dc_compress_writes_optim(m)) {
        size_t cnt = 0;
        for (size_t j = 0; j < m->n_params; j++) cnt += m->mask[j] != 0;
        const float *bufs[2] = {m->optim.buf1, m->optim.buf2};
        const char *names[2] = {"optim.buf1:values", "optim.buf2:values"};
        for (int b = 0; b < 2; b++) {
            if (!bufs[b]) continue;
            float *v = malloc(sizeof(float) * (cnt ? cnt : 1));
            if (!keep_add(keep, v)) return dc_fail(err, DC_ERR_NOMEM, "save: out of memory");
            size_t c = 0;
            for (size_t j = 0; j < m->n_params; j++)
                if (m->mask[j]) v[c++] = bufs[b][j];
            int64_t sv[1] = {(int64_t)cnt};
            dc_st_add(w, names[b], DC_ST_F32, 1, sv, v);
        }
    }
    if (tensors) {
        char meta[256];
        snprintf(meta, sizeof meta, "{\"format\":\"bitmap+values\",\"kept\":%zu,\"total\":%zu,\"tensors\":%d}", kept,
                 total, tensors);
        dc_st_add_meta(w, "deepc.sparse", meta);
    }
    return DC_OK;
}

static dc_status save_quant(dc_st_writer *w, const dc_model *m, dc_error *err) {
    const dc_qmodel *q = m->quant;
    char name[320];
    int64_t one[1] = {1};
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        name_of(name, sizeof name, n, "output_scale");
        dc_st_add(w, name, DC_ST_F32, 1, one, &q->act_scale[i]);
        name_of(name, sizeof name, n, "output_zero_point");
        dc_st_add(w, name, DC_ST_I32, 1, one, &q->act_zp[i]);
        if (!q->w[i]) continue;
        int64_t oc[1] = {n->c};
        name_of(name, sizeof name, n, "weight");
        dc_st_add(w, name, DC_ST_I8, n->t[0].rank, n->t[0].shape, q->w[i]);
        name_of(name, sizeof name, n, "weight_scale");
        dc_st_add(w, name, DC_ST_F32, 1, oc, q->w_scale[i]);
        name_of(name, sizeof name, n, "bias");
        dc_st_add(w, name, DC_ST_I32, 1, oc, q->bias[i]);
    }
    cJSON *j = cJSON_CreateObject();
    if (!j) return dc_fail(err, DC_ERR_NOMEM, "save: out of memory");
    cJSON_AddStringToObject(j, "scheme", "int8");
    cJSON_AddStringToObject(j, "weights", "symmetric per-channel int8 [-127, 127]");
    cJSON_AddStringToObject(j, "activations", "asymmetric per-tensor uint8");
    cJSON_AddNumberToObject(j, "qmax", q->qmax);
    cJSON_AddStringToObject(j, "calibration", q->method);
    cJSON_AddNumberToObject(j, "samples", q->samples);
    if (q->percentile > 0) cJSON_AddNumberToObject(j, "percentile", q->percentile);
    cJSON_AddStringToObject(j, "requantization", "gemmlowp fixed-point (M0, shift)");
    cJSON_AddStringToObject(j, "output", "int32");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return dc_fail(err, DC_ERR_NOMEM, "save: out of memory");
    dc_st_add_meta(w, "deepc.quant", s);
    free(s);
    return DC_OK;
}

dc_status dc_compress_save(dc_st_writer *w, const dc_model *m, dc_compress_keep *keep, dc_error *err) {
    dc_status st = DC_OK;
    if (m->quant) st = save_quant(w, m, err);
    if (!st && m->mask) st = save_sparse(w, m, keep, err);
    return st;
}

// ---------------------------------------------------------------------------
// Loading

bool dc_compress_file_holds(const dc_st_file *f, const dc_node *n, const dc_tensor_ref *t) {
    char name[320];
    if (dc_st_meta(f, "deepc.quant") && quant_tensor(n, t)) return true;
    snprintf(name, sizeof name, "%s.%s:values", n->name, t->suffix);
    return t->buf == DC_BUF_PARAM && dc_st_find(f, name) != NULL;
}

bool dc_compress_file_sparse_optim(const dc_st_file *f) { return dc_st_find(f, "optim.buf1:values") != NULL; }

static dc_status load_sparse(dc_model *m, const dc_st_file *f, dc_error *err) {
    char name[320];
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            snprintf(name, sizeof name, "%s.%s:values", n->name, t->suffix);
            if (t->buf != DC_BUF_PARAM || !dc_st_find(f, name)) continue;
            if (!m->mask) {
                if (!(m->mask = malloc(m->n_params ? m->n_params : 1))) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
                memset(m->mask, 1, m->n_params);
            }
            const dc_st_tensor *bits, *vals;
            const int64_t nb[1] = {(int64_t)((t->n + 7) / 8)};
            char mname[320];
            snprintf(mname, sizeof mname, "%s.%s:mask", n->name, t->suffix);
            dc_status st = dc_st_expect(f, mname, DC_ST_U8, 1, nb, &bits, err);
            if (st) return st;
            const uint8_t *b = bits->data;
            size_t cnt = 0;
            for (size_t j = 0; j < t->n; j++) cnt += (b[j / 8] >> (j % 8)) & 1u;
            for (size_t j = t->n; j < (size_t)nb[0] * 8; j++)
                if ((b[j / 8] >> (j % 8)) & 1u)
                    return dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s: bits set past the %zu elements", f->path, mname, t->n);
            const int64_t nv[1] = {(int64_t)cnt};
            if ((st = dc_st_expect(f, name, DC_ST_F32, 1, nv, &vals, err))) return st;
            const float *v = vals->data;
            size_t c = 0;
            for (size_t j = 0; j < t->n; j++) {
                const bool on = (b[j / 8] >> (j % 8)) & 1u;
                m->mask[t->off + j] = on;
                float x = on ? v[c++] : 0.0f;
                if (!isfinite(x))
                    return dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%zu] is not finite: the model is corrupt", f->path,
                                   name, c - 1);
                m->params[t->off + j] = x;
            }
        }
    }
    return DC_OK;
}

static dc_status scalar_f32(const dc_st_file *f, const dc_node *n, const char *suffix, float *out, dc_error *err) {
    char name[320];
    name_of(name, sizeof name, n, suffix);
    const int64_t one[1] = {1};
    const dc_st_tensor *t;
    dc_status st = dc_st_expect(f, name, DC_ST_F32, 1, one, &t, err);
    if (!st) memcpy(out, t->data, sizeof(float));
    return st;
}

static dc_status load_quant(dc_model *m, const dc_st_file *f, dc_error *err) {
    const char *meta = dc_st_meta(f, "deepc.quant");
    cJSON *j = cJSON_Parse(meta);
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(j, "qmax");
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(j, "calibration");
    const cJSON *smp = cJSON_GetObjectItemCaseSensitive(j, "samples");
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(j, "percentile");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(qm) || (qm->valueint != 255 && qm->valueint != 127)) {
        cJSON_Delete(j);
        return dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.quant: expected an object with qmax 255 or 127", f->path);
    }
    dc_qmodel *q = NULL;
    dc_status st = dc_q_check_supported(m, err);
    if (!st) st = dc_qmodel_new(&q, m, err);
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    q->qmax = qm->valueint;
    if (cJSON_IsString(cal)) snprintf(q->method, sizeof q->method, "%s", cal->valuestring);
    if (cJSON_IsNumber(smp)) q->samples = smp->valueint;
    if (cJSON_IsNumber(pct)) q->percentile = pct->valuedouble;
    cJSON_Delete(j);
    char name[320];
    for (int i = 0; !st && i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        float s;
        if ((st = scalar_f32(f, n, "output_scale", &s, err))) break;
        if (!(s > 0) || !isfinite(s)) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s.output_scale = %g: a scale must be a positive number", f->path,
                         n->name, s);
            break;
        }
        q->act_scale[i] = s;
        const dc_st_tensor *t;
        const int64_t one[1] = {1};
        name_of(name, sizeof name, n, "output_zero_point");
        if ((st = dc_st_expect(f, name, DC_ST_I32, 1, one, &t, err))) break;
        memcpy(&q->act_zp[i], t->data, sizeof(int32_t));
        if (q->act_zp[i] < 0 || q->act_zp[i] > q->qmax) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s = %d: a zero point must be in [0, %d]", f->path, name,
                         q->act_zp[i], q->qmax);
            break;
        }
        if (!q->w[i]) continue;
        const int64_t oc[1] = {n->c};
        name_of(name, sizeof name, n, "weight");
        if ((st = dc_st_expect(f, name, DC_ST_I8, n->t[0].rank, n->t[0].shape, &t, err))) break;
        memcpy(q->w[i], t->data, n->t[0].n);
        for (size_t k = 0; k < n->t[0].n; k++)
            if (q->w[i][k] == -128) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%zu] = -128: int8 weights are symmetric, in [-127, 127]",
                             f->path, name, k);
                break;
            }
        if (st) break;
        name_of(name, sizeof name, n, "weight_scale");
        if ((st = dc_st_expect(f, name, DC_ST_F32, 1, oc, &t, err))) break;
        memcpy(q->w_scale[i], t->data, sizeof(float) * (size_t)n->c);
        for (int o = 0; o < n->c; o++)
            if (!(q->w_scale[i][o] > 0) || !isfinite(q->w_scale[i][o])) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%d]: a scale must be a positive number", f->path, name, o);
                break;
            }
        if (st) break;
        name_of(name, sizeof name, n, "bias");
        if ((st = dc_st_expect(f, name, DC_ST_I32, 1, oc, &t, err))) break;
        memcpy(q->bias[i], t->data, sizeof(int32_t) * (size_t)n->c);
    }
    if (!st) st = dc_qmodel_dequantize_params(m, q, f->path, err);
    if (st) {
        dc_qmodel_free(q);
        return st;
    }
    m->quant = q;
    return DC_OK;
}

dc_status dc_compress_load(dc_model *m, const dc_st_file *f, dc_error *err) {
    dc_status st = load_sparse(m, f, err);
    if (!st && dc_st_meta(f, "deepc.quant")) st = load_quant(m, f, err);
    return st;
}

dc_status dc_compress_load_optim(dc_model *m, const dc_st_file *f, dc_error *err) {
    if (!m->mask) return dc_fail(err, DC_ERR_FORMAT, "%s: sparse optimizer state without sparse tensors", f->path);
    size_t cnt = 0;
    for (size_t j = 0; j < m->n_params; j++) cnt += m->mask[j] != 0;
    float *bufs[2] = {m->optim.buf1, m->optim.buf2};
    const char *names[2] = {"optim.buf1:values", "optim.buf2:values"};
    for (int b = 0; b < 2; b++) {
        if (!bufs[b]) continue;
        const dc_st_tensor *t;
        const int64_t sv[1] = {(int64_t)cnt};
        dc_status st = dc_st_expect(f, names[b], DC_ST_F32, 1, sv, &t, err);
        if (st) return st;
        const float *v = t->data;
        size_t c = 0;
        for (size_t j = 0; j < m->n_params; j++) bufs[b][j] = m->mask[j] ? v[c++] : 0.0f;
    }
    return DC_OK;
}
