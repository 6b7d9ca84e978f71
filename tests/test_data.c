// test_data.c — the data module: IDX reading (good files and every defect we
// know how to make), finding data folders, label checks, the validation
// split, batch gathering and augmentation.
//
// Small IDX files are written into dc_test_tmpdir(), raw and gzipped. Every
// defect must give a non-OK status, a zeroed dataset, and a message that
// names the file and says what is wrong.
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"
#include "core/core.h"
#include "data/data.h"
#include "harness.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// ---------------------------------------------------------------------------
// Writing test files

static const char *tpath(const char *name) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", dc_test_tmpdir(), name);
    return b;
}

static const char *write_raw(const char *name, const uint8_t *p, size_t n) {
    const char *path = tpath(name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (n && fwrite(p, 1, n, f) != n) exit(2);
    fclose(f);
    return path;
}

static const char *write_gz(const char *name, const uint8_t *p, size_t n) {
    const char *path = tpath(name);
    gzFile f = gzopen(path, "wb");
    if (!f) exit(2);
    if (n && gzwrite(f, p, (unsigned)n) != (int)n) exit(2);
    if (gzclose(f) != Z_OK) exit(2);
    return path;
}

// Builds an IDX file in buf: magic (0, 0, type, rank), dims, data.
static size_t make_idx(uint8_t *buf, int type, int rank, const uint32_t *dims,
                       const uint8_t *data, size_t data_len) {
    size_t k = 0;
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = (uint8_t)type;
    buf[k++] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        buf[k++] = (uint8_t)(dims[i] >> 24);
        buf[k++] = (uint8_t)(dims[i] >> 16);
        buf[k++] = (uint8_t)(dims[i] >> 8);
        buf[k++] = (uint8_t)dims[i];
    }
    if (data_len) memcpy(buf + k, data, data_len);
    return k + data_len;
}

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int is_zeroed(const dc_dataset *ds) {
    return ds->n == 0 && ds->pixels == NULL && ds->labels == NULL && ds->c == 0;
}

// Loads and expects failure naming `blame` and containing `word`.
static void expect_fail(const char *what, const char *images, const char *labels,
                        const char *blame, const char *word) {
    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_idx_load(&ds, images, labels, &err);
    CHECK(st != DC_OK, "%s: expected failure", what);
    CHECK(is_zeroed(&ds), "%s: dataset not zeroed on failure", what);
    CHECK(strncmp(err.msg, blame, strlen(blame)) == 0,
          "%s: message should start with %s: %s", what, blame, err.msg);
    CHECK(strstr(err.msg, word) != NULL, "%s: message lacks '%s': %s", what, word,
          err.msg);
    printf("  %-28s -> %s: %s\n", what, dc_status_name(st), err.msg);
    dc_dataset_free(&ds);
}

// A good pair: 3 images of 2x3 and labels {0, 4, 2}.
static const uint8_t k_px[18] = {0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60,
                                 255, 254, 253, 128, 127, 0};
static const uint8_t k_lb[3] = {0, 4, 2};

static const char *good_images(const char *name, int gz) {
    uint8_t buf[64];
    uint32_t d[3] = {3, 2, 3};
    size_t n = make_idx(buf, 0x08, 3, d, k_px, 18);
    return gz ? write_gz(name, buf, n) : write_raw(name, buf, n);
}

static const char *good_labels(const char *name, int gz) {
    uint8_t buf[64];
    uint32_t d[1] = {3};
    size_t n = make_idx(buf, 0x08, 1, d, k_lb, 3);
    return gz ? write_gz(name, buf, n) : write_raw(name, buf, n);
}

// ---------------------------------------------------------------------------
// IDX reading

static void test_idx_good(void) {
    for (int gz = 0; gz < 2; gz++) {
        const char *im = good_images(gz ? "good-im.gz" : "good-im", gz);
        const char *lb = good_labels(gz ? "good-lb.gz" : "good-lb", gz);
        dc_dataset ds;
        dc_error err = {{0}};
        dc_status st = dc_idx_load(&ds, im, lb, &err);
        CHECK(st == DC_OK, "good %s load: %s", gz ? "gz" : "raw", err.msg);
        if (st) continue;
        CHECK(ds.n == 3 && ds.c == 1 && ds.h == 2 && ds.w == 3, "shape %d %dx%dx%d",
              ds.n, ds.c, ds.h, ds.w);
        CHECK(ds.n_classes == 5, "n_classes %d", ds.n_classes);
        CHECK(memcmp(ds.pixels, k_px, 18) == 0, "pixel values");
        CHECK(ds.labels[0] == 0 && ds.labels[1] == 4 && ds.labels[2] == 2, "labels");
        CHECK(strcmp(ds.source, im) == 0, "source %s", ds.source);
        dc_dataset_free(&ds);
        CHECK(is_zeroed(&ds), "free zeroes");
        dc_dataset_free(&ds); // twice is harmless
    }

    // Rank 4 (N,C,H,W) and labels all zero (n_classes at least 2).
    uint8_t buf[128], px[24], lb[2] = {0, 0};
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 7);
    uint32_t d4[4] = {2, 3, 2, 2}, d1[1] = {2};
    const char *im = write_raw("r4-im", buf, make_idx(buf, 8, 4, d4, px, 24));
    const char *lp = write_raw("r4-lb", buf, make_idx(buf, 8, 1, d1, lb, 2));
    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_idx_load(&ds, im, lp, &err);
    CHECK(st == DC_OK, "rank-4 load: %s", err.msg);
    if (!st) {
        CHECK(ds.n == 2 && ds.c == 3 && ds.h == 2 && ds.w == 2, "rank-4 shape");
        CHECK(memcmp(ds.pixels, px, 24) == 0, "rank-4 pixels");
        CHECK(ds.n_classes == 2, "n_classes floor of 2: %d", ds.n_classes);
    }
    dc_dataset_free(&ds);

    // A gzip file without the .gz name is still read (zlib sniffs it).
    const char *gzim = good_images("gz-no-suffix", 1);
    st = dc_idx_load(&ds, gzim, good_labels("good-lb2", 0), &err);
    CHECK(st == DC_OK && ds.n == 3, "gzip without .gz name: %s", err.msg);
    dc_dataset_free(&ds);
}

static void test_idx_defects(void) {
    printf("IDX defects:\n");
    // Own copies: tpath() recycles a few buffers.
    char lb[1024], im[1024];
    snprintf(lb, sizeof lb, "%s", good_labels("ok-lb", 0));
    snprintf(im, sizeof im, "%s", good_images("ok-im", 0));
    uint8_t buf[256];
    uint32_t d3[3] = {3, 2, 3}, d1[1] = {3};

    const char *p = write_raw("empty", buf, 0);
    expect_fail("empty file", p, lb, p, "empty");

    uint8_t two[2] = {0, 0};
    p = write_raw("hdr2", two, 2);
    expect_fail("2-byte header", p, lb, p, "truncated header");

    size_t n = make_idx(buf, 8, 3, d3, NULL, 0);
    p = write_raw("hdr-dims", buf, n - 3); // rank 3 but dims cut
    expect_fail("dims cut short", p, lb, p, "truncated header");

    n = make_idx(buf, 8, 3, d3, k_px, 18);
    buf[0] = 0x12;
    buf[1] = 0x34;
    p = write_raw("badmagic", buf, n);
    expect_fail("bad magic", p, lb, p, "magic");

    n = make_idx(buf, 0x0D, 3, d3, k_px, 18);
    p = write_raw("float-type", buf, n);
    expect_fail("type 0x0D", p, lb, p, "float32");

    n = make_idx(buf, 0x0B, 1, d1, k_lb, 3);
    p = write_raw("short-labels", buf, n);
    expect_fail("labels type 0x0B", im, p, p, "int16");

    uint32_t d2[2] = {3, 6};
    n = make_idx(buf, 8, 2, d2, k_px, 18);
    p = write_raw("rank2", buf, n);
    expect_fail("images rank 2", p, lb, p, "rank 2");

    uint32_t dz[3] = {3, 0, 3};
    n = make_idx(buf, 8, 3, dz, NULL, 0);
    p = write_raw("zerodim", buf, n);
    expect_fail("zero dimension", p, lb, p, "zero");

    uint32_t dbig[3] = {0x7fffffff, 0x7fffffff, 0x7fffffff};
    n = make_idx(buf, 8, 3, dbig, NULL, 0);
    p = write_raw("huge", buf, n);
    expect_fail("absurd dimensions", p, lb, p, "limit");

    n = make_idx(buf, 8, 3, d3, k_px, 17);
    p = write_raw("short", buf, n);
    expect_fail("data too short", p, lb, p,
                "truncated: header says 3 images of 2x3 = 18 bytes, file has 17");
    p = write_gz("short.gz", buf, n);
    expect_fail("data too short (gz)", p, lb, p, "header says 3 images of 2x3");

    n = make_idx(buf, 8, 3, d3, k_px, 18);
    buf[n++] = 7;
    buf[n++] = 7;
    p = write_raw("trailing", buf, n);
    expect_fail("trailing bytes", p, lb, p, "2 trailing bytes");
    p = write_gz("trailing.gz", buf, n);
    expect_fail("trailing bytes (gz)", p, lb, p, "2 trailing bytes");

    uint32_t d4[1] = {4};
    uint8_t l4[4] = {0, 1, 2, 3};
    n = make_idx(buf, 8, 1, d4, l4, 4);
    p = write_raw("four-labels", buf, n);
    dc_error err;
    expect_fail("count mismatch", im, p, im, "4 labels");
    {
        dc_dataset ds;
        dc_idx_load(&ds, im, p, &err);
        CHECK(strstr(err.msg, basename_of(p)) != NULL, "names labels file: %s", err.msg);
        CHECK(strstr(err.msg, "3 images") != NULL, "says 3 images: %s", err.msg);
    }

    expect_fail("labels given as images", lb, lb, lb, "is this a labels file?");
    expect_fail("images given as labels", im, im, im, "is this an images file?");

    const char *garbage = "this is not gzip at all, just text";
    p = write_raw("garbage.gz", (const uint8_t *)garbage, strlen(garbage));
    expect_fail("garbage named .gz", p, lb, p, "not gzip");

    // Truncated gzip streams: cut in the middle of the deflate data, and cut
    // inside the 8-byte trailer (CRC, length).
    uint8_t big[4096 + 16];
    uint32_t db[3] = {16, 16, 16};
    uint8_t pix[4096];
    for (int i = 0; i < 4096; i++) pix[i] = (uint8_t)((i * 2654435761u) >> 24);
    n = make_idx(big, 8, 3, db, pix, 4096);
    const char *gzp = write_gz("full.gz", big, n);
    uint8_t *gzdata;
    size_t gzlen;
    CHECK(dc_read_file(gzp, &gzdata, &gzlen, 1 << 20, &err) == DC_OK, "read back gz");
    p = write_raw("cut-middle.gz", gzdata, gzlen / 2);
    expect_fail("gzip cut in the middle", p, lb, p, "truncated gzip");
    p = write_raw("cut-trailer.gz", gzdata, gzlen - 3);
    expect_fail("gzip trailer cut", p, lb, p, "gzip");
    // A flipped byte in the compressed data: corrupt stream or CRC mismatch.
    gzdata[gzlen / 2] ^= 0x5a;
    p = write_raw("corrupt.gz", gzdata, gzlen);
    expect_fail("gzip corrupted", p, lb, p, "gzip");
    free(gzdata);

    p = tpath("does-not-exist");
    expect_fail("missing file", p, lb, p, "No such file");
    expect_fail("missing labels file", im, p, p, "cannot open labels");
    expect_fail("directory", dc_test_tmpdir(), lb, dc_test_tmpdir(), "directory");
}

// ---------------------------------------------------------------------------
// Data folders

// Writes the four files of a folder; shape (hw x hw), labels < max_label+1.
static void write_folder(const char *dir, int n_tr, int n_te, int hw_tr, int hw_te,
                         int max_tr, int max_te, const char *skip, int gz_mask,
                         int dotted) {
    mkdir(tpath(dir), 0700);
    static uint8_t buf[16 + 64 * 64 * 32];
    uint8_t px[64 * 64 * 32], lb[32];
    for (int part = 0; part < 2; part++) {
        int n = part ? n_te : n_tr, hw = part ? hw_te : hw_tr,
            mx = part ? max_te : max_tr;
        for (int i = 0; i < n * hw * hw; i++) px[i] = (uint8_t)(i + part);
        for (int i = 0; i < n; i++) lb[i] = (uint8_t)(i % (mx + 1));
        lb[n - 1] = (uint8_t)mx;
        for (int kind = 0; kind < 2; kind++) {
            static const char *names[2][2] = {
                {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
            static const char *dnames[2][2] = {
                {"train-images.idx3-ubyte", "train-labels.idx1-ubyte"},
                {"t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"}};
            const char *base = dotted ? dnames[part][kind] : names[part][kind];
            if (skip && strcmp(skip, names[part][kind]) == 0) continue;
            size_t len;
            if (kind == 0) {
                uint32_t d[3] = {(uint32_t)n, (uint32_t)hw, (uint32_t)hw};
                len = make_idx(buf, 8, 3, d, px, (size_t)n * hw * hw);
            } else {
                uint32_t d[1] = {(uint32_t)n};
                len = make_idx(buf, 8, 1, d, lb, (size_t)n);
            }
            int gz = (gz_mask >> (part * 2 + kind)) & 1;
            char name[512];
            snprintf(name, sizeof name, "%s/%s%s", dir, base, gz ? ".gz" : "");
            if (gz)
                write_gz(name, buf, len);
            else
                write_raw(name, buf, len);
        }
    }
}

static void test_data_open(void) {
    printf("data folders:\n");
    dc_dataset tr, te;
    dc_error err = {{0}};

    // Mixed raw and gz; class count is the max of the two halves.
    write_folder("fold-ok", 5, 4, 4, 4, 3, 5, NULL, 0x5, 0);
    dc_status st = dc_data_open(&tr, &te, tpath("fold-ok"), &err);
    CHECK(st == DC_OK, "folder load: %s", err.msg);
    if (!st) {
        CHECK(tr.n == 5 && te.n == 4 && tr.h == 4 && te.w == 4 && tr.c == 1,
              "folder shapes");
        CHECK(tr.n_classes == 6 && te.n_classes == 6, "n_classes max of both: %d %d",
              tr.n_classes, te.n_classes);
        CHECK(te.pixels[0] == 1 && tr.pixels[0] == 0, "train/test not swapped");
    }
    dc_dataset_free(&tr);
    dc_dataset_free(&te);

    // Both raw and .gz present: the raw one wins. Write a gz folder, then
    // raw files of a different size on top.
    write_folder("fold-both", 6, 6, 4, 4, 2, 2, NULL, 0xf, 0);
    write_folder("fold-both", 3, 2, 4, 4, 2, 2, NULL, 0x0, 0);
    st = dc_data_open(&tr, &te, tpath("fold-both"), &err);
    CHECK(st == DC_OK && tr.n == 3 && te.n == 2, "uncompressed preferred: %s", err.msg);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);

    // Dotted names.
    write_folder("fold-dotted", 3, 2, 4, 4, 1, 1, NULL, 0x3, 1);
    st = dc_data_open(&tr, &te, tpath("fold-dotted"), &err);
    CHECK(st == DC_OK && tr.n == 3, "dotted variant: %s", err.msg);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);

    // A missing file names the folder and the file.
    write_folder("fold-missing", 3, 2, 4, 4, 1, 1, "t10k-labels-idx1-ubyte", 0, 0);
    st = dc_data_open(&tr, &te, tpath("fold-missing"), &err);
    CHECK(st != DC_OK && is_zeroed(&tr) && is_zeroed(&te), "missing file fails");
    CHECK(strncmp(err.msg, tpath("fold-missing"), strlen(tpath("fold-missing"))) == 0 &&
              strstr(err.msg, "missing t10k-labels-idx1-ubyte"),
          "names folder and file: %s", err.msg);
    printf("  %-28s -> %s\n", "folder missing a file", err.msg);

    // Train and test shapes must agree.
    write_folder("fold-shape", 3, 2, 4, 5, 1, 1, NULL, 0, 0);
    st = dc_data_open(&tr, &te, tpath("fold-shape"), &err);
    CHECK(st != DC_OK && is_zeroed(&tr) && is_zeroed(&te), "shape mismatch fails");
    CHECK(strstr(err.msg, "1x4x4") && strstr(err.msg, "1x5x5") &&
              strstr(err.msg, "same shape"),
          "shape message: %s", err.msg);
    printf("  %-28s -> %s\n", "train/test shape mismatch", err.msg);

    st = dc_data_open(&tr, &te, tpath("no-such-folder"), &err);
    CHECK(st != DC_OK && strstr(err.msg, "no-such-folder") && strstr(err.msg, "no such folder"),
          "no folder: %s", err.msg);
    st = dc_data_open(&tr, &te, tpath("ok-lb"), &err);
    CHECK(st != DC_OK && strstr(err.msg, "not a folder"), "file as folder: %s", err.msg);
    st = dc_data_open(&tr, &te, "", &err);
    CHECK(st == DC_ERR_ARG, "empty spec: %s", err.msg);
}

static void test_fashion_mnist(void) {
    struct stat sb;
    if (stat("/usr/share/datasets/fashion-mnist", &sb) != 0) {
        printf("NOTE: /usr/share/datasets/fashion-mnist absent (apt-get install "
               "dataset-fashion-mnist); skipping the real-data check\n");
        return;
    }
    dc_dataset tr, te;
    dc_error err = {{0}};
    double t0 = dc_now_seconds();
    dc_status st = dc_data_open(&tr, &te, "fashion-mnist", &err);
    CHECK(st == DC_OK, "fashion-mnist: %s", err.msg);
    if (st) return;
    printf("fashion-mnist loaded in %.2f s: %s\n", dc_now_seconds() - t0, tr.source);
    CHECK(tr.n == 60000 && te.n == 10000, "counts %d %d", tr.n, te.n);
    CHECK(tr.c == 1 && tr.h == 28 && tr.w == 28 && te.c == 1 && te.h == 28 && te.w == 28,
          "shape");
    CHECK(tr.n_classes == 10 && te.n_classes == 10, "classes %d", tr.n_classes);
    CHECK(tr.labels[0] == 9 && tr.labels[1] == 0 && te.labels[0] == 9 && te.labels[1] == 2,
          "first labels");
    long s = 0;
    for (int i = 0; i < 784; i++) s += tr.pixels[i];
    CHECK(s == 76247, "first image pixel sum %ld", s);
    CHECK(dc_dataset_check_labels(&tr, 10, &err) == DC_OK, "labels < 10: %s", err.msg);
    CHECK(strstr(tr.source, "fashion-mnist") != NULL, "source %s", tr.source);
    dc_dataset_free(&tr);
    dc_dataset_free(&te);
}

// ---------------------------------------------------------------------------
// Labels, split, truncate

// n samples of 1x2x2, pixels all = i & 255, label i.
static void make_ds(dc_dataset *ds, int n) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->c = 1;
    ds->h = ds->w = 2;
    ds->n_classes = n;
    ds->pixels = dc_alloc((size_t)n * 4);
    ds->labels = dc_alloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        memset(ds->pixels + 4 * i, i & 255, 4);
        ds->labels[i] = i;
    }
    snprintf(ds->source, sizeof ds->source, "synthetic");
}

static void test_labels_split(void) {
    dc_error err = {{0}};
    dc_dataset ds;
    make_ds(&ds, 10);
    CHECK(dc_dataset_check_labels(&ds, 10, &err) == DC_OK, "labels ok");
    dc_status st = dc_dataset_check_labels(&ds, 9, &err);
    CHECK(st != DC_OK && strstr(err.msg, "label 9") && strstr(err.msg, "synthetic"),
          "label >= n_classes: %s", err.msg);
    printf("  %-28s -> %s\n", "label out of range", err.msg);
    dc_dataset_truncate(&ds, 4);
    CHECK(ds.n == 4, "truncate");
    dc_dataset_truncate(&ds, 100);
    CHECK(ds.n == 4, "truncate beyond n is a no-op");
    dc_dataset_free(&ds);

    // Split: sizes, disjoint, covering, order kept, deterministic.
    int32_t val_a[20];
    for (int rep = 0; rep < 3; rep++) {
        dc_dataset tr, va;
        make_ds(&tr, 100);
        uint64_t seed = rep < 2 ? 42 : 43;
        st = dc_dataset_split(&tr, &va, 0.2, seed, &err);
        CHECK(st == DC_OK, "split: %s", err.msg);
        if (st) {
            dc_dataset_free(&tr);
            continue;
        }
        CHECK(tr.n == 80 && va.n == 20, "split sizes %d %d", tr.n, va.n);
        CHECK(va.c == 1 && va.h == 2 && va.w == 2 && va.n_classes == 100, "val shape");
        int seen[100] = {0}, ordered = 1, consistent = 1;
        for (int i = 0; i < tr.n; i++) {
            seen[tr.labels[i]]++;
            if (i && tr.labels[i] <= tr.labels[i - 1]) ordered = 0;
            if (tr.pixels[4 * i + 3] != tr.labels[i]) consistent = 0;
        }
        for (int i = 0; i < va.n; i++) {
            seen[va.labels[i]]++;
            if (i && va.labels[i] <= va.labels[i - 1]) ordered = 0;
            if (va.pixels[4 * i] != va.labels[i]) consistent = 0;
        }
        int cover = 1;
        for (int i = 0; i < 100; i++) cover &= seen[i] == 1;
        CHECK(cover, "split is disjoint and covers every sample");
        CHECK(ordered, "split keeps the original order");
        CHECK(consistent, "pixels travel with labels");
        if (rep == 0) memcpy(val_a, va.labels, sizeof val_a);
        if (rep == 1) CHECK(memcmp(val_a, va.labels, sizeof val_a) == 0, "same seed, same split");
        if (rep == 2) CHECK(memcmp(val_a, va.labels, sizeof val_a) != 0, "other seed, other split");
        dc_dataset_free(&tr);
        dc_dataset_free(&va);
    }

    double bad[] = {0.0, 1.0, -0.5, 1.5, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dc_dataset tr, va;
        make_ds(&tr, 10);
        st = dc_dataset_split(&tr, &va, bad[i], 1, &err);
        CHECK(st == DC_ERR_ARG && tr.n == 10 && is_zeroed(&va), "fraction %g rejected", bad[i]);
        dc_dataset_free(&tr);
    }
    dc_dataset tr, va;
    make_ds(&tr, 3);
    st = dc_dataset_split(&tr, &va, 0.01, 1, &err);
    CHECK(st == DC_ERR_ARG && tr.n == 3 && strstr(err.msg, "at least one"),
          "empty part rejected: %s", err.msg);
    dc_dataset_free(&tr);
}

// ---------------------------------------------------------------------------
// Batches and augmentation

static void test_gather(void) {
    dc_dataset ds;
    make_ds(&ds, 300);
    int32_t idx[4] = {0, 255, 17, 299}, y[4];
    float x[16];
    float mean = 0.2860f, sd = 0.3530f;
    dc_batch_gather(x, y, &ds, idx, 4, &mean, &sd);
    int exact = 1;
    for (int k = 0; k < 4; k++) {
        float want = ((float)(idx[k] & 255) / 255.0f - mean) / sd;
        for (int i = 0; i < 4; i++) exact &= memcmp(&x[4 * k + i], &want, 4) == 0;
        CHECK(y[k] == idx[k], "gathered label");
    }
    CHECK(exact, "gather matches ((px/255)-mean)/std bit for bit");
    CHECK(fabsf(x[0] - (-0.2860f / 0.3530f)) < 1e-6f && fabsf(x[4] - (0.714f / 0.353f)) < 1e-5f,
          "gather values 0 and 255: %g %g", x[0], x[4]);
    const float zero = 0.0f, one = 1.0f;
    dc_batch_gather(x, NULL, &ds, idx, 1, &zero, &one);
    CHECK(x[0] == 0.0f, "y may be NULL");
    dc_dataset_free(&ds);
}

static void fill_random(float *x, size_t n, uint64_t seed) {
    dc_rng r;
    dc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = dc_rng_normal(&r);
}

static void test_augment(void) {
    enum { N = 300, C = 2, H = 28, W = 28 };
    size_t total = (size_t)N * C * H * W;
    float *orig = malloc(total * sizeof(float)), *a = malloc(total * sizeof(float)),
          *b = malloc(total * sizeof(float));
    fill_random(orig, total, 7);
    float fill = -0.81f, fills[C] = {fill, fill};
    dc_augment all = {15.0f, 0.1f, 2.0f, true};

    // Same seed, same bits; other seed, other bits.
    memcpy(a, orig, total * 4);
    memcpy(b, orig, total * 4);
    dc_rng r1 = dc_rng_stream(1, 2, 3), r2 = dc_rng_stream(1, 2, 3);
    dc_augment_batch(a, N, C, H, W, &all, fills, &r1);
    dc_augment_batch(b, N, C, H, W, &all, fills, &r2);
    CHECK(memcmp(a, b, total * 4) == 0, "same seed, same bits");
    CHECK(memcmp(a, orig, total * 4) != 0, "augmentation changes the batch");
    memcpy(b, orig, total * 4);
    dc_rng r3 = dc_rng_stream(2, 2, 3);
    dc_augment_batch(b, N, C, H, W, &all, fills, &r3);
    CHECK(memcmp(a, b, total * 4) != 0, "other seed, other bits");
    int finite = 1;
    for (size_t i = 0; i < total; i++) finite &= isfinite(a[i]);
    CHECK(finite, "augmented values finite");

#ifdef _OPENMP
    // Same bits with one thread as with several.
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    memcpy(b, orig, total * 4);
    dc_rng r4 = dc_rng_stream(1, 2, 3);
    dc_augment_batch(b, N, C, H, W, &all, fills, &r4);
    omp_set_num_threads(nt > 1 ? nt : 2);
    CHECK(memcmp(a, b, total * 4) == 0, "1 thread == %d threads", nt);
    omp_set_num_threads(nt);
#endif

    // Every option off: untouched, and the rng is not advanced.
    dc_augment off = {0, 0, 0, false};
    memcpy(a, orig, total * 4);
    dc_rng r5 = dc_rng_stream(9, 9, 9), r5b = r5;
    dc_augment_batch(a, N, C, H, W, &off, fills, &r5);
    CHECK(memcmp(a, orig, total * 4) == 0, "options off: identity");
    CHECK(memcmp(&r5, &r5b, sizeof r5) == 0, "options off: no draws");

    // Identity parameters leave a sample bit-for-bit unchanged.
    size_t one = (size_t)C * H * W;
    memcpy(a, orig, one * 4);
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 0.0f, 0.0f, false, fills);
    CHECK(memcmp(a, orig, one * 4) == 0, "rotate 0 / scale 1 / translate 0: unchanged");

    // A forced flip mirrors each row; twice is the identity.
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 0.0f, 0.0f, true, fills);
    int mirrored = 1;
    for (int ch = 0; ch < C; ch++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                mirrored &= a[(ch * H + i) * W + j] == orig[(ch * H + i) * W + (W - 1 - j)];
    CHECK(mirrored, "flip mirrors rows");
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 0.0f, 0.0f, true, fills);
    CHECK(memcmp(a, orig, one * 4) == 0, "flip twice: identity");

    // Integer shift by (+1, -2): out(y, x) = in(y + 2, x - 1), fill outside.
    memcpy(a, orig, one * 4);
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 1.0f, -2.0f, false, fills);
    int shifted = 1;
    for (int ch = 0; ch < C; ch++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int si = i + 2, sj = j - 1;
                float want = (si < H && sj >= 0) ? orig[(ch * H + si) * W + sj] : fill;
                shifted &= a[(ch * H + i) * W + j] == want;
            }
    CHECK(shifted, "integer translation moves pixels, fills the border");

    // Shift plus flip: the flip applies to the shifted result.
    memcpy(a, orig, one * 4);
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 1.0f, 0.0f, true, fills);
    memcpy(b, orig, one * 4);
    dc_augment_sample(b, C, H, W, 0.0f, 1.0f, 1.0f, 0.0f, false, fills);
    dc_augment_sample(b, C, H, W, 0.0f, 1.0f, 0.0f, 0.0f, true, fills);
    CHECK(memcmp(a, b, one * 4) == 0, "combined flip == shift then mirror");

    // Rotation by 90 degrees counter-clockwise (as displayed) on a square
    // image: out(y, x) = in(x, W-1-y), up to float rounding of cos(90).
    memcpy(a, orig, one * 4);
    dc_augment_sample(a, C, H, W, 90.0f, 1.0f, 0.0f, 0.0f, false, fills);
    for (int ch = 0; ch < C; ch++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                b[(ch * H + i) * W + j] = orig[(ch * H + j) * W + (W - 1 - i)];
    dc_check_close("rotate 90 == index permutation", a, b, one, 1e-4, 1e-4);

    // Shifted out of view entirely: every pixel is fill.
    memcpy(a, orig, one * 4);
    dc_augment_sample(a, C, H, W, 0.0f, 1.0f, 100.0f, 0.0f, false, fills);
    int all_fill = 1;
    for (size_t i = 0; i < one; i++) all_fill &= a[i] == fill;
    CHECK(all_fill, "out-of-view pixels take the fill value");

    // Half-pixel shift of a constant image stays constant inside, and the
    // bilinear mix of a 2-pixel ramp is the average.
    float ramp[4] = {0.0f, 1.0f, 2.0f, 3.0f};
    dc_augment_sample(ramp, 1, 1, 4, 0.0f, 1.0f, 0.5f, 0.0f, false, fills);
    CHECK(fabsf(ramp[0] - 0.5f * fill) < 1e-6f && fabsf(ramp[1] - 0.5f) < 1e-6f &&
              fabsf(ramp[2] - 1.5f) < 1e-6f && fabsf(ramp[3] - 2.5f) < 1e-6f,
          "bilinear half-pixel shift: %g %g %g %g", ramp[0], ramp[1], ramp[2], ramp[3]);

    free(orig);
    free(a);
    free(b);
}

int main(void) {
    test_idx_good();
    test_idx_defects();
    test_data_open();
    test_fashion_mnist();
    test_labels_split();
    test_gather();
    test_augment();
    return dc_test_finish();
}
