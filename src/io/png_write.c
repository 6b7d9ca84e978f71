// png_write.c — gray/RGB PNG encoding with libpng into memory, then an atomic
// file write (contract in png_write.h).
//
// Compression level 6 and no filters heuristics beyond libpng's defaults: the
// images are small heatmaps and feature-map grids, so speed does not matter
// and the defaults give compact files.
#include "io/png_write.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_sink {
    uint8_t *buf;
    size_t len, cap;
    int oom;        // a realloc failed
    char msg[200];  // libpng's error message
} png_sink;

static void sink_write(png_structp png, png_bytep data, size_t n) {
    png_sink *s = png_get_io_ptr(png);
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) cap *= 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            s->oom = 1;
            png_error(png, "out of memory for the encoded image");
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void sink_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg) {
    png_sink *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; // the library never prints
}

dc_status dc_png_encode(uint8_t **out, size_t *len, const uint8_t *px, int h, int w, int channels,
                        dc_error *err) {
    *out = NULL;
    *len = 0;
    if (h < 1 || w < 1 || h > 65535 || w > 65535 || (channels != 1 && channels != 3))
        return dc_fail(err, DC_ERR_ARG, "png: cannot encode a %dx%d image with %d channels (1 or 3, sides 1..65535)",
                       h, w, channels);
    // The sink lives on the heap: its pointer never changes after setjmp, so
    // the error branch may read what the callbacks wrote into it (a local
    // struct changed between setjmp and longjmp would be indeterminate).
    png_sink *sink = calloc(1, sizeof *sink);
    if (!sink) return dc_fail(err, DC_ERR_NOMEM, "png: out of memory");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        if (png) png_destroy_write_struct(&png, NULL);
        free(sink);
        return dc_fail(err, DC_ERR_NOMEM, "png: out of memory starting libpng");
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        dc_status st = dc_fail(err, sink->oom ? DC_ERR_NOMEM : DC_ERR_IO, "png: encoding failed: %s", sink->msg);
        free(sink->buf);
        free(sink);
        png_destroy_write_struct(&png, &info);
        return st;
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!rows) {
        sink->oom = 1;
        png_error(png, "out of memory for row pointers");
    }
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(px + (size_t)y * w * channels);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = sink->buf;
    *len = sink->len;
    free(sink);
    return DC_OK;
}

dc_status dc_png_write(const char *path, const uint8_t *px, int h, int w, int channels, dc_error *err) {
    uint8_t *buf;
    size_t len;
    dc_status st = dc_png_encode(&buf, &len, px, h, w, channels, err);
    if (st) {
        // name the file in the message
        char tmp[sizeof err->msg];
        snprintf(tmp, sizeof tmp, "%s", err ? err->msg : "");
        return dc_fail(err, st, "%s: %s", path, tmp);
    }
    dc_buf part = {buf, len};
    st = dc_write_atomic(path, &part, 1, err);
    free(buf);
    return st;
}
