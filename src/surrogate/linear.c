// linear.c — the sparse multinomial logistic surrogate: L1-penalised
// softmax regression on standardised features by FISTA with backtracking
// (contract in surrogate.h); the same FISTA (dc_fista_l1) also fits the
// binary weighted L1 logistic regressions of the oblique tree splits
// (dc_logistic_fit, used by tree.c).
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

// lambda_max([Z 1]^T V [Z 1] / sum v) by `iters` power iterations from all
// ones, V = diag(v) (v NULL: all 1).
static double gram_lambda_max(const float *Z, const float *v, int N, int F, int iters) {
    double *vec = malloc(sizeof(double) * (F + 1)), *u = malloc(sizeof(double) * (F + 1));
    double V = 0.0;
    for (int i = 0; i < N; i++) V += v ? v[i] : 1.0;
    if (!vec || !u || !(V > 0)) {
        free(vec);
        free(u);
        return 2.0 * (F + 1.0); // twice the trace: an upper bound for standardised Z
    }
    for (int j = 0; j <= F; j++) vec[j] = 1.0 / sqrt(F + 1.0);
    double lam = 0.0;
    for (int it = 0; it < iters; it++) {
        memset(u, 0, sizeof(double) * (F + 1));
        for (int i = 0; i < N; i++) {
            const float *x = Z + (size_t)i * F;
            double s = vec[F];
            for (int j = 0; j < F; j++) s += x[j] * vec[j];
            if (v) s *= v[i];
            for (int j = 0; j < F; j++) u[j] += s * x[j];
            u[F] += s;
        }
        double nrm = 0.0;
        for (int j = 0; j <= F; j++) nrm += (u[j] / V) * (u[j] / V);
        nrm = sqrt(nrm);
        lam = nrm;
        if (nrm == 0) break;
        for (int j = 0; j <= F; j++) vec[j] = u[j] / V / nrm;
    }
    free(vec);
    free(u);
    return lam;
}

// ---------------------------------------------------------------------------
// FISTA (contract in surrogate.h)

int dc_fista_l1(const dc_fista_problem *p, double *theta, double *scratch) {
    const size_t P = p->n_params, nw = p->n_penalised;
    double *x = theta, *xp = scratch, *yk = scratch + P, *g = scratch + 2 * P, *z = scratch + 3 * P;
    memcpy(yk, x, sizeof(double) * P);
    double L = p->L0 > 0 ? p->L0 : 1.0;
    double t = 1.0;
    double fx = p->f(p->ctx, x, NULL);
    double Fx = fx + p->lambda * l1(x, nw);
    int it = 0;
    for (it = 1; it <= p->max_iter; it++) {
        const double fy = p->f(p->ctx, yk, g);
        double fz = 0.0;
        for (int bt = 0; bt < 60; bt++) {
            for (size_t q = 0; q < P; q++) {
                double v = yk[q] - g[q] / L;
                if (q < nw) { // soft threshold
                    const double s = p->lambda / L;
                    v = v > s ? v - s : v < -s ? v + s : 0.0;
                }
                z[q] = v;
            }
            fz = p->f(p->ctx, z, NULL);
            double lin = 0.0, sq = 0.0;
            for (size_t q = 0; q < P; q++) {
                const double d = z[q] - yk[q];
                lin += g[q] * d;
                sq += d * d;
            }
            if (fz <= fy + lin + 0.5 * L * sq + 1e-12 * fabs(fy)) break;
            L *= 2.0;
        }
        const double Fz = fz + p->lambda * l1(z, nw);
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
        if (change < p->tol) break;
    }
    return it > p->max_iter ? p->max_iter : it;
}

// ---------------------------------------------------------------------------
// Weighted binary logistic regression (contract in surrogate.h)

typedef struct logit_ctx {
    const float *Z, *v;
    const int8_t *t;
    int N, F, nthreads;
    double V;      // sum of the weights
    double *part;  // (BLOCKS, F + 2) scratch
} logit_ctx;

// theta = (w (F), b). Mean weighted logistic loss and, when grad is not
// NULL, its gradient.
static double logit_smooth(void *vctx, const double *theta, double *grad) {
    const logit_ctx *c = vctx;
    const int F = c->F, N = c->N;
    const size_t stride = (size_t)F + 2;
    const double *w = theta, b = theta[F];
#pragma omp parallel for num_threads(c->nthreads) schedule(static)
    for (int blk = 0; blk < DC_LIN_BLOCKS; blk++) {
        double *pg = c->part + (size_t)blk * stride;
        memset(pg, 0, sizeof(double) * stride);
        const int i0 = (int)((int64_t)N * blk / DC_LIN_BLOCKS), i1 = (int)((int64_t)N * (blk + 1) / DC_LIN_BLOCKS);
        for (int i = i0; i < i1; i++) {
            const float *x = c->Z + (size_t)i * F;
            double u = b;
            for (int j = 0; j < F; j++) u += w[j] * x[j];
            const double sgn = c->t[i] ? 1.0 : -1.0, vi = c->v ? c->v[i] : 1.0, m = -sgn * u;
            // log(1 + exp(m)) without overflow
            pg[stride - 1] += vi * (m > 0 ? m + log1p(exp(-m)) : log1p(exp(m)));
            if (!grad) continue;
            // d/du log(1 + exp(-s u)) = -s / (1 + exp(s u))
            const double d = vi * -sgn / (1.0 + exp(-m));
            for (int j = 0; j < F; j++) pg[j] += d * x[j];
            pg[F] += d;
        }
    }
    double loss = 0.0;
    if (grad) memset(grad, 0, sizeof(double) * ((size_t)F + 1));
    for (int blk = 0; blk < DC_LIN_BLOCKS; blk++) {
        const double *pg = c->part + (size_t)blk * stride;
        loss += pg[stride - 1];
        if (!grad) continue;
        for (int j = 0; j <= F; j++) grad[j] += pg[j];
    }
    if (grad)
        for (int j = 0; j <= F; j++) grad[j] /= c->V;
    return loss / c->V;
}

static dc_status logit_check(const float *Z, const int8_t *t, const float *v, int n, int F, double lambda,
                             double *V, dc_error *err) {
    if (n < 1 || F < 1) return dc_fail(err, DC_ERR_ARG, "logistic: need samples and features (got %d, %d)", n, F);
    if (!(lambda >= 0) || !isfinite(lambda)) return dc_fail(err, DC_ERR_ARG, "logistic: lambda %g must be >= 0", lambda);
    *V = 0.0;
    for (int i = 0; i < n; i++) {
        if (t[i] != 0 && t[i] != 1) return dc_fail(err, DC_ERR_ARG, "logistic: sample %d has label %d, not 0 or 1", i, t[i]);
        if (v && (!(v[i] >= 0) || !isfinite(v[i])))
            return dc_fail(err, DC_ERR_ARG, "logistic: sample %d has weight %g, not a finite number >= 0", i, v[i]);
        *V += v ? v[i] : 1.0;
    }
    if (!(*V > 0)) return dc_fail(err, DC_ERR_ARG, "logistic: the weights add up to %g, not > 0", *V);
    return DC_OK;
}

dc_status dc_logistic_fit(double *w, double *b, const float *Z, const int8_t *t, const float *v, int n, int F,
                          double lambda, int max_iter, double tol, int nthreads, int *iters, dc_error *err) {
    double V;
    dc_status st = logit_check(Z, t, v, n, F, lambda, &V, err);
    if (st) return st;
    if (max_iter < 1 || !(tol > 0))
        return dc_fail(err, DC_ERR_ARG, "logistic: max-iter %d must be >= 1 and tol %g > 0", max_iter, tol);
    if (nthreads <= 0) nthreads = dc_default_threads();
    const size_t P = (size_t)F + 1;
    double *theta = malloc(sizeof(double) * P), *scratch = malloc(sizeof(double) * 4 * P);
    double *part = malloc(sizeof(double) * DC_LIN_BLOCKS * (P + 1));
    if (!theta || !scratch || !part) {
        free(theta), free(scratch), free(part);
        return dc_fail(err, DC_ERR_NOMEM, "logistic: out of memory for %d features", F);
    }
    memcpy(theta, w, sizeof(double) * (size_t)F);
    theta[F] = *b;
    logit_ctx c = {Z, v, t, n, F, nthreads, V, part};
    // the logistic loss's second derivative is at most 1/4
    const dc_fista_problem pr = {P, (size_t)F, lambda, logit_smooth, &c, 0.25 * gram_lambda_max(Z, v, n, F, 20),
                                 max_iter, tol};
    const int it = dc_fista_l1(&pr, theta, scratch);
    if (iters) *iters = it;
    memcpy(w, theta, sizeof(double) * (size_t)F);
    *b = theta[F];
    free(theta), free(scratch), free(part);
    return DC_OK;
}

double dc_logistic_objective(const double *w, double b, const float *Z, const int8_t *t, const float *v, int n,
                             int F, double lambda) {
    double V;
    dc_error err;
    if (logit_check(Z, t, v, n, F, lambda, &V, &err)) return NAN;
    double *theta = malloc(sizeof(double) * ((size_t)F + 1)), *part = malloc(sizeof(double) * DC_LIN_BLOCKS * ((size_t)F + 2));
    if (!theta || !part) {
        free(theta), free(part);
        return NAN;
    }
    memcpy(theta, w, sizeof(double) * (size_t)F);
    theta[F] = b;
    logit_ctx c = {Z, v, t, n, F, 1, V, part};
    const double o = logit_smooth(&c, theta, NULL) + lambda * l1(w, (size_t)F);
    free(theta), free(part);
    return o;
}

// ---------------------------------------------------------------------------
// The multinomial model

typedef struct softmax_ctx {
    const float *Z;
    const int32_t *y;
    int N, F, C, nthreads;
    double *part;
} softmax_ctx;

static double softmax_smooth(void *vctx, const double *theta, double *grad) {
    const softmax_ctx *c = vctx;
    const size_t nw = (size_t)c->C * c->F;
    return smooth(c->Z, c->y, c->N, c->F, c->C, theta, theta + nw, grad, grad ? grad + nw : NULL, c->part,
                  c->nthreads);
}

void dc_surr_standardise(float *Z, float *mu, float *sd, const float *X, int N, int F) {
    for (int j = 0; j < F; j++) {
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < N; i++) s += X[(size_t)i * F + j];
        const double m = s / N;
        for (int i = 0; i < N; i++) {
            const double d = X[(size_t)i * F + j] - m;
            s2 += d * d;
        }
        const double sdev = sqrt(s2 / N);
        mu[j] = (float)m;
        sd[j] = sdev > 1e-12 ? (float)sdev : 1.0f;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < F; j++)
            Z[(size_t)i * F + j] = (X[(size_t)i * F + j] - mu[j]) / sd[j];
}

static float *standardise(dc_linear *lm, const float *X, int N, int F) {
    float *Z = malloc(sizeof(float) * (size_t)N * F);
    if (Z) dc_surr_standardise(Z, lm->mu, lm->sd, X, N, F);
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
    double *x = calloc(P, sizeof(double)), *scratch = malloc(sizeof(double) * 4 * P);
    double *part = malloc(sizeof(double) * DC_LIN_BLOCKS * (P + 1));
    float *Z = NULL;
    dc_status st = DC_OK;
    if (!lm->mu || !lm->sd || !x || !scratch || !part || !(Z = standardise(lm, X, n, F))) {
        st = dc_fail(err, DC_ERR_NOMEM, "linear: out of memory for %d samples x %d features", n, F);
        goto done;
    }
    const size_t nw = (size_t)C * F;
    // the softmax Hessian is below I/2
    double L = 0.5 * gram_lambda_max(Z, NULL, n, F, 50);
    if (!(L > 0)) L = 1.0;
    softmax_ctx sc = {Z, y, n, F, C, nthreads, part};
    const dc_fista_problem pr = {P, nw, cfg->lambda, softmax_smooth, &sc, L, cfg->max_iter, cfg->tol};
    lm->iters = dc_fista_l1(&pr, x, scratch);
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
    free(scratch);
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
