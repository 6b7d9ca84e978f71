// numpy.c — data sets from NumPy arrays: .npy pairs and .npz archives
// (Keras's mnist.npz layout: x_train, y_train, x_test, y_test).
//
// Contract: images are uint8 (taken as they are) or float32/float64 with
// every value in [0, 1] (scaled by 255 and rounded to the nearest byte), of
// shape (N,H,W) (one channel), (N,H,W,C) or (N,C,H,W) (opt->layout; AUTO
// decides by the shape and refuses an ambiguous one); labels are (N) or
// (N,1) integers (any width, signed or not, or bool), each >= 0. Refused
// with the file (and array) named: another dtype, rank or layout, a one-hot
// label matrix, a NaN or out-of-range float pixel, a negative or huge label,
// counts that differ, an array missing from an archive, a truncated file or
// archive entry (libzip checks each entry's CRC). On failure the outputs are
// zeroed.
//
// Why libzip: an .npz is a zip archive (stored or deflated, zip64 for large
// arrays); libzip is Debian's maintained reader of all of that.
#define _POSIX_C_SOURCE 200809L
#include "data/loaders.h"
#include "io/npy.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define NPY_MAX_BYTES ((uint64_t)1 << 34) // one array: 16 GiB

// ---------------------------------------------------------------------------
// Arrays to a dataset

// The images of v into ds (zeroed first): pixels and shape; labels allocated
// (zero) for ds->n samples.
static dc_status images_from(dc_dataset *ds, const dc_npy_view *v, const char *origin, dc_layout layout,
                             dc_error *err) {
    memset(ds, 0, sizeof *ds);
    int64_t N, C, H, W;
    bool nhwc = false;
    if (v->rank == 3) {
        N = v->shape[0], C = 1, H = v->shape[1], W = v->shape[2];
        if (layout != DC_LAYOUT_AUTO)
            return dc_fail(err, DC_ERR_ARG, "%s: --layout applies to rank-4 arrays; this one is (N,H,W) = (%lld,%lld,%lld)",
                           origin, (long long)N, (long long)H, (long long)W);
    } else if (v->rank == 4) {
        const int64_t a = v->shape[1], b = v->shape[3];
        const bool a_ch = a >= 1 && a <= 4, b_ch = b >= 1 && b <= 4;
        if (layout == DC_LAYOUT_NHWC) nhwc = true;
        else if (layout == DC_LAYOUT_NCHW) nhwc = false;
        else if (b_ch && !a_ch) nhwc = true;
        else if (a_ch && !b_ch) nhwc = false;
        else
            return dc_fail(err, DC_ERR_SHAPE, "%s: images of shape (%lld,%lld,%lld,%lld): is that (N,H,W,C) or "
                           "(N,C,H,W)? Say which with --layout nhwc or --layout nchw", origin,
                           (long long)v->shape[0], (long long)a, (long long)v->shape[2], (long long)b);
        N = v->shape[0];
        C = nhwc ? b : a;
        H = nhwc ? a : v->shape[2];
        W = nhwc ? v->shape[2] : b;
    } else {
        return dc_fail(err, DC_ERR_SHAPE, "%s: images of rank %d: expected (N,H,W), (N,H,W,C) or (N,C,H,W)%s", origin,
                       v->rank, v->rank == 2 ? " (a flat (N,D) array: reshape it to (N,H,W) first)" : "");
    }
    if (N < 1 || C < 1 || H < 1 || W < 1)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images array is empty (a zero dimension)", origin);
    if (N > INT32_MAX / 2 || C > 65536 || H > 65536 || W > 65536 || (uint64_t)(N * C) * H * W > DC_DATA_MAX_BYTES)
        return dc_fail(err, DC_ERR_SHAPE, "%s: images array (%lld samples of %lldx%lldx%lld) is too large", origin,
                       (long long)N, (long long)C, (long long)H, (long long)W);
    const bool u8 = v->kind == 'u' && v->itemsize == 1, fl = v->kind == 'f';
    if (!u8 && !fl)
        return dc_fail(err, DC_ERR_FORMAT, "%s: images of dtype '%s': expected uint8 (0..255) or float32/float64 in [0,1]",
                       origin, v->descr);
    const size_t plane = (size_t)(C * H * W), total = plane * (size_t)N;
    ds->pixels = malloc(total);
    ds->labels = calloc((size_t)N, sizeof(int32_t));
    if (!ds->pixels || !ds->labels) {
        dc_dataset_free(ds);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %zu pixel bytes", origin, total);
    }
    for (size_t i = 0; i < total; i++) {
        // element i of the file lands at its (N,C,H,W) place
        size_t dst = i;
        if (nhwc) {
            size_t n = i / plane, r = i % plane, c = r % (size_t)C, hw = r / (size_t)C;
            dst = n * plane + c * (size_t)(H * W) + hw;
        }
        if (u8) {
            ds->pixels[dst] = v->data[i];
            continue;
        }
        double x = dc_npy_view_f64(v, i);
        if (!(x >= 0.0 && x <= 1.0)) {
            dc_dataset_free(ds);
            return dc_fail(err, DC_ERR_FORMAT, "%s: pixel %zu (sample %zu) is %g: float images must hold values in [0,1] "
                           "(divide 0..255 data by 255, or save it as uint8)", origin, i, i / plane, x);
        }
        ds->pixels[dst] = (uint8_t)floor(x * 255.0 + 0.5);
    }
    ds->n = (int)N;
    ds->c = (int)C;
    ds->h = (int)H;
    ds->w = (int)W;
    ds->n_classes = 2;
    return DC_OK;
}

// The labels of v into ds (which already holds ds->n images).
static dc_status labels_from(dc_dataset *ds, const dc_npy_view *v, const char *origin, const char *images,
                             dc_error *err) {
    if (v->rank == 2 && v->shape[1] > 1)
        return dc_fail(err, DC_ERR_SHAPE, "%s: labels of shape (%lld,%lld) look one-hot: give class indices, shape (N) "
                       "(np.argmax(y, axis=1))", origin, (long long)v->shape[0], (long long)v->shape[1]);
    if (!(v->rank == 1 || (v->rank == 2 && v->shape[1] == 1)))
        return dc_fail(err, DC_ERR_SHAPE, "%s: labels of rank %d: expected (N) or (N,1)", origin, v->rank);
    if (v->kind == 'f')
        return dc_fail(err, DC_ERR_FORMAT, "%s: labels of dtype '%s': expected integers (save them with "
                       "y.astype(np.int64))", origin, v->descr);
    if (v->shape[0] != ds->n)
        return dc_fail(err, DC_ERR_SHAPE, "%s: %lld labels for the %d images of %s: the counts must agree", origin,
                       (long long)v->shape[0], ds->n, images);
    int32_t mx = 0;
    for (int i = 0; i < ds->n; i++) {
        int64_t y;
        if (!dc_npy_view_i64(v, (size_t)i, &y) || y < 0 || y > DC_MAX_LABEL)
            return dc_fail(err, DC_ERR_FORMAT, "%s: label %d is %s: expected a class index 0..%d", origin, i,
                           y < 0 ? "negative" : "too large", DC_MAX_LABEL);
        ds->labels[i] = (int32_t)y;
        if (ds->labels[i] > mx) mx = ds->labels[i];
    }
    ds->n_classes = mx + 1 < 2 ? 2 : mx + 1;
    return DC_OK;
}

// images (and labels, may be NULL) held in memory into ds.
static dc_status pair_from(dc_dataset *ds, const uint8_t *ib, size_t il, const char *iname, const uint8_t *lb,
                           size_t ll, const char *lname, const dc_data_options *opt, dc_error *err) {
    dc_npy_view vi, vl;
    dc_status st = dc_npy_view_parse(&vi, ib, il, iname, err);
    if (st) return st;
    if (lb && (st = dc_npy_view_parse(&vl, lb, ll, lname, err))) return st;
    if ((st = images_from(ds, &vi, iname, opt ? opt->layout : DC_LAYOUT_AUTO, err))) return st;
    if (lb) st = labels_from(ds, &vl, lname, iname, err);
    else ds->unlabelled = true;
    if (st) {
        dc_dataset_free(ds);
        return st;
    }
    snprintf(ds->source, sizeof ds->source, "%s", iname);
    return DC_OK;
}

dc_status dc_npy_load_pair(dc_dataset *ds, const char *images_path, const char *labels_path,
                           const dc_data_options *opt, dc_error *err) {
    memset(ds, 0, sizeof *ds);
    uint8_t *ib = NULL, *lb = NULL;
    size_t il = 0, ll = 0;
    dc_status st = dc_read_file(images_path, &ib, &il, (size_t)NPY_MAX_BYTES, err);
    if (st) return st;
    if (labels_path && (st = dc_read_file(labels_path, &lb, &ll, (size_t)NPY_MAX_BYTES, err))) {
        free(ib);
        return st;
    }
    st = pair_from(ds, ib, il, images_path, lb, ll, labels_path, opt, err);
    free(ib);
    free(lb);
    return st;
}

// ---------------------------------------------------------------------------
// .npz

// Reads entry `name` (+ ".npy") of z whole; *buf NULL when it is absent.
static dc_status zip_entry(zip_t *z, const char *origin, const char *name, uint8_t **buf, size_t *len,
                           dc_error *err) {
    *buf = NULL;
    *len = 0;
    char full[64];
    snprintf(full, sizeof full, "%s.npy", name);
    zip_int64_t idx = zip_name_locate(z, full, 0);
    if (idx < 0) return DC_OK;
    zip_stat_t zs;
    zip_stat_init(&zs);
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return dc_fail(err, DC_ERR_FORMAT, "%s: entry %s: %s", origin, full, zip_strerror(z));
    if (zs.size > NPY_MAX_BYTES)
        return dc_fail(err, DC_ERR_FORMAT, "%s: entry %s claims %llu bytes, more than the %llu allowed", origin, full,
                       (unsigned long long)zs.size, (unsigned long long)NPY_MAX_BYTES);
    zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
    if (!f) return dc_fail(err, DC_ERR_FORMAT, "%s: entry %s cannot be read: %s", origin, full, zip_strerror(z));
    // grows with the data, not with the header's claim
    size_t cap = zs.size < ((size_t)1 << 20) ? (size_t)zs.size + 1 : (size_t)1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    dc_status st = b ? DC_OK : dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    while (!st) {
        if (n == cap) {
            size_t nc = cap * 2 > (size_t)zs.size + 1 ? (size_t)zs.size + 1 : cap * 2;
            if (nc <= cap) nc = cap + 1;
            uint8_t *q = realloc(b, nc);
            if (!q) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory reading %s", origin, full);
                break;
            }
            b = q;
            cap = nc;
        }
        zip_int64_t got = zip_fread(f, b + n, cap - n);
        if (got < 0) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: entry %s is corrupt or truncated: %s", origin, full,
                         zip_error_strerror(zip_file_get_error(f)));
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n > zs.size) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: entry %s holds more than the %llu bytes its header declares", origin,
                         full, (unsigned long long)zs.size);
            break;
        }
    }
    if (!st && n != zs.size)
        st = dc_fail(err, DC_ERR_FORMAT, "%s: entry %s is truncated: %zu of its %llu bytes", origin, full, n,
                     (unsigned long long)zs.size);
    zip_fclose(f);
    if (st) {
        free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return DC_OK;
}

static dc_status npz_read(dc_dataset *train, dc_dataset *test, zip_t *z, const char *origin,
                          const dc_data_options *opt, dc_error *err) {
    static const char *const keys[2][4] = {{"x_train", "y_train", "x_test", "y_test"}, {"x", "y", NULL, NULL}};
    uint8_t *b[4] = {0};
    size_t l[4] = {0};
    dc_status st = DC_OK;
    int set = -1;
    for (int s = 0; s < 2 && set < 0 && !st; s++) {
        for (int k = 0; k < 4 && !st; k++)
            if (keys[s][k]) st = zip_entry(z, origin, keys[s][k], &b[k], &l[k], err);
        if (!st && (b[0] || b[1])) set = s;
        else if (!st)
            for (int k = 0; k < 4; k++) free(b[k]), b[k] = NULL;
    }
    if (!st && set < 0) {
        char found[300] = "";
        zip_int64_t ne = zip_get_num_entries(z, 0);
        for (zip_int64_t i = 0; i < ne && strlen(found) < 240; i++) {
            const char *nm = zip_get_name(z, (zip_uint64_t)i, 0);
            if (nm) snprintf(found + strlen(found), sizeof found - strlen(found), "%s%.40s", i ? ", " : "", nm);
        }
        st = dc_fail(err, DC_ERR_FORMAT, "%s: no x_train.npy/y_train.npy (or x.npy/y.npy) arrays; it holds: %s", origin,
                     ne ? found : "nothing");
    }
    const char *const *K = set >= 0 ? keys[set] : keys[0];
    char names[4][600];
    for (int k = 0; k < 4; k++)
        if (K[k]) snprintf(names[k], sizeof names[k], "%.500s:%s", origin, K[k]);
    for (int p = 0; p < 2 && !st; p++)
        if (K[2 * p] && (!b[2 * p]) != (!b[2 * p + 1]))
            st = dc_fail(err, DC_ERR_FORMAT, "%s: has %s but no %s", origin, K[b[2 * p] ? 2 * p : 2 * p + 1],
                         K[b[2 * p] ? 2 * p + 1 : 2 * p]);
    if (!st) st = pair_from(train, b[0], l[0], names[0], b[1], l[1], names[1], opt, err);
    if (!st && b[2] && (st = pair_from(test, b[2], l[2], names[2], b[3], l[3], names[3], opt, err)))
        dc_dataset_free(train);
    for (int k = 0; k < 4; k++) free(b[k]);
    return st;
}

static dc_status zip_open_error(const char *origin, zip_error_t *ze, dc_error *err) {
    int code = zip_error_code_zip(ze);
    dc_status st = dc_fail(err, code == ZIP_ER_MEMORY ? DC_ERR_NOMEM : DC_ERR_FORMAT,
                           "%s: not a readable .npz (zip) archive: %s", origin, zip_error_strerror(ze));
    zip_error_fini(ze);
    return st;
}

dc_status dc_npz_parse(dc_dataset *train, dc_dataset *test, const uint8_t *buf, size_t len, const char *origin,
                       const dc_data_options *opt, dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    zip_error_t ze;
    zip_error_init(&ze);
    if (len == 0) return dc_fail(err, DC_ERR_FORMAT, "%s: is empty (0 bytes): expected an .npz (zip) archive", origin);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
    if (!src) return zip_open_error(origin, &ze, err);
    zip_t *z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        zip_source_free(src);
        return zip_open_error(origin, &ze, err);
    }
    zip_error_fini(&ze);
    dc_status st = npz_read(train, test, z, origin, opt, err);
    zip_discard(z); // also frees src
    return st;
}

dc_status dc_npz_load(dc_dataset *train, dc_dataset *test, const char *path, const dc_data_options *opt,
                      dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    struct stat sb;
    if (stat(path, &sb) != 0) return dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return dc_fail(err, DC_ERR_IO, "%s: is a folder, expected an .npz file", path);
    if (sb.st_size == 0) return dc_fail(err, DC_ERR_FORMAT, "%s: is empty (0 bytes): expected an .npz (zip) archive", path);
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        return code == ZIP_ER_OPEN || code == ZIP_ER_READ
                   ? (zip_error_fini(&ze), dc_fail(err, DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno)))
                   : zip_open_error(path, &ze, err);
    }
    dc_status st = npz_read(train, test, z, path, opt, err);
    zip_discard(z);
    return st;
}
