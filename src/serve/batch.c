// batch.c — a served model version: its queue, its workers and the dynamic
// batching policy.
//
// A version owns one dc_model (immutable while it serves) and `workers`
// threads, each with its own dc_session planned for max_batch rows and its
// own explainer, all made and warmed (one forward pass at max_batch and one
// at 1 row) before the version takes a request. The hot path allocates
// nothing: a batch is copied into the session's input buffer, run, and the
// logits are read in place.
//
// The policy. A worker sleeps until its version's queue is non-empty, then
// takes the queued requests from the head, oldest first, up to max_batch
// rows in all (a request's rows are never split), and runs them as one
// batch. It waits for more only while all of these hold:
//   - fewer than max_batch rows are queued,
//   - the oldest queued request has waited less than max_delay_us,
//   - some /infer or /explain request has its headers read and is not queued
//     yet (its body is arriving): there is something to wait for. Requests
//     still sending their headers do not count, so slow clients cannot make
//     batches wait; a slow body makes them wait max_delay_us at most.
// So a request that finds the queue empty and no other request on its way
// runs at once as a batch of 1, and under load the batch grows by itself to
// what arrived while the workers were busy. With --inline, such a lone
// one-row request (queue empty, no worker running a batch) does not even
// wait for a worker to wake: the HTTP thread that read it runs it on an
// inline runner's session (one per HTTP thread, made and warmed like the
// workers') and answers at once, saving two thread hand-offs (a worker's
// wake-up and the connection's resume), which on a small, busy machine is
// where the latency tail comes from. An explain request runs alone
// (it is itself a batch of many model inputs). A request still queued
// request_timeout_ms after it arrived is answered 503 without running.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "explain/explain.h"
#include "model/model.h"
#include "serve/serve.h"

static void abs_time(struct timespec *ts, double mono_deadline) {
    // pthread_cond_timedwait takes CLOCK_REALTIME unless the condvar says
    // otherwise; ours is created on CLOCK_MONOTONIC (see serve_version_new)
    double secs = floor(mono_deadline);
    ts->tv_sec = (time_t)secs;
    ts->tv_nsec = (long)((mono_deadline - secs) * 1e9);
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

static void finish(serve_job *job, int status, char *body, const char *ctype) {
    job->status = status;
    job->body = body;
    job->body_len = body ? strlen(body) : 0;
    job->content_type = ctype;
    job->t_done = dc_now_seconds();
    if (job->done) job->done(job->done_user);
}

static void finish_error(serve_job *job, int status, const char *msg) {
    finish(job, status, serve_error_json(msg), "application/json");
}

// ---------------------------------------------------------------------------
// Running a batch

static void run_batch(serve_worker *w, serve_job **jobs, int n, int rows) {
    serve_version *v = w->v;
    serve_server *srv = v->model->srv;
    serve_model_metrics *mm = &v->model->metrics;
    const size_t in_size = v->in_size;
    const int K = v->n_classes;
    float *x = dc_session_input(w->session);
    const double t0 = dc_now_seconds();
    int off = 0;
    for (int j = 0; j < n; j++) {
        memcpy(x + (size_t)off * in_size, jobs[j]->in->x, sizeof(float) * (size_t)jobs[j]->in->rows * in_size);
        off += jobs[j]->in->rows;
        jobs[j]->t_started = t0;
        jobs[j]->batch = rows;
        serve_hist_observe_seconds(&mm->queue_wait, t0 - jobs[j]->t_queued);
    }
    const float *z = dc_session_run(w->session, rows);
    memcpy(w->logits, z, sizeof(float) * (size_t)rows * K);
    serve_hist_observe_count(&mm->batch_size, rows, serve_batch_bounds, SERVE_BATCH_BUCKETS);
    atomic_fetch_add(&mm->samples, (uint64_t)rows);
    // drift statistics of every row (outside the window's lock)
    if (v->drift.available) {
        float p[1024];
        for (int r = 0; r < rows && K <= 1024; r++) {
            serve_softmax(p, w->logits + (size_t)r * K, K);
            serve_sample_stats_compute(&w->stats[r], x + (size_t)r * in_size, v->c, v->h, v->w, v->mean, v->std, p, K);
        }
        serve_drift_report rep;
        int flip = K <= 1024 ? serve_drift_add(&v->drift, w->stats, rows, &rep) : 0;
        if (flip > 0)
            serve_log(srv, DC_LOG_WARN,
                      "drift alarm on model %s: psi pixel %.3f image-mean %.3f prediction %.3f confidence %.3f, ks "
                      "image-mean %.3f confidence %.3f (thresholds psi %.3g, ks %.3g, window %d)",
                      v->model->name, rep.psi_pixel, rep.psi_image_mean, rep.psi_prediction, rep.psi_confidence,
                      rep.ks_image_mean, rep.ks_confidence, srv->cfg.drift_psi, srv->cfg.drift_ks, rep.window);
        else if (flip < 0)
            serve_log(srv, DC_LOG_INFO, "drift alarm cleared on model %s", v->model->name);
    }
    off = 0;
    for (int j = 0; j < n; j++) {
        serve_job *job = jobs[j];
        int k = job->q.top_k > 0 ? job->q.top_k : srv->cfg.top_k;
        char *body = serve_infer_json(v->model->name, v->version, job->in->id, w->logits + (size_t)off * K,
                                      job->in->rows, K, v->labels, k, job->in->outputs);
        off += job->in->rows;
        if (body) finish(job, 200, body, "application/json");
        else finish_error(job, 503, "out of memory writing the response");
    }
}

static cJSON *float_array(const float *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    char b[32];
    for (size_t i = 0; a && i < n; i++) {
        snprintf(b, sizeof b, "%.9g", (double)v[i]);
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateRaw(b) : cJSON_CreateNull());
    }
    return a;
}

static void run_explain(serve_worker *w, serve_job *job) {
    serve_version *v = w->v;
    const double t0 = dc_now_seconds();
    job->t_started = t0;
    job->batch = 1;
    serve_hist_observe_seconds(&v->model->metrics.queue_wait, t0 - job->t_queued);
    dc_explain_config cfg = dc_explain_config_default();
    cfg.method = job->q.method >= 0 ? (dc_explain_method)job->q.method : DC_EXPLAIN_SALIENCY;
    cfg.target = job->q.target;
    cfg.steps = job->q.steps > 0 ? job->q.steps : 32;
    dc_explanation e;
    dc_error err;
    if (dc_explain(w->explainer, job->in->x, &cfg, &e, &err)) {
        dc_explanation_free(&e);
        finish_error(job, 400, err.msg); // e.g. gradcam on a model without a convolution
        return;
    }
    atomic_fetch_add(&v->model->metrics.samples, (uint64_t)e.evaluations);
    if (job->q.format == 1) {
        uint8_t *png = NULL;
        size_t len = 0;
        int scale = job->q.scale > 0 ? job->q.scale : 8;
        if (dc_explanation_encode_png(&png, &len, &e, v->m, job->in->x, scale, "heatmap", &err)) {
            dc_explanation_free(&e);
            finish_error(job, 503, err.msg);
            return;
        }
        dc_explanation_free(&e);
        job->status = 200;
        job->body = (char *)png;
        job->body_len = len;
        job->content_type = "image/png";
        job->t_done = dc_now_seconds();
        job->done(job->done_user);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    char ver[16];
    snprintf(ver, sizeof ver, "%d", v->version);
    cJSON_AddStringToObject(o, "model_name", v->model->name);
    cJSON_AddStringToObject(o, "model_version", ver);
    if (job->in->id[0]) cJSON_AddStringToObject(o, "id", job->in->id);
    cJSON_AddStringToObject(o, "method", dc_explain_method_name(e.method));
    cJSON_AddNumberToObject(o, "target", e.target);
    cJSON_AddStringToObject(o, "target_label", v->labels[e.target]);
    cJSON_AddNumberToObject(o, "predicted", e.predicted);
    cJSON_AddStringToObject(o, "predicted_label", v->labels[e.predicted]);
    cJSON_AddNumberToObject(o, "probability", e.prob);
    cJSON_AddNumberToObject(o, "evaluations", e.evaluations);
    if (e.method == DC_EXPLAIN_IG) {
        cJSON *c = cJSON_AddObjectToObject(o, "completeness");
        cJSON_AddNumberToObject(c, "attribution_sum", e.attr_sum);
        cJSON_AddNumberToObject(c, "output_at_input", e.f_input);
        cJSON_AddNumberToObject(c, "output_at_baseline", e.f_baseline);
    }
    if (e.method == DC_EXPLAIN_GRADCAM) cJSON_AddStringToObject(o, "layer", e.layer);
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToArray(outs, t);
    cJSON_AddStringToObject(t, "name", "attribution");
    cJSON_AddStringToObject(t, "datatype", "FP32");
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(e.c));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(e.h));
    cJSON_AddItemToArray(shape, cJSON_CreateNumber(e.w));
    cJSON_AddItemToObject(t, "data", float_array(e.attr, (size_t)e.c * e.h * e.w));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    dc_explanation_free(&e);
    if (body) finish(job, 200, body, "application/json");
    else finish_error(job, 503, "out of memory writing the response");
}

// ---------------------------------------------------------------------------
// The worker

static void worker_idle(serve_version *v) {
    pthread_mutex_lock(&v->lock);
    v->running--;
    pthread_mutex_unlock(&v->lock);
}

static void *worker_main(void *arg) {
    serve_worker *w = arg;
    serve_version *v = w->v;
    serve_server *srv = v->model->srv;
    const int maxb = srv->cfg.max_batch;
    const double delay = srv->cfg.max_delay_us * 1e-6, timeout = srv->cfg.request_timeout_ms * 1e-3;
    serve_job **jobs = w->jobs;
    for (;;) {
        pthread_mutex_lock(&v->lock);
        while (!v->head && !v->stop) pthread_cond_wait(&v->cv, &v->lock);
        if (!v->head) { // stopping, and nothing left to answer
            pthread_mutex_unlock(&v->lock);
            break;
        }
        if (v->head->kind == SERVE_JOB_INFER && delay > 0) {
            while (v->head && v->queued_rows < maxb && !v->stop && atomic_load(&srv->arriving) > 0) {
                double deadline = v->head->t_queued + delay;
                if (dc_now_seconds() >= deadline) break;
                struct timespec ts;
                abs_time(&ts, deadline);
                pthread_cond_timedwait(&v->cv, &v->lock, &ts);
            }
            if (!v->head) { // another worker took them
                pthread_mutex_unlock(&v->lock);
                continue;
            }
        }
        int n = 0, rows = 0;
        serve_job *ex = NULL;
        if (v->head->kind == SERVE_JOB_EXPLAIN) {
            ex = v->head;
            v->head = ex->next;
            v->queued--;
            v->queued_rows--;
        } else {
            while (v->head && v->head->kind == SERVE_JOB_INFER && rows + v->head->in->rows <= maxb) {
                serve_job *j = v->head;
                v->head = j->next;
                jobs[n++] = j;
                rows += j->in->rows;
            }
            v->queued -= n;
            v->queued_rows -= rows;
        }
        if (!v->head) v->tail = NULL;
        atomic_store(&v->model->metrics.queued, v->queued);
        if (v->head) pthread_cond_signal(&v->cv); // another worker can take the rest
        v->running++;
        pthread_mutex_unlock(&v->lock);
        const double now = dc_now_seconds();
        if (ex) {
            if (now - ex->t_queued > timeout) finish_error(ex, 503, "timed out waiting in the queue; retry later");
            else run_explain(w, ex);
            worker_idle(v);
            continue;
        }
        // answer the requests that waited too long, run the rest
        int keep = 0, krows = 0;
        for (int j = 0; j < n; j++) {
            if (now - jobs[j]->t_queued > timeout) {
                finish_error(jobs[j], 503, "timed out waiting in the queue; retry later");
                continue;
            }
            jobs[keep++] = jobs[j];
            krows += jobs[j]->in->rows;
        }
        if (keep) run_batch(w, jobs, keep, krows);
        worker_idle(v);
    }
    return NULL;
}

bool serve_version_try_inline(serve_version *v, serve_job *job) {
    if (!v->n_inline || job->kind != SERVE_JOB_INFER || job->in->rows != 1) return false;
    serve_worker *w = NULL;
    pthread_mutex_lock(&v->lock);
    if (!v->stop && !v->head && v->running == 0)
        for (int i = 0; i < v->n_inline && !w; i++) {
            bool f = false;
            if (atomic_compare_exchange_strong(&v->inline_w[i].busy, &f, true)) w = &v->inline_w[i];
        }
    pthread_mutex_unlock(&v->lock);
    if (!w) return false;
    job->done = NULL;
    job->t_queued = dc_now_seconds();
    serve_job *jobs[1] = {job};
    run_batch(w, jobs, 1, 1);
    atomic_store(&w->busy, false);
    atomic_fetch_add(&v->model->metrics.inline_runs, 1);
    return true;
}

int serve_version_submit(serve_version *v, serve_job *job, char *msg, size_t cap) {
    serve_server *srv = v->model->srv;
    const int rows = job->kind == SERVE_JOB_INFER ? job->in->rows : 1;
    pthread_mutex_lock(&v->lock);
    if (v->stop || v->queued >= srv->cfg.queue_size) {
        int q = v->queued;
        pthread_mutex_unlock(&v->lock);
        snprintf(msg, cap, "model %s: %d requests queued (--queue-size %d); retry later", v->model->name, q,
                 srv->cfg.queue_size);
        return 503;
    }
    job->next = NULL;
    job->t_queued = dc_now_seconds();
    if (v->tail) v->tail->next = job;
    else v->head = job;
    v->tail = job;
    v->queued++;
    v->queued_rows += rows;
    atomic_store(&v->model->metrics.queued, v->queued);
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->lock);
    return 0;
}

// ---------------------------------------------------------------------------
// Making and freeing a version

// A runner's session (max_batch rows), its explainer (explain_batch rows,
// none when 0), its buffers, and a warm-up: every buffer paged in and the
// kernels' first-touch paths run, at max_batch and at 1 row.
static dc_status runner_new(serve_worker *w, serve_version *v, int explain_batch, dc_error *err) {
    const dc_serve_config *cfg = &v->model->srv->cfg;
    w->v = v;
    dc_status st = dc_session_new(&w->session, v->m, cfg->max_batch, cfg->threads, err);
    if (!st && explain_batch > 0) st = dc_explainer_new(&w->explainer, v->m, explain_batch, cfg->threads, err);
    if (st) return st;
    w->logits = malloc(sizeof(float) * (size_t)cfg->max_batch * v->n_classes);
    w->stats = malloc(sizeof(serve_sample_stats) * (size_t)cfg->max_batch);
    w->jobs = malloc(sizeof(serve_job *) * (size_t)cfg->max_batch);
    if (!w->logits || !w->stats || !w->jobs) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    memset(dc_session_input(w->session), 0, sizeof(float) * (size_t)cfg->max_batch * v->in_size);
    const float *z = dc_session_run(w->session, cfg->max_batch);
    z = dc_session_run(w->session, 1);
    for (int k = 0; k < v->n_classes; k++)
        if (!isfinite(z[k]))
            return dc_fail(err, DC_ERR_NUMERIC, "%s: the model's output on a zero input is not finite", v->model->path);
    return DC_OK;
}

static void runner_free(serve_worker *w) {
    dc_session_free(w->session);
    dc_explainer_free(w->explainer);
    free(w->logits);
    free(w->stats);
    free(w->jobs);
}

dc_status serve_version_new(serve_version **out, serve_model *model, int version, dc_error *err) {
    *out = NULL;
    serve_server *srv = model->srv;
    const dc_serve_config *cfg = &srv->cfg;
    const double t0 = dc_now_seconds();
    serve_version *v = calloc(1, sizeof *v);
    if (!v) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    v->model = model;
    v->version = version;
    dc_status st = dc_model_load(&v->m, model->path, err);
    if (!st && dc_model_tabular_features(v->m) > 0) // the v2 protocol's one "input" tensor is the image
        st = dc_fail(err, DC_ERR_ARG, "%s: a multimodal model (image + %d tabular columns): deepc serve takes image "
                     "models only; use deepc predict --tabular or the library's dc_session_predict_tabular",
                     model->path, dc_model_tabular_features(v->m));
    if (st) {
        dc_model_free(v->m);
        free(v);
        return st;
    }
    dc_model_input_shape(v->m, &v->c, &v->h, &v->w);
    v->n_classes = dc_model_num_classes(v->m);
    v->in_size = (size_t)v->c * v->h * v->w;
    dc_model_get_normalisation(v->m, &v->mean, &v->std);
    v->labels = calloc((size_t)v->n_classes, sizeof(char *));
    pthread_condattr_t ca;
    bool locks = !pthread_condattr_init(&ca) && !pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) &&
                 !pthread_mutex_init(&v->lock, NULL) && !pthread_cond_init(&v->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!v->labels || !locks) {
        dc_model_free(v->m);
        free(v->labels);
        free(v);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", model->path);
    }
    for (int k = 0; k < v->n_classes; k++) v->labels[k] = dc_model_class_name(v->m, k);
    st = serve_drift_init(&v->drift, dc_model_info(v->m, "reference"), cfg->drift_window, cfg->drift_psi,
                          cfg->drift_ks, v->c, v->h * v->w, v->n_classes, err);
    v->n_workers = srv->workers;
    v->workers = st ? NULL : calloc((size_t)v->n_workers, sizeof *v->workers);
    if (!st && !v->workers) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < v->n_workers; i++) st = runner_new(&v->workers[i], v, cfg->explain_batch, err);
    v->n_inline = !st && cfg->inline_run ? cfg->http_threads : 0;
    v->inline_w = v->n_inline ? calloc((size_t)v->n_inline, sizeof *v->inline_w) : NULL;
    if (v->n_inline && !v->inline_w) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < v->n_inline; i++) st = runner_new(&v->inline_w[i], v, 0, err);
    for (int i = 0; !st && i < v->n_workers; i++) {
        if (pthread_create(&v->workers[i].thread, NULL, worker_main, &v->workers[i])) {
            st = dc_fail(err, DC_ERR_NOMEM, "cannot start a worker thread");
            break;
        }
        v->workers[i].started = true;
    }
    atomic_store(&v->refs, 1);
    if (st) {
        atomic_store(&v->refs, 0);
        serve_version_free(v);
        return st;
    }
    v->load_seconds = dc_now_seconds() - t0;
    v->loaded_at = serve_wall_seconds();
    *out = v;
    return DC_OK;
}

void serve_version_free(serve_version *v) {
    if (!v) return;
    pthread_mutex_lock(&v->lock);
    v->stop = true;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->lock);
    for (int i = 0; v->workers && i < v->n_workers; i++) {
        serve_worker *w = &v->workers[i];
        if (w->started) pthread_join(w->thread, NULL);
        runner_free(w);
    }
    free(v->workers);
    for (int i = 0; v->inline_w && i < v->n_inline; i++) runner_free(&v->inline_w[i]);
    free(v->inline_w);
    serve_drift_free(&v->drift);
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->lock);
    free(v->labels);
    dc_model_free(v->m);
    free(v);
}
