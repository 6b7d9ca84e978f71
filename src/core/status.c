// status.c — errors as values, allocation, atomic writes, clocks.
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

// ---------------------------------------------------------------------------
// Atomic writes
//
// The temporary file lives in the target's own folder (rename() is atomic
// only within one file system) under the name "<base>.tmp.<pid>.<6 chars>",
// created with O_CREAT|O_EXCL|O_NOFOLLOW: a file or symlink planted at that
// name makes the open fail (we then try another name) instead of being
// followed. Every step goes through a descriptor of the folder (openat,
// renameat), so the folder cannot be swapped for a symlink between the steps.
// The data is fsync'ed before the rename and the folder after it, so after a
// crash the path holds either the old or the new contents.

// Splits path into its folder (opened as a descriptor) and its last
// component. Returns the folder fd or -1 with err filled.
static int open_parent(const char *path, const char **base, dc_error *err) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!**base) {
        dc_fail(err, DC_ERR_ARG, "%s: is a directory name (ends in '/'), expected a file name", path);
        return -1;
    }
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else dir = strndup(path, (size_t)(slash - path));
    if (!dir) {
        dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        dc_fail(err, DC_ERR_IO, "%s: cannot open the folder %s: %s", path, dir, strerror(errno));
    free(dir);
    return dfd;
}

// Creates "<base>.tmp.<pid>.XXXXXX" in dfd exclusively (never following or
// reusing an existing name); the name goes to tmp (cap bytes). Returns the
// descriptor, or -1 with errno set.
static int create_temp(int dfd, const char *base, char *tmp, size_t cap) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 42) ^
                 (uint64_t)(uintptr_t)tmp;
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[7];
        for (int i = 0; i < 6; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull; // LCG step: names, not secrets
            suffix[i] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        suffix[6] = 0;
        int k = snprintf(tmp, cap, "%s.tmp.%ld.%s", base, (long)getpid(), suffix);
        if (k < 0 || (size_t)k >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

static int write_all(int fd, const void *p, size_t len) {
    const uint8_t *b = p;
    while (len) {
        ssize_t n = write(fd, b, len > ((size_t)1 << 30) ? (size_t)1 << 30 : len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

// What kind of thing a non-regular file is, for messages.
static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

// An existing target that is not a regular file (a device such as /dev/full,
// a FIFO, a directory; symlinks are followed) is refused: rename() would
// replace the node itself with a regular file and report success.
static dc_status check_target(int dfd, const char *base, const char *path, dc_error *err) {
    struct stat sb;
    if (fstatat(dfd, base, &sb, 0) != 0) {
        if (errno == ENOENT) return DC_OK; // a new file (or a dangling symlink, which rename replaces)
        return dc_fail(err, DC_ERR_IO, "%s: cannot inspect: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return dc_fail(err, DC_ERR_IO, "%s: exists and is %s, not a regular file: refusing to replace it", path,
                       file_kind(sb.st_mode));
    return DC_OK;
}

// Removes temporary files that earlier writers of this same output left
// behind when they were killed mid-write (kill -9, power loss): names
// "<base>.tmp.<pid>.XXXXXX" (and "<base>.tmp.<pid>", what older versions
// wrote) that are regular files (never symlinks, which are not followed),
// owned by our effective user, and whose pid is not a live process. Our own
// pid is skipped (another thread of ours may be writing). Best effort: any
// error just leaves the file. (A writer in another pid namespace sharing the
// folder could look dead; such setups should not share output folders.)
static void clean_stale_temps(int dfd, const char *base) {
    int fd2 = dup(dfd);
    if (fd2 < 0) return;
    DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return;
    }
    rewinddir(d);
    const size_t blen = strlen(base);
    const pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        const char *p = n + blen + 5, *q = p;
        while (*q >= '0' && *q <= '9') q++;
        if (q == p || q - p > 10) continue;
        if (*q == '.') { // six name characters of create_temp
            size_t k = 0;
            while (q[1 + k] && isalnum((unsigned char)q[1 + k])) k++;
            if (k != 6 || q[7]) continue;
        } else if (*q) {
            continue;
        }
        long pid = strtol(p, NULL, 10);
        if (pid <= 0 || pid == (long)self) continue;
        struct stat sb;
        if (fstatat(dfd, n, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; // alive (or not ours to ask): keep
        unlinkat(dfd, n, 0);
    }
    closedir(d);
}

dc_status dc_write_atomic(const char *path, const dc_buf *parts, int n_parts,
                          dc_error *err) {
    const char *base;
    int dfd = open_parent(path, &base, err);
    if (dfd < 0) return DC_ERR_IO;
    dc_status st0 = check_target(dfd, base, path, err);
    if (st0) {
        close(dfd);
        return st0;
    }
    clean_stale_temps(dfd, base);
    char tmp[NAME_MAX + 1];
    int fd = create_temp(dfd, base, tmp, sizeof tmp);
    if (fd < 0) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                               strerror(errno));
        close(dfd);
        return st;
    }
    int ok = 1;
    for (int i = 0; i < n_parts && ok; i++)
        if (parts[i].len && write_all(fd, parts[i].ptr, parts[i].len) != 0) ok = 0;
    if (ok && fsync(fd) != 0) ok = 0;
    int saved = errno;
    if (close(fd) != 0 && ok) ok = 0, saved = errno;
    if (!ok) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: write failed: %s", path, strerror(saved));
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return st;
    }
    if ((st0 = check_target(dfd, base, path, err))) { // again: it may have appeared meanwhile
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return st0;
    }
    if (renameat(dfd, tmp, dfd, base) != 0) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                               strerror(errno));
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return st;
    }
    // the rename itself must survive a crash too
    if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot sync its folder: %s", path, strerror(errno));
        close(dfd);
        return st;
    }
    close(dfd);
    return DC_OK;
}

dc_status dc_check_output(const char *path, dc_error *err) {
    const char *base;
    int dfd = open_parent(path, &base, err);
    if (dfd < 0) return DC_ERR_IO;
    dc_status st = check_target(dfd, base, path, err);
    if (!st) {
        // can a file be created there? (a new name of our own: an existing
        // file is never opened, truncated or removed)
        char tmp[NAME_MAX + 1];
        int fd = create_temp(dfd, base, tmp, sizeof tmp);
        if (fd < 0) {
            st = dc_fail(err, DC_ERR_IO, "%s: cannot create a file in its folder: %s", path, strerror(errno));
        } else {
            close(fd);
            unlinkat(dfd, tmp, 0);
        }
    }
    close(dfd);
    return st;
}

dc_status dc_read_file(const char *path, uint8_t **data, size_t *len,
                       size_t max_bytes, dc_error *err) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        dc_status st = dc_fail(err, DC_ERR_IO, "%s: cannot inspect: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return dc_fail(err, DC_ERR_ARG, "%s: is a directory, expected a file", path);
    }
    // A regular file's size is known: refuse a too-large one before reading.
    // Anything else (a pipe, /dev/stdin) is read until its end, at most
    // max_bytes + 1 bytes, the buffer growing with what really arrives.
    const bool regular = S_ISREG(sb.st_mode);
    if (regular && (uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return dc_fail(err, DC_ERR_FORMAT, "%s: file is %lld bytes, more than the %zu allowed", path,
                       (long long)sb.st_size, max_bytes);
    }
    size_t cap = regular ? (size_t)sb.st_size + 1 : 65536, got = 0;
    uint8_t *buf = malloc(cap);
    dc_status st = buf ? DC_OK : dc_fail(err, DC_ERR_NOMEM, "%s: out of memory reading it", path);
    while (!st) {
        if (got == cap) { // only a non-regular file (or one that grew) gets here
            if (got > max_bytes) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: more than the %zu bytes allowed", path, max_bytes);
                break;
            }
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            if (ncap <= cap) ncap = cap + 1;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory reading it", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            st = dc_fail(err, DC_ERR_IO, "%s: read error: %s", path, strerror(errno));
        } else if (n == 0) {
            break;
        } else {
            got += (size_t)n;
        }
    }
    close(fd);
    if (!st && got > max_bytes)
        st = dc_fail(err, DC_ERR_FORMAT, "%s: more than the %zu bytes allowed", path, max_bytes);
    if (!st && got == cap) { // room for the terminating 0
        uint8_t *nb = realloc(buf, cap + 1);
        if (!nb) st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory reading it", path);
        else buf = nb;
    }
    if (st) {
        free(buf);
        return st;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return DC_OK;
}

double dc_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double dc_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dc_default_threads(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}
