// train.c — `deepc train`: builds or resumes a model, trains it, writes the
// checkpoint atomically after every epoch, prints one line per epoch (or one
// JSON object per line with --json) and the final test accuracy.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "core/core.h"
#include "dist/dist.h"
#include "privacy/dp_record.h"

typedef struct train_opts {
    const char *model, *data, *out, *resume, *optim, *sched, *arch_out;
    int epochs, batch, threads, step_size, warmup, limit, test_limit;
    float lr, momentum, wd, beta1, beta2, eps, gamma, min_lr, clip, val_split;
    float rotate, scale, translate, erase;
    int crop;
    bool nesterov, hflip, json, quiet;
    uint64_t seed;
    bool dp;                       // DP-SGD
    float noise, target_eps, delta;
    uint64_t dp_seed;
    char store[16][512]; // strings restored from a checkpoint's config
    int n_store;
    const cli_data_opts *dopt; // how the data was read (stored for --resume)
} train_opts;

static const char *optim_names[] = {"sgd", "adam", "adamw"};
static const char *sched_names[] = {"constant", "step", "cosine"};

static int lookup(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

// The run's options as JSON: stored in the model, used as defaults on resume.
static char *opts_to_json(const train_opts *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddStringToObject(j, "data", o->data);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddStringToObject(j, "optim", o->optim);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "momentum", o->momentum);
    cJSON_AddBoolToObject(j, "nesterov", o->nesterov);
    cJSON_AddNumberToObject(j, "weight_decay", o->wd);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddStringToObject(j, "sched", o->sched);
    cJSON_AddNumberToObject(j, "step_size", o->step_size);
    cJSON_AddNumberToObject(j, "gamma", o->gamma);
    cJSON_AddNumberToObject(j, "min_lr", o->min_lr);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "val_split", o->val_split);
    cJSON_AddNumberToObject(j, "rotate", o->rotate);
    cJSON_AddNumberToObject(j, "scale", o->scale);
    cJSON_AddNumberToObject(j, "translate", o->translate);
    cJSON_AddBoolToObject(j, "hflip", o->hflip);
    cJSON_AddNumberToObject(j, "crop", o->crop);
    cJSON_AddNumberToObject(j, "erase", o->erase);
    cJSON_AddNumberToObject(j, "limit", o->limit);
    if (o->dopt) { // how the data was read: --resume reads it the same way
        const cli_data_opts *d = o->dopt;
        if (d->channels) cJSON_AddNumberToObject(j, "channels", d->channels);
        if (d->input_size) cJSON_AddStringToObject(j, "input_size", d->input_size);
        if (d->input_shape) cJSON_AddStringToObject(j, "input_shape", d->input_shape);
        if (d->layout) cJSON_AddStringToObject(j, "layout", d->layout);
        if (d->classes) cJSON_AddStringToObject(j, "classes", d->classes);
        if (d->skip_bad) cJSON_AddBoolToObject(j, "skip_bad", true);
    }
    cJSON_AddNumberToObject(j, "test_limit", o->test_limit);
    if (o->dp) { // the noise multiplier actually used (solved from --target-epsilon if given)
        cJSON_AddBoolToObject(j, "dp", o->dp);
        cJSON_AddNumberToObject(j, "noise", o->noise);
        cJSON_AddNumberToObject(j, "delta", o->delta);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

// Fills options not given on the command line from a stored config.
static bool opts_from_json(train_opts *o, dc_opt *opts, const char *json, const char *path) {
    cJSON *j = cJSON_Parse(json);
    if (!cJSON_IsObject(j)) {
        fprintf(stderr, "deepc train: %s: __metadata__ deepc.train_config is not a JSON object\n", path);
        cJSON_Delete(j);
        return false;
    }
    for (dc_opt *d = opts; d->name; d++) {
        if (d->seen) continue;
        char key[64];
        snprintf(key, sizeof key, "%s", d->name);
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        if (!v) continue;
        d->seen = true; // restored: counts as given
        if (d->type == OPT_INT && cJSON_IsNumber(v)) *(int *)d->dst = v->valueint;
        else if (d->type == OPT_FLOAT && cJSON_IsNumber(v)) *(float *)d->dst = (float)v->valuedouble;
        else if (d->type == OPT_FLAG && cJSON_IsBool(v)) *(bool *)d->dst = cJSON_IsTrue(v);
        else if (d->type == OPT_U64 && cJSON_IsString(v)) *(uint64_t *)d->dst = strtoull(v->valuestring, NULL, 10);
        else if (d->type == OPT_STR && cJSON_IsString(v)) {
            // the strings outlive the JSON: copy them into the options' own store
            if (o->n_store < 16) {
                snprintf(o->store[o->n_store], sizeof o->store[0], "%s", v->valuestring);
                *(const char **)d->dst = o->store[o->n_store++];
            }
        }
    }
    cJSON_Delete(j);
    return true;
}

typedef struct cb_state {
    bool json, quiet;
    const char *heldout; // "val", "test", or NULL: none
    dc_progress bar;
} cb_state;

static void on_event(const dc_train_event *ev, void *user) {
    cb_state *s = user;
    if (ev->kind == DC_EVENT_STEP) {
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f acc %.2f%%", ev->train_loss, 100 * ev->train_acc);
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", ev->epoch, ev->epochs);
        progress_update(&s->bar, label, ev->step, ev->steps, ev->seconds, extra);
        return;
    }
    progress_clear(&s->bar);
    if (s->json) {
        // the shared vocabulary: a figure of one split is split_quantity;
        // null where there is nothing to report
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "epoch");
        cJSON_AddNumberToObject(j, "epoch", ev->epoch);
        cJSON_AddNumberToObject(j, "epochs", ev->epochs);
        cJSON_AddNumberToObject(j, "train_loss", ev->train_loss);
        cJSON_AddNumberToObject(j, "train_accuracy", ev->train_acc);
        const bool val = s->heldout && !strcmp(s->heldout, "val");
        cli_json_add(j, "val_accuracy", val ? ev->test_acc : NAN, 0);
        cli_json_add(j, "test_accuracy", val ? NAN : ev->test_acc, 0);
        cJSON_AddNumberToObject(j, "seconds", ev->seconds);
        cJSON_AddNumberToObject(j, "cpu_seconds", ev->cpu_seconds);
        cJSON_AddNumberToObject(j, "lr", ev->lr);
        cli_json_add(j, "epsilon", ev->epsilon, 0); // null: not DP, or unbounded (sigma 0)
        cli_json_print(j);
    } else if (!s->quiet) {
        printf("epoch %3d/%d  loss %.4f  train acc %6.2f%%", ev->epoch, ev->epochs, ev->train_loss,
               100 * ev->train_acc);
        if (ev->test_acc >= 0) printf("  %s acc %6.2f%%", s->heldout ? s->heldout : "test", 100 * ev->test_acc);
        if (ev->epsilon >= 0) printf("  eps %.3f", ev->epsilon);
        printf("  lr %.3g  %.2f s\n", ev->lr, ev->seconds);
    }
    fflush(stdout);
}

// 1 when two tables' column names differ (their counts are equal)
static int memcmp_columns(const dc_tabular *a, const dc_tabular *b) {
    for (int k = 0; k < a->f; k++)
        if (strcmp(a->columns[k], b->columns[k])) return 1;
    return 0;
}

static int train_main(int argc, char **argv, const dc_comm *comm) {
    train_opts o = {.model = "lenet5", .data = "fashion-mnist", .out = NULL, .optim = "sgd",
                    .sched = "constant", .epochs = 10, .batch = 64, .threads = 0, .step_size = 1,
                    .lr = 0.001f, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                    .gamma = 0.1f, .seed = 1, .delta = 1e-5f};
    const char *reweight = NULL; // --reweight FILE: groups of the training samples
    const char *tab_path = NULL, *test_tab_path = NULL, *tab_id = NULL; // multimodal models
    const char *teacher_path = NULL; // --teacher: knowledge distillation
    float distill_alpha = 0.5f, distill_temp = 4.0f;
    dc_model *teacher = NULL;
    float mpi_timeout = (float)DC_MPI_TIMEOUT_DEFAULT;
    cli_data_opts dopt = {0};
    o.dopt = &dopt;
    char data_help[400], model_help[200];
    cli_data_help(data_help, sizeof data_help);
    snprintf(model_help, sizeof model_help, "built-in (%s) or architecture file [lenet5]", dc_model_builtin_names());
    dc_opt opts[] = {
        {"model", OPT_STR, &o.model, model_help},
        {"data", OPT_STR, &o.data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        {"epochs", OPT_INT, &o.epochs, "total epochs (a resumed run continues up to this) [10]"},
        {"batch", OPT_INT, &o.batch, "mini-batch size [64]"},
        {"optim", OPT_STR, &o.optim, "sgd, adam or adamw [sgd]"},
        {"lr", OPT_FLOAT, &o.lr, "learning rate [0.001]"},
        {"momentum", OPT_FLOAT, &o.momentum, "SGD momentum [0.9]"},
        {"nesterov", OPT_FLAG, &o.nesterov, "Nesterov momentum"},
        {"weight-decay", OPT_FLOAT, &o.wd, "L2 penalty (decoupled for adamw) [0]"},
        {"beta1", OPT_FLOAT, &o.beta1, "Adam beta1 [0.9]"},
        {"beta2", OPT_FLOAT, &o.beta2, "Adam beta2 [0.999]"},
        {"eps", OPT_FLOAT, &o.eps, "Adam epsilon [1e-8]"},
        {"sched", OPT_STR, &o.sched, "learning-rate schedule: constant, step, cosine [constant]"},
        {"step-size", OPT_INT, &o.step_size, "step schedule: epochs between decays [1]"},
        {"gamma", OPT_FLOAT, &o.gamma, "step schedule: decay factor [0.1]"},
        {"min-lr", OPT_FLOAT, &o.min_lr, "cosine schedule: final learning rate [0]"},
        {"warmup", OPT_INT, &o.warmup, "epochs of linear warmup (per step) [0]"},
        {"clip", OPT_FLOAT, &o.clip, "clip the global gradient norm to this (0: off); with --dp: the per-sample norm [0; --dp: 1]"},
        {"dp", OPT_FLAG, &o.dp, "DP-SGD: Poisson lots, per-sample clipping, Gaussian noise, RDP accounting"},
        {"noise", OPT_FLOAT, &o.noise, "DP-SGD noise multiplier sigma (or give --target-epsilon)"},
        {"target-epsilon", OPT_FLOAT, &o.target_eps, "DP-SGD: solve sigma so that training ends at this epsilon"},
        {"delta", OPT_FLOAT, &o.delta, "DP-SGD: delta of the (epsilon, delta) guarantee [1e-5]"},
        {"dp-seed", OPT_U64, &o.dp_seed, "DP-SGD: reproducible noise and sampling from this seed (tests; not secret)"},
        {"seed", OPT_U64, &o.seed, "random seed (init, shuffle, augmentation, dropout) [1]"},
        {"threads", OPT_INT, &o.threads, "threads (0: all cores) [0]"},
        {"val-split", OPT_FLOAT, &o.val_split, "hold out this fraction of the training set for validation [0]"},
        {"rotate", OPT_FLOAT, &o.rotate, "augmentation: max rotation in degrees [0]"},
        {"scale", OPT_FLOAT, &o.scale, "augmentation: max relative scale change [0]"},
        {"translate", OPT_FLOAT, &o.translate, "augmentation: max shift in pixels [0]"},
        {"hflip", OPT_FLAG, &o.hflip, "augmentation: random horizontal flips"},
        {"crop", OPT_INT, &o.crop, "augmentation: random crop with this much zero padding, pixels [0]"},
        {"erase", OPT_FLOAT, &o.erase, "augmentation: random erasing (cutout) with this probability [0]"},
        {"teacher", OPT_STR, &teacher_path, "knowledge distillation from this trained model (soft targets of each augmented batch; give it again with --resume)"},
        {"distill-alpha", OPT_FLOAT, &distill_alpha, "--teacher: weight of the soft targets in the loss, 0..1 [0.5]"},
        {"distill-t", OPT_FLOAT, &distill_temp, "--teacher: softmax temperature of the soft targets [4]"},
        {"reweight", OPT_STR, &reweight, "reweighing for fairness (Kamiran & Calders): CSV of \"index,group\" per training sample, or builtin:brightness"},
        {"tabular", OPT_STR, &tab_path, "multimodal models: CSV of numbers, a header of column names and one row per training sample"},
        {"test-tabular", OPT_STR, &test_tab_path, "multimodal models: the test samples' rows (same columns)"},
        {"tabular-id", OPT_STR, &tab_id, "the --tabular/--test-tabular column that numbers each row's sample (else rows are in sample order)"},
        {"limit", OPT_INT, &o.limit, "use only the first N training samples (0: all)"},
        {"test-limit", OPT_INT, &o.test_limit, "use only the first N test samples (0: all)"},
        {"out", OPT_STR, &o.out, "checkpoint to write after every epoch [model.safetensors]"},
        {"resume", OPT_STR, &o.resume, "continue training from this checkpoint"},
        {"mpi-timeout", OPT_FLOAT, &mpi_timeout, "under mpirun: seconds an exchange may wait for the other ranks before the job is aborted (0: forever) [300]"},
        {"json", OPT_FLAG, &o.json, "machine-readable output: one JSON object per line"},
        {"quiet", OPT_FLAG, &o.quiet, "print only the final result"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 0, &n_pos, &help, "train")) {
        if (help) {
            cli_usage("train", "[options]", opts);
            return 0;
        }
        return 2;
    }
    if (!(mpi_timeout >= 0)) {
        fprintf(stderr, "deepc train: --mpi-timeout %g: expected seconds >= 0 (0: wait forever)\n", mpi_timeout);
        return 2;
    }
    dc_mpi_set_timeout(comm, mpi_timeout);
    dc_error err;
    dc_model *m = NULL;
    const bool root = comm->rank == 0;
    if (!root) { // one voice: rank 0 prints and writes
        o.quiet = true;
        o.json = false;
    }
    if (comm->size > 1 && !cli_find(opts, "threads")->seen) {
        // share the cores among the ranks on this machine
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        int ls = local ? atoi(local) : comm->size;
        int t = dc_default_threads() / (ls > 0 ? ls : 1);
        o.threads = t > 0 ? t : 1;
    }
    if (o.resume) {
        if (dc_model_load(&m, o.resume, &err)) return cli_fail("train", &err);
        const float *w = dc_model_params(m);
        size_t nbad = 0, np = dc_model_num_params(m);
        for (size_t j = 0; j < np; j++) nbad += !isfinite(w[j]);
        if (nbad) { // written by an older deepc from a diverged run
            fprintf(stderr, "deepc train: %s: %zu of its %zu weights are NaN or Inf (a diverged run): it cannot be resumed\n",
                    o.resume, nbad, np);
            dc_model_free(m);
            return 1;
        }
        const char *cfg = dc_model_info(m, "train_config");
        const bool clip_given = cli_find(opts, "clip")->seen, epochs_given = cli_find(opts, "epochs")->seen;
        if (cfg && !opts_from_json(&o, opts, cfg, o.resume)) {
            dc_model_free(m);
            return 1;
        }
        // a cosine schedule spans the run's total --epochs: another total on
        // resume re-spans it from here, unlike one run of that length
        cJSON *jc = epochs_given && cfg && o.sched && !strcmp(o.sched, "cosine") ? cJSON_Parse(cfg) : NULL;
        const cJSON *je = cJSON_GetObjectItemCaseSensitive(jc, "epochs");
        if (root && cJSON_IsNumber(je) && je->valueint != o.epochs)
            fprintf(stderr,
                    "deepc train: note: %s followed a cosine schedule over %d epochs; --epochs %d re-spans it from "
                    "epoch %d, so the result differs from %d epochs straight (equal when the first run is started "
                    "with --epochs %d and stopped early)\n",
                    o.resume, je->valueint, o.epochs, dc_model_epochs_done(m) + 1, o.epochs, o.epochs);
        cJSON_Delete(jc);
        // DP: continue with the clip actually used (older checkpoints stored
        // 0 for "the default"), as the privacy record has it
        float used = dc_dp_record_clip(dc_model_info(m, "privacy"));
        if (o.dp && !clip_given && used > 0) o.clip = used;
        if (!o.out) o.out = o.resume;
    }
    if (!o.out) o.out = "model.safetensors";
    int ok = 1, rc0 = 0;
#define BAD(...) do { fprintf(stderr, "deepc train: " __VA_ARGS__); fprintf(stderr, "\n"); ok = 0; } while (0)
    int optim = lookup(o.optim, optim_names, 3), sched = lookup(o.sched, sched_names, 3);
    if (optim < 0) BAD("--optim '%s': expected sgd, adam or adamw", o.optim);
    else if (sched < 0) BAD("--sched '%s': expected constant, step or cosine", o.sched);
    else if (o.epochs < 1 || o.epochs > 100000) BAD("--epochs %d: expected 1..100000", o.epochs);
    else if (o.batch < 1 || o.batch > 65536) BAD("--batch %d: expected 1..65536", o.batch);
    else if (!(o.lr > 0)) BAD("--lr %g: must be > 0", o.lr);
    else if (o.momentum < 0 || o.momentum >= 1) BAD("--momentum %g: expected [0, 1)", o.momentum);
    else if (o.nesterov && (optim != 0 || o.momentum <= 0)) BAD("--nesterov needs --optim sgd and --momentum > 0");
    else if (o.wd < 0) BAD("--weight-decay %g: must be >= 0", o.wd);
    else if (o.threads < 0 || o.threads > 1024) BAD("--threads %d: expected 0..1024", o.threads);
    else if (o.val_split < 0 || o.val_split >= 1) BAD("--val-split %g: expected [0, 1)", o.val_split);
    else if (o.step_size < 1) BAD("--step-size %d: must be >= 1", o.step_size);
    else if (o.warmup < 0 || o.warmup >= o.epochs) BAD("--warmup %d: expected 0..epochs-1", o.warmup);
    else if (o.clip < 0) BAD("--clip %g: must be >= 0", o.clip);
    else if (o.rotate < 0 || o.rotate > 180 || o.scale < 0 || o.scale >= 1 || o.translate < 0)
        BAD("augmentation: --rotate in [0,180], --scale in [0,1), --translate >= 0");
    else if (o.crop < 0 || o.crop > 1024 || !(o.erase >= 0 && o.erase <= 1))
        BAD("augmentation: --crop in [0,1024] pixels, --erase a probability in [0,1]");
    else if (o.limit < 0 || o.test_limit < 0) BAD("--limit/--test-limit must be >= 0");
    else if ((test_tab_path || tab_id) && !tab_path) BAD("--test-tabular and --tabular-id go with --tabular");
    else if (tab_path && reweight) BAD("--reweight is for image models; it does not take --tabular");
    else if (!o.dp && (cli_find(opts, "noise")->seen || cli_find(opts, "target-epsilon")->seen ||
                       cli_find(opts, "dp-seed")->seen))
        BAD("--noise, --target-epsilon and --dp-seed need --dp");
    else if (o.dp && cli_find(opts, "noise")->seen == cli_find(opts, "target-epsilon")->seen)
        BAD("--dp needs exactly one of --noise SIGMA and --target-epsilon EPS");
    else if (o.dp && (o.noise < 0 || (cli_find(opts, "target-epsilon")->seen && !(o.target_eps > 0))))
        BAD("--noise must be >= 0 and --target-epsilon > 0");
    else if (o.dp && !(o.delta > 0 && o.delta < 1)) BAD("--delta %g: expected (0, 1)", o.delta);
    else if (o.dp && cli_find(opts, "clip")->seen && !(o.clip > 0) && !o.resume)
        BAD("--clip %g: DP-SGD needs a per-sample clip norm > 0", o.clip);
    else if (!teacher_path && (cli_find(opts, "distill-alpha")->seen || cli_find(opts, "distill-t")->seen))
        BAD("--distill-alpha and --distill-t need --teacher MODEL");
    else if (teacher_path && !(distill_alpha >= 0 && distill_alpha <= 1))
        BAD("--distill-alpha %g: expected a weight in [0, 1]", distill_alpha);
    else if (teacher_path && !(distill_temp > 0 && distill_temp <= 1000))
        BAD("--distill-t %g: expected a temperature in (0, 1000]", distill_temp);
    else if (teacher_path && o.dp)
        BAD("--teacher is not supported with --dp (the teacher's outputs would need their own privacy accounting)");
    else if (o.resume && dc_model_epochs_done(m) >= o.epochs)
        BAD("%s has already trained %d epochs; pass --epochs N with N > %d to continue", o.resume,
            dc_model_epochs_done(m), dc_model_epochs_done(m));
    if (!ok) {
        dc_model_free(m);
        return 2;
    }
    if (o.dp && !(o.clip > 0)) o.clip = 1.0f; // the DP default, stored as used for --resume
    if (root) {
        // fail now, not after the first epoch, if the checkpoint cannot be written
        if (dc_check_output(o.out, &err)) {
            fprintf(stderr, "deepc train: --out %s\n", err.msg);
            dc_model_free(m);
            return 1;
        }
    }
    dc_dataset train, test, val;
    memset(&val, 0, sizeof val);
    if ((rc0 = cli_data_open("train", o.data, &dopt, o.threads, o.quiet || o.json, &train, &test))) {
        dc_model_free(m);
        return rc0;
    }
    if (train.unlabelled) {
        fprintf(stderr, "deepc train: %s has no label column: it can be predicted on (deepc predict), not trained on\n",
                train.source);
        dc_model_free(m);
        dc_dataset_free(&train);
        dc_dataset_free(&test);
        return 1;
    }
    int rc = 0;
    float *rw = NULL; // --reweight sample weights
    // multimodal: one row per sample of the whole files, cut and split with them
    dc_tabular tab = {0}, test_tab = {0}, val_tab = {0};
    if (tab_path && dc_tabular_read_csv(&tab, tab_path, tab_id, train.n, &err)) {
        rc = cli_fail("train", &err);
        goto out;
    }
    if (test_tab_path && !test.n) {
        fprintf(stderr, "deepc train: --test-tabular %s: %s has no test split for its rows\n", test_tab_path, o.data);
        rc = 2;
        goto out;
    }
    if (tab_path && test.n && !test_tab_path) {
        fprintf(stderr, "deepc train: --tabular: give the %d test samples' rows too (--test-tabular FILE)\n", test.n);
        rc = 2;
        goto out;
    }
    if (test_tab_path && dc_tabular_read_csv(&test_tab, test_tab_path, tab_id, test.n, &err)) {
        rc = cli_fail("train", &err);
        goto out;
    }
    if (test_tab_path && (test_tab.f != tab.f || memcmp_columns(&tab, &test_tab))) {
        fprintf(stderr, "deepc train: --test-tabular %s: its columns differ from %s's\n", test_tab_path, tab_path);
        rc = 2;
        goto out;
    }
    if (o.limit > 0) dc_dataset_truncate(&train, o.limit), dc_tabular_truncate(&tab, o.limit);
    if (o.test_limit > 0) dc_dataset_truncate(&test, o.test_limit), dc_tabular_truncate(&test_tab, o.test_limit);
    if (o.val_split > 0 && (dc_dataset_split(&train, &val, o.val_split, o.seed, &err) ||
                            (tab_path && dc_tabular_split(&tab, &val_tab, o.val_split, o.seed, &err)))) {
        rc = cli_fail("train", &err);
        goto out;
    }
    if (!m) {
        if (dc_model_create_tabular(&m, o.model, train.c, train.h, train.w, train.n_classes, tab_path ? tab.f : 0,
                                    &err)) {
            rc = cli_fail("train", &err);
            goto out;
        }
        // the class names the data carries (image folders, CIFAR-10's list,
        // --classes FILE, Fashion-MNIST's), else Fashion-MNIST's for a folder
        // that says it is Fashion-MNIST
        if (train.class_names && dc_model_num_classes(m) == train.n_classes)
            dc_model_set_class_names(m, (const char *const *)train.class_names, train.n_classes, &err);
        else if (cli_is_fashion(o.data) && dc_model_num_classes(m) == 10)
            dc_model_set_class_names(m, dc_fashion_classes, 10, &err);
        dc_model_set_normalisation(m, &train);
        if (tab_path && dc_model_set_tabular_normalisation(m, &tab, &err)) {
            rc = cli_fail("train", &err);
            goto out;
        }
        dc_rng rng = dc_rng_stream(o.seed, 0, 0);
        dc_model_init_params(m, &rng);
        char *cfg = opts_to_json(&o);
        if (cfg) dc_model_set_info(m, "train_config", cfg, &err);
        time_t now = time(NULL);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        cJSON *pj = cJSON_CreateObject(); // cJSON escapes the path (quotes, backslashes)
        cJSON_AddStringToObject(pj, "tool", "deepc");
        cJSON_AddStringToObject(pj, "version", dc_version());
        cJSON_AddStringToObject(pj, "data", train.source);
        cJSON_AddNumberToObject(pj, "train_samples", train.n);
        cJSON_AddStringToObject(pj, "started", when);
        char *prov = cJSON_PrintUnformatted(pj);
        cJSON_Delete(pj);
        if (prov) dc_model_set_info(m, "provenance", prov, &err);
        free(prov);
        free(cfg);
    } else {
        int c, h, w;
        dc_model_input_shape(m, &c, &h, &w);
        if (c != train.c || h != train.h || w != train.w) {
            fprintf(stderr, "deepc train: %s expects %dx%dx%d images but %s has %dx%dx%d\n", o.resume, c, h, w,
                    train.source, train.c, train.h, train.w);
            rc = 1;
            goto out;
        }
        char *cfg = opts_to_json(&o);
        if (cfg) dc_model_set_info(m, "train_config", cfg, &err);
        free(cfg);
    }
    // the held-out set each epoch: the validation split, else the test split
    const char *heldout = val.n ? "val" : test.n ? "test" : NULL;
    if (!o.json && !o.quiet) {
        cli_print_layers(stdout, m, 80);
        printf("data: %s\n      %d train, %d %s, %d classes, %dx%dx%d\n", train.source, train.n,
               val.n ? val.n : test.n, val.n ? "validation" : test.n ? "test" : "held out (none)", train.n_classes,
               train.c, train.h, train.w);
        if (o.resume) printf("resuming from %s after epoch %d\n", o.resume, dc_model_epochs_done(m));
        fflush(stdout);
    }
    dc_train_config cfg = dc_train_config_default();
    cfg.epochs = o.epochs;
    cfg.batch = o.batch;
    cfg.optim = (dc_optim_kind)optim;
    cfg.lr = o.lr;
    cfg.momentum = optim == 0 ? o.momentum : 0;
    cfg.nesterov = o.nesterov;
    cfg.weight_decay = o.wd;
    cfg.beta1 = o.beta1;
    cfg.beta2 = o.beta2;
    cfg.eps = o.eps;
    cfg.sched = (dc_sched_kind)sched;
    cfg.step_size = o.step_size;
    cfg.gamma = o.gamma;
    cfg.min_lr = o.min_lr;
    cfg.warmup_epochs = o.warmup;
    cfg.clip_norm = o.clip;
    cfg.seed = o.seed;
    cfg.nthreads = o.threads;
    cfg.augment = (dc_augment){.rotate_deg = o.rotate, .scale = o.scale, .translate = o.translate, .hflip = o.hflip,
                               .crop = o.crop, .erase = o.erase};
    cfg.checkpoint = o.out;
    cfg.comm = comm;
    cfg.heldout_name = heldout;
    if (tab_path) {
        cfg.tabular = &tab;
        cfg.heldout_tabular = val.n ? &val_tab : test.n ? &test_tab : NULL;
    }
    if (o.dp) {
        cfg.dp.enabled = true;
        cfg.dp.clip = o.clip;
        cfg.clip_norm = 0; // --clip means the per-sample clip under --dp
        cfg.dp.delta = o.delta;
        cfg.dp.seeded = cli_find(opts, "dp-seed")->seen;
        cfg.dp.seed = o.dp_seed;
        int bsz = o.batch < train.n ? o.batch : train.n;
        double q = (double)bsz / train.n;
        long total = (long)o.epochs * lround(1.0 / q);
        if (cli_find(opts, "target-epsilon")->seen) {
            double sigma = 0;
            if (dc_rdp_solve_sigma(q, total, o.delta, o.target_eps, &sigma, &err)) {
                rc = cli_fail("train", &err);
                goto out;
            }
            cfg.dp.sigma = (float)sigma; // float, as stored for --resume
            // record the sigma used, so --resume continues with the same noise
            o.noise = (float)sigma;
            o.target_eps = 0;
            char *js = opts_to_json(&o);
            if (js) dc_model_set_info(m, "train_config", js, &err);
            free(js);
        } else {
            cfg.dp.sigma = o.noise;
        }
        if (!o.json && !o.quiet)
            printf("DP-SGD: sample rate %.5f, %ld steps, clip %g, noise multiplier %.4f, delta %g%s\n", q, total,
                   cfg.dp.clip, cfg.dp.sigma, o.delta,
                   cfg.dp.seeded ? " (seeded noise: reproducible, not secret)" : "");
        if (!o.json && !o.quiet && o.resume &&
            cfg.dp.seeded != dc_dp_record_seeded_before(dc_model_info(m, "privacy"), dc_model_epochs_done(m) + 1))
            printf("note: %s; the privacy record lists the noise source of each run segment\n",
                    cfg.dp.seeded ? "this run's noise is seeded (--dp-seed: reproducible, not secret) but earlier epochs' was keyed by the OS"
                                  : "earlier epochs used seeded noise (--dp-seed: reproducible, not secret); this run's is keyed by the OS");
    }
    if (reweight) { // w(g,y) = P(g)P(y)/P(g,y) over the training samples, as loaded
        dc_groups g;
        if (o.val_split > 0 && strncmp(reweight, "builtin:", 8)) { // a CSV numbers the samples before the split
            fprintf(stderr, "deepc train: --reweight FILE needs the training samples in file order: drop --val-split\n");
            rc = 2;
            goto out;
        }
        if (dc_groups_open(&g, reweight, &train, &err)) { // a CSV, or builtin:brightness|parity
            rc = cli_fail("train", &err);
            goto out;
        }
        if (!(rw = malloc(sizeof(float) * (size_t)train.n))) dc_fail(&err, DC_ERR_NOMEM, "--reweight: out of memory");
        if (!rw || dc_reweigh_weights(rw, &g, train.labels, train.n_classes, &err)) {
            dc_groups_free(&g);
            rc = cli_fail("train", &err);
            goto out;
        }
        float lo = rw[0], hi = rw[0];
        for (int i = 1; i < train.n; i++) lo = rw[i] < lo ? rw[i] : lo, hi = rw[i] > hi ? rw[i] : hi;
        if (!o.json && !o.quiet)
            printf("reweighing: %d groups from %s, sample weights %.3f..%.3f\n", g.n_groups, reweight, lo, hi);
        dc_groups_free(&g);
        cfg.sample_weights = rw;
    }
    if (teacher_path) {
        if (dc_model_load(&teacher, teacher_path, &err)) {
            rc = cli_fail("train", &err);
            goto out;
        }
        cfg.teacher = teacher;
        cfg.distill_alpha = distill_alpha;
        cfg.distill_temp = distill_temp;
        if (!o.json && !o.quiet)
            printf("distillation: teacher %s (alpha %g, T %g)\n", teacher_path, distill_alpha, distill_temp);
    }
    cb_state cbs = {.json = o.json, .quiet = o.quiet, .heldout = heldout};
    progress_init(&cbs.bar, "batches", !o.json && !o.quiet);
    double t0 = dc_now_seconds();
    if (dc_train(m, &train, val.n ? &val : test.n ? &test : NULL, &cfg, on_event, &cbs, &err)) {
        progress_clear(&cbs.bar);
        rc = cli_fail("train", &err);
        goto out;
    }
    double secs = dc_now_seconds() - t0;
    if (!root) goto out;
    // the final figure: on the test split, else the validation split
    const dc_dataset *fin = test.n ? &test : val.n ? &val : NULL;
    const char *fin_name = test.n ? "test" : "val";
    dc_eval_result r = {0};
    const dc_tabular *fin_tab = !tab_path ? NULL : test.n ? &test_tab : &val_tab;
    if (fin && dc_evaluate_tabular(m, fin, fin_tab, 1000, o.threads, &r, &err)) {
        rc = cli_fail("train", &err);
        goto out;
    }
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "done");
        if (fin) cJSON_AddStringToObject(j, "split", fin_name);
        else cJSON_AddNullToObject(j, "split");
        cJSON_AddNumberToObject(j, "n", fin ? r.n : 0);
        cli_json_add(j, "accuracy", fin ? r.accuracy : NAN, 0);
        cli_json_add(j, "loss", fin ? r.loss : NAN, 0);
        cJSON_AddNumberToObject(j, "epochs", dc_model_epochs_done(m));
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddStringToObject(j, "out", o.out);
        cli_json_print(j);
    } else if (fin) {
        printf("%s accuracy: %.2f%% (%lld/%d), loss %.4f — trained in %.1f s\nsaved %s\n", fin_name,
               100 * r.accuracy, (long long)llround(r.accuracy * r.n), r.n, r.loss, secs, o.out);
    } else {
        printf("trained in %.1f s, saved %s (no test or validation set to measure: give --val-split F)\n", secs, o.out);
    }
    dc_eval_result_free(&r);
out:
    free(rw);
    dc_model_free(teacher);
    dc_tabular_free(&tab);
    dc_tabular_free(&test_tab);
    dc_tabular_free(&val_tab);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_dataset_free(&val);
    return rc;
}

int cmd_train(int argc, char **argv) {
    return cli_mpi_main("train", "data-parallel over the MPI ranks", train_main, argc, argv);
}
