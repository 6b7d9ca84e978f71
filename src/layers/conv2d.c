// conv2d.c — 2-D convolution layer: splits the batch over threads, owns the
// scratch memory, and runs the kernels a plan from the convolution registry
// (src/kernels/conv_registry.h) picks for the shape, the batch and the CPU:
// the widest "sample lanes" direct convolution the CPU has (forward with
// N >= 4, and backward), the per-image direct forward (N < 4), im2col +
// GEMM without AVX2. A graph executor that plans ahead calls the registry's
// dc_conv_run_* itself with its own scratch; these functions plan on every
// call (cheap: a few table lookups).
//
// Threads take contiguous blocks of samples. In backward each thread
// accumulates its own partial weight/bias gradient (zeroed), and the partials
// are added to dw/db in thread order, so results are the same bits run to
// run for a given thread count. With one thread the kernel adds into dw/db
// directly, which is the same arithmetic (dw + (0 + s) == dw + s).
//
// The plan is made for the whole batch N, not for a thread's share, so the
// kernel (and the bits) depend on N and the thread count only.
//
// Scratch: one allocation per call, sized by the plan for one thread times
// the thread count (tens to hundreds of KiB for LeNet-5), freed on return;
// the kernels themselves never allocate. (After the first call glibc serves
// these sizes from its heap, so there are no page faults per call.)
// Allocation failure is fatal (DC_ASSERT): the layer functions return
// nothing, and the sizes are small next to the activations the caller
// already holds.
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "kernels/conv_registry.h"
#include "layers/layers.h"

static void sample_range(int N, int t, int T, int *lo, int *hi) {
    *lo = (int)((long)N * t / T);
    *hi = (int)((long)N * (t + 1) / T);
}

// Per-thread float counts rounded to 16 floats (64 bytes) so each thread's
// block stays aligned.
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

// Scratch of n floats, 64-byte aligned, not zeroed: the kernels initialise
// what they read, and zeroing a few hundred KiB per call (dc_alloc does)
// showed up in the training profile. Free with dc_free.
static float *scratch_alloc(size_t n) {
    float *p = aligned_alloc(64, sizeof(float) * (n ? n : 16)); // n is a multiple of 16
    DC_ASSERT(p);
    return p;
}

// The plan for this call; a shape the layer is given is a convolution (the
// model checked it when it was built), so failure is a programmer error.
static dc_conv_plan plan_for(int N, int C, int H, int W, int OC, int K, int stride, int pad,
                             unsigned passes) {
    const dc_conv_shape s = dc_conv_shape_make(C, H, W, OC, K, stride, pad);
    dc_conv_plan p;
    dc_error err;
    const dc_status st = dc_conv_plan_make(&p, &s, N, passes, &err);
    if (st != DC_OK) fprintf(stderr, "%s\n", err.msg);
    DC_ASSERT(st == DC_OK);
    return p;
}

void dc_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int C, int H, int W, int OC, int K, int stride,
                       int pad, int nthreads) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC), y is (N,OC,OH,OW)
    if (N < 1) return;
    const dc_conv_plan p = plan_for(N, C, H, W, OC, K, stride, pad, DC_CONV_FWD);
    const int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    const size_t per = round16(dc_conv_plan_floats(&p));
    float *scratch = scratch_alloc(per * T);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * p.s.OH * p.s.OW;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        // the team may be smaller than asked (nested inside another region)
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        sample_range(N, t, nt, &lo, &hi);
        if (hi > lo)
            dc_conv_run_forward(&p, y + lo * ys, x + lo * xs, w, b, false, hi - lo,
                                scratch + per * t);
    }
    dc_free(scratch);
}

void dc_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int C, int H,
                        int W, int OC, int K, int stride, int pad, int nthreads) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    if (N < 1 || (!dx && !dw && !db)) return;
    const unsigned passes = (dx ? DC_CONV_BWD_DATA : 0u) | (dw || db ? DC_CONV_BWD_WEIGHTS : 0u);
    const dc_conv_plan p = plan_for(N, C, H, W, OC, K, stride, pad, passes);
    const int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    const size_t nw = (size_t)OC * C * K * K;
    // per thread: kernel scratch, then (T > 1) a partial dw (OC,CKK) and db (OC)
    const size_t kern = round16(dc_conv_plan_floats(&p));
    const size_t per = kern + (T > 1 ? round16(nw + OC) : 0);
    float *scratch = scratch_alloc(per * T);
    const size_t xs = (size_t)C * H * W, ys = (size_t)OC * p.s.OH * p.s.OW;
    int used = 1; // threads the region really had
#pragma omp parallel num_threads(T) if (T > 1)
    {
        // the team may be smaller than asked (nested inside another region)
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        if (t == 0) used = nt;
        sample_range(N, t, nt, &lo, &hi);
        float *sc = scratch + per * t;
        float *dwt = T > 1 ? (dw ? sc + kern : NULL) : dw;
        float *dbt = T > 1 ? (db ? sc + kern + nw : NULL) : db;
        if (T > 1) memset(sc + kern, 0, sizeof(float) * (nw + OC)); // partials start at 0
        float *dxt = dx ? dx + lo * xs : NULL;
        if (hi > lo)
            dc_conv_run_backward(&p, dxt, dwt, dbt, dy + lo * ys, x + lo * xs, w, hi - lo, sc);
    }
    // Reduce the partials in thread order: deterministic for a given T.
    if (T > 1)
        for (int t = 0; t < used; t++) {
            const float *dwt = scratch + per * t + kern, *dbt = dwt + nw;
            if (dw)
                for (size_t i = 0; i < nw; i++) dw[i] += dwt[i];
            if (db)
                for (int oc = 0; oc < OC; oc++) db[oc] += dbt[oc];
        }
    dc_free(scratch);
}
