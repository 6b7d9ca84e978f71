// test_secagg.c — secure aggregation (src/federated/secagg.c): the recovered
// sum is bit for bit the plain fixed-point sum with and without drop-outs,
// too few survivors is an error (never a wrong sum), a masked vector looks
// uniform to the server, masks change with the round, Shamir sharing needs
// exactly t shares, and the protocol's refusals (both kinds of share,
// reused masks, tampered ciphertexts, bad arguments) hold. Everything runs
// in the INSECURE test-seed mode so the run is reproducible, plus one run
// with OS randomness.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "federated/secagg.h"
#include "harness.h"

// ---------------------------------------------------------------------------
// helpers

static uint64_t lcg(uint64_t *s) { // test data only (splitmix64)
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static float unif(uint64_t *s) { return (float)((lcg(s) >> 40) * (1.0 / 16777216.0)); } // [0,1)

static float **make_updates(int K, size_t n, uint64_t seed, float scale) {
    float **u = calloc((size_t)K, sizeof *u);
    for (int k = 0; k < K; k++) {
        u[k] = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) u[k][i] = scale * (2 * unif(&seed) - 1);
    }
    return u;
}
static void free_updates(float **u, int K) {
    for (int k = 0; k < K; k++) free(u[k]);
    free(u);
}

static dc_secagg_params test_params(int K, int t, size_t n) {
    dc_secagg_params p = dc_secagg_params_default(K, t, n);
    p.insecure_test_seed = true;
    p.test_seed = 1234;
    p.nthreads = 2;
    return p;
}

// Rounds 0 and 1 by hand: clients cl[0..K) and the server ready for masks.
static dc_status setup_round(const dc_secagg_params *p, dc_secagg_client **cl, dc_secagg_server **srv,
                             dc_error *err) {
    const int K = p->n_clients;
    dc_secagg_pubkeys *keys = malloc(sizeof *keys * (size_t)K);
    dc_secagg_ciphertext *mat = malloc(sizeof *mat * (size_t)K * (size_t)K);
    dc_status st = dc_secagg_server_new(srv, p, err);
    for (int k = 0; !st && k < K; k++) {
        st = dc_secagg_client_new(&cl[k], p, k, err);
        if (!st) dc_secagg_client_advertise(cl[k], &keys[k]);
    }
    if (!st) st = dc_secagg_server_set_keys(*srv, keys, err);
    for (int u = 0; !st && u < K; u++) st = dc_secagg_client_share_keys(cl[u], keys, mat + (size_t)u * K, err);
    for (int v = 0; !st && v < K; v++)
        for (int u = 0; !st && u < K; u++)
            if (u != v) st = dc_secagg_client_receive(cl[v], u, mat + (size_t)u * K + v, err);
    free(keys);
    free(mat);
    return st;
}

static void free_round(dc_secagg_client **cl, int K, dc_secagg_server *srv) {
    for (int k = 0; k < K; k++) dc_secagg_client_free(cl[k]);
    dc_secagg_server_free(srv);
}

// ---------------------------------------------------------------------------
// the sum is exact

static void check_sum(int K, int t, size_t n, const bool *dropped, bool test_seed, float scale, const char *what) {
    dc_secagg_params p = test_params(K, t, n);
    p.insecure_test_seed = test_seed;
    p.round = 7;
    float **u = make_updates(K, n, 99 + (uint64_t)K * 1000 + n, scale);
    float *sum = malloc(sizeof(float) * n);
    int64_t *fixed = malloc(sizeof(int64_t) * n);
    int64_t *want_fixed = calloc(n, sizeof(int64_t));
    float *want = malloc(sizeof(float) * n);
    dc_secagg_stats stats;
    dc_error err = {{0}};
    dc_status st = dc_secagg_simulate(&p, (const float *const *)u, dropped, sum, fixed, &stats, &err);
    CHECK(st == DC_OK, "%s: %s", what, err.msg);
    int F = stats.frac_bits;
    for (int k = 0; k < K; k++) {
        if (dropped && dropped[k]) continue;
        for (size_t i = 0; i < n; i++) {
            int64_t q;
            dc_secagg_quantise(u[k][i], p.clip, F, &q);
            want_fixed[i] += q;
        }
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += fixed[i] != want_fixed[i];
    CHECK(st == DC_OK && bad == 0, "%s: %zu of %zu fixed-point sums differ from the plain fixed-point sum", what, bad,
          n);
    int surv = 0;
    for (int k = 0; k < K; k++) surv += !(dropped && dropped[k]);
    CHECK(stats.survivors == surv, "%s: %d survivors reported, want %d", what, stats.survivors, surv);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            if (!(dropped && dropped[k])) s += u[k][i];
        want[i] = (float)s;
    }
    // quantisation: K * 2^-(F+1); float rounding of the result: rtol 2^-23
    char label[128];
    snprintf(label, sizeof label, "%s (F=%d)", what, F);
    dc_check_close(label, sum, want, n, 2.4e-7, K * ldexp(1.0, -F));
    free_updates(u, K);
    free(sum);
    free(fixed);
    free(want_fixed);
    free(want);
}

static void test_exact_sums(void) {
    printf("exact sums\n");
    const size_t ns[] = {1, 7, 1000, 4099};
    for (int ni = 0; ni < 4; ni++) {
        size_t n = ns[ni];
        char w[96];
        snprintf(w, sizeof w, "K=2 t=2 n=%zu none dropped", n);
        check_sum(2, 2, n, NULL, true, 3.0f, w);
        snprintf(w, sizeof w, "K=3 t=2 n=%zu none dropped", n);
        check_sum(3, 2, n, NULL, true, 3.0f, w);
        bool d3[3] = {false, true, false};
        snprintf(w, sizeof w, "K=3 t=2 n=%zu client 1 dropped", n);
        check_sum(3, 2, n, d3, true, 3.0f, w);
        snprintf(w, sizeof w, "K=10 t=7 n=%zu none dropped", n);
        check_sum(10, 7, n, NULL, true, 3.0f, w);
        bool d10[10] = {true, false, false, true, false, false, false, false, false, true};
        snprintf(w, sizeof w, "K=10 t=7 n=%zu clients 0,3,9 dropped", n);
        check_sum(10, 7, n, d10, true, 3.0f, w);
    }
    bool d10b[10] = {false, false, false, false, false, false, false, true, true, true};
    check_sum(10, 7, 1000, d10b, false, 3.0f, "K=10 t=7 OS randomness, 3 dropped");
    check_sum(10, 7, 1000, d10b, true, 5000.0f, "K=10 t=7 large values (|v| < 5000)");
}

static void test_clipping_and_threads(void) {
    printf("clipping, thread count\n");
    const int K = 3;
    const size_t n = 600;
    dc_secagg_params p = test_params(K, 2, n);
    p.clip = 1.0;
    p.frac_bits = 20;
    float **u = make_updates(K, n, 5, 3.0f); // |v| < 3: about 2/3 clipped
    float *s1 = malloc(sizeof(float) * n), *s2 = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n);
    int64_t *f1 = malloc(sizeof(int64_t) * n), *f2 = malloc(sizeof(int64_t) * n);
    size_t want_clipped = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) {
            float v = u[k][i];
            want_clipped += fabsf(v) > 1.0f;
            s += v > 1 ? 1 : v < -1 ? -1 : v;
        }
        want[i] = (float)s;
    }
    dc_secagg_stats st1, st2;
    dc_error err = {{0}};
    p.nthreads = 1;
    dc_status a = dc_secagg_simulate(&p, (const float *const *)u, NULL, s1, f1, &st1, &err);
    CHECK(a == DC_OK, "%s", err.msg);
    p.nthreads = 2;
    dc_status b = dc_secagg_simulate(&p, (const float *const *)u, NULL, s2, f2, &st2, &err);
    CHECK(b == DC_OK, "%s", err.msg);
    CHECK(st1.clipped == want_clipped, "clipped %zu, want %zu", st1.clipped, want_clipped);
    CHECK(st1.frac_bits == 20, "F=%d, want 20 as given", st1.frac_bits);
    CHECK(memcmp(f1, f2, sizeof(int64_t) * n) == 0, "1 and 2 threads give different sums");
    dc_check_close("clipped sum vs sum of clipped floats", s1, want, n, 0, K * ldexp(1.0, -20));
    CHECK(st1.bytes_up > 8.0 * n * K && st1.bytes_down > 0, "bytes up %g down %g", st1.bytes_up, st1.bytes_down);
    free_updates(u, K);
    free(s1), free(s2), free(want), free(f1), free(f2);
}

// ---------------------------------------------------------------------------
// too few survivors: an error, never a sum

static void test_too_few(void) {
    printf("too few survivors\n");
    const int K = 5;
    const size_t n = 10;
    dc_secagg_params p = test_params(K, 3, n);
    float **u = make_updates(K, n, 3, 1.0f);
    float sum[10];
    for (int i = 0; i < 10; i++) sum[i] = 12345.0f;
    bool d[5] = {true, false, true, true, false}; // 2 survivors < t = 3
    dc_error err = {{0}};
    dc_status st = dc_secagg_simulate(&p, (const float *const *)u, d, sum, NULL, NULL, &err);
    printf("  message: %s\n", err.msg);
    CHECK(st == DC_ERR_ARG, "status %d, want DC_ERR_ARG", st);
    CHECK(strstr(err.msg, "only 2 of 5") && strstr(err.msg, "threshold"), "unclear message: %s", err.msg);
    int untouched = 1;
    for (int i = 0; i < 10; i++) untouched &= sum[i] == 12345.0f;
    CHECK(untouched, "sum_out written although the round failed");
    // all survive, but fewer than t answer the unmasking request
    dc_secagg_client *cl[5] = {0};
    dc_secagg_server *srv = NULL;
    st = setup_round(&p, cl, &srv, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    uint64_t masked[10];
    for (int k = 0; !st && k < K; k++) {
        st = dc_secagg_client_mask(cl[k], u[k], masked, &err);
        if (!st) st = dc_secagg_server_add_masked(srv, k, masked, &err);
    }
    bool surv[5];
    dc_secagg_reveal rev[5];
    if (!st) st = dc_secagg_server_unmask_request(srv, surv, &err);
    for (int k = 0; !st && k < 2; k++) {
        st = dc_secagg_client_unmask(cl[k], surv, rev, &err);
        if (!st) st = dc_secagg_server_add_reveals(srv, k, rev, &err);
    }
    CHECK(st == DC_OK, "%s", err.msg);
    st = dc_secagg_server_finish(srv, sum, NULL, &err);
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "only 2 survivors answered"), "status %d: %s", st, err.msg);
    free_round(cl, K, srv);
    free_updates(u, K);
}

// ---------------------------------------------------------------------------
// what the server sees of one client looks uniform

// Chi-square critical value for p-value alpha with df degrees of freedom
// (Wilson-Hilferty; z is the standard normal quantile of 1 - alpha).
static double chi2_crit(int df, double z) {
    double a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

static double byte_chi2(const uint64_t *v, size_t n) {
    double h[256] = {0};
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) h[(v[i] >> (8 * b)) & 255]++;
    double e = 8.0 * n / 256, c = 0;
    for (int i = 0; i < 256; i++) c += (h[i] - e) * (h[i] - e) / e;
    return c;
}

static double worst_bit_z(const uint64_t *v, size_t n) {
    double worst = 0;
    for (int b = 0; b < 64; b++) {
        double ones = 0;
        for (size_t i = 0; i < n; i++) ones += (double)((v[i] >> b) & 1);
        double z = fabs(ones - n / 2.0) / (sqrt((double)n) / 2);
        if (z > worst) worst = z;
    }
    return worst;
}

static void test_uniform(void) {
    printf("masked vectors look uniform\n");
    const int K = 3;
    const size_t n = 100000; // 800 000 bytes
    dc_secagg_params p = test_params(K, 2, n);
    p.frac_bits = 20;
    float *zero = calloc(n, sizeof(float));
    float *small = malloc(sizeof(float) * n);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) small[i] = 0.01f * unif(&seed); // small, positive
    uint64_t *masked = malloc(sizeof(uint64_t) * n), *plain = malloc(sizeof(uint64_t) * n);
    dc_secagg_client *cl[3] = {0};
    dc_secagg_server *srv = NULL;
    dc_error err = {{0}};
    dc_status st = setup_round(&p, cl, &srv, &err);
    if (!st) st = dc_secagg_client_mask(cl[0], zero, masked, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        int64_t q;
        dc_secagg_quantise(small[i], p.clip, 20, &q);
        plain[i] = (uint64_t)q;
    }
    // p < 1e-6 (z = 4.753): a uniform source fails once in a million runs;
    // the run is deterministic, so it either always passes or always fails
    const double crit = chi2_crit(255, 4.753);
    double c_masked = byte_chi2(masked, n), c_plain = byte_chi2(plain, n);
    double z_masked = worst_bit_z(masked, n), z_plain = worst_bit_z(plain, n);
    printf("  byte chi-square (df 255, threshold %.1f at p=1e-6): masked zero update %.1f, unmasked small positive update %.3g\n",
           crit, c_masked, c_plain);
    printf("  worst bit balance |z| over 64 bit positions (threshold 5.5): masked %.2f, unmasked %.3g\n", z_masked,
           z_plain);
    CHECK(c_masked < crit, "masked all-zero update: byte chi-square %.1f >= %.1f", c_masked, crit);
    CHECK(z_masked < 5.5, "masked all-zero update: a bit position is unbalanced, |z| = %.2f", z_masked);
    // the same statistics reject an unmasked vector: the test can fail
    CHECK(c_plain > crit && z_plain > 5.5, "negative control passed as uniform (chi2 %.1f, z %.2f)", c_plain, z_plain);
    free_round(cl, K, srv);
    free(zero), free(small), free(masked), free(plain);
}

// ---------------------------------------------------------------------------
// masks depend on the round (and, in test mode, only on seed and round)

static void mask_of(uint64_t round, uint64_t seed, const float *u, size_t n, uint64_t *out) {
    dc_secagg_params p = test_params(3, 2, n);
    p.round = round;
    p.test_seed = seed;
    dc_secagg_client *cl[3] = {0};
    dc_secagg_server *srv = NULL;
    dc_error err = {{0}};
    dc_status st = setup_round(&p, cl, &srv, &err);
    if (!st) st = dc_secagg_client_mask(cl[1], u, out, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    free_round(cl, 3, srv);
}

static void test_rounds_differ(void) {
    printf("masks of different rounds differ\n");
    const size_t n = 1000;
    float *u = calloc(n, sizeof(float));
    uint64_t *a = malloc(8 * n), *b = malloc(8 * n), *c = malloc(8 * n);
    mask_of(0, 1234, u, n, a);
    mask_of(1, 1234, u, n, b);
    mask_of(0, 1234, u, n, c);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += a[i] == b[i];
    CHECK(same == 0, "%zu of %zu masked words equal across rounds 0 and 1", same, n);
    CHECK(memcmp(a, c, 8 * n) == 0, "test-seed mode is not reproducible");
    free(u), free(a), free(b), free(c);
}

// ---------------------------------------------------------------------------
// Shamir sharing

static void test_shamir(void) {
    printf("Shamir sharing over GF(2^61-1)\n");
    uint8_t secret[32], out[32];
    for (int i = 0; i < 32; i++) secret[i] = (uint8_t)(i * 37 + 11);
    enum { N = 7, T = 4 };
    dc_secagg_share sh[N], pick[N];
    dc_error err = {{0}};
    uint64_t seed = 77;
    dc_status st = dc_secagg_shamir_split(secret, N, T, &seed, sh, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    int ok_t = 0, subsets_t = 0, differ = 0, subsets_t1 = 0, rejected = 0;
    for (int mask = 0; mask < (1 << N); mask++) {
        int k = __builtin_popcount((unsigned)mask);
        if (k != T && k != T - 1) continue;
        int m = 0;
        for (int i = N - 1; i >= 0; i--) // reversed order: order must not matter
            if (mask >> i & 1) pick[m++] = sh[i];
        memset(out, 0, sizeof out);
        dc_status s2 = dc_secagg_shamir_combine(pick, m, out, &err);
        if (k == T) {
            subsets_t++;
            ok_t += s2 == DC_OK && memcmp(out, secret, 32) == 0;
        } else {
            subsets_t1++;
            differ += memcmp(out, secret, 32) != 0;
            rejected += s2 != DC_OK;
        }
    }
    printf("  any %d of %d: %d/%d subsets rebuild the secret; %d shares: %d/%d give a different value (%d flagged "
           "out of range)\n",
           T, N, ok_t, subsets_t, T - 1, differ, subsets_t1, rejected);
    CHECK(subsets_t == 35 && ok_t == subsets_t, "only %d of %d t-subsets rebuild the secret", ok_t, subsets_t);
    CHECK(subsets_t1 == 35 && differ == subsets_t1, "%d of %d (t-1)-subsets gave the secret", subsets_t1 - differ,
          subsets_t1);
    // extreme secrets
    uint8_t ones[32], zeros[32] = {0};
    memset(ones, 0xFF, sizeof ones);
    st = dc_secagg_shamir_split(ones, 3, 2, NULL, sh, &err);
    CHECK(st == DC_OK && dc_secagg_shamir_combine(sh + 1, 2, out, &err) == DC_OK && !memcmp(out, ones, 32),
          "all-ones secret");
    st = dc_secagg_shamir_split(zeros, 3, 3, NULL, sh, &err);
    CHECK(st == DC_OK && dc_secagg_shamir_combine(sh, 3, out, &err) == DC_OK && !memcmp(out, zeros, 32),
          "all-zero secret");
    // bad arguments
    pick[0] = sh[0], pick[1] = sh[0];
    CHECK(dc_secagg_shamir_combine(pick, 2, out, &err) == DC_ERR_ARG, "duplicate x accepted");
    CHECK(dc_secagg_shamir_split(secret, 3, 4, NULL, sh, &err) == DC_ERR_ARG, "t > n accepted");
    CHECK(dc_secagg_shamir_split(secret, 3, 1, NULL, sh, &err) == DC_ERR_ARG, "t = 1 accepted");
}

// ---------------------------------------------------------------------------
// the protocol's refusals

static void test_refusals(void) {
    printf("refusals\n");
    const int K = 4;
    const size_t n = 16;
    dc_secagg_params p = test_params(K, 2, n);
    float **u = make_updates(K, n, 8, 1.0f);
    dc_secagg_client *cl[4] = {0};
    dc_secagg_server *srv = NULL;
    dc_error err = {{0}};
    uint64_t masked[16];
    dc_status st = setup_round(&p, cl, &srv, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    for (int k = 0; !st && k < 3; k++) { // client 3 drops
        st = dc_secagg_client_mask(cl[k], u[k], masked, &err);
        if (!st) st = dc_secagg_server_add_masked(srv, k, masked, &err);
    }
    CHECK(st == DC_OK, "%s", err.msg);
    CHECK(dc_secagg_client_mask(cl[0], u[0], masked, &err) == DC_ERR_ARG && strstr(err.msg, "never be reused"),
          "second mask accepted: %s", err.msg);
    CHECK(dc_secagg_server_add_masked(srv, 1, masked, &err) == DC_ERR_ARG, "second masked vector accepted");
    bool surv[4];
    dc_secagg_reveal rev[4];
    st = dc_secagg_server_unmask_request(srv, surv, &err);
    CHECK(st == DC_OK && surv[0] && surv[1] && surv[2] && !surv[3], "survivors wrong: %s", err.msg);
    CHECK(dc_secagg_server_add_masked(srv, 3, masked, &err) == DC_ERR_ARG, "late masked vector accepted");
    CHECK(dc_secagg_client_unmask(cl[3], surv, rev, &err) == DC_ERR_ARG, "a client that never masked answered");
    st = dc_secagg_client_unmask(cl[0], surv, rev, &err);
    CHECK(st == DC_OK && rev[3].kind == DC_SECAGG_REVEAL_SECRET_KEY && rev[1].kind == DC_SECAGG_REVEAL_SELF_MASK,
          "reveal kinds wrong: %s", err.msg);
    // a (malicious) second request claiming client 3 survived and client 2 dropped
    bool liar[4] = {true, true, false, true};
    st = dc_secagg_client_unmask(cl[0], liar, rev, &err);
    printf("  both kinds: %s\n", err.msg);
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "both would unmask"), "client revealed both kinds: %s", err.msg);
    bool self_dropped[4] = {true, false, true, false};
    CHECK(dc_secagg_client_unmask(cl[1], self_dropped, rev, &err) == DC_ERR_ARG, "answered although listed dropped");
    bool too_few[4] = {false, true, false, false};
    CHECK(dc_secagg_client_unmask(cl[1], too_few, rev, &err) == DC_ERR_ARG && strstr(err.msg, "fewer than"),
          "answered a request below the threshold: %s", err.msg);
    // the server checks kinds against its own survivor list
    st = dc_secagg_client_unmask(cl[1], surv, rev, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    rev[2].kind = DC_SECAGG_REVEAL_SECRET_KEY;
    CHECK(dc_secagg_server_add_reveals(srv, 1, rev, &err) == DC_ERR_FORMAT, "server took a key share of a survivor");
    rev[2].kind = DC_SECAGG_REVEAL_SELF_MASK;
    CHECK(dc_secagg_server_add_reveals(srv, 3, rev, &err) == DC_ERR_ARG, "server took reveals from a dropped client");
    free_round(cl, K, srv);

    // a tampered share ciphertext fails authentication
    dc_secagg_client *a = NULL, *b = NULL;
    dc_secagg_params p2 = test_params(2, 2, 4);
    dc_secagg_pubkeys keys[2];
    dc_secagg_ciphertext ca[2], cb[2];
    st = dc_secagg_client_new(&a, &p2, 0, &err);
    if (!st) st = dc_secagg_client_new(&b, &p2, 1, &err);
    if (!st) {
        dc_secagg_client_advertise(a, &keys[0]);
        dc_secagg_client_advertise(a, &keys[1]); // a server replaying a's keys as b's
        CHECK(dc_secagg_client_share_keys(a, keys, ca, &err) == DC_ERR_ARG && strstr(err.msg, "are equal"),
              "duplicate advertised keys accepted: %s", err.msg);
        CHECK(dc_secagg_client_share_keys(b, keys, cb, &err) == DC_ERR_ARG && strstr(err.msg, "own keys"),
              "a key list without the client's own keys accepted: %s", err.msg);
        dc_secagg_client_advertise(b, &keys[1]);
        st = dc_secagg_client_share_keys(a, keys, ca, &err);
    }
    if (!st) st = dc_secagg_client_share_keys(b, keys, cb, &err);
    CHECK(st == DC_OK, "%s", err.msg);
    float up[4] = {0};
    CHECK(dc_secagg_client_mask(a, up, masked, &err) == DC_ERR_ARG, "masked before receiving shares");
    ca[1].box[5] ^= 1;
    CHECK(dc_secagg_client_receive(b, 0, &ca[1], &err) == DC_ERR_FORMAT && strstr(err.msg, "authentication"),
          "tampered ciphertext accepted: %s", err.msg);
    ca[1].box[5] ^= 1;
    CHECK(dc_secagg_client_receive(b, 0, &ca[1], &err) == DC_OK, "%s", err.msg);
    CHECK(dc_secagg_client_receive(b, 0, &ca[1], &err) == DC_ERR_ARG, "duplicate ciphertext accepted");
    CHECK(dc_secagg_client_receive(a, 1, &cb[0], &err) == DC_OK, "%s", err.msg);
    up[2] = NAN;
    CHECK(dc_secagg_client_mask(a, up, masked, &err) == DC_ERR_NUMERIC, "NaN update accepted");
    dc_secagg_client_free(a);
    dc_secagg_client_free(b);
    free_updates(u, K);
}

static void test_bad_args(void) {
    printf("bad arguments\n");
    dc_error err = {{0}};
    int F;
    dc_secagg_params p = test_params(3, 4, 10);
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG && strstr(err.msg, "threshold"), "t > K: %s", err.msg);
    printf("  t > K: %s\n", err.msg);
    p = test_params(3, 1, 10);
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG, "t = 1 accepted");
    p = test_params(3, 2, 0);
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG && strstr(err.msg, "length n"), "n = 0: %s", err.msg);
    p = test_params(1, 1, 10);
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG, "one client accepted");
    p = test_params(3, 2, 10);
    p.clip = 0;
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG, "clip 0 accepted");
    p.clip = 1e6;
    p.frac_bits = 45; // 3 * 1e6 * 2^45 > 2^62
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_ERR_ARG && strstr(err.msg, "overflow"), "overflow: %s", err.msg);
    p.frac_bits = 0;
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_OK && F == 40, "auto F = %d, want 40 (3 * 1e6 * 2^40 < 2^62)",
          F);
    p = test_params(10, 7, 4);
    CHECK(dc_secagg_params_check(&p, &F, &err) == DC_OK && F == 42, "default R = 2^16, K = 10: F = %d, want 42", F);
    p = test_params(3, 4, 10);
    float *ups[3] = {0};
    float out[10];
    CHECK(dc_secagg_simulate(&p, (const float *const *)ups, NULL, out, NULL, NULL, &err) == DC_ERR_ARG,
          "simulate took t > K");
    dc_secagg_client *c = NULL;
    p = test_params(3, 2, 10);
    CHECK(dc_secagg_client_new(&c, &p, 3, &err) == DC_ERR_ARG && c == NULL, "client id out of range accepted");
    // quantiser: round half up, clipping flagged
    int64_t q;
    CHECK(dc_secagg_quantise(0.5f, 1, 1, &q) == 0 && q == 1, "0.5 * 2 -> %lld", (long long)q);
    CHECK(dc_secagg_quantise(-0.75f, 1, 1, &q) == 0 && q == -1, "-0.75 * 2 = -1.5 -> %lld (half up: -1)",
          (long long)q);
    CHECK(dc_secagg_quantise(-3.0f, 1, 4, &q) == 1 && q == -16, "-3 clipped to -1 -> %lld", (long long)q);
}

int main(void) {
    test_bad_args();
    test_shamir();
    test_exact_sums();
    test_clipping_and_threads();
    test_too_few();
    test_uniform();
    test_rounds_differ();
    test_refusals();
    return dc_test_finish();
}
