// cifar.c — CIFAR-10's binary version (cifar-10-binary.tar.gz, unpacked):
// data_batch_1.bin .. data_batch_5.bin (training), test_batch.bin (test),
// batches.meta.txt (the class names, one per line).
//
// Contract: each batch is a sequence of 3073-byte records, one label byte
// then 3072 pixel bytes (3x32x32, the red, green and blue planes row-major:
// already (C,H,W)). The training batches are data_batch_1.bin, _2, ... up to
// the first missing number (at least one); test_batch.bin is the test split
// (optional). Refused, with the file and record named: an empty batch, a
// size that is not a whole number of records (a truncated last record), a
// label beyond the class list; a class list with a blank line among names,
// or fewer than 2 names. Without batches.meta.txt the classes are 0..9.
#define _POSIX_C_SOURCE 200809L
#include "data/loaders.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

enum { CIFAR_C = 3, CIFAR_H = 32, CIFAR_W = 32, CIFAR_PLANE = 3072, CIFAR_RECORD = 3073 };
#define CIFAR_MAX_BATCHES 64

static dc_status append(dc_dataset *ds, size_t *cap, const uint8_t *buf, size_t len, const char *origin,
                        int n_names, dc_error *err) {
    if (len == 0) return dc_fail(err, DC_ERR_FORMAT, "%s: is empty (0 bytes): expected 3073-byte CIFAR-10 records", origin);
    if (len % CIFAR_RECORD)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %zu bytes is %zu whole records and %zu bytes of a truncated one (record "
                       "%zu): each record is 1 label byte and 3072 pixel bytes", origin, len, len / CIFAR_RECORD,
                       len % CIFAR_RECORD, len / CIFAR_RECORD);
    const size_t k = len / CIFAR_RECORD;
    if ((size_t)ds->n + k > (size_t)INT32_MAX / 2)
        return dc_fail(err, DC_ERR_FORMAT, "%s: too many records", origin);
    for (size_t r = 0; r < k; r++)
        if (buf[r * CIFAR_RECORD] >= n_names)
            return dc_fail(err, DC_ERR_FORMAT, "%s: record %zu has label %d, beyond the %d classes (0..%d)", origin, r,
                           buf[r * CIFAR_RECORD], n_names, n_names - 1);
    if ((size_t)ds->n + k > *cap) {
        size_t nc = (size_t)ds->n + k;
        uint8_t *p = realloc(ds->pixels, nc * CIFAR_PLANE);
        if (p) ds->pixels = p;
        int32_t *l = p ? realloc(ds->labels, nc * sizeof(int32_t)) : NULL;
        if (l) ds->labels = l;
        if (!p || !l) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %zu records", origin, nc);
        *cap = nc;
    }
    for (size_t r = 0; r < k; r++) {
        ds->labels[ds->n] = buf[r * CIFAR_RECORD];
        memcpy(ds->pixels + (size_t)ds->n * CIFAR_PLANE, buf + r * CIFAR_RECORD + 1, CIFAR_PLANE);
        ds->n++;
    }
    ds->c = CIFAR_C;
    ds->h = CIFAR_H;
    ds->w = CIFAR_W;
    return DC_OK;
}

dc_status dc_cifar_parse(dc_dataset *ds, const uint8_t *buf, size_t len, const char *origin, int n_names,
                         dc_error *err) {
    memset(ds, 0, sizeof *ds);
    if (n_names < 1 || n_names > 256) return dc_fail(err, DC_ERR_ARG, "%s: %d class names", origin, n_names);
    size_t cap = 0;
    dc_status st = append(ds, &cap, buf, len, origin, n_names, err);
    if (st) {
        dc_dataset_free(ds);
        return st;
    }
    ds->n_classes = n_names;
    snprintf(ds->source, sizeof ds->source, "%s", origin);
    return DC_OK;
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

static dc_status load_files(dc_dataset *ds, char (*paths)[4096], int n, int n_names, dc_error *err) {
    memset(ds, 0, sizeof *ds);
    size_t cap = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        dc_status st = dc_read_file(paths[i], &buf, &len, (size_t)1 << 32, err);
        if (!st) st = append(ds, &cap, buf, len, paths[i], n_names, err);
        free(buf);
        if (st) {
            dc_dataset_free(ds);
            return st;
        }
    }
    ds->n_classes = n_names;
    return DC_OK;
}

dc_status dc_cifar_load(dc_dataset *train, dc_dataset *test, const char *dir, const dc_data_options *opt,
                        dc_error *err) {
    (void)opt; // --classes is applied by dc_data_open_opts
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    char meta[4096];
    snprintf(meta, sizeof meta, "%s/batches.meta.txt", dir);
    int n_names = 10;
    char **names = NULL;
    dc_status st;
    if (exists(meta) && (st = dc_classes_read(meta, &n_names, &names, err))) return st;
    if (n_names > 256) {
        dc_names_free(names, n_names);
        return dc_fail(err, DC_ERR_FORMAT, "%s: %d class names, but a CIFAR label is one byte", meta, n_names);
    }
    char(*tp)[4096] = malloc(sizeof(char[4096]) * CIFAR_MAX_BATCHES);
    if (!tp) {
        dc_names_free(names, n_names);
        return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    }
    int nb = 0;
    while (nb < CIFAR_MAX_BATCHES) {
        snprintf(tp[nb], 4096, "%s/data_batch_%d.bin", dir, nb + 1);
        if (!exists(tp[nb])) break;
        nb++;
    }
    char testp[1][4096];
    snprintf(testp[0], sizeof testp[0], "%s/test_batch.bin", dir);
    if (nb == 0) st = dc_fail(err, DC_ERR_IO, "%s: no data_batch_1.bin: a CIFAR-10 folder holds data_batch_1.bin .. "
                              "data_batch_5.bin, test_batch.bin and batches.meta.txt", dir);
    else st = load_files(train, tp, nb, n_names, err);
    free(tp);
    if (!st && exists(testp[0]) && (st = load_files(test, testp, 1, n_names, err))) dc_dataset_free(train);
    if (!st && names) {
        if ((st = dc_dataset_set_class_names(train, (const char *const *)names, n_names, err)) ||
            (test->n && (st = dc_dataset_set_class_names(test, (const char *const *)names, n_names, err)))) {
            dc_dataset_free(train);
            dc_dataset_free(test);
        }
    }
    dc_names_free(names, n_names);
    if (st) return st;
    snprintf(train->source, sizeof train->source, "%.480s (CIFAR-10, %d batch%s)", dir, nb, nb == 1 ? "" : "es");
    if (test->n) snprintf(test->source, sizeof test->source, "%.480s/test_batch.bin", dir);
    return DC_OK;
}
