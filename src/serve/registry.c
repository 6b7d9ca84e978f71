// registry.c — the served models: one file or a folder of them, the current
// version of each, hot reload and the freeing of retired versions.
//
// Reload contract (--watch): a watcher thread stats every model file each
// watch_interval_ms. A file whose (mtime, size, inode) differs from the one
// last loaded, and has stayed the same for one more interval (so a copy in
// progress is not read half-written), is loaded as a new version: model,
// sessions, explainers, warm-up, workers. Only then is it swapped in, under
// the model's lock, as the current version; requests already holding the old
// version (queued or running) finish on it, and the watcher frees it when
// its last request is done. A file that does not load is refused: the old
// version keeps serving, the error goes to the log and to
// deepc_model_reload_error, and that file is not tried again until it
// changes. The set of models is fixed at start-up; a removed file is a
// warning, its last version keeps serving.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "serve/serve.h"

double serve_wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void serve_strlcpy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

void serve_log(const serve_server *s, dc_log_level level, const char *fmt, ...) {
    if (!s->cfg.log) return;
    char line[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_user, level, line);
}

serve_model *serve_find_model(serve_server *s, const char *name, size_t len) {
    for (int i = 0; i < s->n_models; i++)
        if (strlen(s->models[i].name) == len && !memcmp(s->models[i].name, name, len)) return &s->models[i];
    return NULL;
}

serve_version *serve_model_acquire(serve_model *m) {
    pthread_mutex_lock(&m->lock);
    serve_version *v = m->current;
    atomic_fetch_add(&v->refs, 1);
    pthread_mutex_unlock(&m->lock);
    return v;
}

void serve_version_release(serve_version *v) { atomic_fetch_sub(&v->refs, 1); }

// ---------------------------------------------------------------------------
// Opening

static bool stem_ok(const char *s, size_t n) {
    if (n == 0 || n >= 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    }
    return true;
}

static void file_identity(const struct stat *sb, long long id[3]) {
    id[0] = (long long)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
    id[1] = (long long)sb->st_size;
    id[2] = (long long)sb->st_ino;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static dc_status add_model(serve_server *s, const char *path, const char *base, dc_error *err) {
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (!stem_ok(base, n))
        return dc_fail(err, DC_ERR_ARG,
                       "%s: the model name (the file stem) must be 1-127 characters of A-Z a-z 0-9 . _ - (it is part "
                       "of the URL)",
                       path);
    serve_model *m = &s->models[s->n_models];
    memset(m, 0, sizeof *m);
    m->srv = s;
    memcpy(m->name, base, n);
    m->name[n] = 0;
    if (serve_find_model(s, m->name, n))
        return dc_fail(err, DC_ERR_ARG, "%s: a second model named '%s'", path, m->name);
    if (strlen(path) >= sizeof m->path) return dc_fail(err, DC_ERR_ARG, "%s: path too long", path);
    snprintf(m->path, sizeof m->path, "%s", path);
    if (pthread_mutex_init(&m->lock, NULL)) return dc_fail(err, DC_ERR_NOMEM, "cannot create a mutex");
    struct stat sb;
    if (stat(path, &sb)) return dc_fail(err, DC_ERR_IO, "%s: %s", path, strerror(errno));
    long long id[3];
    file_identity(&sb, id);
    m->f_mtime_ns = id[0], m->f_size = id[1], m->f_ino = id[2];
    s->n_models++; // counted now so that close frees its lock even if loading fails
    dc_status st = serve_version_new(&m->current, m, 1, err);
    if (st) return st;
    m->next_version = 2;
    serve_log(s, DC_LOG_INFO, "model %s: %s, version 1, %dx%dx%d -> %d classes, loaded and warmed in %.3f s%s", m->name,
              path, m->current->c, m->current->h, m->current->w, m->current->n_classes, m->current->load_seconds,
              m->current->drift.available ? "" : " (no drift reference: drift reported as unavailable)");
    return DC_OK;
}

#define SERVE_MAX_MODELS 256

dc_status serve_models_open(serve_server *s, dc_error *err) {
    const char *path = s->cfg.model_path;
    struct stat sb;
    if (!path || !*path) return dc_fail(err, DC_ERR_ARG, "no model given (a .safetensors file or a folder of them)");
    if (stat(path, &sb)) return dc_fail(err, DC_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        s->models = calloc(1, sizeof *s->models);
        if (!s->models) return dc_fail(err, DC_ERR_NOMEM, "out of memory");
        const char *base = strrchr(path, '/');
        return add_model(s, path, base ? base + 1 : path, err);
    }
    DIR *d = opendir(path);
    if (!d) return dc_fail(err, DC_ERR_IO, "%s: %s", path, strerror(errno));
    char *names[SERVE_MAX_MODELS];
    int n = 0;
    dc_status st = DC_OK;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l <= 12 || strcmp(e->d_name + l - 12, ".safetensors") || e->d_name[0] == '.') continue;
        if (n == SERVE_MAX_MODELS) {
            st = dc_fail(err, DC_ERR_ARG, "%s: more than %d models", path, SERVE_MAX_MODELS);
            break;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!st && n == 0) st = dc_fail(err, DC_ERR_ARG, "%s: no .safetensors model files in this folder", path);
    if (!st) {
        qsort(names, (size_t)n, sizeof names[0], cmp_names);
        s->models = calloc((size_t)n, sizeof *s->models);
        if (!s->models) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; !st && i < n; i++) {
        char full[4096];
        if (snprintf(full, sizeof full, "%s/%s", path, names[i]) >= (int)sizeof full)
            st = dc_fail(err, DC_ERR_ARG, "%s/%s: path too long", path, names[i]);
        else if (stat(full, &sb) || !S_ISREG(sb.st_mode))
            continue; // a folder or a dangling link named *.safetensors
        else
            st = add_model(s, full, names[i], err);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    return st;
}

void serve_models_close(serve_server *s) {
    for (int i = 0; i < s->n_models; i++) {
        serve_model *m = &s->models[i];
        for (int r = 0; r < m->n_retired; r++) serve_version_free(m->retired[r]);
        if (m->current) serve_version_free(m->current);
        pthread_mutex_destroy(&m->lock);
    }
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
}

// ---------------------------------------------------------------------------
// Reload

typedef struct pending_id {
    long long id[3];
    bool set;
} pending_id;

static void reload(serve_server *s, serve_model *m, const long long id[3]) {
    if (m->n_retired == (int)(sizeof m->retired / sizeof m->retired[0])) {
        serve_log(s, DC_LOG_WARN, "model %s: changed, but %d old versions still have requests; reload postponed",
                  m->name, m->n_retired);
        return;
    }
    serve_version *nv;
    dc_error err;
    m->f_mtime_ns = id[0], m->f_size = id[1], m->f_ino = id[2];
    if (serve_version_new(&nv, m, m->next_version, &err)) {
        atomic_fetch_add(&m->metrics.reloads_failed, 1);
        pthread_mutex_lock(&m->lock);
        serve_strlcpy(m->last_error, sizeof m->last_error, err.msg);
        m->last_error_at = serve_wall_seconds();
        int cur = m->current->version;
        pthread_mutex_unlock(&m->lock);
        serve_log(s, DC_LOG_ERROR, "model %s: reload refused, version %d keeps serving: %s", m->name, cur, err.msg);
        return;
    }
    pthread_mutex_lock(&m->lock);
    serve_version *old = m->current;
    m->current = nv;
    old->retired = true;
    m->retired[m->n_retired++] = old;
    m->next_version++;
    m->last_error[0] = 0;
    pthread_mutex_unlock(&m->lock);
    serve_version_release(old); // the reference the current version held
    atomic_fetch_add(&m->metrics.reloads_ok, 1);
    serve_log(s, DC_LOG_INFO, "model %s: reloaded %s as version %d (loaded and warmed in %.3f s); version %d retires",
              m->name, m->path, nv->version, nv->load_seconds, old->version);
}

void serve_reap(serve_server *s, bool all) {
    for (int i = 0; i < s->n_models; i++) {
        serve_model *m = &s->models[i];
        serve_version *done[8];
        int nd = 0;
        pthread_mutex_lock(&m->lock);
        for (int r = 0; r < m->n_retired;) {
            if (all || atomic_load(&m->retired[r]->refs) == 0) {
                done[nd++] = m->retired[r];
                m->retired[r] = m->retired[--m->n_retired];
            } else {
                r++;
            }
        }
        pthread_mutex_unlock(&m->lock);
        for (int k = 0; k < nd; k++) serve_version_free(done[k]); // joins its workers (its queue is empty)
    }
}

static void check_files(serve_server *s, pending_id *pend) {
    for (int i = 0; i < s->n_models; i++) {
        serve_model *m = &s->models[i];
        struct stat sb;
        if (stat(m->path, &sb) || !S_ISREG(sb.st_mode)) {
            if (!pend[i].set || pend[i].id[2] != -1)
                serve_log(s, DC_LOG_WARN, "model %s: %s is gone or not a file; the loaded version keeps serving",
                          m->name, m->path);
            pend[i].set = true;
            pend[i].id[0] = pend[i].id[1] = pend[i].id[2] = -1;
            continue;
        }
        long long id[3];
        file_identity(&sb, id);
        if (id[0] == m->f_mtime_ns && id[1] == m->f_size && id[2] == m->f_ino) {
            pend[i].set = false;
            continue;
        }
        if (pend[i].set && !memcmp(pend[i].id, id, sizeof id)) { // unchanged for one interval: load it
            pend[i].set = false;
            reload(s, m, id);
        } else {
            pend[i].set = true;
            memcpy(pend[i].id, id, sizeof id);
        }
    }
}

static void *watcher_main(void *arg) {
    serve_server *s = arg;
    pending_id *pend = calloc((size_t)s->n_models, sizeof *pend);
    const double interval = (s->cfg.watch_interval_ms > 0 ? s->cfg.watch_interval_ms : 500) * 1e-3;
    pthread_mutex_lock(&s->watch_lock);
    while (!s->watch_stop) {
        double deadline = dc_now_seconds() + interval;
        struct timespec ts;
        ts.tv_sec = (time_t)deadline;
        ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&s->watch_cv, &s->watch_lock, &ts);
        if (s->watch_stop) break;
        pthread_mutex_unlock(&s->watch_lock);
        if (s->cfg.watch && pend) check_files(s, pend);
        serve_reap(s, false);
        pthread_mutex_lock(&s->watch_lock);
    }
    pthread_mutex_unlock(&s->watch_lock);
    free(pend);
    return NULL;
}

dc_status serve_watcher_start(serve_server *s, dc_error *err) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
        pthread_mutex_init(&s->watch_lock, NULL) || pthread_cond_init(&s->watch_cv, &ca))
        return dc_fail(err, DC_ERR_NOMEM, "cannot create the watcher's lock");
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->watcher, NULL, watcher_main, s)) return dc_fail(err, DC_ERR_NOMEM, "cannot start the watcher");
    s->watcher_started = true;
    return DC_OK;
}

void serve_watcher_stop(serve_server *s) {
    if (!s->watcher_started) return;
    pthread_mutex_lock(&s->watch_lock);
    s->watch_stop = true;
    pthread_cond_broadcast(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_lock);
    pthread_join(s->watcher, NULL);
    s->watcher_started = false;
    pthread_cond_destroy(&s->watch_cv);
    pthread_mutex_destroy(&s->watch_lock);
}
