// gen_corpus.c — writes the seed corpus of every harness into
// tests/fuzz/corpus/<name>/ (small files: a few KB per harness), from deepc's
// own writers where it has them (models, safetensors, .npy, gray/RGB PNG)
// and by hand or with zlib/libpng where it does not (IDX, gzip, PNG colour
// types deepc never writes, PGM/PPM, CSV). Run it to regenerate the corpus:
//   cmake --build build --target fuzz_gen_corpus && build/fuzz_gen_corpus tests/fuzz/corpus
// Harness input layouts (flag bytes, separators) are those of fuzz_<name>.c.
#define _POSIX_C_SOURCE 200809L
#include "deepc.h"
#include "io/npy.h"
#include "io/png_write.h"
#include "io/safetensors.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *g_root;

static void die(const char *what, const char *msg) {
    fprintf(stderr, "gen_corpus: %s: %s\n", what, msg);
    exit(1);
}

static void mkdir_p(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die(dir, strerror(errno));
}

// A growable byte buffer.
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        if (!(b->p = realloc(b->p, b->cap))) die("realloc", "out of memory");
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_byte(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_str(bytes *b, const char *s) { put(b, s, strlen(s)); }

static void write_seed(const char *harness, const char *name, const bytes *b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_root, harness);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f)) die(path, "cannot write");
}

static bytes read_all(const char *path) {
    bytes b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    uint8_t buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f))) put(&b, buf, n);
    fclose(f);
    return b;
}

static void gzip_bytes(bytes *out, const bytes *in) {
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) die("deflateInit2", "failed");
    uint8_t buf[65536];
    z.next_in = in->p;
    z.avail_in = (uInt)in->n;
    int r;
    do {
        z.next_out = buf;
        z.avail_out = sizeof buf;
        r = deflate(&z, Z_FINISH);
        put(out, buf, sizeof buf - z.avail_out);
    } while (r == Z_OK);
    if (r != Z_STREAM_END) die("deflate", "failed");
    deflateEnd(&z);
}

// ---------------------------------------------------------------------------
// IDX: flag byte, images, "DCIDXSEP", labels

static bytes idx_file(int rank, const uint32_t *dims, unsigned seed) {
    bytes b = {0};
    uint8_t head[4] = {0, 0, 8, (uint8_t)rank};
    put(&b, head, 4);
    size_t total = 1;
    for (int i = 0; i < rank; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        put(&b, d, 4);
        total *= dims[i];
    }
    for (size_t i = 0; i < total; i++) put_byte(&b, rank == 1 ? (uint8_t)((i * 7 + seed) % 10) : (uint8_t)(i * 37 + seed));
    return b;
}

static void idx_seed(const char *name, uint8_t flags, const bytes *img, const bytes *lab) {
    bytes b = {0};
    put_byte(&b, flags);
    put(&b, img->p, img->n);
    if (lab) {
        put_str(&b, "DCIDXSEP");
        put(&b, lab->p, lab->n);
    }
    write_seed("idx", name, &b);
    free(b.p);
}

static void gen_idx(void) {
    bytes img3 = idx_file(3, (uint32_t[]){3, 4, 4}, 1), lab3 = idx_file(1, (uint32_t[]){3}, 2);
    bytes img4 = idx_file(4, (uint32_t[]){2, 3, 2, 2}, 3), lab2 = idx_file(1, (uint32_t[]){2}, 4);
    idx_seed("raw-3x4x4", 0, &img3, &lab3);
    idx_seed("raw-rank4-2x3x2x2", 0, &img4, &lab2);
    bytes gi = {0}, gl = {0};
    gzip_bytes(&gi, &img3);
    gzip_bytes(&gl, &lab3);
    idx_seed("gzip-3x4x4", 3, &gi, &gl);
    idx_seed("gzip-images-raw-labels", 1, &gi, &lab3);
    idx_seed("images-only", 0, &img3, NULL);
    free(img3.p), free(lab3.p), free(img4.p), free(lab2.p), free(gi.p), free(gl.p);
}

// ---------------------------------------------------------------------------
// models and safetensors

static dc_model *tiny_model(const char *arch, dc_error *err) {
    dc_model *m = NULL;
    if (dc_model_parse(&m, arch, "gen_corpus", 1, 6, 6, 2, err)) die("dc_model_parse", err->msg);
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_model_init_params(m, &rng);
    return m;
}

static void save_seed(const dc_model *m, const char *name, const char *tmp) {
    dc_error err;
    if (dc_model_save(m, tmp, &err)) die("dc_model_save", err.msg);
    bytes b = read_all(tmp);
    write_seed("model", name, &b);
    write_seed("safetensors", name, &b);
    free(b.p);
}

static void gen_models(const char *tmp) {
    static const char *conv = "conv2d out=2 k=3\nrelu\nmaxpool k=2\nflatten\nlinear out=2\n";
    static const char *mlp = "flatten\nlinear out=3 bias=0\ntanh\ndropout p=0.25\nlinear out=2\n";
    dc_error err;
    dc_model *m = tiny_model(conv, &err);
    const char *names[2] = {"cat", "dog"};
    if (dc_model_set_class_names(m, names, 2, &err)) die("class names", err.msg);
    save_seed(m, "conv-untrained", tmp);

    // trained a little: optimizer state, history, train_config in the file
    dc_dataset ds = {.n = 4, .c = 1, .h = 6, .w = 6, .n_classes = 2};
    uint8_t px[4 * 36];
    int32_t labels[4] = {0, 1, 0, 1};
    for (int i = 0; i < 4 * 36; i++) px[i] = (uint8_t)(i * 29);
    ds.pixels = px;
    ds.labels = labels;
    snprintf(ds.source, sizeof ds.source, "gen_corpus");
    dc_model_set_normalisation(m, &ds);
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = 1;
    cfg.batch = 2;
    cfg.nthreads = 1;
    cfg.optim = DC_OPTIM_SGD;
    cfg.momentum = 0.9f;
    if (dc_train(m, &ds, NULL, &cfg, NULL, NULL, &err)) die("dc_train", err.msg);
    save_seed(m, "conv-sgd-1epoch", tmp);
    dc_model_free(m);

    m = tiny_model(mlp, &err);
    dc_model_set_normalisation(m, &ds);
    cfg.optim = DC_OPTIM_ADAM;
    if (dc_train(m, &ds, NULL, &cfg, NULL, NULL, &err)) die("dc_train", err.msg);
    if (dc_model_set_info(m, "provenance", "{\"data\":\"gen_corpus\"}", &err)) die("set_info", err.msg);
    save_seed(m, "mlp-adam-1epoch", tmp);
    dc_model_free(m);

    // every dtype, a scalar and an empty tensor (not a model: safetensors only)
    dc_st_writer w;
    dc_st_writer_init(&w);
    static const float f32[3] = {1.5f, -2.0f, 0.25f};
    static const double f64[2] = {3.25, -1e300};
    static const int32_t i32[4] = {1, -2, 3, -4};
    static const int64_t i64[1] = {-5};
    static const uint8_t u8[5] = {0, 1, 2, 254, 255};
    dc_st_add(&w, "u8", DC_ST_U8, 1, (int64_t[]){5}, u8);
    dc_st_add(&w, "f32", DC_ST_F32, 2, (int64_t[]){1, 3}, f32);
    dc_st_add(&w, "f64", DC_ST_F64, 1, (int64_t[]){2}, f64);
    dc_st_add(&w, "i32", DC_ST_I32, 3, (int64_t[]){2, 1, 2}, i32);
    dc_st_add(&w, "i64.scalar", DC_ST_I64, 0, NULL, i64);
    dc_st_add(&w, "empty", DC_ST_F32, 2, (int64_t[]){0, 4}, NULL);
    dc_st_add_meta(&w, "format", "pt");
    dc_st_add_meta(&w, "note", "unaligned U8 first, then F32");
    if (dc_st_write(&w, tmp, &err)) die("dc_st_write", err.msg);
    dc_st_writer_free(&w);
    bytes b = read_all(tmp);
    write_seed("safetensors", "all-dtypes", &b);
    free(b.p);
    remove(tmp);
}

// ---------------------------------------------------------------------------
// architecture text: flag byte (shape, classes), then the text

static void arch_seed(const char *name, uint8_t flags, const char *text) {
    bytes b = {0};
    put_byte(&b, flags);
    put_str(&b, text);
    write_seed("arch", name, &b);
    free(b.p);
}

static void arch_file_seed(const char *name, uint8_t flags, const char *path) {
    bytes f = read_all(path);
    bytes b = {0};
    put_byte(&b, flags);
    put(&b, f.p, f.n);
    write_seed("arch", name, &b);
    free(b.p), free(f.p);
}

static void gen_arch(const char *src) {
    char path[4096];
    snprintf(path, sizeof path, "%s/examples/lenet5.arch", src);
    arch_file_seed("lenet5", 4 | 0, path); // 1x28x28, 10 classes
    snprintf(path, sizeof path, "%s/examples/dp_tanh.arch", src);
    arch_file_seed("dp_tanh", 4 | 0, path);
    arch_seed("mlp", 0, "flatten\nlinear out=256\nrelu\nlinear out=128\nrelu\nlinear out=10\n");
    arch_seed("every-kind-rgb", 1,
              "# every kind and key\n"
              "conv2d in=3 out=4 k=3 stride=1 pad=1 bias=0 name=c1\n"
              "sigmoid\n"
              "avgpool k=2 stride=2\n"
              "conv2d out=8 k=5 stride=2 pad=2 bias=yes\n"
              "tanh name=t\n"
              "maxpool k=3 stride=1\n"
              "dropout p=0.1\n"
              "flatten name=flat\n"
              "linear in=392 out=16 bias=false\n"
              "relu\n"
              "linear out=2 name=head\n");
    arch_seed("tiny-1x1x1", 2, "linear out=2\n");
    arch_seed("crlf-2x5x7", 3, "conv2d out=3 k=2\r\n\r\nflatten\t# comment\r\nlinear out=10\r\n");
}

// ---------------------------------------------------------------------------
// images: flag byte (channels, output size), then the file

typedef struct png_spec {
    int w, h, color, depth, interlace;
    const uint8_t *rows; // h rows of rowbytes each, packed, big-endian
    size_t rowbytes;
    const png_color *pal;
    int npal;
    const uint8_t *trns;
    int ntrns;
} png_spec;

static void png_sink(png_structp png, png_bytep data, size_t n) { put(png_get_io_ptr(png), data, n); }
static void png_noflush(png_structp png) { (void)png; }

static bytes encode_png(const png_spec *s) {
    bytes out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) die("libpng", "cannot encode");
    png_set_write_fn(png, &out, png_sink, png_noflush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->pal) png_set_PLTE(png, info, s->pal, s->npal);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
    png_write_info(png, info);
    int passes = s->interlace ? png_set_interlace_handling(png) : 1;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < s->h; y++) png_write_row(png, s->rows + (size_t)y * s->rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return out;
}

static void image_seed(const char *name, uint8_t flags, const void *file, size_t n) {
    bytes b = {0};
    put_byte(&b, flags);
    put(&b, file, n);
    write_seed("image", name, &b);
    free(b.p);
}

static void gen_images(void) {
    dc_error err;
    uint8_t gray[4 * 3], rgb[2 * 3 * 3];
    for (int i = 0; i < 12; i++) gray[i] = (uint8_t)(i * 21);
    for (int i = 0; i < 18; i++) rgb[i] = (uint8_t)(i * 13 + 5);
    uint8_t *enc;
    size_t len;
    if (dc_png_encode(&enc, &len, gray, 4, 3, 1, &err)) die("dc_png_encode", err.msg);
    image_seed("png-gray-4x3", 0 | 4, enc, len); // c=1, 5x7
    free(enc);
    if (dc_png_encode(&enc, &len, rgb, 2, 3, 3, &err)) die("dc_png_encode", err.msg);
    image_seed("png-rgb-2x3", 1 | 2, enc, len); // c=3, 1x1
    free(enc);

    static const uint8_t ga[4] = {200, 128, 50, 255};
    static const uint8_t rgba16[8] = {0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x80, 0x00};
    static const png_color pal[3] = {{0, 0, 0}, {255, 0, 0}, {0, 0, 255}};
    static const uint8_t idx8[3] = {1, 2, 0}, trns[3] = {255, 0, 128};
    static const uint8_t g1[1] = {0xb0};
    uint8_t il[25];
    for (int i = 0; i < 25; i++) il[i] = (uint8_t)(i * 10);
    const struct {
        const char *name;
        uint8_t flags;
        png_spec s;
    } pngs[] = {
        {"png-gray-alpha", 0, {2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, 4, 0, 0, 0, 0}},
        {"png-rgba16", 1 | 6, {1, 1, PNG_COLOR_TYPE_RGBA, 16, 0, rgba16, 8, 0, 0, 0, 0}},
        {"png-palette-trns", 1, {3, 1, PNG_COLOR_TYPE_PALETTE, 8, 0, idx8, 3, pal, 3, trns, 3}},
        {"png-gray-1bit", 2, {8, 1, PNG_COLOR_TYPE_GRAY, 1, 0, g1, 1, 0, 0, 0, 0}},
        {"png-interlaced", 4, {5, 5, PNG_COLOR_TYPE_GRAY, 8, 1, il, 5, 0, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof pngs / sizeof *pngs; i++) {
        bytes b = encode_png(&pngs[i].s);
        image_seed(pngs[i].name, pngs[i].flags, b.p, b.n);
        free(b.p);
    }
    static const char p2[] = "P2\n# plain gray\n3 2\n15\n0 1 2\n3 14 15\n";
    static const char p3[] = "P3 2 1 1000 1000 500 0 250 0 0\n";
    static const char p5[] = "P5 3 2 255\n\x00\x0a\x14\x1e\x28\xff";
    static const char p5_16[] = "P5 2 1 65535\n\x00\x00\xff\xff";
    static const char p6[] = "P6\n2 1\n255\n\xff\x0a\x00\xc8\x00\x1e";
    image_seed("pgm-p2", 4, p2, sizeof p2 - 1);
    image_seed("ppm-p3", 1, p3, sizeof p3 - 1);
    image_seed("pgm-p5", 2, p5, sizeof p5 - 1);
    image_seed("pgm-p5-16bit", 0, p5_16, sizeof p5_16 - 1);
    image_seed("ppm-p6", 3 | 4, p6, sizeof p6 - 1);
}

// ---------------------------------------------------------------------------
// .npy

static void gen_npy(const char *tmp) {
    dc_error err;
    static const float v[6] = {0.5f, -1.0f, 2.0f, 3.5f, 1e-3f, -0.0f};
    if (dc_npy_write_f32(tmp, v, 2, (int64_t[]){2, 3}, &err)) die("dc_npy_write_f32", err.msg);
    bytes b = read_all(tmp);
    write_seed("npy", "f4-2x3", &b);
    free(b.p);
    remove(tmp);
    // by hand: big-endian f8, u1, a scalar, version 2.0, double quotes
    const struct {
        const char *name;
        int major;
        const char *dict;
        const void *data;
        size_t n;
    } hand[] = {
        {"f8-big-endian", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
         "\x3f\xf0\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x00", 16},
        {"u1-1x2x2", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }", "\x00\x7f\x80\xff", 4},
        {"f4-scalar", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "\x00\x00\x80\x3f", 4},
        {"v2-f4-empty", 2, "{\"shape\": (0, 3), \"fortran_order\": False, \"descr\": \"<f4\"}", "", 0},
    };
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++) {
        bytes h = {0};
        put(&h, "\x93NUMPY", 6);
        put_byte(&h, (uint8_t)hand[i].major);
        put_byte(&h, 0);
        size_t pre = hand[i].major == 1 ? 10 : 12, dl = strlen(hand[i].dict);
        size_t total = (pre + dl + 1 + 63) / 64 * 64, hl = total - pre;
        put_byte(&h, (uint8_t)hl);
        put_byte(&h, (uint8_t)(hl >> 8));
        if (hand[i].major != 1) put(&h, "\0\0", 2);
        put_str(&h, hand[i].dict);
        for (size_t k = pre + dl; k + 1 < total; k++) put_byte(&h, ' ');
        put_byte(&h, '\n');
        put(&h, hand[i].data, hand[i].n);
        write_seed("npy", hand[i].name, &h);
        free(h.p);
    }
}

// ---------------------------------------------------------------------------
// groups CSV: byte n-1, then the CSV

static void groups_seed(const char *name, int n, const char *csv) {
    bytes b = {0};
    put_byte(&b, (uint8_t)(n - 1));
    put_str(&b, csv);
    write_seed("groups", name, &b);
    free(b.p);
}

static void gen_groups(void) {
    groups_seed("header-4", 4, "index,group\n0,a\n1,b\n2,a\n3,c\n");
    groups_seed("bom-crlf-3", 3, "\xEF\xBB\xBFindex,group\r\n2, north \r\n0,south\r\n1,north");
    groups_seed("no-header-2", 2, "1,x y\n0,x\n\n");
    groups_seed("one", 1, "0,only\n");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR   (normally tests/fuzz/corpus, run from the source root)\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    mkdir_p(g_root);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.gen_corpus.tmp", g_root);
    gen_idx();
    gen_models(tmp);
    gen_arch(".");
    gen_images();
    gen_npy(tmp);
    gen_groups();
    printf("gen_corpus: seeds written under %s\n", g_root);
    return 0;
}
