// dataset.c — finding data sets on disk (which loader reads a name, file or
// folder), checking, splitting, truncating, freeing them, the class list,
// and gathering normalised float batches from them.
//
// Contract: a dc_dataset owns its pixel bytes (n,c,h,w), int32 labels (n)
// and class names; dc_dataset_free releases them and leaves the struct
// zeroed, so freeing a zeroed or already-freed dataset is harmless. Every
// failing call leaves its outputs zeroed (or, for dc_dataset_split, `train`
// untouched).
//
// Spec strings for dc_data_open: "fashion-mnist" is Debian's
// dataset-fashion-mnist under /usr/share/datasets/fashion-mnist, "mnist" is
// /usr/share/datasets/mnist when present; a file is read by its extension
// (.csv, .npz); a folder by what it holds, in this order: IDX files (the
// four standard files; uncompressed ones win over .gz when both exist,
// because they load faster and a user who unpacked them means them), CIFAR-10
// binary batches, NumPy x_train.npy/y_train.npy, an image folder.
//
// Legend: N samples, C channels, H height, W width.
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "data/data.h"
#include "data/loaders.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
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

// Whether dir holds any of the four IDX files (so that a folder missing
// one of them is reported as an IDX folder missing a file).
static bool has_idx_file(const char *dir) {
    char p[4096];
    for (int i = 0; i < 4; i++)
        if (find_file(p, sizeof p, dir, i, NULL) == DC_OK) return true;
    return false;
}

static dc_status idx_folder_load(dc_dataset *train, dc_dataset *test, const char *dir, const named_set *named,
                                 dc_error *err) {
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

static const char *const k_fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k) return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[n - k + i]) != suffix[i]) return false;
    return true;
}

static bool file_in(const char *dir, const char *name) {
    char p[4096];
    int k = snprintf(p, sizeof p, "%s/%s", dir, name);
    return k > 0 && (size_t)k < sizeof p && is_file(p);
}

static const char *k_data_hint =
    "give fashion-mnist, mnist, a .csv or .npz file, or a folder of IDX files, CIFAR-10 batches, "
    "x_train.npy/y_train.npy or class folders of images";

// Which loader reads spec.
static dc_status open_any(dc_dataset *train, dc_dataset *test, const char *spec, const dc_data_options *opt,
                          dc_error *err) {
    const named_set *named = NULL;
    for (size_t i = 0; i < sizeof k_named_sets / sizeof k_named_sets[0]; i++)
        if (strcmp(spec, k_named_sets[i].name) == 0) named = &k_named_sets[i];
    if (named && is_dir(named->dir)) {
        dc_status st = idx_folder_load(train, test, named->dir, named, err);
        if (!st && !strcmp(named->name, "fashion-mnist") && train->n_classes == 10 && !opt->classes) {
            if ((st = dc_dataset_set_class_names(train, k_fashion_names, 10, err)) ||
                (st = dc_dataset_set_class_names(test, k_fashion_names, 10, err))) {
                dc_dataset_free(train);
                dc_dataset_free(test);
            }
        }
        return st;
    }
    struct stat sb;
    if (stat(spec, &sb) != 0) {
        if (named)
            return dc_fail(err, DC_ERR_IO, "%s: data set not found (no folder %s): %s", spec, named->dir,
                           named->install);
        return dc_fail(err, DC_ERR_IO, "%s: no such folder or file (%s): %s", spec, strerror(errno), k_data_hint);
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (ends_with_ci(spec, ".csv")) return dc_csv_load(train, spec, opt, err);
        if (ends_with_ci(spec, ".npz")) return dc_npz_load(train, test, spec, opt, err);
        if (ends_with_ci(spec, ".npy"))
            return dc_fail(err, DC_ERR_ARG, "%s: a single .npy holds no labels: put x_train.npy and y_train.npy (and "
                           "x_test.npy, y_test.npy) in a folder and give the folder, or use an .npz", spec);
        return dc_fail(err, DC_ERR_ARG, "%s: not a folder, nor a .csv or .npz file: %s", spec, k_data_hint);
    }
    if (has_idx_file(spec)) return idx_folder_load(train, test, spec, NULL, err);
    if (file_in(spec, "data_batch_1.bin") || file_in(spec, "test_batch.bin"))
        return dc_cifar_load(train, test, spec, opt, err);
    if (file_in(spec, "x_train.npy") || file_in(spec, "y_train.npy")) {
        char xi[4096], yi[4096], xt[4096], yt[4096];
        snprintf(xi, sizeof xi, "%s/x_train.npy", spec);
        snprintf(yi, sizeof yi, "%s/y_train.npy", spec);
        snprintf(xt, sizeof xt, "%s/x_test.npy", spec);
        snprintf(yt, sizeof yt, "%s/y_test.npy", spec);
        dc_status st = dc_npy_load_pair(train, xi, yi, opt, err);
        if (st || (!is_file(xt) && !is_file(yt))) return st;
        if ((st = dc_npy_load_pair(test, xt, yt, opt, err))) dc_dataset_free(train);
        return st;
    }
    return dc_image_folder_load(train, test, spec, opt, err);
}

dc_status dc_data_open_opts(dc_dataset *train, dc_dataset *test, const char *spec, const dc_data_options *opt,
                            dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    dc_data_options def = dc_data_options_default();
    if (!opt) opt = &def;
    if (!spec || !spec[0])
        return dc_fail(err, DC_ERR_ARG, "data: empty data set name: %s", k_data_hint);
    dc_status st = open_any(train, test, spec, opt, err);
    if (st) return st;
    // both halves: the same shape, one class count (a test set may lack the
    // top class), the class list of either, or of --classes
    if (test->n > 0 && (train->c != test->c || train->h != test->h || train->w != test->w)) {
        st = dc_fail(err, DC_ERR_SHAPE, "%s: train images are %dx%dx%d (CxHxW) but test images are %dx%dx%d: both must "
                     "have the same shape", spec, train->c, train->h, train->w, test->c, test->h, test->w);
    } else if (opt->classes) {
        int k = 0;
        char **names = NULL;
        st = dc_classes_read(opt->classes, &k, &names, err);
        if (!st) st = dc_dataset_apply_classes(train, k, names, train->source, err);
        if (!st && test->n > 0) st = dc_dataset_apply_classes(test, k, names, test->source, err);
        dc_names_free(names, k);
    } else if (test->n > 0) {
        int nc = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
        if (train->class_names && nc != train->n_classes)
            st = dc_fail(err, DC_ERR_FORMAT, "%s: test labels go up to %d, beyond the %d named classes", spec, nc - 1,
                         train->n_classes);
        train->n_classes = test->n_classes = nc;
        if (!st && train->class_names && !test->class_names)
            st = dc_dataset_set_class_names(test, (const char *const *)train->class_names, nc, err);
    }
    if (st) {
        dc_dataset_free(train);
        dc_dataset_free(test);
    }
    return st;
}

dc_status dc_data_open(dc_dataset *train, dc_dataset *test, const char *spec, dc_error *err) {
    return dc_data_open_opts(train, test, spec, NULL, err);
}

dc_data_options dc_data_options_default(void) {
    dc_data_options o;
    memset(&o, 0, sizeof o);
    o.layout = DC_LAYOUT_AUTO;
    return o;
}

const char *dc_data_named_available(void) {
    // a static table of the four possible answers: no mutable state
    const bool f = is_dir(k_named_sets[0].dir), m = is_dir(k_named_sets[1].dir);
    return f && m ? "fashion-mnist, mnist" : f ? "fashion-mnist" : m ? "mnist" : "";
}

int dc_data_threads(const dc_data_options *opt) {
    return opt && opt->nthreads > 0 ? opt->nthreads : dc_default_threads();
}

// ---------------------------------------------------------------------------
// Growing buffers, class lists

dc_status dc_grow_init(dc_grow *g, dc_dataset *ds, int c, int h, int w, size_t hint, const char *origin,
                       dc_error *err) {
    memset(ds, 0, sizeof *ds);
    g->ds = ds;
    g->plane = (size_t)c * h * w;
    g->cap = hint < 1 ? 1 : hint;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->pixels = malloc(g->cap * g->plane);
    ds->labels = malloc(g->cap * sizeof(int32_t));
    if (!ds->pixels || !ds->labels) {
        dc_dataset_free(ds);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    }
    return DC_OK;
}

uint8_t *dc_grow_next(dc_grow *g, const char *origin, dc_error *err) {
    dc_dataset *ds = g->ds;
    if ((size_t)ds->n == g->cap) {
        if (ds->n >= INT32_MAX / 2 || (uint64_t)g->cap * 2 * g->plane > DC_DATA_MAX_BYTES) {
            dc_fail(err, DC_ERR_NOMEM, "%s: more than %d samples or %llu bytes of pixels: too large", origin, ds->n,
                    (unsigned long long)DC_DATA_MAX_BYTES);
            return NULL;
        }
        // realloc: large blocks move by remapping pages, so the peak stays
        // near the final size
        uint8_t *np = realloc(ds->pixels, 2 * g->cap * g->plane);
        if (np) ds->pixels = np;
        int32_t *nl = np ? realloc(ds->labels, 2 * g->cap * sizeof(int32_t)) : NULL;
        if (nl) ds->labels = nl;
        if (!np || !nl) {
            dc_fail(err, DC_ERR_NOMEM, "%s: out of memory after %d samples", origin, ds->n);
            return NULL;
        }
        g->cap *= 2;
    }
    return ds->pixels + (size_t)ds->n * g->plane;
}

void dc_names_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

dc_status dc_classes_read(const char *spec, int *k, char ***names, dc_error *err) {
    *k = 0;
    *names = NULL;
    size_t sl = strlen(spec);
    if (sl > 0 && strspn(spec, "0123456789") == sl) {
        long v = strtol(spec, NULL, 10);
        if (sl > 6 || v < 2 || v > DC_MAX_LABEL + 1)
            return dc_fail(err, DC_ERR_ARG, "--classes %s: expected a class count 2..%d or a file of class names",
                           spec, DC_MAX_LABEL + 1);
        *k = (int)v;
        return DC_OK;
    }
    uint8_t *buf;
    size_t len;
    dc_status st = dc_read_file(spec, &buf, &len, (size_t)16 << 20, err);
    if (st) return st;
    // one name per line, surrounding spaces trimmed; blank lines only at the end
    char **nm = NULL;
    int n = 0, cap = 0, blank_at = 0;
    size_t pos = 0;
    long line = 0;
    while (pos < len && !st) {
        size_t e = pos;
        while (e < len && buf[e] != '\n') e++;
        line++;
        size_t a = pos, b = e;
        while (a < b && isspace(buf[a])) a++;
        while (b > a && isspace(buf[b - 1])) b--;
        pos = e + 1;
        if (memchr(buf + a, 0, b - a)) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: line %ld holds a NUL byte: expected one class name per line", spec, line);
            break;
        }
        if (a == b) {
            if (!blank_at) blank_at = (int)line;
            continue;
        }
        if (blank_at) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: line %d is blank but line %ld names a class: one class name per line, "
                         "blank lines only at the end", spec, blank_at, line);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **q = realloc(nm, sizeof(char *) * (size_t)cap);
            if (!q) {
                st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", spec);
                break;
            }
            nm = q;
        }
        if (!(nm[n] = strndup((const char *)buf + a, b - a))) {
            st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", spec);
            break;
        }
        n++;
        if (n > DC_MAX_LABEL + 1) st = dc_fail(err, DC_ERR_FORMAT, "%s: more than %d class names", spec, DC_MAX_LABEL + 1);
    }
    free(buf);
    if (!st && n < 2) st = dc_fail(err, DC_ERR_FORMAT, "%s: %d class name%s: expected one per line, at least 2", spec, n,
                                   n == 1 ? "" : "s");
    if (st) {
        dc_names_free(nm, n);
        return st;
    }
    *k = n;
    *names = nm;
    return DC_OK;
}

void dc_dataset_count_classes(dc_dataset *ds) {
    int32_t mx = 0;
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] > mx) mx = ds->labels[i];
    ds->n_classes = mx + 1 < 2 ? 2 : mx + 1;
}

dc_status dc_dataset_apply_classes(dc_dataset *ds, int k, char *const *names, const char *what, dc_error *err) {
    if (!ds->unlabelled)
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= k)
                return dc_fail(err, DC_ERR_FORMAT, "%s: sample %d has label %d, outside the %d classes (0..%d) that "
                               "--classes gives", what, i, (int)ds->labels[i], k, k - 1);
    if (names) return dc_dataset_set_class_names(ds, (const char *const *)names, k, err);
    for (int i = 0; ds->class_names && i < ds->n_classes; i++) free(ds->class_names[i]);
    free(ds->class_names);
    ds->class_names = NULL;
    ds->n_classes = k;
    return DC_OK;
}

dc_status dc_dataset_set_class_names(dc_dataset *ds, const char *const *names, int n, dc_error *err) {
    if (n < 1) return dc_fail(err, DC_ERR_ARG, "%s: %d class names", ds->source, n);
    if (!ds->unlabelled)
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= n)
                return dc_fail(err, DC_ERR_FORMAT, "%s: sample %d has label %d, beyond the %d class names", ds->source,
                               i, (int)ds->labels[i], n);
    char **cp = calloc((size_t)n, sizeof(char *));
    if (!cp) return dc_fail(err, DC_ERR_NOMEM, "out of memory for class names");
    for (int i = 0; i < n; i++)
        if (!(cp[i] = strdup(names[i]))) {
            dc_names_free(cp, n);
            return dc_fail(err, DC_ERR_NOMEM, "out of memory for class names");
        }
    dc_names_free(ds->class_names, ds->n_classes);
    ds->class_names = cp;
    ds->n_classes = n;
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

void dc_split_mask(uint8_t *is_val, int32_t *perm, int n, int n_val, uint64_t seed) {
    for (int i = 0; i < n; i++) perm[i] = i;
    dc_rng rng = dc_rng_stream(seed, DC_SPLIT_STREAM, 0);
    dc_rng_shuffle_i32(&rng, perm, (size_t)n);
    memset(is_val, 0, (size_t)n);
    for (int i = 0; i < n_val; i++) is_val[perm[i]] = 1;
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
    dc_split_mask(is_val, perm, n, n_val, seed);
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
    val->unlabelled = train->unlabelled;
    if (train->class_names &&
        dc_dataset_set_class_names(val, (const char *const *)train->class_names, train->n_classes, NULL)) {
        dc_dataset_free(val);
        dc_free(tpx);
        dc_free(tlb);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory splitting %d samples", train->source, n);
    }
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
    dc_names_free(ds->class_names, ds->n_classes);
    dc_free(ds->pixels);
    dc_free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

// ---------------------------------------------------------------------------
// Batches

void dc_batch_gather(float *x, int32_t *y, const dc_dataset *ds,
                     const int32_t *idx, int n, const float *mean, const float *std) {
    // x is (n, c, h, w) floats; ds->pixels is (N, c, h, w) bytes.
    // A 256-entry table per channel computes the formula once per byte
    // value, with the same float operations as the per-pixel expression
    // (same bits).
    const int C = ds->c;
    const size_t hw = (size_t)ds->h * ds->w, plane = (size_t)C * hw;
    float lut1[256], *lut = lut1;
    bool same = true;
    for (int k = 1; k < C; k++) same = same && mean[k] == mean[0] && std[k] == std[0];
    const int nl = same ? 1 : C;
    if (nl > 1 && !(lut = malloc(sizeof(float) * 256 * (size_t)nl))) {
        // no memory for the tables: the formula per pixel gives the same bits
        for (int k = 0; k < n; k++) {
            DC_ASSERT(idx[k] >= 0 && idx[k] < ds->n);
            const uint8_t *src = ds->pixels + plane * (size_t)idx[k];
            for (size_t i = 0; i < plane; i++) {
                const size_t ch = i / hw;
                x[plane * (size_t)k + i] = ((float)src[i] / 255.0f - mean[ch]) / std[ch];
            }
            if (y) y[k] = ds->labels[idx[k]];
        }
        return;
    }
    for (int c = 0; c < nl; c++)
        for (int v = 0; v < 256; v++) lut[256 * c + v] = ((float)v / 255.0f - mean[c]) / std[c];
    for (int k = 0; k < n; k++) {
        DC_ASSERT(idx[k] >= 0 && idx[k] < ds->n);
        const uint8_t *src = ds->pixels + plane * (size_t)idx[k];
        float *dst = x + plane * (size_t)k;
        if (nl == 1)
            for (size_t i = 0; i < plane; i++) dst[i] = lut[src[i]];
        else
            for (int c = 0; c < C; c++) {
                const float *l = lut + 256 * c;
                for (size_t i = (size_t)c * hw; i < (size_t)(c + 1) * hw; i++) dst[i] = l[src[i]];
            }
        if (y) y[k] = ds->labels[idx[k]];
    }
    if (lut != lut1) free(lut);
}
