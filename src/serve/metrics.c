// metrics.c — counters and histograms updated lock-free from any thread, and
// the Prometheus text exposition (format 0.0.4) of everything the server
// knows: requests by model, endpoint and status code, latency, queue wait and
// batch-size histograms, in-flight requests, threads and batch settings,
// model versions, load times and reload results, drift statistics.
//
// Names follow the Prometheus conventions: a deepc_ prefix, base units
// (seconds), _total for counters, _seconds for durations, histograms as
// cumulative _bucket{le=...} series with _sum and _count. Buckets are kept
// non-cumulative (one atomic add per observation) and summed when written.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve/serve.h"

const double serve_lat_bounds[SERVE_LAT_BUCKETS] = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,  2.5e-3, 5e-3, 10e-3,
                                                    25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1.0};
const double serve_batch_bounds[SERVE_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

const int serve_codes[SERVE_N_CODES] = {200, 400, 401, 404, 405, 408, 413, 414, 415, 431, 500, 503, 504, 0};

int serve_code_index(int code) {
    for (int i = 0; i < SERVE_N_CODES - 1; i++)
        if (serve_codes[i] == code) return i;
    return SERVE_N_CODES - 1; // "other"
}

const char *const serve_ep_names[SERVE_N_EP] = {"infer", "explain", "metadata", "ready", "drift",
                                                "health", "metrics", "server", "other"};

static void observe(serve_hist *h, double v, const double *bounds, int nb, uint64_t sum_units) {
    int b = 0;
    while (b < nb && v > bounds[b]) b++;
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, sum_units, memory_order_relaxed);
}

void serve_hist_observe_seconds(serve_hist *h, double s) {
    if (!(s >= 0)) s = 0;
    observe(h, s, serve_lat_bounds, SERVE_LAT_BUCKETS, (uint64_t)llround(s * 1e9));
}

void serve_hist_observe_count(serve_hist *h, double v, const double *bounds, int nb) {
    observe(h, v, bounds, nb, (uint64_t)llround(v));
}

// ---------------------------------------------------------------------------
// Text

void serve_text_printf(serve_text *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->s && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap - t->len <= (size_t)n) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

void serve_text_free(serve_text *t) {
    free(t->s);
    memset(t, 0, sizeof *t);
}

void serve_text_label(serve_text *t, const char *v) {
    for (; *v; v++) {
        if (*v == '\\') serve_text_printf(t, "\\\\");
        else if (*v == '"') serve_text_printf(t, "\\\"");
        else if (*v == '\n') serve_text_printf(t, "\\n");
        else serve_text_printf(t, "%c", *v);
    }
}

void serve_hist_write(serve_text *t, const char *name, const char *labels, const serve_hist *h, const double *bounds,
                      int nb, bool seconds) {
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int b = 0; b <= nb; b++) {
        cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        if (b < nb) serve_text_printf(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[b], (unsigned long long)cum);
        else serve_text_printf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    }
    uint64_t sum = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    if (seconds) serve_text_printf(t, "%s_sum{%s} %.9f\n", name, labels, (double)sum / 1e9);
    else serve_text_printf(t, "%s_sum{%s} %llu\n", name, labels, (unsigned long long)sum);
    serve_text_printf(t, "%s_count{%s} %llu\n", name, labels,
                      (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

// ---------------------------------------------------------------------------
// The exposition

static void header(serve_text *t, const char *name, const char *type, const char *help) {
    serve_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge_or_nan(serve_text *t, double v) {
    if (isfinite(v)) serve_text_printf(t, " %.9g\n", v);
    else serve_text_printf(t, " NaN\n");
}

char *serve_metrics_text(serve_server *s, size_t *len) {
    serve_text t = {0};
    char lab[512];
    header(&t, "deepc_requests_total", "counter", "HTTP requests answered, by model, endpoint and status code.");
    for (int mi = -1; mi < s->n_models; mi++) {
        // mi = -1: requests that named no model (health, metrics, unknown paths)
        serve_model_metrics *mm = mi < 0 ? NULL : &s->models[mi].metrics;
        for (int e = 0; e < SERVE_N_EP; e++)
            for (int c = 0; c < SERVE_N_CODES; c++) {
                uint64_t v = atomic_load_explicit(mm ? &mm->requests[e][c] : &s->unmodelled[e][c], memory_order_relaxed);
                if (!v) continue;
                serve_text_printf(&t, "deepc_requests_total{model=\"");
                if (mm) serve_text_label(&t, s->models[mi].name);
                if (serve_codes[c]) serve_text_printf(&t, "\",endpoint=\"%s\",code=\"%d\"} %llu\n", serve_ep_names[e], serve_codes[c], (unsigned long long)v);
                else serve_text_printf(&t, "\",endpoint=\"%s\",code=\"other\"} %llu\n", serve_ep_names[e], (unsigned long long)v);
            }
    }
    header(&t, "deepc_request_duration_seconds", "histogram",
           "Time from the request line to the response being queued, /infer and /explain.");
    for (int mi = 0; mi < s->n_models; mi++)
        for (int e = 0; e < 2; e++) {
            serve_text lt = {0};
            serve_text_printf(&lt, "model=\"");
            serve_text_label(&lt, s->models[mi].name);
            serve_text_printf(&lt, "\",endpoint=\"%s\"", serve_ep_names[e]);
            snprintf(lab, sizeof lab, "%s", lt.s ? lt.s : "");
            serve_text_free(&lt);
            serve_hist_write(&t, "deepc_request_duration_seconds", lab, &s->models[mi].metrics.latency[e],
                             serve_lat_bounds, SERVE_LAT_BUCKETS, true);
        }
    header(&t, "deepc_queue_wait_seconds", "histogram", "Time a request waited in its model's queue before its batch ran.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_text lt = {0};
        serve_text_printf(&lt, "model=\"");
        serve_text_label(&lt, s->models[mi].name);
        serve_text_printf(&lt, "\"");
        snprintf(lab, sizeof lab, "%s", lt.s ? lt.s : "");
        serve_text_free(&lt);
        serve_hist_write(&t, "deepc_queue_wait_seconds", lab, &s->models[mi].metrics.queue_wait, serve_lat_bounds,
                         SERVE_LAT_BUCKETS, true);
    }
    header(&t, "deepc_batch_size", "histogram", "Samples per batch run by the workers.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_text lt = {0};
        serve_text_printf(&lt, "model=\"");
        serve_text_label(&lt, s->models[mi].name);
        serve_text_printf(&lt, "\"");
        snprintf(lab, sizeof lab, "%s", lt.s ? lt.s : "");
        serve_text_free(&lt);
        serve_hist_write(&t, "deepc_batch_size", lab, &s->models[mi].metrics.batch_size, serve_batch_bounds,
                         SERVE_BATCH_BUCKETS, false);
    }
    header(&t, "deepc_inference_samples_total", "counter", "Samples run through a model.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_text_printf(&t, "deepc_inference_samples_total{model=\"");
        serve_text_label(&t, s->models[mi].name);
        serve_text_printf(&t, "\"} %llu\n", (unsigned long long)atomic_load(&s->models[mi].metrics.samples));
    }
    header(&t, "deepc_inline_runs_total", "counter", "Requests run on the HTTP thread that read them (--inline).");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_text_printf(&t, "deepc_inline_runs_total{model=\"");
        serve_text_label(&t, s->models[mi].name);
        serve_text_printf(&t, "\"} %llu\n", (unsigned long long)atomic_load(&s->models[mi].metrics.inline_runs));
    }
    header(&t, "deepc_inflight_requests", "gauge", "Requests received and not yet answered.");
    serve_text_printf(&t, "deepc_inflight_requests %d\n", atomic_load(&s->inflight));
    header(&t, "deepc_queued_requests", "gauge", "Requests waiting in a model's queue.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_text_printf(&t, "deepc_queued_requests{model=\"");
        serve_text_label(&t, s->models[mi].name);
        serve_text_printf(&t, "\"} %d\n", atomic_load(&s->models[mi].metrics.queued));
    }
    header(&t, "deepc_workers", "gauge", "Inference workers per model (one session each).");
    serve_text_printf(&t, "deepc_workers %d\n", s->workers);
    header(&t, "deepc_worker_threads", "gauge", "Threads of each worker's session.");
    serve_text_printf(&t, "deepc_worker_threads %d\n", s->cfg.threads);
    header(&t, "deepc_http_threads", "gauge", "HTTP threads (libmicrohttpd's pool).");
    serve_text_printf(&t, "deepc_http_threads %d\n", s->cfg.http_threads);
    header(&t, "deepc_inline", "gauge", "1 when lone one-row requests run on the HTTP threads (--inline).");
    serve_text_printf(&t, "deepc_inline %d\n", s->cfg.inline_run ? 1 : 0);
    header(&t, "deepc_max_batch", "gauge", "Largest batch a worker runs (--max-batch).");
    serve_text_printf(&t, "deepc_max_batch %d\n", s->cfg.max_batch);
    header(&t, "deepc_max_delay_seconds", "gauge", "Longest a request waits for its batch to fill (--max-delay-us).");
    serve_text_printf(&t, "deepc_max_delay_seconds %.6f\n", s->cfg.max_delay_us / 1e6);
    header(&t, "deepc_queue_capacity", "gauge", "Requests a model's queue holds before answering 503.");
    serve_text_printf(&t, "deepc_queue_capacity %d\n", s->cfg.queue_size);
    header(&t, "deepc_start_time_seconds", "gauge", "When the server started (seconds since the epoch).");
    serve_text_printf(&t, "deepc_start_time_seconds %.3f\n", s->started_at);

    // per model: version, load, reloads, drift
    header(&t, "deepc_model_version", "gauge", "Version of the model being served (1 at start, +1 per reload).");
    header(&t, "deepc_model_load_seconds", "gauge", "Time to load, plan and warm up the version being served.");
    header(&t, "deepc_model_loaded_time_seconds", "gauge", "When the version being served was loaded (since the epoch).");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_version *v = serve_model_acquire(&s->models[mi]);
        const char *nm = s->models[mi].name;
        serve_text_printf(&t, "deepc_model_version{model=\"");
        serve_text_label(&t, nm);
        serve_text_printf(&t, "\"} %d\n", v->version);
        serve_text_printf(&t, "deepc_model_load_seconds{model=\"");
        serve_text_label(&t, nm);
        serve_text_printf(&t, "\"} %.6f\n", v->load_seconds);
        serve_text_printf(&t, "deepc_model_loaded_time_seconds{model=\"");
        serve_text_label(&t, nm);
        serve_text_printf(&t, "\"} %.3f\n", v->loaded_at);
        serve_version_release(v);
    }
    header(&t, "deepc_model_reloads_total", "counter", "Reloads of a changed model file, by result.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_model_metrics *mm = &s->models[mi].metrics;
        for (int ok = 1; ok >= 0; ok--) {
            serve_text_printf(&t, "deepc_model_reloads_total{model=\"");
            serve_text_label(&t, s->models[mi].name);
            serve_text_printf(&t, "\",result=\"%s\"} %llu\n", ok ? "ok" : "error",
                              (unsigned long long)atomic_load(ok ? &mm->reloads_ok : &mm->reloads_failed));
        }
    }
    header(&t, "deepc_model_reload_error", "gauge",
           "1 while the model file on disk was refused (the old version keeps serving); the message is a label.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_model *m = &s->models[mi];
        pthread_mutex_lock(&m->lock);
        serve_text_printf(&t, "deepc_model_reload_error{model=\"");
        serve_text_label(&t, m->name);
        serve_text_printf(&t, "\",message=\"");
        serve_text_label(&t, m->last_error);
        serve_text_printf(&t, "\"} %d\n", m->last_error[0] ? 1 : 0);
        pthread_mutex_unlock(&m->lock);
    }
    header(&t, "deepc_drift_available", "gauge", "1 when the model carries reference statistics to compare against.");
    header(&t, "deepc_drift_window_samples", "gauge", "Samples in the drift window (it is evaluated when full).");
    header(&t, "deepc_drift_alarm", "gauge", "1 while a drift statistic of the full window exceeds its threshold.");
    header(&t, "deepc_drift_alarms_total", "counter", "Times the drift alarm went up.");
    header(&t, "deepc_drift_psi", "gauge", "Population stability index of the window against the reference.");
    header(&t, "deepc_drift_ks", "gauge", "Binned Kolmogorov-Smirnov distance of the window against the reference.");
    header(&t, "deepc_drift_tvd", "gauge", "Total variation distance of the predicted classes against the reference.");
    for (int mi = 0; mi < s->n_models; mi++) {
        serve_version *v = serve_model_acquire(&s->models[mi]);
        serve_drift_report r;
        serve_drift_report_get(&v->drift, &r);
        serve_text lt = {0};
        serve_text_printf(&lt, "model=\"");
        serve_text_label(&lt, s->models[mi].name);
        serve_text_printf(&lt, "\"");
        const char *l = lt.s ? lt.s : "";
        serve_text_printf(&t, "deepc_drift_available{%s} %d\n", l, r.available);
        serve_text_printf(&t, "deepc_drift_window_samples{%s} %d\n", l, r.fill);
        serve_text_printf(&t, "deepc_drift_alarm{%s} %d\n", l, r.available && r.alarm);
        serve_text_printf(&t, "deepc_drift_alarms_total{%s} %ld\n", l, r.alarms);
        if (r.available) {
            const struct { const char *metric, *stat; double v; } rows[] = {
                {"psi", "pixel_intensity", r.psi_pixel},   {"psi", "image_mean", r.psi_image_mean},
                {"ks", "image_mean", r.ks_image_mean},     {"psi", "prediction", r.psi_prediction},
                {"tvd", "prediction", r.tvd_prediction},   {"psi", "confidence", r.psi_confidence},
                {"ks", "confidence", r.ks_confidence},
            };
            for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
                serve_text_printf(&t, "deepc_drift_%s{%s,statistic=\"%s\"}", rows[i].metric, l, rows[i].stat);
                gauge_or_nan(&t, rows[i].v);
            }
        }
        serve_text_free(&lt);
        serve_version_release(v);
    }
    if (t.oom) {
        serve_text_free(&t);
        return NULL;
    }
    *len = t.len;
    return t.s;
}
