// fuzz_util.h — helpers shared by the libFuzzer harnesses in tests/fuzz/.
//
// Each harness is one translation unit that defines LLVMFuzzerTestOneInput
// and calls one of the library's real entry points. Built with -DDEEPC_FUZZ=ON
// (cmake/fuzz.cmake) it links libFuzzer's main; built with replay.c instead
// it runs the committed corpus and regression inputs as a CTest test in every
// build, sanitized or not.
//
// What every harness checks beyond "no memory error, no undefined behaviour,
// no out-of-memory": a failing call fills a non-empty message that is one
// line (no '\n' or '\r'), as the library's contract promises; a successful
// one returns something that holds together (each harness says what).
// A broken invariant calls fuzz_fail, which aborts: libFuzzer counts that as
// a crash and saves the input.
//
// Loaders that only take a path get the input through a file in a scratch
// directory made once per process (mkdtemp under $TMPDIR, else /tmp) and
// removed at exit; scripts/fuzz.sh points TMPDIR at its own scratch folder
// so even a crashed process leaves nothing behind.
#ifndef DC_FUZZ_UTIL_H
#define DC_FUZZ_UTIL_H

#define _GNU_SOURCE
#include "deepc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Undefined behaviour ends the run (UBSan is built in its recoverable mode,
// which is far cheaper to compile): libFuzzer then saves the input. The
// sanitizer runtimes read these defaults; without sanitizers they are unused.
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

// After a call into the library: on failure the message must be a non-empty
// single line. err.msg must have been cleared before the call.
static inline void fuzz_check_error(dc_status st, const dc_error *err, const char *what) {
    if (st == DC_OK) return;
    if ((int)st < 0 || st > DC_ERR_UNSUPPORTED) fuzz_fail("%s: status %d is not a dc_status", what, (int)st);
    if (!err->msg[0]) fuzz_fail("%s failed (%s) with an empty message", what, dc_status_name(st));
    if (strpbrk(err->msg, "\n\r")) fuzz_fail("%s: message is not one line: \"%s\"", what, err->msg);
}

static char g_fuzz_dir[4096];

static inline void fuzz_cleanup(void) {
    if (!g_fuzz_dir[0]) return;
    // the directory holds only plain files that the harness (or an atomic
    // write's temp file) put there
    DIR *d = opendir(g_fuzz_dir);
    if (d) {
        struct dirent *e;
        char path[4096 + 256];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", g_fuzz_dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(g_fuzz_dir);
    g_fuzz_dir[0] = 0;
}

// Path of `name` inside this process's scratch directory.
static inline const char *fuzz_path(const char *name) {
    static char path[4096 + 256];
    if (!g_fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "%s/deepc-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(g_fuzz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    snprintf(path, sizeof path, "%s/%s", g_fuzz_dir, name);
    return path;
}

// Writes data to the scratch file `name` (replacing it) and returns its path
// (valid until the next fuzz_path / fuzz_write_file call).
static inline const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror("fuzz: open scratch file");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            perror("fuzz: write scratch file");
            abort();
        }
        done += (size_t)n;
    }
    close(fd);
    return path;
}

// A NUL-terminated copy of data (malloc'd), or NULL when data holds a NUL
// byte (text loaders refuse those before parsing).
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    if (memchr(data, 0, size)) return NULL;
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

// Reads every byte of p[0..n) so that ASan sees an out-of-bounds or
// uninitialised-pointer result; returns a value the compiler cannot drop.
static inline unsigned fuzz_touch(const void *p, size_t n) {
    const volatile uint8_t *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    return s;
}

#endif
