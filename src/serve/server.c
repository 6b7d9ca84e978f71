// server.c — dc_server: the configuration, start-up (models, workers,
// watcher, HTTP) and the draining stop.
//
// Start-up order: check the configuration, load and warm every model (so a
// bad model never leaves a half-started server), start the watcher, bind.
// Stop order: refuse new work (503 + Connection: close, readiness 503),
// stop accepting connections, wait for the requests in flight, stop the
// watcher, stop HTTP, then the models' workers.
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "serve/http.h"
#include "serve/serve.h"

dc_serve_config dc_serve_config_default(void) {
    dc_serve_config c;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.port = 8080;
    c.workers = 0;
    c.threads = 1;
    c.http_threads = 1;
    c.max_batch = 32;
    c.max_delay_us = 500;
    c.queue_size = 1024;
    c.max_body = (size_t)4 << 20;
    c.max_header = (size_t)16 << 10;
    c.max_connections = 1024;
    c.idle_timeout_s = 10;
    c.request_timeout_ms = 10000;
    c.max_image_pixels = 2048L * 2048L;
    c.top_k = 5;
    c.watch_interval_ms = 500;
    c.drift_window = 1000;
    c.drift_psi = 0.2;
    c.drift_ks = 0.1;
    c.explain_batch = 16;
    return c;
}

static dc_status check(const dc_serve_config *c, dc_error *err) {
#define RANGE(v, lo, hi, name)                                                                                        \
    if (!((v) >= (lo) && (v) <= (hi)))                                                                                \
        return dc_fail(err, DC_ERR_ARG, "%s %g: expected %g to %g", name, (double)(v), (double)(lo), (double)(hi));
    RANGE(c->port, 0, 65535, "--port");
    RANGE(c->workers, 0, 256, "--workers");
    RANGE(c->threads, 1, 256, "--threads");
    RANGE(c->http_threads, 1, 64, "--http-threads");
    RANGE(c->max_batch, 1, 4096, "--max-batch");
    RANGE(c->max_delay_us, 0, 1000000, "--max-delay-us");
    RANGE(c->queue_size, 1, 1000000, "--queue-size");
    RANGE((double)c->max_body, 1024, (double)((size_t)1 << 30), "--max-body");
    RANGE((double)c->max_header, 4096, (double)((size_t)1 << 20), "--max-header");
    RANGE(c->max_connections, 1, 100000, "--max-connections");
    RANGE(c->max_connections_per_ip, 0, 100000, "--max-connections-per-ip");
    RANGE(c->idle_timeout_s, 1, 3600, "--idle-timeout");
    RANGE(c->request_timeout_ms, 1, 3600000, "--request-timeout-ms");
    RANGE(c->max_image_pixels, 1, 16384L * 16384L, "--max-image-pixels");
    RANGE(c->top_k, 1, 1000, "--top-k");
    RANGE(c->watch_interval_ms, 10, 3600000, "--watch-interval-ms");
    RANGE(c->drift_window, 10, 1000000, "--drift-window");
    RANGE(c->drift_psi, 1e-9, 1e9, "--drift-threshold (psi)");
    RANGE(c->drift_ks, 1e-9, 1.0, "--drift-threshold (ks)");
    RANGE(c->explain_batch, 0, 4096, "--explain-batch");
#undef RANGE
    if (!c->host || strlen(c->host) >= 64) return dc_fail(err, DC_ERR_ARG, "--host: expected an IPv4 address");
    return DC_OK;
}

static bool is_loopback(const char *host) {
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static void server_free(serve_server *s) {
    serve_watcher_stop(s);
    serve_http_stop(s);
    serve_reap(s, true);
    serve_models_close(s);
    if (s->token) sodium_memzero(s->token, strlen(s->token));
    free(s->token);
    free(s);
}

dc_status dc_server_start(dc_server **out, const dc_serve_config *cfg, dc_error *err) {
    *out = NULL;
    dc_status st = check(cfg, err);
    if (st) return st;
    if (sodium_init() < 0) return dc_fail(err, DC_ERR_UNSUPPORTED, "libsodium failed to initialise");
    serve_server *s = calloc(1, sizeof *s);
    if (!s) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    snprintf(s->host, sizeof s->host, "%s", cfg->host);
    s->cfg.host = s->host;
    if (cfg->token) {
        if (!*cfg->token) {
            free(s);
            return dc_fail(err, DC_ERR_ARG, "--token-file: the token is empty");
        }
        if (!(s->token = strdup(cfg->token))) {
            free(s);
            return dc_fail(err, DC_ERR_NOMEM, "out of memory");
        }
    }
    s->cfg.token = NULL; // only s->token holds it
    if (!s->token && !is_loopback(s->host)) {
        if (!cfg->allow_no_token) {
            free(s);
            return dc_fail(err, DC_ERR_ARG,
                           "--host %s is reachable from other machines and no --token-file was given: anyone could "
                           "use the models; give a token, or --allow-no-token to accept that",
                           cfg->host);
        }
        serve_log(s, DC_LOG_WARN, "listening on %s without a bearer token (--allow-no-token): anyone who can reach it can use the models", s->host);
    }
    s->workers = cfg->workers > 0 ? cfg->workers : (dc_default_threads() / cfg->threads > 0 ? dc_default_threads() / cfg->threads : 1);
    s->started_at = serve_wall_seconds();
    st = serve_models_open(s, err);
    if (!st) st = serve_watcher_start(s, err);
    if (!st) st = serve_http_start(s, err);
    if (st) {
        server_free(s);
        return st;
    }
    serve_log(s, DC_LOG_INFO,
              "listening on http://%s:%d: %d model%s, %d worker%s x %d thread%s each, %d HTTP thread%s, max batch %d, "
              "max delay %d us, queue %d, token %s%s%s",
              s->host, s->port, s->n_models, s->n_models == 1 ? "" : "s", s->workers, s->workers == 1 ? "" : "s",
              cfg->threads, cfg->threads == 1 ? "" : "s", cfg->http_threads, cfg->http_threads == 1 ? "" : "s",
              cfg->max_batch, cfg->max_delay_us, cfg->queue_size, s->token ? "required" : "off",
              cfg->watch ? ", watching the model files" : "",
              cfg->inline_run ? ", lone requests run inline on the HTTP threads" : "");
    *out = (dc_server *)s;
    return DC_OK;
}

int dc_server_port(const dc_server *srv) { return ((const serve_server *)srv)->port; }

static void nap(double seconds) {
    struct timespec ts = {0, (long)(seconds * 1e9)};
    nanosleep(&ts, NULL);
}

int dc_server_stop(dc_server *srv, double drain_seconds) {
    serve_server *s = (serve_server *)srv;
    if (!s) return 0;
    atomic_store(&s->draining, true);
    serve_http_quiesce(s);
    const double deadline = dc_now_seconds() + (drain_seconds > 0 ? drain_seconds : 0);
    while (atomic_load(&s->active) > 0 && dc_now_seconds() < deadline) nap(0.002);
    int left = atomic_load(&s->active);
    // libmicrohttpd must not be stopped with a suspended connection: the
    // workers answer (or time out) every queued request, so this ends
    while (atomic_load(&s->suspended) > 0) nap(0.002);
    serve_log(s, left ? DC_LOG_WARN : DC_LOG_INFO, "stopped: %d request%s unanswered after the drain", left,
              left == 1 ? "" : "s");
    server_free(s);
    return left;
}
