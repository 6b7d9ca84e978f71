// solve.c — small dense symmetric solvers for LIME's ridge regression and
// Kernel SHAP's constrained least squares (16 to a few hundred unknowns).
//
// Why not LAPACK: one dposv call would add a dependency to the whole library;
// Cholesky in double is a few lines, exact up to rounding, and these systems
// are small and well conditioned (LIME's has +alpha on the diagonal). Gaussian
// elimination with partial pivoting is kept beside it as the reference the
// tests compare against.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "explain/explain.h"

bool dc_ex_cholesky_solve(double *A, double *b, int n) {
    // A = L L' in place (lower triangle), then L y = b, L' z = y
    double maxdiag = 0.0;
    for (int i = 0; i < n; i++) maxdiag = fmax(maxdiag, fabs(A[(size_t)i * n + i]));
    for (int j = 0; j < n; j++) {
        double d = A[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= A[(size_t)j * n + k] * A[(size_t)j * n + k];
        // a pivot at rounding level of the largest diagonal: singular
        if (!(d > 1e-12 * maxdiag) || !isfinite(d)) return false;
        d = sqrt(d);
        A[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = A[(size_t)i * n + j];
            for (int k = 0; k < j; k++) s -= A[(size_t)i * n + k] * A[(size_t)j * n + k];
            A[(size_t)i * n + j] = s / d;
        }
    }
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++) s -= A[(size_t)i * n + k] * b[k];
        b[i] = s / A[(size_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int k = i + 1; k < n; k++) s -= A[(size_t)k * n + i] * b[k];
        b[i] = s / A[(size_t)i * n + i];
    }
    return true;
}

bool dc_ex_gauss_solve(double *A, double *b, int n) {
    // full matrix expected; the lower triangle is mirrored first so both
    // solvers can be handed the same lower-triangle input
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i];
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[(size_t)r * n + c]) > fabs(A[(size_t)p * n + c])) p = r;
        if (A[(size_t)p * n + c] == 0.0 || !isfinite(A[(size_t)p * n + c])) return false;
        if (p != c) {
            for (int k = 0; k < n; k++) {
                double t = A[(size_t)c * n + k];
                A[(size_t)c * n + k] = A[(size_t)p * n + k];
                A[(size_t)p * n + k] = t;
            }
            double t = b[c];
            b[c] = b[p];
            b[p] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double f = A[(size_t)r * n + c] / A[(size_t)c * n + c];
            for (int k = c; k < n; k++) A[(size_t)r * n + k] -= f * A[(size_t)c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int k = i + 1; k < n; k++) s -= A[(size_t)i * n + k] * b[k];
        b[i] = s / A[(size_t)i * n + i];
    }
    return true;
}
