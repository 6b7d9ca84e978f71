// conv_im2col.c — convolution through im2col + GEMM, one sample at a time:
// the portable path (CPUs without AVX2) and the straightforward formulation
// the lanes kernel is tested against. Single-threaded over N samples; the
// caller gives the scratch (see conv_kernels.h).
#include <string.h>
#include "kernels/conv_kernels.h"
#include "kernels/kernels.h"

// K == 1, stride 1, no padding: the input already is the column matrix.
static bool is_pointwise(const dc_conv_shape *s) {
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

size_t dc_conv_im2col_forward_floats(const dc_conv_shape *s) {
    return is_pointwise(s) ? 0 : (size_t)s->C * s->K * s->K * s->OH * s->OW;
}

size_t dc_conv_im2col_backward_floats(const dc_conv_shape *s) {
    // col (CKK,P) and dcol (CKK,P)
    return (size_t)2 * s->C * s->K * s->K * s->OH * s->OW;
}

void dc_relu_inplace(float *y, size_t n) {
    // the formula of dc_relu_forward: x where x > 0 or NaN, else +0
    for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : (y[i] != y[i] ? y[i] : 0.0f);
}

void dc_conv_im2col_forward(float *y, const float *x, const float *w, const float *b, int N,
                            const dc_conv_shape *s, float *scratch) {
    dc_conv_im2col_forward_relu(y, x, w, b, false, N, s, scratch);
}

void dc_conv_im2col_forward_relu(float *y, const float *x, const float *w, const float *b,
                                 bool relu, int N, const dc_conv_shape *s, float *scratch) {
    // x is (N,C,H,W), w is (OC,C,K,K), b is (OC), y is (N,OC,OH,OW)
    const int C = s->C, H = s->H, W = s->W, OC = s->OC, K = s->K;
    const int CKK = C * K * K, P = s->OH * s->OW;
    const bool direct = is_pointwise(s);
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C * H * W;
        float *yn = y + (size_t)n * OC * P;
        if (!direct) dc_im2col(scratch, xn, C, H, W, K, s->stride, s->pad, s->OH, s->OW);
        dc_gemm(false, false, OC, P, CKK, w, CKK, direct ? xn : scratch, P, 0.0f, yn, P);
        if (b)
            for (int oc = 0; oc < OC; oc++) {
                const float bv = b[oc];
                float *r = yn + (size_t)oc * P;
                for (int p = 0; p < P; p++) r[p] += bv;
            }
        if (relu) dc_relu_inplace(yn, (size_t)OC * P);
    }
}

void dc_conv_im2col_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int N, const dc_conv_shape *s, float *scratch) {
    // dy is (N,OC,OH,OW), x and dx are (N,C,H,W), w and dw are (OC,C,K,K)
    const int C = s->C, H = s->H, W = s->W, OC = s->OC, K = s->K;
    const int CKK = C * K * K, P = s->OH * s->OW;
    const bool direct = is_pointwise(s);
    float *col = scratch, *dcol = scratch + (size_t)CKK * P;
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C * H * W;
        const float *dyn = dy + (size_t)n * OC * P;
        if (dw) {
            const float *cn = xn;
            if (!direct) {
                dc_im2col(col, xn, C, H, W, K, s->stride, s->pad, s->OH, s->OW);
                cn = col;
            }
            // dw (OC,CKK) += dy_n (OC,P) * col^T (P,CKK)
            dc_gemm(false, true, OC, CKK, P, dyn, P, cn, P, 1.0f, dw, CKK);
        }
        if (db)
            for (int oc = 0; oc < OC; oc++) {
                const float *r = dyn + (size_t)oc * P;
                float sum = 0.0f;
                for (int p = 0; p < P; p++) sum += r[p];
                db[oc] += sum;
            }
        if (dx) {
            float *dxn = dx + (size_t)n * C * H * W;
            if (direct) {
                // dx_n (C,P) = w^T (C,OC) * dy_n (OC,P)
                dc_gemm(true, false, CKK, P, OC, w, CKK, dyn, P, 0.0f, dxn, P);
            } else {
                dc_gemm(true, false, CKK, P, OC, w, CKK, dyn, P, 0.0f, dcol, P);
                memset(dxn, 0, sizeof(float) * (size_t)C * H * W);
                dc_col2im(dxn, dcol, C, H, W, K, s->stride, s->pad, s->OH, s->OW);
            }
        }
    }
}
