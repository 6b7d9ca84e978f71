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
//     table lookups and suggestions.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "core/core.h"
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

static dc_status fake_obj(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to, double *curve,
                          double *seconds, dc_error *err) {
    fake *f = user;
    int k;
#pragma omp critical(fake_log)
    {
        k = f->calls++;
        if (k < 4096) f->log[k][0] = t->id, f->log[k][1] = from, f->log[k][2] = to;
    }
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
    return dc_test_finish();
}
