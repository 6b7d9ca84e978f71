// safetensors.h — read and write the safetensors format (internal API).
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// u64 N, then N bytes of UTF-8 JSON object mapping each tensor name to
// {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets
// relative to the first byte after the header) plus an optional
// "__metadata__": {string: string}; then the data buffer. Tensors are
// row-major, little-endian and must tile the buffer exactly: no gaps, no
// overlaps, no trailing bytes.
//
// Reading validates all of that and fails with a one-line message naming the
// file and the field. The reader copies every tensor into its own 64-byte
// aligned slot of one allocation (f->blob), so `data` can be cast to
// float*/int64_t* safely even when the file packs a U8 tensor in front of an
// F32 one (the format allows that, and unaligned casts are undefined).
//
// Writing: tensors go into the header and the buffer in the order added; the
// header is padded with spaces so the buffer starts 8-byte aligned; the file
// is written atomically (temp file + rename) so a crash or a full disk never
// leaves a half-written model where the old one was.
//
// Files written here load with safetensors.torch.load_file, and files written
// by safetensors.torch.save_file load here (tests/test_io.c reads such a
// fixture made by tests/gen_safetensors_fixture.py).
#ifndef DC_IO_SAFETENSORS_H
#define DC_IO_SAFETENSORS_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

#define DC_ST_MAX_RANK 8
#define DC_ST_MAX_NAME 256                     // including the NUL
#define DC_ST_MAX_HEADER ((uint64_t)100 << 20) // 100 MB: larger is not a real file

typedef enum dc_st_dtype {
    DC_ST_F32, // "F32" float
    DC_ST_I32, // "I32" int32_t
    DC_ST_I64, // "I64" int64_t
    DC_ST_U8,  // "U8"  uint8_t
    DC_ST_F64, // "F64" double
    DC_ST_I8,  // "I8"  int8_t (int8 quantised weights)
} dc_st_dtype;

size_t dc_st_dtype_size(dc_st_dtype dt);      // bytes per element
const char *dc_st_dtype_name(dc_st_dtype dt); // "F32", ...

typedef struct dc_st_tensor {
    char name[DC_ST_MAX_NAME]; // tensor name (key in the header)
    dc_st_dtype dtype;
    int rank;                        // 0..8 (0 is a scalar with one element)
    int64_t shape[DC_ST_MAX_RANK];   // (shape[0], ..., shape[rank-1])
    const void *data;                // row-major little-endian elements
    size_t nbytes;                   // product(shape) * dtype size
} dc_st_tensor;

typedef struct dc_st_file {
    char *path;            // the file read (for messages), owned
    uint8_t *blob;         // all tensor data, each tensor 64-byte aligned, owned (dc_free)
    size_t len;            // bytes in blob (>= sum of nbytes: includes alignment padding)
    int n_tensors;
    dc_st_tensor *tensors; // (n_tensors), in header order, owned
    int n_meta;
    char **meta_keys;      // (n_meta) in header order, owned
    char **meta_vals;      // (n_meta), owned
} dc_st_file;

// Reads and validates path. On failure *f is left empty (safe to dc_st_free).
dc_status dc_st_read(dc_st_file *f, const char *path, dc_error *err);
// NULL when there is no tensor called name.
const dc_st_tensor *dc_st_find(const dc_st_file *f, const char *name);
// Finds name and checks its dtype and shape: rank < 0 skips the shape check.
// The message names the file, the tensor, what was expected and what was found.
dc_status dc_st_expect(const dc_st_file *f, const char *name, dc_st_dtype dtype,
                       int rank, const int64_t *shape, const dc_st_tensor **out,
                       dc_error *err);
// Value of a __metadata__ key, NULL if absent.
const char *dc_st_meta(const dc_st_file *f, const char *key);
void dc_st_free(dc_st_file *f);

// ---------------------------------------------------------------------------
// Writer. Usage:
//   dc_st_writer w; dc_st_writer_init(&w);
//   dc_st_add(&w, "conv1.weight", DC_ST_F32, 4, (int64_t[]){6,1,5,5}, wptr);
//   dc_st_add_meta(&w, "arch", text);
//   st = dc_st_write(&w, "model.safetensors", &err);
//   dc_st_writer_free(&w);
// dc_st_add and dc_st_add_meta return a status, and the first error is also
// kept in the writer ("sticky", like ferror) and returned by dc_st_write, so
// a caller may check only the final write.

typedef struct dc_st_writer {
    int n, cap;             // tensors added / allocated
    dc_st_tensor *tensors;  // (n): data is referenced, not copied
    int n_meta, meta_cap;
    char **meta_keys;       // (n_meta) copies
    char **meta_vals;       // (n_meta) copies
    dc_status first_status; // DC_OK until an add fails
    dc_error first_err;     // message of the first failed add
} dc_st_writer;

void dc_st_writer_init(dc_st_writer *w);
// shape is (rank) dims >= 0; data holds product(shape)*size bytes and must
// stay valid until dc_st_write. Names are unique, < 256 bytes, not "__metadata__".
dc_status dc_st_add(dc_st_writer *w, const char *name, dc_st_dtype dtype,
                    int rank, const int64_t *shape, const void *data);
// Copies key and value; keys are unique.
dc_status dc_st_add_meta(dc_st_writer *w, const char *key, const char *value);
// Writes atomically (dc_write_atomic); on failure the old file is untouched.
dc_status dc_st_write(const dc_st_writer *w, const char *path, dc_error *err);
void dc_st_writer_free(dc_st_writer *w);

#endif
