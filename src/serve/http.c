// http.c — the HTTP side of deepc serve, on libmicrohttpd.
//
// libmicrohttpd runs http_threads threads, each an epoll loop over its
// connections (so a slow client costs a socket, not a thread). Per request:
//   1. the URI callback takes a request context from a free list (contexts
//      and their buffers are reused, so a steady load stops allocating) and
//      notes the time and the raw query string;
//   2. the access handler routes the path, checks the method, the bearer
//      token and the declared Content-Length, collects the body up to
//      max_body, parses it (request.c) and queues a job for the model's
//      workers, suspending the connection (with --inline, a lone one-row
//      request is run right here instead: batch.c);
//   3. the worker writes the response body and resumes the connection; the
//      handler is called again and queues the response;
//   4. the completion callback counts the request in the metrics, writes the
//      access-log line and returns the context to the free list.
// Every answer is JSON ({"error": "..."} for errors) except /metrics (text)
// and PNG heatmaps. Malformed requests are 4xx; 503 means the server is
// full, draining or a request timed out in the queue. Errors that
// libmicrohttpd detects before our handler runs (a malformed request line,
// headers beyond max_header, broken chunked encoding) get its own short
// HTML answers or a closed connection.
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "serve/serve.h"
#include "serve/http.h"

typedef enum { RQ_NEW, RQ_BODY, RQ_QUEUED, RQ_DONE, RQ_ANSWERED } rq_state;

typedef struct serve_rq {
    struct serve_rq *next_free;
    serve_server *srv;
    struct MHD_Connection *conn;
    _Atomic int state;
    double t_begin, t_answer;
    char path[256];           // for the access log (truncated)
    char query[1024];
    bool query_too_long;
    bool arriving;            // still counted in srv->arriving
    serve_endpoint ep;
    serve_model *model;
    serve_version *ver;       // held from routing to completion
    int status;
    size_t bytes_in, bytes_out;
    uint8_t *body;            // (cap) the request body, kept between uses
    size_t len, cap;
    bool too_large;
    serve_input in;           // kept between uses
    serve_job job;
    char error[256];          // the error message answered, for the log
} serve_rq;

// ---------------------------------------------------------------------------
// Request contexts

static serve_rq *rq_get(serve_server *s) {
    pthread_mutex_lock(&s->pool_lock);
    serve_rq *r = s->pool;
    if (r) s->pool = r->next_free;
    pthread_mutex_unlock(&s->pool_lock);
    if (!r && !(r = calloc(1, sizeof *r))) return NULL;
    // keep the buffers, reset the rest
    uint8_t *body = r->body;
    size_t cap = r->cap;
    serve_input in = r->in;
    memset(r, 0, sizeof *r);
    r->body = body;
    r->cap = cap;
    r->in.x = in.x;
    r->in.cap = in.cap;
    r->srv = s;
    return r;
}

static void rq_put(serve_server *s, serve_rq *r) {
    // a huge body is not worth keeping
    if (r->cap > ((size_t)1 << 20)) {
        free(r->body);
        r->body = NULL;
        r->cap = 0;
    }
    if (r->in.cap > ((size_t)1 << 20)) serve_input_free(&r->in);
    pthread_mutex_lock(&s->pool_lock);
    r->next_free = s->pool;
    s->pool = r;
    pthread_mutex_unlock(&s->pool_lock);
}

static void serve_pool_free(serve_server *s) {
    serve_rq *r = s->pool;
    while (r) {
        serve_rq *n = r->next_free;
        free(r->body);
        serve_input_free(&r->in);
        free(r);
        r = n;
    }
    s->pool = NULL;
}

// ---------------------------------------------------------------------------
// Answers

static enum MHD_Result answer_raw(serve_rq *r, int status, void *body, size_t len, const char *ctype,
                                  bool retry_after) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (retry_after) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (atomic_load(&r->srv->draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->bytes_out = len;
    r->t_answer = dc_now_seconds();
    atomic_store(&r->state, RQ_ANSWERED);
    return ok;
}

static enum MHD_Result answer_json(serve_rq *r, int status, char *json) {
    if (!json) return MHD_NO;
    return answer_raw(r, status, json, strlen(json), "application/json", status == 503);
}

static enum MHD_Result answer_cjson(serve_rq *r, int status, cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return answer_json(r, status, s);
}

static enum MHD_Result answer_error(serve_rq *r, int status, const char *msg) {
    serve_strlcpy(r->error, sizeof r->error, msg);
    return answer_json(r, status, serve_error_json(msg));
}

static enum MHD_Result answer_allow(serve_rq *r, const char *allow) {
    char msg[96];
    snprintf(msg, sizeof msg, "method not allowed here (allowed: %s)", allow);
    serve_strlcpy(r->error, sizeof r->error, msg);
    char *s = serve_error_json(msg);
    if (!s) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(r->conn, 405, resp);
    MHD_destroy_response(resp);
    r->status = 405;
    r->t_answer = dc_now_seconds();
    atomic_store(&r->state, RQ_ANSWERED);
    return ok;
}

// ---------------------------------------------------------------------------
// Endpoints that answer at once

static cJSON *model_metadata(const serve_version *v) {
    const serve_server *s = v->model->srv;
    cJSON *o = cJSON_CreateObject();
    char ver[16];
    snprintf(ver, sizeof ver, "%d", v->version);
    cJSON_AddStringToObject(o, "name", v->model->name);
    cJSON *vs = cJSON_AddArrayToObject(o, "versions");
    cJSON_AddItemToArray(vs, cJSON_CreateString(ver));
    cJSON_AddStringToObject(o, "platform", "deepc");
    cJSON *ins = cJSON_AddArrayToObject(o, "inputs");
    cJSON *in = cJSON_CreateObject();
    cJSON_AddItemToArray(ins, in);
    cJSON_AddStringToObject(in, "name", "input");
    cJSON_AddStringToObject(in, "datatype", "FP32");
    cJSON *sh = cJSON_AddArrayToObject(in, "shape");
    int dims[4] = {-1, v->c, v->h, v->w};
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(dims[i]));
    cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
    const struct { const char *name, *dt; int cols; } od[] = {
        {"probabilities", "FP32", v->n_classes}, {"logits", "FP32", v->n_classes}, {"top_k_index", "INT32", -1},
        {"top_k_label", "BYTES", -1},            {"top_k_probability", "FP32", -1},
    };
    for (int i = 0; i < 5; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddItemToArray(outs, t);
        cJSON_AddStringToObject(t, "name", od[i].name);
        cJSON_AddStringToObject(t, "datatype", od[i].dt);
        cJSON *ts = cJSON_AddArrayToObject(t, "shape");
        cJSON_AddItemToArray(ts, cJSON_CreateNumber(-1));
        cJSON_AddItemToArray(ts, cJSON_CreateNumber(od[i].cols));
    }
    cJSON *p = cJSON_AddObjectToObject(o, "parameters");
    cJSON_AddItemToObject(p, "classes", cJSON_CreateStringArray(v->labels, v->n_classes));
    cJSON *nm = cJSON_AddObjectToObject(p, "normalisation");
    cJSON_AddNumberToObject(nm, "mean", v->mean);
    cJSON_AddNumberToObject(nm, "std", v->std);
    cJSON_AddNumberToObject(p, "max_batch", s->cfg.max_batch);
    cJSON_AddNumberToObject(p, "default_top_k", s->cfg.top_k);
    cJSON_AddBoolToObject(p, "drift_available", v->drift.available);
    cJSON_AddBoolToObject(p, "explain", s->cfg.explain_batch > 0);
    cJSON_AddNumberToObject(p, "loaded_at", v->loaded_at);
    cJSON_AddNumberToObject(p, "load_seconds", v->load_seconds);
    return o;
}

// ---------------------------------------------------------------------------
// Routing

typedef struct route {
    serve_endpoint ep;
    const char *method;      // "GET" or "POST"
    serve_model *model;      // NULL for server endpoints
    int version;             // /versions/N/: N; 0: none given
    bool found;
    char msg[200];
} route;

static bool eat(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n)) return false;
    *p += n;
    return true;
}

static void route_path(serve_server *s, const char *url, route *rt) {
    memset(rt, 0, sizeof *rt);
    rt->ep = SERVE_EP_OTHER;
    const char *p = url;
    if (!strcmp(p, "/metrics")) {
        rt->ep = SERVE_EP_METRICS, rt->method = "GET", rt->found = true;
        return;
    }
    if (!strcmp(p, "/v2") || !strcmp(p, "/v2/")) {
        rt->ep = SERVE_EP_SERVER, rt->method = "GET", rt->found = true;
        return;
    }
    if (!strcmp(p, "/v2/health/live") || !strcmp(p, "/v2/health/ready")) {
        rt->ep = SERVE_EP_HEALTH, rt->method = "GET", rt->found = true;
        return;
    }
    if (!eat(&p, "/v2/models/")) {
        snprintf(rt->msg, sizeof rt->msg, "no such endpoint (see /v2, /v2/health/ready, /v2/models/NAME, /metrics)");
        return;
    }
    const char *name = p;
    while (*p && *p != '/') p++;
    rt->model = serve_find_model(s, name, (size_t)(p - name));
    if (!rt->model) {
        snprintf(rt->msg, sizeof rt->msg, "unknown model '%.*s'", (int)((p - name) > 64 ? 64 : (p - name)), name);
        return;
    }
    if (eat(&p, "/versions/")) {
        long v = 0;
        while (*p >= '0' && *p <= '9' && v < 1000000000L) v = v * 10 + (*p++ - '0');
        if (v < 1 || (*p && *p != '/')) {
            snprintf(rt->msg, sizeof rt->msg, "bad version in the path (expected /versions/N)");
            return;
        }
        rt->version = (int)v;
    }
    if (!*p || !strcmp(p, "/")) rt->ep = SERVE_EP_MODEL, rt->method = "GET";
    else if (!strcmp(p, "/ready")) rt->ep = SERVE_EP_READY, rt->method = "GET";
    else if (!strcmp(p, "/infer")) rt->ep = SERVE_EP_INFER, rt->method = "POST";
    else if (!strcmp(p, "/explain")) rt->ep = SERVE_EP_EXPLAIN, rt->method = "POST";
    else if (!strcmp(p, "/drift")) rt->ep = SERVE_EP_DRIFT, rt->method = "GET";
    else {
        snprintf(rt->msg, sizeof rt->msg, "no such endpoint for model %s (ready, infer, explain, drift)", rt->model->name);
        return;
    }
    rt->found = true;
}

// Bearer token check in constant time: both sides hashed (BLAKE2b-256), the
// hashes compared with sodium_memcmp, so neither the token's length nor
// where it differs shows in the time taken.
static bool token_ok(serve_server *s, struct MHD_Connection *c) {
    if (!s->token) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)h, strlen(h), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)s->token, strlen(s->token), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

static void job_done(void *user) {
    serve_rq *r = user;
    serve_server *s = r->srv;
    atomic_store(&r->state, RQ_DONE);
    MHD_resume_connection(r->conn);
    atomic_fetch_sub(&s->suspended, 1);
}

static void not_arriving(serve_rq *r) {
    if (r->arriving) {
        r->arriving = false;
        atomic_fetch_sub(&r->srv->arriving, 1);
    }
}

// Queues the answer a worker (or an inline run) wrote into the request's job.
static enum MHD_Result answer_job(serve_rq *r) {
    serve_job *job = &r->job;
    void *body = job->body;
    job->body = NULL;
    if (job->status != 200 && !r->error[0]) snprintf(r->error, sizeof r->error, "%.*s", 200, body ? (char *)body : "");
    if (!body) return answer_error(r, 503, "out of memory");
    return answer_raw(r, job->status, body, job->body_len, job->content_type, job->status == 503);
}

static enum MHD_Result start_job(serve_rq *r, const char *ctype) {
    serve_server *s = r->srv;
    serve_version *v = r->ver;
    serve_query q;
    serve_query_init(&q);
    char msg[512];
    int st = 0;
    if (r->query_too_long) st = 414, snprintf(msg, sizeof msg, "query string too long");
    if (!st) st = serve_query_parse(&q, r->query, strlen(r->query), msg, sizeof msg);
    const serve_shape sh = {v->c, v->h, v->w, v->n_classes, v->mean, v->std,
                            r->ep == SERVE_EP_EXPLAIN ? 1 : s->cfg.max_batch, s->cfg.max_image_pixels};
    if (!st) st = serve_parse_body(&r->in, &q, &sh, ctype, r->body, r->len, msg, sizeof msg);
    if (!st && r->ep == SERVE_EP_EXPLAIN) {
        if (s->cfg.explain_batch <= 0) st = 404, snprintf(msg, sizeof msg, "explanations are off on this server (--explain-batch 0)");
        else if (q.target >= v->n_classes)
            st = 400, snprintf(msg, sizeof msg, "query: target=%d, the model has classes 0..%d", q.target, v->n_classes - 1);
    }
    not_arriving(r);
    if (st) return answer_error(r, st, msg);
    serve_job *job = &r->job;
    memset(job, 0, sizeof *job);
    job->kind = r->ep == SERVE_EP_EXPLAIN ? SERVE_JOB_EXPLAIN : SERVE_JOB_INFER;
    job->in = &r->in;
    job->q = q;
    if (serve_version_try_inline(v, job)) { // --inline: run here, answer now
        atomic_store(&r->state, RQ_DONE);
        return answer_job(r);
    }
    job->done = job_done;
    job->done_user = r;
    atomic_store(&r->state, RQ_QUEUED);
    atomic_fetch_add(&s->suspended, 1);
    MHD_suspend_connection(r->conn);
    st = serve_version_submit(v, job, msg, sizeof msg);
    if (st) { // full: answer when resumed
        serve_strlcpy(r->error, sizeof r->error, msg);
        job->status = st;
        job->body = serve_error_json(msg);
        job->body_len = job->body ? strlen(job->body) : 0;
        job->content_type = "application/json";
        job_done(r);
    }
    return MHD_YES;
}

static enum MHD_Result answer_now(serve_rq *r) {
    serve_server *s = r->srv;
    if (r->ep == SERVE_EP_METRICS) {
        size_t len = 0;
        char *t = serve_metrics_text(s, &len);
        if (!t) return answer_error(r, 503, "out of memory writing the metrics");
        return answer_raw(r, 200, t, len, "text/plain; version=0.0.4; charset=utf-8", false);
    }
    if (r->ep == SERVE_EP_SERVER) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", "deepc");
        cJSON_AddStringToObject(o, "version", "1");
        const char *ext[] = {"health", "metrics", "drift", "explain"};
        cJSON_AddItemToObject(o, "extensions", cJSON_CreateStringArray(ext, 4));
        cJSON *ms = cJSON_AddArrayToObject(o, "models");
        for (int i = 0; i < s->n_models; i++) cJSON_AddItemToArray(ms, cJSON_CreateString(s->models[i].name));
        return answer_cjson(r, 200, o);
    }
    if (r->ep == SERVE_EP_HEALTH) {
        bool live = strstr(r->path, "/live") != NULL;
        bool up = live || !atomic_load(&s->draining);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, live ? "live" : "ready", up);
        return answer_cjson(r, up ? 200 : 503, o);
    }
    serve_version *v = r->ver;
    if (r->ep == SERVE_EP_MODEL) return answer_cjson(r, 200, model_metadata(v));
    if (r->ep == SERVE_EP_READY) {
        bool up = !atomic_load(&s->draining);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->model->name);
        cJSON_AddBoolToObject(o, "ready", up);
        return answer_cjson(r, up ? 200 : 503, o);
    }
    if (r->ep == SERVE_EP_DRIFT) return answer_json(r, 200, serve_drift_json(&v->drift, v->model->name, v->version));
    return answer_error(r, 404, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    serve_server *s = cls;
    serve_rq *r = *con_cls;
    if (!r) return MHD_NO; // the URI callback could not allocate: drop the connection
    r->conn = c;
    int state = atomic_load(&r->state);
    if (state == RQ_DONE) return answer_job(r); // resumed: the worker has written the answer
    if (state == RQ_ANSWERED || state == RQ_QUEUED) { // the rest of a body we refused, or a spurious call
        *upload_size = 0;
        return MHD_YES;
    }
    if (state == RQ_NEW) {
        atomic_store(&r->state, RQ_BODY);
        route rt;
        route_path(s, url, &rt);
        r->ep = rt.ep;
        r->model = rt.model;
        if (atomic_load(&s->draining)) return answer_error(r, 503, "the server is shutting down");
        if (!rt.found) return answer_error(r, 404, rt.msg);
        bool head = !strcmp(method, "HEAD") && !strcmp(rt.method, "GET");
        if (strcmp(method, rt.method) && !head) return answer_allow(r, !strcmp(rt.method, "GET") ? "GET, HEAD" : "POST");
        if (rt.ep != SERVE_EP_HEALTH && !token_ok(s, c)) return answer_error(r, 401, "missing or wrong bearer token");
        if (rt.model) {
            r->ver = serve_model_acquire(rt.model);
            if (rt.version && rt.version != r->ver->version) {
                char msg[256];
                snprintf(msg, sizeof msg, "model %s: version %d is not served (version %d is)", rt.model->name,
                         rt.version, r->ver->version);
                return answer_error(r, 404, msg);
            }
        }
        if (strcmp(rt.method, "POST")) return answer_now(r);
        // from here until it is queued, this request is one a forming batch
        // may wait for (its headers are in, its body is coming); requests
        // still sending their headers never count, so a slow client cannot
        // make batches wait
        r->arriving = true;
        atomic_fetch_add(&s->arriving, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > s->cfg.max_body) {
                char msg[128];
                snprintf(msg, sizeof msg, "request body over the limit of %zu bytes (--max-body)", s->cfg.max_body);
                return answer_error(r, 413, msg);
            }
        }
        return MHD_YES;
    }
    // RQ_BODY
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        r->bytes_in += n;
        if (r->len + n > s->cfg.max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "request body over the limit of %zu bytes (--max-body)", s->cfg.max_body);
            return answer_error(r, 413, msg);
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n) cap *= 2;
            if (cap > s->cfg.max_body) cap = s->cfg.max_body;
            uint8_t *b = realloc(r->body, cap);
            if (!b) return answer_error(r, 503, "out of memory for the request body");
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    return start_job(r, ctype);
}

// The first callback of a request, with the raw URI: the context is made here.
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    serve_server *s = cls;
    serve_rq *r = rq_get(s);
    if (!r) return NULL;
    r->conn = c;
    r->t_begin = dc_now_seconds();
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    snprintf(r->path, sizeof r->path, "%.*s", (int)(plen < sizeof r->path ? plen : sizeof r->path - 1), uri);
    if (q) {
        size_t ql = strlen(q + 1);
        if (ql >= sizeof r->query) r->query_too_long = true;
        else memcpy(r->query, q + 1, ql + 1);
    }
    atomic_fetch_add(&s->active, 1);
    atomic_fetch_add(&s->inflight, 1);
    return r;
}

static void access_line(serve_server *s, serve_rq *r, struct MHD_Connection *c, enum MHD_RequestTerminationCode toe) {
    char ip[INET6_ADDRSTRLEN] = "?";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "remote", ip);
    cJSON_AddStringToObject(o, "path", r->path);
    cJSON_AddStringToObject(o, "endpoint", serve_ep_names[r->ep]);
    if (r->model) cJSON_AddStringToObject(o, "model", r->model->name);
    else cJSON_AddNullToObject(o, "model");
    if (r->ver) cJSON_AddNumberToObject(o, "model_version", r->ver->version);
    if (r->status) cJSON_AddNumberToObject(o, "status", r->status);
    else cJSON_AddNullToObject(o, "status");
    cJSON_AddNumberToObject(o, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)r->bytes_out);
    double end = r->t_answer > 0 ? r->t_answer : dc_now_seconds();
    cJSON_AddNumberToObject(o, "duration_us", (double)llround((end - r->t_begin) * 1e6));
    if (r->job.t_started > 0) {
        cJSON_AddNumberToObject(o, "queue_us", (double)llround((r->job.t_started - r->job.t_queued) * 1e6));
        cJSON_AddNumberToObject(o, "batch", r->job.batch);
        cJSON_AddNumberToObject(o, "rows", r->in.rows);
    }
    if (r->error[0]) cJSON_AddStringToObject(o, "error", r->error);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        static const char *const why[] = {"ok", "error", "timeout", "shutdown", "read_error", "client_abort"};
        cJSON_AddStringToObject(o, "terminated", (unsigned)toe < 6 ? why[toe] : "other");
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line) s->cfg.access_log(s->cfg.access_log_user, DC_LOG_INFO, line);
    free(line);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    serve_server *s = cls;
    serve_rq *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    not_arriving(r);
    if (r->status) {
        int ci = serve_code_index(r->status);
        _Atomic uint64_t *ctr = r->model ? &r->model->metrics.requests[r->ep][ci] : &s->unmodelled[r->ep][ci];
        atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        if (r->model && (r->ep == SERVE_EP_INFER || r->ep == SERVE_EP_EXPLAIN))
            serve_hist_observe_seconds(&r->model->metrics.latency[r->ep == SERVE_EP_EXPLAIN],
                                       r->t_answer - r->t_begin);
    }
    if (s->cfg.access_log) access_line(s, r, c, toe);
    if (r->ver) serve_version_release(r->ver);
    free(r->job.body); // an answer never sent (the client went away)
    r->job.body = NULL;
    atomic_fetch_sub(&s->inflight, 1);
    rq_put(s, r);
    atomic_fetch_sub(&s->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    serve_server *s = cls;
    if (!s->cfg.log) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    char full[600];
    snprintf(full, sizeof full, "http: %s", line);
    s->cfg.log(s->cfg.log_user, DC_LOG_WARN, full);
}

// ---------------------------------------------------------------------------
// Start and stop

dc_status serve_http_start(serve_server *s, dc_error *err) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->cfg.port);
    if (inet_pton(AF_INET, s->host, &sa.sin_addr) != 1)
        return dc_fail(err, DC_ERR_ARG, "--host '%s': expected an IPv4 address such as 127.0.0.1", s->host);
    if (pthread_mutex_init(&s->pool_lock, NULL)) return dc_fail(err, DC_ERR_NOMEM, "cannot create a mutex");
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    // the logger first, so that libmicrohttpd never prints on its own; the
    // pool size only when there is a pool (it warns about 1 otherwise)
    const unsigned pool = s->cfg.http_threads > 1 ? (unsigned)s->cfg.http_threads : 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->cfg.max_header,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,
        MHD_OPTION_END);
    if (!d) {
        pthread_mutex_destroy(&s->pool_lock);
        return dc_fail(err, DC_ERR_IO, "cannot listen on %s:%d (in use, or not an address of this machine?)", s->host,
                       s->cfg.port);
    }
    s->daemon = d;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    return DC_OK;
}

void serve_http_quiesce(serve_server *s) {
    // stop accepting; connections already open are answered 503 + close
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
}

void serve_http_stop(serve_server *s) {
    if (!s->daemon) return;
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    serve_pool_free(s);
    pthread_mutex_destroy(&s->pool_lock);
}
