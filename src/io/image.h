// image.h — the image decoders' internal side (the public entry points,
// dc_image_load, dc_image_decode and dc_image_probe, are in deepc.h).
#ifndef DC_IO_IMAGE_H
#define DC_IO_IMAGE_H

#include "deepc.h"

// Decodes an image held in memory straight into out, (c, h, w) bytes the
// caller owns (c 1 or 3, h and w checked by the caller): what the
// image-folder loader's threads call, one image each.
dc_status dc_image_decode_into(uint8_t *out, const uint8_t *buf, size_t len, const char *path, int c, int h,
                               int w, dc_error *err);

// PIL's bilinear resize (Image.resize(..., BILINEAR), antialiased when
// shrinking) of c planes: dst is (c, oh, ow), src is (c, ih, iw).
// DC_ERR_NOMEM (without a message) when scratch memory runs out.
dc_status dc_image_resize(uint8_t *dst, int oh, int ow, const uint8_t *src, int c, int ih, int iw);

#endif
