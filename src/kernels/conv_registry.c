// conv_registry.c — the table of convolution kernels and the rule that picks
// one per pass (see conv_registry.h for the contract).
#include "kernels/conv_registry.h"

#include <string.h>
#include "core/core.h"
#include "core/cpu.h"

// ----------------------------------------------------------------------------
// Adapters from each kernel's own entry points to the table's signatures

static size_t ref_floats(const dc_conv_shape *s, unsigned passes) {
    (void)s;
    (void)passes;
    return 0;
}

static size_t im2col_floats(const dc_conv_shape *s, unsigned passes) {
    size_t n = 0;
    if (passes & DC_CONV_FWD) n = dc_conv_im2col_forward_floats(s);
    if (passes & (DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS)) {
        const size_t b = dc_conv_im2col_backward_floats(s);
        if (b > n) n = b;
    }
    return n;
}

static size_t direct_floats(const dc_conv_shape *s, unsigned passes) {
    (void)passes;
    return dc_conv_direct_forward_floats(s);
}

static size_t direct16_floats(const dc_conv_shape *s, unsigned passes) {
    (void)passes;
    return dc_conv_direct16_forward_floats(s);
}

static size_t lanes8_floats(const dc_conv_shape *s, unsigned passes) {
    size_t n = 0;
    if (passes & DC_CONV_FWD) n = dc_conv_lanes_forward_floats(s);
    if (passes & (DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS)) {
        const size_t b = dc_conv_lanes8_backward_floats_for(
            s, (passes & DC_CONV_BWD_DATA) != 0, (passes & DC_CONV_BWD_WEIGHTS) != 0);
        if (b > n) n = b;
    }
    return n;
}

static size_t lanes16_floats(const dc_conv_shape *s, unsigned passes) {
    size_t n = 0;
    if (passes & DC_CONV_FWD) n = dc_conv_lanes16_forward_floats(s);
    if (passes & (DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS)) {
        const size_t b = dc_conv_lanes16_backward_floats_for(
            s, (passes & DC_CONV_BWD_DATA) != 0, (passes & DC_CONV_BWD_WEIGHTS) != 0);
        if (b > n) n = b;
    }
    return n;
}

// ----------------------------------------------------------------------------
// The table

#define FWD DC_CONV_FWD
#define BWD (DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS)

static const dc_conv_impl IMPLS[] = {
    {"ref", "the definition summed in double: the reference twin of every other kernel", 0,
     FWD | BWD, NULL, ref_floats, dc_conv_ref_forward, dc_conv_ref_backward},
    {"im2col", "im2col + dc_gemm one sample at a time: the portable path", 0, FWD | BWD, NULL,
     im2col_floats, dc_conv_im2col_forward_relu, dc_conv_im2col_backward},
    {"direct", "one image at a time, 8 output columns or channels per ymm: batches under 4",
     DC_CPU_LEVEL_AVX2, FWD, NULL, direct_floats, dc_conv_direct_forward_relu, NULL},
    {"direct16", "the direct kernel with 16 output columns or channels per zmm: batches under 4",
     DC_CPU_LEVEL_AVX512, FWD, NULL, direct16_floats, dc_conv_direct16_forward_relu, NULL},
    {"lanes8", "direct convolution, 8 samples in the lanes of a ymm: any shape, N >= 4",
     DC_CPU_LEVEL_AVX2, FWD | BWD, NULL, lanes8_floats, dc_conv_lanes_forward_relu,
     dc_conv_lanes_backward},
    {"lanes16", "direct convolution, 16 samples in the lanes of a zmm: any shape, N >= 4",
     DC_CPU_LEVEL_AVX512, FWD | BWD, NULL, lanes16_floats, dc_conv_lanes16_forward,
     dc_conv_lanes16_backward},
    {"wino8", "Winograd F(2x2,3x3), 8 samples in the lanes of a ymm: 3x3 stride 1",
     DC_CPU_LEVEL_AVX2, FWD | BWD, dc_conv_wino8_supports, dc_conv_wino8_floats,
     dc_conv_wino8_forward, dc_conv_wino8_backward, dc_conv_wino8_forward_packed},
    {"wino16", "Winograd F(2x2,3x3), 16 samples in the lanes of a zmm: 3x3 stride 1",
     DC_CPU_LEVEL_AVX512, FWD | BWD, dc_conv_wino16_supports, dc_conv_wino16_floats,
     dc_conv_wino16_forward, dc_conv_wino16_backward, dc_conv_wino16_forward_packed},
    {"winot8", "Winograd F(2x2,3x3), 8 tiles of one image in the lanes of a ymm: batches under 4",
     DC_CPU_LEVEL_AVX2, FWD, dc_conv_winot8_supports, dc_conv_winot8_floats,
     dc_conv_winot8_forward, NULL, dc_conv_winot8_forward_packed},
    {"winot16", "Winograd F(2x2,3x3), 16 tiles of one image in the lanes of a zmm: batches under 4",
     DC_CPU_LEVEL_AVX512, FWD, dc_conv_winot16_supports, dc_conv_winot16_floats,
     dc_conv_winot16_forward, NULL, dc_conv_winot16_forward_packed},
    {"wino4t8", "Winograd F(4x4,3x3), 8 4x4 tiles of one image in the lanes of a ymm: batches under 4",
     DC_CPU_LEVEL_AVX2, FWD, dc_conv_wino4t8_supports, dc_conv_wino4t8_floats,
     dc_conv_wino4t8_forward, NULL, dc_conv_wino4t8_forward_packed},
    {"wino4t16", "Winograd F(4x4,3x3), 16 4x4 tiles of one image in the lanes of a zmm: batches under 4",
     DC_CPU_LEVEL_AVX512, FWD, dc_conv_wino4t16_supports, dc_conv_wino4t16_floats,
     dc_conv_wino4t16_forward, NULL, dc_conv_wino4t16_forward_packed},
};

#undef FWD
#undef BWD

int dc_conv_impl_count(void) { return (int)(sizeof IMPLS / sizeof IMPLS[0]); }

const dc_conv_impl *dc_conv_impl_at(int i) {
    return i >= 0 && i < dc_conv_impl_count() ? &IMPLS[i] : NULL;
}

const dc_conv_impl *dc_conv_impl_find(const char *name) {
    for (int i = 0; i < dc_conv_impl_count(); i++)
        if (strcmp(IMPLS[i].name, name) == 0) return &IMPLS[i];
    return NULL;
}

bool dc_conv_impl_usable(const dc_conv_impl *impl, const dc_conv_shape *s, unsigned pass,
                         unsigned cpu) {
    return impl && (impl->passes & pass) == pass && dc_cpu_has(cpu, impl->cpu) &&
           (!impl->supports || impl->supports(s, pass));
}

// ----------------------------------------------------------------------------
// The choice. A fixed rule, written from measurements (bench/bench_conv.c;
// numbers in the comments are GFLOP/s at N = 64 on one core of the
// development machine, an AVX-512 Xeon with 106 GFLOP/s ymm and 213 zmm
// FMA peak), so the same shape, N and CPU level always get the same kernel
// and bits:
//  - N < 4 (batch-1 inference, explanations of one image): the lanes
//    kernels would leave most lanes empty (8-9 GFLOP/s at N = 1). Forward:
//    "direct" for stride 1 with at least 16 taps per output (C*K*K; 16->16
//    at 28x28: 61 vs im2col 53, LeNet-5 conv1 41 vs 26), im2col otherwise
//    (the stem, 9 taps: 53 vs 20; stride 2: 38-44 vs 31-35; 1x1 stride 2:
//    35 vs 6). With AVX-512, "direct16" for every K > 1 (N = 1, another
//    AVX-512 Xeon with 110 ymm / 223 zmm peak: 16->16 at 28x28 98-105 vs
//    direct 54-60; the stem 71 vs im2col 41-45; 3x3 stride 2 43-54 vs 38-43;
//    LeNet-5 conv1 90 vs 43), im2col for 1x1 (37-51 vs 8-14). Backward:
//    im2col (33-47 vs lanes8 8-9);
//  - but N < 4 forward with weights prepared once (a session's; see
//    dc_conv_pack): "winot16" with AVX-512, else "winot8" (Winograd with
//    tiles in the lanes) for 3x3 stride 1 with at least 16 channels on both
//    sides (`bench_conv 1` on an AMD EPYC Zen 3 guest without AVX-512, 93
//    GFLOP/s ymm peak, medians: 16->16 at 28x28 winot8 59 vs direct 47,
//    32->32 at 14x14 62 vs 47, 64->64 at 7x7 62 vs 44; on an AMD EPYC Zen 4
//    guest, 116 GFLOP/s ymm and zmm peak, three runs: 16->16 winot16
//    99-118 vs winot8 86-110 vs direct16 83-88, 32->32 109-115 vs 105-115
//    vs 86-89, 64->64 97-115 vs 84-114 vs 70-80; not measured on a CPU with
//    two 512-bit FMA ports). Without prepared weights its per-call weight
//    transform (in double) costs as much as the convolution (64->64: 9 vs
//    39). And where wino4_pays, F(4x4,3x3) instead: "wino4t16" / "wino4t8"
//    (its own U in the same pack; AMD EPYC Zen 5 guest, 118 ymm / 236 zmm
//    peak, batch 1, best of 7 x 3000 calls: 16->16 at 28x28 15.4 us vs
//    winot16 16.5, 32->32 at 14x14 11.7 vs 16.9; winot8 24.7 and 24.9 vs
//    wino4t8 22.5 and 18.1; 64->64 at 7x7 stays winot);
//  - forward and backward-data of 3x3 stride-1 convolutions with at least 8
//    channels on both sides: Winograd F(2,3) (16->16 at 28x28: wino16 170
//    vs lanes16 160, 32->32 at 14x14: 230 vs 185; AVX2: wino8 125-150 vs
//    lanes8 85-97). With fewer channels the transforms cost more than the
//    products they save (the stem, 1->16: wino16 20 vs lanes16 47);
//  - backward-weights: the lanes kernels (16->16: lanes16 140 vs wino16
//    110, lanes8 90 vs wino8 60-80: the Winograd weight pass keeps 16
//    lane sums per weight and is bound by moving them);
//  - else the widest lanes kernel the CPU has, 16 lanes only from N > 8
//    (at N <= 8 most of its lanes would be empty); but not for a weights
//    pass whose lane sums (OC*C*K*K*lanes floats: 151 MB for resnet18's
//    512->512 3x3 at 16 lanes) would pass 8 MiB, which takes im2col;
//  - else im2col + GEMM.
// The first usable name in the pass's list wins.

enum { LANES_MIN_N = 4, LANES16_MIN_N = 9, WINO_MIN_C = 8, WINOT_MIN_C = 16, DIRECT_MIN_TAPS = 16 };
#define LANE_SUMS_MAX ((size_t)8 << 20) // bytes of lanes-kernel dw lane sums

// Whether F(4x4,3x3) with tiles in the lanes (wino4t) beats F(2x2,3x3)
// (winot) for a 3x3 stride-1 forward at vw lanes: the products of whole
// vectors of tiles, 36 per 4x4 tile against 16 per 2x2 one (the transforms,
// which cost about as much per output either way, are left out). resnet20 at
// 16 lanes: 28x28 4 x 36 against 13 x 16 (wino4t), 14x14 1 x 36 against
// 4 x 16 (wino4t), 7x7 1 x 36 against 1 x 16 (winot: the 4 tiles of 4x4
// would leave 12 lanes empty).
static bool wino4_pays(const dc_conv_shape *s, int vw) {
    if (s->K != 3 || s->stride != 1 || s->pad > 2 || s->C < WINOT_MIN_C || s->OC < WINOT_MIN_C) return false;
    const long t2 = (long)((s->OH + 1) / 2) * ((s->OW + 1) / 2), t4 = (long)((s->OH + 3) / 4) * ((s->OW + 3) / 4);
    return (t4 + vw - 1) / vw * 36 < (t2 + vw - 1) / vw * 16;
}

static bool is_wino4t(const dc_conv_impl *f) {
    return f && (!strcmp(f->name, "wino4t8") || !strcmp(f->name, "wino4t16"));
}

static bool wino_pays(const dc_conv_shape *s, int N) {
    return N >= LANES_MIN_N && s->C >= WINO_MIN_C && s->OC >= WINO_MIN_C;
}

static const dc_conv_impl *first_usable(const char *const *list, const dc_conv_shape *s,
                                        unsigned pass, unsigned cpu) {
    for (; *list; list++) {
        const dc_conv_impl *impl = dc_conv_impl_find(*list);
        if (dc_conv_impl_usable(impl, s, pass, cpu)) return impl;
    }
    return NULL;
}

static const dc_conv_impl *choose(const dc_conv_shape *s, int N, unsigned pass, unsigned cpu,
                                  bool prepared) {
    static const char *const direct16[] = {"direct16", NULL};
    static const char *const direct[] = {"direct", NULL};
    static const char *const im2col[] = {"im2col", NULL};
    static const char *const wino[] = {"wino16", "wino8", NULL};
    static const char *const lanes[] = {"lanes16", "lanes8", "im2col", NULL};
    static const char *const lanes8[] = {"lanes8", "im2col", NULL};
    static const char *const winot[] = {"winot16", "winot8", NULL};
    const dc_conv_impl *impl = NULL;
    if (N < LANES_MIN_N && pass == DC_CONV_FWD && prepared && s->C >= WINOT_MIN_C &&
        s->OC >= WINOT_MIN_C)
        impl = first_usable(winot, s, pass, cpu);
    if (impl && !strcmp(impl->name, "winot16") && wino4_pays(s, 16)) impl = dc_conv_impl_find("wino4t16");
    else if (impl && !strcmp(impl->name, "winot8") && wino4_pays(s, 8)) impl = dc_conv_impl_find("wino4t8");
    if (!impl && N < LANES_MIN_N && pass == DC_CONV_FWD && s->K > 1) impl = first_usable(direct16, s, pass, cpu);
    if (!impl && N < LANES_MIN_N) {
        const bool dir = pass == DC_CONV_FWD && s->stride == 1 &&
                         s->C * s->K * s->K >= DIRECT_MIN_TAPS;
        impl = first_usable(dir ? direct : im2col, s, pass, cpu);
    }
    if (!impl && pass != DC_CONV_BWD_WEIGHTS && wino_pays(s, N))
        impl = first_usable(wino, s, pass, cpu);
    const size_t sums = (size_t)s->OC * s->C * s->K * s->K * sizeof(float);
    if (!impl && pass == DC_CONV_BWD_WEIGHTS && sums * 8 > LANE_SUMS_MAX)
        impl = first_usable(im2col, s, pass, cpu);
    if (!impl && N >= LANES16_MIN_N && (pass != DC_CONV_BWD_WEIGHTS || sums * 16 <= LANE_SUMS_MAX))
        impl = first_usable(lanes, s, pass, cpu);
    if (!impl) impl = first_usable(lanes8, s, pass, cpu);
    return impl ? impl : dc_conv_impl_find("ref"); // unreachable: im2col runs everything
}

dc_conv_shape dc_conv_shape_make(int C, int H, int W, int OC, int K, int stride, int pad) {
    dc_conv_shape s = {.C = C, .H = H, .W = W, .OC = OC, .K = K, .stride = stride, .pad = pad};
    s.OH = stride > 0 ? (H + 2 * pad - K) / stride + 1 : 0;
    s.OW = stride > 0 ? (W + 2 * pad - K) / stride + 1 : 0;
    return s;
}

static const dc_conv_impl *forced(const char *name, const dc_conv_shape *s, unsigned pass,
                                  unsigned cpu, dc_error *err, dc_status *st) {
    const dc_conv_impl *impl = dc_conv_impl_find(name);
    if (!dc_conv_impl_usable(impl, s, pass, cpu))
        *st = dc_fail(err, DC_ERR_UNSUPPORTED,
                      "conv plan: kernel \"%s\" %s for C%d %dx%d OC%d K%d stride %d pad %d on %s",
                      name, !impl ? "does not exist" : "cannot run this pass", s->C, s->H, s->W,
                      s->OC, s->K, s->stride, s->pad, dc_cpu_level_name(cpu));
    return impl;
}

static dc_status plan_make(dc_conv_plan *p, const dc_conv_shape *s0, int N, unsigned passes,
                           unsigned cpu, bool prepared, const char *force_fwd,
                           const char *force_data, const char *force_weights, dc_error *err) {
    memset(p, 0, sizeof *p);
    const dc_conv_shape s = dc_conv_shape_make(s0->C, s0->H, s0->W, s0->OC, s0->K, s0->stride,
                                               s0->pad);
    if (s.C < 1 || s.H < 1 || s.W < 1 || s.OC < 1 || s.K < 1 || s.stride < 1 || s.pad < 0 ||
        s.H + 2 * s.pad < s.K || s.W + 2 * s.pad < s.K)
        return dc_fail(err, DC_ERR_SHAPE,
                       "conv plan: C%d %dx%d OC%d K%d stride %d pad %d is not a convolution "
                       "(sizes and stride >= 1, pad >= 0, K <= padded input)",
                       s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad);
    if (N < 1 || passes == 0 || (passes & ~(unsigned)DC_CONV_ALL))
        return dc_fail(err, DC_ERR_ARG, "conv plan: N = %d, passes = %#x (want N >= 1, passes "
                                        "a non-empty subset of DC_CONV_ALL)", N, passes);
    p->s = s;
    p->N = N;
    p->cpu = cpu;
    p->passes = passes;
    dc_status st = DC_OK;
    if (passes & DC_CONV_FWD)
        p->fwd = force_fwd ? forced(force_fwd, &s, DC_CONV_FWD, cpu, err, &st)
                           : choose(&s, N, DC_CONV_FWD, cpu, prepared);
    if (st == DC_OK && (passes & DC_CONV_BWD_DATA))
        p->bwd_data = force_data ? forced(force_data, &s, DC_CONV_BWD_DATA, cpu, err, &st)
                                 : choose(&s, N, DC_CONV_BWD_DATA, cpu, false);
    if (st == DC_OK && (passes & DC_CONV_BWD_WEIGHTS))
        p->bwd_weights = force_weights
                             ? forced(force_weights, &s, DC_CONV_BWD_WEIGHTS, cpu, err, &st)
                             : choose(&s, N, DC_CONV_BWD_WEIGHTS, cpu, false);
    if (st != DC_OK) {
        memset(p, 0, sizeof *p);
        return st;
    }
    if (p->fwd) p->fwd_floats = p->fwd->scratch_floats(&s, DC_CONV_FWD);
    if (p->bwd_data && p->bwd_data == p->bwd_weights) {
        p->bwd_floats = p->bwd_data->scratch_floats(&s, DC_CONV_BWD_DATA | DC_CONV_BWD_WEIGHTS);
    } else {
        if (p->bwd_data) p->bwd_floats = p->bwd_data->scratch_floats(&s, DC_CONV_BWD_DATA);
        if (p->bwd_weights) {
            const size_t n = p->bwd_weights->scratch_floats(&s, DC_CONV_BWD_WEIGHTS);
            if (n > p->bwd_floats) p->bwd_floats = n;
        }
    }
    return DC_OK;
}

dc_status dc_conv_plan_make_with(dc_conv_plan *p, const dc_conv_shape *s, int N,
                                 unsigned passes, unsigned cpu, const char *force_fwd,
                                 const char *force_data, const char *force_weights,
                                 dc_error *err) {
    return plan_make(p, s, N, passes, cpu, false, force_fwd, force_data, force_weights, err);
}

dc_status dc_conv_plan_make(dc_conv_plan *p, const dc_conv_shape *s, int N, unsigned passes,
                            dc_error *err) {
    return plan_make(p, s, N, passes, dc_cpu_features(), false, NULL, NULL, NULL, err);
}

dc_status dc_conv_plan_make_prepared(dc_conv_plan *p, const dc_conv_shape *s, int N,
                                     unsigned passes, unsigned cpu, bool prepared, dc_error *err) {
    return plan_make(p, s, N, passes, cpu, prepared, NULL, NULL, NULL, err);
}

size_t dc_conv_plan_floats(const dc_conv_plan *p) {
    size_t n = p->fwd_floats > p->bwd_floats ? p->fwd_floats : p->bwd_floats;
    n = (n + 15) & ~(size_t)15;
    return n < 16 ? 16 : n;
}

void dc_conv_run_forward(const dc_conv_plan *p, float *y, const float *x, const float *w,
                         const float *b, bool relu, int N, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC) or NULL, y is (N,OC,OH,OW)
    DC_ASSERT(p->fwd);
    if (N < 1) return;
    p->fwd->forward(y, x, w, b, relu, N, &p->s, scratch);
}

// Output channels of share k of `parts`: blocks of 8 (a direct kernel's
// register block) divided as evenly as slices of a batch are.
void dc_conv_share_channels(int OC, int k, int parts, int *lo, int *hi) {
    const int units = (OC + 7) / 8;
    *lo = 8 * (int)((long)units * k / parts);
    *hi = 8 * (int)((long)units * (k + 1) / parts);
    if (*hi > OC) *hi = OC;
}

// Prepared weights: U of F(2,3) (16, C, OC), which winot8/16 (>= WINOT_MIN_C
// channels) and wino (wino_pays) read, then, where the batch-1 choice on
// this CPU is wino4t, U of F(4,3) (36, C, OC).
static bool pack_has_wino4(const dc_conv_shape *s, unsigned cpu) {
    return wino4_pays(s, dc_cpu_has(cpu, DC_CPU_LEVEL_AVX512) ? 16 : 8);
}

size_t dc_conv_pack_floats(const dc_conv_shape *s, unsigned cpu) {
    if (!dc_cpu_has(cpu, DC_CPU_LEVEL_AVX2) || !dc_conv_wino8_supports(s, DC_CONV_FWD) ||
        s->C < WINO_MIN_C || s->OC < WINO_MIN_C)
        return 0;
    return dc_conv_wino_u_floats(s) + (pack_has_wino4(s, cpu) ? dc_conv_wino4_u_floats(s) : 0);
}

void dc_conv_pack(float *packed, const float *w, const dc_conv_shape *s, unsigned cpu) {
    DC_ASSERT(dc_conv_pack_floats(s, cpu) > 0);
    dc_conv_wino_pack(packed, w, s);
    if (pack_has_wino4(s, cpu)) dc_conv_wino4_pack(packed + dc_conv_wino_u_floats(s), w, s);
}

static bool winot_rows_pay(const dc_conv_shape *s, int vw, int tile, int parts);

static bool is_winot(const dc_conv_impl *f) {
    return f && (!strcmp(f->name, "winot8") || !strcmp(f->name, "winot16"));
}

// The batch-1 tiles-in-lanes kernel (winot or wino4t, at 8 or 16 lanes) that
// a shared batch-1 forward of s on `parts` threads runs on prepared weights
// split by output channels, or NULL (not such a kernel, split by tile rows
// instead, or too few channels). Its vector width and output tile side in
// *vw, *tile.
static const dc_conv_impl *channel_split_tiles(const dc_conv_shape *s, unsigned cpu, int parts, int *vw,
                                               int *tile) {
    if (parts < 2 || (s->OC + 7) / 8 < parts) return NULL;
    const dc_conv_impl *f = choose(s, 1, DC_CONV_FWD, cpu, true);
    if (!is_winot(f) && !is_wino4t(f)) return NULL;
    *vw = strstr(f->name, "16") ? 16 : 8;
    *tile = is_wino4t(f) ? 4 : 2;
    return winot_rows_pay(s, *vw, *tile, parts) ? NULL : f;
}

// The U of one tiles kernel for shape s: F(2,3)'s (16, C, OC) or F(4,3)'s (36, C, OC).
static size_t tiles_u_floats(const dc_conv_impl *f, const dc_conv_shape *s) {
    return is_wino4t(f) ? dc_conv_wino4_u_floats(s) : dc_conv_wino_u_floats(s);
}

size_t dc_conv_pack_floats_shared(const dc_conv_shape *s, unsigned cpu, int parts) {
    const size_t base = dc_conv_pack_floats(s, cpu);
    int vw, tile;
    const dc_conv_impl *f = base ? channel_split_tiles(s, cpu, parts, &vw, &tile) : NULL;
    if (!f) return base;
    size_t n = base;
    for (int k = 0; k < parts; k++) {
        int lo, hi;
        dc_conv_share_channels(s->OC, k, parts, &lo, &hi);
        const dc_conv_shape sk = dc_conv_shape_make(s->C, s->H, s->W, hi - lo, s->K, s->stride, s->pad);
        n += tiles_u_floats(f, &sk);
    }
    return n;
}

void dc_conv_pack_shared(float *packed, const float *w, const dc_conv_shape *s, unsigned cpu, int parts) {
    dc_conv_pack(packed, w, s, cpu);
    int vw, tile;
    const dc_conv_impl *f = channel_split_tiles(s, cpu, parts, &vw, &tile);
    if (!f) return;
    // each share's U as a pack of its own channels' weights (a channel's U
    // depends on its weights alone: the same values as in the whole U)
    float *q = packed + dc_conv_pack_floats(s, cpu);
    for (int k = 0; k < parts; k++) {
        int lo, hi;
        dc_conv_share_channels(s->OC, k, parts, &lo, &hi);
        const dc_conv_shape sk = dc_conv_shape_make(s->C, s->H, s->W, hi - lo, s->K, s->stride, s->pad);
        const float *wk = w + (size_t)lo * s->C * 9;
        if (is_wino4t(f)) dc_conv_wino4_pack(q, wk, &sk);
        else dc_conv_wino_pack(q, wk, &sk);
        q += tiles_u_floats(f, &sk);
    }
}

// The part of a pack the plan's forward reads: wino4t's U after F(2,3)'s,
// NULL where the pack has none (a forced wino4t on a shape the choice does
// not give it: it then transforms w itself).
static const float *pack_for(const dc_conv_plan *p, const float *packed) {
    if (!packed || !is_wino4t(p->fwd)) return packed;
    return pack_has_wino4(&p->s, p->cpu) ? packed + dc_conv_wino_u_floats(&p->s) : NULL;
}

// The winot kernels add a residual as their outputs leave the transform
// (contiguous rows, in cache); the sample-lanes wino kernels do not (see
// wino_forward_packed: the add's own pass costs less there).
bool dc_conv_plan_takes_res(const dc_conv_plan *p, const float *packed) {
    packed = pack_for(p, packed);
    return p->fwd && packed && p->fwd->forward_packed &&
           (!strcmp(p->fwd->name, "winot8") || !strcmp(p->fwd->name, "winot16") || is_wino4t(p->fwd));
}

void dc_conv_run_forward_packed(const dc_conv_plan *p, float *y, const float *x, const float *w,
                                const float *packed, const float *b, bool relu, const float *res,
                                int N, float *scratch) {
    DC_ASSERT(p->fwd);
    DC_ASSERT(!res || dc_conv_plan_takes_res(p, packed));
    if (N < 1) return;
    packed = pack_for(p, packed);
    if (packed && p->fwd->forward_packed)
        p->fwd->forward_packed(y, x, packed, p->s.OC, b, relu, res, N, &p->s, scratch);
    else
        p->fwd->forward(y, x, w, b, relu, N, &p->s, scratch);
}

static bool shares_channels(const dc_conv_impl *f) {
    static const char *const names[] = {"direct", "direct16", "im2col", "winot8", "winot16", "wino4t8", "wino4t16"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f->name, names[i])) return true;
    return false;
}

// Whether the winot forward on prepared weights is better shared by tile
// rows than by output channels. A share's cost, in units of one output
// channel's products over one vector of VW tiles: vectors x (channels + the
// input transform, about 2.5 channels' worth, which a channel split repeats
// in every share). Tiles are counted flat (a share's rows, then whole
// vectors), as wint_conv packs them. resnet20 at batch 1 on 2 threads, 16
// lanes: 28x28 by rows (7 x 18.5 vs 13 x 10.5), 14x14 by rows (2 x 34.5 vs
// 4 x 18.5), 7x7 by channels (1 x 66.5 vs 1 x 34.5: its 16 tiles are one
// vector, which a split by rows would leave half empty in each share).
// The same for wino4t with tile = 4.
static bool winot_rows_pay(const dc_conv_shape *s, int vw, int tile, int parts) {
    const int TH = (s->OH + tile - 1) / tile, TW = (s->OW + tile - 1) / tile, units = (s->OC + 7) / 8;
    if (TH < parts) return false;
    if (units < parts) return true;
    long vrows = 0; // the largest share's vectors, by rows
    for (int k = 0; k < parts; k++) {
        const long rows = (long)TH * (k + 1) / parts - (long)TH * k / parts;
        const long v = (rows * TW + vw - 1) / vw;
        if (v > vrows) vrows = v;
    }
    const long vall = ((long)TH * TW + vw - 1) / vw;
    const long cmax = 8 * (((long)units + parts - 1) / parts); // the largest share's channels
    // 2 * (channels + 2.5), to stay in integers
    return vrows * (2L * s->OC + 5) <= vall * (2 * cmax + 5);
}

bool dc_conv_run_forward_share(const dc_conv_plan *p, int part, int parts, float *y,
                               const float *x, const float *w, const float *packed, int pack_parts,
                               const float *b, bool relu, const float *res, int N, float *scratch) {
    const dc_conv_impl *f = p->fwd;
    if (!f || parts < 2 || part < 0 || part >= parts) return false;
    if (res && !dc_conv_plan_takes_res(p, packed)) return false;
    const float *whole_pack = packed;
    packed = pack_for(p, packed);
    // winot on prepared weights: by tile rows where that pays (its input
    // transform is the same for every output channel, so a channel split
    // repeats it), else by output channels below
    if (packed && !strcmp(f->name, "winot8") && winot_rows_pay(&p->s, 8, 2, parts))
        return dc_conv_winot8_forward_rows(y, x, packed, part, parts, b, relu, res, N, &p->s, scratch);
    if (packed && !strcmp(f->name, "winot16") && winot_rows_pay(&p->s, 16, 2, parts))
        return dc_conv_winot16_forward_rows(y, x, packed, part, parts, b, relu, res, N, &p->s, scratch);
    if (packed && !strcmp(f->name, "wino4t8") && winot_rows_pay(&p->s, 8, 4, parts))
        return dc_conv_wino4t8_forward_rows(y, x, packed, part, parts, b, relu, res, N, &p->s, scratch);
    if (packed && !strcmp(f->name, "wino4t16") && winot_rows_pay(&p->s, 16, 4, parts))
        return dc_conv_wino4t16_forward_rows(y, x, packed, part, parts, b, relu, res, N, &p->s, scratch);
    if ((p->s.OC + 7) / 8 < parts || !shares_channels(f)) return false;
    const dc_conv_shape *s = &p->s;
    const size_t room = dc_conv_plan_floats(p);
    int lo = 0, hi = 0;
    for (int k = 0; k < parts; k++) {
        dc_conv_share_channels(s->OC, k, parts, &lo, &hi);
        const dc_conv_shape sk = dc_conv_shape_make(s->C, s->H, s->W, hi - lo, s->K, s->stride, s->pad);
        if (!dc_conv_impl_usable(f, &sk, DC_CONV_FWD, p->cpu) || f->scratch_floats(&sk, DC_CONV_FWD) > room)
            return false;
    }
    dc_conv_share_channels(s->OC, part, parts, &lo, &hi);
    const dc_conv_shape sk = dc_conv_shape_make(s->C, s->H, s->W, hi - lo, s->K, s->stride, s->pad);
    // a pack made for these shares (dc_conv_pack_shared) holds this share's
    // U apart: read contiguously, where the whole U's rows would be read a
    // part of each (measured on Zen 5, 64->64 at 7x7, half the channels with
    // the U of 12 layers in turn: 13.1 us strided against 11.4 contiguous)
    const float *own = NULL;
    int vw, tile;
    if (whole_pack && pack_parts == parts && channel_split_tiles(s, p->cpu, parts, &vw, &tile) == f) {
        own = whole_pack + dc_conv_pack_floats(s, p->cpu);
        for (int k = 0; k < part; k++) {
            int l, h;
            dc_conv_share_channels(s->OC, k, parts, &l, &h);
            const dc_conv_shape sh = dc_conv_shape_make(s->C, s->H, s->W, h - l, s->K, s->stride, s->pad);
            own += tiles_u_floats(f, &sh);
        }
    }
    const size_t P = (size_t)s->OH * s->OW, xs = (size_t)s->C * s->H * s->W, ckk = (size_t)s->C * s->K * s->K;
    for (int n = 0; n < N; n++) { // one sample at a time: the block is contiguous in each
        float *yn = y + ((size_t)n * s->OC + lo) * P;
        const float *rn = res ? res + ((size_t)n * s->OC + lo) * P : NULL;
        if (own)
            f->forward_packed(yn, x + n * xs, own, hi - lo, b ? b + lo : NULL, relu, rn, 1, &sk, scratch);
        else if (packed && f->forward_packed)
            f->forward_packed(yn, x + n * xs, packed + lo, s->OC, b ? b + lo : NULL, relu, rn, 1, &sk, scratch);
        else
            f->forward(yn, x + n * xs, w + lo * ckk, b ? b + lo : NULL, relu, 1, &sk, scratch);
    }
    return true;
}

void dc_conv_run_backward(const dc_conv_plan *p, float *dx, float *dw, float *db,
                          const float *dy, const float *x, const float *w, int N,
                          float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    const bool want_w = dw || db;
    DC_ASSERT(!dx || p->bwd_data);
    DC_ASSERT(!want_w || p->bwd_weights);
    if (N < 1 || (!dx && !want_w)) return;
    if (dx && want_w && p->bwd_data == p->bwd_weights) {
        p->bwd_data->backward(dx, dw, db, dy, x, w, N, &p->s, scratch);
        return;
    }
    if (dx) p->bwd_data->backward(dx, NULL, NULL, dy, x, w, N, &p->s, scratch);
    if (want_w) p->bwd_weights->backward(NULL, dw, db, dy, x, w, N, &p->s, scratch);
}
