// png_colors.c — a test tool (not a test): how much a PNG shows. Prints
// "WIDTH HEIGHT COLOURS INK" for the image: the number of distinct RGB
// colours and the fraction of pixels that differ from the most common colour
// (the background). tests/cli_report.sh uses it to tell a rendered page from
// a blank one (a blank page is 1 colour and 0 ink).
//
//   png_colors FILE.png
//
// Exit status 0, or 1 with a one-line message when the file cannot be read.
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: png_colors FILE.png\n");
        return 2;
    }
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, argv[1])) {
        fprintf(stderr, "png_colors: %s: %s\n", argv[1], im.message);
        return 1;
    }
    im.format = PNG_FORMAT_RGB; // alpha composited away, gray expanded
    const size_t npx = (size_t)im.width * im.height;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    uint8_t *seen = calloc((size_t)1 << 21, 1); // one bit per 24-bit colour
    uint32_t *count = NULL;
    if (!px || !seen) {
        fprintf(stderr, "png_colors: %s: out of memory for %ux%u pixels\n", argv[1], im.width, im.height);
        png_image_free(&im);
        free(px);
        free(seen);
        return 1;
    }
    if (!png_image_finish_read(&im, NULL, px, 0, NULL)) {
        fprintf(stderr, "png_colors: %s: %s\n", argv[1], im.message);
        free(px);
        free(seen);
        return 1;
    }
    // distinct colours (a bit per colour) and the most common one (counts in
    // an open-addressing table; colours past its capacity are rare ones and
    // cannot be the background)
    enum { CAP = 1 << 17 };
    uint32_t *keys = malloc(sizeof(uint32_t) * CAP);
    count = calloc(CAP, sizeof *count);
    if (!keys || !count) {
        fprintf(stderr, "png_colors: out of memory\n");
        free(px);
        free(seen);
        free(keys);
        free(count);
        return 1;
    }
    size_t colours = 0;
    for (size_t i = 0; i < npx; i++) {
        const uint32_t c = (uint32_t)px[3 * i] << 16 | (uint32_t)px[3 * i + 1] << 8 | px[3 * i + 2];
        if (!(seen[c >> 3] & (1u << (c & 7)))) {
            seen[c >> 3] |= (uint8_t)(1u << (c & 7));
            colours++;
        }
        uint32_t h = (c * 2654435761u) >> 15; // 17 bits
        for (int probe = 0; probe < 64; probe++, h = (h + 1) & (CAP - 1)) {
            if (!count[h]) keys[h] = c;
            if (keys[h] == c) {
                count[h]++;
                break;
            }
        }
    }
    uint32_t most = 0;
    for (size_t k = 0; k < CAP; k++) most = count[k] > most ? count[k] : most;
    printf("%u %u %zu %.4f\n", im.width, im.height, colours, npx ? 1.0 - (double)most / (double)npx : 0.0);
    free(px);
    free(seen);
    free(keys);
    free(count);
    return 0;
}
