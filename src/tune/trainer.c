// trainer.c — training as the tuner's objective (see trainer.h).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/trainer.h"

void dc_tune_trial_path(char *buf, size_t cap, const char *dir, int id) {
    snprintf(buf, cap, "%s/trial-%05d.safetensors", dir, id);
}

void dc_tune_trial_options(dc_trainopts *o, const dc_tune *tu, const dc_tune_trial *t, const dc_trainopts *base) {
    *o = *base;
    dc_tune_space_apply(&tu->space, t->values, o);
}

// The held-out accuracy of epochs (from, to] from the model's history.
static dc_status curve_from_history(const dc_model *m, int from, int to, double *curve, const char *path,
                                    dc_error *err) {
    for (int e = from; e < to; e++) curve[e - from] = NAN;
    const char *h = dc_model_info(m, "history");
    cJSON *j = h ? cJSON_Parse(h) : NULL;
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return dc_fail(err, DC_ERR_FORMAT, "%s: no training history", path);
    }
    for (const cJSON *r = j->child; r; r = r->next) {
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(r, "epoch"), *acc = cJSON_GetObjectItemCaseSensitive(r, "val_accuracy");
        if (!cJSON_IsNumber(ep) || !cJSON_IsNumber(acc)) continue;
        int e = ep->valueint; // 1-based
        if (e > from && e <= to) curve[e - 1 - from] = acc->valuedouble;
    }
    cJSON_Delete(j);
    for (int e = from; e < to; e++)
        if (isnan(curve[e - from]) || curve[e - from] < 0)
            return dc_fail(err, DC_ERR_FORMAT, "%s: the history lacks the validation accuracy of epoch %d", path, e + 1);
    return DC_OK;
}

dc_status dc_tune_train_objective(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to,
                                  double *curve, double *seconds, dc_error *err) {
    const dc_tune_trainer *tr = user;
    const double t0 = dc_now_seconds();
    *seconds = 0;
    dc_trainopts o;
    dc_tune_trial_options(&o, tu, t, &tr->base);
    dc_status st = dc_trainopts_check(&o, tu->s.budget, err);
    if (st) return st; // DC_ERR_ARG: this combination cannot train; the trial fails
    char path[1024];
    dc_tune_trial_path(path, sizeof path, tr->dir, t->id);
    dc_trainopts_extra x = {.model = tr->model, .data = tr->data_name, .epochs = tu->s.budget, .threads = tr->threads,
                            .seed = tr->seed};
    char *cfgjs = dc_trainopts_json(&o, &x);
    if (!cfgjs) return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    // the trial's checkpoint, if it is this trial's (its options are in it):
    // it may be a unit ahead of the journal (killed between the two writes)
    dc_model *m = NULL;
    dc_error lerr;
    if (dc_model_load(&m, path, &lerr) == DC_OK) {
        const char *have = dc_model_info(m, "train_config");
        if (!have || strcmp(have, cfgjs) || dc_model_epochs_done(m) < from) {
            dc_model_free(m);
            m = NULL;
        }
    }
    if (!m && from > 0) {
        free(cfgjs);
        return dc_fail(err, DC_ERR_IO, "%s: missing, or not trial %d's checkpoint at %d epochs (the journal says it "
                       "is): was the folder changed?", path, t->id, from);
    }
    if (!m) {
        const dc_dataset *d = tr->train;
        if ((st = dc_model_create(&m, tr->model, d->c, d->h, d->w, d->n_classes, err))) {
            free(cfgjs);
            return st == DC_ERR_ARG ? DC_ERR_IO : st;
        }
        if (tr->class_names && tr->n_class_names == dc_model_num_classes(m))
            dc_model_set_class_names(m, tr->class_names, tr->n_class_names, err);
        dc_model_set_normalisation(m, d);
        dc_rng rng = dc_rng_stream(tr->seed, 0, 0); // as deepc train
        dc_model_init_params(m, &rng);
        dc_model_set_info(m, "train_config", cfgjs, err);
    }
    free(cfgjs);
    dc_train_config cfg = dc_train_config_default();
    dc_trainopts_apply(&cfg, &o);
    cfg.epochs = tu->s.budget; // the schedule spans the budget ...
    cfg.stop_after = to;       // ... the unit ends at its rung
    cfg.seed = tr->seed;
    cfg.nthreads = tr->threads;
    cfg.heldout_name = "val"; // the history's "val_accuracy"
    st = dc_train(m, tr->train, tr->val, &cfg, NULL, NULL, err);
    if (!st) st = curve_from_history(m, from, to, curve, path, err);
    if (!st) st = dc_model_save(m, path, err);
    dc_model_free(m);
    *seconds = dc_now_seconds() - t0;
    return st;
}
