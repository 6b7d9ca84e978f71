// tune.h — hyperparameter search: random search, and successive halving
// with ASHA's parameters (reduction factor eta, grace period, max budget),
// over a search space (space.h), with a journal that makes a crashed search
// resumable with nothing finished run twice.
//
// Rungs. With grace g, factor eta and budget R (the most epochs one trial
// may get), rung k trains its trials to r_k = g * eta^k epochs for every
// r_k < R, and the last rung to R. Rung 0 holds every trial; rung k+1 the
// best max(1, floor(n_k / eta)) of rung k's n_k trials, ranked by their
// metric after r_k epochs (higher is better; ties: the lower trial id;
// failed trials last). This is ASHA (Li et al. 2020) with its promotions
// taken at rung boundaries: the asynchronous form promotes as soon as a
// trial is in the top 1/eta of those finished so far, which depends on
// timing; waiting for the rung makes the search a function of its seed, so
// a resumed or re-run search repeats exactly, on any number of workers.
// Random search is one rung: every trial trained to R.
//
// Work is split into units (one trial from its current epoch to the next
// rung's), run in parallel: `parallel` at once in this process (OpenMP),
// or one per MPI rank when a communicator is given (units dealt round-robin;
// every rank then learns all results). After every finished unit (under
// MPI: every rung) the journal is written atomically; dc_tune_load + run
// continues from it, and a unit's objective may itself resume from a
// checkpoint it wrote (src/tune/trainer.c does).
//
// Sampler. Random: trial i's configuration is drawn from the stream
// (seed, i), all up front, so the same seed and space give the same trials
// under either scheduler. TPE (tpe.h), in BOHB's style (Falkner et al.
// 2018): the trials are split into `brackets` consecutive brackets of
// nearly equal size (bracket b holds ids [b*n/K, (b+1)*n/K)), each a
// complete run of the scheduler over its own trials with the same rungs;
// bracket 0 is the random draw above, and bracket b > 0 is drawn only when
// brackets 0..b-1 are finished, by TPE fitted to all their trials: each
// trial's metric at the highest rung that at least (parameters + 2) of them
// reached (BOHB's rule; rung 0 when none), ranked with every trial ASHA
// stopped earlier below them, failed trials worst. Trial i of such a
// bracket draws from the stream (seed, TPE, i): with BOHB's probability 1/3
// at random, else by TPE. So the search stays a
// function of (seed, space, settings, objective results): any worker count
// gives the same trials, and a journal's TPE trials are checked on load by
// drawing them again from its earlier brackets.
#ifndef DC_TUNE_H
#define DC_TUNE_H

#include "tune/space.h"

#define DC_TUNE_MAX_RUNGS 32
#define DC_TUNE_MAX_TRIALS 100000

typedef enum { DC_TUNE_RANDOM, DC_TUNE_ASHA } dc_tune_scheduler;
typedef enum { DC_SAMPLER_RANDOM, DC_SAMPLER_TPE } dc_tune_sampler;

typedef struct dc_tune_settings {
    dc_tune_scheduler scheduler;
    int n_trials;   // 1..DC_TUNE_MAX_TRIALS
    int budget;     // R: most epochs of one trial, 1..100000
    int eta;        // reduction factor >= 2 [3]
    int grace;      // epochs of rung 0, 1..budget [1]
    uint64_t seed;  // configurations
    dc_tune_sampler sampler; // [random]
    int brackets;   // TPE: 1..n_trials [4 in the CLI]; random: 1 (0 reads as 1)
} dc_tune_settings;

typedef struct dc_tune_trial {
    int id;
    double values[DC_TUNE_MAX_PARAMS]; // the space's parameters, sampled (when drawn)
    bool drawn;      // values hold the configuration (TPE: false until its bracket is drawn)
    int epochs;      // trained so far
    double *curve;   // (budget) metric after each epoch; NaN where not trained
    double seconds;  // time spent in the objective
    int runs;        // objective calls that finished (a unit resumed after a crash counts again)
    char error[160]; // why it failed (a diverged run, a bad combination), or ""
} dc_tune_trial;

typedef struct dc_tune {
    dc_tune_settings s;
    dc_tune_space space;
    char *space_text;   // the space as given (kept in the journal), owned
    char *meta;         // the caller's JSON object (kept in the journal), owned
    int n_rungs;
    int rung_epochs[DC_TUNE_MAX_RUNGS];
    int rung_size[DC_TUNE_MAX_RUNGS]; // trials in rung k, over all brackets
    dc_tune_trial *trials; // (s.n_trials), owned
    char *journal;      // path written after every finished unit, or NULL; owned
    long units_run;     // units this process finished (resume tests)
} dc_tune;

// The objective: train trial t (configuration t->values) from epoch `from`
// to `to` (0 <= from < to <= budget), writing the metric after each of
// those epochs into curve[0 .. to-from) (higher is better) and the time
// spent into *seconds. Called for different trials from several threads at
// once. DC_ERR_ARG or DC_ERR_NUMERIC mean this trial failed (a bad
// combination of options, a diverged run): it is recorded and ranked last;
// any other error stops the search.
typedef dc_status (*dc_tune_objective)(void *user, const dc_tune *tu, const dc_tune_trial *t, int from, int to,
                                       double *curve, double *seconds, dc_error *err);

typedef struct dc_tune_event {
    int trial, rung, from, to;
    double metric;      // after `to` epochs (NaN: failed)
    double seconds;
    const char *error;  // the failure, or NULL
    long done, total;   // units finished / in the schedule so far (an upper bound)
} dc_tune_event;
typedef void (*dc_tune_callback)(const dc_tune_event *ev, void *user);

// The rungs and each rung's size (summed over the brackets) for settings s
// (checks them).
dc_status dc_tune_plan(const dc_tune_settings *s, int *n_rungs, int *epochs, int *size, dc_error *err);
// A new search: the rungs, and every trial's configuration drawn (TPE:
// bracket 0's; the others are drawn by dc_tune_run).
// space_text and meta (a JSON object, may be NULL) are copied.
dc_status dc_tune_init(dc_tune *tu, const dc_tune_settings *s, const dc_tune_space *sp, const char *space_text,
                       const char *meta, dc_error *err);
void dc_tune_free(dc_tune *tu);
// Sets the journal path (copied; NULL: none).
dc_status dc_tune_set_journal(dc_tune *tu, const char *path, dc_error *err);

// Runs every unit still to do. parallel >= 1 units at once in this
// process; comm (may be NULL): one unit per rank. cb (may be NULL) hears of
// every finished unit (on rank 0 only under MPI).
dc_status dc_tune_run(dc_tune *tu, dc_tune_objective obj, void *user, int parallel, const dc_comm *comm,
                      dc_tune_callback cb, void *cbuser, dc_error *err);

// The journal: the settings, the space's text, the caller's meta object,
// the rungs, and every trial's configuration (values and readable config;
// null for a TPE trial not drawn yet), curve, epochs, time, runs and error;
// the best trial. With TPE the settings add "sampler" and "brackets" and
// every trial its "bracket"; a random search's journal is as before (a
// journal without "sampler" is a random one). Written atomically.
char *dc_tune_journal_json(const dc_tune *tu);
dc_status dc_tune_save(const dc_tune *tu, const char *path, dc_error *err);
// Reads a journal (checked: format, version, settings, the space re-parsed,
// every trial's values drawn from it, TPE brackets drawn again from the
// journal's earlier brackets, curves consistent with epochs).
dc_status dc_tune_load(dc_tune *tu, const char *path, dc_error *err);
dc_status dc_tune_parse_journal(dc_tune *tu, const char *text, size_t len, const char *origin, dc_error *err);

// The metric of t after e epochs (1-based), NaN if not trained or failed.
double dc_tune_metric_at(const dc_tune_trial *t, int e);
// The highest rung t has completed, -1 for none.
int dc_tune_rung_of(const dc_tune *tu, const dc_tune_trial *t);
// The best trial: the highest rung reached, then the best metric at that
// rung's epochs, then the lower id. -1 when no trial finished a unit.
int dc_tune_best(const dc_tune *tu);
// The number of brackets (1 for the random sampler), the bracket of trial
// id, and the ids [*first, *end) of bracket b.
int dc_tune_n_brackets(const dc_tune *tu);
int dc_tune_bracket_of(const dc_tune *tu, int id);
void dc_tune_bracket_range(const dc_tune *tu, int b, int *first, int *end);
// Whether every unit of bracket b's schedule is done.
bool dc_tune_bracket_finished(const dc_tune *tu, int b);
// Draws bracket b's configurations by TPE from brackets 0..b-1 (which must
// be finished) into want[(end - first) * DC_TUNE_MAX_PARAMS] (NULL: into the
// trials, marking them drawn).
dc_status dc_tune_draw_bracket(dc_tune *tu, int b, double *want, dc_error *err);
// Epochs trained over all trials.
long dc_tune_total_epochs(const dc_tune *tu);
// Whether every unit of the schedule is done.
bool dc_tune_finished(const dc_tune *tu);

// A self-contained HTML page of the search (no scripts, no external links):
// the settings, the best trial, the rungs, every trial's validation curve
// with the rungs marked, a scatter of the metric against each
// hyperparameter (log axis for log_uniform ones, coloured by the rung
// reached), and the table of trials. *html malloc'd.
dc_status dc_tune_html(char **html, size_t *len, const dc_tune *tu, const char *title, dc_error *err);
dc_status dc_tune_html_write(const char *path, const dc_tune *tu, const char *title, dc_error *err);

#endif
