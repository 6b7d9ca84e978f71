// conv2d.c — 2-D convolution layer: splits the batch over threads, owns the
// scratch memory, and runs one of the kernels in src/kernels/conv_kernels.h:
// on CPUs with AVX2+FMA the "sample lanes" direct convolution (forward with
// N >= 4, and backward) or the per-image direct forward (N < 4), else
// im2col + GEMM one sample at a time.
//
// Threads take contiguous blocks of samples. In backward each thread
// accumulates its own partial weight/bias gradient (zeroed), and the partials
// are added to dw/db in thread order, so results are the same bits run to
// run for a given thread count. With one thread the kernel adds into dw/db
// directly, which is the same arithmetic (dw + (0 + s) == dw + s).
//
// Scratch: one allocation per call, sized by the kernel for one thread times
// the thread count (tens to hundreds of KiB for LeNet-5), freed on return;
// the kernels themselves never allocate. (After the first call glibc serves
// these sizes from its heap, so there are no page faults per call.)
// Allocation failure is fatal (DC_ASSERT): the layer functions return
// nothing, and the sizes are small next to the activations the caller
// already holds.
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "kernels/conv_kernels.h"
#include "layers/layers.h"

static void sample_range(int N, int t, int T, int *lo, int *hi) {
    *lo = (int)((long)N * t / T);
    *hi = (int)((long)N * (t + 1) / T);
}

static dc_conv_shape make_shape(int C, int H, int W, int OC, int K, int stride, int pad) {
    dc_conv_shape s = {.C = C, .H = H, .W = W, .OC = OC, .K = K, .stride = stride, .pad = pad,
                       .OH = dc_conv_out(H, K, stride, pad), .OW = dc_conv_out(W, K, stride, pad)};
    return s;
}

// Per-thread float counts rounded to 16 floats (64 bytes) so each thread's
// block stays aligned.
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

// Scratch of n floats, 64-byte aligned, not zeroed: the kernels initialise
// what they read, and zeroing a few hundred KiB per call (dc_alloc does)
// showed up in the training profile. Free with dc_free.
enum { LANES_MIN_N = 4 };

static float *scratch_alloc(size_t n) {
    float *p = aligned_alloc(64, sizeof(float) * (n ? n : 16)); // n is a multiple of 16
    DC_ASSERT(p);
    return p;
}

void dc_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int C, int H, int W, int OC, int K, int stride,
                       int pad, int nthreads) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC), y is (N,OC,OH,OW)
    if (N < 1) return;
    const dc_conv_shape s = make_shape(C, H, W, OC, K, stride, pad);
    // The lanes kernel fills 8 samples per vector: with fewer than
    // LANES_MIN_N samples most lanes would be empty (batch-1 inference ran
    // 10x slower per image than batch 1000), so small batches take the
    // direct kernel, which vectorises along the output row of one image.
    // Without AVX2 every batch takes im2col + GEMM.
    const bool avx = dc_conv_lanes_available();
    const bool lanes = avx && N >= LANES_MIN_N, direct = avx && !lanes;
    const int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    const size_t per = round16(lanes    ? dc_conv_lanes_forward_floats(&s)
                               : direct ? dc_conv_direct_forward_floats(&s)
                                        : dc_conv_im2col_forward_floats(&s));
    float *scratch = per ? scratch_alloc(per * T) : NULL;
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * s.OH * s.OW;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        // the team may be smaller than asked (nested inside another region)
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        sample_range(N, t, nt, &lo, &hi);
        float *sc = scratch ? scratch + per * t : NULL;
        if (hi > lo) {
            if (lanes)
                dc_conv_lanes_forward(y + lo * ys, x + lo * xs, w, b, hi - lo, &s, sc);
            else if (direct)
                dc_conv_direct_forward(y + lo * ys, x + lo * xs, w, b, hi - lo, &s, sc);
            else
                dc_conv_im2col_forward(y + lo * ys, x + lo * xs, w, b, hi - lo, &s, sc);
        }
    }
    dc_free(scratch);
}

void dc_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int C, int H,
                        int W, int OC, int K, int stride, int pad, int nthreads) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    if (N < 1) return;
    const dc_conv_shape s = make_shape(C, H, W, OC, K, stride, pad);
    const bool lanes = dc_conv_lanes_available();
    const int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    const size_t nw = (size_t)OC * C * K * K;
    // per thread: kernel scratch, then (T > 1) a partial dw (OC,CKK) and db (OC)
    const size_t kern = round16(lanes ? dc_conv_lanes_backward_floats(&s, dx != NULL)
                                      : dc_conv_im2col_backward_floats(&s));
    const size_t per = kern + (T > 1 ? round16(nw + OC) : 0);
    float *scratch = scratch_alloc(per * T);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * s.OH * s.OW;
    int used = 1; // threads the region really had
#pragma omp parallel num_threads(T) if (T > 1)
    {
        // the team may be smaller than asked (nested inside another region)
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        if (t == 0) used = nt;
        sample_range(N, t, nt, &lo, &hi);
        float *sc = scratch + per * t;
        float *dwt = T > 1 ? sc + kern : dw;
        float *dbt = T > 1 ? (db ? dwt + nw : NULL) : db;
        if (T > 1) memset(dwt, 0, sizeof(float) * (nw + OC)); // partials start at 0
        float *dxt = dx ? dx + lo * xs : NULL;
        if (hi > lo) {
            if (lanes)
                dc_conv_lanes_backward(dxt, dwt, dbt, dy + lo * ys, x + lo * xs, w, hi - lo, &s, sc);
            else
                dc_conv_im2col_backward(dxt, dwt, dbt, dy + lo * ys, x + lo * xs, w, hi - lo, &s, sc);
        }
    }
    // Reduce the partials in thread order: deterministic for a given T.
    if (T > 1)
        for (int t = 0; t < used; t++) {
            const float *dwt = scratch + per * t + kern, *dbt = dwt + nw;
            for (size_t i = 0; i < nw; i++) dw[i] += dwt[i];
            if (db)
                for (int oc = 0; oc < OC; oc++) db[oc] += dbt[oc];
        }
    dc_free(scratch);
}
