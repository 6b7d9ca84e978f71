// test_conv_small.c — the small-batch convolution forward (conv_direct.c,
// what the layer runs for N < 4 on AVX2+FMA CPUs) against its reference, the
// im2col + GEMM forward, on LeNet-5's conv1 (1->6, 5x5, pad 2, 28x28) and
// conv2 (6->16, 5x5, 14x14) and on awkward shapes: stride 2 and 3, pad 1,
// K = 1, 3, C = 3, H != W, OW < 8, OW = 9 (one full vector and one lane),
// OC = 1, 7, 13, 24, 40 (remainder register blocks), N = 1, 2, 3, and
// resnet20's three stage shapes. On AVX-512 CPUs the 16-lane build
// (conv_direct_avx512.c) must give the 8-lane build's bits on all of them. The shapes
// take both ways of filling the vectors (8 columns of a row, or 8 output
// channels of a position: conv2, OC = 7, 13, 24 go by channels).
//
// Tolerance: |got - want| <= 1e-5 |want| + atol with atol = 1e-6 * rms(x) *
// rms(w) * sqrt(C K K) (as in test_conv_kernels.c: fp32 sums in different
// orders differ by an absolute error that grows with the number of terms).
// Exact checks: the scratch contents on entry do not matter, repeated calls
// give the same bits, a sample's output does not depend on the batch around
// it, nothing outside y is written, and the layer (dc_conv2d_forward) gives
// the same bits for N < 4 (it runs this kernel, or im2col + GEMM whose
// per-output FMA chain is the same).
//
// The batch-1 Winograd kernels (winot8, winot16: tiles of one image in the
// lanes) are held to the sample-lanes Winograd kernels' bits (wino8,
// wino16: the same operations per tile), with the weights transformed per
// call or prepared once (dc_conv_pack), whole or in output-channel shares
// (dc_conv_run_forward_share), on awkward shapes (OW and OH odd, tile rows
// shorter and longer than a vector, pad 0 and 2, channel counts that leave
// remainder register blocks), and checked not to write past their scratch.
//
// The batch-1 F(4x4,3x3) kernels (wino4t8, wino4t16, the choice on prepared
// weights where 4x4 tiles fill the vectors) do other arithmetic: they are
// held to the reference within 32 u (u as above; test_conv_registry.c
// measures 25.9 u), and exactly to themselves: prepared weights against the
// per-call transform, shares by tile rows or channels against the whole,
// the fused residual against the convolution followed by the add, and the
// two vector widths against each other.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/cpu.h"
#include "kernels/conv_kernels.h"
#include "kernels/conv_registry.h"
#include "layers/layers.h"

static float *falloc(size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    memset(p, 0, bytes);
    return p;
}

// xorshift64*: a fixed stream of uniform values in [-1, 1).
static float urand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

static double rms(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    return sqrt(s / (double)(n ? n : 1));
}

// Whether `name` can run every share's shape (blocks of 8 output channels
// divided as slices of a batch are: conv_registry.c's share_channels) in
// the whole convolution's scratch.
static bool shares_plannable(const dc_conv_shape *s, int N, const char *name, int parts) {
    const int units = (s->OC + 7) / 8;
    dc_conv_plan whole;
    dc_error e0;
    if (dc_conv_plan_make_with(&whole, s, N, DC_CONV_FWD, dc_cpu_features(), name, NULL, NULL, &e0) != DC_OK)
        return false;
    for (int k = 0; k < parts; k++) {
        const int lo = 8 * (int)((long)units * k / parts);
        int hi = 8 * (int)((long)units * (k + 1) / parts);
        if (hi > s->OC) hi = s->OC;
        const dc_conv_shape sk = dc_conv_shape_make(s->C, s->H, s->W, hi - lo, s->K, s->stride, s->pad);
        dc_conv_plan p;
        dc_error err;
        if (dc_conv_plan_make_with(&p, &sk, N, DC_CONV_FWD, dc_cpu_features(), name, NULL, NULL, &err) != DC_OK ||
            dc_conv_plan_floats(&p) > dc_conv_plan_floats(&whole))
            return false;
    }
    return true;
}

// The kernels a batch-1 session shares by output channels on 2 or more
// threads (direct, direct16, im2col + GEMM: the 1x1 stride-2 projection
// shortcuts take im2col): each share's outputs have the whole forward's
// bits, and a split is refused only where there are fewer blocks of 8
// channels than shares.
static void check_channel_shares(const dc_conv_shape *s, int N, const float *x, const float *w,
                                 const float *b, const char *what) {
    static const char *const names[] = {"direct", "direct16", "im2col"};
    const size_t n = (size_t)N * s->OC * s->OH * s->OW;
    float *want = falloc(n), *got = falloc(n);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        dc_conv_plan p;
        dc_error err;
        if (dc_conv_plan_make_with(&p, s, N, DC_CONV_FWD, dc_cpu_features(), names[k], NULL, NULL, &err) != DC_OK)
            continue;
        float *sc = falloc(dc_conv_plan_floats(&p));
        for (int relu = 0; relu <= 1; relu++) {
            dc_conv_run_forward_packed(&p, want, x, w, NULL, b, relu, NULL, N, sc);
            for (int parts = 2; parts <= 3; parts++) {
                memset(got, 0, sizeof(float) * n);
                bool ran = true;
                for (int part = 0; part < parts; part++)
                    ran &= dc_conv_run_forward_share(&p, part, parts, got, x, w, NULL, 1, b, relu, NULL, N, sc);
                if (ran)
                    CHECK(memcmp(want, got, sizeof(float) * n) == 0, "%s in %d shares (relu %d) != whole: %s",
                          names[k], parts, relu, what);
                else
                    CHECK((s->OC + 7) / 8 < parts || !shares_plannable(s, N, names[k], parts),
                          "%s refused %d shares of %d channels: %s", names[k], parts, s->OC, what);
            }
        }
        free(sc);
    }
    free(want), free(got);
}

static void check_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad) {
    const dc_conv_shape s = {.C = C, .H = H, .W = W, .OC = OC, .K = K, .stride = stride,
                             .pad = pad, .OH = dc_conv_out(H, K, stride, pad),
                             .OW = dc_conv_out(W, K, stride, pad)};
    char what[160];
    snprintf(what, sizeof what, "N=%d C=%d H=%d W=%d OC=%d K=%d stride=%d pad=%d (OW=%d)", N, C,
             H, W, OC, K, stride, pad, s.OW);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * s.OH * s.OW;
    const size_t nw = (size_t)OC * C * K * K, guard = 16;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(N * 131 + C * 17 + OC * 7 + K + W);
    float *x = falloc(N * xs), *w = falloc(nw), *b = falloc(OC);
    for (size_t i = 0; i < N * xs; i++) x[i] = urand(&seed);
    for (size_t i = 0; i < nw; i++) w[i] = urand(&seed);
    for (int i = 0; i < OC; i++) b[i] = urand(&seed);
    const double atol = fmax(1e-6, 1e-6 * rms(x, N * xs) * rms(w, nw) * sqrt((double)C * K * K));

    float *want = falloc(N * ys), *sr = falloc(dc_conv_im2col_forward_floats(&s));
    dc_conv_im2col_forward(want, x, w, b, N, &s, sr);

    // y with guard floats after it (must stay untouched), scratch full of NaN
    const size_t nsc = dc_conv_direct_forward_floats(&s);
    float *y = falloc(N * ys + guard), *sc = falloc(nsc);
    for (size_t i = 0; i < nsc; i++) sc[i] = NAN;
    for (size_t i = 0; i < guard; i++) y[N * ys + i] = 7.0f;
    dc_conv_direct_forward(y, x, w, b, N, &s, sc);
    char msg[200];
    snprintf(msg, sizeof msg, "direct vs im2col, bias, %s", what);
    CHECK(dc_check_close(msg, y, want, N * ys, 1e-5, atol), "%s", msg);
    int guard_ok = 1;
    for (size_t i = 0; i < guard; i++) guard_ok &= y[N * ys + i] == 7.0f;
    CHECK(guard_ok, "wrote past y: %s", what);

    // again with the scratch left dirty: same bits
    float *y2 = falloc(N * ys);
    dc_conv_direct_forward(y2, x, w, b, N, &s, sc);
    CHECK(memcmp(y, y2, sizeof(float) * N * ys) == 0, "repeat differs: %s", what);

    // each sample alone: same bits as inside the batch
    int alone_ok = 1;
    for (int n = 0; n < N; n++) {
        dc_conv_direct_forward(y2, x + n * xs, w, b, 1, &s, sc);
        alone_ok &= memcmp(y2, y + n * ys, sizeof(float) * ys) == 0;
    }
    CHECK(alone_ok, "a sample's output depends on its batch: %s", what);

    // the ReLU applied as the outputs are stored: the bits of a separate pass
    {
        float *yr = falloc(N * ys);
        memcpy(yr, y, sizeof(float) * N * ys);
        dc_relu_inplace(yr, N * ys);
        dc_conv_direct_forward_relu(y2, x, w, b, true, N, &s, sc);
        CHECK(memcmp(yr, y2, sizeof(float) * N * ys) == 0, "direct relu != direct then relu: %s", what);
        free(yr);
    }

    // the AVX-512 build of the same kernel (16 lanes): the same bits, and
    // scratch of its own size function is enough (a NaN-filled guard stays)
    if (dc_cpu_has(dc_cpu_features(), DC_CPU_LEVEL_AVX512)) {
        const size_t n16 = dc_conv_direct16_forward_floats(&s);
        float *sc16 = falloc(n16 + guard);
        for (size_t i = 0; i < n16 + guard; i++) sc16[i] = NAN;
        for (int relu = 0; relu <= 1; relu++) {
            dc_conv_direct16_forward_relu(y2, x, w, b, relu, N, &s, sc16);
            if (relu) dc_conv_direct_forward_relu(want, x, w, b, true, N, &s, sc);
            CHECK(memcmp(relu ? want : y, y2, sizeof(float) * N * ys) == 0, "direct16 != direct (relu %d): %s",
                  relu, what);
        }
        int g16 = 1;
        for (size_t i = 0; i < guard; i++) g16 &= isnan(sc16[n16 + i]);
        CHECK(g16, "direct16 wrote past its scratch: %s", what);
        free(sc16);
    }

    // no bias
    dc_conv_im2col_forward(want, x, w, NULL, N, &s, sr);
    dc_conv_direct_forward(y2, x, w, NULL, N, &s, sc);
    snprintf(msg, sizeof msg, "direct vs im2col, no bias, %s", what);
    CHECK(dc_check_close(msg, y2, want, N * ys, 1e-5, atol), "%s", msg);

    // the layer (1 and 2 threads) runs this kernel for N < 4 on AVX2 CPUs, or
    // im2col + GEMM (stride 2, fewer than 16 taps: conv_registry.c), whose
    // tile kernel forms each output by the same FMA chain: the same bits
    // either way
    for (int T = 1; T <= 2; T++) {
        dc_conv2d_forward(y2, x, w, b, N, C, H, W, OC, K, stride, pad, T);
        CHECK(memcmp(y, y2, sizeof(float) * N * ys) == 0, "layer (%d threads) != direct: %s", T,
              what);
    }
    check_channel_shares(&s, N, x, w, b, what);
    free(x), free(w), free(b), free(want), free(sr), free(y), free(sc), free(y2);
}

// Plans `name` for shape s at batch N (false: the CPU cannot run it).
static bool forced_plan(dc_conv_plan *p, const dc_conv_shape *s, int N, const char *name) {
    dc_error err;
    return dc_conv_plan_make_with(p, s, N, DC_CONV_FWD, dc_cpu_features(), name, NULL, NULL, &err) == DC_OK;
}

// The forward of plan pt in 2 and 3 shares, on w, on the pack U and on a
// pack laid out for the shares (dc_conv_pack_shared), against
// the whole forward's bits `want`; a share may be refused only where the
// split cannot be made: by tile rows (of `tile` output rows, where the
// pack holds this kernel's weights: packed_rows) or by output channels.
static void check_shares(const dc_conv_plan *pt, const char *name, int tile, bool packed_rows,
                         const float *want, float *got, const float *x, const float *w, const float *U,
                         const float *b, bool relu, int N, float *sct, const char *what) {
    const dc_conv_shape *s = &pt->s;
    const size_t n = (size_t)N * s->OC * s->OH * s->OW;
    const int th = (s->OH + tile - 1) / tile;
    for (int parts = 2; parts <= 3; parts++) {
        // packed 2: a pack laid out for these shares (each share's U apart
        // where the split is by channels)
        const size_t nsh = U ? dc_conv_pack_floats_shared(s, dc_cpu_features(), parts) : 0;
        float *Ush = nsh ? falloc(nsh) : NULL;
        if (Ush) dc_conv_pack_shared(Ush, w, s, dc_cpu_features(), parts);
        for (int packed = 0; packed < 3; packed++) {
            if (packed == 2 && !Ush) continue;
            memset(got, 0, sizeof(float) * n);
            bool ran = true;
            for (int part = 0; part < parts; part++)
                ran &= dc_conv_run_forward_share(pt, part, parts, got, x, w, packed == 2 ? Ush : packed ? U : NULL,
                                                 packed == 2 ? parts : 1, b, relu, NULL, N, sct);
            if (ran)
                CHECK(memcmp(want, got, sizeof(float) * n) == 0, "%s in %d shares (prepared %d) != whole: %s",
                      name, parts, packed, what);
            else if (packed && packed_rows)
                CHECK(th < parts && (s->OC + 7) / 8 < parts, "%s refused %d shares of %d tile rows and %d channels: %s",
                      name, parts, th, s->OC, what);
            else
                CHECK((s->OC + 7) / 8 < parts, "%s refused %d shares of %d channels: %s", name, parts, s->OC, what);
        }
        free(Ush);
    }
}

static void check_winot(int N, int C, int H, int W, int OC, int pad) {
    const dc_conv_shape s = dc_conv_shape_make(C, H, W, OC, 3, 1, pad);
    char what[120];
    snprintf(what, sizeof what, "N=%d C=%d H=%d W=%d OC=%d pad=%d", N, C, H, W, OC, pad);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * s.OH * s.OW, nw = (size_t)OC * C * 9;
    uint64_t seed = 0x51ed2701ull ^ (uint64_t)(N * 131 + C * 17 + OC * 7 + W * 3 + H + pad);
    float *x = falloc(N * xs), *w = falloc(nw), *b = falloc(OC);
    for (size_t i = 0; i < N * xs; i++) x[i] = urand(&seed);
    for (size_t i = 0; i < nw; i++) w[i] = urand(&seed);
    for (int i = 0; i < OC; i++) b[i] = urand(&seed);
    const size_t npk = dc_conv_pack_floats(&s, dc_cpu_features());
    // prepared exactly where a kernel that reads them may be chosen (8 channels or more each side)
    CHECK((npk > 0) == (C >= 8 && OC >= 8), "prepared weights %zu floats for a 3x3 stride-1 convolution: %s",
          npk, what);
    float *U = NULL; // NULL: dc_conv_run_forward_packed runs on w
    if (npk) {
        U = falloc(npk);
        dc_conv_pack(U, w, &s, dc_cpu_features());
    }
    static const char *const pairs[2][2] = {{"wino8", "winot8"}, {"wino16", "winot16"}};
    for (int k = 0; k < 2; k++) {
        dc_conv_plan pl, pt;
        if (!forced_plan(&pl, &s, 4, pairs[k][0]) || !forced_plan(&pt, &s, 1, pairs[k][1])) continue;
        const size_t nl = dc_conv_plan_floats(&pl), nt = dc_conv_plan_floats(&pt), guard = 16;
        float *scl = falloc(nl), *sct = falloc(nt + guard);
        float *want = falloc(N * ys), *got = falloc(N * ys);
        for (int relu = 0; relu < 2; relu++) {
            dc_conv_run_forward(&pl, want, x, w, b, relu, N, scl);
            for (size_t i = 0; i < nt + guard; i++) sct[i] = (float)NAN; // scratch contents do not matter
            dc_conv_run_forward(&pt, got, x, w, b, relu, N, sct);
            CHECK(memcmp(want, got, sizeof(float) * N * ys) == 0, "%s != %s (relu %d): %s", pairs[k][1],
                  pairs[k][0], relu, what);
            bool intact = true;
            for (size_t i = nt; i < nt + guard; i++) intact &= isnan(sct[i]);
            CHECK(intact, "%s wrote past its scratch: %s", pairs[k][1], what);
            memset(got, 0, sizeof(float) * N * ys);
            dc_conv_run_forward_packed(&pt, got, x, w, U, b, relu, NULL, N, sct);
            CHECK(memcmp(want, got, sizeof(float) * N * ys) == 0, "%s prepared != per call (relu %d): %s",
                  pairs[k][1], relu, what);
            memset(got, 0, sizeof(float) * N * ys);
            dc_conv_run_forward_packed(&pl, got, x, w, U, b, relu, NULL, N, scl);
            CHECK(memcmp(want, got, sizeof(float) * N * ys) == 0, "%s prepared != per call (relu %d): %s",
                  pairs[k][0], relu, what);
            check_shares(&pt, pairs[k][1], 2, U != NULL, want, got, x, w, U, b, relu, N, sct, what);
        }
        // a residual added before the relu (an add node fused into the
        // convolution): the bits of the convolution, then dc_add_relu_forward
        if (U) {
            float *res = falloc(N * ys), *wantr = falloc(N * ys);
            for (size_t i = 0; i < N * ys; i++) res[i] = urand(&seed);
            dc_conv_run_forward(&pl, want, x, w, b, false, N, scl);
            for (int relu = 0; relu < 2; relu++) {
                for (size_t i = 0; i < N * ys; i++) {
                    const float v = want[i] + res[i];
                    wantr[i] = !relu || v > 0.0f || v != v ? v : 0.0f;
                }
                CHECK(dc_conv_plan_takes_res(&pt, U) && !dc_conv_plan_takes_res(&pt, NULL) &&
                          !dc_conv_plan_takes_res(&pl, U), "%s takes a residual exactly on prepared weights, %s not",
                      pairs[k][1], pairs[k][0]);
                memset(got, 0, sizeof(float) * N * ys);
                dc_conv_run_forward_packed(&pt, got, x, w, U, b, relu, res, N, sct);
                CHECK(memcmp(wantr, got, sizeof(float) * N * ys) == 0, "%s + residual (relu %d) != conv, add: %s",
                      pairs[k][1], relu, what);
                for (int parts = 2; parts <= 3; parts++) {
                    memset(got, 0, sizeof(float) * N * ys);
                    bool ran = true;
                    for (int part = 0; part < parts; part++)
                        ran &= dc_conv_run_forward_share(&pt, part, parts, got, x, w, U, 1, b, relu, res, N, sct);
                    if (ran)
                        CHECK(memcmp(wantr, got, sizeof(float) * N * ys) == 0,
                              "%s + residual in %d shares != conv, add: %s", pairs[k][1], parts, what);
                    CHECK(!dc_conv_run_forward_share(&pt, 0, parts, got, x, w, NULL, 1, b, relu, res, N, sct),
                          "%s took a residual on weights not prepared", pairs[k][1]);
                }
            }
            free(res), free(wantr);
        }
        free(scl), free(sct), free(want), free(got);
    }
    free(x), free(w), free(b), free(U);
}

// The choice at batch 1 on prepared weights: F(4,3) where its 4x4 tiles
// fill the vectors, F(2,3) on the 7x7 stage.
static void check_wino4_choice(void) {
    const unsigned cpu = dc_cpu_features();
    const bool z = dc_cpu_has(cpu, DC_CPU_LEVEL_AVX512);
    const struct { int C, H; const char *want; } cases[] = {
        {16, 28, z ? "wino4t16" : "wino4t8"}, {32, 14, z ? "wino4t16" : "wino4t8"},
        {64, 7, z ? "winot16" : "winot8"}, {8, 28, z ? "direct16" : "direct"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const dc_conv_shape s = dc_conv_shape_make(cases[i].C, cases[i].H, cases[i].H, cases[i].C, 3, 1, 1);
        dc_conv_plan p;
        dc_error err;
        CHECK(dc_conv_plan_make_prepared(&p, &s, 1, DC_CONV_FWD, cpu, true, &err) == DC_OK &&
                  !strcmp(p.fwd->name, cases[i].want),
              "batch-1 prepared plan for %d channels at %dx%d: %s, want %s", cases[i].C, cases[i].H, cases[i].H,
              p.fwd->name, cases[i].want);
    }
}

static void check_wino4t(int N, int C, int H, int W, int OC, int pad) {
    const dc_conv_shape s = dc_conv_shape_make(C, H, W, OC, 3, 1, pad);
    char what[120];
    snprintf(what, sizeof what, "N=%d C=%d H=%d W=%d OC=%d pad=%d", N, C, H, W, OC, pad);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * s.OH * s.OW, nw = (size_t)OC * C * 9;
    uint64_t seed = 0x4a3b2c1dull ^ (uint64_t)(N * 131 + C * 17 + OC * 7 + W * 3 + H + pad);
    float *x = falloc(N * xs), *w = falloc(nw), *b = falloc(OC), *res = falloc(N * ys);
    for (size_t i = 0; i < N * xs; i++) x[i] = urand(&seed);
    for (size_t i = 0; i < nw; i++) w[i] = urand(&seed);
    for (int i = 0; i < OC; i++) b[i] = urand(&seed);
    for (size_t i = 0; i < N * ys; i++) res[i] = urand(&seed);
    const size_t npk = dc_conv_pack_floats(&s, dc_cpu_features());
    float *U = npk ? falloc(npk) : NULL;
    if (U) dc_conv_pack(U, w, &s, dc_cpu_features());
    float *ref = falloc(N * ys), *first = NULL;
    const double atol = 32.0 * 1e-6 * rms(x, N * xs) * rms(w, nw) * sqrt(9.0 * C);
    static const char *const names[2] = {"wino4t8", "wino4t16"};
    for (int k = 0; k < 2; k++) {
        dc_conv_plan pt;
        if (!forced_plan(&pt, &s, 1, names[k])) continue;
        const size_t nt = dc_conv_plan_floats(&pt), guard = 16;
        float *sct = falloc(nt + guard), *want = falloc(N * ys), *got = falloc(N * ys), *wantr = falloc(N * ys);
        for (int relu = 0; relu < 2; relu++) {
            char label[200];
            dc_conv_ref_forward(ref, x, w, b, relu, N, &s, NULL);
            for (size_t i = 0; i < nt + guard; i++) sct[i] = (float)NAN; // scratch contents do not matter
            dc_conv_run_forward(&pt, want, x, w, b, relu, N, sct);
            snprintf(label, sizeof label, "%s (relu %d) against the reference: %s", names[k], relu, what);
            dc_check_close(label, want, ref, N * ys, 1e-5, atol);
            bool intact = true;
            for (size_t i = nt; i < nt + guard; i++) intact &= isnan(sct[i]);
            CHECK(intact, "%s wrote past its scratch: %s", names[k], what);
            if (relu && !first) { // the other vector width gives these bits
                first = falloc(N * ys);
                memcpy(first, want, sizeof(float) * N * ys);
            } else if (relu) {
                CHECK(memcmp(first, want, sizeof(float) * N * ys) == 0, "wino4t16 != wino4t8: %s", what);
            }
            memset(got, 0, sizeof(float) * N * ys);
            dc_conv_run_forward_packed(&pt, got, x, w, U, b, relu, NULL, N, sct);
            CHECK(memcmp(want, got, sizeof(float) * N * ys) == 0, "%s prepared != per call (relu %d): %s",
                  names[k], relu, what);
            check_shares(&pt, names[k], 4, dc_conv_plan_takes_res(&pt, U), want, got, x, w, U, b, relu, N, sct,
                         what);
            // the fused residual: the convolution's bits, then the add and its relu
            const bool takes = dc_conv_plan_takes_res(&pt, U);
            CHECK(!dc_conv_plan_takes_res(&pt, NULL), "%s takes a residual on weights not prepared", names[k]);
            if (!takes) continue; // a pack without F(4,3)'s U: this shape's choice is not wino4t
            dc_conv_run_forward(&pt, want, x, w, b, false, N, sct);
            for (size_t i = 0; i < N * ys; i++) {
                const float v = want[i] + res[i];
                wantr[i] = !relu || v > 0.0f || v != v ? v : 0.0f;
            }
            memset(got, 0, sizeof(float) * N * ys);
            dc_conv_run_forward_packed(&pt, got, x, w, U, b, relu, res, N, sct);
            CHECK(memcmp(wantr, got, sizeof(float) * N * ys) == 0, "%s + residual (relu %d) != conv, add: %s",
                  names[k], relu, what);
            for (int parts = 2; parts <= 3; parts++) {
                memset(got, 0, sizeof(float) * N * ys);
                bool ran = true;
                for (int part = 0; part < parts; part++)
                    ran &= dc_conv_run_forward_share(&pt, part, parts, got, x, w, U, 1, b, relu, res, N, sct);
                if (ran)
                    CHECK(memcmp(wantr, got, sizeof(float) * N * ys) == 0,
                          "%s + residual in %d shares != conv, add: %s", names[k], parts, what);
            }
        }
        free(sct), free(want), free(got), free(wantr);
    }
    free(x), free(w), free(b), free(res), free(U), free(ref), free(first);
}

int main(void) {
    if (!dc_conv_lanes_available()) {
        printf("AVX2+FMA not available: the direct kernel is not used here, skipped\n");
        return dc_test_finish();
    }
    for (int N = 1; N <= 3; N++) {
        check_shape(N, 1, 28, 28, 6, 5, 1, 2);   // LeNet-5 conv1
        check_shape(N, 6, 14, 14, 16, 5, 1, 0);  // LeNet-5 conv2
        check_shape(N, 3, 11, 17, 7, 3, 2, 1);   // stride 2, pad 1, H != W
        check_shape(N, 3, 9, 9, 13, 3, 1, 1);    // OW = 9, OC = 13
        check_shape(N, 2, 6, 5, 1, 3, 1, 0);     // OW = 3 < 8, OC = 1
        check_shape(N, 5, 12, 19, 7, 1, 1, 0);   // K = 1 (pointwise)
        check_shape(N, 3, 13, 23, 5, 4, 3, 2);   // stride 3, even K
        check_shape(N, 4, 7, 40, 9, 3, 2, 0);    // wide rows, odd OC
        check_shape(N, 1, 1, 1, 3, 1, 1, 0);     // 1x1 image
        check_shape(N, 2, 5, 5, 2, 5, 1, 4);     // padding larger than the kernel's reach
        check_shape(N, 3, 6, 6, 24, 3, 1, 0);    // by channels, 3 channel vectors
        check_shape(N, 16, 28, 28, 16, 3, 1, 1); // resnet20 stage 1 (rows; 16 lanes: 2 vectors a row)
        check_shape(N, 32, 14, 14, 32, 3, 1, 1); // stage 2 (one 14-of-16 vector a row)
        check_shape(N, 64, 7, 7, 64, 3, 1, 1);   // stage 3 (by channels at 16 lanes)
        check_shape(N, 16, 28, 28, 32, 1, 2, 0); // resnet20's projection shortcuts (1x1 stride 2)
        check_shape(N, 32, 14, 14, 64, 1, 2, 0);
        check_shape(N, 16, 28, 28, 32, 3, 2, 1); // and the stride-2 3x3 convolutions beside them
        check_shape(N, 3, 9, 37, 10, 5, 2, 2);   // stride 2, pad 2, rows of 41 padded columns (vectors of pairs)
        check_shape(N, 5, 9, 37, 40, 3, 1, 1);   // rows of 37: 2 full vectors + 5 lanes; OC 40 (8 + remainders)
        check_winot(N, 16, 28, 28, 16, 1);       // resnet20's stages: 14, 7 and 4 tiles a row
        check_winot(N, 32, 14, 14, 32, 1);
        check_winot(N, 64, 7, 7, 64, 1);         // OH, OW odd: the last tile half outside
        check_winot(N, 8, 5, 5, 8, 0);           // pad 0: OW 3, 2 tiles a row
        check_winot(N, 9, 13, 11, 17, 1);        // odd everything, OC 17: remainder blocks
        check_winot(N, 12, 30, 31, 10, 2);       // pad 2, tile rows of 16.5 (over two vectors)
        check_winot(N, 3, 1, 1, 5, 1);           // a 1x1 image
        check_winot(N, 8, 40, 9, 24, 1);         // tall and narrow
        check_winot(N, 4, 9, 70, 3, 0);          // rows of 34 tiles: several vectors and a spill
        check_wino4t(N, 16, 28, 28, 16, 1);      // resnet20's stages: 7 tiles a row (vectors over rows)
        check_wino4t(N, 32, 14, 14, 32, 1);      // 4 a row, 16 in all: one vector
        check_wino4t(N, 64, 7, 7, 64, 1);        // 2 a row, the last tile 3/4 outside (not chosen)
        check_wino4t(N, 16, 5, 5, 16, 0);        // pad 0: OW 3, one tile
        check_wino4t(N, 17, 13, 11, 18, 1);      // odd everything, OC 18: remainder blocks
        check_wino4t(N, 16, 30, 31, 16, 2);      // pad 2, 8 tiles a row
        check_wino4t(N, 16, 1, 1, 16, 1);        // a 1x1 image
        check_wino4t(N, 16, 40, 9, 24, 1);       // tall and narrow: 3 tiles a row
        check_wino4t(N, 3, 9, 150, 5, 0);        // rows of 37 tiles: vectors inside rows and across
    }
    check_wino4_choice();
    return dc_test_finish();
}
