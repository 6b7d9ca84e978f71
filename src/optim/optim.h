// optim.h — optimizers over flat vectors, with torch.optim's semantics.
//
// SGD   : g += wd*p; buf = momentum*buf + g (buf = g on the first step);
//         g = nesterov ? g + momentum*buf : buf; p -= lr*g
// Adam  : g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//         p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// AdamW : p *= 1 - lr*wd; then Adam without the wd term.
#ifndef DC_OPTIM_H
#define DC_OPTIM_H

#include "deepc.h"

typedef struct dc_optim {
    dc_optim_kind kind;
    float momentum, weight_decay, beta1, beta2, eps;
    bool nesterov;
    int64_t step;   // steps taken so far
    size_t n;       // length of the flat vectors
    float *buf1;    // (n) SGD momentum buffer or Adam first moment, owned
    float *buf2;    // (n) Adam second moment (NULL for SGD), owned
} dc_optim;

dc_status dc_optim_init(dc_optim *o, dc_optim_kind kind, float momentum,
                        bool nesterov, float weight_decay, float beta1,
                        float beta2, float eps, size_t n, dc_error *err);
// One update of params (n) from grads (n) with learning rate lr.
void dc_optim_step(dc_optim *o, float *params, const float *grads, float lr);
// The same with a learning rate lr * mult[i] for element i (torch's
// parameter groups); mult (n) or NULL (all 1, then exactly dc_optim_step).
// An element with mult 0 is skipped: its value and optimizer state stay
// bit-identical (weight decay included).
void dc_optim_step_scaled(dc_optim *o, float *params, const float *grads,
                          float lr, const float *mult);
void dc_optim_free(dc_optim *o);

// Scales grads (n) so their global L2 norm is at most max_norm (torch's
// clip_grad_norm_: factor max_norm/(norm+1e-6) when norm > max_norm).
// Returns the norm before clipping.
double dc_clip_grad_norm(float *grads, size_t n, float max_norm);

// Learning rate for step `step` (0-based) of epoch `epoch` (0-based):
// linear warmup over warmup_epochs*steps_per_epoch steps, then the schedule
// (constant, StepLR per epoch, or cosine per step down to min_lr).
double dc_schedule_lr(const dc_train_config *cfg, int epoch, int step,
                      int steps_per_epoch);

#endif
