// model_io.c — a model is one safetensors file: the parameter tensors under
// PyTorch-style names ("conv1.weight", "fc1.bias", ...), the optimizer state
// as flat tensors ("optim.buf1", "optim.buf2"), and everything else in
// __metadata__ as strings (JSON where structured):
//   deepc.arch        canonical text architecture (README: "Model files")
//   deepc.input       "C,H,W"
//   deepc.classes     JSON array of class names
//   deepc.norm        {"mean":m,"std":s} of [0,1] pixels (printed %.9g: exact)
//                     for one channel, {"mean":[m0,m1,..],"std":[s0,s1,..]}
//                     (one per input channel) for several; both forms load
//   deepc.library_version  the deepc that wrote the file ("0.8.0")
//   deepc.epochs_done epochs trained so far
//   deepc.optim       {"kind","step","momentum","nesterov","weight_decay","beta1","beta2","eps"}
//   deepc.train_config, deepc.history, deepc.provenance, deepc.privacy  JSON
//   deepc.reference   drift reference statistics (deepc serve; src/serve/drift.c)
//                     (provenance always holds "version": the deepc that
//                     made the model; added here when a caller left it out)
// A file written by PyTorch with the same tensor names and metadata loads.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compress/compress_io.h"
#include "io/safetensors.h"
#include "model/model.h"

static const char *optim_names[] = {"sgd", "adam", "adamw"};

// Tensor name "<node>.<suffix>" into buf (names are bounded at build time).
static void tensor_name(char *buf, size_t cap, const dc_node *n, const dc_tensor_ref *t) {
    snprintf(buf, cap, "%s.%s", n->name, t->suffix);
}

dc_status dc_model_save(const dc_model *m, const char *path, dc_error *err) {
    dc_st_writer w;
    dc_st_writer_init(&w);
    char name[300];
    // int64 copies of counters kept as floats in the state buffer (PyTorch
    // stores num_batches_tracked as int64); freed after the write
    int n_i64 = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_t; k++) n_i64 += m->nodes[i].t[k].int64_on_disk;
    int64_t *i64 = n_i64 ? malloc(sizeof(int64_t) * (size_t)n_i64) : NULL;
    if (n_i64 && !i64) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    int used = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            const float *src = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            tensor_name(name, sizeof name, n, t);
            if (dc_compress_skips(m, n, t)) continue; // int8 or sparse: dc_compress_save
            if (t->int64_on_disk) {
                DC_ASSERT(t->n == 1);
                i64[used] = (int64_t)src[0];
                dc_st_add(&w, name, DC_ST_I64, 0, t->shape, &i64[used++]);
            } else {
                dc_st_add(&w, name, DC_ST_F32, t->rank, t->shape, src);
            }
        }
    }
    char buf[512];
    if (m->has_optim) {
        int64_t shape[1] = {(int64_t)m->n_params};
        if (!dc_compress_writes_optim(m)) { // else sparse, by dc_compress_save
            dc_st_add(&w, "optim.buf1", DC_ST_F32, 1, shape, m->optim.buf1);
            if (m->optim.buf2) dc_st_add(&w, "optim.buf2", DC_ST_F32, 1, shape, m->optim.buf2);
        }
        snprintf(buf, sizeof buf,
                 "{\"kind\":\"%s\",\"step\":%lld,\"momentum\":%.9g,\"nesterov\":%s,\"weight_decay\":%.9g,"
                 "\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g}",
                 optim_names[m->optim.kind], (long long)m->optim.step, m->optim.momentum,
                 m->optim.nesterov ? "true" : "false", m->optim.weight_decay, m->optim.beta1,
                 m->optim.beta2, m->optim.eps);
        dc_st_add_meta(&w, "deepc.optim", buf);
    }
    dc_st_add_meta(&w, "format", "pt");
    dc_st_add_meta(&w, "deepc.version", "1");
    dc_st_add_meta(&w, "deepc.arch", m->arch_text);
    snprintf(buf, sizeof buf, "%d,%d,%d", m->in_c, m->in_h, m->in_w);
    dc_st_add_meta(&w, "deepc.input", buf);
    cJSON *classes = cJSON_CreateArray();
    for (int i = 0; classes && i < m->n_classes; i++)
        cJSON_AddItemToArray(classes, cJSON_CreateString(m->class_names[i]));
    char *cls = classes ? cJSON_PrintUnformatted(classes) : NULL;
    cJSON_Delete(classes);
    if (cls) dc_st_add_meta(&w, "deepc.classes", cls);
    free(cls);
    char *norm = NULL;
    if (m->in_c == 1) {
        snprintf(buf, sizeof buf, "{\"mean\":%.9g,\"std\":%.9g}", m->norm_mean[0], m->norm_std[0]);
        norm = strdup(buf);
    } else { // one value per channel; cJSON prints doubles exactly, so each float round-trips
        cJSON *nj = cJSON_CreateObject();
        if (nj) {
            cJSON_AddItemToObject(nj, "mean", cJSON_CreateFloatArray(m->norm_mean, m->in_c));
            cJSON_AddItemToObject(nj, "std", cJSON_CreateFloatArray(m->norm_std, m->in_c));
            norm = cJSON_PrintUnformatted(nj);
            cJSON_Delete(nj);
        }
    }
    if (norm) dc_st_add_meta(&w, "deepc.norm", norm);
    dc_st_add_meta(&w, "deepc.library_version", DC_VERSION);
    snprintf(buf, sizeof buf, "%d", m->epochs_done);
    dc_st_add_meta(&w, "deepc.epochs_done", buf);
    if (m->train_config_json) dc_st_add_meta(&w, "deepc.train_config", m->train_config_json);
    if (m->history_json) dc_st_add_meta(&w, "deepc.history", m->history_json);
    // every model's provenance names the deepc that made it
    cJSON *pj = m->provenance_json ? cJSON_Parse(m->provenance_json) : cJSON_CreateObject();
    char *prov = NULL;
    if (cJSON_IsObject(pj) && !cJSON_GetObjectItemCaseSensitive(pj, "version")) {
        if (!cJSON_GetObjectItemCaseSensitive(pj, "tool")) cJSON_AddStringToObject(pj, "tool", "deepc");
        cJSON_AddStringToObject(pj, "version", DC_VERSION);
        prov = cJSON_PrintUnformatted(pj);
    }
    cJSON_Delete(pj);
    if (prov || m->provenance_json) dc_st_add_meta(&w, "deepc.provenance", prov ? prov : m->provenance_json);
    if (m->privacy_json) dc_st_add_meta(&w, "deepc.privacy", m->privacy_json);
    char *tab = NULL;
    if (m->tab_f) { // {"columns":[...],"mean":[...],"std":[...]}: the tabular standardisation
        cJSON *t = cJSON_CreateObject(), *cols = cJSON_AddArrayToObject(t, "columns");
        cJSON *mean = cJSON_AddArrayToObject(t, "mean"), *sd = cJSON_AddArrayToObject(t, "std");
        for (int k = 0; k < m->tab_f; k++) {
            char name[32];
            snprintf(name, sizeof name, "x%d", k);
            cJSON_AddItemToArray(cols, cJSON_CreateString(m->tab_columns ? m->tab_columns[k] : name));
            cJSON_AddItemToArray(mean, cJSON_CreateNumber(m->tab_mean[k]));
            cJSON_AddItemToArray(sd, cJSON_CreateNumber(m->tab_std[k]));
        }
        tab = cJSON_PrintUnformatted(t);
        cJSON_Delete(t);
        if (tab) dc_st_add_meta(&w, "deepc.tabular", tab);
    }
    if (m->reference_json) dc_st_add_meta(&w, "deepc.reference", m->reference_json);
    dc_compress_keep keep = {0};
    dc_status st = dc_compress_save(&w, m, &keep, err);
    if (!st) st = cls && norm ? dc_st_write(&w, path, err) : dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    dc_compress_keep_free(&keep);
    if (m->tab_f && !tab && !st) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    free(tab);
    dc_st_writer_free(&w);
    free(prov);
    free(norm);
    free(i64);
    return st;
}

static dc_status need_meta(const dc_st_file *f, const char *key, const char **out, dc_error *err) {
    *out = dc_st_meta(f, key);
    if (!*out)
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: __metadata__ has no \"%s\": not a deepc model file (see README, 'Model files')",
                       f->path, key);
    return DC_OK;
}

static dc_status json_number(const cJSON *obj, const char *key, double *out, const char *path,
                             const char *field, dc_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ %s.%s: expected a number", path, field, key);
    *out = v->valuedouble;
    return DC_OK;
}

// A number that must also be a finite float.
static dc_status json_float(const cJSON *obj, const char *key, double *out, const char *path, const char *field,
                            dc_error *err) {
    dc_status st = json_number(obj, key, out, path, field, err);
    if (!st && !(fabs(*out) <= FLT_MAX))
        return dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ %s.%s=%g: outside the float range", path, field, key, *out);
    return st;
}

static char *dup_meta(const dc_st_file *f, const char *key) {
    const char *v = dc_st_meta(f, key);
    return v ? strdup(v) : NULL;
}

dc_status dc_model_load(dc_model **out, const char *path, dc_error *err) {
    *out = NULL;
    dc_st_file f;
    dc_status st = dc_st_read(&f, path, err);
    if (st) return st;
    dc_model *m = NULL;
    cJSON *j = NULL;
    const char *arch, *input, *v;
    int c, h, w;
    char tail;
    if ((st = need_meta(&f, "deepc.arch", &arch, err))) goto done;
    if ((st = need_meta(&f, "deepc.input", &input, err))) goto done;
    if (sscanf(input, "%d,%d,%d%c", &c, &h, &w, &tail) != 3 || c < 1 || h < 1 || w < 1 ||
        c > 4096 || h > 65536 || w > 65536) {
        st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.input='%s': expected C,H,W", path, input);
        goto done;
    }
    int n_classes = 0;
    if ((v = dc_st_meta(&f, "deepc.classes"))) {
        j = cJSON_Parse(v);
        if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) < 2) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.classes: expected a JSON array of at least 2 names", path);
            goto done;
        }
        n_classes = cJSON_GetArraySize(j);
    }
    char origin[600];
    snprintf(origin, sizeof origin, "%s: deepc.arch", path);
    // the architecture's shapes first, no buffers: every tensor the file must
    // hold is checked against the file before anything is allocated, so a
    // tiny file that declares a huge model is refused cheaply
    if ((st = dc_model_build(&m, arch, origin, c, h, w, n_classes, 0, err))) goto done;
    char name[300];
    for (int i = 0; i < m->n_nodes && !st; i++)
        for (int k = 0; k < m->nodes[i].n_t && !st; k++) {
            const dc_tensor_ref *t = &m->nodes[i].t[k];
            const dc_st_tensor *ft;
            tensor_name(name, sizeof name, &m->nodes[i], t);
            if (dc_compress_file_holds(&f, &m->nodes[i], t)) continue; // int8 or sparse: dc_compress_load
            if (t->int64_on_disk) st = dc_st_expect(&f, name, DC_ST_I64, 0, t->shape, &ft, err);
            else st = dc_st_expect(&f, name, DC_ST_F32, t->rank, t->shape, &ft, err);
        }
    if (st) goto done;
    if ((st = dc_model_alloc_buffers(m, err))) goto done;
    if (j) {
        for (int i = 0; i < n_classes; i++) {
            const cJSON *s = cJSON_GetArrayItem(j, i);
            if (!cJSON_IsString(s)) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.classes[%d]: expected a string", path, i);
                goto done;
            }
            free(m->class_names[i]);
            if (!(m->class_names[i] = strdup(s->valuestring))) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
        }
        cJSON_Delete(j);
        j = NULL;
    }
    // parameters and state
    for (int i = 0; i < m->n_nodes; i++) {
        const dc_node *n = &m->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            const dc_tensor_ref *t = &n->t[k];
            float *dst = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            tensor_name(name, sizeof name, n, t);
            if (dc_compress_file_holds(&f, n, t)) continue;
            const dc_st_tensor *ft = dc_st_find(&f, name);
            if (t->int64_on_disk) {
                int64_t v;
                memcpy(&v, ft->data, sizeof v);
                if (v < 0 || v > (1ll << 24)) {
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s = %lld: expected a count in [0, 16777216]", path,
                                 name, (long long)v);
                    goto done;
                }
                dst[0] = (float)v;
            } else {
                memcpy(dst, ft->data, ft->nbytes);
            }
            for (size_t j = 0; j < t->n; j++)
                if (!isfinite(dst[j])) {
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%zu] is not finite (NaN/Inf): the model is corrupt",
                                 path, name, j);
                    goto done;
                }
            if (!strcmp(t->suffix, "running_var"))
                for (size_t j = 0; j < t->n; j++)
                    if (dst[j] < 0) {
                        st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%zu] = %g: a variance cannot be negative",
                                     path, name, j, dst[j]);
                        goto done;
                    }
        }
    }
    if ((st = dc_compress_load(m, &f, err))) goto done; // sparse tensors, int8 quantisation
    // normalisation: {"mean":m,"std":s} (every channel) or arrays of one
    // value per input channel
    if ((v = dc_st_meta(&f, "deepc.norm"))) {
        j = cJSON_Parse(v);
        if (!cJSON_IsObject(j)) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.norm: expected a JSON object", path);
            goto done;
        }
        const cJSON *jm = cJSON_GetObjectItemCaseSensitive(j, "mean"), *js = cJSON_GetObjectItemCaseSensitive(j, "std");
        const bool arrays = cJSON_IsArray(jm) || cJSON_IsArray(js);
        const int nv = arrays ? cJSON_GetArraySize(jm) : 1;
        if (arrays && (!cJSON_IsArray(jm) || !cJSON_IsArray(js) || cJSON_GetArraySize(js) != nv ||
                       (nv != 1 && nv != m->in_c))) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.norm: \"mean\" and \"std\" must both be numbers, "
                         "or both arrays of 1 or %d (the input channels) numbers", path, m->in_c);
            goto done;
        }
        for (int k = 0; k < m->in_c; k++) {
            double mean, sd;
            const int q = nv == 1 ? 0 : k;
            if (arrays) {
                const cJSON *a = cJSON_GetArrayItem(jm, q), *b = cJSON_GetArrayItem(js, q);
                if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !(fabs(a->valuedouble) <= FLT_MAX) ||
                    !(fabs(b->valuedouble) <= FLT_MAX)) {
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.norm channel %d: expected finite numbers "
                                 "in the float range", path, q);
                    goto done;
                }
                mean = a->valuedouble;
                sd = b->valuedouble;
            } else {
                if ((st = json_float(j, "mean", &mean, path, "deepc.norm", err))) goto done;
                if ((st = json_float(j, "std", &sd, path, "deepc.norm", err))) goto done;
            }
            // a std that is 0 (or subnormal) as a float would divide every pixel by 0
            if (!((float)sd >= FLT_MIN)) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.norm.std=%g must be a positive float >= %g",
                             path, sd, (double)FLT_MIN);
                goto done;
            }
            m->norm_mean[k] = (float)mean;
            m->norm_std[k] = (float)sd;
        }
        m->norm_given = true;
        cJSON_Delete(j);
        j = NULL;
    }
    if ((v = dc_st_meta(&f, "deepc.epochs_done"))) {
        char *end;
        long e = strtol(v, &end, 10);
        if (end == v || *end || e < 0 || e > 1000000) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.epochs_done='%s': expected a count", path, v);
            goto done;
        }
        m->epochs_done = (int)e;
    }
    // optimizer state
    if ((v = dc_st_meta(&f, "deepc.optim"))) {
        j = cJSON_Parse(v);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        int k = -1;
        for (int i = 0; i < 3 && cJSON_IsString(kind); i++)
            if (!strcmp(kind->valuestring, optim_names[i])) k = i;
        if (!cJSON_IsObject(j) || k < 0) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.optim: expected an object with kind sgd/adam/adamw", path);
            goto done;
        }
        double step = 0, mom, wd, b1, b2, eps;
        if ((st = json_number(j, "step", &step, path, "deepc.optim", err)) ||
            (st = json_float(j, "momentum", &mom, path, "deepc.optim", err)) ||
            (st = json_float(j, "weight_decay", &wd, path, "deepc.optim", err)) ||
            (st = json_float(j, "beta1", &b1, path, "deepc.optim", err)) ||
            (st = json_float(j, "beta2", &b2, path, "deepc.optim", err)) ||
            (st = json_float(j, "eps", &eps, path, "deepc.optim", err)))
            goto done;
        // a step count is a non-negative integer that fits int64 (2^62: far
        // beyond any run, and exact in a double)
        if (!(step >= 0 && step <= 4611686018427387904.0 && step == floor(step))) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.optim.step=%g: expected a step count", path, step);
            goto done;
        }
        const bool sparse_optim = dc_compress_file_sparse_optim(&f);
        if (!sparse_optim) {
            const dc_st_tensor *t1;
            int64_t shape1[1] = {(int64_t)m->n_params};
            if ((st = dc_st_expect(&f, "optim.buf1", DC_ST_F32, 1, shape1, &t1, err))) goto done;
        }
        bool nesterov = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "nesterov"));
        snprintf(origin, sizeof origin, "%s: deepc.optim", path);
        if ((st = dc_optim_init(&m->optim, (dc_optim_kind)k, (float)mom, nesterov, (float)wd, (float)b1,
                                (float)b2, (float)eps, m->n_params, err)))
            goto done;
        m->has_optim = true;
        m->optim.step = (int64_t)step;
        if (sparse_optim) {
            if ((st = dc_compress_load_optim(m, &f, err))) goto done;
        } else {
            const dc_st_tensor *t;
            int64_t shape[1] = {(int64_t)m->n_params};
            if ((st = dc_st_expect(&f, "optim.buf1", DC_ST_F32, 1, shape, &t, err))) goto done;
            memcpy(m->optim.buf1, t->data, t->nbytes);
            if (m->optim.buf2) {
                if ((st = dc_st_expect(&f, "optim.buf2", DC_ST_F32, 1, shape, &t, err))) goto done;
                memcpy(m->optim.buf2, t->data, t->nbytes);
            }
        }
        cJSON_Delete(j);
        j = NULL;
    }
    if (m->tab_f && (v = dc_st_meta(&f, "deepc.tabular"))) {
        j = cJSON_Parse(v);
        const cJSON *cols = cJSON_GetObjectItemCaseSensitive(j, "columns");
        const cJSON *mean = cJSON_GetObjectItemCaseSensitive(j, "mean"), *sd = cJSON_GetObjectItemCaseSensitive(j, "std");
        if (!cJSON_IsArray(cols) || !cJSON_IsArray(mean) || !cJSON_IsArray(sd) || cJSON_GetArraySize(cols) != m->tab_f ||
            cJSON_GetArraySize(mean) != m->tab_f || cJSON_GetArraySize(sd) != m->tab_f) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.tabular: expected columns, mean, std arrays of %d", path,
                         m->tab_f);
            goto done;
        }
        if (!(m->tab_columns = calloc((size_t)m->tab_f, sizeof(char *)))) {
            st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (int k = 0; k < m->tab_f; k++) {
            const cJSON *c = cJSON_GetArrayItem(cols, k), *a = cJSON_GetArrayItem(mean, k), *b = cJSON_GetArrayItem(sd, k);
            if (!cJSON_IsString(c) || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !(fabs(a->valuedouble) <= FLT_MAX) ||
                !((float)b->valuedouble >= FLT_MIN && b->valuedouble <= FLT_MAX)) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: __metadata__ deepc.tabular[%d]: expected a name, a finite mean and a std > 0",
                             path, k);
                goto done;
            }
            if (!(m->tab_columns[k] = strdup(c->valuestring))) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            m->tab_mean[k] = (float)a->valuedouble;
            m->tab_std[k] = (float)b->valuedouble;
        }
        cJSON_Delete(j);
        j = NULL;
    }
    m->train_config_json = dup_meta(&f, "deepc.train_config");
    m->history_json = dup_meta(&f, "deepc.history");
    m->provenance_json = dup_meta(&f, "deepc.provenance");
    m->privacy_json = dup_meta(&f, "deepc.privacy");
    m->reference_json = dup_meta(&f, "deepc.reference");
done:
    cJSON_Delete(j);
    dc_st_free(&f);
    if (st) {
        dc_model_free(m);
        return st;
    }
    *out = m;
    return DC_OK;
}

dc_status dc_model_load_state_dict(dc_model *m, const char *path, dc_error *err) {
    dc_st_file f;
    dc_status st = dc_st_read(&f, path, err);
    if (st) return st;
    char name[300];
    int matched = 0, optim = 0;
    // check everything first: nothing changes unless it all fits
    for (int i = 0; i < m->n_nodes && !st; i++)
        for (int k = 0; k < m->nodes[i].n_t && !st; k++) {
            const dc_tensor_ref *t = &m->nodes[i].t[k];
            tensor_name(name, sizeof name, &m->nodes[i], t);
            const dc_st_tensor *ft = dc_st_find(&f, name);
            if (!ft) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: no tensor \"%s\", which the architecture needs (%s)", path, name,
                             dc_st_meta(&f, "deepc.arch") ? "a deepc model file: use it as it is" : "strict loading");
            } else if (t->int64_on_disk && ft->dtype == DC_ST_I64) {
                int64_t v;
                memcpy(&v, ft->data, sizeof v);
                if (!(ft->rank == 0 || (ft->rank == 1 && ft->shape[0] == 1)))
                    st = dc_st_expect(&f, name, DC_ST_I64, 0, NULL, &ft, err);
                else if (v < 0 || v > (1ll << 24))
                    st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s = %lld: expected a count in [0, 16777216]", path,
                                 name, (long long)v);
            } else if (!(st = dc_st_expect(&f, name, DC_ST_F32, t->rank, t->shape, &ft, err))) {
                const float *src = ft->data;
                for (size_t j = 0; j < t->n && !st; j++)
                    if (!isfinite(src[j])) st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor %s[%zu] is not finite", path, name, j);
            }
            matched++;
        }
    for (int j = 0; j < f.n_tensors && !st; j++) {
        if (!strncmp(f.tensors[j].name, "optim.", 6)) {
            optim++;
            continue;
        }
        if (!dc_model_find_tensor(m, f.tensors[j].name))
            st = dc_fail(err, DC_ERR_FORMAT, "%s: tensor \"%s\" is not part of this architecture (strict loading; "
                         "%d of the file's tensors match)", path, f.tensors[j].name, matched);
    }
    for (int i = 0; i < m->n_nodes && !st; i++)
        for (int k = 0; k < m->nodes[i].n_t; k++) {
            const dc_tensor_ref *t = &m->nodes[i].t[k];
            tensor_name(name, sizeof name, &m->nodes[i], t);
            const dc_st_tensor *ft = dc_st_find(&f, name);
            float *dst = (t->buf == DC_BUF_PARAM ? m->params : m->state) + t->off;
            if (ft->dtype == DC_ST_I64) {
                int64_t v;
                memcpy(&v, ft->data, sizeof v);
                dst[0] = (float)v;
            } else {
                memcpy(dst, ft->data, sizeof(float) * t->n);
            }
        }
    (void)optim;
    dc_st_free(&f);
    return st;
}
