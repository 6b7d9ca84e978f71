// image.h — decoding images held in memory (internal side; the file-level
// loader, dc_image_load, is public in include/deepc.h).
#ifndef DC_IO_IMAGE_H
#define DC_IO_IMAGE_H

#include "core/core.h"

// What dc_image_load does after reading the file: decodes the PNG or PGM/PPM
// image in buf (len bytes; the format is picked by its magic bytes) into a
// malloc'd (c, h, w) planar byte array *px, converted to c channels (1 or 3)
// and resized to h x w (1..16384). `origin` names the source in messages.
// On failure *px is NULL.
dc_status dc_image_decode(uint8_t **px, const uint8_t *buf, size_t len, const char *origin, int c,
                          int h, int w, dc_error *err);

#endif
