// status.c — errors as values, allocation, atomic writes, clocks.
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char *dc_status_name(dc_status st) {
    switch (st) {
    case DC_OK: return "ok";
    case DC_ERR_IO: return "i/o error";
    case DC_ERR_FORMAT: return "format error";
    case DC_ERR_SHAPE: return "shape error";
    case DC_ERR_ARG: return "bad argument";
    case DC_ERR_NOMEM: return "out of memory";
    case DC_ERR_NUMERIC: return "numeric error";
    case DC_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

dc_status dc_fail(dc_error *err, dc_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        // keep messages on one line
        for (char *p = err->msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return st;
}

void *dc_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void dc_free(void *p) { free(p); }

dc_status dc_write_atomic(const char *path, const dc_buf *parts, int n_parts,
                          dc_error *err) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot create temporary file %s: %s",
                               path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int ok = 1;
    for (int i = 0; i < n_parts && ok; i++)
        if (parts[i].len && fwrite(parts[i].ptr, 1, parts[i].len, f) != parts[i].len) ok = 0;
    if (fflush(f) != 0) ok = 0;
    if (ok && fsync(fileno(f)) != 0) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot rename %s into place: %s",
                               path, tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return DC_OK;
}

dc_status dc_read_file(const char *path, uint8_t **data, size_t *len,
                       size_t max_bytes, dc_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return dc_fail(err, DC_ERR_IO, "%s: cannot seek (not a regular file?)", path);
    }
    long size = ftell(f);
    if (size < 0) {
        fclose(f);
        return dc_fail(err, DC_ERR_IO, "%s: cannot tell size (is it a directory?)", path);
    }
    if ((size_t)size > max_bytes) {
        fclose(f);
        return dc_fail(err, DC_ERR_FORMAT, "%s: file is %ld bytes, more than the %zu allowed",
                       path, size, max_bytes);
    }
    rewind(f);
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != (size_t)size) {
        free(buf);
        return dc_fail(err, DC_ERR_IO, "%s: read error", path);
    }
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
    return DC_OK;
}

double dc_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dc_default_threads(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}
