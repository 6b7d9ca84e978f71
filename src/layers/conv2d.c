// conv2d.c — 2-D convolution through im2col + GEMM, one sample at a time.
//
// Threads split the batch into contiguous blocks of samples. Each thread owns
// an im2col buffer and, in backward, its own partial weight/bias gradient;
// the partials are then added in thread order, so results are the same bits
// run to run for a given thread count. Per-sample GEMMs are small (conv1 of
// LeNet-5 is 6x784x25) which is why the GEMM is our own (see gemm.c).
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "kernels/kernels.h"
#include "layers/layers.h"

static void sample_range(int N, int t, int T, int *lo, int *hi) {
    *lo = (int)((long)N * t / T);
    *hi = (int)((long)N * (t + 1) / T);
}

void dc_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       int N, int C, int H, int W, int OC, int K, int stride,
                       int pad, int nthreads) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC), y is (N,OC,OH,OW)
    const int OH = dc_conv_out(H, K, stride, pad), OW = dc_conv_out(W, K, stride, pad);
    const int CKK = C * K * K, P = OH * OW;
    const bool direct = (K == 1 && stride == 1 && pad == 0); // col == x
    int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    float *cols = direct ? NULL : dc_alloc(sizeof(float) * (size_t)T * CKK * P);
    DC_ASSERT(direct || cols);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        sample_range(N, t, T, &lo, &hi);
        float *col = direct ? NULL : cols + (size_t)t * CKK * P;
        for (int n = lo; n < hi; n++) {
            const float *xn = x + (size_t)n * C * H * W;
            float *yn = y + (size_t)n * OC * P;
            if (!direct) dc_im2col(col, xn, C, H, W, K, stride, pad, OH, OW);
            dc_gemm(false, false, OC, P, CKK, w, CKK, direct ? xn : col, P, 0.0f, yn, P);
            if (b)
                for (int oc = 0; oc < OC; oc++) {
                    float bv = b[oc];
                    float *r = yn + (size_t)oc * P;
                    for (int p = 0; p < P; p++) r[p] += bv;
                }
        }
    }
    dc_free(cols);
}

void dc_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int N, int C, int H,
                        int W, int OC, int K, int stride, int pad, int nthreads) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    const int OH = dc_conv_out(H, K, stride, pad), OW = dc_conv_out(W, K, stride, pad);
    const int CKK = C * K * K, P = OH * OW;
    const bool direct = (K == 1 && stride == 1 && pad == 0);
    int T = nthreads < 1 ? 1 : (nthreads > N ? N : nthreads);
    // per thread: col (CKK,P), dcol (CKK,P), dw partial (OC,CKK), db partial (OC)
    size_t per = (size_t)2 * CKK * P + (size_t)OC * CKK + OC;
    per = (per + 15) & ~(size_t)15;
    float *scratch = dc_alloc(sizeof(float) * per * T);
    DC_ASSERT(scratch);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        sample_range(N, t, T, &lo, &hi);
        float *col = scratch + per * t;
        float *dcol = col + (size_t)CKK * P;
        float *dwt = dcol + (size_t)CKK * P;
        float *dbt = dwt + (size_t)OC * CKK;
        for (int n = lo; n < hi; n++) {
            const float *xn = x + (size_t)n * C * H * W;
            const float *dyn = dy + (size_t)n * OC * P;
            const float *cn = xn;
            if (!direct) {
                dc_im2col(col, xn, C, H, W, K, stride, pad, OH, OW);
                cn = col;
            }
            // dw (OC,CKK) += dy_n (OC,P) * col^T (P,CKK)
            dc_gemm(false, true, OC, CKK, P, dyn, P, cn, P, 1.0f, dwt, CKK);
            if (db)
                for (int oc = 0; oc < OC; oc++) {
                    const float *r = dyn + (size_t)oc * P;
                    float s = 0.0f;
                    for (int p = 0; p < P; p++) s += r[p];
                    dbt[oc] += s;
                }
            if (dx) {
                float *dxn = dx + (size_t)n * C * H * W;
                if (direct) {
                    // dx_n (C,P) = w^T (C,OC) * dy_n (OC,P)
                    dc_gemm(true, false, CKK, P, OC, w, CKK, dyn, P, 0.0f, dxn, P);
                } else {
                    dc_gemm(true, false, CKK, P, OC, w, CKK, dyn, P, 0.0f, dcol, P);
                    memset(dxn, 0, sizeof(float) * (size_t)C * H * W);
                    dc_col2im(dxn, dcol, C, H, W, K, stride, pad, OH, OW);
                }
            }
        }
    }
    // Reduce the partials in thread order: deterministic for a given T.
    for (int t = 0; t < T; t++) {
        const float *dwt = scratch + per * t + (size_t)2 * CKK * P;
        const float *dbt = dwt + (size_t)OC * CKK;
        for (size_t i = 0; i < (size_t)OC * CKK; i++) dw[i] += dwt[i];
        if (db)
            for (int oc = 0; oc < OC; oc++) db[oc] += dbt[oc];
    }
    dc_free(scratch);
}
