// dataset.c — finding data sets on disk, checking, splitting, truncating,
// freeing them, and gathering normalised float batches from them.
//
// Contract: a dc_dataset owns its pixel bytes (n,c,h,w) and int32 labels (n);
// dc_dataset_free releases both and leaves the struct zeroed, so freeing a
// zeroed or already-freed dataset is harmless. Every failing call leaves its
// outputs zeroed (or, for dc_dataset_split, `train` untouched).
//
// Spec strings for dc_data_open: "fashion-mnist" is Debian's
// dataset-fashion-mnist under /usr/share/datasets/fashion-mnist, "mnist" is
// /usr/share/datasets/mnist when present; anything else (or a named set whose
// system folder is missing but a folder of that name exists) is a folder
// holding the four standard files. Uncompressed files win over .gz when both
// exist, because they load faster and a user who unpacked them means them.
//
// Legend: N samples, C channels, H height, W width.
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

// Stream id for the validation split's shuffle (any constant distinct from
// the trainer's streams; "SPLIT" in ASCII).
#define DC_SPLIT_STREAM 0x53504c4954ull

// ---------------------------------------------------------------------------
// Locating the files

typedef struct named_set {
    const char *name;    // spec string
    const char *dir;     // system folder
    const char *install; // how to get it, or NULL
} named_set;

static const named_set k_named_sets[] = {
    {"fashion-mnist", "/usr/share/datasets/fashion-mnist",
     "install it with: apt-get install dataset-fashion-mnist"},
    {"mnist", "/usr/share/datasets/mnist",
     "no Debian package ships MNIST: put train-images-idx3-ubyte[.gz], "
     "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and "
     "t10k-labels-idx1-ubyte[.gz] in a folder and pass the folder"},
};

// The four standard files: canonical name and the dotted variant some
// mirrors use ("train-images.idx3-ubyte").
enum { F_TRAIN_IMAGES, F_TRAIN_LABELS, F_TEST_IMAGES, F_TEST_LABELS };
static const char *const k_files[4][2] = {
    {"train-images-idx3-ubyte", "train-images.idx3-ubyte"},
    {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"},
    {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"},
    {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"},
};

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

// Finds file `which` in dir: plain before .gz, canonical before dotted.
static dc_status find_file(char *out, size_t cap, const char *dir, int which,
                           dc_error *err) {
    for (int v = 0; v < 2; v++) {
        for (int z = 0; z < 2; z++) {
            int k = snprintf(out, cap, "%s/%s%s", dir, k_files[which][v],
                             z ? ".gz" : "");
            if (k < 0 || (size_t)k >= cap)
                return dc_fail(err, DC_ERR_ARG, "%s: folder path too long", dir);
            if (is_file(out)) return DC_OK;
        }
    }
    out[0] = 0;
    return dc_fail(err, DC_ERR_IO,
                   "%s: missing %s[.gz] (also looked for %s[.gz]); a data folder "
                   "needs train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                   "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may "
                   "be .gz)",
                   dir, k_files[which][0], k_files[which][1]);
}

dc_status dc_data_open(dc_dataset *train, dc_dataset *test, const char *spec,
                       dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!spec || !spec[0])
        return dc_fail(err, DC_ERR_ARG,
                       "data: empty data set name: give \"fashion-mnist\", "
                       "\"mnist\" or a folder with the four IDX files");

    const char *dir = spec;
    const named_set *named = NULL;
    for (size_t i = 0; i < sizeof k_named_sets / sizeof k_named_sets[0]; i++)
        if (strcmp(spec, k_named_sets[i].name) == 0) named = &k_named_sets[i];
    if (named && is_dir(named->dir)) {
        dir = named->dir;
    } else if (!is_dir(spec)) {
        struct stat sb;
        if (named)
            return dc_fail(err, DC_ERR_IO, "%s: data set not found (no folder %s): %s",
                           spec, named->dir, named->install);
        if (stat(spec, &sb) == 0)
            return dc_fail(err, DC_ERR_ARG,
                           "%s: not a folder: give \"fashion-mnist\", \"mnist\" "
                           "or a folder with the four IDX files", spec);
        return dc_fail(err, DC_ERR_IO,
                       "%s: no such folder (%s): give \"fashion-mnist\", "
                       "\"mnist\" or a folder with the four IDX files",
                       spec, strerror(errno));
    }

    char paths[4][4096];
    for (int i = 0; i < 4; i++) {
        dc_status st = find_file(paths[i], sizeof paths[i], dir, i, err);
        if (st) return st;
    }
    dc_status st = dc_idx_load(train, paths[F_TRAIN_IMAGES], paths[F_TRAIN_LABELS], err);
    if (st) return st;
    st = dc_idx_load(test, paths[F_TEST_IMAGES], paths[F_TEST_LABELS], err);
    if (st) {
        dc_dataset_free(train);
        return st;
    }
    if (train->c != test->c || train->h != test->h || train->w != test->w) {
        st = dc_fail(err, DC_ERR_SHAPE,
                     "%s: train images are %dx%dx%d (CxHxW) but test images are "
                     "%dx%dx%d (%s vs %s): both must have the same shape",
                     dir, train->c, train->h, train->w, test->c, test->h, test->w,
                     paths[F_TRAIN_IMAGES], paths[F_TEST_IMAGES]);
        dc_dataset_free(train);
        dc_dataset_free(test);
        return st;
    }
    // One class count for both halves: a test set may lack the top class.
    int nc = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    train->n_classes = test->n_classes = nc;
    if (named) {
        snprintf(train->source, sizeof train->source, "%s train (%.400s)", named->name,
                 paths[F_TRAIN_IMAGES]);
        snprintf(test->source, sizeof test->source, "%s test (%.400s)", named->name,
                 paths[F_TEST_IMAGES]);
    }
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Checks and reshaping

dc_status dc_dataset_check_labels(const dc_dataset *ds, int n_classes,
                                  dc_error *err) {
    if (n_classes < 1)
        return dc_fail(err, DC_ERR_ARG, "%s: class count %d must be at least 1",
                       ds->source, n_classes);
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= n_classes)
            return dc_fail(err, DC_ERR_FORMAT,
                           "%s: label %d of sample %d is outside the %d classes "
                           "(0..%d) the model expects: wrong data set for this "
                           "model?",
                           ds->source, (int)ds->labels[i], i, n_classes,
                           n_classes - 1);
    return DC_OK;
}

dc_status dc_dataset_split(dc_dataset *train, dc_dataset *val, double fraction,
                           uint64_t seed, dc_error *err) {
    DC_ASSERT(train != val);
    memset(val, 0, sizeof *val);
    if (!(fraction > 0.0 && fraction < 1.0))
        return dc_fail(err, DC_ERR_ARG,
                       "%s: validation fraction %g must be between 0 and 1 "
                       "(exclusive), e.g. 0.1",
                       train->source, fraction);
    int n = train->n;
    int n_val = (int)floor(fraction * n + 0.5);
    int n_tr = n - n_val;
    if (n_val < 1 || n_tr < 1)
        return dc_fail(err, DC_ERR_ARG,
                       "%s: a validation fraction of %g of %d samples leaves "
                       "%d for validation and %d for training: both need at "
                       "least one",
                       train->source, fraction, n, n_val, n_tr);

    size_t plane = (size_t)train->c * train->h * train->w;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *is_val = calloc((size_t)n, 1);
    uint8_t *vpx = dc_alloc(plane * (size_t)n_val);
    int32_t *vlb = dc_alloc(sizeof(int32_t) * (size_t)n_val);
    uint8_t *tpx = dc_alloc(plane * (size_t)n_tr);
    int32_t *tlb = dc_alloc(sizeof(int32_t) * (size_t)n_tr);
    if (!perm || !is_val || !vpx || !vlb || !tpx || !tlb) {
        free(perm);
        free(is_val);
        dc_free(vpx);
        dc_free(vlb);
        dc_free(tpx);
        dc_free(tlb);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory splitting %d samples",
                       train->source, n);
    }

    // The first n_val of a seeded permutation go to validation; both parts
    // then keep their original relative order (so a split is a pure
    // function of (n, fraction, seed), independent of how it is consumed).
    for (int i = 0; i < n; i++) perm[i] = i;
    dc_rng rng = dc_rng_stream(seed, DC_SPLIT_STREAM, 0);
    dc_rng_shuffle_i32(&rng, perm, (size_t)n);
    for (int i = 0; i < n_val; i++) is_val[perm[i]] = 1;
    int kv = 0, kt = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = train->pixels + plane * (size_t)i;
        if (is_val[i]) {
            memcpy(vpx + plane * (size_t)kv, src, plane);
            vlb[kv++] = train->labels[i];
        } else {
            memcpy(tpx + plane * (size_t)kt, src, plane);
            tlb[kt++] = train->labels[i];
        }
    }
    free(perm);
    free(is_val);

    val->n = n_val;
    val->c = train->c;
    val->h = train->h;
    val->w = train->w;
    val->n_classes = train->n_classes;
    val->pixels = vpx;
    val->labels = vlb;
    snprintf(val->source, sizeof val->source, "%.400s [val %.3f, seed %llu]",
             train->source, fraction, (unsigned long long)seed);

    dc_free(train->pixels);
    dc_free(train->labels);
    train->pixels = tpx;
    train->labels = tlb;
    train->n = n_tr;
    char old[sizeof train->source];
    memcpy(old, train->source, sizeof old);
    snprintf(train->source, sizeof train->source, "%.400s [train %.3f, seed %llu]",
             old, 1.0 - fraction, (unsigned long long)seed);
    return DC_OK;
}

void dc_dataset_truncate(dc_dataset *ds, int n) {
    // Memory is kept: truncation is for quick runs, not for saving space.
    if (n >= 0 && n < ds->n) ds->n = n;
}

void dc_dataset_free(dc_dataset *ds) {
    if (!ds) return;
    dc_free(ds->pixels);
    dc_free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

// ---------------------------------------------------------------------------
// Batches

void dc_batch_gather(float *x, int32_t *y, const dc_dataset *ds,
                     const int32_t *idx, int n, float mean, float std) {
    // x is (n, c, h, w) floats; ds->pixels is (N, c, h, w) bytes.
    // A 256-entry table computes the formula once per byte value, with the
    // same float operations as the per-pixel expression (same bits).
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean) / std;
    size_t plane = (size_t)ds->c * ds->h * ds->w;
    for (int k = 0; k < n; k++) {
        DC_ASSERT(idx[k] >= 0 && idx[k] < ds->n);
        const uint8_t *src = ds->pixels + plane * (size_t)idx[k];
        float *dst = x + plane * (size_t)k;
        for (size_t i = 0; i < plane; i++) dst[i] = lut[src[i]];
        if (y) y[k] = ds->labels[idx[k]];
    }
}
