// optim.c — SGD, Adam, AdamW over flat vectors; gradient clipping; learning
// rate schedules. The arithmetic follows torch.optim (1.13, single-tensor
// path) operation by operation so recipes and fixtures carry over.
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "optim/optim.h"

dc_status dc_optim_init(dc_optim *o, dc_optim_kind kind, float momentum,
                        bool nesterov, float weight_decay, float beta1,
                        float beta2, float eps, size_t n, dc_error *err) {
    memset(o, 0, sizeof *o);
    if (momentum < 0 || weight_decay < 0 || eps < 0 || beta1 < 0 || beta1 >= 1 ||
        beta2 < 0 || beta2 >= 1)
        return dc_fail(err, DC_ERR_ARG,
                       "optimizer: momentum, weight decay and eps must be >= 0 and betas in [0,1)");
    if (nesterov && (kind != DC_OPTIM_SGD || momentum <= 0))
        return dc_fail(err, DC_ERR_ARG, "optimizer: Nesterov needs SGD with momentum > 0");
    o->kind = kind;
    o->momentum = momentum;
    o->nesterov = nesterov;
    o->weight_decay = weight_decay;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->n = n;
    o->buf1 = dc_alloc(sizeof(float) * n);
    if (kind != DC_OPTIM_SGD) o->buf2 = dc_alloc(sizeof(float) * n);
    if (!o->buf1 || (kind != DC_OPTIM_SGD && !o->buf2)) {
        dc_optim_free(o);
        return dc_fail(err, DC_ERR_NOMEM, "optimizer: out of memory for %zu state values", n);
    }
    return DC_OK;
}

void dc_optim_free(dc_optim *o) {
    dc_free(o->buf1);
    dc_free(o->buf2);
    o->buf1 = o->buf2 = NULL;
}

static void sgd_step(dc_optim *o, float *p, const float *g, float lr0, const float *mult) {
    const float mu = o->momentum, wd = o->weight_decay;
    const bool first = o->step == 0;
    float *buf = o->buf1;
    for (size_t i = 0; i < o->n; i++) {
        if (mult && mult[i] == 0.0f) continue; // frozen
        const float lr = mult ? lr0 * mult[i] : lr0;
        float d = g[i];
        if (wd != 0.0f) d = d + wd * p[i];
        if (mu != 0.0f) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] = p[i] - lr * d;
    }
}

static void adam_step(dc_optim *o, float *p, const float *g, float lr0, const float *mult) {
    const float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay;
    const int64_t t = o->step + 1;
    // torch computes the bias corrections in Python floats (double)
    const double bc1 = 1.0 - pow((double)b1, (double)t);
    const double bc2 = 1.0 - pow((double)b2, (double)t);
    const float step_size0 = (float)(lr0 / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    float *m = o->buf1, *v = o->buf2;
    const bool decoupled = o->kind == DC_OPTIM_ADAMW;
    // a parameter group's lr: torch divides the group's lr by bc1 (doubles)
    float last_mult = 1.0f, step_size_m = step_size0;
    for (size_t i = 0; i < o->n; i++) {
        float lr = lr0, step_size = step_size0;
        if (mult) {
            if (mult[i] == 0.0f) continue; // frozen
            if (mult[i] != last_mult) {
                last_mult = mult[i];
                step_size_m = (float)((double)(lr0 * mult[i]) / bc1);
            }
            lr = lr0 * mult[i];
            step_size = mult[i] == 1.0f ? step_size0 : step_size_m;
        }
        float d = g[i];
        if (decoupled) p[i] = p[i] * (1.0f - lr * wd);
        else if (wd != 0.0f) d = d + wd * p[i];
        m[i] = m[i] + (d - m[i]) * (1.0f - b1); // torch: exp_avg.lerp_(grad, 1-beta1)
        v[i] = v[i] * b2 + (1.0f - b2) * d * d;
        float denom = sqrtf(v[i]) / bc2_sqrt + o->eps;
        p[i] = p[i] - step_size * (m[i] / denom);
    }
}

void dc_optim_step_scaled(dc_optim *o, float *params, const float *grads, float lr, const float *mult) {
    if (o->kind == DC_OPTIM_SGD) sgd_step(o, params, grads, lr, mult);
    else adam_step(o, params, grads, lr, mult);
    o->step++;
}

void dc_optim_step(dc_optim *o, float *params, const float *grads, float lr) {
    dc_optim_step_scaled(o, params, grads, lr, NULL);
}

double dc_clip_grad_norm(float *grads, size_t n, float max_norm) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)grads[i] * grads[i];
    double norm = sqrt(s);
    if (max_norm > 0 && norm > max_norm) {
        float c = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) grads[i] *= c;
    }
    return norm;
}

double dc_schedule_lr(const dc_train_config *cfg, int epoch, int step,
                      int steps_per_epoch) {
    const double base = cfg->lr;
    // steps since the schedule started (sched_start: a fine-tune's first epoch)
    const int e = epoch - cfg->sched_start > 0 ? epoch - cfg->sched_start : 0;
    const long s = (long)e * steps_per_epoch + step;
    const long warm = (long)cfg->warmup_epochs * steps_per_epoch;
    const int span = cfg->sched_epochs > 0 ? cfg->sched_epochs : cfg->epochs - cfg->sched_start;
    if (warm > 0 && s < warm) return base * (double)(s + 1) / (double)warm;
    switch (cfg->sched) {
    case DC_SCHED_CONSTANT:
        return base;
    case DC_SCHED_STEP: {
        int k = cfg->step_size > 0 ? e / cfg->step_size : 0;
        return base * pow((double)cfg->gamma, (double)k);
    }
    case DC_SCHED_COSINE: {
        long total = (long)span * steps_per_epoch - warm;
        long t = s - warm;
        if (total <= 0) return base;
        double c = 0.5 * (1.0 + cos(3.141592653589793 * (double)t / (double)total));
        return cfg->min_lr + (base - cfg->min_lr) * c;
    }
    }
    return base;
}
