// linear.c — the sparse multinomial logistic surrogate: L1-penalised
// softmax regression on standardised features by FISTA with backtracking
// (contract in surrogate.h).
//
// The smooth part f (mean cross-entropy) has a gradient that is Lipschitz
// with constant at most (1/2) lambda_max([Z 1]^T [Z 1] / N) (the softmax
// Hessian is below I/2); a power iteration estimates it and backtracking
// doubles it whenever the sufficient-decrease test fails, so the step is
// always safe. The proximal step soft-thresholds W (b is not penalised).
// Momentum restarts when the objective goes up (O'Donoghue & Candes 2015).
//
// Sums over samples run in DC_LIN_BLOCKS fixed blocks added in block order,
// so the result does not depend on the number of threads.
//
// Legend: N samples, F features, C classes.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "surrogate/surrogate.h"

#define DC_LIN_BLOCKS 64
#define DC_LIN_MAX_CLASSES 256

dc_linear_config dc_linear_config_default(void) {
    return (dc_linear_config){.lambda = 1e-3, .max_iter = 500, .tol = 1e-5, .nthreads = 0};
}

void dc_linear_free(dc_linear *lm) {
    if (!lm) return;
    free(lm->mu);
    free(lm->sd);
    free(lm->W);
    free(lm->b);
    memset(lm, 0, sizeof *lm);
}

// Mean cross-entropy of (W, b) over Z (N, F) standardised, and, when gW is
// not NULL, its gradient gW (C, F), gb (C). part is (BLOCKS, C*F + C + 1)
// scratch.
static double smooth(const float *Z, const int32_t *y, int N, int F, int C, const double *W, const double *b,
                     double *gW, double *gb, double *part, int nthreads) {
    const size_t stride = (size_t)C * F + C + 1;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int blk = 0; blk < DC_LIN_BLOCKS; blk++) {
        double *pg = part + (size_t)blk * stride;
        memset(pg, 0, sizeof(double) * stride);
        const int i0 = (int)((int64_t)N * blk / DC_LIN_BLOCKS), i1 = (int)((int64_t)N * (blk + 1) / DC_LIN_BLOCKS);
        double zz[DC_LIN_MAX_CLASSES];
        for (int i = i0; i < i1; i++) {
            const float *x = Z + (size_t)i * F;
            double mx = -INFINITY;
            for (int c = 0; c < C; c++) {
                double s = b[c];
                const double *w = W + (size_t)c * F;
                for (int j = 0; j < F; j++) s += w[j] * x[j];
                zz[c] = s;
                if (s > mx) mx = s;
            }
            double se = 0.0;
            for (int c = 0; c < C; c++) se += exp(zz[c] - mx);
            const double lse = mx + log(se);
            pg[stride - 1] += lse - zz[y[i]];
            if (!gW) continue;
            for (int c = 0; c < C; c++) {
                const double d = exp(zz[c] - lse) - (c == y[i]);
                double *g = pg + (size_t)c * F;
                for (int j = 0; j < F; j++) g[j] += d * x[j];
                pg[(size_t)C * F + c] += d;
            }
        }
    }
    double loss = 0.0;
    if (gW) {
        memset(gW, 0, sizeof(double) * (size_t)C * F);
        memset(gb, 0, sizeof(double) * (size_t)C);
    }
    for (int blk = 0; blk < DC_LIN_BLOCKS; blk++) {
        const double *pg = part + (size_t)blk * stride;
        loss += pg[stride - 1];
        if (!gW) continue;
        for (size_t q = 0; q < (size_t)C * F; q++) gW[q] += pg[q];
        for (int c = 0; c < C; c++) gb[c] += pg[(size_t)C * F + c];
    }
    if (gW) {
        for (size_t q = 0; q < (size_t)C * F; q++) gW[q] /= N;
        for (int c = 0; c < C; c++) gb[c] /= N;
    }
    return loss / N;
}

static double l1(const double *W, size_t n) {
    double s = 0.0;
    for (size_t q = 0; q < n; q++) s += fabs(W[q]);
    return s;
}

// (1/2) lambda_max([Z 1]^T [Z 1] / N) by 50 power iterations from all ones.
static double lipschitz(const float *Z, int N, int F) {
    double *v = malloc(sizeof(double) * (F + 1)), *u = malloc(sizeof(double) * (F + 1));
    if (!v || !u) {
        free(v);
        free(u);
        return F + 1.0; // the trace: an upper bound
    }
    for (int j = 0; j <= F; j++) v[j] = 1.0 / sqrt(F + 1.0);
    double lam = 0.0;
    for (int it = 0; it < 50; it++) {
        memset(u, 0, sizeof(double) * (F + 1));
        for (int i = 0; i < N; i++) {
            const float *x = Z + (size_t)i * F;
            double s = v[F];
            for (int j = 0; j < F; j++) s += x[j] * v[j];
            for (int j = 0; j < F; j++) u[j] += s * x[j];
            u[F] += s;
        }
        double nrm = 0.0;
        for (int j = 0; j <= F; j++) nrm += (u[j] / N) * (u[j] / N);
        nrm = sqrt(nrm);
        lam = nrm;
        if (nrm == 0) break;
        for (int j = 0; j <= F; j++) v[j] = u[j] / N / nrm;
    }
    free(v);
    free(u);
    return 0.5 * lam;
}

static float *standardise(dc_linear *lm, const float *X, int N, int F) {
    float *Z = malloc(sizeof(float) * (size_t)N * F);
    if (!Z) return NULL;
    for (int j = 0; j < F; j++) {
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < N; i++) s += X[(size_t)i * F + j];
        const double mu = s / N;
        for (int i = 0; i < N; i++) {
            const double d = X[(size_t)i * F + j] - mu;
            s2 += d * d;
        }
        const double sd = sqrt(s2 / N);
        lm->mu[j] = (float)mu;
        lm->sd[j] = sd > 1e-12 ? (float)sd : 1.0f;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < F; j++)
            Z[(size_t)i * F + j] = (X[(size_t)i * F + j] - lm->mu[j]) / lm->sd[j];
    return Z;
}

dc_status dc_linear_fit(dc_linear *lm, const float *X, const int32_t *y, int n, int F, int C,
                        const dc_linear_config *cfg, dc_error *err) {
    memset(lm, 0, sizeof *lm);
    const dc_linear_config def = dc_linear_config_default();
    if (!cfg) cfg = &def;
    if (n < 1 || F < 1 || C < 2 || C > DC_LIN_MAX_CLASSES)
        return dc_fail(err, DC_ERR_ARG, "linear: need samples, features and 2..%d classes (got %d, %d, %d)",
                       DC_LIN_MAX_CLASSES, n, F, C);
    if (!(cfg->lambda >= 0) || !isfinite(cfg->lambda) || cfg->max_iter < 1 || !(cfg->tol > 0))
        return dc_fail(err, DC_ERR_ARG, "linear: lambda %g must be >= 0, max-iter %d >= 1, tol %g > 0", cfg->lambda,
                       cfg->max_iter, cfg->tol);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C) return dc_fail(err, DC_ERR_ARG, "linear: sample %d has class %d outside [0, %d)", i, y[i], C);
    for (size_t q = 0; q < (size_t)n * F; q++)
        if (!isfinite(X[q])) return dc_fail(err, DC_ERR_ARG, "linear: feature %zu of sample %zu is not finite", q % F, q / F);
    const int nthreads = cfg->nthreads > 0 ? cfg->nthreads : dc_default_threads();
    const size_t P = (size_t)C * F + C; // W then b, one vector
    lm->n_features = F;
    lm->n_classes = C;
    lm->lambda = cfg->lambda;
    lm->mu = malloc(sizeof(float) * (size_t)F);
    lm->sd = malloc(sizeof(float) * (size_t)F);
    double *x = calloc(P, sizeof(double)), *xp = calloc(P, sizeof(double)), *yk = calloc(P, sizeof(double));
    double *g = calloc(P, sizeof(double)), *z = calloc(P, sizeof(double));
    double *part = malloc(sizeof(double) * DC_LIN_BLOCKS * (P + 1));
    float *Z = NULL;
    dc_status st = DC_OK;
    if (!lm->mu || !lm->sd || !x || !xp || !yk || !g || !z || !part || !(Z = standardise(lm, X, n, F))) {
        st = dc_fail(err, DC_ERR_NOMEM, "linear: out of memory for %d samples x %d features", n, F);
        goto done;
    }
    const size_t nw = (size_t)C * F;
    double L = lipschitz(Z, n, F);
    if (!(L > 0)) L = 1.0;
    double t = 1.0;
    double fx = smooth(Z, y, n, F, C, x, x + nw, NULL, NULL, part, nthreads);
    double Fx = fx + cfg->lambda * l1(x, nw);
    int it = 0;
    for (it = 1; it <= cfg->max_iter; it++) {
        const double fy = smooth(Z, y, n, F, C, yk, yk + nw, g, g + nw, part, nthreads);
        double fz = 0.0;
        for (int bt = 0; bt < 60; bt++) {
            for (size_t q = 0; q < P; q++) {
                double v = yk[q] - g[q] / L;
                if (q < nw) { // soft threshold
                    const double s = cfg->lambda / L;
                    v = v > s ? v - s : v < -s ? v + s : 0.0;
                }
                z[q] = v;
            }
            fz = smooth(Z, y, n, F, C, z, z + nw, NULL, NULL, part, nthreads);
            double lin = 0.0, sq = 0.0;
            for (size_t q = 0; q < P; q++) {
                const double d = z[q] - yk[q];
                lin += g[q] * d;
                sq += d * d;
            }
            if (fz <= fy + lin + 0.5 * L * sq + 1e-12 * fabs(fy)) break;
            L *= 2.0;
        }
        const double Fz = fz + cfg->lambda * l1(z, nw);
        double change = 0.0;
        for (size_t q = 0; q < P; q++) {
            const double d = fabs(z[q] - x[q]);
            if (d > change) change = d;
        }
        memcpy(xp, x, sizeof(double) * P);
        memcpy(x, z, sizeof(double) * P);
        if (Fz > Fx) { // restart the momentum
            t = 1.0;
            memcpy(yk, x, sizeof(double) * P);
        } else {
            const double tn = (1.0 + sqrt(1.0 + 4.0 * t * t)) / 2.0;
            for (size_t q = 0; q < P; q++) yk[q] = x[q] + (t - 1.0) / tn * (x[q] - xp[q]);
            t = tn;
        }
        Fx = Fz;
        if (change < cfg->tol) break;
    }
    lm->iters = it > cfg->max_iter ? cfg->max_iter : it;
    lm->W = malloc(sizeof(double) * nw);
    lm->b = malloc(sizeof(double) * (size_t)C);
    if (!lm->W || !lm->b) {
        st = dc_fail(err, DC_ERR_NOMEM, "linear: out of memory");
        goto done;
    }
    memcpy(lm->W, x, sizeof(double) * nw);
    memcpy(lm->b, x + nw, sizeof(double) * (size_t)C);
    lm->nonzero = 0;
    for (size_t q = 0; q < nw; q++) lm->nonzero += lm->W[q] != 0.0;
    lm->objective = smooth(Z, y, n, F, C, lm->W, lm->b, NULL, NULL, part, nthreads) + cfg->lambda * l1(lm->W, nw);
done:
    free(x);
    free(xp);
    free(yk);
    free(g);
    free(z);
    free(part);
    free(Z);
    if (st) dc_linear_free(lm);
    return st;
}

void dc_linear_gradient(const dc_linear *lm, const float *X, const int32_t *y, int n, double *gW, double *gb) {
    const int F = lm->n_features, C = lm->n_classes;
    float *Z = malloc(sizeof(float) * (size_t)n * F);
    double *part = malloc(sizeof(double) * DC_LIN_BLOCKS * ((size_t)C * F + C + 1));
    if (!Z || !part) {
        free(Z);
        free(part);
        for (size_t q = 0; q < (size_t)C * F; q++) gW[q] = NAN;
        for (int c = 0; c < C; c++) gb[c] = NAN;
        return;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < F; j++) Z[(size_t)i * F + j] = (X[(size_t)i * F + j] - lm->mu[j]) / lm->sd[j];
    smooth(Z, y, n, F, C, lm->W, lm->b, gW, gb, part, 1);
    free(Z);
    free(part);
}

int dc_linear_predict(const dc_linear *lm, const float *x) {
    const int F = lm->n_features, C = lm->n_classes;
    int best = 0;
    double bv = -INFINITY;
    for (int c = 0; c < C; c++) {
        double s = lm->b[c];
        const double *w = lm->W + (size_t)c * F;
        for (int j = 0; j < F; j++) s += w[j] * ((x[j] - lm->mu[j]) / lm->sd[j]);
        if (s > bv) {
            bv = s;
            best = c;
        }
    }
    return best;
}
