// linear.c — fully connected layer y = x w^T + b as GEMMs over the batch.
// The GEMM splits output columns across threads, each element summed in one
// fixed order, so results do not depend on the thread count.
#include "kernels/kernels.h"
#include "layers/layers.h"

void dc_linear_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int I, int O, int nthreads) {
    // x is (N,I), w is (O,I), b is (O), y is (N,O)
    dc_gemm_mt(nthreads, false, true, N, O, I, x, I, w, I, 0.0f, y, O);
    if (b)
        for (int n = 0; n < N; n++) {
            float *r = y + (size_t)n * O;
            for (int o = 0; o < O; o++) r[o] += b[o];
        }
}

void dc_linear_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int I, int O,
                        int nthreads) {
    // dy is (N,O); dw (O,I) += dy^T x; db (O) += column sums; dx (N,I) = dy w
    // (dw may be NULL: DP-SGD's norm pass needs only dx)
    if (dw) dc_gemm_mt(nthreads, true, false, O, I, N, dy, O, x, I, 1.0f, dw, I);
    if (db)
        for (int n = 0; n < N; n++) {
            const float *r = dy + (size_t)n * O;
            for (int o = 0; o < O; o++) db[o] += r[o];
        }
    if (dx) dc_gemm_mt(nthreads, false, false, N, I, O, dy, O, w, I, 0.0f, dx, I);
}
