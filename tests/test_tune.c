// test_tune.c — the hyperparameter search (src/tune) on deterministic fake
// objectives, so every expectation is computed here independently:
//   - ASHA promotes exactly the top floor(n/eta) of every rung (by the
//     metric at that rung's epochs, ties to the lower id), every unit runs
//     once, the epochs spent are what the rungs say; 1 and 4 workers give
//     the same search; random search trains every trial to the budget;
//   - a failed trial is recorded, ranked last and never trained again; any
//     other objective error stops the search;
//   - resume after a crash: the journal on disk holds every finished unit,
//     the resumed search runs only the others, and ends where an
//     uninterrupted search ends;
//   - the journal round-trips, and an edited one is refused;
//   - malformed search spaces are refused naming the line and the key;
//   - sampling stays in range and follows its distribution; same seed, same
//     trials;
//   - the HTML page is self-contained and deterministic; training options
//     table lookups and suggestions;
//   - TPE: the Parzen estimator's kernels and log densities against values
//     computed with numpy from Optuna's rule (the script is beside the
//     test); on a fake objective with a known optimum the later brackets
//     draw nearer it than bracket 0 and the search beats random draws of the
//     same seed; 1 and 3 workers give the same search; a search killed
//     mid-bracket resumes to the uninterrupted journal, byte for byte; an
//     edited TPE trial is refused naming it; bad --brackets refused.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "core/core.h"
#include "tune/tpe.h"
#include "tune/tune.h"

static const char *SPACE = "{\n  \"lr\": {\"log_uniform\": [0.001, 0.1]},\n  \"momentum\": {\"choice\": [0.0, 0.9]},\n"
                           "  \"batch\": {\"int\": [16, 128]}\n}\n";

// A metric that reorders the trials from one epoch to the next.
static double fake_metric(int id, int e) {
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull + (uint64_t)e * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    return (double)(h >> 11) / 9007199254740992.0;
}

typedef struct fake {
    int calls;
    int log[4096][3];  // (id, from, to) of every call
    int fail_id;       // this trial diverges (DC_ERR_NUMERIC), -1: none
    int crash_after;   // the call after this many returns DC_ERR_IO (a kill), -1: never
} fake;

// Records one objective call (trial, from, to) in log (4096 rows); returns its index.
static int log_call(int *calls, int (*log)[3], const dc_tune_trial *t, int from, int to) {
    int k;
#pragma omp critical(fake_log)
    {
        k = (*calls)++;
        if (k < 4096) log[k][0] = t->id, log[k][1] = from, log[k][2] = to;
    }
    return k;
}

static dc_status fake_obj(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to, double *curve,
                          double *seconds, dc_error *err) {
    fake *f = user;
    const int k = log_call(&f->calls, f->log, t, from, to);
    *seconds = 0;
    if (f->crash_after >= 0 && k >= f->crash_after) return dc_fail(err, DC_ERR_IO, "killed");
    if (t->id == f->fail_id) return dc_fail(err, DC_ERR_NUMERIC, "diverged (fake)");
    CHECK(from == t->epochs && to > from && to <= tu->s.budget, "unit %d: %d -> %d at epochs %d", t->id, from, to,
          t->epochs);
    for (int e = from; e < to; e++) curve[e - from] = fake_metric(t->id, e + 1);
    return DC_OK;
}

static dc_tune_space space_of(const char *text) {
    dc_tune_space sp;
    dc_error err;
    if (dc_tune_space_parse(&sp, text, strlen(text), "space", &err)) {
        printf("space: %s\n", err.msg);
        exit(2);
    }
    return sp;
}

static void new_search(dc_tune *tu, dc_tune_scheduler sch, int n, int budget, int eta, int grace) {
    dc_tune_space sp = space_of(SPACE);
    dc_tune_settings s = {.scheduler = sch, .n_trials = n, .budget = budget, .eta = eta, .grace = grace, .seed = 7};
    dc_error err;
    if (dc_tune_init(tu, &s, &sp, SPACE, "{\"tool\":\"test\"}", &err)) {
        printf("init: %s\n", err.msg);
        exit(2);
    }
}

typedef struct { int id; double m; } key;
static int by_m(const void *a, const void *b) {
    const key *x = a, *y = b;
    if (x->m != y->m) return x->m > y->m ? -1 : 1;
    return x->id - y->id;
}

// The expected epochs of every trial, computed from the rules alone.
static void expected_epochs(int *want, int n, int n_rungs, const int *rung_epochs, int eta) {
    int ids[1024], m = n;
    key k[1024];
    for (int i = 0; i < n; i++) ids[i] = i, want[i] = rung_epochs[0];
    for (int r = 1; r < n_rungs; r++) {
        for (int i = 0; i < m; i++) k[i] = (key){ids[i], fake_metric(ids[i], rung_epochs[r - 1])};
        qsort(k, (size_t)m, sizeof *k, by_m);
        m = m / eta > 0 ? m / eta : 1;
        for (int i = 0; i < m; i++) ids[i] = k[i].id, want[k[i].id] = rung_epochs[r];
    }
}

static void test_asha_promotions(int parallel, char **journal_out) {
    dc_tune tu;
    new_search(&tu, DC_TUNE_ASHA, 27, 9, 3, 1);
    CHECK(tu.n_rungs == 3 && tu.rung_epochs[0] == 1 && tu.rung_epochs[1] == 3 && tu.rung_epochs[2] == 9 &&
              tu.rung_size[0] == 27 && tu.rung_size[1] == 9 && tu.rung_size[2] == 3,
          "rungs of 27 trials, eta 3, grace 1, budget 9");
    fake *f = calloc(1, sizeof *f);
    f->fail_id = -1;
    f->crash_after = -1;
    dc_error err;
    CHECK(dc_tune_run(&tu, fake_obj, f, parallel, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int want[27];
    expected_epochs(want, 27, 3, tu.rung_epochs, 3);
    int wrong = 0, in1 = 0, in2 = 0;
    for (int i = 0; i < 27; i++) {
        wrong += tu.trials[i].epochs != want[i];
        in1 += want[i] >= 3;
        in2 += want[i] == 9;
        for (int e = 0; e < tu.trials[i].epochs; e++) wrong += tu.trials[i].curve[e] != fake_metric(i, e + 1);
    }
    CHECK(wrong == 0 && in1 == 9 && in2 == 3, "parallel %d: %d trials or curves differ from the top-1/eta rule", parallel,
          wrong);
    CHECK(f->calls == 27 + 9 + 3, "parallel %d: %d units run, expected 39", parallel, f->calls);
    CHECK(dc_tune_total_epochs(&tu) == 27 * 1 + 9 * 2 + 3 * 6, "epochs spent %ld, expected 63", dc_tune_total_epochs(&tu));
    // each (trial, from) at most once
    int dup = 0;
    for (int a = 0; a < f->calls; a++)
        for (int b = a + 1; b < f->calls; b++) dup += f->log[a][0] == f->log[b][0] && f->log[a][1] == f->log[b][1];
    CHECK(dup == 0, "%d units ran twice", dup);
    // the best: rung 2's best at epoch 9
    int best = dc_tune_best(&tu), exp_best = -1;
    for (int i = 0; i < 27; i++)
        if (want[i] == 9 && (exp_best < 0 || fake_metric(i, 9) > fake_metric(exp_best, 9))) exp_best = i;
    CHECK(best == exp_best, "best trial %d, expected %d", best, exp_best);
    CHECK(dc_tune_finished(&tu), "the search is finished");
    printf("  ASHA 27 trials, eta 3, %d worker%s: promoted 9 then 3, 39 units, 63 epochs, best %d\n", parallel,
           parallel > 1 ? "s" : "", best);
    if (journal_out) {
        *journal_out = dc_tune_journal_json(&tu);
    }
    free(f);
    dc_tune_free(&tu);
}

static void test_rung_shapes(void) {
    int n, ep[DC_TUNE_MAX_RUNGS], sz[DC_TUNE_MAX_RUNGS];
    dc_error err;
    dc_tune_settings s = {.scheduler = DC_TUNE_ASHA, .n_trials = 10, .budget = 20, .eta = 3, .grace = 2, .seed = 1};
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_OK && n == 4 && ep[0] == 2 && ep[1] == 6 && ep[2] == 18 &&
              ep[3] == 20 && sz[0] == 10 && sz[1] == 3 && sz[2] == 1 && sz[3] == 1,
          "10 trials, eta 3, grace 2, budget 20: rungs 2/6/18/20 of 10/3/1/1");
    s.eta = 1;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_ERR_ARG && strstr(err.msg, "--eta"), "eta 1 refused");
    s.eta = 4;
    s.grace = 21;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_ERR_ARG && strstr(err.msg, "--grace"), "grace above budget refused");
    s.grace = 20;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_OK && n == 1 && ep[0] == 20, "grace = budget: one rung");
    // random search: every trial to the budget
    dc_tune tu;
    new_search(&tu, DC_TUNE_RANDOM, 12, 5, 3, 1);
    fake f = {.fail_id = 4, .crash_after = -1};
    CHECK(dc_tune_run(&tu, fake_obj, &f, 3, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int all = 1;
    for (int i = 0; i < 12; i++) all &= tu.trials[i].epochs == 5;
    CHECK(all && f.calls == 12, "random search: 12 trials x 5 epochs in 12 units (%d)", f.calls);
    CHECK(strstr(tu.trials[4].error, "diverged") && isnan(tu.trials[4].curve[0]) && dc_tune_best(&tu) != 4,
          "a failed trial is recorded and not the best");
    dc_tune_free(&tu);
    // a failed trial is never trained again, even when promoted
    new_search(&tu, DC_TUNE_ASHA, 3, 9, 3, 3);
    fake g = {.fail_id = 0, .crash_after = -1};
    // trial 0 fails in rung 0; rung 1 keeps 1 trial: not trial 0 (ranked last)
    CHECK(dc_tune_run(&tu, fake_obj, &g, 1, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int calls0 = 0;
    for (int c = 0; c < g.calls; c++) calls0 += g.log[c][0] == 0;
    CHECK(calls0 == 1 && tu.trials[0].epochs == 3, "failed trial trained %d times", calls0);
    dc_tune_free(&tu);
    // any other error stops the search and says so
    new_search(&tu, DC_TUNE_ASHA, 9, 9, 3, 1);
    fake h = {.fail_id = -1, .crash_after = 2};
    CHECK(dc_tune_run(&tu, fake_obj, &h, 1, NULL, NULL, NULL, &err) == DC_ERR_IO && strstr(err.msg, "killed"),
          "an I/O error stops the search: %s", err.msg);
    dc_tune_free(&tu);
}

static void test_resume(int parallel) {
    char path[512];
    snprintf(path, sizeof path, "%s/journal-%d.json", dc_test_tmpdir(), parallel);
    dc_error err;
    // the uninterrupted search, for reference
    dc_tune ref;
    new_search(&ref, DC_TUNE_ASHA, 27, 9, 3, 1);
    fake *f = calloc(1, sizeof *f);
    f->fail_id = 5;
    f->crash_after = -1;
    dc_tune_run(&ref, fake_obj, f, 1, NULL, NULL, NULL, &err);
    const int ref_calls = f->calls;
    // a search killed after 20 units (mid rung 0 for some, into rung 1 for others)
    dc_tune tu;
    new_search(&tu, DC_TUNE_ASHA, 27, 9, 3, 1);
    dc_tune_set_journal(&tu, path, &err);
    memset(f, 0, sizeof *f);
    f->fail_id = 5;
    f->crash_after = 31;
    CHECK(dc_tune_run(&tu, fake_obj, f, parallel, NULL, NULL, NULL, &err) == DC_ERR_IO, "the crash");
    const long finished = tu.units_run;
    dc_tune_free(&tu);
    dc_tune back;
    if (dc_tune_load(&back, path, &err)) {
        CHECK(false, "%s", err.msg);
        return;
    }
    long on_disk = 0;
    int epochs_before[27];
    for (int i = 0; i < 27; i++) {
        epochs_before[i] = back.trials[i].epochs;
        on_disk += back.trials[i].runs;
    }
    // with parallel units, one may finish after another's crash and never reach
    // the journal: the journal is what a resume trusts, so count from it
    CHECK(on_disk <= finished && on_disk >= finished - (parallel - 1) && on_disk >= 31 - parallel,
          "journal holds %ld finished units of %ld", on_disk, finished);
    memset(f, 0, sizeof *f);
    f->fail_id = 5;
    f->crash_after = -1;
    CHECK(dc_tune_run(&back, fake_obj, f, parallel, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int repeated = 0;
    for (int c = 0; c < f->calls; c++) repeated += f->log[c][1] < epochs_before[f->log[c][0]];
    CHECK(repeated == 0, "%d finished units ran again after the resume", repeated);
    CHECK(on_disk + f->calls == ref_calls, "journaled %ld + resumed %d units != %d uninterrupted", on_disk, f->calls,
          ref_calls);
    int diff = 0;
    for (int i = 0; i < 27; i++) {
        diff += back.trials[i].epochs != ref.trials[i].epochs || strcmp(back.trials[i].error, ref.trials[i].error);
        for (int e = 0; e < ref.trials[i].epochs; e++)
            diff += !(back.trials[i].curve[e] == ref.trials[i].curve[e] ||
                      (isnan(back.trials[i].curve[e]) && isnan(ref.trials[i].curve[e])));
    }
    CHECK(diff == 0 && dc_tune_best(&back) == dc_tune_best(&ref), "the resumed search ends elsewhere (%d diffs)", diff);
    printf("  resume (%d worker%s): %ld units before the crash, %d after, none repeated\n", parallel,
           parallel > 1 ? "s" : "", finished, f->calls);
    // the finished journal reloads to the same text
    dc_tune again;
    CHECK(dc_tune_load(&again, path, &err) == DC_OK, "%s", err.msg);
    char *a = dc_tune_journal_json(&back), *b = dc_tune_journal_json(&again);
    CHECK(a && b && !strcmp(a, b), "journal does not round-trip");
    // an edited value is refused
    char *lr = strstr(b, "\"values\":");
    if (!lr) lr = strstr(b, "\"values\"");
    char *digit = lr ? strpbrk(lr, "123456789") : NULL;
    if (digit) *digit = *digit == '9' ? '8' : (char)(*digit + 1);
    dc_tune bad;
    CHECK(dc_tune_parse_journal(&bad, b, strlen(b), "edited.json", &err) == DC_ERR_FORMAT &&
              strstr(err.msg, "trials[0].values"),
          "an edited journal: %s", err.msg);
    free(a);
    free(b);
    dc_tune_free(&again);
    dc_tune_free(&back);
    dc_tune_free(&ref);
    free(f);
}

static void test_malformed_spaces(void) {
    struct {
        const char *text, *needle1, *needle2;
    } cases[] = {
        {"{\"lr\": {\"log_uniform\": [0.1, 0.01]}}", "space:1:", "0 < lo < hi"},
        {"{\n  \"lr\": {\"log_uniform\": [0.001, 0.1]},\n  \"momentm\": {\"choice\": [0.9]}\n}", "space:3:",
         "did you mean \"momentum\""},
        {"{\n  \"lr\": {\"uniform\": [0.1, ]}\n}", "space:2:", "malformed JSON"},
        {"{\"batch\": {\"choice\": [32, \"64\"]}}", "space:1:", "\"batch\": choice"},
        {"{\"lr\": {\"int\": [1, 3]}}", "\"lr\": int", "not an integer option"},
        {"{\n\n\"momentum\": {\"uniform\": [0.5, 1.5]}}", "space:3:", "outside the option's range"},
        {"{\"lr\": {\"choice\": [0.1]},\n \"lr\": {\"choice\": [0.2]}}", "space:2:", "given twice"},
        {"{\"lr\": {\"choice\": [0.1],\n  \"uniform\": [0, 1]}}", "space:2:", "one distribution per option"},
        {"[1, 2]", "space:1:", "expected a JSON object"},
        {"{}", "space:1:", "names no option"},
        {"{\"lr\": {\"choice\": [0.1]}}\nx", "space:2:", "text after the JSON"},
        {"{\"optim\": {\"choice\": [\"sgd\", \"rmsprop\"]}}", "\"rmsprop\"", "one of \"sgd\""},
        {"{\"epochs\": {\"int\": [1, 9]}}", "\"epochs\"", "--budget"},
        {"{\"lr\": {\"normal\": [0, 1]}}", "\"normal\"", "unknown distribution"},
        {"{\"lr\": 0.1}", "\"lr\"", "expected an object"},
        {"{\"lr\": {\"choice\": []}}", "\"lr\": choice", "1 to 32"},
        {"{\"lr\": {\"choice\": [0.1, 0.1]}}", "\"lr\": choice", "repeats"},
        {"{\"lr\": {\"log_uniform\": [0, 0.1]}}", "\"lr\"", "outside the option's range"},
        {"{\"hflip\": {\"choice\": [1, 0]}}", "\"hflip\"", "true or false"},
        {"{\"warmup\": {\"int\": [3, 1]}}", "\"warmup\"", "lo <= hi"},
        {"{\"lr\": {\"uniform\": [0.1, 1e999]}}", "\"lr\"", "expected finite numbers"},
        {"{\"lr\": {\"choice\": [0.1]}, \"weight_decay\": {\"uniform\": [0, 1]}, \"weight-decay\": {\"choice\": [0]}}",
         "weight-decay", "given twice"},
        {"{\"lr\": {\"choice\": [0.1]}, \"lr\": {\"choice\": [0.1], \"choice\": [0.2]}}", "space:", "given twice"},
    };
    const int n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        dc_tune_space sp;
        dc_error err;
        err.msg[0] = 0;
        dc_status st = dc_tune_space_parse(&sp, cases[i].text, strlen(cases[i].text), "space", &err);
        CHECK(st == DC_ERR_FORMAT && strstr(err.msg, cases[i].needle1) && strstr(err.msg, cases[i].needle2),
              "case %d: %s", i, st ? err.msg : "accepted");
        if (st) printf("  refused: %s\n", err.msg);
    }
    // a NUL byte inside
    const char nul[] = "{\"lr\": {\"choice\": [0.1]}}\0";
    dc_tune_space sp;
    dc_error err;
    CHECK(dc_tune_space_parse(&sp, nul, sizeof nul - 1, "space", &err) == DC_ERR_FORMAT && strstr(err.msg, "NUL"),
          "NUL byte: %s", err.msg);
    // the text need not be NUL-terminated
    const char cut[] = "{\"lr\": {\"choice\": [0.1]}}garbage";
    CHECK(dc_tune_space_parse(&sp, cut, 25, "space", &err) == DC_OK && sp.n == 1, "a length-bounded text: %s", err.msg);
}

static void test_sampling(void) {
    const char *text = "{\"lr\": {\"log_uniform\": [0.0001, 1]}, \"weight-decay\": {\"uniform\": [0, 0.1]},"
                       " \"warmup\": {\"int\": [0, 4]}, \"optim\": {\"choice\": [\"sgd\", \"adamw\"]},"
                       " \"hflip\": {\"choice\": [false, true]}, \"batch\": {\"choice\": [32, 64, 128]}}";
    dc_tune_space sp = space_of(text);
    CHECK(sp.n == 6 && sp.p[3].opt == dc_topt_find("optim") && sp.p[1].opt == dc_topt_find("weight_decay"),
          "six parameters in file order");
    enum { N = 4000 };
    static double v[N][6];
    dc_rng r = dc_rng_stream(3, 1, 0);
    int inside = 0, below_mid = 0, ends[2] = {0, 0}, seen_opt[3] = {0}, seen_batch[3] = {0};
    double wd = 0;
    for (int i = 0; i < N; i++) {
        dc_tune_space_sample(&sp, v[i], &r);
        inside += dc_tune_space_contains(&sp, v[i]);
        below_mid += v[i][0] < 0.01; // the geometric middle of [1e-4, 1]
        wd += v[i][1];
        ends[0] += v[i][2] == 0;
        ends[1] += v[i][2] == 4;
        seen_opt[(int)v[i][3]]++;
        seen_batch[v[i][5] == 32 ? 0 : v[i][5] == 64 ? 1 : 2]++;
        CHECK(v[i][0] == (float)v[i][0], "a float option's value is a float");
    }
    CHECK(inside == N, "%d of %d draws outside the space", N - inside, N);
    CHECK(below_mid > N * 0.45 && below_mid < N * 0.55, "log-uniform: %d of %d below the geometric middle", below_mid, N);
    CHECK(fabs(wd / N - 0.05) < 0.004, "uniform mean %g", wd / N);
    CHECK(ends[0] > N / 8 && ends[1] > N / 8, "int ends drawn (%d, %d)", ends[0], ends[1]);
    CHECK(seen_opt[0] > N / 3 && seen_opt[2] > N / 3 && seen_opt[1] == 0, "optim choices: sgd %d adam %d adamw %d",
          seen_opt[0], seen_opt[1], seen_opt[2]);
    CHECK(seen_batch[0] > N / 4 && seen_batch[1] > N / 4 && seen_batch[2] > N / 4, "batch choices");
    dc_trainopts o = dc_trainopts_default();
    dc_tune_space_apply(&sp, v[0], &o);
    CHECK(o.lr == (float)v[0][0] && o.optim == (int)v[0][3] && o.batch == (int)v[0][5], "apply sets the options");
    // the same seed, the same trials
    dc_tune a, b;
    new_search(&a, DC_TUNE_ASHA, 20, 9, 3, 1);
    new_search(&b, DC_TUNE_RANDOM, 20, 9, 3, 1);
    int same = 1;
    for (int i = 0; i < 20; i++) same &= !memcmp(a.trials[i].values, b.trials[i].values, sizeof a.trials[i].values);
    CHECK(same, "ASHA and random search draw the same trials from the same seed");
    dc_tune_free(&a);
    dc_tune_free(&b);
    CHECK(dc_topt_find("weight_decay") == dc_topt_find("weight-decay") && !dc_topt_find("nope"), "option lookup");
    CHECK(dc_topt_suggest("momentm") && !strcmp(dc_topt_suggest("momentm"), "momentum") && !dc_topt_suggest("xyzzy"),
          "suggestions");
}

static void test_html(void) {
    dc_tune tu;
    new_search(&tu, DC_TUNE_ASHA, 27, 9, 3, 1);
    fake *f = calloc(1, sizeof *f);
    f->fail_id = 2;
    f->crash_after = -1;
    dc_error err;
    dc_tune_run(&tu, fake_obj, f, 2, NULL, NULL, NULL, &err);
    free(tu.meta);
    tu.meta = strdup("{\"data\":\"<script>alert(1)</script>\"}");
    char *h1, *h2;
    size_t n1, n2;
    CHECK(dc_tune_html(&h1, &n1, &tu, "tune <test>", &err) == DC_OK, "%s", err.msg);
    CHECK(dc_tune_html(&h2, &n2, &tu, "tune <test>", &err) == DC_OK && n1 == n2 && !memcmp(h1, h2, n1),
          "the page is deterministic");
    CHECK(strstr(h1, "<svg") && strstr(h1, "lr (log_uniform)") && strstr(h1, "momentum (choice)") &&
              strstr(h1, "batch (int)") && strstr(h1, "Best trial"),
          "curves, one scatter per parameter, the best");
    CHECK(!strstr(h1, "<script") && strstr(h1, "&lt;script&gt;") && strstr(h1, "tune &lt;test&gt;"),
          "strings are escaped, no scripts");
    CHECK(!strstr(h1, "http://") && !strstr(h1, "https://"), "no links outside the page");
    free(h1);
    free(h2);
    free(f);
    dc_tune_free(&tu);
}

// ---------------------------------------------------------------------------
// TPE

static bool near(double a, double b, double rel) { return fabs(a - b) <= rel * fmax(1.0, fabs(b)); }

// The expected values come from Optuna's univariate rule written out with
// numpy (prior included in the sort, consider_endpoints=False, magic clip,
// prior N(mid, range) of weight 1, equal weights for n < 25):
//   mus = append(obs, mid); order = argsort(mus, kind="stable"); s = mus[order]
//   ext = [lo] + s + [hi]; sig = maximum(ext[1:-1] - ext[:-2], ext[2:] - ext[1:-1])
//   sig[0] = ext[2] - ext[1]; sig[-1] = ext[-2] - ext[-3]
//   sigma[order] = sig; sigma = clip(sigma, range / min(100, n + 2), range); sigma[-1] = range
//   log pdf(t) = log sum_k w_k N(t; mu_k, sigma_k) / (Phi((hi-mu_k)/sigma_k) - Phi((lo-mu_k)/sigma_k))
//   int: the cell's mass, Phi((v+0.5-mu)/sigma) - Phi((v-0.5-mu)/sigma), over the same truncation
static void test_parzen(void) {
    const char *text = "{\"weight-decay\": {\"uniform\": [0, 0.5]}, \"lr\": {\"log_uniform\": [0.001, 0.1]},"
                       " \"warmup\": {\"int\": [0, 4]}, \"optim\": {\"choice\": [\"sgd\", \"adamw\"]}}";
    dc_tune_space sp = space_of(text);
    dc_error err;
    dc_parzen pe;
    // uniform [0, 0.5], observations 0.1, 0.4, 0.45: kernels (0.1, 0.15), (0.4, 0.15), (0.45, 0.1 clipped
    // up from 0.05), prior (0.25, 0.5), weights 1/4
    const double x1[] = {0.1, 0.4, 0.45};
    CHECK(dc_parzen_fit(&pe, &sp.p[0], x1, 3, &err) == DC_OK, "%s", err.msg);
    const double mu1[] = {0.1, 0.4, 0.45, 0.25}, sg1[] = {0.15, 0.15, 0.1, 0.5};
    int bad = pe.n != 4;
    for (int k = 0; !bad && k < 4; k++)
        bad += !near(pe.mu[k], mu1[k], 1e-15) || !near(pe.sigma[k], sg1[k], 1e-15) || !near(pe.w[k], 0.25, 1e-15);
    CHECK(!bad, "uniform: kernels differ from Optuna's rule");
    double l1 = dc_parzen_log_pdf(&pe, &sp.p[0], 0.3), l2 = dc_parzen_log_pdf(&pe, &sp.p[0], 0.02);
    CHECK(near(l1, 0.72758654618430429, 1e-12) && near(l2, 0.24719229296457026, 1e-12),
          "uniform log pdf %.17g %.17g, numpy 0.72758654618430429 0.24719229296457026", l1, l2);
    dc_parzen_free(&pe);
    // log_uniform [0.001, 0.1] (a float option: bounds and values are floats), observations 0.01,
    // 0.02: in log space the prior's mean sits 6e-8 above ln 0.01, so both gaps of the first
    // observation are tiny or its inner one and it clips up to range/4, as does the last's 0.69
    const double x2[] = {(float)0.01, (float)0.02};
    CHECK(dc_parzen_fit(&pe, &sp.p[1], x2, 2, &err) == DC_OK, "%s", err.msg);
    const double r2 = log(sp.p[1].hi) - log(sp.p[1].lo);
    CHECK(pe.n == 3 && near(pe.sigma[0], r2 / 4, 1e-15) && near(pe.sigma[1], r2 / 4, 1e-15) &&
              near(pe.sigma[2], r2, 1e-15) && near(pe.mu[2], 0.5 * (log(sp.p[1].lo) + log(sp.p[1].hi)), 1e-15),
          "log_uniform kernels: sigma %g %g %g", pe.sigma[0], pe.sigma[1], pe.sigma[2]);
    l1 = dc_parzen_log_pdf(&pe, &sp.p[1], (float)0.015);
    CHECK(near(l1, -1.1669905291572815, 1e-12), "log_uniform log pdf %.17g, numpy -1.1669905291572815", l1);
    dc_parzen_free(&pe);
    // int [0, 4] as [-0.5, 4.5], observations 1, 1, 3: sigmas 1, 1, 1 (the tie's zero gap clipped), prior 5
    const double x3[] = {1, 1, 3};
    CHECK(dc_parzen_fit(&pe, &sp.p[2], x3, 3, &err) == DC_OK, "%s", err.msg);
    CHECK(pe.n == 4 && pe.sigma[0] == 1 && pe.sigma[1] == 1 && pe.sigma[2] == 1 && pe.sigma[3] == 5 &&
              pe.lo == -0.5 && pe.hi == 4.5,
          "int kernels: sigma %g %g %g %g", pe.sigma[0], pe.sigma[1], pe.sigma[2], pe.sigma[3]);
    l1 = dc_parzen_log_pdf(&pe, &sp.p[2], 2), l2 = dc_parzen_log_pdf(&pe, &sp.p[2], 4);
    CHECK(near(l1, -1.4010829868016101, 1e-12) && near(l2, -2.1541858655602595, 1e-12),
          "int log mass %.17g %.17g, numpy -1.4010829868016101 -2.1541858655602595", l1, l2);
    double total = 0; // the masses of the five integers sum to 1
    for (int v = 0; v <= 4; v++) total += exp(dc_parzen_log_pdf(&pe, &sp.p[2], v));
    CHECK(near(total, 1, 1e-12), "int masses sum to %.15g", total);
    dc_parzen_free(&pe);
    // choice: counts + 1 per value: adamw, adamw, sgd -> sgd 2/5, adamw 3/5
    const double x4[] = {2, 2, 0}; // optim's indices: sgd 0, adamw 2
    CHECK(dc_parzen_fit(&pe, &sp.p[3], x4, 3, &err) == DC_OK, "%s", err.msg);
    CHECK(near(dc_parzen_log_pdf(&pe, &sp.p[3], 0), log(0.4), 1e-15) &&
              near(dc_parzen_log_pdf(&pe, &sp.p[3], 2), log(0.6), 1e-15),
          "choice probabilities");
    dc_parzen_free(&pe);
    // no observation: the prior alone, the uniform's density on [0, 0.5] truncated: flat-ish, finite
    CHECK(dc_parzen_fit(&pe, &sp.p[0], NULL, 0, &err) == DC_OK && pe.n == 1 && pe.sigma[0] == 0.5 &&
              isfinite(dc_parzen_log_pdf(&pe, &sp.p[0], 0.0)),
          "prior only");
    dc_parzen_free(&pe);
    // the split: level ranks above the metric, NaN is worst; ceil(0.25 * 7) = 2 good
    {
        dc_tune_space one = space_of("{\"optim\": {\"choice\": [\"sgd\", \"adamw\"]}}");
        const double v[7] = {0, 0, 2, 0, 2, 0, 0}; // adamw for trials 2 and 4 only
        const double *xs[7];
        for (int i = 0; i < 7; i++) xs[i] = &v[i];
        const int level[7] = {0, 0, 1, 0, 1, -1, 0};
        const double y[7] = {0.9, 0.8, 0.1, 0.7, NAN, 0.95, 0.6};
        dc_tpe m;
        CHECK(dc_tpe_fit(&m, &one, xs, level, y, 7, &err) == DC_OK && m.n_good == 2, "fit: %d good", m.n_good);
        // good = trial 2 (rung 1, 0.1) and trial 4 (rung 1, failed there: NaN, but above rung 0)
        CHECK(near(dc_parzen_log_pdf(&m.good[0], &one.p[0], 2), log(3.0 / 4), 1e-15) &&
                  near(dc_parzen_log_pdf(&m.bad[0], &one.p[0], 2), log(1.0 / 7), 1e-15),
              "the good are the two at the higher level: p(adamw) %g, bad %g",
              exp(dc_parzen_log_pdf(&m.good[0], &one.p[0], 2)), exp(dc_parzen_log_pdf(&m.bad[0], &one.p[0], 2)));
        dc_tpe_free(&m);
        CHECK(dc_tpe_fit(&m, &one, xs, NULL, y, 7, &err) == DC_OK &&
                  near(dc_parzen_log_pdf(&m.good[0], &one.p[0], 2), log(1.0 / 4), 1e-15),
              "without levels the good are trials 5 and 0 (sgd)");
        dc_tpe_free(&m);
    }
    // Optuna's default_weights(30) = [linspace(1/30, 1, 5), ones(25)]
    double w[30];
    dc_tpe_default_weights(w, 30);
    CHECK(near(w[0], 1.0 / 30, 1e-15) && near(w[1], 0.275, 1e-15) && near(w[3], 0.75833333333333333, 1e-14) &&
              w[4] == 1 && w[29] == 1,
          "default weights %g %g %g %g", w[0], w[1], w[3], w[4]);
    // samples stay in the space, and a draw from a fit is a function of the rng
    CHECK(dc_parzen_fit(&pe, &sp.p[1], x2, 2, &err) == DC_OK, "%s", err.msg);
    dc_rng r = dc_rng_stream(1, 2, 3);
    int out = 0, near_obs = 0;
    for (int i = 0; i < 2000; i++) {
        double v = dc_parzen_sample(&pe, &sp.p[1], &r);
        out += !(v >= (float)0.001 && v <= (float)0.1) || v != (float)v;
        near_obs += v > 0.005 && v < 0.04;
    }
    CHECK(out == 0 && near_obs > 1000, "log_uniform samples: %d outside, %d of 2000 near the observations", out,
          near_obs);
    dc_parzen_free(&pe);
}

static const char *TPE_SPACE = "{\n  \"lr\": {\"log_uniform\": [0.0001, 1]},\n  \"optim\": {\"choice\": [\"sgd\", "
                               "\"adamw\"]},\n  \"momentum\": {\"uniform\": [0, 0.99]},\n  \"warmup\": {\"int\": [0, 4]}\n}\n";

// The fake objective's quality of a configuration: the optimum is lr 0.01, adamw, momentum 0.9, warmup 1.
static double tpe_quality(const double *v) {
    const double a = log10(v[0]) + 2;
    return -a * a - 0.5 * (v[1] != 2) - 0.1 * (v[2] - 0.9) * (v[2] - 0.9) - 0.02 * fabs(v[3] - 1);
}

typedef struct tpe_fake {
    int calls, crash_after;
    int log[4096][3];
} tpe_fake;

static dc_status tpe_obj(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to, double *curve,
                         double *seconds, dc_error *err) {
    tpe_fake *f = user;
    const int k = log_call(&f->calls, f->log, t, from, to);
    *seconds = 0;
    if (f->crash_after >= 0 && k >= f->crash_after) return dc_fail(err, DC_ERR_IO, "killed");
    (void)tu;
    if (t->id == 5) return dc_fail(err, DC_ERR_NUMERIC, "diverged (fake)"); // a failure in bracket 0
    for (int e = from; e < to; e++) curve[e - from] = tpe_quality(t->values) - 1.0 / (e + 1);
    return DC_OK;
}

static void new_tpe(dc_tune *tu, dc_tune_sampler sampler, int brackets) {
    dc_tune_space sp = space_of(TPE_SPACE);
    dc_tune_settings s = {.scheduler = DC_TUNE_ASHA, .n_trials = 64, .budget = 9, .eta = 3, .grace = 1, .seed = 7,
                          .sampler = sampler, .brackets = brackets};
    dc_error err;
    if (dc_tune_init(tu, &s, &sp, TPE_SPACE, "{\"tool\":\"test\"}", &err)) {
        printf("init: %s\n", err.msg);
        exit(2);
    }
}

static int by_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_distance(const dc_tune *tu, int first, int end) {
    double d[64];
    int n = 0;
    for (int i = first; i < end; i++) d[n++] = fabs(log10(tu->trials[i].values[0]) + 2);
    qsort(d, (size_t)n, sizeof *d, by_double);
    return n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
}

static char *run_tpe(int parallel, tpe_fake *f) {
    dc_tune tu;
    new_tpe(&tu, DC_SAMPLER_TPE, 4);
    memset(f, 0, sizeof *f);
    f->crash_after = -1;
    dc_error err;
    CHECK(dc_tune_run(&tu, tpe_obj, f, parallel, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    char *j = dc_tune_journal_json(&tu);
    dc_tune_free(&tu);
    return j;
}

static void test_tpe_search(void) {
    dc_tune tu, rnd;
    new_tpe(&tu, DC_SAMPLER_TPE, 4);
    new_tpe(&rnd, DC_SAMPLER_RANDOM, 0);
    CHECK(tu.n_rungs == 3 && tu.rung_size[0] == 64 && tu.rung_size[1] == 20 && tu.rung_size[2] == 4,
          "4 brackets of 16: rungs of 16/5/1 each, %d/%d/%d in all", tu.rung_size[0], tu.rung_size[1], tu.rung_size[2]);
    int same0 = 1, undrawn = 0;
    for (int i = 0; i < 64; i++) {
        if (i < 16) same0 &= tu.trials[i].drawn && !memcmp(tu.trials[i].values, rnd.trials[i].values, sizeof tu.trials[i].values);
        else undrawn += !tu.trials[i].drawn;
    }
    CHECK(same0 && undrawn == 48, "bracket 0 is the random draw, brackets 1-3 wait (%d undrawn)", undrawn);
    CHECK(dc_tune_bracket_of(&tu, 15) == 0 && dc_tune_bracket_of(&tu, 16) == 1 && dc_tune_bracket_of(&tu, 63) == 3,
          "bracket of an id");
    tpe_fake *f = calloc(1, sizeof *f);
    f->crash_after = -1;
    dc_error err;
    CHECK(dc_tune_run(&tu, tpe_obj, f, 1, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(f->calls == 4 * (16 + 5 + 1) && dc_tune_finished(&tu), "%d units, expected 88", f->calls);
    memset(f, 0, sizeof *f);
    f->crash_after = -1;
    CHECK(dc_tune_run(&rnd, tpe_obj, f, 1, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    const double m0 = median_distance(&tu, 0, 16), m1 = median_distance(&tu, 16, 64),
                 m3 = median_distance(&tu, 48, 64);
    const double bt = tpe_quality(tu.trials[dc_tune_best(&tu)].values),
                 br = tpe_quality(rnd.trials[dc_tune_best(&rnd)].values);
    int adamw0 = 0, adamw1 = 0;
    for (int i = 0; i < 64; i++) *(i < 16 ? &adamw0 : &adamw1) += tu.trials[i].values[1] == 2;
    printf("  TPE: median |log10 lr + 2| bracket 0 %.3f, brackets 1-3 %.3f, bracket 3 %.3f; adamw %d/16 then %d/48;"
           " best quality %.4f (trial %d) against random draws' %.4f (trial %d)\n",
           m0, m1, m3, adamw0, adamw1, bt, dc_tune_best(&tu), br, dc_tune_best(&rnd));
    CHECK(m1 < m0 && m3 < m0, "later brackets not nearer the optimum: %.3f, %.3f against %.3f", m1, m3, m0);
    CHECK(adamw1 * 16 > adamw0 * 48, "later brackets prefer the better optimizer: %d/48 against %d/16", adamw1, adamw0);
    CHECK(bt > br, "TPE's best %.4f not better than random's %.4f", bt, br);
    char *j = dc_tune_journal_json(&tu), *jr = dc_tune_journal_json(&rnd);
    CHECK(j && strstr(j, "\"sampler\":\t\"tpe\"") && strstr(j, "\"brackets\":\t4") && strstr(j, "\"bracket\":\t3"),
          "the TPE journal records its sampler and brackets");
    CHECK(jr && !strstr(jr, "sampler") && !strstr(jr, "bracket"), "a random search's journal is as before");
    // the page shows the sampler and the brackets
    char *h;
    size_t hn;
    CHECK(dc_tune_html(&h, &hn, &tu, "tpe", &err) == DC_OK && strstr(h, "Sampler: <b>TPE</b> over 4 brackets") &&
              strstr(h, "<th>bracket</th>"),
          "the page names the sampler and each trial's bracket");
    free(h);
    // an edited TPE trial (trial 20, bracket 1) is refused, naming it
    char *id = strstr(j, "\"id\":\t20,");
    char *vals = id ? strstr(id, "\"values\"") : NULL;
    char *digit = vals ? strpbrk(vals, "123456789") : NULL;
    if (digit) *digit = *digit == '9' ? '8' : (char)(*digit + 1);
    dc_tune bad;
    CHECK(digit && dc_tune_parse_journal(&bad, j, strlen(j), "edited.json", &err) == DC_ERR_FORMAT &&
              strstr(err.msg, "trials[20].values"),
          "an edited TPE trial: %s", err.msg);
    printf("  refused: %s\n", err.msg);
    free(j);
    free(jr);
    // 1 and 3 workers: the same search
    char *j1 = run_tpe(1, f), *j3 = run_tpe(3, f);
    CHECK(j1 && j3 && !strcmp(j1, j3), "TPE with 1 and 3 workers gives different journals");
    free(j1);
    free(j3);
    // settings refused
    dc_tune_settings s = tu.s;
    int n, ep[DC_TUNE_MAX_RUNGS], sz[DC_TUNE_MAX_RUNGS];
    s.brackets = 0;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_ERR_ARG && strstr(err.msg, "--brackets 0"), "0 brackets: %s", err.msg);
    s.brackets = 65;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_ERR_ARG && strstr(err.msg, "1..trials (64)"), "65 brackets: %s",
          err.msg);
    s.sampler = DC_SAMPLER_RANDOM;
    s.brackets = 3;
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_ERR_ARG && strstr(err.msg, "tpe only"), "random with brackets: %s",
          err.msg);
    s.sampler = DC_SAMPLER_TPE;
    s.brackets = 64; // one trial per bracket: every bracket's rungs are 1/1/1
    CHECK(dc_tune_plan(&s, &n, ep, sz, &err) == DC_OK && sz[0] == 64 && sz[1] == 64 && sz[2] == 64, "64 brackets");
    free(f);
    dc_tune_free(&tu);
    dc_tune_free(&rnd);
}

// Killed after `crash` units (parallel workers), resumed from the journal
// on disk: the same journal as an uninterrupted search, nothing finished
// run again.
static void test_tpe_resume(int parallel, int crash, const char *ref) {
    char path[512];
    snprintf(path, sizeof path, "%s/tpe-%d-%d.json", dc_test_tmpdir(), parallel, crash);
    dc_error err;
    dc_tune tu;
    new_tpe(&tu, DC_SAMPLER_TPE, 4);
    dc_tune_set_journal(&tu, path, &err);
    dc_tune_save(&tu, path, &err); // as the CLI does: brackets 1-3 are on disk as not drawn
    tpe_fake *f = calloc(1, sizeof *f);
    f->crash_after = crash;
    CHECK(dc_tune_run(&tu, tpe_obj, f, parallel, NULL, NULL, NULL, &err) == DC_ERR_IO, "the crash");
    dc_tune_free(&tu);
    dc_tune back;
    if (dc_tune_load(&back, path, &err)) {
        CHECK(false, "%s", err.msg);
        free(f);
        return;
    }
    int epochs_before[64], drawn = 0;
    for (int i = 0; i < 64; i++) epochs_before[i] = back.trials[i].epochs, drawn += back.trials[i].drawn;
    memset(f, 0, sizeof *f);
    f->crash_after = -1;
    CHECK(dc_tune_run(&back, tpe_obj, f, parallel, NULL, NULL, NULL, &err) == DC_OK, "%s", err.msg);
    int repeated = 0;
    for (int c = 0; c < f->calls; c++) repeated += f->log[c][1] < epochs_before[f->log[c][0]];
    char *j = dc_tune_journal_json(&back);
    CHECK(repeated == 0, "%d finished units ran again after the resume", repeated);
    CHECK(j && !strcmp(j, ref), "killed after %d units (%d workers) and resumed: the journal differs", crash, parallel);
    printf("  TPE resume (%d worker%s, killed at unit %d, %d trials drawn on disk): %d units after, none repeated, "
           "same journal\n", parallel, parallel > 1 ? "s" : "", crash, drawn, f->calls);
    free(j);
    free(f);
    dc_tune_free(&back);
}

int main(void) {
    char *j1 = NULL, *j4 = NULL;
    test_asha_promotions(1, &j1);
    test_asha_promotions(4, &j4);
    CHECK(j1 && j4 && !strcmp(j1, j4), "1 and 4 workers give different journals");
    free(j1);
    free(j4);
    test_rung_shapes();
    test_resume(1);
    test_resume(3);
    test_malformed_spaces();
    test_sampling();
    test_html();
    test_parzen();
    test_tpe_search();
    tpe_fake *f = calloc(1, sizeof *f);
    char *ref = run_tpe(1, f);
    free(f);
    test_tpe_resume(1, 40, ref);  // mid bracket 1 (22 units a bracket)
    test_tpe_resume(1, 22, ref);  // bracket 1 drawn, none of its units done
    test_tpe_resume(1, 3, ref);   // inside bracket 0, the others not drawn
    test_tpe_resume(3, 50, ref);
    free(ref);
    return dc_test_finish();
}
