// privacy.c — `deepc privacy`: the (epsilon, delta) that DP-SGD spends, or the
// noise multiplier a target epsilon needs, from the RDP accountant
// (src/privacy/rdp.c; Opacus's formulas and orders).
//
//   deepc privacy --sample-rate Q --noise SIGMA --steps T [--delta D] [--json]
//   deepc privacy --sample-rate Q --steps T --target-epsilon E [--delta D]
//   (--epochs E --batch B --n N in place of --sample-rate/--steps:
//    q = B/N and steps = E * round(1/q), the lots deepc train --dp runs per
//    epoch; Opacus's int(E/q) can be given with --steps)
//
// Every number is parsed here as a double (the shared parser reads floats,
// and 256/60000 or 1e-5 as a float would move epsilon in the 7th digit);
// each bad value is a one-line error and exit status 2. The solver's failure
// (an unreachable target) is exit status 1.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "privacy/rdp.h"

#define VERB "privacy"

static bool parse_double(const char *opt, const char *s, double *v) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x)) {
        fprintf(stderr, "deepc " VERB ": --%s '%s': expected a number\n", opt, s);
        return false;
    }
    *v = x;
    return true;
}

static bool parse_long(const char *opt, const char *s, long *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        fprintf(stderr, "deepc " VERB ": --%s '%s': expected an integer\n", opt, s);
        return false;
    }
    *v = x;
    return true;
}

static void usage(const dc_opt *opts) {
    printf("usage: deepc " VERB " --sample-rate Q --noise SIGMA --steps T [--delta D] [--json]\n"
           "       deepc " VERB " --sample-rate Q --steps T --target-epsilon E [--delta D] [--json]\n"
           "       (--epochs E --batch B --n N may replace --sample-rate and --steps:\n"
           "        q = B/N, steps = E * round(1/q), as deepc train --dp runs them; for\n"
           "        Opacus's count give --steps int(E/q))\n\n"
           "Epsilon of DP-SGD with Poisson sampling (rate q) and Gaussian noise (multiplier sigma)\n"
           "after T steps, by the Renyi-DP accountant of the sampled Gaussian mechanism\n"
           "(Mironov, Talwar & Zhang 2019) over Opacus's 151 orders 1.1..63. The default\n"
           "conversion to (epsilon, delta) is the improved one of Balle et al. 2020, which current\n"
           "Opacus reports; --conversion classic gives Mironov 2017's (TF Privacy before 2020).\n\n"
           "options:\n");
    for (const dc_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name,
                 o->type == OPT_FLAG                                           ? ""
                 : !strcmp(o->name, "conversion")                              ? " NAME"
                 : !strcmp(o->name, "steps") || !strcmp(o->name, "batch") || !strcmp(o->name, "n") ? " N"
                                                                               : " X");
        printf("  %-22s %s\n", left, o->help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

// sigma rounded UP to 6 significant digits, so that the printed value, used
// as is, still meets the target (epsilon decreases in sigma)
static double round_up6(double s) {
    double p = pow(10.0, 5 - floor(log10(s)));
    double up = ceil(s * p) / p;
    return up >= s ? up : s;
}

static const char *edge_note(double order) {
    if (order == 1.1) return "the smallest";
    if (order == 63) return "the largest";
    return NULL;
}

int cmd_privacy(int argc, char **argv) {
    const char *s_q = NULL, *s_noise = NULL, *s_steps = NULL, *s_delta = "1e-5", *s_target = NULL,
               *s_epochs = NULL, *s_batch = NULL, *s_n = NULL, *s_conv = "improved";
    bool json = false;
    dc_opt opts[] = {
        {"sample-rate", OPT_STR, &s_q, "Poisson sample rate q in (0, 1] (expected lot size / data set size)"},
        {"noise", OPT_STR, &s_noise, "noise multiplier sigma > 0 (noise std / clip norm)"},
        {"steps", OPT_STR, &s_steps, "number of DP-SGD steps T >= 1"},
        {"delta", OPT_STR, &s_delta, "delta in (0, 1) [1e-5]"},
        {"target-epsilon", OPT_STR, &s_target, "instead of --noise: print the sigma that reaches this epsilon"},
        {"epochs", OPT_STR, &s_epochs, "instead of --steps: epochs E > 0 (steps = E * round(1/q), as deepc train --dp)"},
        {"batch", OPT_STR, &s_batch, "with --n, instead of --sample-rate: expected lot size B (q = B / N)"},
        {"n", OPT_STR, &s_n, "with --batch: training set size N"},
        {"conversion", OPT_STR, &s_conv, "improved (Balle et al. 2020, Opacus) or classic (Mironov 2017) "
                                         "[improved]"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 0, &n_pos, &help, VERB)) {
        if (help) {
            usage(opts);
            return 0;
        }
        return 2;
    }
#define BAD(...)                                                                                                 \
    do {                                                                                                         \
        fprintf(stderr, "deepc " VERB ": " __VA_ARGS__);                                                        \
        fputc('\n', stderr);                                                                                     \
        return 2;                                                                                                \
    } while (0)

    // which options define q, the steps and the question
    if (s_q && (s_batch || s_n)) BAD("give either --sample-rate or --batch and --n, not both");
    if (!s_q && !(s_batch && s_n)) {
        if (s_batch || s_n) BAD("--batch and --n go together (q = batch / n)");
        BAD("the sample rate is missing: give --sample-rate Q, or --batch B and --n N (see deepc " VERB " --help)");
    }
    if (s_steps && s_epochs) BAD("give either --steps or --epochs, not both");
    if (!s_steps && !s_epochs) BAD("the number of steps is missing: give --steps T or --epochs E");
    if (s_noise && s_target) BAD("give either --noise (to get epsilon) or --target-epsilon (to get sigma), not both");
    if (!s_noise && !s_target) BAD("give --noise SIGMA (to get epsilon) or --target-epsilon E (to get sigma)");
    dc_rdp_conversion conv;
    if (!strcmp(s_conv, "improved")) conv = DC_RDP_IMPROVED;
    else if (!strcmp(s_conv, "classic")) conv = DC_RDP_CLASSIC;
    else BAD("--conversion '%s': expected improved or classic", s_conv);

    double q = 0, sigma = 0, delta = 0, target = 0, epochs = 0;
    long steps = 0, batch = 0, n = 0;
    if (s_q) {
        if (!parse_double("sample-rate", s_q, &q)) return 2;
        if (!(q > 0 && q <= 1))
            BAD("--sample-rate %s: expected a value in (0, 1] (expected lot size / data set size)", s_q);
    } else {
        if (!parse_long("batch", s_batch, &batch) || !parse_long("n", s_n, &n)) return 2;
        if (batch < 1) BAD("--batch %s: expected at least 1", s_batch);
        if (n < 1) BAD("--n %s: expected at least 1", s_n);
        if (batch > n) BAD("--batch %ld is larger than --n %ld: the sample rate would exceed 1", batch, n);
        q = (double)batch / (double)n;
    }
    if (s_steps) {
        if (!parse_long("steps", s_steps, &steps)) return 2;
        if (steps < 1) BAD("--steps %s: expected at least 1", s_steps);
    } else {
        if (!parse_double("epochs", s_epochs, &epochs)) return 2;
        if (!(epochs > 0)) BAD("--epochs %s: expected a value > 0", s_epochs);
        // deepc train --dp: round(1/q) Poisson lots per epoch (lround(1.0 / q)
        // in src/train/train.c, the same expression), so the epsilon printed
        // here is the one training reports
        double t = floor(epochs * (double)lround(1.0 / q));
        if (t < 1) BAD("--epochs %s at sample rate %g gives no whole step (steps = epochs * round(1/q))", s_epochs, q);
        if (t > 1e15) BAD("--epochs %s at sample rate %g gives too many steps (%g)", s_epochs, q, t);
        steps = (long)t;
    }
    if (!parse_double("delta", s_delta, &delta)) return 2;
    if (!(delta > 0 && delta < 1)) BAD("--delta %s: expected a value in (0, 1), e.g. 1e-5 (below 1/n)", s_delta);
    if (s_noise) {
        if (!parse_double("noise", s_noise, &sigma)) return 2;
        if (!(sigma > 0)) BAD("--noise %s: expected a noise multiplier > 0", s_noise);
    } else {
        if (!parse_double("target-epsilon", s_target, &target)) return 2;
        if (!(target > 0)) BAD("--target-epsilon %s: expected a value > 0", s_target);
    }
#undef BAD

    dc_error err;
    if (s_target) {
        double solved;
        if (dc_rdp_solve_sigma_conv(q, steps, delta, target, conv, &solved, &err)) return cli_fail(VERB, &err);
        sigma = round_up6(solved);
    }
    dc_rdp r;
    if (dc_rdp_init(&r, q, sigma, NULL, 0, &err)) return cli_fail(VERB, &err);
    double oi, oc;
    double ei = dc_rdp_epsilon_after(&r, steps, delta, DC_RDP_IMPROVED, &oi);
    double ec = dc_rdp_epsilon_after(&r, steps, delta, DC_RDP_CLASSIC, &oc);
    double eps = conv == DC_RDP_CLASSIC ? ec : ei, order = conv == DC_RDP_CLASSIC ? oc : oi;
    const char *conv_name = conv == DC_RDP_CLASSIC ? "classic" : "improved";

    if (json) {
        cJSON *j = cJSON_CreateObject();
        if (s_target) cJSON_AddNumberToObject(j, "target_epsilon", target);
        cJSON_AddNumberToObject(j, "sample_rate", q);
        cJSON_AddNumberToObject(j, "noise", sigma);
        cJSON_AddNumberToObject(j, "steps", (double)steps);
        cJSON_AddNumberToObject(j, "delta", delta);
        if (s_batch) {
            cJSON_AddNumberToObject(j, "batch", (double)batch);
            cJSON_AddNumberToObject(j, "n", (double)n);
        }
        if (s_epochs) cJSON_AddNumberToObject(j, "epochs", epochs);
        cJSON_AddStringToObject(j, "conversion", conv_name);
        cli_json_add(j, "epsilon", eps, 0);
        cli_json_add(j, "order", order, 0);
        cli_json_add(j, "epsilon_improved", ei, 0);
        cli_json_add(j, "order_improved", oi, 0);
        cli_json_add(j, "epsilon_classic", ec, 0);
        cli_json_add(j, "order_classic", oc, 0);
        cJSON_AddStringToObject(j, "accountant", "RDP of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019), "
                                                 "Opacus orders 1.1..63");
        return cli_json_print(j) ? 0 : 1;
    }
    if (s_target)
        printf("noise multiplier sigma = %.6g reaches epsilon %.4g at delta %g (epsilon %.6g, optimal RDP order %g)\n",
               sigma, target, delta, eps, order);
    else
        printf("epsilon = %.4f at delta %g (optimal RDP order %g)\n", eps, delta, order);
    printf("  DP-SGD: sample rate q = %.6g", q);
    if (s_batch) printf(" (batch %ld / n %ld)", batch, n);
    printf(", %ld step%s", steps, steps == 1 ? "" : "s");
    if (s_epochs) printf(" (%g epochs, steps = epochs * round(1/q), as deepc train --dp)", epochs);
    if (!s_target) printf(", noise multiplier %g", sigma);
    printf("\n  accountant: Renyi DP of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019),"
           " %d orders 1.1..63 (Opacus)\n", r.n_orders);
    if (conv == DC_RDP_IMPROVED)
        printf("  conversion: improved (Balle et al. 2020, as Opacus reports); the classic one "
               "(Mironov 2017, TF Privacy before 2020) gives epsilon %.4f at order %g\n", ec, oc);
    else
        printf("  conversion: classic (Mironov 2017, TF Privacy before 2020); the improved one "
               "(Balle et al. 2020, Opacus) gives epsilon %.4f at order %g\n", ei, oi);
    const char *edge = edge_note(order);
    if (edge)
        printf("  note: the optimal order is %s of the list, so epsilon may be loose (a wider range of orders "
               "could tighten it)\n", edge);
    return 0;
}
