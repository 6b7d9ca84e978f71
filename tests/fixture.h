// fixture.h — header-only reader of the .dcfx PyTorch reference fixtures
// written by tests/gen_fixtures.py (the format is documented at its top):
//
//   "DCFX", u32 version 1, u32 count, then per tensor: u32 name length, name,
//   u32 rank, rank x u32 dims, prod(dims) float32 little-endian values.
//
// Header-only (static inline) because tests/tests.cmake links each test with
// harness.c alone. The loader checks everything against the file length
// before trusting it: magic, version, name lengths, rank (<= DCFX_MAX_RANK),
// the element count of every tensor (overflow included), duplicate names and
// trailing bytes. On error it returns non-zero and leaves a one-line message
// in fx->err; the struct is then empty and safe to free.
//
//   dcfx fx;
//   if (dcfx_load(&fx, dc_src_path("tests/fixtures/relu.dcfx"))) { puts(fx.err); ... }
//   const dcfx_tensor *x = dcfx_get(&fx, "x");   // NULL if absent
//   ... x->data[0 .. x->n) ...
//   dcfx_free(&fx);
#ifndef DC_TEST_FIXTURE_H
#define DC_TEST_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DCFX_MAX_RANK 8
#define DCFX_MAX_BYTES ((long)64 << 20) // fixtures are small; refuse absurd files

typedef struct dcfx_tensor {
    char *name;                     // NUL-terminated, owned
    int rank;                       // 0 (scalar) .. DCFX_MAX_RANK
    uint32_t dims[DCFX_MAX_RANK];   // (rank)
    size_t n;                       // product of dims (1 for rank 0)
    float *data;                    // (n) values, owned
} dcfx_tensor;

typedef struct dcfx {
    int count;          // number of tensors
    dcfx_tensor *t;     // (count), owned
    char err[512];      // message of the last failed load
} dcfx;

static inline void dcfx_free(dcfx *fx) {
    if (fx->t)
        for (int i = 0; i < fx->count; i++) {
            free(fx->t[i].name);
            free(fx->t[i].data);
        }
    free(fx->t);
    fx->t = NULL;
    fx->count = 0;
}

// Reads a u32 little-endian at *pos if 4 bytes remain; advances *pos.
static inline int dcfx_u32_(const unsigned char *buf, size_t len, size_t *pos,
                            uint32_t *v) {
    if (len - *pos < 4) return 0;
    const unsigned char *p = buf + *pos;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
    *pos += 4;
    return 1;
}

static inline int dcfx_fail_(dcfx *fx, unsigned char *buf, const char *path,
                             const char *what) {
    snprintf(fx->err, sizeof fx->err, "%s: %s", path, what);
    free(buf);
    dcfx_free(fx);
    return 1;
}

// Returns 0 on success; non-zero with fx->err set otherwise.
static inline int dcfx_load(dcfx *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    char msg[400];
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(fx->err, sizeof fx->err,
                 "%s: cannot open fixture (run /usr/bin/python3 tests/gen_fixtures.py; "
                 "is DEEPC_SOURCE_DIR the source tree?)", path);
        return 1;
    }
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        snprintf(fx->err, sizeof fx->err, "%s: cannot determine the file size", path);
        return 1;
    }
    if (len > DCFX_MAX_BYTES) {
        fclose(f);
        snprintf(fx->err, sizeof fx->err, "%s: %ld bytes, more than the %ld a fixture may have",
                 path, len, DCFX_MAX_BYTES);
        return 1;
    }
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf) {
        fclose(f);
        snprintf(fx->err, sizeof fx->err, "%s: out of memory for %ld bytes", path, len);
        return 1;
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) return dcfx_fail_(fx, buf, path, "short read");

    const size_t L = (size_t)len;
    size_t pos = 0;
    if (L < 12 || memcmp(buf, "DCFX", 4) != 0)
        return dcfx_fail_(fx, buf, path, "expected magic \"DCFX\" (not a deepc fixture)");
    pos = 4;
    uint32_t version, count;
    dcfx_u32_(buf, L, &pos, &version);
    dcfx_u32_(buf, L, &pos, &count);
    if (version != 1) {
        snprintf(msg, sizeof msg, "version %u, expected 1 (regenerate with tests/gen_fixtures.py)",
                 version);
        return dcfx_fail_(fx, buf, path, msg);
    }
    // each tensor needs at least 8 header bytes: bounds the allocation
    if (count > (L - pos) / 8) {
        snprintf(msg, sizeof msg, "tensor count %u does not fit in %zu bytes", count, L);
        return dcfx_fail_(fx, buf, path, msg);
    }
    fx->t = calloc(count ? count : 1, sizeof *fx->t);
    if (!fx->t) return dcfx_fail_(fx, buf, path, "out of memory");
    for (uint32_t i = 0; i < count; i++) {
        dcfx_tensor *t = &fx->t[i];
        fx->count = (int)i + 1; // so a failure frees what was filled
        uint32_t nl, rank;
        if (!dcfx_u32_(buf, L, &pos, &nl) || nl == 0 || nl > 255 || L - pos < nl) {
            snprintf(msg, sizeof msg, "tensor %u: bad or truncated name length", i);
            return dcfx_fail_(fx, buf, path, msg);
        }
        t->name = malloc(nl + 1);
        if (!t->name) return dcfx_fail_(fx, buf, path, "out of memory");
        memcpy(t->name, buf + pos, nl);
        t->name[nl] = 0;
        pos += nl;
        if (strlen(t->name) != nl) {
            snprintf(msg, sizeof msg, "tensor %u: NUL byte inside its name", i);
            return dcfx_fail_(fx, buf, path, msg);
        }
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(fx->t[j].name, t->name) == 0) {
                snprintf(msg, sizeof msg, "tensor \"%s\" appears twice", t->name);
                return dcfx_fail_(fx, buf, path, msg);
            }
        if (!dcfx_u32_(buf, L, &pos, &rank) || rank > DCFX_MAX_RANK) {
            snprintf(msg, sizeof msg, "tensor \"%s\": rank missing or above %d", t->name,
                     DCFX_MAX_RANK);
            return dcfx_fail_(fx, buf, path, msg);
        }
        t->rank = (int)rank;
        size_t n = 1;
        for (uint32_t d = 0; d < rank; d++) {
            if (!dcfx_u32_(buf, L, &pos, &t->dims[d])) {
                snprintf(msg, sizeof msg, "tensor \"%s\": truncated dims", t->name);
                return dcfx_fail_(fx, buf, path, msg);
            }
            // overflow-safe: the values must fit in the file anyway
            if (t->dims[d] != 0 && n > L / t->dims[d]) {
                snprintf(msg, sizeof msg, "tensor \"%s\": dims larger than the file",
                         t->name);
                return dcfx_fail_(fx, buf, path, msg);
            }
            n *= t->dims[d];
        }
        t->n = n;
        if ((L - pos) / 4 < n) {
            snprintf(msg, sizeof msg,
                     "tensor \"%s\": %zu values need %zu bytes, only %zu left (truncated file?)",
                     t->name, n, n * 4, L - pos);
            return dcfx_fail_(fx, buf, path, msg);
        }
        t->data = malloc(n ? n * sizeof(float) : 1);
        if (!t->data) return dcfx_fail_(fx, buf, path, "out of memory");
        for (size_t k = 0; k < n; k++) {
            uint32_t bits = 0;
            dcfx_u32_(buf, L, &pos, &bits);
            memcpy(&t->data[k], &bits, 4); // explicit LE decode, any host
        }
    }
    if (pos != L) {
        snprintf(msg, sizeof msg, "%zu trailing bytes after %u tensors", L - pos, count);
        return dcfx_fail_(fx, buf, path, msg);
    }
    free(buf);
    return 0;
}

// The tensor called `name`, or NULL.
static inline const dcfx_tensor *dcfx_get(const dcfx *fx, const char *name) {
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->t[i].name, name) == 0) return &fx->t[i];
    return NULL;
}

// Data of `name` if it exists and has exactly n values, else NULL (and a
// message naming the fixture tensor on stdout, for the test log).
static inline const float *dcfx_data(const dcfx *fx, const char *name, size_t n) {
    const dcfx_tensor *t = dcfx_get(fx, name);
    if (!t) {
        printf("fixture: no tensor \"%s\"\n", name);
        return NULL;
    }
    if (t->n != n) {
        printf("fixture: tensor \"%s\" has %zu values, expected %zu\n", name, t->n, n);
        return NULL;
    }
    return t->data;
}

#endif
