// npy.h — NumPy .npy files (internal side; the file-level reader and writer,
// dc_npy_read / dc_npy_write_f32, are public in include/deepc.h).
//
// Format (numpy/lib/format.py, "NEP 1"): the 6 bytes "\x93NUMPY", a major and
// minor version byte (1.0, 2.0 or 3.0), the header length (u16 LE for 1.0,
// u32 LE for 2.0/3.0), then that many bytes of an ASCII (3.0: UTF-8) Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (28, 28), }
// padded with spaces and ending in '\n', so the data starts at a multiple of
// 64 bytes (numpy >= 1.14 aligns to 64; older files to 16: both accepted).
// The data follows: prod(shape) elements, C order, nothing after them.
//
// The reader accepts dtypes '<f4' '>f4' '<f8' '>f8' '|u1' (also '<u1' and
// 'u1'), C order only; everything is converted to float. It checks the magic,
// version, header length against the file, the dict's keys (all three, no
// others, each once), the shape (rank <= 8, non-negative, no overflow) and
// that the data is exactly prod(shape) * itemsize bytes.
#ifndef DC_IO_NPY_H
#define DC_IO_NPY_H

#include "core/core.h"

// A parsed .npy held in memory, without conversion: the data stays in the
// caller's buffer. Accepts the dtypes float32/float64, (u)int8/16/32/64 and
// bool, either byte order.
typedef struct dc_npy_view {
    int rank;
    int64_t shape[DC_NPY_MAX_RANK];
    size_t n;              // product of shape
    char kind;             // 'f' float, 'i' signed, 'u' unsigned, 'b' bool
    int itemsize;          // bytes per element
    bool big_endian;
    char descr[16];        // as in the header, e.g. "<f4"
    const uint8_t *data;   // (n * itemsize) bytes inside the parsed buffer
} dc_npy_view;
dc_status dc_npy_view_parse(dc_npy_view *v, const uint8_t *buf, size_t len, const char *origin,
                            dc_error *err);
// Element i as a double (any kind), and as an int64 (integer and bool kinds;
// false for floats and for unsigned values above INT64_MAX).
double dc_npy_view_f64(const dc_npy_view *v, size_t i);
bool dc_npy_view_i64(const dc_npy_view *v, size_t i, int64_t *out);

// Parses an .npy image held in memory (what dc_npy_read does after reading
// the file). `origin` names the source in messages. On failure *a is empty.
dc_status dc_npy_parse(dc_npy *a, const uint8_t *buf, size_t len, const char *origin,
                       dc_error *err);

// Encodes the version-1.0 header for a little-endian float32 C-order array of
// the given shape into hdr (cap bytes); returns its length (a multiple of 64)
// or 0 if it does not fit.
size_t dc_npy_header_f32(char *hdr, size_t cap, int rank, const int64_t *shape);

#endif
