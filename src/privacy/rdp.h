// rdp.h — internal pieces of the Rényi-DP accountant (src/privacy/rdp.c),
// exposed so that tests can check them one by one. The public API (dc_rdp_*,
// DC_RDP_*) is in include/deepc.h, section "Privacy accountant".
//
// Log-space convention: a non-negative number x is carried as log(x); 0 is
// -INFINITY. Every function here is pure (no state, no allocation).
#ifndef DC_PRIVACY_RDP_H
#define DC_PRIVACY_RDP_H

#include "deepc.h"

// log(exp(logx) + exp(logy)), exact for -INFINITY operands.
double dc_log_add(double logx, double logy);
// log(exp(logx) - exp(logy)); NaN when logx < logy (a negative result),
// -INFINITY when they are equal.
double dc_log_sub(double logx, double logy);
// log(erfc(x)), accurate also where erfc(x) underflows (x > 26): there the
// asymptotic series of Abramowitz & Stegun 7.1.23 is used, to x^-8.
double dc_log_erfc(double x);
// log of |binomial(n, k)| through lgamma, for real n >= 0 and integer k >= 0.
double dc_log_binom_abs(double n, double k);

// log(A_alpha) of Mironov, Talwar & Zhang 2019 (arXiv:1908.10530, Sec. 3.3)
// for the sampled Gaussian mechanism, 0 < q < 1, sigma > 0, alpha > 1:
// integer alpha by the binomial sum (exact, alpha+1 terms), fractional alpha
// by the two-series expansion with erfc, summed until both terms fall below
// exp(-30) (as Opacus and TF Privacy do). Returns +INFINITY when the series
// does not settle within DC_RDP_FRAC_MAX_TERMS terms or its partial sums go
// negative (the order is then left out of the minimum, never used);
// *terms (may be NULL) receives the number of terms summed.
#define DC_RDP_FRAC_MAX_TERMS 1000000
double dc_rdp_log_a(double q, double sigma, double alpha, long *terms);

// RDP of ONE step of the sampled Gaussian mechanism at order alpha (> 1):
// 0 when q == 0, +INFINITY when sigma == 0 < q, alpha/(2 sigma^2) when
// q == 1, else log(A_alpha)/(alpha-1).
double dc_rdp_order(double q, double sigma, double alpha);

// The sigma solver with a choice of conversion (dc_rdp_solve_sigma uses
// DC_RDP_IMPROVED). Same contract as dc_rdp_solve_sigma.
dc_status dc_rdp_solve_sigma_conv(double q, long steps, double delta,
                                  double target_eps, dc_rdp_conversion conv,
                                  double *sigma, dc_error *err);

#endif
