// tpe.c — Parzen estimators and the TPE draw (see tpe.h for the rules and
// where they come from).
//
// Legend: n observations (oldest first), d parameters, K = n + 1 kernels
// (the observations, then the prior), C choices.
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/tpe.h"

// ---------------------------------------------------------------------------
// Random numbers in double precision (dc_rng_uniform is a float)

static double u01(dc_rng *r) { return (double)(dc_rng_u64(r) >> 11) * 0x1.0p-53; } // [0, 1)

static double std_normal(dc_rng *r) { // Box-Muller, the cosine half
    const double u1 = 1.0 - u01(r), u2 = u01(r); // u1 in (0, 1]
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// P(a <= Z <= b) for a standard normal Z, accurate in either tail.
static double normal_mass(double a, double b) {
    if (a > 0) return 0.5 * (erfc(a / 1.4142135623730951) - erfc(b / 1.4142135623730951));
    return 0.5 * (erfc(-b / 1.4142135623730951) - erfc(-a / 1.4142135623730951));
}

void dc_tpe_default_weights(double *w, int n) {
    // Optuna's default_weights: ones for n < 25, else
    // concatenate(linspace(1/n, 1, n - 25), ones(25))
    if (n < 25) {
        for (int i = 0; i < n; i++) w[i] = 1.0;
        return;
    }
    const int m = n - 25;
    for (int i = 0; i < m; i++) w[i] = m == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * i / (double)(m - 1);
    for (int i = m; i < n; i++) w[i] = 1.0;
}

// ---------------------------------------------------------------------------
// One parameter

// The internal coordinate of an option value, and the internal range.
static double to_internal(const dc_tune_param *p, double v) { return p->dist == DC_DIST_LOG_UNIFORM ? log(v) : v; }

static void internal_range(const dc_tune_param *p, double *lo, double *hi) {
    switch (p->dist) {
    case DC_DIST_LOG_UNIFORM: *lo = log(p->lo), *hi = log(p->hi); break;
    case DC_DIST_INT: *lo = p->lo - 0.5, *hi = p->hi + 0.5; break;
    default: *lo = p->lo, *hi = p->hi; break;
    }
}

typedef struct sort_pt {
    double v;
    int idx;
} sort_pt;

static int by_value(const void *a, const void *b) { // stable: equal values by index
    const sort_pt *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->idx - y->idx;
}

void dc_parzen_free(dc_parzen *pe) {
    free(pe->mu);
    memset(pe, 0, sizeof *pe);
}

dc_status dc_parzen_fit(dc_parzen *pe, const dc_tune_param *p, const double *x, int n, dc_error *err) {
    // x is (n), in option units, oldest first
    memset(pe, 0, sizeof *pe);
    pe->dist = p->dist;
    double *w = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!w) return dc_fail(err, DC_ERR_NOMEM, "tpe: out of memory for %d observations", n);
    dc_tpe_default_weights(w, n);
    if (p->dist == DC_DIST_CHOICE) {
        // Optuna 2.x _sample_categorical_index: weighted counts + prior_weight per value
        pe->n_choices = p->n_choices;
        double c[DC_TUNE_MAX_CHOICES], total = 0;
        for (int k = 0; k < p->n_choices; k++) c[k] = DC_TPE_PRIOR_WEIGHT;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < p->n_choices; k++)
                if (p->choices[k] == x[i]) c[k] += w[i];
        for (int k = 0; k < p->n_choices; k++) total += c[k];
        for (int k = 0; k < p->n_choices; k++) pe->p[k] = c[k] / total;
        free(w);
        return DC_OK;
    }
    const int K = n + 1;
    double lo, hi;
    internal_range(p, &lo, &hi);
    pe->lo = lo, pe->hi = hi, pe->n = K;
    double *buf = malloc(sizeof(double) * (size_t)K * 4 + sizeof(double) * (size_t)(K + 2));
    sort_pt *pts = malloc(sizeof(sort_pt) * (size_t)K);
    if (!buf || !pts) {
        free(w);
        free(buf);
        free(pts);
        return dc_fail(err, DC_ERR_NOMEM, "tpe: out of memory for %d observations", n);
    }
    pe->mu = buf, pe->sigma = buf + K, pe->w = buf + 2 * K, pe->z = buf + 3 * K;
    double *ext = buf + 4 * K; // (K + 2): lo, the sorted points, hi
    const double range = hi - lo, prior_mu = 0.5 * (lo + hi);
    for (int i = 0; i < n; i++) pe->mu[i] = to_internal(p, x[i]);
    pe->mu[n] = prior_mu;
    for (int i = 0; i < K; i++) pts[i] = (sort_pt){pe->mu[i], i};
    qsort(pts, (size_t)K, sizeof *pts, by_value);
    ext[0] = lo, ext[K + 1] = hi;
    for (int j = 0; j < K; j++) ext[j + 1] = pts[j].v;
    // bandwidths: the larger gap to a neighbour; the outermost points their
    // inner gap (consider_endpoints=False); then the magic clip
    const double minsig = range / fmin(100.0, 1.0 + K), maxsig = range;
    for (int j = 0; j < K; j++) {
        double s = fmax(ext[j + 1] - ext[j], ext[j + 2] - ext[j + 1]);
        if (K >= 2 && j == 0) s = ext[2] - ext[1];
        if (K >= 2 && j == K - 1) s = ext[K] - ext[K - 1];
        pe->sigma[pts[j].idx] = fmin(fmax(s, minsig), maxsig);
    }
    pe->sigma[n] = range; // the prior's
    double total = 0;
    for (int i = 0; i < n; i++) total += w[i];
    total += DC_TPE_PRIOR_WEIGHT;
    for (int i = 0; i < n; i++) pe->w[i] = w[i] / total;
    pe->w[n] = DC_TPE_PRIOR_WEIGHT / total;
    for (int k = 0; k < K; k++) pe->z[k] = normal_mass((lo - pe->mu[k]) / pe->sigma[k], (hi - pe->mu[k]) / pe->sigma[k]);
    free(w);
    free(pts);
    return DC_OK;
}

double dc_parzen_log_pdf(const dc_parzen *pe, const dc_tune_param *p, double v) {
    if (pe->dist == DC_DIST_CHOICE) {
        for (int k = 0; k < pe->n_choices; k++)
            if (p->choices[k] == v) return log(pe->p[k]);
        return -INFINITY;
    }
    const double t = to_internal(p, v);
    if (pe->dist == DC_DIST_INT) {
        // the mass of the integer's cell [t - 0.5, t + 0.5] under each truncated kernel
        double m = 0;
        for (int k = 0; k < pe->n; k++)
            m += pe->w[k] * normal_mass((t - 0.5 - pe->mu[k]) / pe->sigma[k], (t + 0.5 - pe->mu[k]) / pe->sigma[k]) /
                 pe->z[k];
        return log(fmax(m, DBL_MIN));
    }
    // log sum_k w_k N(t; mu_k, sigma_k) / z_k, summed as log-sum-exp in kernel order
    double mx = -INFINITY;
    for (int k = 0; k < pe->n; k++) {
        const double q = (t - pe->mu[k]) / pe->sigma[k];
        const double a = log(pe->w[k]) - 0.5 * q * q - log(pe->sigma[k] * pe->z[k]);
        if (a > mx) mx = a;
    }
    double s = 0;
    for (int k = 0; k < pe->n; k++) {
        const double q = (t - pe->mu[k]) / pe->sigma[k];
        s += exp(log(pe->w[k]) - 0.5 * q * q - log(pe->sigma[k] * pe->z[k]) - mx);
    }
    return mx + log(s) - 0.9189385332046728; // - ln sqrt(2 pi)
}

// The index drawn from weights w (n >= 1, summing to 1) by u in [0, 1):
// the first k whose running sum passes u (the last one for rounding).
static int pick(const double *w, int n, double u) {
    double c = 0;
    int k = 0;
    for (; k < n - 1; k++) {
        c += w[k];
        if (u < c) break;
    }
    return k;
}

double dc_parzen_sample(const dc_parzen *pe, const dc_tune_param *p, dc_rng *r) {
    double v;
    if (pe->dist == DC_DIST_CHOICE) return p->choices[pick(pe->p, pe->n_choices, u01(r))];
    // a kernel by weight, then its truncated normal by rejection (every
    // kernel's mean is in the range and its bandwidth at most the range, so
    // a draw is accepted with probability > 0.3; after 200 misses, clamp)
    const int k = pick(pe->w, pe->n, u01(r));
    double t = pe->mu[k];
    for (int tries = 0; tries < 200; tries++) {
        t = pe->mu[k] + pe->sigma[k] * std_normal(r);
        if (t >= pe->lo && t <= pe->hi) break;
    }
    t = fmin(fmax(t, pe->lo), pe->hi);
    switch (pe->dist) {
    case DC_DIST_LOG_UNIFORM: v = fmin(fmax(exp(t), p->lo), p->hi); break;
    case DC_DIST_INT: v = fmin(fmax(floor(t + 0.5), p->lo), p->hi); break;
    default: v = fmin(fmax(t, p->lo), p->hi); break;
    }
    if (p->opt->type == DC_TOPT_FLOAT) { // the value trained with, as dc_tune_space_sample
        float f = (float)v;
        if (f < (float)p->lo) f = (float)p->lo;
        if (f > (float)p->hi) f = (float)p->hi;
        v = f;
    }
    return v;
}

// ---------------------------------------------------------------------------
// The model

typedef struct obs_key {
    int idx, level;
    double y;
} obs_key;

static int by_metric_desc(const void *a, const void *b) { // higher level first, then y (NaN worst), then older
    const obs_key *x = a, *y = b;
    if (x->level != y->level) return x->level > y->level ? -1 : 1;
    const double mx = isnan(x->y) ? -INFINITY : x->y, my = isnan(y->y) ? -INFINITY : y->y;
    if (mx != my) return mx > my ? -1 : 1;
    return x->idx - y->idx;
}

static int by_idx(const void *a, const void *b) {
    const obs_key *x = a, *y = b;
    return x->idx - y->idx;
}

void dc_tpe_free(dc_tpe *m) {
    for (int j = 0; j < m->d; j++) {
        dc_parzen_free(&m->good[j]);
        dc_parzen_free(&m->bad[j]);
    }
    m->d = 0;
}

dc_status dc_tpe_fit(dc_tpe *m, const dc_tune_space *sp, const double *const *x, const int *level, const double *y,
                     int n, dc_error *err) {
    // x is (n) pointers to (d) values, level and y are (n)
    memset(m, 0, sizeof *m);
    obs_key *keys = malloc(sizeof(obs_key) * (size_t)(n > 0 ? n : 1));
    double *col = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!keys || !col) {
        free(keys);
        free(col);
        return dc_fail(err, DC_ERR_NOMEM, "tpe: out of memory for %d observations", n);
    }
    for (int i = 0; i < n; i++) keys[i] = (obs_key){i, level ? level[i] : 0, y[i]};
    qsort(keys, (size_t)n, sizeof *keys, by_metric_desc);
    int n_good = (int)ceil(DC_TPE_GAMMA * n);
    if (n_good > DC_TPE_MAX_GOOD) n_good = DC_TPE_MAX_GOOD;
    // each part back in age order (the weights ramp by age)
    qsort(keys, (size_t)n_good, sizeof *keys, by_idx);
    qsort(keys + n_good, (size_t)(n - n_good), sizeof *keys, by_idx);
    m->n_obs = n, m->n_good = n_good;
    dc_status st = DC_OK;
    for (int j = 0; j < sp->n && !st; j++) {
        for (int i = 0; i < n; i++) col[i] = x[keys[i].idx][j];
        st = dc_parzen_fit(&m->good[j], &sp->p[j], col, n_good, err);
        if (!st) {
            m->d = j + 1;
            st = dc_parzen_fit(&m->bad[j], &sp->p[j], col + n_good, n - n_good, err);
        }
    }
    free(keys);
    free(col);
    if (st) dc_tpe_free(m);
    return st;
}

void dc_tpe_draw(const dc_tpe *m, const dc_tune_space *sp, double *values, dc_rng *rng) {
    double cand[DC_TUNE_MAX_PARAMS], best = -INFINITY;
    bool have = false;
    for (int c = 0; c < DC_TPE_CANDIDATES; c++) {
        double score = 0;
        for (int j = 0; j < sp->n; j++) {
            cand[j] = dc_parzen_sample(&m->good[j], &sp->p[j], rng);
            score += dc_parzen_log_pdf(&m->good[j], &sp->p[j], cand[j]) - dc_parzen_log_pdf(&m->bad[j], &sp->p[j], cand[j]);
        }
        if (!have || score > best) { // ties (and NaN scores): the first
            memcpy(values, cand, sizeof(double) * (size_t)sp->n);
            best = score;
            have = true;
        }
    }
}
