// tpe.h — the Tree-structured Parzen Estimator (Bergstra et al. 2011), the
// model-based sampler of `deepc tune --sampler tpe`, with Optuna's
// TPESampler defaults where they fit (optuna/samplers/_tpe, v2.x-3.1):
//
//   - the observations (x_i, y_i), oldest first, are split by y (higher is
//     better; NaN, a failed trial, is worst; ties: the older first; a level
//     ranks above y: tune.c passes the rung a trial reached) into the
//     good n_good = min(ceil(GAMMA * n), 25) and the bad rest. GAMMA is 0.25
//     (hyperopt's and BOHB-like), not Optuna's 0.1: the fits here see 10-50
//     observations, where 0.1 leaves one or two good points;
//   - each parameter gets two independent Parzen estimators, l(x) over the
//     good and g(x) over the bad, in the parameter's own space: ln v for
//     log_uniform, v for uniform, v on [lo - 0.5, hi + 0.5] for int (the
//     integer's mass is its cell's), all Gaussian kernels truncated to the
//     range; a prior kernel N((lo+hi)/2, hi-lo) of weight 1; each
//     observation's bandwidth is the larger gap to its neighbours among the
//     sorted observations, the prior's mean and the range's ends (the
//     outermost points use their inner gap only: consider_endpoints=False),
//     clipped to [(hi-lo)/min(100, n+2), hi-lo] (the "magic clip"); equal
//     values sort by age (a stable sort);
//   - a choice is categorical: each value's weight summed over the
//     observations that took it, plus a prior weight 1 per value;
//   - observation weights are Optuna's default_weights: 1 for n < 25, else a
//     ramp from 1/n for the oldest up to 1 for the newest 25;
//   - a draw: DC_TPE_CANDIDATES candidates from l, each parameter
//     independently; the one with the largest sum over parameters of
//     log l(x) - log g(x) (ties: the first) is the configuration.
//
// Everything is a function of the observations and the rng: sums run in a
// fixed order, nothing depends on threads.
#ifndef DC_TUNE_TPE_H
#define DC_TUNE_TPE_H

#include "tune/space.h"

#define DC_TPE_GAMMA 0.25
#define DC_TPE_MAX_GOOD 25
#define DC_TPE_CANDIDATES 24
#define DC_TPE_PRIOR_WEIGHT 1.0
// BOHB's random_fraction: a TPE-bracket trial is drawn at random instead
// with this probability (tune.c; a coin from the trial's own stream).
#define DC_TPE_RANDOM_FRACTION (1.0 / 3.0)

// One parameter's estimator. Numeric: n kernels (the observations, then
// the prior) with means mu, bandwidths sigma, normalised weights w and each
// kernel's mass inside the range z (its truncation). Choice: probabilities.
typedef struct dc_parzen {
    dc_dist_kind dist;
    double lo, hi;            // the range in the internal space
    int n;                    // kernels, prior included
    double *mu, *sigma, *w, *z; // (n) each, one allocation owned by mu
    int n_choices;
    double p[DC_TUNE_MAX_CHOICES]; // CHOICE: probability of each value
} dc_parzen;

// Fits p's estimator to the n observed values x (in option units: a
// learning rate, an integer, a choice's value), oldest first.
dc_status dc_parzen_fit(dc_parzen *pe, const dc_tune_param *p, const double *x, int n, dc_error *err);
void dc_parzen_free(dc_parzen *pe);
// log density (numeric: in the internal space; int and choice: log mass) of
// the option value v.
double dc_parzen_log_pdf(const dc_parzen *pe, const dc_tune_param *p, double v);
// One value drawn from the estimator, in option units (a float option's
// value rounded to float and kept in range, as dc_tune_space_sample does).
double dc_parzen_sample(const dc_parzen *pe, const dc_tune_param *p, dc_rng *r);

// Optuna's default_weights(n) into w (n).
void dc_tpe_default_weights(double *w, int n);

// The model: l and g for every parameter of the space.
typedef struct dc_tpe {
    int d;
    dc_parzen good[DC_TUNE_MAX_PARAMS], bad[DC_TUNE_MAX_PARAMS];
    int n_obs, n_good;
} dc_tpe;

// Fits the model to n >= 0 observations, oldest first: x[i] points at
// observation i's values (sp->n), y[i] is its metric (NaN: failed) and
// level[i] (NULL: all 0) ranks above y: the good are the first n_good by
// (level, then y, higher first; then the older).
dc_status dc_tpe_fit(dc_tpe *m, const dc_tune_space *sp, const double *const *x, const int *level, const double *y,
                     int n, dc_error *err);
void dc_tpe_free(dc_tpe *m);
// The TPE draw of one configuration into values (sp->n) from rng.
void dc_tpe_draw(const dc_tpe *m, const dc_tune_space *sp, double *values, dc_rng *rng);

#endif
