// membership.c — the membership-inference audit: loss-threshold and
// reference-calibrated attacks, their ROC figures, and the DP bound
// (contract and definitions in membership.h).
//
// Legend: n audited examples of each kind, R reference models, C classes,
// S reference-model training samples.
#define _POSIX_C_SOURCE 200809L
#include "privacy/membership.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "data/data.h"
#include "privacy/dp_record.h"

// Stream ids of the audit's random draws ("MIA" and "MIAREF" in ASCII).
#define MIA_STREAM 0x4d4941ull
#define MIA_REF_STREAM 0x4d4941524546ull

dc_membership_config dc_membership_config_default(void) {
    return (dc_membership_config){.n = 5000, .seed = 1, .n_ref = 4, .ref_size = 0, .ref_epochs = 0, .batch = 1000,
                                  .nthreads = 0};
}

// ---------------------------------------------------------------------------
// ROC figures

typedef struct scored {
    double s;
    int member;
} scored;

static int cmp_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->member < y->member) - (x->member > y->member);
}

dc_status dc_mia_roc(dc_mia_attack *a, const double *member, int n_m, const double *nonmember, int n_n,
                     dc_error *err) {
    memset(a, 0, sizeof *a);
    if (n_m < 1 || n_n < 1) return dc_fail(err, DC_ERR_ARG, "attack: need members and non-members (%d, %d)", n_m, n_n);
    const int N = n_m + n_n;
    scored *v = malloc(sizeof(scored) * (size_t)N);
    double *tp_at = malloc(sizeof(double) * ((size_t)N + 1)), *fp_at = malloc(sizeof(double) * ((size_t)N + 1));
    if (!v || !tp_at || !fp_at) {
        free(v), free(tp_at), free(fp_at);
        return dc_fail(err, DC_ERR_NOMEM, "attack: out of memory for %d scores", N);
    }
    for (int i = 0; i < n_m; i++) v[i] = (scored){member[i], 1};
    for (int i = 0; i < n_n; i++) v[n_m + i] = (scored){nonmember[i], 0};
    for (int i = 0; i < N; i++)
        if (!isfinite(v[i].s)) {
            free(v), free(tp_at), free(fp_at);
            return dc_fail(err, DC_ERR_NUMERIC, "attack: score %d is not finite", i);
        }
    qsort(v, (size_t)N, sizeof *v, cmp_desc);
    // walk the distinct thresholds from the top: "member if score >= t"
    int tp = 0, fp = 0, k = 0;
    double auc2 = 0.0; // twice the AUC numerator: ties count half
    tp_at[0] = fp_at[0] = 0;
    a->advantage = 0.0;
    a->threshold = INFINITY;
    const double e01 = 0.001 + 1e-12, e1 = 0.01 + 1e-12;
    for (int i = 0; i < N;) {
        int j = i, dtp = 0, dfp = 0;
        while (j < N && v[j].s == v[i].s) {
            dtp += v[j].member;
            dfp += !v[j].member;
            j++;
        }
        auc2 += (double)dfp * (2.0 * tp + dtp); // each new non-member is below tp members, ties with dtp
        tp += dtp;
        fp += dfp;
        const double tpr = (double)tp / n_m, fpr = (double)fp / n_n;
        if (fpr <= e01 && tpr > a->tpr_at_01) a->tpr_at_01 = tpr;
        if (fpr <= e1 && tpr > a->tpr_at_1) a->tpr_at_1 = tpr;
        if (tpr - fpr > a->advantage) {
            a->advantage = tpr - fpr;
            a->adv_tpr = tpr;
            a->adv_fpr = fpr;
            a->threshold = v[i].s;
        }
        k++;
        tp_at[k] = tpr;
        fp_at[k] = fpr;
        i = j;
    }
    a->auc = auc2 / (2.0 * n_m * n_n);
    // ROC points: all k+1 when they fit, else an even subsample with both ends
    const int np = k + 1;
    const int keep = np <= DC_MIA_ROC_POINTS ? np : DC_MIA_ROC_POINTS;
    for (int q = 0; q < keep; q++) {
        const int src = keep == np ? q : (int)((int64_t)q * (np - 1) / (keep - 1));
        a->roc_fpr[q] = fp_at[src];
        a->roc_tpr[q] = tp_at[src];
    }
    a->n_roc = keep;
    free(v), free(tp_at), free(fp_at);
    return DC_OK;
}

double dc_mia_dp_max_advantage(double eps, double delta) {
    if (!(eps < INFINITY)) return 1.0;
    const double e = exp(eps);
    const double b = (e - 1.0 + 2.0 * delta) / (e + 1.0);
    return b < 1.0 ? b : 1.0;
}

double dc_mia_dp_max_tpr(double eps, double delta, double fpr) {
    if (!(eps < INFINITY)) return 1.0;
    const double e = exp(eps);
    double b = e * fpr + delta;
    const double b2 = 1.0 - (1.0 - delta - fpr) / e;
    if (b2 < b) b = b2;
    return b < 1.0 ? b : 1.0;
}

// ---------------------------------------------------------------------------
// Records in the model

bool dc_membership_model_dp(const dc_model *m, double *eps, double *delta) {
    const char *rec = dc_model_info(m, "privacy");
    *eps = NAN;
    *delta = NAN;
    if (!rec) return false;
    cJSON *j = cJSON_Parse(rec);
    bool ok = false;
    if (cJSON_IsObject(j)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epsilon");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
        if (cJSON_IsNumber(d) && (cJSON_IsNumber(e) || cJSON_IsNull(e))) {
            *eps = cJSON_IsNumber(e) ? e->valuedouble : INFINITY;
            *delta = d->valuedouble;
            ok = *eps >= 0 && *delta >= 0 && *delta < 1;
        }
    }
    cJSON_Delete(j);
    return ok;
}

static double num_or(const cJSON *j, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool flag_or(const cJSON *j, const char *k, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

dc_status dc_membership_ref_config(dc_train_config *cfg, const dc_model *m, dc_error *err) {
    *cfg = dc_train_config_default();
    const char *rec = dc_model_info(m, "train_config");
    if (!rec)
        return dc_fail(err, DC_ERR_FORMAT,
                       "the model has no training record (deepc.train_config): reference models cannot be trained "
                       "like it; use --ref-models 0 for the loss attack alone");
    cJSON *j = cJSON_Parse(rec);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return dc_fail(err, DC_ERR_FORMAT, "the model's deepc.train_config is not a JSON object");
    }
    static const char *const optims[] = {"sgd", "adam", "adamw"}, *const scheds[] = {"constant", "step", "cosine"};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "optim"), *s = cJSON_GetObjectItemCaseSensitive(j, "sched");
    int oi = -1, si = -1;
    for (int q = 0; q < 3; q++) {
        if (cJSON_IsString(o) && !strcmp(o->valuestring, optims[q])) oi = q;
        if (cJSON_IsString(s) && !strcmp(s->valuestring, scheds[q])) si = q;
    }
    dc_status st = DC_OK;
    if (oi < 0 || si < 0) {
        st = dc_fail(err, DC_ERR_FORMAT, "the model's deepc.train_config has no known \"optim\" and \"sched\"");
        goto done;
    }
    cfg->optim = (dc_optim_kind)oi;
    cfg->sched = (dc_sched_kind)si;
    cfg->epochs = (int)num_or(j, "epochs", cfg->epochs);
    cfg->batch = (int)num_or(j, "batch", cfg->batch);
    cfg->lr = (float)num_or(j, "lr", cfg->lr);
    cfg->momentum = oi == DC_OPTIM_SGD ? (float)num_or(j, "momentum", cfg->momentum) : 0.0f; // as deepc train
    cfg->nesterov = flag_or(j, "nesterov", false);
    cfg->weight_decay = (float)num_or(j, "weight_decay", 0);
    cfg->beta1 = (float)num_or(j, "beta1", cfg->beta1);
    cfg->beta2 = (float)num_or(j, "beta2", cfg->beta2);
    cfg->eps = (float)num_or(j, "eps", cfg->eps);
    cfg->step_size = (int)num_or(j, "step_size", cfg->step_size);
    cfg->gamma = (float)num_or(j, "gamma", cfg->gamma);
    cfg->min_lr = (float)num_or(j, "min_lr", 0);
    cfg->warmup_epochs = (int)num_or(j, "warmup", 0);
    cfg->clip_norm = (float)num_or(j, "clip", 0);
    cfg->augment = (dc_augment){.rotate_deg = (float)num_or(j, "rotate", 0),
                                .scale = (float)num_or(j, "scale", 0),
                                .translate = (float)num_or(j, "translate", 0),
                                .hflip = flag_or(j, "hflip", false),
                                .crop = (int)num_or(j, "crop", 0),
                                .erase = (float)num_or(j, "erase", 0)};
    if (flag_or(j, "dp", false)) {
        cfg->dp.enabled = true;
        cfg->dp.sigma = num_or(j, "noise", 0);
        cfg->dp.delta = num_or(j, "delta", 1e-5);
        float clip = dc_dp_record_clip(dc_model_info(m, "privacy"));
        cfg->dp.clip = clip > 0 ? clip : (float)num_or(j, "clip", 1.0);
        if (!(cfg->dp.clip > 0)) cfg->dp.clip = 1.0f;
        cfg->clip_norm = 0; // the clip is per sample under DP-SGD
        cfg->dp.seeded = true;  // reference models are never released
    }
    if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0) || cfg->warmup_epochs < 0)
        st = dc_fail(err, DC_ERR_FORMAT, "the model's deepc.train_config has out-of-range epochs/batch/lr/warmup");
done:
    cJSON_Delete(j);
    return st;
}

// ---------------------------------------------------------------------------
// Scoring examples

// Per-example ln p(true class) and phi = ln(p / (1 - p)) of the examples
// idx (n) of ds under model m, and the count of correct predictions.
static dc_status score_examples(const dc_model *m, const dc_dataset *ds, const int32_t *idx, int n, int batch,
                                int nthreads, double *logp, double *phi, int *correct, dc_error *err) {
    const int C = dc_model_num_classes(m);
    if (batch > n) batch = n;
    dc_session *ses = NULL;
    dc_status st = dc_session_new(&ses, m, batch, nthreads, err);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!st && !y) st = dc_fail(err, DC_ERR_NOMEM, "membership: out of memory");
    *correct = 0;
    int ch, ih, iw;
    dc_model_input_shape(m, &ch, &ih, &iw);
    float *mean = malloc(sizeof(float) * (size_t)ch), *sd = malloc(sizeof(float) * (size_t)ch);
    if (!st && (!mean || !sd)) st = dc_fail(err, DC_ERR_NOMEM, "membership: out of memory");
    if (!st) dc_model_get_normalisation_channels(m, mean, sd);
    for (int s0 = 0; !st && s0 < n; s0 += batch) {
        const int b = n - s0 < batch ? n - s0 : batch;
        dc_batch_gather(dc_session_input(ses), y, ds, idx + s0, b, mean, sd);
        const float *z = dc_session_run(ses, b);
        for (int i = 0; i < b; i++) {
            const float *zi = z + (size_t)i * C;
            const int t = y[i];
            double mx = -INFINITY, mo = -INFINITY;
            int arg = 0;
            for (int k = 0; k < C; k++) {
                if (zi[k] > mx) mx = zi[k];
                if (k != t && zi[k] > mo) mo = zi[k];
                if (zi[k] > zi[arg]) arg = k;
            }
            double se = 0.0, so = 0.0;
            for (int k = 0; k < C; k++) {
                se += exp(zi[k] - mx);
                if (k != t) so += exp(zi[k] - mo);
            }
            const double lse = mx + log(se), lse_o = mo + log(so);
            if (!isfinite(lse) || !isfinite(lse_o)) {
                st = dc_fail(err, DC_ERR_NUMERIC, "membership: the model gives non-finite logits for sample %d",
                             idx[s0 + i]);
                break;
            }
            logp[s0 + i] = zi[t] - lse;
            phi[s0 + i] = zi[t] - lse_o; // ln p - ln(1 - p), stable at both ends
            *correct += arg == t;
        }
    }
    free(mean);
    free(sd);
    dc_session_free(ses);
    free(y);
    return st;
}

// n distinct indices of [0, N), seeded (a partial Fisher-Yates over 0..N-1).
static int32_t *draw(int N, int n, dc_rng *r) {
    int32_t *all = malloc(sizeof(int32_t) * (size_t)N);
    if (!all) return NULL;
    for (int i = 0; i < N; i++) all[i] = i;
    for (int i = 0; i < n; i++) {
        const int j = i + (int)dc_rng_below(r, (uint32_t)(N - i));
        const int32_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    return all; // the first n are the draw; the rest are the others
}

// A dataset of the samples (src, idx) listed, copied.
static dc_status gather_set(dc_dataset *out, const dc_dataset *const *src, const int32_t *which, const int32_t *idx,
                            int n, const char *name, dc_error *err) {
    memset(out, 0, sizeof *out);
    const dc_dataset *s0 = src[0];
    const size_t S = (size_t)s0->c * s0->h * s0->w;
    out->pixels = malloc(S * (size_t)n);
    out->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!out->pixels || !out->labels) {
        dc_dataset_free(out);
        return dc_fail(err, DC_ERR_NOMEM, "membership: out of memory for %d reference samples", n);
    }
    out->n = n;
    out->c = s0->c;
    out->h = s0->h;
    out->w = s0->w;
    out->n_classes = s0->n_classes;
    for (int i = 0; i < n; i++) {
        const dc_dataset *d = src[which[i]];
        memcpy(out->pixels + S * i, d->pixels + S * (size_t)idx[i], S);
        out->labels[i] = d->labels[idx[i]];
    }
    snprintf(out->source, sizeof out->source, "%s", name);
    return DC_OK;
}

dc_status dc_membership_audit(dc_membership_result *r, dc_model *m, const dc_dataset *train,
                              const dc_dataset *heldout, const dc_dataset *extra,
                              const dc_train_config *ref_cfg, const dc_membership_config *cfg,
                              dc_error *err) {
    memset(r, 0, sizeof *r);
    const dc_membership_config def = dc_membership_config_default();
    if (!cfg) cfg = &def;
    const double t0 = dc_now_seconds();
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    const int C = dc_model_num_classes(m);
    const dc_dataset *sets[3] = {train, heldout, extra};
    for (int q = 0; q < 3; q++) {
        if (!sets[q]) continue;
        if (sets[q]->c != c || sets[q]->h != h || sets[q]->w != w)
            return dc_fail(err, DC_ERR_SHAPE, "membership: the model expects %dx%dx%d images but %s has %dx%dx%d", c, h,
                           w, sets[q]->source, sets[q]->c, sets[q]->h, sets[q]->w);
        dc_status st = dc_dataset_check_labels(sets[q], C, err);
        if (st) return st;
    }
    if (cfg->n < 1 || cfg->n_ref < 0 || cfg->ref_size < 0 || cfg->ref_epochs < 0 || cfg->batch < 1)
        return dc_fail(err, DC_ERR_ARG,
                       "membership: n %d must be >= 1; reference models %d, size %d and epochs %d >= 0; batch %d >= 1",
                       cfg->n, cfg->n_ref, cfg->ref_size, cfg->ref_epochs, cfg->batch);
    if (train->n < 1 || heldout->n < 1)
        return dc_fail(err, DC_ERR_ARG, "membership: need training samples (%d) and held-out samples (%d)", train->n,
                       heldout->n);
    if (cfg->n_ref > 0 && !ref_cfg)
        return dc_fail(err, DC_ERR_ARG, "membership: reference models need a training configuration");
    int n = cfg->n;
    if (n > train->n) n = train->n;
    if (n > heldout->n) n = heldout->n;
    r->n = n;
    r->seed = cfg->seed;
    r->n_ref = cfg->n_ref;
    r->dp = dc_membership_model_dp(m, &r->epsilon, &r->delta);
    r->bound_advantage = r->bound_tpr_at_01 = r->bound_tpr_at_1 = NAN;
    if (r->dp) {
        r->bound_advantage = dc_mia_dp_max_advantage(r->epsilon, r->delta);
        r->bound_tpr_at_01 = dc_mia_dp_max_tpr(r->epsilon, r->delta, 0.001);
        r->bound_tpr_at_1 = dc_mia_dp_max_tpr(r->epsilon, r->delta, 0.01);
    }
    dc_rng rng = dc_rng_stream(cfg->seed, MIA_STREAM, 0);
    int32_t *mem = draw(train->n, n, &rng), *non = draw(heldout->n, n, &rng);
    double *lp = malloc(sizeof(double) * 2 * (size_t)n), *ph = malloc(sizeof(double) * 2 * (size_t)n);
    double *sum = calloc(2 * (size_t)n, sizeof(double)), *sum2 = calloc(2 * (size_t)n, sizeof(double));
    double *rlp = malloc(sizeof(double) * 2 * (size_t)n), *rph = malloc(sizeof(double) * 2 * (size_t)n);
    double *score = malloc(sizeof(double) * 2 * (size_t)n);
    int32_t *which = NULL, *pidx = NULL;
    dc_model *ref = NULL;
    dc_dataset shard;
    memset(&shard, 0, sizeof shard);
    dc_status st = DC_OK;
    if (!mem || !non || !lp || !ph || !sum || !sum2 || !rlp || !rph || !score) {
        st = dc_fail(err, DC_ERR_NOMEM, "membership: out of memory for %d audited examples", n);
        goto done;
    }
    // the target: members' then non-members' scores
    int cm = 0, cn = 0;
    if ((st = score_examples(m, train, mem, n, cfg->batch, cfg->nthreads, lp, ph, &cm, err))) goto done;
    if ((st = score_examples(m, heldout, non, n, cfg->batch, cfg->nthreads, lp + n, ph + n, &cn, err))) goto done;
    for (int i = 0; i < n; i++) {
        r->member_loss -= lp[i] / n;
        r->nonmember_loss -= lp[n + i] / n;
    }
    r->member_accuracy = (double)cm / n;
    r->nonmember_accuracy = (double)cn / n;
    if ((st = dc_mia_roc(&r->loss, lp, n, lp + n, n, err))) goto done;
    if (cfg->n_ref == 0) goto done;

    // reference models: shards of (training samples not audited) + extra
    const int rest = train->n - n, n_extra = extra ? extra->n : 0;
    const int pool = rest + n_extra;
    int size = cfg->ref_size > 0 ? cfg->ref_size : train->n;
    if ((int64_t)size * cfg->n_ref > pool) size = pool / cfg->n_ref;
    if (size < 1 || (cfg->ref_size > 0 && (int64_t)cfg->ref_size * cfg->n_ref > pool)) {
        const int each = cfg->ref_size > 0 ? cfg->ref_size : 1;
        st = dc_fail(err, DC_ERR_ARG,
                     "membership: %d reference models of %d samples need %lld samples outside the audit set, but "
                     "there are %d (%d training samples not audited, %d others)",
                     cfg->n_ref, each, (long long)each * cfg->n_ref, pool, rest, n_extra);
        goto done;
    }
    r->ref_size = size;
    which = malloc(sizeof(int32_t) * (size_t)pool);
    pidx = malloc(sizeof(int32_t) * (size_t)pool);
    if (!which || !pidx) {
        st = dc_fail(err, DC_ERR_NOMEM, "membership: out of memory for the reference pool");
        goto done;
    }
    for (int i = 0; i < rest; i++) which[i] = 0, pidx[i] = mem[n + i]; // the draw's remainder
    for (int i = 0; i < n_extra; i++) which[rest + i] = 1, pidx[rest + i] = i;
    {
        dc_rng pr = dc_rng_stream(cfg->seed, MIA_STREAM, 1);
        for (int i = pool - 1; i > 0; i--) { // shuffle the pool, keeping (which, idx) pairs together
            const int j = (int)dc_rng_below(&pr, (uint32_t)(i + 1));
            int32_t t = which[i];
            which[i] = which[j], which[j] = t;
            t = pidx[i];
            pidx[i] = pidx[j], pidx[j] = t;
        }
    }
    const dc_dataset *srcs[2] = {train, extra};
    const char *arch = dc_model_arch_text(m);
    double ref_acc = 0.0;
    for (int q = 0; q < cfg->n_ref; q++) {
        char name[64];
        snprintf(name, sizeof name, "reference shard %d", q);
        if ((st = gather_set(&shard, srcs, which + (size_t)q * size, pidx + (size_t)q * size, size, name, err)))
            goto done;
        if ((st = dc_model_parse(&ref, arch, "reference model", c, h, w, C, err))) goto done;
        dc_model_set_normalisation(ref, &shard);
        dc_rng ir = dc_rng_stream(cfg->seed, MIA_REF_STREAM, (uint64_t)q);
        dc_model_init_params(ref, &ir);
        dc_train_config tc = *ref_cfg;
        tc.seed = dc_rng_u64(&ir);
        tc.dp.seed = dc_rng_u64(&ir);
        if (cfg->ref_epochs > 0) tc.epochs = cfg->ref_epochs;
        if (tc.warmup_epochs >= tc.epochs) tc.warmup_epochs = tc.epochs - 1;
        tc.nthreads = cfg->nthreads;
        tc.checkpoint = NULL;
        tc.comm = NULL;
        tc.sample_weights = NULL;
        r->ref_epochs = tc.epochs;
        if ((st = dc_train(ref, &shard, NULL, &tc, cfg->cb, cfg->user, err))) goto done;
        int rcm, rcn;
        if ((st = score_examples(ref, train, mem, n, cfg->batch, cfg->nthreads, rlp, rph, &rcm, err))) goto done;
        if ((st = score_examples(ref, heldout, non, n, cfg->batch, cfg->nthreads, rlp + n, rph + n, &rcn, err)))
            goto done;
        ref_acc += (double)rcn / n;
        for (int i = 0; i < 2 * n; i++) {
            sum[i] += rph[i];
            sum2[i] += rph[i] * rph[i];
        }
        dc_model_free(ref);
        ref = NULL;
        dc_dataset_free(&shard);
    }
    r->ref_accuracy = ref_acc / cfg->n_ref;
    {
        // pooled within-example variance of phi_ref (R - 1 degrees of freedom each)
        const int R = cfg->n_ref;
        double ss = 0.0;
        for (int i = 0; i < 2 * n; i++) {
            const double mu = sum[i] / R;
            const double v = sum2[i] - R * mu * mu;
            ss += v > 0 ? v : 0;
        }
        r->sigma = R > 1 ? sqrt(ss / (2.0 * n * (R - 1))) : 0.0;
        const double sg = r->sigma > 1e-12 ? r->sigma : 1.0;
        for (int i = 0; i < 2 * n; i++) score[i] = (ph[i] - sum[i] / R) / sg;
    }
    if ((st = dc_mia_roc(&r->calibrated, score, n, score + n, n, err))) goto done;
    r->has_calibrated = true;
done:
    r->seconds = dc_now_seconds() - t0;
    dc_model_free(ref);
    dc_dataset_free(&shard);
    free(mem), free(non), free(lp), free(ph), free(sum), free(sum2), free(rlp), free(rph), free(score);
    free(which), free(pidx);
    if (st) memset(r, 0, sizeof *r);
    return st;
}

// ---------------------------------------------------------------------------
// The training set of a model, from its record

// Copies samples [from, ds->n) of ds into out.
static dc_status tail_of(dc_dataset *out, const dc_dataset *ds, int from, dc_error *err) {
    memset(out, 0, sizeof *out);
    const int n = ds->n - from;
    if (n <= 0) return DC_OK;
    const size_t S = (size_t)ds->c * ds->h * ds->w;
    *out = *ds;
    out->n = n;
    out->pixels = malloc(S * (size_t)n);
    out->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!out->pixels || !out->labels) {
        free(out->pixels), free(out->labels);
        memset(out, 0, sizeof *out);
        return dc_fail(err, DC_ERR_NOMEM, "out of memory copying %d samples", n);
    }
    memcpy(out->pixels, ds->pixels + S * (size_t)from, S * (size_t)n);
    memcpy(out->labels, ds->labels + from, sizeof(int32_t) * (size_t)n);
    return DC_OK;
}

// Appends b's samples to a (both owned).
static dc_status append(dc_dataset *a, const dc_dataset *b, dc_error *err) {
    if (b->n == 0) return DC_OK;
    if (a->n == 0) return tail_of(a, b, 0, err);
    const size_t S = (size_t)a->c * a->h * a->w;
    uint8_t *px = realloc(a->pixels, S * (size_t)(a->n + b->n));
    if (!px) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    a->pixels = px;
    int32_t *lb = realloc(a->labels, sizeof(int32_t) * (size_t)(a->n + b->n));
    if (!lb) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    a->labels = lb;
    memcpy(a->pixels + S * (size_t)a->n, b->pixels, S * (size_t)b->n);
    memcpy(a->labels + a->n, b->labels, sizeof(int32_t) * (size_t)b->n);
    a->n += b->n;
    return DC_OK;
}

dc_status dc_membership_open_data(dc_dataset *train, dc_dataset *test, dc_dataset *extra, const dc_model *m,
                                  const char *data_spec, char *note, size_t note_cap, dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    memset(extra, 0, sizeof *extra);
    if (note && note_cap) note[0] = 0;
    const char *rec = dc_model_info(m, "train_config");
    cJSON *tc = rec ? cJSON_Parse(rec) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(tc, "data");
    const char *data = data_spec ? data_spec : cJSON_IsString(d) ? d->valuestring : "fashion-mnist";
    const int limit = (int)num_or(tc, "limit", 0);
    const double val = num_or(tc, "val_split", 0.0);
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(tc, "seed");
    const uint64_t seed = cJSON_IsString(sd) ? strtoull(sd->valuestring, NULL, 10) : 1;
    dc_status st = dc_data_open(train, test, data, err);
    if (!st && limit > 0 && limit < train->n) {
        st = tail_of(extra, train, limit, err);
        dc_dataset_truncate(train, limit);
    }
    if (!st && val > 0) { // as deepc train: truncate, then split with the run's seed
        dc_dataset v;
        st = dc_dataset_split(train, &v, val, seed, err);
        if (!st) st = append(extra, &v, err);
        dc_dataset_free(&v);
    }
    const char *pv = dc_model_info(m, "provenance");
    cJSON *pj = pv ? cJSON_Parse(pv) : NULL;
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(pj, "train_samples");
    if (!st && cJSON_IsNumber(ns) && ns->valueint != train->n)
        st = dc_fail(err, DC_ERR_ARG,
                     "the model trained on %d samples but its training set rebuilt from %s has %d: members would "
                     "not be members (give the data it was trained on)", ns->valueint, data, train->n);
    if (!st && !rec && note && note_cap)
        snprintf(note, note_cap, "the model has no training record: all of %s's training split is taken as members",
                 data);
    cJSON_Delete(pj);
    cJSON_Delete(tc);
    if (st) {
        dc_dataset_free(train);
        dc_dataset_free(test);
        dc_dataset_free(extra);
    }
    return st;
}
