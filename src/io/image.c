// image.c — dc_image_load: PNG (libpng) and PGM/PPM images for predict.
//
// Contract: dc_image_load(&px, path, c, h, w, err) returns a malloc'd
// (c, h, w) byte array (planar, row-major; the caller frees it with free())
// or fails with a one-line message naming the file. c is 1 (gray) or 3 (RGB).
// dc_image_decode (io/image.h) does the same for a file already in memory;
// dc_image_load is dc_read_file + dc_image_decode.
//
// Pipeline: read the whole file -> pick the decoder by magic bytes (never by
// extension) -> decode to 8-bit interleaved gray / gray+alpha / RGB / RGBA ->
// composite alpha onto black -> convert channels -> bilinear resize.
//
// Choices, with reasons:
// - Alpha is composited onto BLACK (v * a / 255): the training data
//   (MNIST/Fashion-MNIST) has a black background, so a transparent region
//   reads as background.
// - 16-bit samples (PNG and PGM/PPM maxval > 255) are scaled to 8 bits with
//   rounding, v * 255 / maxval (png_set_scale_16 for PNG), so a 16-bit PNG
//   and the same image as a 16-bit PGM give identical bytes. (png_set_strip_16
//   would just drop the low byte: up to one grey level darker.)
// - gAMA/iCCP/sRGB chunks are ignored: samples are taken as stored (as PIL
//   does), since the training images were never gamma-corrected either.
//   libpng skips them and every other text/metadata chunk unread (so a
//   chunk whose length field claims a gigabyte costs nothing), and holds no
//   other chunk above 1 MiB in memory.
// - RGB -> gray uses ITU-R BT.601 luma in integers,
//   round((299 R + 587 G + 114 B) / 1000) (PIL's convert("L") weights, though
//   PIL's fixed-point rounding can differ by one level);
//   gray -> RGB replicates.
// - Resize is bilinear with PyTorch's align_corners=False convention
//   (F.interpolate(mode="bilinear")): source coordinate (d + 0.5) * in/out - 0.5,
//   clamped at 0; results rounded to nearest. No antialiasing when shrinking.
//   An image already h x w is passed through untouched.
// - Dimensions above 16384 on either side are refused before allocating, and
//   so is a file too short to hold the image its header describes (PNG: by
//   deflate's 1032:1 bound on its rows; PGM/PPM: by the bytes per sample), so
//   a small file never costs more memory than a few thousand times its size.
//
// PGM/PPM (P2, P3, P5, P6, maxval 1..65535, # comments) is parsed by hand:
// Debian's libnetpbm would add a dependency (and it exits the process on
// malformed input), and the format is a few dozen lines.
#define _POSIX_C_SOURCE 200809L
#include "io/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM 16384
#define MAX_FILE_BYTES ((size_t)1 << 30)

// A decoded image: 8-bit interleaved samples, nc = 1 (G), 2 (GA), 3 (RGB), 4 (RGBA).
typedef struct raw_image {
    int h, w, nc;
    uint8_t *px; // (h, w, nc), malloc'd
} raw_image;

// ---------------------------------------------------------------------------
// PNG

typedef struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    char msg[200]; // libpng's error message
} png_src;

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "file ends early (truncated)");
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
}

// libpng calls this then expects it not to return; we record the message and
// jump back to the setjmp in decode_png.
static void png_on_error(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; // the library never prints
}

static dc_status decode_png(raw_image *im, const uint8_t *buf, size_t len, const char *path,
                            dc_error *err) {
    png_src src = {buf, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory starting libpng", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory starting libpng", path);
    }
    // Everything allocated after setjmp and freed by the error branch is
    // volatile so its value survives the longjmp.
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(px);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return dc_fail(err, DC_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", path, src.msg);
    }
    png_set_read_fn(png, &src, png_read_mem);
    // libpng's own limit (1e6 px) would fail with a vaguer message: lift it
    // and apply ours below, before anything the size of the image is allocated.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    // Ancillary chunks are read whole into memory, at the size their length
    // field claims (up to 2^31 - 1): a 90-byte file with an iTXt chunk
    // "of" 1.2 GB made libpng allocate that much. The decoder uses none of
    // the text, profile or metadata chunks, so libpng skips them unread, and
    // any other chunk it must hold in memory is capped at 1 MiB.
    static const png_byte k_skip[] = "iCCP\0iTXt\0tEXt\0zTXt\0eXIf\0sPLT\0hIST\0pCAL\0sCAL\0tIME\0"
                                     "pHYs\0oFFs\0sBIT\0bKGD\0cHRM\0gAMA\0sRGB";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, k_skip, (int)(sizeof k_skip / 5));
    png_set_chunk_malloc_max(png, 1 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w > MAX_DIM || h > MAX_DIM) {
        png_destroy_read_struct(&png, &info, NULL);
        return dc_fail(err, DC_ERR_FORMAT, "%s: PNG is %ux%u, too large (more than %d pixels on a side)",
                       path, (unsigned)w, (unsigned)h, MAX_DIM);
    }
    // The file must be able to hold the image before the image is allocated:
    // its rows (one filter byte each) are inflated from at most len bytes,
    // and deflate expands at most 1032:1. Without this a 50-byte IHDR-only
    // file claiming 16384x16384 RGBA would allocate 1 GiB first.
    uint64_t raw = (uint64_t)h * (1 + (uint64_t)png_get_rowbytes(png, info));
    if (raw / 1032 > len) {
        png_destroy_read_struct(&png, &info, NULL);
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: truncated PNG: a %ux%u image needs at least %llu bytes of compressed data, "
                       "the file has %zu", path, (unsigned)w, (unsigned)h, (unsigned long long)(raw / 1032), len);
    }
    png_set_expand(png); // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
    png_set_scale_16(png); // rounded v*255/65535 (see the contract above)
#else
    png_set_strip_16(png);
#endif
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int nc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (nc < 1 || nc > 4 || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * nc) {
        snprintf(src.msg, sizeof src.msg, "unexpected layout after expansion (%d channels, depth %d)",
                 nc, png_get_bit_depth(png, info));
        png_longjmp(png, 1);
    }
    px = malloc((size_t)h * rowbytes);
    rows = malloc((size_t)h * sizeof(png_bytep));
    if (!px || !rows) {
        snprintf(src.msg, sizeof src.msg, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL); // checks the CRCs of the chunks after IDAT
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    im->h = (int)h;
    im->w = (int)w;
    im->nc = nc;
    im->px = px;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// PGM / PPM

typedef struct pnm_src {
    const uint8_t *buf;
    size_t len, pos;
} pnm_src;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Skips whitespace and # comments (to end of line).
static void pnm_skip(pnm_src *s) {
    while (s->pos < s->len) {
        uint8_t c = s->buf[s->pos];
        if (is_space(c)) s->pos++;
        else if (c == '#') {
            while (s->pos < s->len && s->buf[s->pos] != '\n' && s->buf[s->pos] != '\r') s->pos++;
        } else break;
    }
}

// Reads a decimal integer (after whitespace/comments). Returns 0 at end of
// data (*eof set) or on a non-digit; caps at 10^7 to avoid overflow.
static int pnm_int(pnm_src *s, long *v, int *eof) {
    pnm_skip(s);
    *eof = s->pos >= s->len;
    if (*eof || s->buf[s->pos] < '0' || s->buf[s->pos] > '9') return 0;
    long x = 0;
    while (s->pos < s->len && s->buf[s->pos] >= '0' && s->buf[s->pos] <= '9') {
        if (x < 10000000) x = x * 10 + (s->buf[s->pos] - '0');
        s->pos++;
    }
    // a number must end at whitespace, a comment or the end of the data
    if (s->pos < s->len && !is_space(s->buf[s->pos]) && s->buf[s->pos] != '#') return 0;
    *v = x;
    return 1;
}

static dc_status decode_pnm(raw_image *im, const uint8_t *buf, size_t len, const char *path,
                            dc_error *err) {
    char kind = (char)buf[1]; // '2', '3', '5' or '6' (checked by the caller)
    int nc = (kind == '3' || kind == '6') ? 3 : 1;
    int plain = kind == '2' || kind == '3';
    const char *fmt = nc == 3 ? "PPM" : "PGM";
    pnm_src s = {buf, len, 2};
    long dims[3];
    static const char *const field[3] = {"width", "height", "maxval"};
    for (int i = 0; i < 3; i++) {
        int eof;
        if (!pnm_int(&s, &dims[i], &eof))
            return dc_fail(err, DC_ERR_FORMAT, "%s: bad P%c %s header: %s %s",
                           path, kind, fmt, eof ? "missing" : "non-numeric", field[i]);
    }
    long w = dims[0], h = dims[1], maxval = dims[2];
    if (w < 1 || h < 1)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s size %ldx%ld: width and height must be at least 1",
                       path, fmt, w, h);
    if (w > MAX_DIM || h > MAX_DIM)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s size %ldx%ld is too large (more than %d on a side)",
                       path, fmt, w, h, MAX_DIM);
    if (maxval < 1 || maxval > 65535)
        return dc_fail(err, DC_ERR_FORMAT, "%s: %s maxval %ld, expected 1..65535", path, fmt, maxval);
    size_t count = (size_t)w * (size_t)h * (size_t)nc;
    size_t bps = maxval > 255 ? 2 : 1;
    // Nothing the size of the image is allocated before the file is known to
    // hold it: a raw raster is exactly count * bps bytes after one whitespace
    // byte, a plain sample at least one digit. (A P6 header alone claiming
    // 16384x16384 must not cost 805 MB.)
    if (plain) {
        if (len - s.pos < count)
            return dc_fail(err, DC_ERR_FORMAT,
                           "%s: truncated P%c data: %zu bytes after the header cannot hold %zu samples",
                           path, kind, len - s.pos, count);
    } else {
        // exactly one whitespace byte separates maxval from the raster
        if (s.pos >= len || !is_space(buf[s.pos]))
            return dc_fail(err, DC_ERR_FORMAT, "%s: P%c header: no whitespace after maxval", path, kind);
        s.pos++;
        if (len - s.pos < count * bps)
            return dc_fail(err, DC_ERR_FORMAT, "%s: truncated P%c data: %zu bytes of pixels, %zu expected for %ldx%ld",
                           path, kind, len - s.pos, count * bps, w, h);
    }
    uint8_t *px = malloc(count);
    if (!px) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %ldx%ld pixels", path, w, h);
    // scaling to 0..255 with rounding; an integer formula so it is exact
    uint32_t mv = (uint32_t)maxval;
    if (plain) {
        for (size_t i = 0; i < count; i++) {
            long v;
            int eof;
            if (!pnm_int(&s, &v, &eof)) {
                free(px);
                if (eof)
                    return dc_fail(err, DC_ERR_FORMAT, "%s: truncated P%c data: %zu of %zu samples present",
                                   path, kind, i, count);
                return dc_fail(err, DC_ERR_FORMAT, "%s: P%c sample %zu is not a number", path, kind, i);
            }
            if (v > maxval) {
                free(px);
                return dc_fail(err, DC_ERR_FORMAT, "%s: P%c sample %zu is %ld, above maxval %ld",
                               path, kind, i, v, maxval);
            }
            px[i] = (uint8_t)(((uint32_t)v * 255u + mv / 2) / mv);
        }
    } else {
        const uint8_t *d = buf + s.pos;
        for (size_t i = 0; i < count; i++) {
            uint32_t v = bps == 2 ? ((uint32_t)d[2 * i] << 8) | d[2 * i + 1] : d[i];
            if (v > mv) {
                free(px);
                return dc_fail(err, DC_ERR_FORMAT, "%s: P%c sample %zu is %u, above maxval %ld",
                               path, kind, i, v, maxval);
            }
            px[i] = (uint8_t)((v * 255u + mv / 2) / mv);
        }
        // Bytes after the raster are allowed: netpbm files may hold several images.
    }
    im->h = (int)h;
    im->w = (int)w;
    im->nc = nc;
    im->px = px;
    return DC_OK;
}

// ---------------------------------------------------------------------------
// conversion and resize

// Interleaved (h, w, nc) -> planar (c, h, w), alpha composited onto black.
static void to_planar(uint8_t *out, const raw_image *im, int c) {
    size_t hw = (size_t)im->h * im->w;
    int has_alpha = im->nc == 2 || im->nc == 4;
    int color = im->nc >= 3;
    for (size_t i = 0; i < hw; i++) {
        const uint8_t *p = im->px + i * (size_t)im->nc;
        uint32_t a = has_alpha ? p[im->nc - 1] : 255;
        uint32_t r = p[0], g = color ? p[1] : p[0], b = color ? p[2] : p[0];
        if (a != 255) { // round(v * a / 255)
            r = (r * a + 127) / 255;
            g = (g * a + 127) / 255;
            b = (b * a + 127) / 255;
        }
        if (c == 1) {
            out[i] = color ? (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000) : (uint8_t)r;
        } else {
            out[i] = (uint8_t)r;
            out[hw + i] = (uint8_t)g;
            out[2 * hw + i] = (uint8_t)b;
        }
    }
}

// PyTorch's align_corners=False source index for output index d.
static void lerp_index(int d, int in, int out, int *i0, int *i1, float *t) {
    float src = ((float)d + 0.5f) * ((float)in / (float)out) - 0.5f;
    if (src < 0) src = 0;
    int k = (int)src; // floor, src >= 0
    if (k > in - 1) k = in - 1;
    *i0 = k;
    *i1 = k + 1 < in ? k + 1 : in - 1;
    *t = src - (float)k;
}

// Bilinear resize of one plane: dst is (oh, ow), src is (ih, iw).
static void resize_plane(uint8_t *dst, int oh, int ow, const uint8_t *src, int ih, int iw) {
    for (int y = 0; y < oh; y++) {
        int y0, y1;
        float ty;
        lerp_index(y, ih, oh, &y0, &y1, &ty);
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            float tx;
            lerp_index(x, iw, ow, &x0, &x1, &tx);
            float a = src[(size_t)y0 * iw + x0], b = src[(size_t)y0 * iw + x1];
            float c = src[(size_t)y1 * iw + x0], d = src[(size_t)y1 * iw + x1];
            float v = (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d);
            v += 0.5f;
            dst[(size_t)y * ow + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

// ---------------------------------------------------------------------------

static const uint8_t k_png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

dc_status dc_image_decode(uint8_t **px, const uint8_t *buf, size_t len, const char *path, int c,
                          int h, int w, dc_error *err) {
    *px = NULL;
    if (c != 1 && c != 3)
        return dc_fail(err, DC_ERR_ARG, "%s: %d channels requested, expected 1 (gray) or 3 (RGB)", path, c);
    if (h < 1 || w < 1 || h > MAX_DIM || w > MAX_DIM)
        return dc_fail(err, DC_ERR_ARG, "%s: requested size %dx%d, expected 1..%d on each side",
                       path, h, w, MAX_DIM);
    dc_status st;
    raw_image im = {0};
    if (len >= 8 && memcmp(buf, k_png_sig, 8) == 0) {
        st = decode_png(&im, buf, len, path, err);
    } else if (len >= 2 && buf[0] == 'P' && buf[1] && strchr("2356", buf[1])) {
        st = decode_pnm(&im, buf, len, path, err);
    } else {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0, o = 0; i < len && i < 8; i++)
            o += (size_t)snprintf(hex + o, sizeof hex - o, "%s%02x", i ? " " : "", buf[i]);
        const char *hint = "";
        if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) hint = " (this is JPEG: convert it to PNG)";
        else if (len >= 2 && buf[0] == 'P' && (buf[1] == '1' || buf[1] == '4')) hint = " (a PBM bitmap: convert it to PGM)";
        else if (len >= 2 && buf[0] == 'P' && buf[1] == '7') hint = " (PAM is not supported: convert it to PNG)";
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: unknown image format, first bytes [%s]: expected PNG or PGM/PPM (P2/P3/P5/P6)%s",
                     path, len ? hex : "empty file", hint);
    }
    if (st) return st;

    size_t in_plane = (size_t)im.h * im.w;
    uint8_t *planar = malloc(in_plane * c);
    if (!planar) {
        free(im.px);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    }
    to_planar(planar, &im, c);
    free(im.px);
    if (im.h == h && im.w == w) {
        *px = planar;
        return DC_OK;
    }
    uint8_t *out = malloc((size_t)h * w * c);
    if (!out) {
        free(planar);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int k = 0; k < c; k++)
        resize_plane(out + (size_t)k * h * w, h, w, planar + k * in_plane, im.h, im.w);
    free(planar);
    *px = out;
    return DC_OK;
}

dc_status dc_image_load(uint8_t **px, const char *path, int c, int h, int w, dc_error *err) {
    *px = NULL;
    // the arguments are checked before the file is read (dc_image_decode checks them again)
    if (c != 1 && c != 3)
        return dc_fail(err, DC_ERR_ARG, "%s: %d channels requested, expected 1 (gray) or 3 (RGB)", path, c);
    if (h < 1 || w < 1 || h > MAX_DIM || w > MAX_DIM)
        return dc_fail(err, DC_ERR_ARG, "%s: requested size %dx%d, expected 1..%d on each side",
                       path, h, w, MAX_DIM);
    uint8_t *buf;
    size_t len;
    dc_status st = dc_read_file(path, &buf, &len, MAX_FILE_BYTES, err);
    if (st) return st;
    st = dc_image_decode(px, buf, len, path, c, h, w, err);
    free(buf);
    return st;
}
