// serve.h — internals of deepc serve (src/serve/*.c).
//
// Modules, one concern each:
//   request.c   pure parsing and writing: query strings, the JSON tensor and
//               image bodies of /infer and /explain, the JSON responses. No
//               server state, so tests and the fuzzer call it directly.
//   drift.c     the reference statistics (training time) and the serving
//               window with PSI / KS distances against the reference.
//   metrics.c   lock-free counters and histograms, Prometheus exposition.
//   batch.c     a model version: its request queue, workers, sessions,
//               explainers and the dynamic batching policy.
//   registry.c  the models (file or folder), versions, hot reload.
//   http.c      libmicrohttpd: routing, limits, authentication, suspend /
//               resume of queued requests, access log, drain.
//
// Threads: http_threads libmicrohttpd threads parse requests and queue them;
// each model version has `workers` threads that run batches and write the
// responses; one watcher thread reloads changed files and frees retired
// versions. What they share is either immutable after start-up (the config,
// the model table, a version's dc_model) or atomic (metrics, counters) or
// behind a named mutex (a version's queue, a drift window, a model's
// current-version pointer).
//
// Legend: R rows (samples) of a request, B rows of a batch, C/H/W the model
// input, K classes, k the top-k.
#ifndef DC_SERVE_H
#define DC_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "core/core.h"

// ---------------------------------------------------------------------------
// Requests (request.c)

// What a request may ask for, from its query string and/or JSON parameters.
typedef struct serve_query {
    int top_k;            // -1: the server's default
    int logits;           // -1 unset, 0/1: include the logits
    int probabilities;    // -1 unset, 0/1: include every class's probability
    int method;           // explain: dc_explain_method, -1: saliency
    int target;           // explain: class, -1: the predicted one
    int format;           // explain: 0 json, 1 png, -1 unset (json)
    int steps;            // explain ig: path points, -1: default (32)
    int scale;            // explain png: upscale, -1: default (8)
} serve_query;

void serve_query_init(serve_query *q);

// Parses an URL query string (the part after '?', len bytes, no NUL needed):
// key=value pairs separated by '&', %XX and '+' decoded. Known keys: top_k,
// logits, probabilities, method, target, format, steps, scale; anything else,
// a repeated key or a bad value is an error. Returns 0 or 400 with msg set.
int serve_query_parse(serve_query *q, const char *qs, size_t len, char *msg, size_t cap);

// The model a body is parsed against.
typedef struct serve_shape {
    int c, h, w;          // input shape
    int n_classes;
    float mean, std;      // the model's normalisation of [0,1] pixels
    int max_rows;         // most rows (samples) a request may carry
    long max_pixels;      // largest image body accepted (width * height)
} serve_shape;

// Output tensors a response can carry (bit mask).
enum {
    SERVE_OUT_PROBS = 1u,      // "probabilities" FP32 [R, K]
    SERVE_OUT_LOGITS = 2u,     // "logits"        FP32 [R, K]
    SERVE_OUT_TOPK_INDEX = 4u, // "top_k_index"   INT32 [R, k]
    SERVE_OUT_TOPK_LABEL = 8u, // "top_k_label"   BYTES [R, k]
    SERVE_OUT_TOPK_PROB = 16u, // "top_k_probability" FP32 [R, k]
    SERVE_OUT_TOPK = 4u | 8u | 16u,
    SERVE_OUT_DEFAULT = 1u | 4u | 8u | 16u,
};

// A parsed request body: rows normalised model inputs in a buffer that the
// caller owns and that grows as needed (kept between requests, so a reused
// request slot stops allocating once it has seen its largest body).
typedef struct serve_input {
    float *x;             // (cap / in_size, C, H, W) normalised inputs
    size_t cap;           // floats allocated in x
    int rows;             // R, filled by the parser
    unsigned outputs;     // SERVE_OUT_* mask
    char id[129];         // the request's "id" (echoed), "" when absent
    bool is_image;        // the body was an image
} serve_input;

void serve_input_free(serve_input *in);

// Parses an /infer or /explain body. content_type may be NULL. JSON bodies
// (application/json, or no type and a body starting with '{') follow the
// Open Inference Protocol: {"id", "parameters", "inputs": [{"name":
// "input", "shape": [R,C,H,W] or [C,H,W], "datatype": "FP32"|"FP64"|
// "UINT8", "data": flat or nested row-major}], "outputs": [{"name"}]}, FP
// data being normalised model inputs and UINT8 raw pixels; image bodies
// (image/png, image/x-portable-*, image/jpeg, application/octet-stream, or
// no type and not JSON) are decoded by their magic bytes; curl's default
// application/x-www-form-urlencoded counts as no type. Images are converted
// to C channels and resized to HxW.
// q receives the JSON "parameters" (top_k, logits, probabilities) on top of
// what the query string set. Returns 0, or an HTTP status (400 malformed,
// 413 too large, 415 unsupported type) with msg set.
int serve_parse_body(serve_input *in, serve_query *q, const serve_shape *sh, const char *content_type,
                     const uint8_t *body, size_t len, char *msg, size_t cap);

// The pixels (width, height) an image body declares, read from its header
// (PNG IHDR, PGM/PPM header, JPEG SOFn) before anything is decoded; false
// when the header is not one of those or is malformed.
bool serve_image_dims(const uint8_t *body, size_t len, long *w, long *h);

// The JSON error body {"error": msg} (malloc'd, NUL-terminated).
char *serve_error_json(const char *msg);

// The /infer response (malloc'd JSON): logits (R, K) of the rows, labels
// (K) class names, k the top-k.
char *serve_infer_json(const char *model, int version, const char *id, const float *logits, int rows,
                       int n_classes, const char *const *labels, int k, unsigned outputs);

// Softmax of one row (K logits) into p, in float as dc_session_predict does.
void serve_softmax(float *p, const float *z, int n_classes);

// ---------------------------------------------------------------------------
// Drift (drift.c)

#define SERVE_PIX_BINS 16
#define SERVE_MEAN_BINS 20
#define SERVE_CONF_BINS 20
#define SERVE_MAX_CH 4

// A model's reference, parsed from its "reference" record.
typedef struct serve_reference {
    bool has_input, has_eval;
    int channels, n_classes;
    double n_input, n_eval;               // samples behind each part
    double ch_mean[SERVE_MAX_CH], ch_std[SERVE_MAX_CH];
    double pix[SERVE_PIX_BINS];           // fractions
    double img_mean[SERVE_MEAN_BINS];     // fractions
    double *pred;                         // (K) fractions, owned
    double conf[SERVE_CONF_BINS];         // fractions
} serve_reference;

// Parses a "reference" record for a model of `channels` and `n_classes`.
dc_status serve_reference_parse(serve_reference *r, const char *json, int channels, int n_classes,
                                dc_error *err);
void serve_reference_free(serve_reference *r);

// Per-sample statistics, computed outside any lock.
typedef struct serve_sample_stats {
    uint32_t pix[SERVE_PIX_BINS];  // pixels per intensity bin
    double ch_sum[SERVE_MAX_CH];   // per channel: sum of pixel values in [0,1]
    double ch_sq[SERVE_MAX_CH];    //              and of their squares
    uint8_t mean_bin, conf_bin;
    int16_t pred;
} serve_sample_stats;

// x (C,H,W) normalised input, p (K) its probabilities.
void serve_sample_stats_compute(serve_sample_stats *s, const float *x, int c, int h, int w, float mean,
                                float std, const float *p, int n_classes);

// The sliding window: the last `window` samples' statistics and their sums.
typedef struct serve_drift {
    pthread_mutex_t lock;
    serve_reference ref;
    bool available;            // the model has a usable reference
    char why[256];             // when not: why
    int window, n_classes, channels;
    double hw;                 // pixels per channel
    double psi_threshold, ks_threshold;
    serve_sample_stats *ring;  // (window), owned
    long count;                // samples seen (all time)
    int fill, head;
    double pix[SERVE_PIX_BINS], img_mean[SERVE_MEAN_BINS], conf[SERVE_CONF_BINS];
    double ch_sum[SERVE_MAX_CH], ch_sq[SERVE_MAX_CH];
    double *pred;              // (K) counts
    bool alarm;                // last evaluated state
    long alarms;               // times the alarm went up
} serve_drift;

// The statistics of the current window against the reference.
typedef struct serve_drift_report {
    bool available, full, alarm;
    int window, fill;
    long count, alarms;
    double psi_pixel, psi_image_mean, ks_image_mean;
    double psi_prediction, tvd_prediction;
    double psi_confidence, ks_confidence;
    double ch_mean[SERVE_MAX_CH], ch_std[SERVE_MAX_CH], ch_shift[SERVE_MAX_CH]; // shift in reference stds
    double psi_noise, ks_noise; // the statistics' typical values with no drift at this window
} serve_drift_report;

// ref_json may be NULL (drift unavailable, with the reason in why).
dc_status serve_drift_init(serve_drift *d, const char *ref_json, int window, double psi, double ks, int channels,
                           int hw, int n_classes, dc_error *err);
void serve_drift_free(serve_drift *d);
// Adds n samples; returns +1 when the alarm went up, -1 when it went down, 0 otherwise.
int serve_drift_add(serve_drift *d, const serve_sample_stats *s, int n, serve_drift_report *rep);
void serve_drift_report_get(serve_drift *d, serve_drift_report *rep);
// The /drift response (malloc'd JSON) of the window as it is now.
char *serve_drift_json(serve_drift *d, const char *model, int version);

// Population stability index sum (p_i - q_i) ln(p_i / q_i) of two
// histograms of counts over k bins, each smoothed by half a count per bin
// (so an empty bin is finite): p from a (n_a samples), q from b (n_b).
double serve_psi(const double *a, double n_a, const double *b, double n_b, int k);
// Kolmogorov-Smirnov distance of two binned distributions (counts): the
// largest gap between their cumulative sums at the bin edges.
double serve_ks(const double *a, double n_a, const double *b, double n_b, int k);

// ---------------------------------------------------------------------------
// Metrics (metrics.c)

#define SERVE_LAT_BUCKETS 14   // 50 us .. 1 s
#define SERVE_BATCH_BUCKETS 10 // 1 .. 512
extern const double serve_lat_bounds[SERVE_LAT_BUCKETS];
extern const double serve_batch_bounds[SERVE_BATCH_BUCKETS];

typedef struct serve_hist {
    _Atomic uint64_t bucket[SERVE_LAT_BUCKETS + 1]; // the last is +Inf; non-cumulative here
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;  // sum of observations x 1e9 (seconds) or x 1 (counts)
} serve_hist;

// The status codes counted, and the endpoints.
#define SERVE_N_CODES 14
extern const int serve_codes[SERVE_N_CODES];
int serve_code_index(int code);
typedef enum {
    SERVE_EP_INFER, SERVE_EP_EXPLAIN, SERVE_EP_MODEL, SERVE_EP_READY, SERVE_EP_DRIFT, SERVE_EP_HEALTH,
    SERVE_EP_METRICS, SERVE_EP_SERVER, SERVE_EP_OTHER, SERVE_N_EP
} serve_endpoint;
extern const char *const serve_ep_names[SERVE_N_EP];

typedef struct serve_model_metrics {
    _Atomic uint64_t requests[SERVE_N_EP][SERVE_N_CODES];
    serve_hist latency[2];   // infer, explain (seconds)
    serve_hist queue_wait;   // seconds
    serve_hist batch_size;   // samples
    _Atomic uint64_t samples;
    _Atomic uint64_t inline_runs; // --inline: requests run on an HTTP thread
    _Atomic uint64_t reloads_ok, reloads_failed;
    _Atomic int queued;      // requests waiting now
} serve_model_metrics;

void serve_hist_observe_seconds(serve_hist *h, double seconds);
void serve_hist_observe_count(serve_hist *h, double v, const double *bounds, int nb);

// A growable text buffer for the exposition.
typedef struct serve_text {
    char *s;
    size_t len, cap;
    bool oom;
} serve_text;
void serve_text_printf(serve_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void serve_text_free(serve_text *t);
// Writes a Prometheus label value escaped (\\, \", \n).
void serve_text_label(serve_text *t, const char *v);
void serve_hist_write(serve_text *t, const char *name, const char *labels, const serve_hist *h,
                      const double *bounds, int nb, bool seconds);

// ---------------------------------------------------------------------------
// Model versions and batching (batch.c)

typedef struct serve_server serve_server;
typedef struct serve_model serve_model;
typedef struct serve_version serve_version;

typedef enum { SERVE_JOB_INFER, SERVE_JOB_EXPLAIN } serve_job_kind;

// One queued request. Lives in the HTTP request context; the worker writes
// the result fields and then calls done(done_user).
typedef struct serve_job {
    serve_job_kind kind;
    const serve_input *in;     // rows of normalised inputs
    serve_query q;
    double t_queued;           // seconds (monotonic)
    // results
    int status;                // HTTP status
    char *body;                // malloc'd response body
    size_t body_len;
    const char *content_type;
    int batch;                 // samples in the batch this job ran in
    double t_started, t_done;
    void (*done)(void *user);
    void *done_user;
    struct serve_job *next;
} serve_job;

typedef struct serve_worker {
    serve_version *v;
    pthread_t thread;
    bool started;
    dc_session *session;
    dc_explainer *explainer;   // NULL when explanations are off
    float *logits;             // (max_batch, K) copy of a batch's logits
    serve_sample_stats *stats; // (max_batch)
    serve_job **jobs;          // (max_batch) the batch being run
    _Atomic bool busy;         // inline runners: taken by an HTTP thread
} serve_worker;

struct serve_version {
    serve_model *model;
    dc_model *m;               // owned, immutable while serving
    int version;               // 1, 2, ... per model
    double load_seconds;       // load + plan + warm-up
    double loaded_at;          // wall clock (seconds since the epoch)
    int c, h, w, n_classes;
    size_t in_size;
    float mean, std;
    const char **labels;       // (K) class names (the model's strings)
    serve_drift drift;
    // the queue (lock protects it and `stop`)
    pthread_mutex_t lock;
    pthread_cond_t cv;
    serve_job *head, *tail;
    int queued, queued_rows;
    bool stop;
    int running;               // workers running a batch (under lock)
    int n_workers;
    serve_worker *workers;     // (n_workers)
    int n_inline;              // --inline: one runner per HTTP thread (no thread
    serve_worker *inline_w;    // of its own; its session is used by whichever
                               // HTTP thread takes it), else 0 and NULL
    _Atomic int refs;          // current-ness + requests holding it
    bool retired;
};

// Loads and plans a version of a model (sessions, explainers, drift),
// warms every session and starts its workers.
dc_status serve_version_new(serve_version **v, serve_model *model, int version, dc_error *err);
// Stops the workers (after the queue drained) and frees. refs must be 0.
void serve_version_free(serve_version *v);
// Queues a job; returns 0, or 503 when the queue is full (msg set).
int serve_version_submit(serve_version *v, serve_job *job, char *msg, size_t cap);
// --inline: runs a one-row infer job on the calling (HTTP) thread when the
// queue is empty, no worker is running a batch and an inline runner is free;
// returns true when it ran (the job's result fields are set and job->done
// is NOT called), false when the job should be queued instead.
bool serve_version_try_inline(serve_version *v, serve_job *job);

// ---------------------------------------------------------------------------
// Models (registry.c)

struct serve_model {
    serve_server *srv;
    char name[128];
    char path[4096];
    pthread_mutex_t lock;      // guards current and the reload fields
    serve_version *current;
    serve_version *retired[8]; // old versions waiting for their last request
    int n_retired;
    int next_version;
    // the file as last loaded (or last refused)
    long long f_mtime_ns, f_size, f_ino;
    char last_error[512];      // "" when the last reload worked
    double last_error_at;
    serve_model_metrics metrics;
};

// Takes a reference on the current version (never NULL while serving).
serve_version *serve_model_acquire(serve_model *m);
void serve_version_release(serve_version *v);

// ---------------------------------------------------------------------------
// The server (http.c, registry.c)

struct serve_server {
    dc_serve_config cfg;       // strings below are the server's own copies
    char host[64];
    char *token;
    int workers;               // resolved
    int n_models;
    serve_model *models;       // (n_models)
    void *daemon;              // struct MHD_Daemon *
    int port;
    atomic_bool draining;
    _Atomic int arriving;      // POSTs with their headers in, not yet queued or answered
    _Atomic int active;        // requests begun and not yet completed
    _Atomic int inflight;      // requests being served (gauge)
    _Atomic int suspended;     // connections waiting for a worker's answer
    _Atomic uint64_t unmodelled[SERVE_N_EP][SERVE_N_CODES]; // requests naming no model
    double started_at;
    pthread_t watcher;
    bool watcher_started;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cv;
    bool watch_stop;
    pthread_mutex_t pool_lock; // free request contexts
    void *pool;
};

void serve_log(const serve_server *s, dc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
serve_model *serve_find_model(serve_server *s, const char *name, size_t len);
// Loads the models (registry.c): cfg.model_path is a file or folder.
dc_status serve_models_open(serve_server *s, dc_error *err);
void serve_models_close(serve_server *s);
dc_status serve_watcher_start(serve_server *s, dc_error *err);
void serve_watcher_stop(serve_server *s);
// Frees retired versions whose last request ended.
void serve_reap(serve_server *s, bool all);
// The Prometheus exposition (malloc'd text).
char *serve_metrics_text(serve_server *s, size_t *len);

double serve_wall_seconds(void);
// Copies src into dst (cap bytes), cut to fit, always NUL-terminated.
void serve_strlcpy(char *dst, size_t cap, const char *src);

#endif
