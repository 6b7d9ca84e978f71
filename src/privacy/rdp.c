// rdp.c — the Rényi-DP accountant of the sampled Gaussian mechanism (SGM).
//
// Contract. For DP-SGD with Poisson sample rate q and noise multiplier sigma
// (noise std / clip norm), one step is (alpha, rdp(alpha))-RDP with
//   rdp(alpha) = log(A_alpha) / (alpha - 1),
//   A_alpha    = E_{z ~ N(0, sigma^2)} [ ((1-q) + q exp((2z-1)/(2 sigma^2)))^alpha ]
// (Mironov, Talwar & Zhang 2019, arXiv:1908.10530). T steps compose to
// T * rdp(alpha); epsilon at delta is the minimum over the orders of the
// chosen conversion (see include/deepc.h for the two formulas).
//
// We mirror Opacus's opacus/accountants/analysis/rdp.py (itself TF Privacy's
// rdp_accountant.py) so that the numbers agree with what those libraries
// print, to ~1e-12 relative: the same orders, the same series, the same
// stopping rule (terms below exp(-30)), the same argmin (first minimum,
// non-numbers skipped). Where we differ, and why:
//   - log binomials come from lgamma, not log(scipy.special.binom), so that
//     large orders cannot overflow;
//   - log(erfc(x)) is computed from erfc below x = 26 and from its asymptotic
//     series above (scipy's log_ndtr does the same job);
//   - the fractional series stops after DC_RDP_FRAC_MAX_TERMS terms, and a
//     partial sum that goes negative (Opacus raises ValueError) excludes that
//     order (+INFINITY) instead of failing the whole computation;
//   - epsilon is clamped at 0 (Opacus can return a slightly negative value
//     for tiny RDP and delta close to 1; dp_accounting clamps too), and is
//     exactly 0 when nothing was spent (q == 0 or no steps).
// Everything is double precision, no state, no allocation.
#include "privacy/rdp.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"

// ---------------------------------------------------------------------------
// Log-space arithmetic

double dc_log_add(double logx, double logy) {
    double a = logx < logy ? logx : logy, b = logx < logy ? logy : logx;
    if (isnan(logx) || isnan(logy)) return NAN;
    if (a == -INFINITY) return b; // adding 0 (also 0 + 0)
    if (b == INFINITY) return INFINITY;
    // exp(a) + exp(b) = (exp(a - b) + 1) exp(b), with a - b <= 0: no overflow
    return log1p(exp(a - b)) + b;
}

double dc_log_sub(double logx, double logy) {
    if (isnan(logx) || isnan(logy) || logx < logy) return NAN;
    if (logy == -INFINITY) return logx; // subtracting 0
    if (logx == logy) return -INFINITY;
    if (logx == INFINITY) return INFINITY;
    // exp(x) - exp(y) = exp(x) (1 - exp(y - x)); -expm1 keeps the digits when
    // y is close to x, and cannot overflow (Opacus catches the overflow of
    // expm1(x - y) instead)
    return logx + log(-expm1(logy - logx));
}

double dc_log_erfc(double x) {
    // erfc(26) = 5.6e-296 is still a normal double; beyond, it loses digits
    // and then underflows, so switch to the asymptotic expansion
    //   log erfc(x) = -x^2 - log(x) - log(pi)/2
    //                 + log(1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + ...),
    // the last log expanded in powers of 1/x^2 (the same series TF Privacy's
    // _log_erfc used). At x = 26 the first omitted term is ~1e-12 absolute.
    if (x < 26.0) return log(erfc(x));
    double r2 = 1.0 / (x * x);
    return -0.57236494292470008 /* log(pi)/2 */ - log(x) - x * x - 0.5 * r2 + 0.625 * r2 * r2 -
           37.0 / 24.0 * r2 * r2 * r2 + 353.0 / 64.0 * r2 * r2 * r2 * r2;
}

double dc_log_binom_abs(double n, double k) {
    // lgamma returns log|Gamma|, so this is log|binom| also where n - k + 1
    // is negative (fractional n, k > n + 1)
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0);
}

// ---------------------------------------------------------------------------
// log(A_alpha)

// Integer alpha: A = sum_i binom(alpha, i) (1-q)^(alpha-i) q^i exp((i^2-i)/(2 sigma^2)),
// every term positive.
static double log_a_int(double q, double sigma, int alpha) {
    double log_a = -INFINITY, lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma;
    for (int i = 0; i <= alpha; i++) {
        double di = i;
        double s = dc_log_binom_abs(alpha, di) + di * lq + (alpha - di) * l1q + (di * di - di) / s2;
        log_a = dc_log_add(log_a, s);
    }
    return log_a;
}

// Fractional alpha: A = A0 + A1, the integrals over (-inf, z0] and [z0, inf)
// with z0 = sigma^2 log(1/q - 1) + 1/2, each expanded in the generalized
// binomial series; binom(alpha, i) changes sign for i > floor(alpha) + 1.
static double log_a_frac(double q, double sigma, double alpha, long *terms) {
    double log_a0 = -INFINITY, log_a1 = -INFINITY;
    double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
    double lq = log(q), l1q = log1p(-q), s2 = 2.0 * sigma * sigma, rs = sqrt(2.0) * sigma;
    double fl = floor(alpha);
    long i;
    for (i = 0; i < DC_RDP_FRAC_MAX_TERMS; i++) {
        double di = (double)i, j = alpha - di;
        double log_coef = dc_log_binom_abs(alpha, di);
        // sign of binom(alpha, i): one negative factor (alpha - k) for each
        // k in [floor(alpha) + 1, i - 1]
        long neg = i - 1 - (long)fl;
        bool positive = neg <= 0 || (neg % 2) == 0;
        double log_t0 = log_coef + di * lq + j * l1q;
        double log_t1 = log_coef + j * lq + di * l1q;
        double log_e0 = log(0.5) + dc_log_erfc((di - z0) / rs);
        double log_e1 = log(0.5) + dc_log_erfc((z0 - j) / rs);
        double log_s0 = log_t0 + (di * di - di) / s2 + log_e0;
        double log_s1 = log_t1 + (j * j - j) / s2 + log_e1;
        if (positive) {
            log_a0 = dc_log_add(log_a0, log_s0);
            log_a1 = dc_log_add(log_a1, log_s1);
        } else {
            log_a0 = dc_log_sub(log_a0, log_s0);
            log_a1 = dc_log_sub(log_a1, log_s1);
        }
        if (isnan(log_a0) || isnan(log_a1)) break; // a partial sum went negative
        if (fmax(log_s0, log_s1) < -30.0) {
            if (terms) *terms = i + 1;
            return dc_log_add(log_a0, log_a1);
        }
    }
    if (terms) *terms = i + 1;
    return INFINITY;
}

double dc_rdp_log_a(double q, double sigma, double alpha, long *terms) {
    if (terms) *terms = 0;
    if (!(q > 0 && q < 1 && sigma > 0 && alpha > 1) || !isfinite(alpha) || !isfinite(sigma)) return NAN;
    if (alpha == floor(alpha) && alpha <= 1e6) {
        if (terms) *terms = (long)alpha + 1;
        return log_a_int(q, sigma, (int)alpha);
    }
    return log_a_frac(q, sigma, alpha, terms);
}

double dc_rdp_order(double q, double sigma, double alpha) {
    if (isnan(q) || isnan(sigma) || isnan(alpha) || q < 0 || q > 1 || sigma < 0 || !(alpha > 1)) return NAN;
    if (q == 0) return 0;
    if (sigma == 0 || alpha == INFINITY) return INFINITY; // no noise: no privacy
    if (q == 1) return alpha / (2.0 * sigma * sigma);
    double la = dc_rdp_log_a(q, sigma, alpha, NULL);
    if (isnan(la)) return INFINITY;
    return la / (alpha - 1.0);
}

// ---------------------------------------------------------------------------
// Orders, the per-step vector, conversion

int dc_rdp_default_orders(double *orders) {
    int n = 0;
    for (int x = 1; x < 100; x++) orders[n++] = 1.0 + x / 10.0; // as Python computes it
    for (int a = 12; a < 64; a++) orders[n++] = a;
    return n; // DC_RDP_N_DEFAULT_ORDERS
}

dc_status dc_rdp_init(dc_rdp *r, double q, double sigma, const double *orders, int n_orders,
                      dc_error *err) {
    memset(r, 0, sizeof *r);
    if (!(q >= 0 && q <= 1))
        return dc_fail(err, DC_ERR_ARG, "RDP accountant: sample rate q = %g: expected a value in [0, 1] "
                                        "(the lot size over the data set size)", q);
    if (!(sigma >= 0) || !isfinite(sigma))
        return dc_fail(err, DC_ERR_ARG, "RDP accountant: noise multiplier sigma = %g: expected a finite "
                                        "value >= 0", sigma);
    if (orders) {
        if (n_orders < 1 || n_orders > DC_RDP_MAX_ORDERS)
            return dc_fail(err, DC_ERR_ARG, "RDP accountant: %d orders: expected 1 to %d", n_orders,
                           DC_RDP_MAX_ORDERS);
        for (int k = 0; k < n_orders; k++)
            if (!(orders[k] > 1) || !isfinite(orders[k]))
                return dc_fail(err, DC_ERR_ARG, "RDP accountant: order %d is %g: expected a finite "
                                                "order > 1", k, orders[k]);
        memcpy(r->orders, orders, (size_t)n_orders * sizeof *orders);
        r->n_orders = n_orders;
    } else {
        r->n_orders = dc_rdp_default_orders(r->orders);
    }
    r->q = q;
    r->sigma = sigma;
    for (int k = 0; k < r->n_orders; k++) r->step[k] = dc_rdp_order(q, sigma, r->orders[k]);
    return DC_OK;
}

double dc_rdp_to_epsilon(const double *orders, const double *rdp, int n, double delta,
                         dc_rdp_conversion conv, double *best_order) {
    if (best_order) *best_order = 0;
    if (!(delta > 0 && delta < 1) || n < 1) return NAN;
    bool all_zero = true;
    for (int k = 0; k < n; k++)
        if (rdp[k] != 0) all_zero = false;
    if (all_zero) return 0; // nothing spent
    double best = NAN, best_a = 0, ld = log(delta);
    for (int k = 0; k < n; k++) {
        double a = orders[k], e;
        if (conv == DC_RDP_CLASSIC) e = rdp[k] - ld / (a - 1.0);
        else e = rdp[k] - (ld + log(a)) / (a - 1.0) + log((a - 1.0) / a);
        if (isnan(e)) continue;              // np.nanargmin skips NaN
        if (isnan(best) || e < best) {       // first minimum wins, as argmin
            best = e;
            best_a = a;
        }
    }
    if (isnan(best) || best == INFINITY) return INFINITY; // no order gives a bound
    if (best_order) *best_order = best_a;
    return best < 0 ? 0 : best;
}

double dc_rdp_epsilon_after(const dc_rdp *r, long steps, double delta, dc_rdp_conversion conv,
                            double *best_order) {
    if (best_order) *best_order = 0;
    if (steps < 0 || !(delta > 0 && delta < 1)) return NAN;
    if (steps == 0 || r->q == 0) return 0;
    double total[DC_RDP_MAX_ORDERS];
    // the RDP of T identical steps is T times that of one (composition)
    for (int k = 0; k < r->n_orders; k++) total[k] = r->step[k] * (double)steps;
    return dc_rdp_to_epsilon(r->orders, total, r->n_orders, delta, conv, best_order);
}

double dc_rdp_epsilon(double q, double sigma, long steps, double delta, double *best_order) {
    if (best_order) *best_order = 0;
    if (steps < 0 || !(delta > 0 && delta < 1)) return NAN;
    dc_rdp r;
    if (dc_rdp_init(&r, q, sigma, NULL, 0, NULL)) return NAN;
    return dc_rdp_epsilon_after(&r, steps, delta, DC_RDP_IMPROVED, best_order);
}

// ---------------------------------------------------------------------------
// Solving for sigma

static double eps_of_sigma(double q, double sigma, long steps, double delta, dc_rdp_conversion conv) {
    dc_rdp r;
    if (dc_rdp_init(&r, q, sigma, NULL, 0, NULL)) return NAN;
    return dc_rdp_epsilon_after(&r, steps, delta, conv, NULL);
}

dc_status dc_rdp_solve_sigma_conv(double q, long steps, double delta, double target_eps,
                                  dc_rdp_conversion conv, double *sigma, dc_error *err) {
    *sigma = NAN;
    if (!(q > 0 && q <= 1))
        return dc_fail(err, DC_ERR_ARG, "sigma solver: sample rate q = %g: expected a value in (0, 1]", q);
    if (steps < 1)
        return dc_fail(err, DC_ERR_ARG, "sigma solver: steps = %ld: expected at least 1", steps);
    if (!(delta > 0 && delta < 1))
        return dc_fail(err, DC_ERR_ARG, "sigma solver: delta = %g: expected a value in (0, 1)", delta);
    if (!(target_eps > 0) || !isfinite(target_eps))
        return dc_fail(err, DC_ERR_ARG, "sigma solver: target epsilon = %g: expected a finite value > 0",
                       target_eps);
    // However large sigma is, epsilon stays above the conversion of a zero
    // RDP vector at its best order (the orders are finite): below that floor
    // no sigma helps, so say so rather than bisect to the cap.
    double orders[DC_RDP_MAX_ORDERS], zero[DC_RDP_MAX_ORDERS];
    int n = dc_rdp_default_orders(orders);
    for (int k = 0; k < n; k++) zero[k] = 1e-300; // "almost nothing spent" (exact 0 reads as q = 0)
    double floor_eps = dc_rdp_to_epsilon(orders, zero, n, delta, conv, NULL);
    if (target_eps <= floor_eps)
        return dc_fail(err, DC_ERR_ARG, "sigma solver: target epsilon %g is unreachable at delta %g: with "
                                        "RDP orders up to 63 epsilon cannot go below %.4g whatever the noise "
                                        "(raise the target or delta)", target_eps, delta, floor_eps);
    double hi = 1.0, e_hi = eps_of_sigma(q, hi, steps, delta, conv);
    while (!(e_hi <= target_eps)) {
        if (hi >= DC_RDP_SIGMA_MAX)
            return dc_fail(err, DC_ERR_ARG, "sigma solver: target epsilon %g is unreachable: even sigma = %g "
                                            "gives epsilon %.4g after %ld steps at sample rate %g (raise the "
                                            "target, or take fewer steps or a smaller sample rate)",
                           target_eps, hi, e_hi, steps, q);
        hi = fmin(2.0 * hi, DC_RDP_SIGMA_MAX);
        e_hi = eps_of_sigma(q, hi, steps, delta, conv);
    }
    double lo = hi / 2.0;
    if (hi == 1.0) { // find a sigma that overshoots the target
        const double sigma_min = 1e-6;
        while (eps_of_sigma(q, lo, steps, delta, conv) <= target_eps) {
            hi = lo;
            if (lo <= sigma_min)
                return dc_fail(err, DC_ERR_ARG, "sigma solver: target epsilon %g is met by every sigma >= "
                                                "%g: no meaningful noise level (is the target too large?)",
                               target_eps, sigma_min);
            lo /= 2.0;
        }
    }
    // invariant: eps(lo) > target >= eps(hi); epsilon decreases in sigma
    while (hi - lo > 1e-6 * hi) {
        double mid = 0.5 * (lo + hi);
        if (eps_of_sigma(q, mid, steps, delta, conv) <= target_eps) hi = mid;
        else lo = mid;
    }
    *sigma = hi; // the safe end: its epsilon is within the target
    return DC_OK;
}

dc_status dc_rdp_solve_sigma(double q, long steps, double delta, double target_eps, double *sigma,
                             dc_error *err) {
    return dc_rdp_solve_sigma_conv(q, steps, delta, target_eps, DC_RDP_IMPROVED, sigma, err);
}
