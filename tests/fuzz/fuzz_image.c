// fuzz_image.c — dc_image_decode (src/io/image.c), the decoder under
// dc_image_load: PNG through libpng, PGM/PPM (P2 P3 P5 P6) by hand.
//
// Input: one flag byte, then the image file. Bit 0 asks for 3 channels
// (else 1), bits 1-2 for the output size 28x28, 1x1, 5x7 or 64x48 (a 28x28
// image is passed through, the others are resized). On success all c*h*w
// output bytes are readable.
#include "fuzz_util.h"
#include "io/image.h"

static const int k_sizes[4][2] = {{28, 28}, {1, 1}, {5, 7}, {64, 48}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int c = data[0] & 1 ? 3 : 1;
    const int *hw = k_sizes[(data[0] >> 1) & 3];
    uint8_t *px = NULL;
    dc_error err = {{0}};
    dc_status st = dc_image_decode(&px, data + 1, size - 1, "fuzz.img", c, hw[0], hw[1], &err);
    fuzz_check_error(st, &err, "dc_image_decode");
    if (st == DC_OK) {
        if (!px) fuzz_fail("dc_image_decode: OK without pixels");
        fuzz_touch(px, (size_t)c * hw[0] * hw[1]);
    } else if (px) {
        fuzz_fail("dc_image_decode failed but returned pixels");
    }
    free(px);
    return 0;
}
