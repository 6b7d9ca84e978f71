// kernels.h — compute kernels with no knowledge of layers. Every fast kernel
// has a plain reference version beside it; tests/test_kernels.c compares
// them on awkward shapes.
//
// Matrices are row-major. op(X) is X or X^T according to the trans flag.
#ifndef DC_KERNELS_H
#define DC_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

// C (M,N) = beta * C + op(A) (M,K) * op(B) (K,N), beta is 0 or 1 exactly
// (beta == 0 ignores what C held, NaNs included). lda/ldb/ldc are the row
// strides of A, B, C as stored. Single-threaded: callers split the work.
void dc_gemm(bool trans_a, bool trans_b, int M, int N, int K,
             const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc);

// The naive triple loop the fast kernel is judged against.
void dc_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K,
                 const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);

// Multi-threaded: splits the columns of C (or rows when N is small) into
// contiguous blocks, one per thread; every element of C is computed by one
// thread in the same order as dc_gemm, so the result does not depend on the
// thread count.
void dc_gemm_mt(int nthreads, bool trans_a, bool trans_b, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

// im2col for one sample: x is (C,H,W), col is (C*K*K, OH*OW), zero padding.
void dc_im2col(float *col, const float *x, int C, int H, int W, int K,
               int stride, int pad, int OH, int OW);
// col2im for one sample: dx (C,H,W) += scatter of dcol (C*K*K, OH*OW).
void dc_col2im(float *dx, const float *dcol, int C, int H, int W, int K,
               int stride, int pad, int OH, int OW);

#endif
