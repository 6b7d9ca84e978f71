// pretrain.c — the self-supervised training loop (see ssl.h).
//
// One step: N images, two views each (rows 0..N-1 and N..2N-1 of one batch,
// so BatchNorm normalises over both views, as SimCLR's global batch does),
// one forward pass of the online graph in training mode, the loss and its
// gradient with respect to the output computed here (NT-Xent on the
// projections; for BYOL/SimSiam the cosine regression of the predictions
// onto the targets, which are constants: the stop-gradient), one backward
// pass from that gradient, the optimizer step, and for BYOL the moving
// average of the target. The executor's backward from any dlogits is what
// makes a custom loss this short.
//
// Reproducibility: the shuffle, the views and the dropout masks of epoch e
// come from streams derived from (seed, purpose, e), as in dc_train.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "model/model.h"
#include "optim/optim.h"
#include "ssl/ssl.h"
#include "transfer/transfer.h"

enum { STREAM_SHUFFLE = 0x5353, STREAM_VIEWS = 0x5356, STREAM_DROP = 0x5344, STREAM_INIT = 0x5349 };

static const char *const method_names[] = {"simclr", "byol", "simsiam"};

const char *dc_ssl_method_name(dc_ssl_method m) { return method_names[m]; }

dc_status dc_ssl_method_parse(dc_ssl_method *m, const char *name, dc_error *err) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, method_names[i])) {
            *m = (dc_ssl_method)i;
            return DC_OK;
        }
    return dc_fail(err, DC_ERR_ARG, "--method '%s': expected simclr, byol or simsiam", name);
}

dc_ssl_config dc_ssl_config_default(void) {
    dc_ssl_config c;
    memset(&c, 0, sizeof c);
    c.method = DC_SSL_SIMCLR;
    c.train = dc_train_config_default();
    c.train.batch = 256;
    c.train.optim = DC_OPTIM_ADAMW;
    c.train.lr = 0.001f;
    c.train.momentum = 0.0f;
    c.train.weight_decay = 1e-4f;
    c.train.sched = DC_SCHED_COSINE;
    c.temperature = 0.5f;
    c.tau = 0.99f;
    c.proj_hidden = 512;
    c.proj_dim = 128;
    c.pred_hidden = 512;
    c.aug = dc_view_aug_default();
    c.knn_k = 20;
    c.knn_t = 0.1f;
    return c;
}

void dc_ssl_model_free(dc_ssl_model *s) {
    dc_model_free(s->online);
    dc_model_free(s->target);
    free(s->ema);
    memset(s, 0, sizeof *s);
}

static dc_status append(char **text, const char *line, dc_error *err) {
    size_t a = strlen(*text), b = strlen(line);
    char *t = realloc(*text, a + b + 1);
    if (!t) return dc_fail(err, DC_ERR_NOMEM, "pretrain: out of memory");
    memcpy(t + a, line, b + 1);
    *text = t;
    return DC_OK;
}

dc_status dc_ssl_model_new(dc_ssl_model *s, const dc_model *base, const dc_ssl_config *cfg, dc_rng *rng,
                           dc_error *err) {
    memset(s, 0, sizeof *s);
    if (cfg->proj_hidden < 1 || cfg->proj_dim < 1 || cfg->pred_hidden < 1 || cfg->proj_hidden > 65536 ||
        cfg->proj_dim > 65536 || cfg->pred_hidden > 65536)
        return dc_fail(err, DC_ERR_ARG, "pretrain: projector and predictor widths must be in 1..65536");
    int head, feat;
    dc_status st = dc_model_head(base, &head, &feat, err);
    if (st) return st;
    if (cfg->features) {
        feat = dc_model_find_node(base, cfg->features);
        if (feat < 1 || feat == head)
            return dc_fail(err, DC_ERR_ARG, "--features %s: not a node of the model before its head %s (see deepc summary)",
                           cfg->features, base->nodes[head].name);
        const dc_node *fn = &base->nodes[feat];
        if (fn->h != 1 || fn->w != 1)
            return dc_fail(err, DC_ERR_ARG, "--features %s: its output is %dx%dx%d; the projector needs a vector (flatten "
                           "or globalavgpool output)", cfg->features, fn->c, fn->h, fn->w);
    }
    char *text = NULL;
    if ((st = dc_arch_subgraph(&text, base, feat, err))) return st;
    char line[256];
    snprintf(line, sizeof line,
             "linear out=%d name=proj.fc1\nbatchnorm2d name=proj.bn1\nrelu name=proj.relu1\nlinear out=%d name=proj.fc2\n",
             cfg->proj_hidden, cfg->proj_dim);
    st = append(&text, line, err);
    if (!st && cfg->method == DC_SSL_SIMSIAM) st = append(&text, "batchnorm2d name=proj.bn2\n", err);
    if (!st && cfg->method != DC_SSL_SIMCLR) {
        snprintf(line, sizeof line,
                 "linear out=%d name=pred.fc1\nbatchnorm2d name=pred.bn1\nrelu name=pred.relu1\nlinear out=%d name=pred.fc2\n",
                 cfg->pred_hidden, cfg->proj_dim);
        st = append(&text, line, err);
    }
    if (!st) st = dc_model_parse(&s->online, text, "pretraining graph", base->in_c, base->in_h, base->in_w, 0, err);
    free(text);
    text = NULL;
    if (st) return st;
    dc_model *on = s->online;
    dc_model_init_params(on, rng);
    int copied = 0, missing = 0;
    dc_model_copy_matching(on, base, NULL, &copied, &missing);
    memcpy(on->norm_mean, base->norm_mean, sizeof(float) * (size_t)base->in_c);
    memcpy(on->norm_std, base->norm_std, sizeof(float) * (size_t)base->in_c);
    on->norm_given = base->norm_given;
    s->feat_node = dc_model_find_node(on, base->nodes[feat].name);
    s->proj_node = dc_model_find_node(on, cfg->method == DC_SSL_SIMSIAM ? "proj.bn2" : "proj.fc2");
    DC_ASSERT(s->feat_node > 0 && s->proj_node > 0);
    s->feat_dim = (int)dc_node_size(&on->nodes[s->feat_node]);
    if (cfg->method != DC_SSL_BYOL) return DC_OK;
    // BYOL's target: the online graph up to the projector, a copy of it
    if ((st = dc_arch_subgraph(&text, on, s->proj_node, err))) goto fail;
    st = dc_model_parse(&s->target, text, "BYOL target", on->in_c, on->in_h, on->in_w, 0, err);
    free(text);
    if (st) goto fail;
    dc_model_copy_matching(s->target, on, NULL, NULL, NULL);
    memcpy(s->target->norm_mean, on->norm_mean, sizeof(float) * (size_t)on->in_c);
    memcpy(s->target->norm_std, on->norm_std, sizeof(float) * (size_t)on->in_c);
    s->target->norm_given = on->norm_given;
    int nt = 0;
    for (int i = 0; i < s->target->n_nodes; i++) nt += s->target->nodes[i].n_t;
    s->ema = malloc(sizeof(size_t) * 3 * (size_t)(nt ? nt : 1));
    if (!s->ema) {
        st = dc_fail(err, DC_ERR_NOMEM, "pretrain: out of memory");
        goto fail;
    }
    char name[DC_NODE_NAME_MAX + 32];
    for (int i = 0; i < s->target->n_nodes; i++) {
        const dc_node *n = &s->target->nodes[i];
        for (int k = 0; k < n->n_t; k++) {
            if (n->t[k].buf != DC_BUF_PARAM) continue; // running statistics are the target's own
            snprintf(name, sizeof name, "%s.%s", n->name, n->t[k].suffix);
            const dc_tensor_ref *o = dc_model_find_tensor(on, name);
            DC_ASSERT(o && o->n == n->t[k].n);
            s->ema[3 * s->n_ema] = n->t[k].off;
            s->ema[3 * s->n_ema + 1] = o->off;
            s->ema[3 * s->n_ema + 2] = o->n;
            s->n_ema++;
        }
    }
    return DC_OK;
fail:
    dc_ssl_model_free(s);
    return st;
}

void dc_ssl_export(dc_model *base, const dc_ssl_model *s) {
    int head, feat;
    if (dc_model_head(base, &head, &feat, NULL)) return;
    dc_model_copy_matching(base, s->online, base->nodes[head].name, NULL, NULL);
}

// The monitor: kNN accuracy of query against bank, spread of query's
// features. Unlabelled data has no kNN accuracy (-1): the spread only.
static dc_status monitor(dc_ssl_model *s, const dc_dataset *bank, const dc_dataset *query, const dc_ssl_config *cfg,
                         int nthreads, double *acc, double *sd, dc_error *err) {
    const int d = s->feat_dim;
    const bool labelled = !bank->unlabelled && !query->unlabelled;
    float *fb = labelled ? malloc(sizeof(float) * (size_t)bank->n * d) : NULL;
    float *fq = malloc(sizeof(float) * (size_t)query->n * d);
    dc_status st = DC_OK;
    *acc = -1;
    if ((labelled && !fb) || !fq) st = dc_fail(err, DC_ERR_NOMEM, "kNN monitor: out of memory");
    if (!st && labelled) st = dc_model_node_features(fb, s->online, s->feat_node, bank, 256, nthreads, err);
    if (!st) st = dc_model_node_features(fq, s->online, s->feat_node, query, 256, nthreads, err);
    const int C = bank->n_classes > query->n_classes ? bank->n_classes : query->n_classes;
    if (!st && labelled)
        st = dc_knn_accuracy(acc, fb, bank->labels, bank->n, fq, query->labels, query->n, d, C, cfg->knn_k,
                             cfg->knn_t, nthreads, err);
    if (!st) *sd = dc_embedding_std(fq, query->n, d);
    free(fb);
    free(fq);
    return st;
}

// ---------------------------------------------------------------------------
// One step

struct dc_ssl_runner {
    dc_ssl_model *s;
    dc_ssl_method method;
    float temperature;
    float clip;
    int max_n, nthreads;
    size_t in_size;
    dc_runtime *rt, *trt;  // online (backward), BYOL target (forward, training mode)
    float *dout;           // (2 max_n, D) gradient of the loss w.r.t. the online output
    float *work;           // NT-Xent workspace
};

void dc_ssl_runner_free(dc_ssl_runner *r) {
    if (!r) return;
    dc_runtime_free(r->rt);
    dc_runtime_free(r->trt);
    free(r->dout);
    free(r->work);
    free(r);
}

dc_status dc_ssl_runner_new(dc_ssl_runner **out, dc_ssl_model *s, const dc_ssl_config *cfg, int max_n, int nthreads,
                            dc_error *err) {
    *out = NULL;
    dc_model *on = s->online;
    if (!on->has_optim) {
        const dc_train_config *tc = &cfg->train;
        dc_status st = dc_optim_init(&on->optim, tc->optim, tc->momentum, tc->nesterov, tc->weight_decay, tc->beta1,
                                     tc->beta2, tc->eps, on->n_params, err);
        if (st) return st;
        on->has_optim = true;
    }
    dc_ssl_runner *r = calloc(1, sizeof *r);
    if (!r) return dc_fail(err, DC_ERR_NOMEM, "pretrain: out of memory");
    r->s = s;
    r->method = cfg->method;
    r->temperature = cfg->temperature;
    r->clip = cfg->train.clip_norm;
    r->max_n = max_n;
    r->nthreads = nthreads > 0 ? nthreads : dc_default_threads();
    r->in_size = (size_t)on->in_c * on->in_h * on->in_w;
    const int n2 = 2 * max_n, D = on->n_classes;
    dc_status st = DC_OK;
    r->dout = malloc(sizeof(float) * (size_t)n2 * D);
    if (cfg->method == DC_SSL_SIMCLR) r->work = malloc(sizeof(float) * dc_ntxent_work_floats(n2, D));
    if (!r->dout || (cfg->method == DC_SSL_SIMCLR && !r->work))
        st = dc_fail(err, DC_ERR_NOMEM, "pretrain: out of memory for a batch of %d", max_n);
    dc_graph g = dc_model_graph(on);
    if (!st) st = dc_runtime_new(&r->rt, &g, n2, DC_MODE_TRAIN, DC_RT_BACKWARD, r->nthreads, err);
    if (!st) dc_runtime_bind_model(r->rt, on);
    if (!st && s->target) {
        dc_graph gt = dc_model_graph(s->target);
        st = dc_runtime_new(&r->trt, &gt, n2, DC_MODE_TRAIN, 0, r->nthreads, err);
        if (!st) dc_runtime_bind(r->trt, s->target->params, NULL, s->target->state);
    }
    if (st) {
        dc_ssl_runner_free(r);
        return st;
    }
    *out = r;
    return DC_OK;
}

float *dc_ssl_runner_input(dc_ssl_runner *r) { return dc_runtime_input(r->rt); }

dc_status dc_ssl_runner_step(dc_ssl_runner *r, int n, float lr, float tau, dc_rng *drop, double *loss_out,
                             dc_error *err) {
    DC_ASSERT(n >= 1 && n <= r->max_n);
    dc_ssl_model *s = r->s;
    dc_model *on = s->online;
    const int n2 = 2 * n, D = on->n_classes;
    const float *out = dc_runtime_forward(r->rt, n2, drop);
    double loss;
    if (r->method == DC_SSL_SIMCLR) {
        loss = dc_ntxent(r->dout, out, n2, D, r->temperature, r->work, r->nthreads);
    } else if (r->method == DC_SSL_SIMSIAM) {
        const float *z = dc_runtime_node_output(r->rt, s->proj_node); // constants: the stop-gradient
        loss = dc_cosine_loss(r->dout, out, z, n2, D, 0.0f, 1.0f);
    } else {
        memcpy(dc_runtime_input(r->trt), dc_runtime_input(r->rt), sizeof(float) * (size_t)n2 * r->in_size);
        const float *tz = dc_runtime_forward(r->trt, n2, drop); // no gradient: a separate, forward-only graph
        loss = dc_cosine_loss(r->dout, out, tz, n2, D, 2.0f, 2.0f);
    }
    *loss_out = loss;
    if (!isfinite(loss)) return dc_fail(err, DC_ERR_NUMERIC, "loss is %s", isnan(loss) ? "NaN" : "Inf");
    memset(on->grads, 0, sizeof(float) * on->n_params);
    dc_runtime_backward(r->rt, n2, r->dout, NULL, -1, NULL);
    if (r->clip > 0) dc_clip_grad_norm(on->grads, on->n_params, r->clip);
    dc_optim_step(&on->optim, on->params, on->grads, lr);
    if (s->target)
        for (int e = 0; e < s->n_ema; e++)
            dc_ema_update(s->target->params + s->ema[3 * e], on->params + s->ema[3 * e + 1], s->ema[3 * e + 2], tau);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// The loop

dc_status dc_ssl_pretrain(dc_ssl_model *s, const dc_dataset *train, const dc_dataset *bank,
                          const dc_dataset *query, const dc_ssl_config *cfg, dc_ssl_callback cb, void *user,
                          dc_error *err) {
    dc_model *on = s->online;
    const dc_train_config *tc = &cfg->train;
    if (train->c != on->in_c || train->h != on->in_h || train->w != on->in_w)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images are %dx%dx%d but the model expects %dx%dx%d", train->source,
                       train->c, train->h, train->w, on->in_c, on->in_h, on->in_w);
    if (tc->batch < 2 || tc->batch > 1 << 16)
        return dc_fail(err, DC_ERR_ARG, "--batch %d: pretraining needs 2..65536 images per step (two views each)",
                       tc->batch);
    if (tc->batch > train->n)
        return dc_fail(err, DC_ERR_ARG, "--batch %d is larger than the %d training images", tc->batch, train->n);
    if (!(tc->lr > 0) || !isfinite(tc->lr)) return dc_fail(err, DC_ERR_ARG, "--lr %g: must be > 0", tc->lr);
    if (cfg->method == DC_SSL_SIMCLR && !(cfg->temperature > 0 && cfg->temperature <= 10))
        return dc_fail(err, DC_ERR_ARG, "--temperature %g: expected (0, 10]", cfg->temperature);
    if (cfg->method == DC_SSL_BYOL && !(cfg->tau >= 0 && cfg->tau < 1))
        return dc_fail(err, DC_ERR_ARG, "--tau %g: expected [0, 1)", cfg->tau);
    const bool monitored = bank && query && bank->n > 0 && query->n > 0;
    if (monitored && cfg->knn_k > 256) return dc_fail(err, DC_ERR_ARG, "--knn-k %d: at most 256", cfg->knn_k);
    const int nthreads = tc->nthreads > 0 ? tc->nthreads : dc_default_threads();
    const int B = tc->batch, steps = train->n / B; // the last partial batch is dropped
    dc_ssl_runner *r = NULL;
    dc_status st = dc_ssl_runner_new(&r, s, cfg, B, nthreads, err);
    if (st) return st;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)train->n);
    if (!perm) st = dc_fail(err, DC_ERR_NOMEM, "pretrain: out of memory");
    const long total_steps = (long)tc->epochs * steps;
    double tau = cfg->tau;
    while (!st && on->epochs_done < tc->epochs) {
        const int epoch = on->epochs_done;
        const double t0 = dc_now_seconds();
        dc_rng shuf = dc_rng_stream(tc->seed, STREAM_SHUFFLE, (uint64_t)epoch);
        dc_rng views = dc_rng_stream(tc->seed, STREAM_VIEWS, (uint64_t)epoch);
        dc_rng drop = dc_rng_stream(tc->seed, STREAM_DROP, (uint64_t)epoch);
        for (int i = 0; i < train->n; i++) perm[i] = i;
        dc_rng_shuffle_i32(&shuf, perm, (size_t)train->n);
        double loss_sum = 0, lr = tc->lr;
        for (int step = 0; step < steps && !st; step++) {
            const int32_t *idx = perm + (size_t)step * B;
            float *x = dc_ssl_runner_input(r);
            dc_views_batch(x, train, idx, B, &cfg->aug, on->norm_mean, on->norm_std, &views, nthreads);
            dc_views_batch(x + (size_t)B * r->in_size, train, idx, B, &cfg->aug, on->norm_mean, on->norm_std, &views,
                           nthreads);
            lr = dc_schedule_lr(tc, epoch, step, steps);
            if (s->target) tau = dc_byol_tau(cfg->tau, (long)epoch * steps + step, total_steps);
            double loss;
            if ((st = dc_ssl_runner_step(r, B, (float)lr, (float)tau, &drop, &loss, err))) {
                st = dc_fail(err, DC_ERR_NUMERIC, "pretraining diverged at epoch %d step %d (%s) — try a smaller --lr",
                             epoch + 1, step + 1, err->msg);
                break;
            }
            loss_sum += loss;
            if (cb && (step % 8 == 7 || step == steps - 1)) {
                dc_ssl_event ev = {.epoch = epoch + 1, .epochs = tc->epochs, .step = step + 1, .steps = steps,
                                   .loss = loss_sum / (step + 1), .knn_acc = -1, .emb_std = -1,
                                   .seconds = dc_now_seconds() - t0, .lr = lr, .tau = tau};
                cb(&ev, user);
            }
        }
        if (st) break;
        const double secs = dc_now_seconds() - t0;
        double acc = -1, sd = -1;
        if (monitored && (st = monitor(s, bank, query, cfg, nthreads, &acc, &sd, err))) break;
        on->epochs_done++;
        if (cb) {
            dc_ssl_event ev = {.epoch_end = true, .epoch = epoch + 1, .epochs = tc->epochs, .step = steps,
                               .steps = steps, .loss = steps ? loss_sum / steps : 0, .knn_acc = acc, .emb_std = sd,
                               .emb_std_ref = 1.0 / sqrt((double)s->feat_dim), .seconds = secs, .lr = lr, .tau = tau};
            cb(&ev, user);
        }
    }
    dc_ssl_runner_free(r);
    free(perm);
    return st;
}
