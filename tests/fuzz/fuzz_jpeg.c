// fuzz_jpeg.c — the image-folder loader's two calls per file (src/io/
// image.c): dc_image_probe (size and grayness from the header) and
// dc_image_decode at that size (libjpeg-turbo for JPEG, also PNG and
// PGM/PPM: the format is picked by magic bytes), then a resize to 7x5.
//
// Input: one flag byte (bit 0: 3 channels, else 1), then the file. The
// seeds are JPEGs (baseline, progressive, gray, CMYK, 4:2:0). On success the
// probed size is 1..16384 on each side and every output byte is readable;
// a probe that succeeds never contradicts the decoder's size.
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int c = data[0] & 1 ? 3 : 1;
    int h = 0, w = 0;
    bool gray = false;
    dc_error err = {{0}};
    dc_status st = dc_image_probe(data + 1, size - 1, "fuzz.jpg", &h, &w, &gray, &err);
    fuzz_check_error(st, &err, "dc_image_probe");
    if (st != DC_OK) return 0;
    if (h < 1 || w < 1 || h > 16384 || w > 16384) fuzz_fail("probed size %dx%d", h, w);
    if ((size_t)h * w > ((size_t)1 << 24)) return 0; // a big claim: the decode limit is the decoder's business
    uint8_t *px = NULL;
    memset(&err, 0, sizeof err);
    st = dc_image_decode(&px, data + 1, size - 1, "fuzz.jpg", c, h, w, &err);
    fuzz_check_error(st, &err, "dc_image_decode");
    if (st == DC_OK) fuzz_touch(px, (size_t)c * h * w);
    else if (px) fuzz_fail("dc_image_decode failed but returned pixels");
    free(px);
    px = NULL;
    memset(&err, 0, sizeof err);
    st = dc_image_decode(&px, data + 1, size - 1, "fuzz.jpg", c, 7, 5, &err);
    fuzz_check_error(st, &err, "dc_image_decode (resized)");
    if (st == DC_OK) fuzz_touch(px, (size_t)c * 35);
    free(px);
    return 0;
}
