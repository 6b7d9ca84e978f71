// test_conv_kernels.c — the fast convolution, pooling and ReLU paths against
// plain references, on LeNet-5's shapes and on awkward ones: stride 2 and 3,
// padding 1 and 3, K = 1, 3, 7, C = 3, H != W, widths below and above the
// 8-lane vector, batches that are not a multiple of 8, channel counts that
// leave remainder register blocks.
//
// Convolution: the references are the definition summed in double, so both
// the lanes kernel (AVX2) and the im2col + GEMM kernel are judged against
// something more accurate than either. Tolerance as in test_layers.c:
// |got - want| <= 1e-5 |want| + atol, atol = 1e-6 * rms(a) * rms(b) *
// sqrt(terms) for a sum of `terms` products of a and b values (never below
// 1e-6), because fp32 partial sums in any order carry an absolute error that
// scales with the terms, not with a result that cancels to near zero.
// Contract details are checked exactly: dw/db accumulate, dx is overwritten,
// scratch contents do not matter, repeated calls give the same bits, a
// sample's forward output does not depend on the batch around it (lanes),
// the layer gives the same bits for a thread count run to run, and it does
// every sample when called with several threads inside a parallel region
// (where the nested team has one thread).
//
// Max pool 2x2 and ReLU fast paths must equal the plain loops bit for bit,
// NaNs, ties and -0 included.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/conv_kernels.h"
#include "layers/layers.h"

#define RTOL 1e-5
#define ATOL 1e-6

static float *falloc(size_t n) {
    // 64-byte aligned (the kernels' scratch must be 32-byte aligned)
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    memset(p, 0, bytes);
    return p;
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

// xorshift64*: a fixed stream of uniform values in [-1, 1).
static float urand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

static void randomise(float *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) p[i] = urand(s);
}

static double rms(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

static double dot_atol(double ra, double rb, double terms) {
    double a = 1e-6 * ra * rb * sqrt(terms);
    return a > ATOL ? a : ATOL;
}

// ---------------------------------------------------------------------------
// Convolution references: the definition, accumulated in double.

static void ref_forward(float *y, const float *x, const float *w, const float *b, int N,
                        const dc_conv_shape *s) {
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    double acc = b ? b[oc] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < s->K; ki++)
                            for (int kj = 0; kj < s->K; kj++) {
                                int ih = oh * s->stride - s->pad + ki, iw = ow * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)x[(((size_t)n * s->C + c) * s->H + ih) * s->W + iw] *
                                       w[(((size_t)oc * s->C + c) * s->K + ki) * s->K + kj];
                            }
                    y[(((size_t)n * s->OC + oc) * s->OH + oh) * s->OW + ow] = (float)acc;
                }
}

// dx overwritten, dw and db overwritten (the test adds its own accumulation).
static void ref_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, int N, const dc_conv_shape *s) {
    const size_t nx = (size_t)N * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * s->K * s->K;
    double *ddx = calloc(nx, sizeof(double)), *ddw = calloc(nw, sizeof(double));
    double *ddb = calloc((size_t)s->OC, sizeof(double));
    if (!ddx || !ddw || !ddb) exit(2);
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < s->OC; oc++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    const double g = dy[(((size_t)n * s->OC + oc) * s->OH + oh) * s->OW + ow];
                    ddb[oc] += g;
                    for (int c = 0; c < s->C; c++)
                        for (int ki = 0; ki < s->K; ki++)
                            for (int kj = 0; kj < s->K; kj++) {
                                int ih = oh * s->stride - s->pad + ki, iw = ow * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                size_t xi = (((size_t)n * s->C + c) * s->H + ih) * s->W + iw;
                                size_t wi = (((size_t)oc * s->C + c) * s->K + ki) * s->K + kj;
                                ddx[xi] += g * w[wi];
                                ddw[wi] += g * x[xi];
                            }
                }
    for (size_t i = 0; i < nx; i++) dx[i] = (float)ddx[i];
    for (size_t i = 0; i < nw; i++) dw[i] = (float)ddw[i];
    for (int i = 0; i < s->OC; i++) db[i] = (float)ddb[i];
    free(ddx);
    free(ddw);
    free(ddb);
}

typedef struct conv_case {
    int N, C, H, W, OC, K, stride, pad;
} conv_case;

typedef void (*fwd_fn)(float *, const float *, const float *, const float *, int,
                       const dc_conv_shape *, float *);
typedef void (*bwd_fn)(float *, float *, float *, const float *, const float *, const float *,
                       int, const dc_conv_shape *, float *);

// One kernel (lanes or im2col) on one shape against the references.
static void check_kernel(const char *kname, fwd_fn fwd, bwd_fn bwd, size_t fwd_floats,
                         size_t bwd_floats, const conv_case *cc, const dc_conv_shape *s,
                         const float *x, const float *w, const float *b, const float *dy,
                         const float *y_ref, const float *dx_ref, const float *dw_ref,
                         const float *db_ref, double at_y, double at_dx, double at_dw,
                         double at_db) {
    const size_t nx = (size_t)cc->N * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * s->K * s->K;
    const size_t ny = (size_t)cc->N * s->OC * s->OH * s->OW;
    char label[160];
    float *sf = falloc(fwd_floats), *sb = falloc(bwd_floats);
    float *y = falloc(ny), *y2 = falloc(ny), *dx = falloc(nx), *dx2 = falloc(nx);
    float *dw = falloc(nw), *db = falloc((size_t)s->OC), *dw2 = falloc(nw);
    fill(sf, fwd_floats, NAN); // scratch contents must not matter
    fill(sb, bwd_floats, NAN);
    fill(y, ny, NAN); // y and dx are overwritten
    fill(dx, nx, NAN);
#define LABEL(what)                                                                             \
    snprintf(label, sizeof label, "%s N%d C%d %dx%d OC%d K%d s%d p%d %s", kname, cc->N, cc->C,  \
             cc->H, cc->W, cc->OC, cc->K, cc->stride, cc->pad, what)
    fwd(y, x, w, b, cc->N, s, sf);
    LABEL("y");
    dc_check_close(label, y, y_ref, ny, RTOL, at_y);
    fill(sf, fwd_floats, -1.0f);
    fwd(y2, x, w, b, cc->N, s, sf);
    CHECK(memcmp(y, y2, ny * sizeof(float)) == 0, "%s: repeated forward differs", label);

    bwd(dx, dw, db, dy, x, w, cc->N, s, sb);
    LABEL("dx");
    dc_check_close(label, dx, dx_ref, nx, RTOL, at_dx);
    LABEL("dw");
    dc_check_close(label, dw, dw_ref, nw, RTOL, at_dw);
    LABEL("db");
    dc_check_close(label, db, db_ref, (size_t)s->OC, RTOL, at_db);
    // second call: dw, db doubled; dx the same bits
    float *dw1 = falloc(nw);
    memcpy(dw1, dw, nw * sizeof(float));
    fill(sb, bwd_floats, 3.0f);
    bwd(dx2, dw, db, dy, x, w, cc->N, s, sb);
    CHECK(memcmp(dx, dx2, nx * sizeof(float)) == 0, "%s: repeated backward dx differs", label);
    for (size_t i = 0; i < nw; i++) dw2[i] = 2.0f * dw1[i];
    LABEL("dw x2");
    dc_check_close(label, dw, dw2, nw, RTOL, 2 * at_dw);
    // dx and db NULL: dw gets the same bits as with them
    memset(dw2, 0, nw * sizeof(float));
    bwd(NULL, dw2, NULL, dy, x, w, cc->N, s, sb);
    CHECK(memcmp(dw2, dw1, nw * sizeof(float)) == 0, "%s: dw changes when dx, db are NULL",
          label);
#undef LABEL
    free(sf); free(sb); free(y); free(y2); free(dx); free(dx2); free(dw); free(db); free(dw2);
    free(dw1);
}

static void test_conv_case(const conv_case *cc, uint64_t *rng) {
    dc_conv_shape s = {.C = cc->C, .H = cc->H, .W = cc->W, .OC = cc->OC, .K = cc->K,
                       .stride = cc->stride, .pad = cc->pad,
                       .OH = dc_conv_out(cc->H, cc->K, cc->stride, cc->pad),
                       .OW = dc_conv_out(cc->W, cc->K, cc->stride, cc->pad)};
    const int N = cc->N;
    const size_t nx = (size_t)N * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
    const size_t ny = (size_t)N * s.OC * s.OH * s.OW;
    float *x = falloc(nx), *w = falloc(nw), *b = falloc((size_t)s.OC), *dy = falloc(ny);
    randomise(x, nx, rng);
    randomise(w, nw, rng);
    randomise(b, (size_t)s.OC, rng);
    randomise(dy, ny, rng);
    float *y_ref = falloc(ny), *dx_ref = falloc(nx), *dw_ref = falloc(nw), *db_ref = falloc((size_t)s.OC);
    ref_forward(y_ref, x, w, b, N, &s);
    ref_backward(dx_ref, dw_ref, db_ref, dy, x, w, N, &s);
    const double rx = rms(x, nx), rw = rms(w, nw), rdy = rms(dy, ny);
    const double at_y = dot_atol(rx, rw, (double)s.C * s.K * s.K);
    const double at_dx = dot_atol(rw, rdy, (double)s.OC * s.K * s.K);
    const double at_dw = dot_atol(rx, rdy, (double)N * s.OH * s.OW);
    const double at_db = dot_atol(1.0, rdy, (double)N * s.OH * s.OW);

    check_kernel("im2col", dc_conv_im2col_forward, dc_conv_im2col_backward,
                 dc_conv_im2col_forward_floats(&s), dc_conv_im2col_backward_floats(&s), cc, &s,
                 x, w, b, dy, y_ref, dx_ref, dw_ref, db_ref, at_y, at_dx, at_dw, at_db);
    if (dc_conv_lanes_available()) {
        check_kernel("lanes", dc_conv_lanes_forward, dc_conv_lanes_backward,
                     dc_conv_lanes_forward_floats(&s), dc_conv_lanes_backward_floats(&s, true), cc,
                     &s, x, w, b, dy, y_ref, dx_ref, dw_ref, db_ref, at_y, at_dx, at_dw, at_db);
        // without bias
        float *y = falloc(ny), *sf = falloc(dc_conv_lanes_forward_floats(&s));
        dc_conv_lanes_forward(y, x, w, NULL, N, &s, sf);
        float *ynb = falloc(ny);
        ref_forward(ynb, x, w, NULL, N, &s);
        dc_check_close("lanes y (no bias)", y, ynb, ny, RTOL, at_y);
        // batch invariance: each sample alone gives the bits it had in the batch
        dc_conv_lanes_forward(y, x, w, b, N, &s, sf);
        const size_t xs = nx / N, ys = ny / N;
        float *y1 = falloc(ys);
        int same = 1;
        for (int n = 0; n < N; n++) {
            dc_conv_lanes_forward(y1, x + n * xs, w, b, 1, &s, sf);
            same &= memcmp(y1, y + n * ys, ys * sizeof(float)) == 0;
        }
        CHECK(same, "lanes: a sample's forward output depends on its batch");
        free(y); free(sf); free(ynb); free(y1);
    }

    // the layer: thread counts 1..3, same bits run to run
    for (int T = 1; T <= 3; T++) {
        float *y = falloc(ny), *y2 = falloc(ny), *dx = falloc(nx), *dw = falloc(nw),
              *db = falloc((size_t)s.OC), *dw2 = falloc(nw), *db2 = falloc((size_t)s.OC);
        char label[96];
        dc_conv2d_forward(y, x, w, b, N, s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad, T);
        snprintf(label, sizeof label, "layer T=%d y", T);
        dc_check_close(label, y, y_ref, ny, RTOL, at_y);
        dc_conv2d_forward(y2, x, w, b, N, s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad, T);
        CHECK(memcmp(y, y2, ny * sizeof(float)) == 0, "layer T=%d: forward not repeatable", T);
        dc_conv2d_backward(dx, dw, db, dy, x, w, N, s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad, T);
        snprintf(label, sizeof label, "layer T=%d dx", T);
        dc_check_close(label, dx, dx_ref, nx, RTOL, at_dx);
        snprintf(label, sizeof label, "layer T=%d dw", T);
        dc_check_close(label, dw, dw_ref, nw, RTOL, at_dw);
        snprintf(label, sizeof label, "layer T=%d db", T);
        dc_check_close(label, db, db_ref, (size_t)s.OC, RTOL, at_db);
        dc_conv2d_backward(NULL, dw2, db2, dy, x, w, N, s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad, T);
        CHECK(memcmp(dw, dw2, nw * sizeof(float)) == 0 && memcmp(db, db2, s.OC * sizeof(float)) == 0,
              "layer T=%d: backward not repeatable", T);
        free(y); free(y2); free(dx); free(dw); free(db); free(dw2); free(db2);
    }
    // the layer asked for 2 threads from inside a parallel region, where the
    // nested team has one thread: every sample must still be done
    {
        float *y[2] = {falloc(ny), falloc(ny)}, *dx[2] = {falloc(nx), falloc(nx)};
        float *dw[2] = {falloc(nw), falloc(nw)}, *db[2] = {falloc((size_t)s.OC), falloc((size_t)s.OC)};
#pragma omp parallel num_threads(2)
        {
            const int t = omp_get_thread_num();
            if (t < 2) {
                dc_conv2d_forward(y[t], x, w, b, N, s.C, s.H, s.W, s.OC, s.K, s.stride, s.pad, 2);
                dc_conv2d_backward(dx[t], dw[t], db[t], dy, x, w, N, s.C, s.H, s.W, s.OC, s.K,
                                   s.stride, s.pad, 2);
            }
        }
        dc_check_close("nested y", y[0], y_ref, ny, RTOL, at_y);
        dc_check_close("nested dx", dx[0], dx_ref, nx, RTOL, at_dx);
        dc_check_close("nested dw", dw[0], dw_ref, nw, RTOL, at_dw);
        dc_check_close("nested db", db[0], db_ref, (size_t)s.OC, RTOL, at_db);
        for (int t = 0; t < 2; t++) {
            free(y[t]); free(dx[t]); free(dw[t]); free(db[t]);
        }
    }
    free(x); free(w); free(b); free(dy); free(y_ref); free(dx_ref); free(dw_ref); free(db_ref);
}

static void test_conv(void) {
    static const conv_case cases[] = {
        {32, 1, 28, 28, 6, 5, 1, 2},  // LeNet-5 conv1, a training slice
        {32, 6, 14, 14, 16, 5, 1, 0}, // LeNet-5 conv2
        {9, 1, 28, 28, 6, 5, 1, 2},   // one full group of 8 and a lone sample
        {1, 6, 14, 14, 16, 5, 1, 0},  // a single sample
        {5, 3, 9, 7, 4, 3, 2, 1},     // stride 2, pad 1, H != W, C = 3
        {3, 2, 11, 13, 5, 4, 3, 2},   // stride 3, K = 4, odd OC (remainder blocks)
        {10, 3, 6, 5, 7, 1, 1, 0},    // K = 1: pointwise, OW < 8
        {4, 5, 8, 8, 13, 1, 2, 0},    // K = 1 with stride 2
        {17, 3, 12, 20, 9, 3, 1, 1},  // K = 3, pad 1, N = 2 groups + 1
        {2, 2, 16, 9, 3, 7, 1, 3},    // K = 7, pad 3, OW > 8 and not a multiple of 8
        {8, 4, 5, 5, 2, 5, 1, 0},     // output 1x1
        {6, 1, 30, 33, 1, 3, 1, 0},   // OC = 1, C = 1, wide rows
    };
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_conv_case(&cases[i], &rng);
}

// ---------------------------------------------------------------------------
// Max pool 2x2: the fast path against the reference, bit for bit.

static void test_maxpool_case(int N, int C, int H, int W, uint64_t *rng) {
    const int OH = H / 2, OW = W / 2;
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    float *x = falloc(nx), *dy = falloc(ny);
    randomise(x, nx, rng);
    randomise(dy, ny, rng);
    // ties (ReLU zeros), NaNs and -0 gradients in known places
    for (size_t i = 0; i < nx; i++) {
        if (x[i] < -0.3f) x[i] = 0.0f;
        if (i % 97 == 5) x[i] = NAN;
        if (i % 211 == 7) x[i] = -INFINITY;
    }
    for (size_t i = 0; i < ny; i += 13) dy[i] = -0.0f;
    float *y1 = falloc(ny), *y2 = falloc(ny), *dx1 = falloc(nx), *dx2 = falloc(nx);
    int32_t *a1 = calloc(ny ? ny : 1, sizeof(int32_t)), *a2 = calloc(ny ? ny : 1, sizeof(int32_t));
    if (!a1 || !a2) exit(2);
    dc_maxpool_ref_forward(y1, a1, x, N, C, H, W, 2, 2);
    dc_maxpool_2x2_forward(y2, a2, x, N, C, H, W);
    fill(dx1, nx, NAN);
    fill(dx2, nx, NAN);
    dc_maxpool_ref_backward(dx1, dy, a1, N, C, H, W, 2, 2);
    dc_maxpool_2x2_backward(dx2, dy, a1, N, C, H, W);
    CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0, "maxpool 2x2 N%d C%d %dx%d: y differs", N, C, H, W);
    CHECK(memcmp(a1, a2, ny * sizeof(int32_t)) == 0, "maxpool 2x2 N%d C%d %dx%d: argmax differs", N,
          C, H, W);
    CHECK(memcmp(dx1, dx2, nx * sizeof(float)) == 0, "maxpool 2x2 N%d C%d %dx%d: dx differs", N, C,
          H, W);
    // the plain-C path (CPUs without AVX2)
    fill(dx2, nx, NAN);
    dc_maxpool_2x2_forward_plain(y2, a2, x, N, C, H, W);
    dc_maxpool_2x2_backward_plain(dx2, dy, a1, N, C, H, W);
    CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0 && memcmp(a1, a2, ny * sizeof(int32_t)) == 0 &&
              memcmp(dx1, dx2, nx * sizeof(float)) == 0,
          "maxpool 2x2 plain N%d C%d %dx%d: differs from the reference", N, C, H, W);
    // and through the layer
    dc_maxpool2d_forward(y2, a2, x, N, C, H, W, 2, 2);
    CHECK(memcmp(y1, y2, ny * sizeof(float)) == 0 && memcmp(a1, a2, ny * sizeof(int32_t)) == 0,
          "maxpool layer N%d C%d %dx%d: differs from the reference", N, C, H, W);
    free(x); free(dy); free(y1); free(y2); free(dx1); free(dx2); free(a1); free(a2);
}

static void test_maxpool(void) {
    static const int shapes[][4] = {
        {32, 6, 28, 28}, // LeNet-5 pool1: 14 outputs a row, AVX blocks 0 and 6
        {32, 16, 10, 10}, // LeNet-5 pool2: 5 outputs a row, scalar
        {3, 2, 16, 16}, {2, 3, 17, 33}, {1, 1, 3, 2}, {2, 2, 2, 2}, {4, 1, 7, 18}, {1, 2, 5, 40},
    };
    uint64_t rng = 12345;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        test_maxpool_case(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], &rng);
}

// ---------------------------------------------------------------------------
// ReLU: the layer (AVX2 when available) against the plain formulas.

static void test_relu(void) {
    const size_t n = 1003; // not a multiple of 8
    float *x = falloc(n), *y = falloc(n), *dy = falloc(n), *dx = falloc(n);
    float *yr = falloc(n), *dxr = falloc(n);
    uint64_t rng = 777;
    randomise(x, n, &rng);
    randomise(dy, n, &rng);
    x[3] = NAN; x[10] = -0.0f; x[11] = 0.0f; x[12] = INFINITY; x[13] = -INFINITY; x[n - 1] = NAN;
    dy[20] = NAN; dy[21] = -0.0f;
    for (size_t i = 0; i < n; i++) yr[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
    dc_relu_forward(y, x, n);
    CHECK(memcmp(y, yr, n * sizeof(float)) == 0, "relu forward differs from the formula");
    for (size_t i = 0; i < n; i++) dxr[i] = yr[i] > 0.0f ? dy[i] : 0.0f;
    dc_relu_backward(dx, dy, yr, n);
    CHECK(memcmp(dx, dxr, n * sizeof(float)) == 0, "relu backward differs from the formula");
    // short arrays: tail only
    dc_relu_forward(y, x, 5);
    CHECK(memcmp(y, yr, 5 * sizeof(float)) == 0, "relu forward (n=5) differs");
    free(x); free(y); free(dy); free(dx); free(yr); free(dxr);
}

int main(void) {
    printf("lanes kernel (AVX2+FMA): %s\n", dc_conv_lanes_available() ? "available" : "not available, skipped");
    test_conv();
    test_maxpool();
    test_relu();
    return dc_test_finish();
}
