// image.c — decoding images for predict and for image-folder data sets:
// PNG (libpng), JPEG (libjpeg-turbo) and PGM/PPM.
//
// Contract: dc_image_decode(&px, buf, len, origin, c, h, w, err) returns a
// malloc'd (c, h, w) byte array (planar, row-major; the caller frees it with
// free()) or fails with a one-line message naming the origin;
// dc_image_load reads the file first. c is 1 (gray) or 3 (RGB).
//
// Pipeline: pick the decoder by magic bytes (never by extension) -> decode
// to 8-bit interleaved gray / gray+alpha / RGB / RGBA -> composite alpha
// onto black -> convert channels -> resize. The target is what torchvision
// gives a user who loads the same file: ImageFolder's pil_loader
// (Image.open(f).convert("RGB")), then transforms.Grayscale() for one
// channel, then transforms.Resize((h, w)), whose PIL path is
// Image.resize((w, h), BILINEAR). The tests compare with PIL byte for byte.
//
// Choices, with reasons:
// - Alpha is composited onto BLACK (v * a / 255, rounded): the training data
//   (MNIST/Fashion-MNIST) has a black background, so a transparent region
//   reads as background. (PIL's convert("RGB") drops alpha, leaving whatever
//   colour the transparent pixels happen to store.)
// - 16-bit samples (PNG and PGM/PPM maxval > 255) are scaled to 8 bits with
//   rounding, v * 255 / maxval (png_set_scale_16 for PNG), so a 16-bit PNG
//   and the same image as a 16-bit PGM give identical bytes.
// - gAMA/iCCP/sRGB chunks, JPEG ICC profiles and EXIF orientation are
//   ignored: samples are taken as stored, as PIL (and so torchvision) does.
// - RGB -> gray is PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2^15)
//   >> 16 (ITU-R 601 luma in 16-bit fixed point); gray -> RGB replicates.
// - JPEG: libjpeg-turbo with its defaults (ISLOW DCT, fancy upsampling), as
//   PIL decodes; YCbCr and RGB files decode to RGB, gray ones to gray, CMYK
//   and YCCK ones to CMYK (Adobe's inverted convention) and then to RGB as
//   PIL's convert("RGB") does. A file cut short (libjpeg's "premature end of
//   data" warning) is an error, as PIL refuses truncated files.
// - Resize is PIL's BILINEAR resampling (libImaging/Resample.c): a
//   separable triangle filter whose support widens by the scale factor when
//   shrinking (antialiasing), coefficients normalised per output pixel and
//   applied in 22-bit fixed point, horizontal pass then vertical, each
//   rounded to 8 bits. Enlarging is then ordinary half-pixel bilinear. An
//   image already h x w is passed through untouched.
// - Dimensions above 16384 on either side are refused before allocating.
//
// PGM/PPM (P2, P3, P5, P6, maxval 1..65535, # comments) is parsed by hand:
// Debian's libnetpbm would add a dependency (and it exits the process on
// malformed input), and the format is a few dozen lines.
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "io/image.h"

#include <jpeglib.h>
#include <math.h>
#include <jerror.h>
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
    // "of" 1.2 GB made libpng allocate that much (found by fuzz_image). The
    // decoder uses none of the text, profile or metadata chunks, so libpng
    // skips them unread, and any other chunk it must hold is capped at 1 MiB.
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
    uint64_t raw_bytes = (uint64_t)h * (1 + (uint64_t)png_get_rowbytes(png, info));
    if (raw_bytes / 1032 > len) {
        png_destroy_read_struct(&png, &info, NULL);
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: truncated PNG: a %ux%u image needs at least %llu bytes of compressed data, the file has %zu",
                       path, (unsigned)w, (unsigned)h, (unsigned long long)(raw_bytes / 1032), len);
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
            return dc_fail(err, DC_ERR_FORMAT, "%s: truncated P%c data: %zu bytes after the header cannot hold %zu samples",
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
// JPEG (libjpeg-turbo)

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated; // libjpeg warned that the data ended early
} jpeg_err;

static void jpeg_on_error(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)ci->err;
    (*ci->err->format_message)(ci, e->msg);
    longjmp(e->jb, 1);
}

// Warnings (level -1) are corrupt-data notices; libjpeg carries on past
// them. The end of data arriving early is the one we refuse.
static void jpeg_on_message(j_common_ptr ci, int level) {
    jpeg_err *e = (jpeg_err *)ci->err;
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

static const uint8_t k_jpeg_sig[3] = {0xff, 0xd8, 0xff};

// PIL's CMYK -> RGB (Convert.c, cmyk2rgb): v = 255 - k, out = v - round(c * v / 255).
static uint8_t cmyk_channel(uint8_t c, uint8_t k) {
    int nk = 255 - k, t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v);
}

static dc_status decode_jpeg(raw_image *im, const uint8_t *buf, size_t len, const char *path,
                             int header_only, dc_error *err) {
    struct jpeg_decompress_struct ci;
    jpeg_err je;
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_on_error;
    je.pub.emit_message = jpeg_on_message;
    uint8_t *volatile px = NULL;
    uint8_t *volatile row = NULL;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        free(px);
        free(row);
        return dc_fail(err, DC_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", path, je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    if (ci.image_width > MAX_DIM || ci.image_height > MAX_DIM) {
        jpeg_destroy_decompress(&ci);
        return dc_fail(err, DC_ERR_FORMAT, "%s: JPEG is %ux%u, too large (more than %d pixels on a side)", path,
                       (unsigned)ci.image_width, (unsigned)ci.image_height, MAX_DIM);
    }
    const int nin = ci.num_components;
    if (nin != 1 && nin != 3 && nin != 4) {
        jpeg_destroy_decompress(&ci);
        return dc_fail(err, DC_ERR_FORMAT, "%s: JPEG with %d colour components: expected 1 (gray), 3 (YCbCr/RGB) "
                       "or 4 (CMYK)", path, nin);
    }
    im->h = (int)ci.image_height;
    im->w = (int)ci.image_width;
    im->nc = nin == 1 ? 1 : 3;
    if (header_only) {
        jpeg_destroy_decompress(&ci);
        return DC_OK;
    }
    ci.out_color_space = nin == 1 ? JCS_GRAYSCALE : nin == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_start_decompress(&ci);
    const size_t w = ci.output_width, stride = w * (size_t)ci.output_components;
    px = malloc((size_t)ci.output_height * w * (size_t)im->nc);
    row = nin == 4 ? malloc(stride) : NULL;
    if (!px || (nin == 4 && !row)) {
        snprintf(je.msg, sizeof je.msg, "out of memory for %ux%u pixels", (unsigned)ci.output_width,
                 (unsigned)ci.output_height);
        longjmp(je.jb, 1);
    }
    // Adobe's CMYK JPEGs store inverted samples (PIL's rawmode "CMYK;I")
    const int inverted = nin == 4 && ci.saw_Adobe_marker;
    while (ci.output_scanline < ci.output_height) {
        uint8_t *dst = px + (size_t)ci.output_scanline * w * (size_t)im->nc;
        JSAMPROW rp = nin == 4 ? row : dst;
        if (jpeg_read_scanlines(&ci, &rp, 1) != 1) break;
        // the data ended: libjpeg would go on inventing gray rows for the
        // rest of the size the header claims; the file is refused anyway,
        // so stop here (a 500-byte file can claim 16384 x 16384)
        if (je.truncated) break;
        if (nin == 4)
            for (size_t x = 0; x < w; x++) {
                uint8_t q[4];
                for (int k = 0; k < 4; k++) q[k] = inverted ? (uint8_t)(255 - row[4 * x + k]) : row[4 * x + k];
                for (int k = 0; k < 3; k++) dst[3 * x + k] = cmyk_channel(q[k], q[3]);
            }
    }
    if (!je.truncated && ci.output_scanline == ci.output_height) jpeg_finish_decompress(&ci);
    const int truncated = je.truncated || ci.output_scanline < ci.output_height;
    jpeg_destroy_decompress(&ci);
    free(row);
    if (truncated) {
        free(px);
        return dc_fail(err, DC_ERR_FORMAT, "%s: truncated JPEG: the data ends before the image does", path);
    }
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
            out[i] = color ? (uint8_t)((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) : (uint8_t)r;
        } else {
            out[i] = (uint8_t)r;
            out[hw + i] = (uint8_t)g;
            out[2 * hw + i] = (uint8_t)b;
        }
    }
}

// PIL's resampling (libImaging/Resample.c) with its bilinear filter.
#define PIL_PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

// For each of the out_size output positions along one axis of in_size
// input pixels: the first input pixel bounds[2i], the count bounds[2i+1],
// and ksize fixed-point weights kk[i*ksize ..]. Returns ksize (0: no memory).
static int pil_coeffs(int in_size, int out_size, int **bounds_out, int32_t **kk_out) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; // the bilinear filter's support is 1
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * (size_t)ksize);
    int32_t *kk = malloc(sizeof(int32_t) * (size_t)out_size * (size_t)ksize);
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    if (!k || !kk || !bounds) {
        free(k);
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); // truncation, as PIL
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kk[(size_t)xx * ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS)
                                                         : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static uint8_t clip8(int32_t v) {
    if (v >= (1 << PIL_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

// The resampling itself over images of `nc` interleaved channels (nc = 1:
// one plane): dst is (oh, ow, nc), src is (ih, iw, nc). Each channel's
// arithmetic is PIL's whatever nc is; interleaved RGB (nc = 3) keeps the
// three channels of a tap together, as PIL's own loop over 4-byte pixels does.
static dc_status resample(uint8_t *dst, int oh, int ow, const uint8_t *src, int nc, int ih, int iw) {
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = pil_coeffs(iw, ow, &bh, &kh), ksv = pil_coeffs(ih, oh, &bv, &kv);
    // the horizontal pass covers only the rows the vertical pass reads
    const int y_first = ksv ? bv[0] : 0, y_last = ksv ? bv[2 * oh - 2] + bv[2 * oh - 1] : 0;
    const int need_h = ow != iw, need_v = oh != ih;
    uint8_t *tmp = need_h && need_v ? malloc((size_t)(y_last - y_first) * ow * nc) : NULL;
    const size_t acc_n = (size_t)(ow > iw ? ow : iw) * nc;
    int32_t *acc = malloc(sizeof(int32_t) * acc_n); // one output row
    if (!ksh || !ksv || (need_h && need_v && !tmp) || !acc) {
        free(bh), free(kh), free(bv), free(kv), free(tmp), free(acc);
        return DC_ERR_NOMEM;
    }
    const int32_t half = 1 << (PIL_PRECISION_BITS - 1);
    const uint8_t *rows = src; // what the vertical pass reads: (rows, row_w, nc)
    int row_w = iw, row0 = 0;
    if (need_h) {
        uint8_t *t = need_v ? tmp : dst;
        const int y0 = need_v ? y_first : 0, y1 = need_v ? y_last : ih;
        for (int y = y0; y < y1; y++) {
            const uint8_t *in = src + (size_t)y * iw * nc;
            uint8_t *o = t + (size_t)(y - y0) * ow * nc;
            for (int xx = 0; xx < ow; xx++) {
                const int xmin = bh[2 * xx], xmax = bh[2 * xx + 1];
                const int32_t *kw = kh + (size_t)xx * ksh;
                const uint8_t *p = in + (size_t)xmin * nc;
                if (nc == 3) {
                    int32_t s0 = half, s1 = half, s2 = half;
                    for (int x = 0; x < xmax; x++, p += 3) {
                        s0 += p[0] * kw[x];
                        s1 += p[1] * kw[x];
                        s2 += p[2] * kw[x];
                    }
                    o[3 * xx] = clip8(s0), o[3 * xx + 1] = clip8(s1), o[3 * xx + 2] = clip8(s2);
                } else {
                    for (int k = 0; k < nc; k++) {
                        int32_t ss = half;
                        for (int x = 0; x < xmax; x++) ss += p[(size_t)x * nc + k] * kw[x];
                        o[(size_t)xx * nc + k] = clip8(ss);
                    }
                }
            }
        }
        rows = t;
        row_w = ow;
        row0 = y0;
    }
    if (need_v) {
        const size_t rw = (size_t)row_w * nc;
        for (int yy = 0; yy < oh; yy++) {
            // a row of accumulators, input rows added whole (contiguous and
            // vectorisable; integer sums, so the order of the terms cannot
            // change the result)
            const int ymin = bv[2 * yy] - row0, ymax = bv[2 * yy + 1];
            const int32_t *kw = kv + (size_t)yy * ksv;
            for (size_t i = 0; i < rw; i++) acc[i] = half;
            for (int y = 0; y < ymax; y++) {
                const uint8_t *r = rows + (size_t)(y + ymin) * rw;
                const int32_t wgt = kw[y];
                for (size_t i = 0; i < rw; i++) acc[i] += r[i] * wgt;
            }
            uint8_t *o = dst + (size_t)yy * rw;
            for (size_t i = 0; i < rw; i++) o[i] = clip8(acc[i]);
        }
    }
    free(bh), free(kh), free(bv), free(kv), free(tmp), free(acc);
    return DC_OK;
}

dc_status dc_image_resize(uint8_t *dst, int oh, int ow, const uint8_t *src, int c, int ih, int iw) {
    // dst is (c, oh, ow), src is (c, ih, iw); one plane at a time
    if (oh == ih && ow == iw) {
        memcpy(dst, src, (size_t)c * ih * iw);
        return DC_OK;
    }
    for (int k = 0; k < c; k++) {
        dc_status st = resample(dst + (size_t)k * oh * ow, oh, ow, src + (size_t)k * ih * iw, 1, ih, iw);
        if (st) return st;
    }
    return DC_OK;
}

// Interleaved (h, w, nc) -> interleaved RGB (h, w, 3), alpha composited
// onto black (to_planar's rules, without the planar reorder).
static void to_rgb(uint8_t *out, const raw_image *im) {
    const size_t hw = (size_t)im->h * im->w;
    const int has_alpha = im->nc == 2 || im->nc == 4, color = im->nc >= 3;
    for (size_t i = 0; i < hw; i++) {
        const uint8_t *p = im->px + i * (size_t)im->nc;
        uint32_t a = has_alpha ? p[im->nc - 1] : 255;
        uint32_t r = p[0], g = color ? p[1] : p[0], b = color ? p[2] : p[0];
        if (a != 255) r = (r * a + 127) / 255, g = (g * a + 127) / 255, b = (b * a + 127) / 255;
        out[3 * i] = (uint8_t)r, out[3 * i + 1] = (uint8_t)g, out[3 * i + 2] = (uint8_t)b;
    }
}

// ---------------------------------------------------------------------------

static const uint8_t k_png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int is_png(const uint8_t *buf, size_t len) { return len >= 8 && memcmp(buf, k_png_sig, 8) == 0; }
static int is_jpeg(const uint8_t *buf, size_t len) { return len >= 3 && memcmp(buf, k_jpeg_sig, 3) == 0; }
static int is_pnm(const uint8_t *buf, size_t len) {
    return len >= 2 && buf[0] == 'P' && buf[1] && strchr("2356", buf[1]);
}

static dc_status unknown_format(const uint8_t *buf, size_t len, const char *path, dc_error *err) {
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0, o = 0; i < len && i < 8; i++)
        o += (size_t)snprintf(hex + o, sizeof hex - o, "%s%02x", i ? " " : "", buf[i]);
    const char *hint = "";
    if (len >= 2 && buf[0] == 'P' && (buf[1] == '1' || buf[1] == '4')) hint = " (a PBM bitmap: convert it to PGM)";
    else if (len >= 2 && buf[0] == 'P' && buf[1] == '7') hint = " (PAM is not supported: convert it to PNG)";
    else if (len >= 2 && buf[0] == 'B' && buf[1] == 'M') hint = " (BMP is not supported: convert it to PNG)";
    else if (len >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4))
        hint = " (WebP is not supported: convert it to PNG or JPEG)";
    else if (len >= 4 && (!memcmp(buf, "II*\0", 4) || !memcmp(buf, "MM\0*", 4)))
        hint = " (TIFF is not supported: convert it to PNG)";
    return dc_fail(err, DC_ERR_FORMAT,
                   "%s: unknown image format, first bytes [%s]: expected PNG, JPEG or PGM/PPM (P2/P3/P5/P6)%s",
                   path, len ? hex : "empty file", hint);
}

dc_status dc_image_probe(const uint8_t *buf, size_t len, const char *origin, int *h, int *w, bool *gray,
                         dc_error *err) {
    *h = *w = 0;
    *gray = false;
    if (is_png(buf, len)) {
        // IHDR is the first chunk: length, "IHDR", width, height, depth, colour type
        if (len < 26 || memcmp(buf + 12, "IHDR", 4))
            return dc_fail(err, DC_ERR_FORMAT, "%s: corrupt or truncated PNG: no IHDR chunk", origin);
        uint32_t pw = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19];
        uint32_t ph = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23];
        if (pw < 1 || ph < 1 || pw > MAX_DIM || ph > MAX_DIM)
            return dc_fail(err, DC_ERR_FORMAT, "%s: PNG is %ux%u: expected 1..%d pixels on a side", origin,
                           (unsigned)pw, (unsigned)ph, MAX_DIM);
        *w = (int)pw;
        *h = (int)ph;
        *gray = buf[25] == 0 || buf[25] == 4; // gray, gray + alpha
        return DC_OK;
    }
    raw_image im = {0};
    dc_status st;
    if (is_jpeg(buf, len)) st = decode_jpeg(&im, buf, len, origin, 1, err);
    else if (is_pnm(buf, len)) {
        // the header only: a P5/P6 raster is not read
        st = decode_pnm(&im, buf, len, origin, err);
        free(im.px);
    } else
        return unknown_format(buf, len, origin, err);
    if (st) return st;
    *h = im.h;
    *w = im.w;
    *gray = im.nc == 1;
    return DC_OK;
}

dc_status dc_image_decode_into(uint8_t *out, const uint8_t *buf, size_t len, const char *path, int c, int h,
                               int w, dc_error *err) {
    raw_image im = {0};
    dc_status st;
    if (is_png(buf, len)) st = decode_png(&im, buf, len, path, err);
    else if (is_jpeg(buf, len)) st = decode_jpeg(&im, buf, len, path, 0, err);
    else if (is_pnm(buf, len)) st = decode_pnm(&im, buf, len, path, err);
    else st = unknown_format(buf, len, path, err);
    if (st) return st;
    if (im.h == h && im.w == w) {
        to_planar(out, &im, c);
        free(im.px);
        return DC_OK;
    }
    if (c == 3) {
        // colour: resize interleaved RGB (each tap's three channels
        // together), then reorder the small result to planes
        uint8_t *rgb = im.nc == 3 ? im.px : malloc((size_t)im.h * im.w * 3);
        uint8_t *small = rgb ? malloc((size_t)h * w * 3) : NULL;
        st = small ? DC_OK : DC_ERR_NOMEM;
        if (!st) {
            if (rgb != im.px) to_rgb(rgb, &im);
            st = resample(small, h, w, rgb, 3, im.h, im.w);
        }
        if (!st) {
            const size_t hw = (size_t)h * w;
            for (size_t i = 0; i < hw; i++)
                out[i] = small[3 * i], out[hw + i] = small[3 * i + 1], out[2 * hw + i] = small[3 * i + 2];
        }
        if (rgb != im.px) free(rgb);
        free(small);
        free(im.px);
        return st ? dc_fail(err, DC_ERR_NOMEM, "%s: out of memory resizing", path) : DC_OK;
    }
    // gray: to one plane at full size first (PIL converts before resizing)
    size_t in_plane = (size_t)im.h * im.w;
    uint8_t *planar = malloc(in_plane);
    if (!planar) {
        free(im.px);
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", path);
    }
    to_planar(planar, &im, 1);
    free(im.px);
    st = resample(out, h, w, planar, 1, im.h, im.w);
    free(planar);
    if (st) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory resizing", path);
    return DC_OK;
}

static dc_status check_request(const char *path, int c, int h, int w, dc_error *err) {
    if (c != 1 && c != 3)
        return dc_fail(err, DC_ERR_ARG, "%s: %d channels requested, expected 1 (gray) or 3 (RGB)", path, c);
    if (h < 1 || w < 1 || h > MAX_DIM || w > MAX_DIM)
        return dc_fail(err, DC_ERR_ARG, "%s: requested size %dx%d, expected 1..%d on each side",
                       path, h, w, MAX_DIM);
    return DC_OK;
}

dc_status dc_image_decode(uint8_t **px, const uint8_t *buf, size_t len, const char *origin, int c, int h, int w,
                          dc_error *err) {
    *px = NULL;
    dc_status st = check_request(origin, c, h, w, err);
    if (st) return st;
    uint8_t *out = malloc((size_t)c * h * w);
    if (!out) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
    if ((st = dc_image_decode_into(out, buf, len, origin, c, h, w, err))) {
        free(out);
        return st;
    }
    *px = out;
    return DC_OK;
}

dc_status dc_image_load(uint8_t **px, const char *path, int c, int h, int w, dc_error *err) {
    *px = NULL;
    dc_status st = check_request(path, c, h, w, err);
    if (st) return st;
    uint8_t *buf;
    size_t len;
    if ((st = dc_read_file(path, &buf, &len, MAX_FILE_BYTES, err))) return st;
    st = dc_image_decode(px, buf, len, path, c, h, w, err);
    free(buf);
    return st;
}
