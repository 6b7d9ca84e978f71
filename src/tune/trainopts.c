// trainopts.c — the table of training options (see trainopts.h).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/trainopts.h"

const char *const dc_optim_names[] = {"sgd", "adam", "adamw", NULL};
const char *const dc_sched_names[] = {"constant", "step", "cosine", NULL};

#define OFF(f) offsetof(dc_trainopts, f)
#define BIG 1e30
// name, type, offset, lo, hi, lo_open, hi_open, choices, help
const dc_topt dc_topts[] = {
    {"batch", DC_TOPT_INT, OFF(batch), 1, 65536, false, false, NULL, "mini-batch size [64]"},
    {"optim", DC_TOPT_ENUM, OFF(optim), 0, 0, false, false, dc_optim_names, "sgd, adam or adamw [sgd]"},
    {"lr", DC_TOPT_FLOAT, OFF(lr), 0, BIG, true, false, NULL, "learning rate [0.001]"},
    {"momentum", DC_TOPT_FLOAT, OFF(momentum), 0, 1, false, true, NULL, "SGD momentum [0.9]"},
    {"nesterov", DC_TOPT_BOOL, OFF(nesterov), 0, 1, false, false, NULL, "Nesterov momentum"},
    {"weight-decay", DC_TOPT_FLOAT, OFF(weight_decay), 0, BIG, false, false, NULL,
     "L2 penalty (decoupled for adamw) [0]"},
    {"beta1", DC_TOPT_FLOAT, OFF(beta1), 0, 1, false, true, NULL, "Adam beta1 [0.9]"},
    {"beta2", DC_TOPT_FLOAT, OFF(beta2), 0, 1, false, true, NULL, "Adam beta2 [0.999]"},
    {"eps", DC_TOPT_FLOAT, OFF(eps), 0, BIG, false, false, NULL, "Adam epsilon [1e-8]"},
    {"sched", DC_TOPT_ENUM, OFF(sched), 0, 0, false, false, dc_sched_names,
     "learning-rate schedule: constant, step, cosine [constant]"},
    {"step-size", DC_TOPT_INT, OFF(step_size), 1, 100000, false, false, NULL, "step schedule: epochs between decays [1]"},
    {"gamma", DC_TOPT_FLOAT, OFF(gamma), 0, BIG, false, false, NULL, "step schedule: decay factor [0.1]"},
    {"min-lr", DC_TOPT_FLOAT, OFF(min_lr), 0, BIG, false, false, NULL, "cosine schedule: final learning rate [0]"},
    {"warmup", DC_TOPT_INT, OFF(warmup), 0, 100000, false, false, NULL, "epochs of linear warmup (per step) [0]"},
    {"clip", DC_TOPT_FLOAT, OFF(clip), 0, BIG, false, false, NULL, "clip the global gradient norm to this (0: off) [0]"},
    {"rotate", DC_TOPT_FLOAT, OFF(rotate), 0, 180, false, false, NULL, "augmentation: max rotation in degrees [0]"},
    {"scale", DC_TOPT_FLOAT, OFF(scale), 0, 1, false, true, NULL, "augmentation: max relative scale change [0]"},
    {"translate", DC_TOPT_FLOAT, OFF(translate), 0, 1e6, false, false, NULL, "augmentation: max shift in pixels [0]"},
    {"hflip", DC_TOPT_BOOL, OFF(hflip), 0, 1, false, false, NULL, "augmentation: random horizontal flips"},
    {"crop", DC_TOPT_INT, OFF(crop), 0, 1024, false, false, NULL,
     "augmentation: random crop with this much zero padding, pixels [0]"},
    {"erase", DC_TOPT_FLOAT, OFF(erase), 0, 1, false, false, NULL,
     "augmentation: random erasing (cutout) with this probability [0]"},
    {NULL, 0, 0, 0, 0, false, false, NULL, NULL},
};

static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

const dc_topt *dc_topt_find(const char *name) {
    for (const dc_topt *t = dc_topts; t->name; t++)
        if (same_name(t->name, name)) return t;
    return NULL;
}

// Levenshtein distance, capped (names are short).
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1] && !(a[i - 1] == '_' && b[j - 1] == '-'));
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *dc_topt_suggest(const char *name) {
    const char *best = NULL;
    int bd = 3;
    for (const dc_topt *t = dc_topts; t->name; t++) {
        int d = edit_distance(name, t->name);
        if (d < bd) bd = d, best = t->name;
    }
    return best;
}

void dc_topt_list(char *buf, size_t cap) {
    size_t len = 0;
    if (cap) buf[0] = 0;
    for (const dc_topt *t = dc_topts; t->name && len < cap; t++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", t == dc_topts ? "" : ", ", t->name);
}

dc_trainopts dc_trainopts_default(void) {
    dc_trainopts o;
    memset(&o, 0, sizeof o);
    o.batch = 64;
    o.optim = 0;
    o.lr = 0.001f;
    o.momentum = 0.9f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    o.sched = 0;
    o.step_size = 1;
    o.gamma = 0.1f;
    return o;
}

double dc_topt_get(const dc_trainopts *o, const dc_topt *t) {
    const char *p = (const char *)o + t->offset;
    switch (t->type) {
    case DC_TOPT_FLOAT: return *(const float *)p;
    case DC_TOPT_INT:
    case DC_TOPT_ENUM: return *(const int *)p;
    case DC_TOPT_BOOL: return *(const bool *)p ? 1.0 : 0.0;
    }
    return 0;
}

void dc_topt_set(dc_trainopts *o, const dc_topt *t, double v) {
    char *p = (char *)o + t->offset;
    switch (t->type) {
    case DC_TOPT_FLOAT: *(float *)p = (float)v; break;
    case DC_TOPT_INT:
    case DC_TOPT_ENUM: *(int *)p = (int)lround(v); break;
    case DC_TOPT_BOOL: *(bool *)p = v != 0.0; break;
    }
}

bool dc_topt_in_range(const dc_topt *t, double v) {
    if (!isfinite(v)) return false;
    switch (t->type) {
    case DC_TOPT_BOOL: return v == 0.0 || v == 1.0;
    case DC_TOPT_ENUM: {
        int n = 0;
        while (t->choices[n]) n++;
        return v == floor(v) && v >= 0 && v < n;
    }
    case DC_TOPT_INT:
        if (v != floor(v)) return false;
        /* fall through */
    case DC_TOPT_FLOAT:
        if (t->type == DC_TOPT_FLOAT && fabs(v) > 3.4e38) return false;
        if (t->lo_open ? !(v > t->lo) : !(v >= t->lo)) return false;
        if (t->hi_open ? !(v < t->hi) : !(v <= t->hi)) return false;
        return true;
    }
    return false;
}

void dc_topt_range_text(const dc_topt *t, char *buf, size_t cap) {
    if (t->type == DC_TOPT_BOOL) {
        snprintf(buf, cap, "true or false");
        return;
    }
    if (t->type == DC_TOPT_ENUM) {
        size_t len = 0;
        buf[0] = 0;
        for (int i = 0; t->choices[i] && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", i ? ", " : "one of ", t->choices[i]);
        return;
    }
    char hi[32];
    if (t->hi >= BIG) snprintf(hi, sizeof hi, "inf");
    else snprintf(hi, sizeof hi, "%g", t->hi);
    snprintf(buf, cap, "%s%s%g, %s%s", t->type == DC_TOPT_INT ? "an integer in " : "", t->lo_open ? "(" : "[", t->lo,
             hi, t->hi_open || t->hi >= BIG ? ")" : "]");
}

dc_status dc_trainopts_check(const dc_trainopts *o, int epochs, dc_error *err) {
    for (const dc_topt *t = dc_topts; t->name; t++) {
        double v = dc_topt_get(o, t);
        if (!dc_topt_in_range(t, v)) {
            char r[160];
            dc_topt_range_text(t, r, sizeof r);
            return dc_fail(err, DC_ERR_ARG, "--%s %g: expected %s", t->name, v, r);
        }
    }
    if (o->nesterov && (o->optim != DC_OPTIM_SGD || o->momentum <= 0))
        return dc_fail(err, DC_ERR_ARG, "--nesterov needs --optim sgd and --momentum > 0");
    if (o->warmup >= epochs && o->warmup > 0)
        return dc_fail(err, DC_ERR_ARG, "--warmup %d: expected 0..epochs-1 (the run has %d epochs)", o->warmup, epochs);
    return DC_OK;
}

void dc_trainopts_apply(dc_train_config *cfg, const dc_trainopts *o) {
    cfg->batch = o->batch;
    cfg->optim = (dc_optim_kind)o->optim;
    cfg->lr = o->lr;
    cfg->momentum = o->optim == DC_OPTIM_SGD ? o->momentum : 0.0f; // as deepc train
    cfg->nesterov = o->nesterov;
    cfg->weight_decay = o->weight_decay;
    cfg->beta1 = o->beta1;
    cfg->beta2 = o->beta2;
    cfg->eps = o->eps;
    cfg->sched = (dc_sched_kind)o->sched;
    cfg->step_size = o->step_size;
    cfg->gamma = o->gamma;
    cfg->min_lr = o->min_lr;
    cfg->warmup_epochs = o->warmup;
    cfg->clip_norm = o->clip;
    cfg->augment = (dc_augment){.rotate_deg = o->rotate, .scale = o->scale, .translate = o->translate,
                                .hflip = o->hflip, .crop = o->crop, .erase = o->erase};
}

char *dc_trainopts_json(const dc_trainopts *o, const dc_trainopts_extra *x) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    if (x && x->model) cJSON_AddStringToObject(j, "model", x->model);
    if (x && x->data) cJSON_AddStringToObject(j, "data", x->data);
    if (x) cJSON_AddNumberToObject(j, "epochs", x->epochs);
    for (const dc_topt *t = dc_topts; t->name; t++) {
        char key[64];
        snprintf(key, sizeof key, "%s", t->name);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_'; // train_config's spelling
        double v = dc_topt_get(o, t);
        if (t->type == DC_TOPT_ENUM) cJSON_AddStringToObject(j, key, t->choices[(int)v]);
        else if (t->type == DC_TOPT_BOOL) cJSON_AddBoolToObject(j, key, v != 0);
        else cJSON_AddNumberToObject(j, key, v);
    }
    if (x) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)x->seed);
        cJSON_AddStringToObject(j, "seed", seed);
        cJSON_AddNumberToObject(j, "threads", x->threads);
        cJSON_AddNumberToObject(j, "val_split", x->val_split);
        cJSON_AddNumberToObject(j, "limit", x->limit);
        cJSON_AddNumberToObject(j, "test_limit", x->test_limit);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}
