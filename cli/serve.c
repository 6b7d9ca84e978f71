// serve.c — `deepc serve MODEL|FOLDER`: the HTTP inference server.
//
// The library does the serving (dc_server); this verb turns options into a
// dc_serve_config, reads the token file, prints the server's log lines to
// stderr and its access log to a file, and waits for SIGTERM or SIGINT,
// which drain the requests in flight before exiting 0. The signals are
// blocked in every thread and taken with sigwait() here, so no handler and
// no global flag are needed.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

typedef struct log_sink {
    FILE *f;
    bool quiet;   // leave out INFO lines
    bool stamp;   // prefix the time
} log_sink;

static void on_log(void *user, dc_log_level level, const char *line) {
    log_sink *s = user;
    if (s->quiet && level == DC_LOG_INFO) return;
    char when[32] = "";
    if (s->stamp) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    }
    const char *lv = level == DC_LOG_ERROR ? "error: " : level == DC_LOG_WARN ? "warning: " : "";
    flockfile(s->f);
    fprintf(s->f, "%sdeepc serve: %s%s\n", when, lv, line);
    fflush(s->f);
    funlockfile(s->f);
}

static void on_access(void *user, dc_log_level level, const char *line) {
    (void)level;
    FILE *f = user;
    flockfile(f);
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

// The token: the file's first line without trailing spaces, 8 to 4096 bytes.
static bool read_token(const char *path, char *tok, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "deepc serve: --token-file %s: %s\n", path, strerror(errno));
        return false;
    }
    size_t n = fread(tok, 1, cap - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    tok[n] = 0;
    char *nl = strpbrk(tok, "\r\n");
    if (nl) *nl = 0;
    else if (more) {
        fprintf(stderr, "deepc serve: --token-file %s: the token is longer than %zu bytes\n", path, cap - 2);
        return false;
    }
    n = strlen(tok);
    while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t')) tok[--n] = 0;
    if (n < 8) {
        fprintf(stderr, "deepc serve: --token-file %s: the token (its first line) must be at least 8 characters\n", path);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e) {
            fprintf(stderr, "deepc serve: --token-file %s: the token must be printable ASCII without spaces\n", path);
            return false;
        }
    return true;
}

// "0.2" (PSI only), or "psi=0.2,ks=0.1" in any order.
static bool parse_threshold(const char *v, double *psi, double *ks) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    char *end;
    double x = strtod(buf, &end);
    if (end != buf && !*end) {
        *psi = x;
        return x > 0;
    }
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double *dst = !strncmp(tok, "psi=", 4) ? psi : !strncmp(tok, "ks=", 3) ? ks : NULL;
        if (!dst) return false;
        const char *num = strchr(tok, '=') + 1;
        x = strtod(num, &end);
        if (end == num || *end || !(x > 0)) return false;
        *dst = x;
    }
    return true;
}

int cmd_serve(int argc, char **argv) {
    dc_serve_config cfg = dc_serve_config_default();
    const char *host = cfg.host, *token_file = NULL, *access = NULL, *threshold = NULL;
    int max_body = (int)cfg.max_body, max_header = (int)cfg.max_header, max_px = (int)cfg.max_image_pixels;
    float drain = 10.0f;
    bool quiet = false, watch = false, allow_no_token = false;
    dc_opt opts[] = {
        {"host", OPT_STR, &host, "IPv4 address to listen on [127.0.0.1; others need --token-file]"},
        {"port", OPT_INT, &cfg.port, "TCP port, 0 for any free one [8080]"},
        {"workers", OPT_INT, &cfg.workers, "inference workers per model, one session each (0: cores / threads) [0]"},
        {"threads", OPT_INT, &cfg.threads, "threads of each worker's session [1]"},
        {"http-threads", OPT_INT, &cfg.http_threads, "HTTP threads (epoll loops) [1]"},
        {"max-batch", OPT_INT, &cfg.max_batch, "most samples run together [32]"},
        {"max-delay-us", OPT_INT, &cfg.max_delay_us, "longest wait for a batch to fill while requests arrive [500]"},
        {"inline", OPT_FLAG, &cfg.inline_run, "run a lone one-row request on the HTTP thread (no hand-off to a worker)"},
        {"queue-size", OPT_INT, &cfg.queue_size, "requests queued per model before 503 + Retry-After [1024]"},
        {"max-body", OPT_INT, &max_body, "request body limit in bytes [4194304]"},
        {"max-header", OPT_INT, &max_header, "header memory per connection in bytes [16384]"},
        {"max-connections", OPT_INT, &cfg.max_connections, "open connections at most [1024]"},
        {"max-connections-per-ip", OPT_INT, &cfg.max_connections_per_ip, "per client address, 0: no limit [0]"},
        {"idle-timeout", OPT_INT, &cfg.idle_timeout_s, "seconds before an idle or stalled connection is closed [10]"},
        {"request-timeout-ms", OPT_INT, &cfg.request_timeout_ms, "a request still queued after this gets 503 [10000]"},
        {"max-image-pixels", OPT_INT, &max_px, "largest image body (width x height) [4194304]"},
        {"top-k", OPT_INT, &cfg.top_k, "default k of the top-k outputs [5]"},
        {"token-file", OPT_STR, &token_file, "require 'Authorization: Bearer TOKEN' (the file's first line)"},
        {"allow-no-token", OPT_FLAG, &allow_no_token, "allow a non-loopback --host without a token (warns)"},
        {"watch", OPT_FLAG, &watch, "reload a model whose file changed (swapped after it loaded and warmed)"},
        {"watch-interval-ms", OPT_INT, &cfg.watch_interval_ms, "how often model files are checked [500]"},
        {"drift-window", OPT_INT, &cfg.drift_window, "samples in the drift window [1000]"},
        {"drift-threshold", OPT_STR, &threshold, "alarm thresholds: PSI, or psi=P,ks=K [psi=0.2,ks=0.1]"},
        {"explain-batch", OPT_INT, &cfg.explain_batch, "rows of each worker's explainer, 0: no /explain [16]"},
        {"access-log", OPT_STR, &access, "append one JSON line per request to this file ('-': stdout)"},
        {"drain-seconds", OPT_FLOAT, &drain, "on SIGTERM, wait this long for requests in flight [10]"},
        {"quiet", OPT_FLAG, &quiet, "log warnings and errors only"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[2];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, "serve")) {
        if (help) {
            cli_usage("serve", "MODEL.safetensors|FOLDER [options]", opts);
            return 0;
        }
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc serve: expected one model file or folder of models (see deepc serve --help)\n");
        return 2;
    }
    if (max_body < 1 || max_header < 1 || max_px < 1 || !(drain >= 0)) {
        fprintf(stderr, "deepc serve: --max-body, --max-header and --max-image-pixels must be positive, --drain-seconds >= 0\n");
        return 2;
    }
    if (threshold && !parse_threshold(threshold, &cfg.drift_psi, &cfg.drift_ks)) {
        fprintf(stderr, "deepc serve: --drift-threshold '%s': expected a PSI such as 0.2, or psi=0.2,ks=0.1\n", threshold);
        return 2;
    }
    cfg.model_path = pos[0];
    cfg.host = host;
    cfg.max_body = (size_t)max_body;
    cfg.max_header = (size_t)max_header;
    cfg.max_image_pixels = max_px;
    cfg.watch = watch;
    cfg.allow_no_token = allow_no_token;
    char token[4098]; // wiped once the server has its copy
    if (token_file) {
        if (!read_token(token_file, token, sizeof token)) return 2;
        cfg.token = token;
    }
    log_sink sink = {stderr, quiet, !isatty(2)};
    cfg.log = on_log;
    cfg.log_user = &sink;
    FILE *af = NULL;
    if (access) {
        af = !strcmp(access, "-") ? stdout : fopen(access, "a");
        if (!af) {
            fprintf(stderr, "deepc serve: --access-log %s: %s\n", access, strerror(errno));
            return 2;
        }
        cfg.access_log = on_access;
        cfg.access_log_user = af;
    }
    // block the signals in every thread the server starts; sigwait takes them here
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    dc_server *srv;
    dc_error err;
    dc_status st = dc_server_start(&srv, &cfg, &err);
    memset(token, 0, sizeof token);
    if (st) {
        if (af && af != stdout) fclose(af);
        return cli_fail("serve", &err);
    }
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    on_log(&sink, DC_LOG_INFO, sig == SIGTERM ? "SIGTERM: draining the requests in flight" : "SIGINT: draining the requests in flight");
    int left = dc_server_stop(srv, drain);
    if (af && af != stdout) fclose(af);
    return left ? 1 : 0;
}
