#!/usr/bin/env python3
"""gen_rdp_reference.py — reference numbers for tests/test_rdp.c.

Re-implements, in float64 with numpy and scipy.special, the RDP accountant of
the sampled Gaussian mechanism exactly as Opacus writes it
(opacus/accountants/analysis/rdp.py: _compute_log_a_for_int_alpha,
_compute_log_a_for_frac_alpha, _log_erfc via scipy.special.log_ndtr,
compute_rdp, get_privacy_spent with the Balle et al. 2020 conversion;
RDPAccountant.DEFAULT_ALPHAS), plus the classic conversion of TF Privacy
before 2020 (eps = rdp - log(delta)/(alpha-1)). It prints a C table that is
pasted into tests/test_rdp.c between the GENERATED markers; the C test then
compares its own numbers to these at 1e-9 relative.

If Opacus's rdp.py or Google's dp_accounting can be imported (they are not
needed), every number is also cross-checked against them and the largest
relative difference is printed on stderr.

Run:  python3 tests/gen_rdp_reference.py > /tmp/table.inc
Needs numpy and scipy (e.g. `pip install scipy`; scipy 1.10.1 was used).
"""
import math
import sys

import numpy as np
from scipy import special

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def log_add(logx, logy):
    a, b = min(logx, logy), max(logx, logy)
    if a == -np.inf:
        return b
    return math.log1p(math.exp(a - b)) + b


def log_sub(logx, logy):
    if logx < logy:
        raise ValueError("negative result")
    if logy == -np.inf:
        return logx
    if logx == logy:
        return -np.inf
    try:
        return math.log(math.expm1(logx - logy)) + logy
    except OverflowError:
        return logx


def log_erfc(x):
    return math.log(2) + special.log_ndtr(-x * 2**0.5)


def log_a_int(q, sigma, alpha):
    log_a = -np.inf
    for i in range(alpha + 1):
        log_coef_i = math.log(special.binom(alpha, i)) + i * math.log(q) + (alpha - i) * math.log(1 - q)
        log_a = log_add(log_a, log_coef_i + (i * i - i) / (2 * sigma**2))
    return float(log_a)


def log_a_frac(q, sigma, alpha):
    log_a0, log_a1 = -np.inf, -np.inf
    i = 0
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    while True:
        coef = special.binom(alpha, i)
        log_coef = math.log(abs(coef))
        j = alpha - i
        log_t0 = log_coef + i * math.log(q) + j * math.log(1 - q)
        log_t1 = log_coef + j * math.log(q) + i * math.log(1 - q)
        log_e0 = math.log(0.5) + log_erfc((i - z0) / (math.sqrt(2) * sigma))
        log_e1 = math.log(0.5) + log_erfc((z0 - j) / (math.sqrt(2) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2 * (sigma**2)) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2 * (sigma**2)) + log_e1
        if coef > 0:
            log_a0 = log_add(log_a0, log_s0)
            log_a1 = log_add(log_a1, log_s1)
        else:
            log_a0 = log_sub(log_a0, log_s0)
            log_a1 = log_sub(log_a1, log_s1)
        i += 1
        if max(log_s0, log_s1) < -30:
            break
    return log_add(log_a0, log_a1)


def log_a(q, sigma, alpha):
    if float(alpha).is_integer():
        return log_a_int(q, sigma, int(alpha))
    return log_a_frac(q, sigma, alpha)


def rdp_step(q, sigma, alpha):
    if q == 0:
        return 0.0
    if q == 1.0:
        return alpha / (2 * sigma**2)
    return log_a(q, sigma, alpha) / (alpha - 1)


def epsilon(q, sigma, steps, delta, classic, orders=ORDERS):
    o = np.array(orders, dtype=float)
    rdp = np.array([rdp_step(q, sigma, a) for a in orders]) * steps
    if classic:
        eps = rdp - math.log(delta) / (o - 1)
    else:
        eps = rdp - (np.log(delta) + np.log(o)) / (o - 1) + np.log((o - 1) / o)
    k = int(np.nanargmin(eps))
    return float(eps[k]), float(o[k])


def log_a_mp(q, sigma, alpha):
    """log(A_alpha) by numerical integration in multi-precision (mpmath), as
    TF Privacy's rdp_accountant_test.py does: an independent check of the
    series, not of their code."""
    import mpmath as mp
    mp.mp.dps = 50
    mu0 = lambda x: mp.npdf(x, mu=0, sigma=sigma)
    ratio = lambda x: (1 - q) + q * mp.exp((2 * x - 1) / (2 * sigma**2))
    a, _ = mp.quad(lambda z: mu0(z) * ratio(z)**alpha, (-mp.inf, mp.inf), error=True, maxdegree=8)
    return float(mp.log(a))


def cross_check(rows, logas):
    """Compare with Opacus / dp_accounting when importable (optional)."""
    import importlib.util
    try:  # load rdp.py by path: opacus/__init__ pulls in torch and more
        spec = importlib.util.find_spec("opacus")
        path = list(spec.submodule_search_locations)[0] + "/accountants/analysis/rdp.py"
        spec = importlib.util.spec_from_file_location("opacus_rdp", path)
        ordp = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ordp)
    except Exception:  # pylint: disable=broad-except
        print("(opacus not importable: no cross-check)", file=sys.stderr)
        return
    worst = 0.0
    for q, sigma, steps, delta, ei, oi, _, _ in rows:
        r = ordp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS)
        e, o = ordp.get_privacy_spent(orders=ORDERS, rdp=r, delta=delta)
        worst = max(worst, abs(e - ei) / abs(ei))
        assert o == oi, (q, sigma, steps, o, oi)
    for q, sigma, alpha, la in logas:
        worst = max(worst, abs(ordp._compute_log_a(q, sigma, alpha) - la) / max(abs(la), 1e-300))
    print(f"cross-check against Opacus rdp.py: max rel diff {worst:.3g}", file=sys.stderr)


def main():
    qs = [1e-4, 256 / 60000, 0.01, 0.04, 0.1, 0.5, 0.9, 1.0]
    sigmas = [0.3, 0.7, 1.1, 2.0, 5.0]
    steps_list = [1, 1000, 100000]
    rows = []
    for q in qs:
        for sigma in sigmas:
            for steps in steps_list:
                delta = {1: 1e-3, 1000: 1e-5, 100000: 1e-7}[steps]
                ei, oi = epsilon(q, sigma, steps, delta, classic=False)
                ec, oc = epsilon(q, sigma, steps, delta, classic=True)
                rows.append((q, sigma, steps, delta, ei, oi, ec, oc))
    logas = []
    for q, sigma in [(1e-4, 0.5), (256 / 60000, 1.1), (0.01, 2.5), (0.1, 0.7), (0.5, 1.0), (0.9, 0.3),
                     (0.99, 4.0)]:
        for alpha in [1.1, 1.25, 1.5, 2.0, 2.5, 3.7, 8.0, 10.9, 32.0, 63.0]:
            logas.append((q, sigma, alpha, log_a(q, sigma, alpha)))
    cross_check(rows, logas)
    # the parameter sets of TF Privacy's test_compute_log_a_equals_mp
    tf_mp = [(1e-7, .1, 1.01), (1e-6, .1, 256), (1e-5, .1, 256.1), (1e-6, 1, 27), (1e-4, 1., 1.5),
             (1e-3, 1., 2), (.01, 10, 20), (.1, 100, 20.5), (.99, .1, 256), (.999, 100, 256.1)]
    mps = [(q, sigma, alpha, log_a_mp(q, sigma, alpha)) for q, sigma, alpha in tf_mp]

    f = lambda x: repr(float(x))  # shortest repr that round-trips
    print("// GENERATED by tests/gen_rdp_reference.py (numpy %s, scipy %s): Opacus's formulas"
          % (np.__version__, __import__("scipy").__version__))
    print("// {q, sigma, steps, delta, eps_improved, order_improved, eps_classic, order_classic}")
    print("static const double ref_eps[][8] = {")
    for r in rows:
        print("    {" + ", ".join([f(r[0]), f(r[1]), str(r[2]), f(r[3])] + [f(x) for x in r[4:]]) + "},")
    print("};")
    print("// {q, sigma, alpha, log(A_alpha)}")
    print("static const double ref_log_a[][4] = {")
    for r in logas:
        print("    {" + ", ".join(f(x) for x in r) + "},")
    print("};")
    print("// {q, sigma, alpha, log(A_alpha)} by mpmath quadrature (50 digits), TF Privacy's parameter sets")
    print("static const double ref_log_a_mp[][4] = {")
    for r in mps:
        print("    {" + ", ".join(f(x) for x in r) + "},")
    print("};")
    print("// END GENERATED")


if __name__ == "__main__":
    main()
