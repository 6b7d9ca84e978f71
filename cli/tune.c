// tune.c — `deepc tune`: hyperparameter search over any training option
// (random search or successive halving with ASHA's parameters), trials in
// parallel (one per core, or one per MPI rank under mpirun), a journal
// written atomically after every finished unit so that `deepc tune
// --resume JOURNAL` repeats nothing finished, the best trial's model
// written, the trials drawn in an HTML page. The metric is the validation
// accuracy of a --val-split held out from the training set; the test set
// is scored once, for the best model, after the search.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/core.h"
#include "dist/dist.h"
#include "learn_common.h"
#include "tune/trainer.h"
#include "tune/tune.h"

typedef struct tune_cli {
    bool json, quiet;
    const dc_tune *tu;
} tune_cli;

static void print_config(const dc_tune *tu, const dc_tune_trial *t, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < tu->space.n && len < cap; i++) {
        char v[64];
        dc_tune_value_text(&tu->space.p[i], t->values[i], v, sizeof v);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", i ? " " : "", tu->space.p[i].opt->name, v);
    }
}

static void on_unit(const dc_tune_event *ev, void *user) {
    tune_cli *c = user;
    const dc_tune_trial *t = &c->tu->trials[ev->trial];
    char cfg[512];
    print_config(c->tu, t, cfg, sizeof cfg);
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "unit");
        cJSON_AddNumberToObject(j, "trial", ev->trial);
        cJSON_AddNumberToObject(j, "rung", ev->rung);
        cJSON_AddNumberToObject(j, "from", ev->from);   // epochs the trial had before this unit
        cJSON_AddNumberToObject(j, "epochs", ev->to);   // and after it
        cli_json_add(j, "val_accuracy", ev->metric, 0); // null: the unit failed
        cJSON_AddNumberToObject(j, "seconds", ev->seconds);
        cJSON_AddNumberToObject(j, "done", ev->done);
        cJSON_AddNumberToObject(j, "total", ev->total);
        if (ev->error) cJSON_AddStringToObject(j, "error", ev->error);
        else cJSON_AddNullToObject(j, "error");
        cJSON_AddStringToObject(j, "config", cfg);
        cli_json_print(j);
    } else if (!c->quiet) {
        printf("[%4ld/%-4ld] trial %4d  rung %d -> %3d epochs  ", ev->done, ev->total, ev->trial, ev->rung, ev->to);
        if (ev->error) printf("failed: %s", ev->error);
        else printf("val acc %6.2f%%", 100 * ev->metric);
        printf("  %s  (%.1f s)\n", cfg, ev->seconds);
    }
    fflush(stdout);
}

// The fixed training options from a journal's meta.fixed record.
static bool fixed_from_json(dc_trainopts *o, const cJSON *f, const char *path) {
    if (!cJSON_IsObject(f)) {
        fprintf(stderr, "deepc tune: %s: meta.fixed: expected an object of training options\n", path);
        return false;
    }
    for (const dc_topt *t = dc_topts; t->name; t++) {
        char key[64];
        snprintf(key, sizeof key, "%s", t->name);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, key);
        double x;
        if (!v) continue;
        if (t->type == DC_TOPT_ENUM && cJSON_IsString(v)) {
            x = -1;
            for (int i = 0; t->choices[i]; i++)
                if (!strcmp(v->valuestring, t->choices[i])) x = i;
        } else if (t->type == DC_TOPT_BOOL && cJSON_IsBool(v)) {
            x = cJSON_IsTrue(v);
        } else if (cJSON_IsNumber(v)) {
            x = t->type == DC_TOPT_FLOAT ? (float)v->valuedouble : v->valuedouble;
        } else {
            x = NAN;
        }
        if (!dc_topt_in_range(t, x)) {
            fprintf(stderr, "deepc tune: %s: meta.fixed.%s: not a valid value\n", path, key);
            return false;
        }
        dc_topt_set(o, t, x);
    }
    return true;
}

static const char *meta_str(const cJSON *m, const char *k, char *buf, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, k);
    if (!cJSON_IsString(v)) return NULL;
    snprintf(buf, cap, "%s", v->valuestring);
    return buf;
}

// How the data is read (the loaders' options), for the journal: --resume
// reads the data the same way.
static cJSON *data_opts_json(const cli_data_opts *d) {
    cJSON *j = cJSON_CreateObject();
    if (d->channels) cJSON_AddNumberToObject(j, "channels", d->channels);
    if (d->input_size) cJSON_AddStringToObject(j, "input_size", d->input_size);
    if (d->input_shape) cJSON_AddStringToObject(j, "input_shape", d->input_shape);
    if (d->layout) cJSON_AddStringToObject(j, "layout", d->layout);
    if (d->classes) cJSON_AddStringToObject(j, "classes", d->classes);
    if (d->skip_bad) cJSON_AddBoolToObject(j, "skip_bad", true);
    return j;
}

// The inverse; strings land in store (4 buffers of cap bytes).
static void data_opts_from_json(cli_data_opts *d, const cJSON *j, char (*store)[1024]) {
    const cJSON *x;
    if (!cJSON_IsObject(j)) return;
    if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(j, "channels"))) d->channels = x->valueint;
    d->input_size = meta_str(j, "input_size", store[0], sizeof store[0]);
    d->input_shape = meta_str(j, "input_shape", store[1], sizeof store[1]);
    d->layout = meta_str(j, "layout", store[2], sizeof store[2]);
    d->classes = meta_str(j, "classes", store[3], sizeof store[3]);
    d->skip_bad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "skip_bad"));
}

// " --channels 3 --input-size 32x32 ..." for the winner's train command.
static size_t data_opts_args(char *buf, size_t cap, const cli_data_opts *d) {
    size_t n = 0;
#define ARG(...) do { if (n < cap) n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__); } while (0)
    if (d->channels) ARG(" --channels %d", d->channels);
    if (d->input_size) ARG(" --input-size %s", d->input_size);
    if (d->input_shape) ARG(" --input-shape %s", d->input_shape);
    if (d->layout) ARG(" --layout %s", d->layout);
    if (d->classes) ARG(" --classes %s", d->classes);
    if (d->skip_bad) ARG(" --skip-bad");
#undef ARG
    return n;
}

static int tune_main(int argc, char **argv, const dc_comm *comm) {
    const char *model = "lenet5", *data = "fashion-mnist", *space_path = NULL, *scheduler = "asha", *sampler = "random";
    const char *journal = "tune.json", *out = "best.safetensors", *html = NULL, *resume = NULL;
    int budget = 9, trials = 64, eta = 3, grace = 1, brackets = 4, parallel = 0, threads = 1, limit = 0, test_limit = 0;
    float val_split = 0.1f;
    uint64_t seed = 1;
    bool json = false, quiet = false;
    learn_opts lo = {.o = dc_trainopts_default()};
    cli_data_opts dopt = {0};
    char data_help[256];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[64] = {
        {"model", OPT_STR, &model, "built-in name or architecture file every trial trains [lenet5]"},
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        {"val-split", OPT_FLOAT, &val_split, "fraction of the training set held out as the metric (never the test set) [0.1]"},
        {"space", OPT_STR, &space_path, "the search space: JSON, {\"lr\": {\"log_uniform\": [0.001, 0.1]}, ...} (README)"},
        {"budget", OPT_INT, &budget, "most epochs one trial may get [9]"},
        {"scheduler", OPT_STR, &scheduler, "asha (successive halving) or random [asha]"},
        {"trials", OPT_INT, &trials, "trials (configurations drawn) [64]"},
        {"sampler", OPT_STR, &sampler, "random (every trial drawn up front) or tpe (later brackets drawn near the best of the earlier ones, BOHB-style) [random]"},
        {"brackets", OPT_INT, &brackets, "tpe: the trials run in this many consecutive brackets, each a full search; bracket b > 0 is drawn by TPE from brackets 0..b-1 [4]"},
        {"eta", OPT_INT, &eta, "ASHA reduction factor: each rung keeps the best 1/eta [3]"},
        {"grace", OPT_INT, &grace, "ASHA grace period: epochs of the first rung [1]"},
        {"journal", OPT_STR, &journal, "the search's record, written after every finished unit [tune.json]"},
        {"out", OPT_STR, &out, "the best trial's model [best.safetensors]"},
        {"html", OPT_STR, &html, "the trials as an HTML page [JOURNAL with .html]"},
        {"parallel", OPT_INT, &parallel, "trials at once (0: one per core; under mpirun: one per rank) [0]"},
        {"threads", OPT_INT, &threads, "threads per trial [1]"},
        {"seed", OPT_U64, &seed, "seed of the configurations and of every trial's training [1]"},
        {"limit", OPT_INT, &limit, "use only the first N training samples (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "use only the first N test samples (0: all)"},
        {"resume", OPT_STR, &resume, "continue the search in this journal (its settings are used)"},
        {"json", OPT_FLAG, &json, "machine-readable output: one JSON object per line"},
        {"quiet", OPT_FLAG, &quiet, "print only the final result"},
    };
    int n = 0;
    while (opts[n].name) n++;
    learn_add_train_rows(opts, &n, 64, &lo);
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 0, &n_pos, &help, "tune")) {
        if (help) {
            cli_usage("tune", "--space SPACE.json [options] | --resume JOURNAL", opts);
            return 0;
        }
        return 2;
    }
    if (!learn_finish(&lo, "tune")) return 2;
    const bool root = comm->rank == 0, mpi = comm->size > 1;
    if (!root) json = false, quiet = true;
    dc_error err;
    dc_tune tu;
    memset(&tu, 0, sizeof tu);
    char store[10][1024];
    cJSON *meta = NULL;
    if (resume) {
        static const char *const allowed[] = {"resume", "parallel", "threads", "json", "quiet", "out", "html", NULL};
        for (const dc_opt *o = opts; o->name; o++) {
            bool ok = false;
            for (int i = 0; allowed[i]; i++) ok |= !strcmp(o->name, allowed[i]);
            if (o->seen && !ok) {
                fprintf(stderr, "deepc tune: --%s with --resume: the search's settings come from %s (only --parallel, "
                                "--threads, --out, --html, --json and --quiet may be given)\n", o->name, resume);
                return 2;
            }
        }
        if (dc_tune_load(&tu, resume, &err)) return cli_fail("tune", &err);
        journal = resume;
        meta = tu.meta ? cJSON_Parse(tu.meta) : NULL;
        if (!cJSON_IsObject(meta)) {
            fprintf(stderr, "deepc tune: %s: no \"meta\" record of the command: not written by deepc tune\n", resume);
            dc_tune_free(&tu);
            cJSON_Delete(meta);
            return 1;
        }
        const cJSON *v;
        if (!(model = meta_str(meta, "model", store[0], sizeof store[0])) ||
            !(data = meta_str(meta, "data", store[1], sizeof store[1])) ||
            !cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(meta, "val_split")) ||
            !fixed_from_json(&lo.o, cJSON_GetObjectItemCaseSensitive(meta, "fixed"), resume)) {
            fprintf(stderr, "deepc tune: %s: meta: expected model, data, val_split and fixed\n", resume);
            dc_tune_free(&tu);
            cJSON_Delete(meta);
            return 1;
        }
        val_split = (float)v->valuedouble;
        const cJSON *x;
        if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(meta, "limit"))) limit = x->valueint;
        if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(meta, "test_limit"))) test_limit = x->valueint;
        if (cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(meta, "seed"))) seed = strtoull(x->valuestring, NULL, 10);
        data_opts_from_json(&dopt, cJSON_GetObjectItemCaseSensitive(meta, "data_options"), store + 6);
        if (!cli_find(opts, "out")->seen && meta_str(meta, "out", store[2], sizeof store[2])) out = store[2];
        if (!cli_find(opts, "html")->seen && meta_str(meta, "html", store[3], sizeof store[3])) html = store[3];
        if (!cli_find(opts, "threads")->seen && cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(meta, "threads")))
            threads = x->valueint;
    } else {
        if (!space_path) {
            fprintf(stderr, "deepc tune: --space FILE is required (or --resume JOURNAL); see deepc tune --help\n");
            return 2;
        }
        dc_tune_space sp;
        char *text = NULL;
        if (dc_tune_space_read(&sp, space_path, &text, &err)) return cli_fail("tune", &err), 2;
        dc_tune_settings s = {.n_trials = trials, .budget = budget, .eta = eta, .grace = grace, .seed = seed};
        if (!strcmp(scheduler, "asha")) s.scheduler = DC_TUNE_ASHA;
        else if (!strcmp(scheduler, "random")) s.scheduler = DC_TUNE_RANDOM;
        else {
            fprintf(stderr, "deepc tune: --scheduler '%s': expected asha or random\n", scheduler);
            free(text);
            return 2;
        }
        if (!strcmp(sampler, "tpe")) {
            s.sampler = DC_SAMPLER_TPE;
            s.brackets = brackets;
        } else if (!strcmp(sampler, "random")) {
            s.sampler = DC_SAMPLER_RANDOM;
            if (cli_find(opts, "brackets")->seen) {
                fprintf(stderr, "deepc tune: --brackets is for --sampler tpe (the random sampler draws every trial up front)\n");
                free(text);
                return 2;
            }
        } else {
            fprintf(stderr, "deepc tune: --sampler '%s': expected random or tpe\n", sampler);
            free(text);
            return 2;
        }
        if (!(val_split > 0 && val_split < 1)) {
            fprintf(stderr, "deepc tune: --val-split %g: tuning needs a validation split in (0, 1) (the test set is "
                            "never the metric)\n", val_split);
            free(text);
            return 2;
        }
        if (limit < 0 || test_limit < 0 || threads < 1 || threads > 1024 || parallel < 0) {
            fprintf(stderr, "deepc tune: --limit/--test-limit >= 0, --threads in 1..1024, --parallel >= 0\n");
            free(text);
            return 2;
        }
        if (dc_trainopts_check(&lo.o, budget, &err)) {
            free(text);
            return cli_fail("tune", &err), 2;
        }
        struct stat sb;
        if (root && stat(journal, &sb) == 0) {
            fprintf(stderr, "deepc tune: %s exists: continue it with --resume %s, or remove it\n", journal, journal);
            free(text);
            return 1;
        }
        if (!html) {
            static char hbuf[1024];
            size_t l = strlen(journal);
            if (l > 5 && !strcmp(journal + l - 5, ".json")) snprintf(hbuf, sizeof hbuf, "%.*s.html", (int)(l - 5), journal);
            else snprintf(hbuf, sizeof hbuf, "%s.html", journal);
            html = hbuf;
        }
        meta = cJSON_CreateObject();
        cJSON_AddStringToObject(meta, "tool", "deepc tune");
        cJSON_AddStringToObject(meta, "model", model);
        cJSON_AddStringToObject(meta, "data", data);
        cJSON_AddNumberToObject(meta, "val_split", val_split);
        cJSON_AddItemToObject(meta, "data_options", data_opts_json(&dopt));
        cJSON_AddNumberToObject(meta, "limit", limit);
        cJSON_AddNumberToObject(meta, "test_limit", test_limit);
        char sd[32];
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
        cJSON_AddStringToObject(meta, "seed", sd);
        cJSON_AddNumberToObject(meta, "threads", threads);
        cJSON_AddStringToObject(meta, "out", out);
        cJSON_AddStringToObject(meta, "html", html);
        char *fx = dc_trainopts_json(&lo.o, NULL);
        cJSON *fj = fx ? cJSON_Parse(fx) : NULL;
        free(fx);
        if (fj) cJSON_AddItemToObject(meta, "fixed", fj);
        char *ms = cJSON_PrintUnformatted(meta);
        dc_status st = dc_tune_init(&tu, &s, &sp, text, ms, &err);
        free(ms);
        free(text);
        if (st) {
            cJSON_Delete(meta);
            return cli_fail("tune", &err), 2;
        }
        if (dc_tune_set_journal(&tu, journal, &err) || (root && dc_tune_save(&tu, journal, &err))) {
            cJSON_Delete(meta);
            dc_tune_free(&tu);
            return cli_fail("tune", &err);
        }
    }
    if (!html) html = "tune.html";
    if (!parallel) parallel = dc_default_threads() / threads > 0 ? dc_default_threads() / threads : 1;
    if (mpi) parallel = 1;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s.trials", journal);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "deepc tune: cannot create %s: %s\n", dir, strerror(errno));
        cJSON_Delete(meta);
        dc_tune_free(&tu);
        return 1;
    }
    dc_dataset train, test, val;
    memset(&val, 0, sizeof val);
    int rc = 0;
    int rc0 = cli_data_open("tune", data, &dopt, 0, quiet || json, &train, &test);
    if (rc0) {
        cJSON_Delete(meta);
        dc_tune_free(&tu);
        return rc0;
    }
    if (train.unlabelled) {
        fprintf(stderr, "deepc tune: %s has no label column: trials need labels\n", train.source);
        rc = 1;
        goto out;
    }
    if (limit > 0) dc_dataset_truncate(&train, limit);
    if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
    if (dc_dataset_split(&train, &val, val_split, seed, &err)) {
        rc = cli_fail("tune", &err);
        goto out;
    }
    const bool fashion = cli_is_fashion(data);
    dc_tune_trainer tr = {.model = model, .train = &train, .val = &val, .base = lo.o, .seed = seed,
                          .threads = threads, .dir = dir, .class_names = fashion ? dc_fashion_classes : NULL,
                          .n_class_names = fashion ? 10 : 0, .data_name = data};
    if (!json && !quiet) {
        printf("tuning %s on %s: %d trials, %s", model, train.source, tu.s.n_trials,
               tu.s.scheduler == DC_TUNE_ASHA ? "successive halving" : "random search");
        if (tu.s.scheduler == DC_TUNE_ASHA) printf(" (eta %d, grace %d)", tu.s.eta, tu.s.grace);
        if (tu.s.sampler == DC_SAMPLER_TPE) printf(", TPE sampler over %d brackets", tu.s.brackets);
        printf(", budget %d epochs; %d train, %d validation samples; %d trial%s at once%s\n  rungs:", tu.s.budget,
               train.n, val.n, parallel, parallel == 1 ? "" : "s", mpi ? " per MPI rank" : "");
        for (int k = 0; k < tu.n_rungs; k++) printf(" %d trials x %d epochs%s", tu.rung_size[k], tu.rung_epochs[k],
                                                    k + 1 < tu.n_rungs ? "," : "\n");
        if (resume) printf("resuming %s: %ld epochs already trained\n", resume, dc_tune_total_epochs(&tu));
        fflush(stdout);
    }
    tune_cli cc = {.json = json, .quiet = quiet, .tu = &tu};
    double t0 = dc_now_seconds();
    if (dc_tune_run(&tu, dc_tune_train_objective, &tr, parallel, mpi ? comm : NULL, on_unit, &cc, &err)) {
        rc = cli_fail("tune", &err);
        goto out;
    }
    double secs = dc_now_seconds() - t0;
    if (!root) goto out;
    const int best = dc_tune_best(&tu);
    if (best < 0) {
        fprintf(stderr, "deepc tune: every trial failed (see %s)\n", journal);
        rc = 1;
        goto out;
    }
    const dc_tune_trial *bt = &tu.trials[best];
    const int brung = dc_tune_rung_of(&tu, bt);
    const double bval = dc_tune_metric_at(bt, tu.rung_epochs[brung]);
    char ckpt[1300], cfg[512];
    dc_tune_trial_path(ckpt, sizeof ckpt, dir, best);
    print_config(&tu, bt, cfg, sizeof cfg);
    dc_model *bm = NULL;
    if (dc_model_load(&bm, ckpt, &err)) {
        rc = cli_fail("tune", &err);
        goto out;
    }
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "tool", "deepc");
    cJSON_AddStringToObject(pj, "verb", "tune");
    cJSON_AddStringToObject(pj, "journal", journal);
    cJSON_AddNumberToObject(pj, "trial", best);
    cJSON_AddStringToObject(pj, "config", cfg);
    cJSON_AddNumberToObject(pj, "val_accuracy", bval);
    cJSON_AddNumberToObject(pj, "epochs", tu.rung_epochs[brung]);
    cJSON_AddStringToObject(pj, "data", train.source);
    cJSON_AddNumberToObject(pj, "train_samples", train.n);
    char *prov = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    if (prov) dc_model_set_info(bm, "provenance", prov, &err);
    free(prov);
    dc_eval_result r;
    memset(&r, 0, sizeof r);
    // the test split scores the winner once (a source without one: null)
    if (dc_model_save(bm, out, &err) || (test.n && dc_evaluate(bm, &test, 1000, threads * parallel, &r, &err)) ||
        dc_tune_html_write(html, &tu, "deepc tune", &err)) {
        dc_model_free(bm);
        rc = cli_fail("tune", &err);
        goto out;
    }
    dc_model_free(bm);
    // the winner as a train command
    dc_trainopts o;
    dc_tune_trial_options(&o, &tu, bt, &lo.o);
    char cmd[2048];
    size_t cl = (size_t)snprintf(cmd, sizeof cmd, "deepc train --model %s --data %s --epochs %d --seed %llu", model,
                                 data, tu.rung_epochs[brung], (unsigned long long)seed);
    if (cl < sizeof cmd) cl += data_opts_args(cmd + cl, sizeof cmd - cl, &dopt);
    dc_trainopts def = dc_trainopts_default();
    for (const dc_topt *t = dc_topts; t->name && cl < sizeof cmd; t++) {
        double v = dc_topt_get(&o, t);
        if (v == dc_topt_get(&def, t)) continue;
        if (t->type == DC_TOPT_BOOL) cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " --%s", t->name);
        else if (t->type == DC_TOPT_ENUM)
            cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " --%s %s", t->name, t->choices[(int)v]);
        else cl += (size_t)snprintf(cmd + cl, sizeof cmd - cl, " --%s %.9g", t->name, v);
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "done");
        cJSON_AddNumberToObject(j, "best_trial", best);
        cli_json_add(j, "val_accuracy", bval, 0);
        cJSON_AddNumberToObject(j, "epochs", tu.rung_epochs[brung]);
        cli_json_add(j, "test_accuracy", test.n ? r.accuracy : NAN, 0); // the best model's, scored once after the search
        cJSON_AddNumberToObject(j, "total_epochs", (double)dc_tune_total_epochs(&tu));
        cJSON_AddNumberToObject(j, "units_run", (double)tu.units_run);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddStringToObject(j, "config", cfg);
        cJSON_AddStringToObject(j, "out", out);
        cJSON_AddStringToObject(j, "journal", journal);
        cJSON_AddStringToObject(j, "html", html);
        cJSON_AddStringToObject(j, "train_command", cmd);
        if (!cli_json_print(j)) rc = 1;
    } else {
        printf("best: trial %d, validation accuracy %.2f%% after %d epochs: %s\n", best, 100 * bval,
               tu.rung_epochs[brung], cfg);
        if (test.n)
            printf("test accuracy of the best model: %.2f%% (scored once, after the search; never used to choose)\n",
                   100 * r.accuracy);
        else printf("%s has no test split: the best model is not scored beyond its validation accuracy\n", train.source);
        printf("%ld epochs trained in %.1f s (every trial to the budget: %ld); saved %s, journal %s, page %s\n",
               dc_tune_total_epochs(&tu), secs, (long)tu.s.n_trials * tu.s.budget, out, journal, html);
        printf("as a train command: %s\n", cmd);
    }
    dc_eval_result_free(&r);
out:
    cJSON_Delete(meta);
    dc_tune_free(&tu);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_dataset_free(&val);
    return rc;
}

int cmd_tune(int argc, char **argv) {
    return cli_mpi_main("tune", "one trial per MPI rank", tune_main, argc, argv);
}
