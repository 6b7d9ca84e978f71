// imagefolder.c — data sets from folders of images in torchvision's
// ImageFolder layout, decoded in parallel into bytes like the IDX sets.
//
// Contract: dir holds either train/ and test/ (or val/), each with one
// folder per class, or the class folders themselves (one split: train). The
// classes are the training split's class folders sorted by name (their
// indices are the labels, as torchvision's find_classes gives them); a test
// class must be one of them. Inside a class folder the images are found
// recursively and taken in the order torchvision's make_dataset walks them
// (folders sorted by path, files sorted within each); a file counts as an
// image by its extension (.png .jpg .jpeg .pgm .ppm .pnm, and .bmp .tif
// .tiff .webp, which torchvision would also try and deepc refuses by name),
// any case; other files and hidden entries (a leading '.') are ignored.
// Every image is converted to opt->channels (default: 1 when every image is
// gray, else 3) and resized to opt->height x opt->width (default: the size
// every image must then share), as io/image.c describes. A file that cannot
// be read or decoded is an error naming it, or with opt->skip_bad is left
// out and counted in ds->skipped. A class folder without images is an error.
//
// Two passes over the files, both parallel (OpenMP, dynamic schedule): the
// first reads each header (size, gray or not) when the channels or size are
// to be found, the second decodes each file into its slot of the (N,C,H,W)
// buffer. A failing file's message is recomputed serially afterwards, so the
// error reported is always the first bad file in order, whatever the threads.
#define _POSIX_C_SOURCE 200809L
#include "data/loaders.h"
#include "io/image.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_IMAGE_FILE ((size_t)1 << 28) // 256 MiB: no sane training image is larger
#define MAX_DEPTH 32                     // folder nesting (and symlink loops) bound

static const char *const k_ext[] = {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm",
                                    ".bmp", ".tif", ".tiff", ".webp"};

static bool is_image_name(const char *name) {
    size_t n = strlen(name);
    for (size_t e = 0; e < sizeof k_ext / sizeof *k_ext; e++) {
        size_t k = strlen(k_ext[e]);
        if (n <= k) continue;
        bool eq = true;
        for (size_t i = 0; i < k && eq; i++) eq = tolower((unsigned char)name[n - k + i]) == k_ext[e][i];
        if (eq) return true;
    }
    return false;
}

// ---------------------------------------------------------------------------
// A growable list of strings

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;

static bool sl_push(strlist *l, char *s) {
    if (!s) return false;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        char **q = realloc(l->v, sizeof(char *) * (size_t)nc);
        if (!q) {
            free(s);
            return false;
        }
        l->v = q;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return true;
}

static void sl_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

// The non-hidden entries of dir, sorted, split into folders and files.
static dc_status list_dir(const char *dir, strlist *dirs, strlist *files, dc_error *err) {
    DIR *d = opendir(dir);
    if (!d) return dc_fail(err, DC_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    dc_status st = DC_OK;
    errno = 0;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; // ".", "..", hidden entries
        char *p = join(dir, e->d_name);
        struct stat sb;
        if (!p) st = dc_fail(err, DC_ERR_NOMEM, "out of memory listing %s", dir);
        else if (stat(p, &sb) != 0) { // a dangling symlink: nothing to read
            free(p);
        } else if (S_ISDIR(sb.st_mode)) {
            if (dirs && !sl_push(dirs, p)) st = dc_fail(err, DC_ERR_NOMEM, "out of memory listing %s", dir);
            else if (!dirs) free(p);
        } else {
            if (files && !sl_push(files, p)) st = dc_fail(err, DC_ERR_NOMEM, "out of memory listing %s", dir);
            else if (!files) free(p);
        }
        errno = 0;
    }
    if (!st && errno) st = dc_fail(err, DC_ERR_IO, "%s: error listing the folder: %s", dir, strerror(errno));
    closedir(d);
    if (dirs && dirs->n > 1) qsort(dirs->v, (size_t)dirs->n, sizeof(char *), cmp_str);
    if (files && files->n > 1) qsort(files->v, (size_t)files->n, sizeof(char *), cmp_str);
    return st;
}

// Every folder at or below dir (dir first), to MAX_DEPTH.
static dc_status all_dirs(const char *dir, strlist *out, int depth, dc_error *err) {
    if (depth > MAX_DEPTH)
        return dc_fail(err, DC_ERR_FORMAT, "%s: folders nested more than %d deep (a symlink loop?)", dir, MAX_DEPTH);
    char *self = strdup(dir);
    if (!sl_push(out, self)) return dc_fail(err, DC_ERR_NOMEM, "out of memory listing %s", dir);
    strlist sub = {0};
    dc_status st = list_dir(dir, &sub, NULL, err);
    for (int i = 0; i < sub.n && !st; i++) st = all_dirs(sub.v[i], out, depth + 1, err);
    sl_free(&sub);
    return st;
}

// Appends the images under dir in make_dataset's order: sorted(os.walk(dir))
// sorts the folders by their path, then each folder's files by name.
static dc_status walk_images(const char *dir, strlist *out, dc_error *err) {
    strlist dirs = {0};
    dc_status st = all_dirs(dir, &dirs, 0, err);
    if (!st && dirs.n > 1) qsort(dirs.v, (size_t)dirs.n, sizeof(char *), cmp_str);
    for (int i = 0; i < dirs.n && !st; i++) {
        strlist files = {0};
        st = list_dir(dirs.v[i], NULL, &files, err);
        for (int k = 0; k < files.n && !st; k++) {
            if (!is_image_name(files.v[k])) continue;
            if (!sl_push(out, files.v[k])) st = dc_fail(err, DC_ERR_NOMEM, "out of memory listing %s", dir);
            files.v[k] = NULL;
        }
        sl_free(&files);
    }
    sl_free(&dirs);
    return st;
}

dc_status dc_image_list(char ***paths, int *n, const char *dir, dc_error *err) {
    *paths = NULL;
    *n = 0;
    strlist l = {0};
    dc_status st = walk_images(dir, &l, err);
    if (st) {
        sl_free(&l);
        return st;
    }
    *paths = l.v;
    *n = l.n;
    return DC_OK;
}

void dc_image_list_free(char **paths, int n) {
    strlist l = {paths, n, n};
    sl_free(&l);
}

// ---------------------------------------------------------------------------
// One split

typedef struct split_files {
    strlist paths;
    int32_t *labels; // (paths.n)
} split_files;

// The class folders of root (sorted names) and every image under them.
static dc_status scan_split(split_files *sf, strlist *classes, const char *root, const strlist *known,
                            dc_error *err) {
    memset(sf, 0, sizeof *sf);
    strlist cdirs = {0};
    dc_status st = list_dir(root, &cdirs, NULL, err);
    if (!st && cdirs.n == 0)
        st = dc_fail(err, DC_ERR_FORMAT, "%s: no class folders: an image folder holds one folder per class "
                     "(ROOT/CLASS/*.png|jpg), or train/ and test/ folders laid out so", root);
    int cap = 0;
    for (int c = 0; c < cdirs.n && !st; c++) {
        const char *name = strrchr(cdirs.v[c], '/') + 1;
        int label = c;
        if (known) { // the test split: labels are the training split's
            label = -1;
            for (int k = 0; k < known->n; k++)
                if (!strcmp(known->v[k], name)) label = k;
            if (label < 0) {
                st = dc_fail(err, DC_ERR_FORMAT, "%s: class folder '%s' is not among the %d training classes", root, name,
                             known->n);
                break;
            }
        } else if (!sl_push(classes, strdup(name))) {
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            break;
        }
        const int before = sf->paths.n;
        if ((st = walk_images(cdirs.v[c], &sf->paths, err))) break;
        if (sf->paths.n == before) {
            st = dc_fail(err, DC_ERR_FORMAT, "%s: class folder '%s' holds no image files (.png, .jpg, .jpeg, .pgm, "
                         ".ppm)", root, name);
            break;
        }
        if (sf->paths.n > cap) {
            cap = sf->paths.cap;
            int32_t *q = realloc(sf->labels, sizeof(int32_t) * (size_t)cap);
            if (!q) {
                st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
                break;
            }
            sf->labels = q;
        }
        for (int i = before; i < sf->paths.n; i++) sf->labels[i] = label;
        if (sf->paths.n > INT32_MAX / 4) st = dc_fail(err, DC_ERR_FORMAT, "%s: too many images", root);
    }
    sl_free(&cdirs);
    if (st) {
        sl_free(&sf->paths);
        free(sf->labels);
        sf->labels = NULL;
    }
    return st;
}

static void split_free(split_files *sf) {
    sl_free(&sf->paths);
    free(sf->labels);
    memset(sf, 0, sizeof *sf);
}

enum { F_OK_ = 0, F_BAD = 1 };

// Pass 1: each file's size and grayness (status per file in bad[]).
static void probe_all(const split_files *sf, int *hs, int *ws, uint8_t *gray, uint8_t *bad, int nt) {
    const int n = sf->paths.n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        bool g = false;
        bad[i] = F_BAD;
        if (dc_read_file(sf->paths.v[i], &buf, &len, MAX_IMAGE_FILE, NULL)) continue;
        if (!dc_image_probe(buf, len, sf->paths.v[i], &hs[i], &ws[i], &g, NULL)) bad[i] = F_OK_;
        gray[i] = g;
        free(buf);
    }
}

// Pass 2: decode file i into px + i * plane.
static void decode_all(const split_files *sf, uint8_t *px, int c, int h, int w, uint8_t *bad, int nt) {
    const int n = sf->paths.n;
    const size_t plane = (size_t)c * h * w;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int i = 0; i < n; i++) {
        if (bad[i]) continue;
        uint8_t *buf;
        size_t len;
        if (dc_read_file(sf->paths.v[i], &buf, &len, MAX_IMAGE_FILE, NULL)) {
            bad[i] = F_BAD;
            continue;
        }
        if (dc_image_decode_into(px + (size_t)i * plane, buf, len, sf->paths.v[i], c, h, w, NULL)) bad[i] = F_BAD;
        free(buf);
    }
}

// The message for bad file i, recomputed (serially) with its error.
static dc_status explain_bad(const char *path, int c, int h, int w, bool probe, dc_error *err) {
    uint8_t *buf;
    size_t len;
    dc_status st = dc_read_file(path, &buf, &len, MAX_IMAGE_FILE, err);
    if (st) return st;
    int ph, pw;
    bool g;
    if (probe) st = dc_image_probe(buf, len, path, &ph, &pw, &g, err);
    if (!st) {
        uint8_t *px = malloc((size_t)(c > 0 ? c : 3) * (h > 0 ? h : ph) * (w > 0 ? w : pw));
        st = px ? dc_image_decode_into(px, buf, len, path, c > 0 ? c : 3, h > 0 ? h : ph, w > 0 ? w : pw, err)
                : dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
        free(px);
    }
    free(buf);
    return st ? st : dc_fail(err, DC_ERR_FORMAT, "%s: could not be decoded", path);
}

typedef struct fold_cfg {
    int c, h, w; // decided before decoding
} fold_cfg;

// Decodes the files of sf into ds with cfg (bad files skipped or refused).
static dc_status decode_split(dc_dataset *ds, const split_files *sf, const fold_cfg *cfg, uint8_t *bad,
                              const dc_data_options *opt, int nt, dc_error *err) {
    memset(ds, 0, sizeof *ds);
    const int n = sf->paths.n;
    const size_t plane = (size_t)cfg->c * cfg->h * cfg->w;
    if ((uint64_t)plane * (uint64_t)n > DC_DATA_MAX_BYTES)
        return dc_fail(err, DC_ERR_NOMEM, "%d images of %dx%dx%d are too many bytes", n, cfg->c, cfg->h, cfg->w);
    ds->pixels = malloc(plane * (size_t)n);
    ds->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!ds->pixels || !ds->labels) {
        dc_dataset_free(ds);
        return dc_fail(err, DC_ERR_NOMEM, "out of memory for %d images of %dx%dx%d", n, cfg->c, cfg->h, cfg->w);
    }
    decode_all(sf, ds->pixels, cfg->c, cfg->h, cfg->w, bad, nt);
    int k = 0, first_bad = -1;
    for (int i = 0; i < n; i++) {
        if (bad[i]) {
            if (first_bad < 0) first_bad = i;
            continue;
        }
        if (k != i) memmove(ds->pixels + (size_t)k * plane, ds->pixels + (size_t)i * plane, plane);
        ds->labels[k++] = sf->labels[i];
    }
    if (first_bad >= 0 && !opt->skip_bad) {
        dc_status st = explain_bad(sf->paths.v[first_bad], cfg->c, cfg->h, cfg->w, false, err);
        size_t len = strlen(err ? err->msg : "");
        if (err && len + 80 < sizeof err->msg)
            snprintf(err->msg + len, sizeof err->msg - len, " (--skip-bad leaves such files out)");
        dc_dataset_free(ds);
        return st;
    }
    ds->n = k;
    ds->skipped = n - k;
    ds->c = cfg->c;
    ds->h = cfg->h;
    ds->w = cfg->w;
    return DC_OK;
}

// ---------------------------------------------------------------------------

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

dc_status dc_image_folder_load(dc_dataset *train, dc_dataset *test, const char *dir, const dc_data_options *opt,
                               dc_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    dc_data_options def = dc_data_options_default();
    if (!opt) opt = &def;
    if (opt->channels != 0 && opt->channels != 1 && opt->channels != 3)
        return dc_fail(err, DC_ERR_ARG, "--channels %d: expected 1 (gray) or 3 (RGB)", opt->channels);
    if ((opt->height > 0) != (opt->width > 0) || opt->height < 0 || opt->width < 0 || opt->height > 16384 ||
        opt->width > 16384)
        return dc_fail(err, DC_ERR_ARG, "--input-size %dx%d: expected HxW, each 1..16384", opt->height, opt->width);
    char *tr_root = join(dir, "train"), *te_root = join(dir, "test"), *va_root = join(dir, "val");
    if (!tr_root || !te_root || !va_root) {
        free(tr_root), free(te_root), free(va_root);
        return dc_fail(err, DC_ERR_NOMEM, "out of memory");
    }
    const bool split = is_dir(tr_root) && (is_dir(te_root) || is_dir(va_root));
    const char *test_root = is_dir(te_root) ? te_root : va_root;
    split_files sf[2] = {0};
    strlist classes = {0};
    dc_status st = scan_split(&sf[0], &classes, split ? tr_root : dir, NULL, err);
    if (!st && split) st = scan_split(&sf[1], NULL, test_root, &classes, err);
    const int nt = dc_data_threads(opt);
    uint8_t *bad[2] = {NULL, NULL};
    for (int s = 0; s < 2 && !st; s++)
        if (sf[s].paths.n && !(bad[s] = calloc((size_t)sf[s].paths.n, 1))) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
    // the shape: given, or found from the headers
    fold_cfg cfg = {opt->channels, opt->height, opt->width};
    if (!st && (cfg.c == 0 || cfg.h == 0)) {
        bool all_gray = true;
        int h0 = 0, w0 = 0;
        const char *first = NULL;
        for (int s = 0; s < 2 && !st; s++) {
            const int n = sf[s].paths.n;
            if (!n) continue;
            int *hs = calloc((size_t)n, sizeof(int)), *ws = calloc((size_t)n, sizeof(int));
            uint8_t *gray = calloc((size_t)n, 1);
            if (!hs || !ws || !gray) st = dc_fail(err, DC_ERR_NOMEM, "out of memory");
            else probe_all(&sf[s], hs, ws, gray, bad[s], nt);
            for (int i = 0; i < n && !st; i++) {
                if (bad[s][i]) {
                    if (!opt->skip_bad) {
                        st = explain_bad(sf[s].paths.v[i], 0, 0, 0, true, err);
                        size_t len = strlen(err ? err->msg : "");
                        if (err && len + 80 < sizeof err->msg)
                            snprintf(err->msg + len, sizeof err->msg - len, " (--skip-bad leaves such files out)");
                    }
                    continue;
                }
                all_gray = all_gray && gray[i];
                if (!first) first = sf[s].paths.v[i], h0 = hs[i], w0 = ws[i];
                else if (cfg.h == 0 && (hs[i] != h0 || ws[i] != w0))
                    st = dc_fail(err, DC_ERR_SHAPE, "%s is %dx%d but %s is %dx%d (HxW): give --input-size HxW to resize "
                                 "every image to one size", sf[s].paths.v[i], hs[i], ws[i], first, h0, w0);
            }
            free(hs);
            free(ws);
            free(gray);
        }
        if (!st && !first) st = dc_fail(err, DC_ERR_FORMAT, "%s: no image could be read (all %d skipped)", dir,
                                        sf[0].paths.n + sf[1].paths.n);
        if (!st && cfg.c == 0) cfg.c = all_gray ? 1 : 3;
        if (!st && cfg.h == 0) cfg.h = h0, cfg.w = w0;
    }
    if (!st) st = decode_split(train, &sf[0], &cfg, bad[0], opt, nt, err);
    if (!st && split && (st = decode_split(test, &sf[1], &cfg, bad[1], opt, nt, err))) dc_dataset_free(train);
    if (!st && train->n == 0) {
        st = dc_fail(err, DC_ERR_FORMAT, "%s: every training image was skipped as unreadable", dir);
        dc_dataset_free(train);
        dc_dataset_free(test);
    }
    if (!st) {
        train->n_classes = classes.n < 2 ? 2 : classes.n;
        test->n_classes = train->n_classes;
        if (classes.n >= 2 && ((st = dc_dataset_set_class_names(train, (const char *const *)classes.v, classes.n, err)) ||
                               (test->n && (st = dc_dataset_set_class_names(test, (const char *const *)classes.v,
                                                                            classes.n, err))))) {
            dc_dataset_free(train);
            dc_dataset_free(test);
        }
    }
    if (!st) {
        snprintf(train->source, sizeof train->source, "%.440s (image folder, %d classes%s)", split ? tr_root : dir,
                 classes.n, train->skipped ? ", some files skipped" : "");
        if (test->n)
            snprintf(test->source, sizeof test->source, "%.440s (image folder%s)", test_root,
                     test->skipped ? ", some files skipped" : "");
    }
    for (int s = 0; s < 2; s++) {
        split_free(&sf[s]);
        free(bad[s]);
    }
    sl_free(&classes);
    free(tr_root), free(te_root), free(va_root);
    return st;
}
