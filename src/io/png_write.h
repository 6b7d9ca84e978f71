// png_write.h — writing 8-bit gray or RGB PNG files with libpng (internal).
//
// The image is encoded into memory (png_set_write_fn) and then written with
// dc_write_atomic, so a failed or interrupted write never leaves a partial
// file under the final name. libpng's errors come back as a dc_status (its
// longjmp lands in this module); the library prints nothing.
#ifndef DC_IO_PNG_WRITE_H
#define DC_IO_PNG_WRITE_H

#include "core/core.h"

// px is (h, w, channels) interleaved bytes, row-major; channels is 1 (gray)
// or 3 (RGB); 1 <= h, w <= 65535.
dc_status dc_png_write(const char *path, const uint8_t *px, int h, int w, int channels,
                       dc_error *err);

// The same, into a malloc'd buffer (*out, *len) instead of a file (tests and
// callers that embed the PNG elsewhere).
dc_status dc_png_encode(uint8_t **out, size_t *len, const uint8_t *px, int h, int w,
                        int channels, dc_error *err);

#endif
