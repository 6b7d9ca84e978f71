// conv_registry.h — every convolution kernel deepc has, what each needs and
// supports, and the plan that picks one per pass once, before the hot loop.
//
// A kernel (dc_conv_impl) is a row of a table: a name, the CPU features it
// needs (core/cpu.h), the passes it implements, a predicate on the shape,
// its scratch size, and a forward and/or backward entry point with the
// contracts below. Its plain twin (dc_conv_ref_*, conv_ref.c) is the
// reference tests/test_conv_registry.c holds it to.
//
// A plan (dc_conv_plan) fixes, for one shape, batch size and CPU feature
// set, which kernel runs each pass and how much scratch they need. Making a
// plan is cheap (no allocation, no timing: the choice is a fixed rule written
// from measurements, see choose() in conv_registry.c), so the layer
// functions in src/layers/conv2d.c plan on every call, and a graph executor
// can plan once when it lays out memory and then call dc_conv_run_* with its
// own scratch. A plan is plain data: copy it, share it read-only between
// threads.
//
// Passes: forward (y), backward-data (dx) and backward-weights (dw, db).
// Backward-data and backward-weights may be two kernels; when one kernel
// implements both for the plan, dc_conv_run_backward makes one call that
// does both (the lanes kernels share the transposed dy between them).
//
// Determinism: a kernel's result depends only on the shape, N, its inputs
// and the kernel (the CPU level picks the kernel): the same plan gives the
// same bits run to run. Forward results of the lanes and Winograd kernels
// also do not depend on the other samples of the batch.
//
// Example (one thread; dc_conv2d_forward does the same with threads):
//   dc_conv_plan p;
//   dc_conv_shape s = dc_conv_shape_make(16, 28, 28, 16, 3, 1, 1);
//   if (dc_conv_plan_make(&p, &s, 64, DC_CONV_ALL, &err) != DC_OK) ...;
//   float *scratch = aligned_alloc(64, sizeof(float) * dc_conv_plan_floats(&p));
//   dc_conv_run_forward(&p, y, x, w, NULL, false, 64, scratch);
//   dc_conv_run_backward(&p, dx, dw, NULL, dy, x, w, 64, scratch);
#ifndef DC_CONV_REGISTRY_H
#define DC_CONV_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include "deepc.h"
#include "kernels/conv_kernels.h"

// Passes, as bits so a plan or a kernel can name several.
enum {
    DC_CONV_FWD = 1u << 0,         // y = conv(x, w) + b, optionally ReLU'd
    DC_CONV_BWD_DATA = 1u << 1,    // dx
    DC_CONV_BWD_WEIGHTS = 1u << 2, // dw and db
    DC_CONV_ALL = 7u,
};

// y (N,OC,OH,OW) = conv(x (N,C,H,W), w (OC,C,K,K)) + b (OC, or NULL), then
// max(0, .) (NaN passes, as dc_relu_forward) when relu. y is overwritten.
typedef void (*dc_conv_forward_fn)(float *y, const float *x, const float *w, const float *b,
                                   bool relu, int N, const dc_conv_shape *s, float *scratch);
// From dy (N,OC,OH,OW): dx (N,C,H,W) overwritten when not NULL; dw
// (OC,C,K,K) and db (OC) accumulated (+=) when not NULL. x is read only
// when dw or db is wanted, w only when dx is.
typedef void (*dc_conv_backward_fn)(float *dx, float *dw, float *db, const float *dy,
                                    const float *x, const float *w, int N,
                                    const dc_conv_shape *s, float *scratch);

// The forward with prepared weights (see dc_conv_pack below) in place of w:
// `packed` is at output channel 0 of this call's OC channels in a layout
// made for pack_oc >= OC output channels (a share of a wider convolution's).
// res (laid out as y) or NULL: a residual added after the bias, before the
// relu, with one rounded add: the bits of an add node after the convolution.
typedef void (*dc_conv_forward_packed_fn)(float *y, const float *x, const float *packed,
                                          int pack_oc, const float *b, bool relu, const float *res,
                                          int N, const dc_conv_shape *s, float *scratch);

typedef struct dc_conv_impl {
    const char *name;      // unique: "lanes8", "wino16", ...
    const char *algorithm; // one line: what it does and when it wins
    unsigned cpu;          // DC_CPU_* bits it needs (0: runs anywhere)
    unsigned passes;       // DC_CONV_* bits it implements
    // Shapes it handles for `pass` (one DC_CONV_* bit); NULL: every shape.
    // Never depends on N: every kernel runs any N >= 1.
    bool (*supports)(const dc_conv_shape *s, unsigned pass);
    // Scratch floats for one call doing `passes` (a subset of its own):
    // 64-byte aligned, contents on entry irrelevant. Independent of N.
    size_t (*scratch_floats)(const dc_conv_shape *s, unsigned passes);
    dc_conv_forward_fn forward;   // when passes has DC_CONV_FWD
    dc_conv_backward_fn backward; // when passes has BWD_DATA or BWD_WEIGHTS
    // The forward on Winograd-transformed weights (dc_conv_pack), or NULL:
    // the kernels that transform w on every call, so that weights that do not
    // change (an inference session's) are transformed once.
    dc_conv_forward_packed_fn forward_packed;
} dc_conv_impl;

// The table: dc_conv_impl_count() rows, in no particular order.
int dc_conv_impl_count(void);
const dc_conv_impl *dc_conv_impl_at(int i);
// The row called `name`, or NULL.
const dc_conv_impl *dc_conv_impl_find(const char *name);
// True when `impl` can run pass `pass` (one bit) of shape s with `cpu`.
bool dc_conv_impl_usable(const dc_conv_impl *impl, const dc_conv_shape *s, unsigned pass,
                         unsigned cpu);

typedef struct dc_conv_plan {
    dc_conv_shape s;                  // the shape planned for
    int N;                            // the batch the choice was made for
    unsigned cpu;                     // the CPU features it was made with
    unsigned passes;                  // DC_CONV_* bits planned
    const dc_conv_impl *fwd;          // NULL when FWD was not planned
    const dc_conv_impl *bwd_data;     // NULL when BWD_DATA was not planned
    const dc_conv_impl *bwd_weights;  // NULL when BWD_WEIGHTS was not planned
    size_t fwd_floats, bwd_floats;    // scratch for forward, for backward
} dc_conv_plan;

// The geometry with OH, OW filled in.
dc_conv_shape dc_conv_shape_make(int C, int H, int W, int OC, int K, int stride, int pad);

// Chooses a kernel for each pass in `passes` for shape s and batch N on
// dc_cpu_features() (DEEPC_CPU honoured). DC_ERR_SHAPE for a shape that is
// not a convolution (sizes < 1, pad < 0, kernel larger than the padded
// input), DC_ERR_ARG for passes outside DC_CONV_ALL or N < 1.
dc_status dc_conv_plan_make(dc_conv_plan *p, const dc_conv_shape *s, int N, unsigned passes,
                            dc_error *err);
// The same with the feature set given, and optionally a kernel forced for a
// pass by name (NULL: choose). For tests and benchmarks. DC_ERR_UNSUPPORTED
// when a forced kernel is unknown, lacks the pass, needs features `cpu` does
// not have, or does not support the shape.
dc_status dc_conv_plan_make_with(dc_conv_plan *p, const dc_conv_shape *s, int N,
                                 unsigned passes, unsigned cpu, const char *force_fwd,
                                 const char *force_data, const char *force_weights,
                                 dc_error *err);
// The plan for a caller that runs the forward with prepared weights
// (dc_conv_run_forward_packed with packed not NULL) when `prepared`: the
// choice may then take a kernel that is only fast without its per-call
// weight transform (winot8 / winot16 at batch < 4).
dc_status dc_conv_plan_make_prepared(dc_conv_plan *p, const dc_conv_shape *s, int N,
                                     unsigned passes, unsigned cpu, bool prepared, dc_error *err);
// Scratch floats for every planned pass (forward and backward run in turn,
// sharing it): max(fwd_floats, bwd_floats), at least 16.
size_t dc_conv_plan_floats(const dc_conv_plan *p);

// The planned forward on N samples (any N >= 1; the plan stays correct for a
// batch other than the one it was made for): y (N,OC,OH,OW) = conv(x
// (N,C,H,W), w) + b (OC or NULL), ReLU'd when relu. Single-threaded; scratch
// of dc_conv_plan_floats(p) floats, 64-byte aligned.
void dc_conv_run_forward(const dc_conv_plan *p, float *y, const float *x, const float *w,
                         const float *b, bool relu, int N, float *scratch);
// Share `part` of `parts` of the planned forward (packed: prepared weights
// or NULL, as dc_conv_run_forward_packed): the winot kernels on prepared
// weights take the tile rows of each image divided evenly where that costs
// less than a split by channels (not with fewer tile rows than parts, nor
// where a share's tiles would leave its vectors emptier: a 7x7 image's 16
// tiles in one zmm); otherwise output channels
// [lo, hi), blocks of 8 split evenly, for all N samples, written into y
// (N, OC, OH, OW) as the whole forward writes them. Only where the plan's
// kernel computes every output alone, with the same chain whatever OC (the
// direct, im2col and winot kernels, the batch < 4 choices), and every share's scratch fits
// dc_conv_plan_floats(p): then the shares together give the whole
// forward's bits. Otherwise false, nothing written; the answer depends on
// (p, parts) only, so every thread of a team gets the same one.
// res: as dc_conv_run_forward_packed's (false where the plan does not take
// it with these weights).
// pack_parts: the shares the pack was made for (dc_conv_pack_shared; 1 for
// dc_conv_pack): where it equals parts, a channel share of winot or wino4t
// reads its own U (the same bits).
bool dc_conv_run_forward_share(const dc_conv_plan *p, int part, int parts, float *y,
                               const float *x, const float *w, const float *packed, int pack_parts,
                               const float *b, bool relu, const float *res, int N, float *scratch);
// The output channels [lo, hi) of share `part` of `parts` where
// dc_conv_run_forward_share splits by channels (every plan that does not
// take a residual: a caller adds it to its share itself).
void dc_conv_share_channels(int OC, int part, int parts, int *lo, int *hi);
// Prepared weights. The Winograd kernels transform w (OC,C,3,3) into U (16,
// C, OC) on every forward call (in double, rounded once: tens of microseconds
// for 64 channels, as long as the whole batch-1 convolution), so a caller
// whose weights stay fixed can transform them once: dc_conv_pack_floats(s)
// floats (0: no kernel the registry may choose for s on `cpu` reads prepared
// weights, nothing to do), filled by dc_conv_pack, then given to
// dc_conv_run_forward_packed. Every such kernel reads the same U and gives
// the bits of its own forward on w.
size_t dc_conv_pack_floats(const dc_conv_shape *s, unsigned cpu);
void dc_conv_pack(float *packed, const float *w, const dc_conv_shape *s, unsigned cpu);
// The same for a caller that runs batch-1 forwards in `parts` shares
// (dc_conv_run_forward_share with pack_parts = parts): where the batch-1
// kernel (winot, wino4t) splits by output channels, dc_conv_pack's floats
// are followed by a copy of its U laid out share by share, so that each
// share reads its weights contiguously (U is 16/9 or 36/9 of the weights,
// beyond a core's L2 over a whole network: a share reading parts of the
// whole U's rows streams them at a fraction of the rate). parts = 1: as
// dc_conv_pack.
size_t dc_conv_pack_floats_shared(const dc_conv_shape *s, unsigned cpu, int parts);
void dc_conv_pack_shared(float *packed, const float *w, const dc_conv_shape *s, unsigned cpu, int parts);
// dc_conv_run_forward with the prepared weights when packed is not NULL and
// the plan's kernel reads them, with w otherwise (the same bits either way).
// res (N,OC,OH,OW) or NULL: a residual added to the output before the relu
// (one rounded add: an add node's bits), only where
// dc_conv_plan_takes_res(p, packed): the batch-1 Winograd kernels (winot)
// on prepared weights add it as the outputs leave their transform, in cache.
void dc_conv_run_forward_packed(const dc_conv_plan *p, float *y, const float *x, const float *w,
                                const float *packed, const float *b, bool relu, const float *res,
                                int N, float *scratch);
bool dc_conv_plan_takes_res(const dc_conv_plan *p, const float *packed);

// The planned backward: dx overwritten (NULL: not wanted, needs BWD_DATA
// planned otherwise), dw and db accumulated (NULL: not wanted; need
// BWD_WEIGHTS planned otherwise). Single-threaded, scratch as above.
void dc_conv_run_backward(const dc_conv_plan *p, float *dx, float *dw, float *db,
                          const float *dy, const float *x, const float *w, int N,
                          float *scratch);

#endif
