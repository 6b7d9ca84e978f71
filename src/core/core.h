// core.h — internal helpers shared by every module: error filling, checked
// allocation, atomic file writing, timing.
#ifndef DC_CORE_H
#define DC_CORE_H

#include "deepc.h"
#include <stdio.h>
#include <stdlib.h>

// Fills err (may be NULL) with a printf-style message and returns st.
dc_status dc_fail(dc_error *err, dc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Programmer-error check that stays on in release builds.
#define DC_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

// 64-byte aligned allocation (AVX-friendly); free with dc_free. Zeroed.
void *dc_alloc(size_t bytes);
void dc_free(void *p);

// Writes the parts to path atomically: a new temporary file
// "<base>.tmp.<pid>.XXXXXX" in path's folder, created with
// O_CREAT|O_EXCL|O_NOFOLLOW (a name that exists, symlink or not, is never
// opened), written, fsync'ed, renamed over path, then the folder fsync'ed.
// An existing path that is not a regular file (device, FIFO, directory,
// socket; symlinks followed) is refused with DC_ERR_IO and left as it is.
// On failure path is untouched and the temporary file removed. Temporary
// files of the same output left by killed writers (the pattern above or the
// older "<base>.tmp.<pid>", regular files owned by us whose pid is not
// alive; symlinks never) are removed first.
// Parts is a list of (ptr, len) pairs written in order.
typedef struct dc_buf { const void *ptr; size_t len; } dc_buf;
dc_status dc_write_atomic(const char *path, const dc_buf *parts, int n_parts,
                          dc_error *err);

// Checks, before long work, that dc_write_atomic(path) can succeed: the
// folder exists and a new file can be created in it, and path is absent or
// a regular file. Touches no existing file (it creates and removes a
// temporary file of its own, named as dc_write_atomic names them).
dc_status dc_check_output(const char *path, dc_error *err);

// Reads a whole file (max_bytes guards against absurd sizes).
dc_status dc_read_file(const char *path, uint8_t **data, size_t *len,
                       size_t max_bytes, dc_error *err);

double dc_now_seconds(void); // monotonic clock
double dc_cpu_seconds(void); // CPU time of this process so far (all threads)
int dc_default_threads(void); // number of cores (OpenMP max threads)

#endif
