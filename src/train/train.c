// train.c — the training loop and evaluation.
//
// Reproducibility: every random draw of epoch e comes from a stream derived
// from (seed, purpose, e) — the shuffle, the augmentation and the dropout
// masks — so a run resumed at an epoch boundary draws exactly what the
// uninterrupted run would have, and only the optimizer state and the epoch
// counter need to be saved (they live in the model file).
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "compress/quant.h"
#include "core/core.h"
#include "data/data.h"
#include "layers/layers.h"
#include "model/model.h"
#include "optim/optim.h"
#include "privacy/csprng.h"
#include "privacy/dp_record.h"

enum { STREAM_SHUFFLE = 1, STREAM_AUGMENT = 2, STREAM_DROPOUT = 3 };

dc_train_config dc_train_config_default(void) {
    dc_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 10;
    c.batch = 64;
    c.optim = DC_OPTIM_SGD;
    c.lr = 0.001f;
    c.momentum = 0.9f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.sched = DC_SCHED_CONSTANT;
    c.step_size = 1;
    c.gamma = 0.1f;
    c.seed = 1;
    c.eval_batch = 1000;
    c.distill_alpha = 0.5f;
    c.distill_temp = 4.0f;
    return c;
}

static bool augment_on(const dc_augment *a) {
    return a->rotate_deg > 0 || a->scale > 0 || a->translate > 0 || a->hflip || a->crop > 0 || a->erase > 0;
}

// The tabular rows a model needs for a data set: present, one per sample, of
// the model's width (or absent for an image model).
static dc_status check_tabular(const dc_model *m, const dc_dataset *ds, const dc_tabular *tab, const char *what,
                               dc_error *err) {
    const int F = dc_model_tabular_features(m);
    if (!F && tab) return dc_fail(err, DC_ERR_ARG, "%s: the model has no tabular input", tab->source);
    if (!F) return DC_OK;
    if (!tab) return dc_fail(err, DC_ERR_ARG, "the model has a tabular input of %d columns: give %s", F, what);
    if (tab->f != F)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %d columns, the model's tabular input takes %d", tab->source, tab->f, F);
    if (tab->n != ds->n)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %d rows for the %d samples of %s", tab->source, tab->n, ds->n, ds->source);
    return DC_OK;
}

dc_status dc_evaluate(dc_model *m, const dc_dataset *ds, int batch, int nthreads,
                      dc_eval_result *r, dc_error *err) {
    return dc_evaluate_tabular(m, ds, NULL, batch, nthreads, r, err);
}

dc_status dc_evaluate_tabular(dc_model *m, const dc_dataset *ds, const dc_tabular *tab, int batch, int nthreads,
                              dc_eval_result *r, dc_error *err) {
    memset(r, 0, sizeof *r);
    dc_status tst = check_tabular(m, ds, tab, "the tabular rows (--test-tabular)", err);
    if (tst) return tst;
    if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d",
                       ds->source, ds->c, ds->h, ds->w, m->in_c, m->in_h, m->in_w);
    dc_status st = dc_dataset_check_labels(ds, m->n_classes, err);
    if (st) return st;
    if (batch < 1) batch = 1000;
    if (batch > ds->n) batch = ds->n;
    if (nthreads <= 0) nthreads = dc_default_threads();
    const int C = m->n_classes;
    r->n = ds->n;
    r->n_classes = C;
    r->confusion = calloc((size_t)C * C, sizeof(int64_t));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)batch);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    dc_session *ses = NULL;
    float *probs = malloc(sizeof(float) * (size_t)batch * C);
    if (!r->confusion || !idx || !y || !probs) st = dc_fail(err, DC_ERR_NOMEM, "evaluate: out of memory");
    if (!st) st = dc_session_new(&ses, m, batch, nthreads, err);
    int64_t correct = 0;
    double loss = 0.0;
    for (int start = 0; !st && start < ds->n; start += batch) {
        int n = ds->n - start < batch ? ds->n - start : batch;
        for (int i = 0; i < n; i++) idx[i] = start + i;
        dc_batch_gather(dc_session_input(ses), y, ds, idx, n, m->norm_mean, m->norm_std);
        if (tab) dc_tabular_gather(dc_session_tabular(ses), tab, idx, n, m->tab_mean, m->tab_std);
        const float *logits = dc_session_run(ses, n);
        loss += dc_softmax_xent_forward(probs, logits, y, NULL, n, C) * n;
        for (int i = 0; i < n; i++) {
            const float *p = probs + (size_t)i * C;
            int best = 0;
            for (int k = 1; k < C; k++)
                if (p[k] > p[best]) best = k;
            correct += best == y[i];
            r->confusion[(size_t)y[i] * C + best]++;
        }
    }
    dc_session_free(ses);
    free(probs);
    free(idx);
    free(y);
    if (st) {
        dc_eval_result_free(r);
        return st;
    }
    r->accuracy = ds->n ? (double)correct / ds->n : 0.0;
    r->loss = ds->n ? loss / ds->n : 0.0;
    return DC_OK;
}

void dc_eval_result_free(dc_eval_result *r) {
    free(r->confusion);
    r->confusion = NULL;
}

// Appends one epoch record to the model's JSON history array (built with
// cJSON): epoch, train_loss, train_accuracy, the held-out set's accuracy
// under its name (val_accuracy or test_accuracy; null without one),
// seconds, lr.
static void history_append(dc_model *m, int epoch, double loss, double acc, double test_acc,
                           const char *heldout, double secs, double lr) {
    cJSON *h = m->history_json ? cJSON_Parse(m->history_json) : NULL;
    if (!cJSON_IsArray(h)) {
        cJSON_Delete(h);
        h = cJSON_CreateArray();
    }
    cJSON *rec = cJSON_CreateObject();
    if (!h || !rec) {
        cJSON_Delete(h);
        cJSON_Delete(rec);
        return; // history is informative; losing a record is not fatal
    }
    char key[48];
    snprintf(key, sizeof key, "%s_accuracy", heldout && heldout[0] ? heldout : "test");
    cJSON_AddNumberToObject(rec, "epoch", epoch);
    cJSON_AddNumberToObject(rec, "train_loss", loss);
    cJSON_AddNumberToObject(rec, "train_accuracy", acc);
    if (test_acc >= 0) cJSON_AddNumberToObject(rec, key, test_acc);
    else cJSON_AddNullToObject(rec, key);
    cJSON_AddNumberToObject(rec, "seconds", secs);
    cJSON_AddNumberToObject(rec, "lr", lr);
    cJSON_AddItemToArray(h, rec);
    char *s = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!s) return;
    free(m->history_json);
    m->history_json = s;
}

// Number of NaN or Inf values in v (n).
static size_t count_nonfinite(const float *v, size_t n) {
    size_t bad = 0;
    for (size_t j = 0; j < n; j++) bad += !isfinite(v[j]);
    return bad;
}

// Before a checkpoint is written: are the weights finite, and does the model
// give a finite loss? Weights can be finite yet so large that every forward
// overflows (DP noise of 1e30), so the held-out loss of this epoch is checked
// too, or, without a held-out set, the loss on the first training samples.
static dc_status check_finite_model(dc_model *m, const dc_dataset *train, const dc_tabular *tab, double heldout_loss,
                                    bool have_heldout, int nthreads, int epoch, const char *ckpt, dc_error *err) {
    const size_t P = dc_model_num_params(m);
    size_t bad = count_nonfinite(dc_model_params(m), P);
    double loss = heldout_loss;
    const char *where = "held-out";
    if (!bad && !have_heldout) {
        dc_dataset head = *train;
        if (head.n > 256) head.n = 256;
        dc_tabular thead;
        if (tab) {
            thead = *tab;
            thead.n = head.n;
        }
        dc_eval_result r;
        dc_status st = dc_evaluate_tabular(m, &head, tab ? &thead : NULL, 256, nthreads, &r, err);
        if (st) return st;
        loss = r.loss;
        where = "training";
        dc_eval_result_free(&r);
    }
    if (!bad && isfinite(loss)) return DC_OK;
    char what[160];
    if (bad)
        snprintf(what, sizeof what, "%zu of the %zu weights are NaN or Inf", bad, P);
    else
        snprintf(what, sizeof what, "the %s loss is %s", where, isnan(loss) ? "NaN" : "Inf");
    struct stat sb;
    if (ckpt && stat(ckpt, &sb) == 0)
        return dc_fail(err, DC_ERR_NUMERIC,
                       "training diverged in epoch %d: %s; not saved, %s keeps its last finite state — try a "
                       "smaller --lr (with --dp: less noise)", epoch, what, ckpt);
    return dc_fail(err, DC_ERR_NUMERIC,
                   "training diverged in epoch %d: %s; no checkpoint written — try a smaller --lr (with --dp: less "
                   "noise)", epoch, what);
}

// Distillation's teacher: what it must share with the student.
static dc_status check_teacher(const dc_model *m, const dc_model *t, const dc_train_config *cfg, bool dp, int n_tab,
                               dc_error *err) {
    if (t->in_c != m->in_c || t->in_h != m->in_h || t->in_w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "distillation: the teacher takes %dx%dx%d images but the student %dx%dx%d",
                       t->in_c, t->in_h, t->in_w, m->in_c, m->in_h, m->in_w);
    if (t->n_classes != m->n_classes)
        return dc_fail(err, DC_ERR_SHAPE, "distillation: the teacher has %d classes but the student %d", t->n_classes,
                       m->n_classes);
    if (m->n_classes > DC_DISTILL_MAX_C)
        return dc_fail(err, DC_ERR_UNSUPPORTED, "distillation: %d classes; at most %d are supported", m->n_classes,
                       DC_DISTILL_MAX_C);
    if (dp)
        return dc_fail(err, DC_ERR_ARG, "distillation is not supported with DP-SGD (--dp): the teacher's outputs "
                       "would need their own privacy accounting");
    if (n_tab > 0 || dc_model_tabular_features(t) > 0)
        return dc_fail(err, DC_ERR_UNSUPPORTED, "distillation: models with tabular inputs are not supported");
    if (!(cfg->distill_alpha >= 0 && cfg->distill_alpha <= 1))
        return dc_fail(err, DC_ERR_ARG, "--distill-alpha %g: expected a weight in [0, 1]", cfg->distill_alpha);
    if (!(cfg->distill_temp > 0) || !isfinite(cfg->distill_temp) || cfg->distill_temp > 1000)
        return dc_fail(err, DC_ERR_ARG, "--distill-t %g: expected a temperature in (0, 1000]", cfg->distill_temp);
    return DC_OK;
}

// The student's normalised batch x (n, C, H, W) in the teacher's
// normalisation: the pixel value v = x std_s + mean_s, then (v - mean_t) /
// std_t; a copy where the two agree.
static void teacher_input(float *xt, const float *x, int n, const dc_model *s, const dc_model *t) {
    const size_t plane = (size_t)s->in_h * s->in_w;
    bool same = true;
    for (int c = 0; c < s->in_c; c++) same &= s->norm_mean[c] == t->norm_mean[c] && s->norm_std[c] == t->norm_std[c];
    if (same) {
        memcpy(xt, x, sizeof(float) * (size_t)n * s->in_c * plane);
        return;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < s->in_c; c++) {
            const float a = s->norm_std[c] / t->norm_std[c], b = (s->norm_mean[c] - t->norm_mean[c]) / t->norm_std[c];
            const size_t o = ((size_t)i * s->in_c + c) * plane;
            for (size_t j = 0; j < plane; j++) xt[o + j] = x[o + j] * a + b;
        }
}

dc_status dc_train(dc_model *m, const dc_dataset *train, const dc_dataset *heldout,
                   const dc_train_config *cfg, dc_train_callback cb, void *user,
                   dc_error *err) {
    if (train->c != m->in_c || train->h != m->in_h || train->w != m->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d",
                       train->source, train->c, train->h, train->w, m->in_c, m->in_h, m->in_w);
    dc_status st = dc_dataset_check_labels(train, m->n_classes, err);
    if (st) return st;
    if (m->quant)
        return dc_fail(err, DC_ERR_ARG, "train: an int8 model does not train; fine-tune its fp32 model and "
                       "quantise it again (deepc quantize)");
    if ((st = check_tabular(m, train, cfg->tabular, "the training rows (--tabular)", err))) return st;
    if (heldout && heldout->n > 0 &&
        (st = check_tabular(m, heldout, cfg->heldout_tabular, "the held-out rows (--test-tabular)", err)))
        return st;
    // every tabular input of the graph takes the same row
    int tab_nodes[DC_NODE_MAX_IN], n_tab = 0;
    for (int i = 1; i < m->n_nodes && n_tab < DC_NODE_MAX_IN; i++)
        if (m->nodes[i].op->flags & DC_OP_INPUT) tab_nodes[n_tab++] = i;
    if (cfg->batch < 1 || cfg->batch > 1 << 20)
        return dc_fail(err, DC_ERR_ARG, "--batch %d: must be between 1 and 1048576", cfg->batch);
    if (cfg->epochs < 0) return dc_fail(err, DC_ERR_ARG, "--epochs %d: must be >= 0", cfg->epochs);
    if (!(cfg->lr > 0) || !isfinite(cfg->lr))
        return dc_fail(err, DC_ERR_ARG, "--lr %g: must be a positive number", cfg->lr);
    if (!m->has_optim) {
        st = dc_optim_init(&m->optim, cfg->optim, cfg->momentum, cfg->nesterov, cfg->weight_decay,
                           cfg->beta1, cfg->beta2, cfg->eps, m->n_params, err);
        if (st) return st;
        m->has_optim = true;
    } else if (m->optim.kind != cfg->optim) {
        return dc_fail(err, DC_ERR_ARG, "resume: the checkpoint's optimizer state is for a different optimizer than requested");
    }
    const bool dp = cfg->dp.enabled;
    if (dp && (!(cfg->dp.clip > 0) || !(cfg->dp.sigma >= 0) || !(cfg->dp.delta > 0 && cfg->dp.delta < 1)))
        return dc_fail(err, DC_ERR_ARG, "DP-SGD: needs --clip > 0, noise multiplier >= 0 and --delta in (0,1)");
    const dc_node *coupled = dc_model_coupled_node(m);
    if (dp && coupled)
        return dc_fail(err, DC_ERR_ARG,
                       "DP-SGD: layer %s (%s) mixes the samples of a batch, so per-sample gradients (and the privacy "
                       "guarantee) are undefined; use groupnorm or layernorm instead",
                       coupled->name, coupled->op->kind);
    // BatchNorm needs 2 values per channel: a last batch smaller than that is skipped
    const int min_batch = dc_model_min_train_batch(m);
    if (dp && cfg->sample_weights)
        return dc_fail(err, DC_ERR_ARG, "DP-SGD: per-sample loss weights (--reweight) are not supported with --dp");
    const dc_comm *comm = cfg->comm && cfg->comm->size > 1 ? cfg->comm : NULL;
    if (comm && dp) return dc_fail(err, DC_ERR_UNSUPPORTED, "DP-SGD across MPI ranks is not supported; run --dp in one process");
    if (comm && cfg->batch < comm->size)
        return dc_fail(err, DC_ERR_ARG, "--batch %d is smaller than the %d MPI ranks sharing it", cfg->batch, comm->size);
    const int nthreads = cfg->nthreads > 0 ? cfg->nthreads : dc_default_threads();
    const int B = cfg->batch < train->n ? cfg->batch : train->n;
    // DP: Poisson lots of expected size B, round(n/B) lots per epoch (as Opacus)
    const double q = (double)B / train->n;
    const int steps = dp ? (int)lround(1.0 / q) : (train->n + B - 1) / B; // last partial batch kept
    const int chunk = dp ? 2 * B : B; // a lot larger than this is processed in chunks
    const int C = m->n_classes;
    // the privacy record's rules: one (q, sigma, delta) per model, no DP on
    // top of non-private epochs or the reverse
    const dc_dp_run dprun = {.q = q, .sigma = cfg->dp.sigma, .delta = cfg->dp.delta, .clip = cfg->dp.clip,
                             .seeded = cfg->dp.seeded, .first_epoch = dc_model_epochs_done(m) + 1,
                             .steps_per_epoch = steps, .expected_lot = B};
    if ((st = dc_dp_resume_check(dc_model_info(m, "privacy"), dc_model_epochs_done(m), dp, &dprun, err))) return st;
    // fine-tuning: per-node multipliers spread over each node's parameters
    float *lr_mult = NULL;
    bool *frozen = NULL;
    if (cfg->node_lr) {
        for (int i = 0; i < m->n_nodes; i++)
            if (!(cfg->node_lr[i] >= 0) || !isfinite(cfg->node_lr[i]))
                return dc_fail(err, DC_ERR_ARG, "layer %s: learning-rate multiplier %g must be a finite number >= 0",
                               m->nodes[i].name, cfg->node_lr[i]);
        lr_mult = malloc(sizeof(float) * (m->n_params ? m->n_params : 1));
        frozen = calloc((size_t)m->n_nodes, sizeof(bool));
        if (!lr_mult || !frozen) {
            free(lr_mult);
            free(frozen);
            return dc_fail(err, DC_ERR_NOMEM, "train: out of memory");
        }
        for (size_t j = 0; j < m->n_params; j++) lr_mult[j] = 1.0f;
        for (int i = 0; i < m->n_nodes; i++) {
            const dc_node *n = &m->nodes[i];
            frozen[i] = cfg->node_lr[i] == 0.0f;
            for (int k = 0; k < n->n_t; k++)
                if (n->t[k].buf == DC_BUF_PARAM)
                    for (size_t j = 0; j < n->t[k].n; j++) lr_mult[n->t[k].off + j] = cfg->node_lr[i];
        }
    }
    const dc_model *teacher = cfg->teacher;
    if (teacher && (st = check_teacher(m, teacher, cfg, dp, n_tab, err))) {
        free(lr_mult);
        free(frozen);
        return st;
    }
    const int until = cfg->stop_after > 0 && cfg->stop_after < cfg->epochs ? cfg->stop_after : cfg->epochs;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)train->n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)chunk);
    // the normalised value of a 0 byte in each channel: augmentation's padding
    float *fill = malloc(sizeof(float) * (size_t)m->in_c);
    for (int k = 0; fill && k < m->in_c; k++) fill[k] = (0.0f - m->norm_mean[k]) / m->norm_std[k];
    float *wts = cfg->sample_weights ? malloc(sizeof(float) * (size_t)B) : NULL;
    dc_runtime *rt = NULL;
    dc_graph g = dc_model_graph(m);
    dc_csprng noise;
    memset(&noise, 0, sizeof noise);
    if (!perm || !y || !fill || (cfg->sample_weights && !wts)) st = dc_fail(err, DC_ERR_NOMEM, "train: out of memory");
    dc_session *ts = NULL; // the teacher's
    if (!st && teacher) st = dc_session_new(&ts, teacher, chunk, nthreads, err);
    if (!st) st = dc_runtime_new(&rt, &g, chunk, DC_MODE_TRAIN, DC_RT_BACKWARD, nthreads, err);
    if (!st) dc_runtime_bind_model(rt, m);
    if (!st) dc_runtime_set_frozen(rt, frozen);
    // the DP generator is keyed per epoch (from the OS, or from the seed and
    // the epoch when seeded, so that a resumed seeded run stays bit-identical)
    double last_good_lr = cfg->lr;
    while (!st && m->epochs_done < until) {
        const int epoch = m->epochs_done; // 0-based
        double t0 = dc_now_seconds(), c0 = dc_cpu_seconds();
        dc_rng shuf = dc_rng_stream(cfg->seed, STREAM_SHUFFLE, (uint64_t)epoch);
        dc_rng aug = dc_rng_stream(cfg->seed, STREAM_AUGMENT, (uint64_t)epoch);
        dc_rng drop = dc_rng_stream(cfg->seed, STREAM_DROPOUT, (uint64_t)epoch);
        if (dp) {
            st = dc_csprng_init(&noise, cfg->dp.seeded, cfg->dp.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1)), err);
            if (st) break;
        } else {
            for (int i = 0; i < train->n; i++) perm[i] = i;
            dc_rng_shuffle_i32(&shuf, perm, (size_t)train->n);
        }
        double loss_sum = 0.0;
        int64_t correct = 0, seen = 0, clipped = 0;
        double lr = cfg->lr;
        for (int s = 0; s < steps && !st; s++) {
            // this step's samples: perm[start .. start+lot)
            int start, lot;
            if (dp) {
                // Poisson sampling by geometric gaps: each sample is in the lot
                // with probability q, independently (what the accountant assumes)
                start = 0;
                lot = 0;
                double lq = log1p(-q);
                for (long i = -1;;) {
                    double u = dc_csprng_uniform(&noise);
                    i += 1 + (q >= 1.0 ? 0 : (long)floor(log(u) / lq));
                    if (i >= train->n) break;
                    perm[lot++] = (int32_t)i;
                }
            } else {
                start = s * B;
                lot = train->n - start < B ? train->n - start : B;
            }
            if (!dp && lot < min_batch * (comm ? comm->size : 1)) continue; // too small for BatchNorm
            const int global_lot = lot;
            if (comm) { // this rank's contiguous share of the global batch
                int lo = (int)((long)global_lot * comm->rank / comm->size);
                int hi = (int)((long)global_lot * (comm->rank + 1) / comm->size);
                start += lo;
                lot = hi - lo;
            }
            if (m->qat_master) dc_qat_fake_weights(m); // QAT: forward and backward see the int8 weight grid
            memset(m->grads, 0, sizeof(float) * m->n_params);
            double loss = 0.0;
            int64_t step_correct = 0;
            for (int c0 = 0; c0 < lot && !st; c0 += chunk) {
                int n = lot - c0 < chunk ? lot - c0 : chunk;
                const int32_t *idx = perm + start + c0;
                float *x = dc_runtime_input(rt);
                dc_batch_gather(x, y, train, idx, n, m->norm_mean, m->norm_std);
                for (int k = 0; k < n_tab; k++)
                    dc_tabular_gather(dc_runtime_input_at(rt, tab_nodes[k]), cfg->tabular, idx, n, m->tab_mean,
                                      m->tab_std);
                if (augment_on(&cfg->augment))
                    dc_augment_batch(x, n, m->in_c, m->in_h, m->in_w, &cfg->augment, fill, &aug);
                double l;
                if (dp) {
                    int nc = 0;
                    l = dc_runtime_dp_step(rt, n, y, cfg->dp.clip, NULL, &nc);
                    clipped += nc;
                } else {
                    if (wts)
                        for (int i = 0; i < n; i++) wts[i] = cfg->sample_weights[idx[i]];
                    if (ts) {
                        teacher_input(dc_session_input(ts), x, n, m, teacher);
                        l = dc_runtime_distill_step(rt, n, y, wts, dc_session_run(ts, n), cfg->distill_alpha,
                                                    cfg->distill_temp, &drop);
                    } else {
                        l = dc_runtime_train_step(rt, n, y, wts, &drop, NULL);
                    }
                }
                for (int i = 0; i < n; i++) {
                    const float *p = dc_runtime_probs(rt) + (size_t)i * C;
                    int best = 0;
                    for (int k = 1; k < C; k++)
                        if (p[k] > p[best]) best = k;
                    step_correct += best == y[i];
                }
                loss += l * n;
            }
            // a frozen node crossed for an input gradient still accumulated
            // its weight gradient: it is no part of this step's gradient
            if (lr_mult)
                for (size_t j = 0; j < m->n_params; j++)
                    if (lr_mult[j] == 0.0f) m->grads[j] = 0.0f;
            if (comm) {
                // the local gradient is the mean over `lot` samples; the global
                // one is the mean over global_lot: scale, then sum over ranks
                const float scale = (float)lot / (float)global_lot;
                for (size_t j = 0; j < m->n_params; j++) m->grads[j] *= scale;
                st = comm->allreduce_sum(comm->ctx, m->grads, m->n_params, err);
                double stats[2] = {loss, (double)step_correct};
                if (!st) st = comm->allreduce_sum_f64(comm->ctx, stats, 2, err);
                if (st) break;
                loss = stats[0];
                step_correct = (int64_t)stats[1];
                lot = global_lot;
            }
            if (lot > 0 && !isfinite(loss)) {
                st = dc_fail(err, DC_ERR_NUMERIC,
                             "training diverged: loss is %s at epoch %d step %d (global step %ld); last good learning rate %g — try a smaller --lr or --clip",
                             isnan(loss) ? "NaN" : "Inf", epoch + 1, s + 1, (long)epoch * steps + s + 1,
                             last_good_lr);
                break;
            }
            loss_sum += loss;
            correct += step_correct;
            seen += lot;
            if (dp) {
                // noise on the sum of clipped gradients, then the mean over the
                // EXPECTED lot size (the actual size is data-dependent: not private)
                const double sd = cfg->dp.sigma * cfg->dp.clip;
                const float inv = (float)(1.0 / ((double)B));
                for (size_t j = 0; j < m->n_params; j++)
                    m->grads[j] = (float)((m->grads[j] + sd * dc_csprng_normal(&noise)) * inv);
            }
            if (cfg->clip_norm > 0) dc_clip_grad_norm(m->grads, m->n_params, cfg->clip_norm);
            lr = dc_schedule_lr(cfg, epoch, s, steps);
            if (m->qat_master) dc_qat_restore(m); // straight-through: the gradient updates the fp32 weights
            if (m->mask) // pruned weights (deepc prune) get no update and no optimizer state: they stay 0
                for (size_t j = 0; j < m->n_params; j++)
                    if (!m->mask[j]) m->grads[j] = 0.0f;
            dc_optim_step_scaled(&m->optim, m->params, m->grads, (float)lr, lr_mult);
            last_good_lr = lr;
            if (cb && (s % 16 == 15 || s == steps - 1)) {
                dc_train_event ev = {.kind = DC_EVENT_STEP, .epoch = epoch + 1, .epochs = cfg->epochs,
                                     .step = s + 1, .steps = steps, .train_loss = seen ? loss_sum / seen : 0,
                                     .train_acc = seen ? (double)correct / seen : 0, .test_acc = -1,
                                     .seconds = dc_now_seconds() - t0, .lr = lr, .epsilon = -1};
                cb(&ev, user);
            }
        }
        if (st) break;
        double secs = dc_now_seconds() - t0, cpu_secs = dc_cpu_seconds() - c0;
        double test_acc = -1, test_loss = 0;
        const bool evaluated = heldout && heldout->n > 0 && (!comm || comm->rank == 0);
        if (evaluated) {
            dc_eval_result r;
            st = dc_evaluate_tabular(m, heldout, cfg->heldout_tabular, cfg->eval_batch, nthreads, &r, err);
            if (st) break;
            test_acc = r.accuracy;
            test_loss = r.loss;
            dc_eval_result_free(&r);
        }
        // a diverged model is never saved (nor counted as an epoch done)
        if (!comm || comm->rank == 0) {
            st = check_finite_model(m, train, cfg->tabular, test_loss, evaluated, nthreads, epoch + 1, cfg->checkpoint, err);
            if (st) break;
        }
        m->epochs_done++;
        if (seen == 0) seen = 1;
        history_append(m, m->epochs_done, loss_sum / seen, (double)correct / seen, test_acc, cfg->heldout_name, secs, lr);
        double eps = -1;
        if (dp) {
            long total_steps = (long)m->epochs_done * steps;
            double order = 0;
            eps = dc_rdp_epsilon(q, cfg->dp.sigma, total_steps, cfg->dp.delta, &order);
            // one record, with one segment per run (resumes may change the noise source)
            char *rec = dc_dp_record_json(dc_model_info(m, "privacy"), &dprun, dc_model_epochs_done(m), eps, order,
                                          (double)clipped / seen);
            if (!rec) {
                st = dc_fail(err, DC_ERR_NOMEM, "train: out of memory for the privacy record");
                break;
            }
            st = dc_model_set_info(m, "privacy", rec, err);
            free(rec);
            if (st) break;
        }
        if (cb) {
            dc_train_event ev = {.kind = DC_EVENT_EPOCH, .epoch = epoch + 1, .epochs = cfg->epochs,
                                 .step = steps, .steps = steps, .train_loss = loss_sum / seen,
                                 .train_acc = (double)correct / seen, .test_acc = test_acc,
                                 .seconds = secs, .lr = lr, .epsilon = eps, .cpu_seconds = cpu_secs};
            cb(&ev, user);
        }
        // deepc serve's drift reference, once, from the final weights (src/serve/drift.c);
        // under DP-SGD the inputs come from the held-out set, never the private data
        const dc_dataset *ref_in = dp ? heldout : train;
        if (m->epochs_done == cfg->epochs && (!comm || comm->rank == 0) && (ref_in || heldout))
            st = dc_drift_reference(m, ref_in, heldout, nthreads, err);
        if (st) break;
        if (cfg->checkpoint && (!comm || comm->rank == 0)) st = dc_model_save(m, cfg->checkpoint, err);
    }
    dc_runtime_free(rt);
    dc_session_free(ts);
    dc_csprng_wipe(&noise);
    free(lr_mult);
    free(frozen);
    free(perm);
    free(fill);
    free(y);
    free(wts);
    return st;
}
