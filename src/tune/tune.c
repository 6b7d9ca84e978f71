// tune.c — the search: rungs, promotions, parallel units, the journal
// (see tune.h for the rules).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "tune/tpe.h"
#include "tune/tune.h"

// Stream of trial i's configuration ("TUNE"), and of a TPE trial's ("TPE1").
#define TUNE_STREAM 0x54554e45ull
#define TPE_STREAM 0x54504531ull

static const char *const sched_names[] = {"random", "asha"};
static const char *const sampler_names[] = {"random", "tpe"};

// The sizes of the rungs of a bracket of n trials.
static void bracket_sizes(const dc_tune_settings *s, int n_rungs, int n, int *size) {
    size[0] = n;
    for (int k = 1; k < n_rungs; k++) size[k] = size[k - 1] / s->eta > 0 ? size[k - 1] / s->eta : 1;
}

static int n_brackets_of(const dc_tune_settings *s) { return s->sampler == DC_SAMPLER_TPE ? s->brackets : 1; }

// The ids [*first, *end) of bracket b of K over n trials.
static void range_of(int n, int K, int b, int *first, int *end) {
    *first = (int)((long long)b * n / K);
    *end = (int)((long long)(b + 1) * n / K);
}

dc_status dc_tune_plan(const dc_tune_settings *s, int *n_rungs, int *epochs, int *size, dc_error *err) {
    if (s->n_trials < 1 || s->n_trials > DC_TUNE_MAX_TRIALS)
        return dc_fail(err, DC_ERR_ARG, "--trials %d: expected 1..%d", s->n_trials, DC_TUNE_MAX_TRIALS);
    if (s->budget < 1 || s->budget > 100000) return dc_fail(err, DC_ERR_ARG, "--budget %d: expected 1..100000 epochs", s->budget);
    if (s->scheduler != DC_TUNE_RANDOM && s->scheduler != DC_TUNE_ASHA)
        return dc_fail(err, DC_ERR_ARG, "scheduler: expected random or asha");
    if (s->sampler == DC_SAMPLER_TPE) {
        if (s->brackets < 1 || s->brackets > s->n_trials)
            return dc_fail(err, DC_ERR_ARG, "--brackets %d: expected 1..trials (%d)", s->brackets, s->n_trials);
    } else if (s->sampler != DC_SAMPLER_RANDOM) {
        return dc_fail(err, DC_ERR_ARG, "sampler: expected random or tpe");
    } else if (s->brackets > 1 || s->brackets < 0) {
        return dc_fail(err, DC_ERR_ARG, "--brackets %d: brackets are for --sampler tpe only", s->brackets);
    }
    if (s->scheduler == DC_TUNE_RANDOM) {
        *n_rungs = 1;
        epochs[0] = s->budget;
        size[0] = s->n_trials;
        return DC_OK;
    }
    if (s->eta < 2 || s->eta > 1000) return dc_fail(err, DC_ERR_ARG, "--eta %d: expected a reduction factor in 2..1000", s->eta);
    if (s->grace < 1 || s->grace > s->budget)
        return dc_fail(err, DC_ERR_ARG, "--grace %d: expected 1..budget (%d) epochs", s->grace, s->budget);
    int n = 0;
    for (long r = s->grace; r < s->budget && n < DC_TUNE_MAX_RUNGS - 1; r *= s->eta) epochs[n++] = (int)r;
    epochs[n++] = s->budget;
    *n_rungs = n;
    // every bracket runs its own rungs; size[k] sums them
    const int K = n_brackets_of(s);
    for (int k = 0; k < n; k++) size[k] = 0;
    for (int b = 0; b < K; b++) {
        int first, end, sz[DC_TUNE_MAX_RUNGS];
        range_of(s->n_trials, K, b, &first, &end);
        bracket_sizes(s, n, end - first, sz);
        for (int k = 0; k < n; k++) size[k] += sz[k];
    }
    return DC_OK;
}

static void trials_free(dc_tune_trial *t, int n) {
    if (!t) return;
    for (int i = 0; i < n; i++) free(t[i].curve);
    free(t);
}

void dc_tune_free(dc_tune *tu) {
    trials_free(tu->trials, tu->s.n_trials);
    free(tu->space_text);
    free(tu->meta);
    free(tu->journal);
    memset(tu, 0, sizeof *tu);
}

static dc_status alloc_curve(dc_tune *tu, dc_tune_trial *t, dc_error *err) {
    if (!(t->curve = malloc(sizeof(double) * (size_t)tu->s.budget)))
        return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory for %d trials", tu->s.n_trials);
    for (int e = 0; e < tu->s.budget; e++) t->curve[e] = NAN;
    return DC_OK;
}

// The trials, and (with curves) each one's curve; a journal being read
// allocates a trial's curve when it reaches that trial, so a journal that
// claims many trials and a large budget is refused before it costs memory.
static dc_status alloc_trials(dc_tune *tu, bool curves, dc_error *err) {
    tu->trials = calloc((size_t)tu->s.n_trials, sizeof(dc_tune_trial));
    if (!tu->trials) return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory for %d trials", tu->s.n_trials);
    for (int i = 0; i < tu->s.n_trials; i++) {
        dc_tune_trial *t = &tu->trials[i];
        t->id = i;
        dc_status st;
        if (curves && (st = alloc_curve(tu, t, err))) return st;
    }
    return DC_OK;
}

int dc_tune_n_brackets(const dc_tune *tu) { return n_brackets_of(&tu->s); }

void dc_tune_bracket_range(const dc_tune *tu, int b, int *first, int *end) {
    range_of(tu->s.n_trials, n_brackets_of(&tu->s), b, first, end);
}

int dc_tune_bracket_of(const dc_tune *tu, int id) {
    const int K = n_brackets_of(&tu->s), n = tu->s.n_trials;
    int b = (int)(((long long)id * K + K - 1) / n); // a first guess, then exact
    if (b >= K) b = K - 1;
    int first, end;
    for (;;) {
        range_of(n, K, b, &first, &end);
        if (id < first) b--;
        else if (id >= end) b++;
        else return b;
    }
}

// Bracket 0 (every trial under the random sampler): the draws of (seed, i).
static void draw_random(dc_tune *tu) {
    int first, end;
    dc_tune_bracket_range(tu, 0, &first, &end);
    if (tu->s.sampler == DC_SAMPLER_RANDOM) end = tu->s.n_trials;
    for (int i = first; i < end; i++) {
        dc_rng r = dc_rng_stream(tu->s.seed, TUNE_STREAM, (uint64_t)i);
        dc_tune_space_sample(&tu->space, tu->trials[i].values, &r);
        tu->trials[i].drawn = true;
    }
}

dc_status dc_tune_init(dc_tune *tu, const dc_tune_settings *s, const dc_tune_space *sp, const char *space_text,
                       const char *meta, dc_error *err) {
    memset(tu, 0, sizeof *tu);
    dc_status st = dc_tune_plan(s, &tu->n_rungs, tu->rung_epochs, tu->rung_size, err);
    if (st) return st;
    tu->s = *s;
    if (tu->s.sampler == DC_SAMPLER_RANDOM) tu->s.brackets = 1;
    tu->space = *sp;
    if (!(tu->space_text = strdup(space_text ? space_text : "")) || (meta && !(tu->meta = strdup(meta)))) {
        dc_tune_free(tu);
        return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    }
    if ((st = alloc_trials(tu, true, err))) {
        dc_tune_free(tu);
        return st;
    }
    draw_random(tu);
    return DC_OK;
}

dc_status dc_tune_set_journal(dc_tune *tu, const char *path, dc_error *err) {
    free(tu->journal);
    tu->journal = NULL;
    if (path && !(tu->journal = strdup(path))) return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Ranking

double dc_tune_metric_at(const dc_tune_trial *t, int e) {
    if (e < 1 || e > t->epochs) return NAN;
    return t->curve[e - 1];
}

int dc_tune_rung_of(const dc_tune *tu, const dc_tune_trial *t) {
    int k = -1;
    for (int j = 0; j < tu->n_rungs; j++)
        if (t->epochs >= tu->rung_epochs[j]) k = j;
    return k;
}

typedef struct rank_key {
    int id;
    double m;
} rank_key;

static int by_metric(const void *a, const void *b) {
    const rank_key *x = a, *y = b;
    const double mx = isnan(x->m) ? -INFINITY : x->m, my = isnan(y->m) ? -INFINITY : y->m;
    if (mx != my) return mx > my ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

// The members of bracket b's rung k into ids (ascending id); returns how many.
static int members(const dc_tune *tu, int b, int k, int *ids, rank_key *keys) {
    int first, end, size[DC_TUNE_MAX_RUNGS];
    dc_tune_bracket_range(tu, b, &first, &end);
    int n = end - first;
    bracket_sizes(&tu->s, tu->n_rungs, n, size);
    for (int i = 0; i < n; i++) ids[i] = first + i;
    for (int j = 1; j <= k; j++) {
        const int r = tu->rung_epochs[j - 1];
        for (int i = 0; i < n; i++) keys[i] = (rank_key){ids[i], dc_tune_metric_at(&tu->trials[ids[i]], r)};
        qsort(keys, (size_t)n, sizeof *keys, by_metric);
        n = size[j] < n ? size[j] : n;
        for (int i = 0; i < n; i++) ids[i] = keys[i].id;
        // ascending id: units are dealt in a fixed order
        for (int a = 1; a < n; a++)
            for (int b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
                int t = ids[b];
                ids[b] = ids[b - 1];
                ids[b - 1] = t;
            }
    }
    return n;
}

int dc_tune_best(const dc_tune *tu) {
    int best = -1, best_rung = -1;
    double best_m = -INFINITY;
    for (int i = 0; i < tu->s.n_trials; i++) {
        const dc_tune_trial *t = &tu->trials[i];
        int k = dc_tune_rung_of(tu, t);
        if (k < 0) continue;
        double m = dc_tune_metric_at(t, tu->rung_epochs[k]);
        if (isnan(m)) continue;
        if (k > best_rung || (k == best_rung && m > best_m)) best = i, best_rung = k, best_m = m;
    }
    return best;
}

long dc_tune_total_epochs(const dc_tune *tu) {
    long s = 0;
    for (int i = 0; i < tu->s.n_trials; i++) s += tu->trials[i].epochs;
    return s;
}

bool dc_tune_bracket_finished(const dc_tune *tu, int b) {
    int *ids = malloc(sizeof(int) * (size_t)tu->s.n_trials);
    rank_key *keys = malloc(sizeof(rank_key) * (size_t)tu->s.n_trials);
    bool done = ids && keys;
    for (int k = 0; done && k < tu->n_rungs; k++) {
        int n = members(tu, b, k, ids, keys);
        for (int i = 0; i < n; i++) done &= tu->trials[ids[i]].drawn && tu->trials[ids[i]].epochs >= tu->rung_epochs[k];
    }
    free(ids);
    free(keys);
    return done;
}

bool dc_tune_finished(const dc_tune *tu) {
    bool done = true;
    for (int b = 0; done && b < dc_tune_n_brackets(tu); b++) done = dc_tune_bracket_finished(tu, b);
    return done;
}

// ---------------------------------------------------------------------------
// TPE

// The rung whose metrics a fit of bracket b uses: the highest that at least
// (parameters + 2) trials of brackets 0..b-1 reached (BOHB), else rung 0.
//
// Every trial of those brackets is an observation, ranked as ASHA ranked it:
// by the rung it reached (at most the fit rung), then its metric there. So
// the good part is the best at the fit rung, and the bad part holds the
// rest of that rung and every trial ASHA stopped earlier; a failed trial
// ranks last. (BOHB fits only
// the trials at the fit rung; measured on test_tune's fake objective, that
// sends a later bracket away from the optimum: at rung 1 every observation
// is a bracket's top third, so g(x) piles up where l(x) does and the ratio
// favours the prior's tails — mean |log10 lr - optimum| 0.25 in bracket 1,
// 1.3 in bracket 2.)
static int fit_rung(const dc_tune *tu, int end) {
    for (int k = tu->n_rungs - 1; k > 0; k--) {
        int c = 0;
        for (int i = 0; i < end; i++) c += tu->trials[i].epochs >= tu->rung_epochs[k];
        if (c >= tu->space.n + 2) return k;
    }
    return 0;
}

dc_status dc_tune_draw_bracket(dc_tune *tu, int b, double *want, dc_error *err) {
    if (tu->s.sampler != DC_SAMPLER_TPE || b < 1 || b >= tu->s.brackets)
        return dc_fail(err, DC_ERR_ARG, "tune: bracket %d is not a TPE bracket", b);
    for (int a = 0; a < b; a++)
        if (!dc_tune_bracket_finished(tu, a))
            return dc_fail(err, DC_ERR_ARG, "tune: bracket %d drawn before bracket %d finished", b, a);
    int first, end;
    dc_tune_bracket_range(tu, b, &first, &end);
    // the observations: brackets 0..b-1 (ids [0, first)), oldest first
    const int k = fit_rung(tu, first);
    const double **x = malloc(sizeof(double *) * (size_t)first);
    double *y = malloc(sizeof(double) * (size_t)first);
    int *level = malloc(sizeof(int) * (size_t)first);
    if (!x || !y || !level) {
        free(x);
        free(y);
        free(level);
        return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    }
    for (int i = 0; i < first; i++) {
        const dc_tune_trial *t = &tu->trials[i];
        int r = dc_tune_rung_of(tu, t);
        if (r > k) r = k;
        x[i] = t->values;
        // a failed trial is worst, whatever rung it reached before it failed
        const bool failed = t->error[0] || r < 0;
        level[i] = failed ? -1 : r;
        y[i] = failed ? NAN : dc_tune_metric_at(t, tu->rung_epochs[r]);
    }
    dc_tpe m;
    dc_status st = dc_tpe_fit(&m, &tu->space, x, level, y, first, err);
    free(x);
    free(y);
    free(level);
    if (st) return st;
    for (int i = first; i < end; i++) {
        dc_rng rng = dc_rng_stream(tu->s.seed, TPE_STREAM, (uint64_t)i);
        double *v = want ? want + (size_t)(i - first) * DC_TUNE_MAX_PARAMS : tu->trials[i].values;
        // BOHB's random fraction: a third at random keeps exploring what the
        // early rungs misjudge (measured: without it, 64 LeNet-5 trials over
        // 4 brackets drew only constant schedules after bracket 0, the
        // 1- and 3-epoch rungs favouring them, and lost to random draws)
        const double coin = (double)(dc_rng_u64(&rng) >> 11) * 0x1.0p-53;
        if (coin < DC_TPE_RANDOM_FRACTION) dc_tune_space_sample(&tu->space, v, &rng);
        else dc_tpe_draw(&m, &tu->space, v, &rng);
        if (!want) tu->trials[i].drawn = true;
    }
    dc_tpe_free(&m);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// Running

typedef struct run_state {
    dc_tune *tu;
    dc_tune_callback cb;
    void *cbuser;
    long total, done_before;
    long done;         // units finished by this call
    bool write;        // this process writes the journal
    dc_status st;      // first fatal error
    dc_error err;
} run_state;

// Records a finished unit (under the caller's lock); writes the journal.
static void record(run_state *rs, int id, int rung, int from, int to, const double *curve, double secs,
                   const char *error) {
    dc_tune *tu = rs->tu;
    dc_tune_trial *t = &tu->trials[id];
    for (int e = from; e < to; e++) t->curve[e] = error ? NAN : curve[e - from];
    t->epochs = to;
    t->seconds += secs;
    t->runs++;
    if (error) snprintf(t->error, sizeof t->error, "%s", error);
    tu->units_run++;
    rs->done++;
    if (rs->write && tu->journal && !rs->st) {
        dc_error e;
        if (dc_tune_save(tu, tu->journal, &e)) {
            rs->st = DC_ERR_IO;
            rs->err = e;
        }
    }
    if (rs->cb) {
        dc_tune_event ev = {.trial = id, .rung = rung, .from = from, .to = to,
                            .metric = error ? NAN : curve[to - from - 1], .seconds = secs, .error = error,
                            .done = rs->done_before + rs->done, .total = rs->total};
        rs->cb(&ev, rs->cbuser);
    }
}

static void run_unit(run_state *rs, dc_tune_objective obj, void *user, int id, int rung) {
    dc_tune *tu = rs->tu;
    dc_tune_trial *t = &tu->trials[id];
    const int from = t->epochs, to = tu->rung_epochs[rung];
    if (t->error[0]) { // a failed trial is not trained again
#pragma omp critical(dc_tune_record)
        record(rs, id, rung, from, to, NULL, 0, t->error);
        return;
    }
    double *curve = malloc(sizeof(double) * (size_t)(to - from));
    double secs = 0;
    dc_error e;
    e.msg[0] = 0;
    dc_status st = curve ? obj(user, tu, t, from, to, curve, &secs, &e)
                         : dc_fail(&e, DC_ERR_NOMEM, "tune: out of memory");
#pragma omp critical(dc_tune_record)
    {
        if (!st) record(rs, id, rung, from, to, curve, secs, NULL);
        else if (st == DC_ERR_ARG || st == DC_ERR_NUMERIC) record(rs, id, rung, from, to, NULL, secs, e.msg);
        else if (!rs->st) {
            rs->st = st;
            snprintf(rs->err.msg, sizeof rs->err.msg, "trial %d: %.990s", id, e.msg);
        }
    }
    free(curve);
}

// Under MPI: every rank learns the units the others ran in rung k.
static dc_status exchange(dc_tune *tu, const dc_comm *comm, const int *todo, int n_todo, int k, dc_error *err) {
    const int R = tu->s.budget, W = R + 4; // curve, seconds, runs, failed, epochs
    double *v = calloc((size_t)n_todo * W + 1, sizeof(double));
    if (!v) return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    for (int j = 0; j < n_todo; j++) {
        if (j % comm->size != comm->rank) continue;
        const dc_tune_trial *t = &tu->trials[todo[j]];
        double *row = v + (size_t)j * W;
        for (int e = 0; e < t->epochs && e < R; e++) row[e] = isnan(t->curve[e]) ? 0 : t->curve[e];
        row[R] = t->seconds;
        row[R + 1] = t->runs;
        row[R + 2] = t->error[0] ? 1 : 0;
        row[R + 3] = t->epochs;
    }
    dc_status st = comm->allreduce_sum_f64(comm->ctx, v, (size_t)n_todo * W, err);
    for (int j = 0; !st && j < n_todo; j++) {
        if (j % comm->size == comm->rank) continue;
        dc_tune_trial *t = &tu->trials[todo[j]];
        const double *row = v + (size_t)j * W;
        t->epochs = (int)row[R + 3];
        for (int e = 0; e < t->epochs; e++) t->curve[e] = row[R + 2] != 0 ? NAN : row[e];
        t->seconds = row[R];
        t->runs = (int)row[R + 1];
        if (row[R + 2] != 0 && !t->error[0])
            snprintf(t->error, sizeof t->error, "failed on MPI rank %d (see its output)", j % comm->size);
    }
    (void)k;
    free(v);
    return st;
}

dc_status dc_tune_run(dc_tune *tu, dc_tune_objective obj, void *user, int parallel, const dc_comm *comm,
                      dc_tune_callback cb, void *cbuser, dc_error *err) {
    if (parallel < 1) parallel = 1;
    const bool mpi = comm && comm->size > 1;
    run_state rs = {.tu = tu, .cb = (!mpi || comm->rank == 0) ? cb : NULL, .cbuser = cbuser,
                    .write = !mpi || comm->rank == 0};
    for (int k = 0; k < tu->n_rungs; k++) rs.total += tu->rung_size[k];
    int *ids = malloc(sizeof(int) * (size_t)tu->s.n_trials), *todo = malloc(sizeof(int) * (size_t)tu->s.n_trials);
    rank_key *keys = malloc(sizeof(rank_key) * (size_t)tu->s.n_trials);
    if (!ids || !todo || !keys) {
        free(ids);
        free(todo);
        free(keys);
        return dc_fail(err, DC_ERR_NOMEM, "tune: out of memory");
    }
    // units finished before (a resumed search) count as done in the progress
    for (int i = 0; i < tu->s.n_trials; i++) rs.done_before += dc_tune_rung_of(tu, &tu->trials[i]) + 1;
    const int K = dc_tune_n_brackets(tu);
    for (int kb = 0; kb < K * tu->n_rungs && !rs.st; kb++) {
        // bracket by bracket, rung by rung; a TPE bracket is drawn when its
        // turn comes (brackets before it are then finished)
        const int b = kb / tu->n_rungs, k = kb % tu->n_rungs;
        int bfirst, bend;
        dc_tune_bracket_range(tu, b, &bfirst, &bend);
        if (k == 0 && !tu->trials[bfirst].drawn) {
            dc_status st = dc_tune_draw_bracket(tu, b, NULL, &rs.err);
            if (!st && rs.write && tu->journal) st = dc_tune_save(tu, tu->journal, &rs.err);
            if (st) {
                rs.st = st;
                break;
            }
        }
        const int n = members(tu, b, k, ids, keys);
        int n_todo = 0;
        for (int i = 0; i < n; i++)
            if (tu->trials[ids[i]].epochs < tu->rung_epochs[k]) todo[n_todo++] = ids[i];
        if (!n_todo) continue;
        const int stride = mpi ? comm->size : 1, first = mpi ? comm->rank : 0;
        const int P = mpi ? 1 : parallel;
#pragma omp parallel for num_threads(P) schedule(dynamic, 1) if (P > 1)
        for (int j = first; j < n_todo; j += stride) {
            bool stop;
#pragma omp critical(dc_tune_record)
            stop = rs.st != DC_OK;
            if (!stop) run_unit(&rs, obj, user, todo[j], k);
        }
        if (mpi) {
            // every rank stops if any failed: a one-value vote first
            double bad = rs.st ? 1 : 0;
            dc_status st = comm->allreduce_sum_f64(comm->ctx, &bad, 1, err);
            if (st) {
                rs.st = st;
                rs.err = *err;
                break;
            }
            if (bad > 0 && !rs.st) {
                rs.st = DC_ERR_IO;
                snprintf(rs.err.msg, sizeof rs.err.msg, "another MPI rank failed (see its message)");
            }
            if (rs.st) break;
            if ((st = exchange(tu, comm, todo, n_todo, k, err))) {
                rs.st = st;
                rs.err = *err;
                break;
            }
            if (rs.write && tu->journal && (st = dc_tune_save(tu, tu->journal, err))) {
                rs.st = st;
                rs.err = *err;
            }
        }
    }
    free(ids);
    free(todo);
    free(keys);
    if (rs.st && err) *err = rs.err;
    return rs.st;
}

// ---------------------------------------------------------------------------
// The journal

// A number printed with 17 significant digits, so that it reads back to the
// same double (cJSON's own printer settles for 15 when they come close).
static cJSON *exact_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char b[40];
    snprintf(b, sizeof b, "%.17g", v);
    return cJSON_CreateRaw(b);
}

static cJSON *exact_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, exact_number(v[i]));
    return a;
}

static cJSON *config_json(const dc_tune *tu, const dc_tune_trial *t) {
    cJSON *c = cJSON_CreateObject();
    for (int i = 0; c && i < tu->space.n; i++) {
        const dc_tune_param *p = &tu->space.p[i];
        const double v = t->values[i];
        switch (p->opt->type) {
        case DC_TOPT_BOOL: cJSON_AddBoolToObject(c, p->opt->name, v != 0); break;
        case DC_TOPT_ENUM: cJSON_AddStringToObject(c, p->opt->name, p->opt->choices[(int)v]); break;
        default: cJSON_AddNumberToObject(c, p->opt->name, v); break;
        }
    }
    return c;
}

char *dc_tune_journal_json(const dc_tune *tu) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "format", "deepc-tune");
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON *s = cJSON_AddObjectToObject(j, "settings");
    cJSON_AddStringToObject(s, "scheduler", sched_names[tu->s.scheduler]);
    cJSON_AddNumberToObject(s, "trials", tu->s.n_trials);
    cJSON_AddNumberToObject(s, "budget", tu->s.budget);
    cJSON_AddNumberToObject(s, "eta", tu->s.eta);
    cJSON_AddNumberToObject(s, "grace", tu->s.grace);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)tu->s.seed);
    cJSON_AddStringToObject(s, "seed", seed);
    if (tu->s.sampler == DC_SAMPLER_TPE) { // a random search's journal is as it always was
        cJSON_AddStringToObject(s, "sampler", sampler_names[tu->s.sampler]);
        cJSON_AddNumberToObject(s, "brackets", tu->s.brackets);
    }
    cJSON_AddStringToObject(j, "space", tu->space_text ? tu->space_text : "");
    cJSON *meta = tu->meta ? cJSON_Parse(tu->meta) : NULL;
    if (meta) cJSON_AddItemToObject(j, "meta", meta);
    else cJSON_AddNullToObject(j, "meta");
    cJSON *rungs = cJSON_AddArrayToObject(j, "rungs");
    for (int k = 0; k < tu->n_rungs; k++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "epochs", tu->rung_epochs[k]);
        cJSON_AddNumberToObject(r, "trials", tu->rung_size[k]);
        cJSON_AddItemToArray(rungs, r);
    }
    cJSON_AddNumberToObject(j, "total_epochs", (double)dc_tune_total_epochs(tu));
    cJSON_AddBoolToObject(j, "finished", dc_tune_finished(tu));
    const int b = dc_tune_best(tu);
    if (b >= 0) {
        const dc_tune_trial *t = &tu->trials[b];
        cJSON *bo = cJSON_AddObjectToObject(j, "best");
        const int k = dc_tune_rung_of(tu, t);
        cJSON_AddNumberToObject(bo, "trial", b);
        cJSON_AddNumberToObject(bo, "rung", k);
        cJSON_AddNumberToObject(bo, "epochs", tu->rung_epochs[k]);
        cJSON_AddNumberToObject(bo, "metric", dc_tune_metric_at(t, tu->rung_epochs[k]));
        cJSON_AddItemToObject(bo, "config", config_json(tu, t));
    } else {
        cJSON_AddNullToObject(j, "best");
    }
    cJSON *tr = cJSON_AddArrayToObject(j, "trials");
    for (int i = 0; i < tu->s.n_trials; i++) {
        const dc_tune_trial *t = &tu->trials[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", t->id);
        if (tu->s.sampler == DC_SAMPLER_TPE) cJSON_AddNumberToObject(o, "bracket", dc_tune_bracket_of(tu, i));
        if (t->drawn) {
            cJSON_AddItemToObject(o, "values", exact_array(t->values, tu->space.n));
            cJSON_AddItemToObject(o, "config", config_json(tu, t));
        } else {
            cJSON_AddNullToObject(o, "values");
            cJSON_AddNullToObject(o, "config");
        }
        cJSON_AddNumberToObject(o, "epochs", t->epochs);
        cJSON_AddNumberToObject(o, "rung", dc_tune_rung_of(tu, t));
        cJSON_AddItemToObject(o, "curve", exact_array(t->curve, t->epochs));
        cJSON_AddItemToObject(o, "seconds", exact_number(t->seconds));
        cJSON_AddNumberToObject(o, "runs", t->runs);
        if (t->error[0]) cJSON_AddStringToObject(o, "error", t->error);
        else cJSON_AddNullToObject(o, "error");
        cJSON_AddItemToArray(tr, o);
    }
    char *out = cJSON_Print(j);
    cJSON_Delete(j);
    return out;
}

dc_status dc_tune_save(const dc_tune *tu, const char *path, dc_error *err) {
    char *js = dc_tune_journal_json(tu);
    if (!js) return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for the journal", path);
    size_t n = strlen(js);
    js[n] = 0;
    dc_buf parts[2] = {{js, n}, {"\n", 1}};
    dc_status st = dc_write_atomic(path, parts, 2, err);
    free(js);
    return st;
}

static bool same_values(const double *want, const double *got, int n) {
    bool same = true;
    for (int q = 0; q < n; q++) same &= fabs(want[q] - got[q]) <= 1e-9 * fabs(want[q]);
    return same;
}

// A TPE journal's brackets b > 0: drawn (all of the bracket's trials) only
// after brackets 0..b-1 finished, and each value what TPE draws from them
// (the exact draw is then used). Brackets not drawn hold no work.
static dc_status check_tpe_brackets(dc_tune *tu, const char *origin, dc_error *err) {
    const int K = dc_tune_n_brackets(tu);
    double *want = NULL;
    dc_status st = DC_OK;
    for (int b = 1; b < K && !st; b++) {
        int first, end, nd = 0;
        dc_tune_bracket_range(tu, b, &first, &end);
        for (int i = first; i < end; i++) nd += tu->trials[i].drawn;
        if (!nd) continue;
        if (nd != end - first) {
            int i = first;
            while (tu->trials[i].drawn) i++;
            return dc_fail(err, DC_ERR_FORMAT, "%s: trials[%d].values: null, but bracket %d's other trials are drawn",
                           origin, i, b);
        }
        for (int a = 0; a < b; a++)
            if (!dc_tune_bracket_finished(tu, a))
                return dc_fail(err, DC_ERR_FORMAT,
                               "%s: trials[%d].values: bracket %d is drawn but bracket %d is not finished (an edited "
                               "journal?)", origin, first, b, a);
        free(want);
        if (!(want = malloc(sizeof(double) * DC_TUNE_MAX_PARAMS * (size_t)(end - first))))
            return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory", origin);
        if ((st = dc_tune_draw_bracket(tu, b, want, err))) break;
        for (int i = first; i < end && !st; i++) {
            double *w = want + (size_t)(i - first) * DC_TUNE_MAX_PARAMS;
            if (!same_values(w, tu->trials[i].values, tu->space.n))
                st = dc_fail(err, DC_ERR_FORMAT,
                             "%s: trials[%d].values are not what TPE draws from brackets 0..%d (an edited journal?)",
                             origin, i, b - 1);
            else memcpy(tu->trials[i].values, w, sizeof(double) * (size_t)tu->space.n);
        }
    }
    free(want);
    return st;
}

#define JFAIL(...) do { st = dc_fail(err, DC_ERR_FORMAT, __VA_ARGS__); goto done; } while (0)

static bool get_int(const cJSON *o, const char *k, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

dc_status dc_tune_parse_journal(dc_tune *tu, const char *text, size_t len, const char *origin, dc_error *err) {
    memset(tu, 0, sizeof *tu);
    dc_status st = DC_OK;
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *v, *s;
    dc_tune_settings set;
    memset(&set, 0, sizeof set);
    if (!cJSON_IsObject(j)) JFAIL("%s: not a JSON object (a deepc tune journal?)", origin);
    v = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, "deepc-tune"))
        JFAIL("%s: \"format\" is not \"deepc-tune\": not a tune journal", origin);
    int version;
    if (!get_int(j, "version", 0, 1000, &version) || version != 1)
        JFAIL("%s: \"version\": expected 1 (written by another deepc?)", origin);
    s = cJSON_GetObjectItemCaseSensitive(j, "settings");
    if (!cJSON_IsObject(s)) JFAIL("%s: \"settings\": expected an object", origin);
    v = cJSON_GetObjectItemCaseSensitive(s, "scheduler");
    if (!cJSON_IsString(v)) JFAIL("%s: settings.scheduler: expected a string", origin);
    if (!strcmp(v->valuestring, "random")) set.scheduler = DC_TUNE_RANDOM;
    else if (!strcmp(v->valuestring, "asha")) set.scheduler = DC_TUNE_ASHA;
    else JFAIL("%s: settings.scheduler \"%s\": expected random or asha", origin, v->valuestring);
    if (!get_int(s, "trials", 1, DC_TUNE_MAX_TRIALS, &set.n_trials)) JFAIL("%s: settings.trials: expected a count", origin);
    if (!get_int(s, "budget", 1, 100000, &set.budget)) JFAIL("%s: settings.budget: expected 1..100000", origin);
    if (!get_int(s, "eta", 0, 1000, &set.eta)) JFAIL("%s: settings.eta: expected an integer", origin);
    if (!get_int(s, "grace", 0, 100000, &set.grace)) JFAIL("%s: settings.grace: expected an integer", origin);
    v = cJSON_GetObjectItemCaseSensitive(s, "seed");
    char *end;
    if (!cJSON_IsString(v) || !v->valuestring[0] || v->valuestring[0] == '-')
        JFAIL("%s: settings.seed: expected a string of digits", origin);
    set.seed = strtoull(v->valuestring, &end, 10);
    if (*end) JFAIL("%s: settings.seed: expected a string of digits", origin);
    v = cJSON_GetObjectItemCaseSensitive(s, "sampler"); // absent: a journal from before TPE, random
    if (v && !cJSON_IsString(v)) JFAIL("%s: settings.sampler: expected \"random\" or \"tpe\"", origin);
    if (!v || !strcmp(v->valuestring, "random")) set.sampler = DC_SAMPLER_RANDOM;
    else if (!strcmp(v->valuestring, "tpe")) set.sampler = DC_SAMPLER_TPE;
    else JFAIL("%s: settings.sampler \"%.40s\": expected random or tpe", origin, v->valuestring);
    set.brackets = 1;
    if (cJSON_GetObjectItemCaseSensitive(s, "brackets") &&
        !get_int(s, "brackets", 1, DC_TUNE_MAX_TRIALS, &set.brackets))
        JFAIL("%s: settings.brackets: expected a count", origin);
    if (set.sampler == DC_SAMPLER_RANDOM && set.brackets != 1)
        JFAIL("%s: settings.brackets %d: brackets are for the tpe sampler only", origin, set.brackets);
    if ((st = dc_tune_plan(&set, &tu->n_rungs, tu->rung_epochs, tu->rung_size, err))) goto done;
    tu->s = set;
    v = cJSON_GetObjectItemCaseSensitive(j, "space");
    if (!cJSON_IsString(v)) JFAIL("%s: \"space\": expected the search space's text", origin);
    char sorigin[600];
    snprintf(sorigin, sizeof sorigin, "%s: space", origin);
    if ((st = dc_tune_space_parse(&tu->space, v->valuestring, strlen(v->valuestring), sorigin, err))) goto done;
    if (!(tu->space_text = strdup(v->valuestring))) JFAIL("%s: out of memory", origin);
    v = cJSON_GetObjectItemCaseSensitive(j, "meta");
    if (cJSON_IsObject(v)) {
        if (!(tu->meta = cJSON_PrintUnformatted(v))) JFAIL("%s: out of memory", origin);
    } else if (v && !cJSON_IsNull(v)) {
        JFAIL("%s: \"meta\": expected an object or null", origin);
    }
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(j, "trials");
    if (!cJSON_IsArray(tr) || cJSON_GetArraySize(tr) != set.n_trials)
        JFAIL("%s: \"trials\": expected an array of %d trials", origin, set.n_trials);
    if ((st = alloc_trials(tu, false, err))) goto done;
    // the configurations are the seed's draw: a journal whose values differ was edited
    dc_tune_trial *want = calloc(1, sizeof *want);
    if (!want) JFAIL("%s: out of memory", origin);
    int i = 0;
    for (const cJSON *o = tr->child; o; o = o->next, i++) {
        dc_tune_trial *t = &tu->trials[i];
        int id;
        if (!cJSON_IsObject(o) || !get_int(o, "id", 0, DC_TUNE_MAX_TRIALS, &id) || id != i) {
            free(want);
            JFAIL("%s: trials[%d]: expected an object with \"id\": %d", origin, i, i);
        }
        if ((st = alloc_curve(tu, t, err))) {
            free(want);
            goto done;
        }
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(o, "values");
        const int bracket = dc_tune_bracket_of(tu, i);
        const cJSON *bo = cJSON_GetObjectItemCaseSensitive(o, "bracket");
        int bj;
        if (bo && (!get_int(o, "bracket", 0, DC_TUNE_MAX_TRIALS, &bj) || bj != bracket)) {
            free(want);
            JFAIL("%s: trials[%d].bracket: expected %d", origin, i, bracket);
        }
        if (bracket > 0 && cJSON_IsNull(vals)) {
            // a TPE bracket not drawn yet: nothing trained
            if (!get_int(o, "epochs", 0, 0, &t->epochs) || !get_int(o, "runs", 0, 0, &t->runs)) {
                free(want);
                JFAIL("%s: trials[%d]: not drawn yet (values null), so expected 0 epochs and 0 runs", origin, i);
            }
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "curve");
            const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
            if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != 0 || (er && !cJSON_IsNull(er))) {
                free(want);
                JFAIL("%s: trials[%d]: not drawn yet (values null), so expected an empty curve and no error", origin, i);
            }
            continue;
        }
        if (!cJSON_IsArray(vals) || cJSON_GetArraySize(vals) != tu->space.n) {
            free(want);
            JFAIL("%s: trials[%d].values: expected %d numbers", origin, i, tu->space.n);
        }
        int k = 0;
        for (const cJSON *x = vals->child; x; x = x->next, k++) {
            if (!cJSON_IsNumber(x)) {
                free(want);
                JFAIL("%s: trials[%d].values[%d]: expected a number", origin, i, k);
            }
            t->values[k] = x->valuedouble;
        }
        t->drawn = true;
        if (bracket > 0) { // a TPE draw: checked below, once the earlier brackets are read
            if (!dc_tune_space_contains(&tu->space, t->values)) {
                free(want);
                JFAIL("%s: trials[%d].values lie outside the space (an edited journal?)", origin, i);
            }
        } else {
            dc_rng r = dc_rng_stream(set.seed, TUNE_STREAM, (uint64_t)i);
            dc_tune_space_sample(&tu->space, want->values, &r);
            // equal to 1e-9 relative (a tool that re-prints the JSON may round the
            // last digits); the exact draw is then used
            if (!same_values(want->values, t->values, tu->space.n) || !dc_tune_space_contains(&tu->space, want->values)) {
                free(want);
                JFAIL("%s: trials[%d].values are not what seed %llu draws from the space (an edited journal?)", origin,
                      i, (unsigned long long)set.seed);
            }
            memcpy(t->values, want->values, sizeof(double) * (size_t)tu->space.n);
        }
        if (!get_int(o, "epochs", 0, set.budget, &t->epochs)) {
            free(want);
            JFAIL("%s: trials[%d].epochs: expected 0..%d", origin, i, set.budget);
        }
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "curve");
        if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != t->epochs) {
            free(want);
            JFAIL("%s: trials[%d].curve: expected %d values (one per epoch trained)", origin, i, t->epochs);
        }
        int e = 0;
        for (const cJSON *x = c->child; x; x = x->next, e++) {
            if (cJSON_IsNull(x)) t->curve[e] = NAN;
            else if (cJSON_IsNumber(x) && isfinite(x->valuedouble)) t->curve[e] = x->valuedouble;
            else {
                free(want);
                JFAIL("%s: trials[%d].curve[%d]: expected a number or null", origin, i, e);
            }
        }
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
        if (!cJSON_IsNumber(sec) || !(sec->valuedouble >= 0) || !isfinite(sec->valuedouble)) {
            free(want);
            JFAIL("%s: trials[%d].seconds: expected a finite number >= 0", origin, i);
        }
        t->seconds = sec->valuedouble;
        if (!get_int(o, "runs", 0, 1 << 30, &t->runs)) {
            free(want);
            JFAIL("%s: trials[%d].runs: expected a count", origin, i);
        }
        const cJSON *er = cJSON_GetObjectItemCaseSensitive(o, "error");
        if (cJSON_IsString(er)) snprintf(t->error, sizeof t->error, "%s", er->valuestring);
        else if (er && !cJSON_IsNull(er)) {
            free(want);
            JFAIL("%s: trials[%d].error: expected a string or null", origin, i);
        }
    }
    free(want);
    if ((st = check_tpe_brackets(tu, origin, err))) goto done;
done:
    cJSON_Delete(j);
    if (st) dc_tune_free(tu);
    return st;
}

dc_status dc_tune_load(dc_tune *tu, const char *path, dc_error *err) {
    uint8_t *data = NULL;
    size_t len = 0;
    dc_status st = dc_read_file(path, &data, &len, (size_t)1 << 30, err);
    if (st) {
        memset(tu, 0, sizeof *tu);
        return st;
    }
    st = dc_tune_parse_journal(tu, (const char *)data, len, path, err);
    free(data);
    if (!st) st = dc_tune_set_journal(tu, path, err);
    if (st) dc_tune_free(tu);
    return st;
}
