// c_export.h — a deepc model as dependency-free C99 source for
// microcontrollers: DIR/NAME.c and DIR/NAME.h.
//
// The generated code has no malloc and no libc beyond <stdint.h> and
// <string.h> (an fp32 model with tanh or sigmoid also needs <math.h>'s
// expf/tanhf); weights are `const` arrays (flash); every activation lives in
// one static arena whose size, NAME_ARENA_BYTES in the header, is computed
// here by liveness: each node's output buffer lives from the node that
// writes it to its last reader, and buffers are placed greedily (largest
// first, lowest offset that overlaps no buffer alive at the same time), so
// the arena is the peak of simultaneously live activations, not their sum.
// Flatten and dropout are views of their input; an int8 model's fused ReLUs
// are the clamp of the node before them (as in compress/qplan.c).
//
// Entry points (NAME_ is the prefix):
//   void NAME_run(const uint8_t *pixels, T *logits);
//     pixels: one image, (C, H, W) bytes 0..255 as stored in the data set;
//     normalised as deepc normalises (fp32: x = p * (1/(255 std)) - mean/std
//     in float; int8: a table of 256 quantised values per channel made at
//     export from exactly that float arithmetic, so no float at run time).
//     fp32: T = float logits. int8: T = int32_t logits; their real value is
//     logits[k] * NAME_LOGIT_SCALE (NAME_dequantize does it, the one
//     floating-point function of an int8 export, optional).
// The int8 arithmetic is kernels/int8_kernels.h's (the same integers as
// deepc's int8 session, bit for bit); the fp32 kernels are plain loops
// (deepc's logits to about 1e-5).
//
// Compiled with -DNAME_EXTERNAL_ARENA the arena is not declared: the
// program provides `uint8_t *NAME_arena` (of at least NAME_ARENA_BYTES,
// 4-byte aligned) — how tests check that exactly that many bytes are used.
#ifndef DC_C_EXPORT_H
#define DC_C_EXPORT_H

#include "model/model.h"

typedef struct dc_c_export_info {
    size_t arena_bytes;     // NAME_ARENA_BYTES
    size_t sum_bytes;       // what one buffer per node would need (for comparison)
    size_t weight_bytes;    // const data: weights, biases, multipliers, tables
    int buffers;            // activation buffers planned
} dc_c_export_info;

// name: a C identifier prefix (letters, digits, '_'; not starting with a digit).
dc_status dc_export_c(const dc_model *m, const char *dir, const char *name, dc_c_export_info *info, dc_error *err);

#endif
