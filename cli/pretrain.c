// pretrain.c — `deepc pretrain`: self-supervised pretraining of a model's
// backbone on unlabelled images (labels, if the data has them, are used
// only by the kNN monitor). Writes the model with its original head
// (freshly initialised) and the pretrained backbone, an ordinary model file
// that finetune, eval, summary and explain take; it is written atomically
// after every epoch.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "learn_common.h"
#include "ssl/ssl.h"
#include "transfer/transfer.h"

typedef struct pre_state {
    bool json, quiet;
    dc_progress bar;
    dc_model *base;
    dc_ssl_model *s;
    const char *out;
    cJSON *prov, *hist;  // provenance record, per-epoch history inside it
    dc_status st;        // first failure while saving
    dc_error err;
    double knn_acc, emb_std, train_seconds, cpu_seconds;
    clock_t c0;          // processor time (all threads) at the last epoch's end
} pre_state;

static void save(pre_state *p) {
    dc_ssl_export(p->base, p->s);
    char *js = cJSON_PrintUnformatted(p->prov);
    if (js) dc_model_set_info(p->base, "provenance", js, &p->err);
    free(js);
    dc_status st = dc_model_save(p->base, p->out, &p->err);
    if (st && !p->st) p->st = st;
}

static void on_ssl(const dc_ssl_event *ev, void *user) {
    pre_state *p = user;
    if (!ev->epoch_end) {
        char extra[64], label[32];
        snprintf(extra, sizeof extra, "loss %.4f", ev->loss);
        snprintf(label, sizeof label, "epoch %d/%d", ev->epoch, ev->epochs);
        progress_update(&p->bar, label, ev->step, ev->steps, ev->seconds, extra);
        return;
    }
    progress_clear(&p->bar);
    p->knn_acc = ev->knn_acc;
    p->emb_std = ev->emb_std;
    p->train_seconds += ev->seconds;
    const clock_t c1 = clock();
    const double cpu = (double)(c1 - p->c0) / CLOCKS_PER_SEC; // the epoch and its monitor, every thread
    p->c0 = c1;
    p->cpu_seconds += cpu;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "epoch", ev->epoch);
    cJSON_AddNumberToObject(r, "loss", ev->loss);
    cli_json_add(r, "knn_accuracy", ev->knn_acc, 0); // null: no monitor
    cli_json_add(r, "emb_std", ev->emb_std, 0);
    cJSON_AddNumberToObject(r, "seconds", ev->seconds);
    cJSON_AddNumberToObject(r, "cpu_seconds", cpu);
    cJSON_AddNumberToObject(r, "lr", ev->lr);
    cJSON_AddItemToArray(p->hist, r);
    if (p->json) {
        // the history record, with the event and the totals in front
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "epoch");
        cJSON_AddNumberToObject(j, "epochs", ev->epochs);
        cJSON_AddNumberToObject(j, "emb_std_ref", ev->emb_std_ref);
        for (const cJSON *x = r->child; x; x = x->next) cJSON_AddItemToObject(j, x->string, cJSON_Duplicate(x, 1));
        cli_json_print(j);
    } else if (!p->quiet) {
        printf("epoch %3d/%d  loss %.4f", ev->epoch, ev->epochs, ev->loss);
        if (ev->knn_acc >= 0) printf("  kNN acc %6.2f%%", 100 * ev->knn_acc);
        if (ev->emb_std >= 0) printf("  emb std %.4f (even spread %.4f)", ev->emb_std, ev->emb_std_ref);
        printf("  lr %.3g  %.2f s\n", ev->lr, ev->seconds);
        if (ev->emb_std >= 0 && ev->emb_std < 0.1 * ev->emb_std_ref)
            printf("warning: the embeddings are collapsing (per-dimension std %.2g, under a tenth of an even "
                   "spread's): try a smaller --lr, a larger --batch or another --method\n", ev->emb_std);
    }
    fflush(stdout);
    save(p);
}

int cmd_pretrain(int argc, char **argv) {
    const char *model = "lenet5", *data = "fashion-mnist", *out = "pretrained.safetensors", *method = "simclr";
    const char *optim = "adamw", *sched = "cosine";
    dc_ssl_config c = dc_ssl_config_default();
    int epochs = 20, batch = 256, warmup = 0, threads = 0, limit = 0, test_limit = 0, knn_bank = 5000;
    float lr = 0.001f, momentum = 0.9f, wd = 1e-4f, min_lr = 0, clip = 0, val_split = 0;
    float crop_min = c.aug.crop_min, jitter = c.aug.jitter_p, brightness = c.aug.brightness;
    float contrast = c.aug.contrast, gray = c.aug.gray_p, blur = c.aug.blur_p;
    bool no_flip = false, no_monitor = false, json = false, quiet = false;
    uint64_t seed = 1;
    cli_data_opts dopt = {0};
    dc_opt opts[] = {
        {"model", OPT_STR, &model, "built-in, architecture file, or a model file to continue from; its head (last linear layer) is set aside [lenet5]"},
        {"data", OPT_STR, &data, "the images, labelled or not (any loader: IDX, CSV, NumPy, CIFAR-10, image folders); labels only feed the monitor [fashion-mnist]"},
        CLI_DATA_OPTIONS(&dopt),
        {"method", OPT_STR, &method, "simclr (NT-Xent), byol (EMA target, predictor) or simsiam (stop-gradient, predictor) [simclr]"},
        {"epochs", OPT_INT, &epochs, "epochs [20]"},
        {"batch", OPT_INT, &batch, "images per step, two views each [256]"},
        {"optim", OPT_STR, &optim, "sgd, adam or adamw [adamw]"},
        {"lr", OPT_FLOAT, &lr, "learning rate [0.001]"},
        {"momentum", OPT_FLOAT, &momentum, "SGD momentum [0.9]"},
        {"weight-decay", OPT_FLOAT, &wd, "weight decay [1e-4]"},
        {"sched", OPT_STR, &sched, "constant, step or cosine [cosine]"},
        {"min-lr", OPT_FLOAT, &min_lr, "cosine schedule: final learning rate [0]"},
        {"warmup", OPT_INT, &warmup, "epochs of linear warmup [0]"},
        {"clip", OPT_FLOAT, &clip, "clip the global gradient norm (0: off) [0]"},
        {"temperature", OPT_FLOAT, &c.temperature, "SimCLR: NT-Xent temperature [0.5]"},
        {"tau", OPT_FLOAT, &c.tau, "BYOL: base moving-average rate of the target, raised to 1 on a cosine [0.99]"},
        {"proj-hidden", OPT_INT, &c.proj_hidden, "projector hidden width [512]"},
        {"proj-dim", OPT_INT, &c.proj_dim, "projector output width [128]"},
        {"pred-hidden", OPT_INT, &c.pred_hidden, "BYOL/SimSiam predictor hidden width [512]"},
        {"crop-min", OPT_FLOAT, &crop_min, "views: smallest area fraction of the random resized crop (1: no crop) [0.2]"},
        {"no-flip", OPT_FLAG, &no_flip, "views: no random horizontal flips"},
        {"jitter", OPT_FLOAT, &jitter, "views: probability of brightness/contrast jitter [0.8]"},
        {"brightness", OPT_FLOAT, &brightness, "views: brightness factor range 1 +- this [0.4]"},
        {"contrast", OPT_FLOAT, &contrast, "views: contrast factor range 1 +- this [0.4]"},
        {"gray", OPT_FLOAT, &gray, "views: probability of grayscale (3-channel images) [0.2]"},
        {"blur", OPT_FLOAT, &blur, "views: probability of a Gaussian blur, sigma 0.1..2 [0]"},
        {"val-split", OPT_FLOAT, &val_split, "hold out this fraction of the data as the monitor's queries (0: the test split) [0]"},
        {"features", OPT_STR, &c.features, "the representation: a node of the model (deepc summary), flatten or pooled [the head's input]"},
        {"knn-bank", OPT_INT, &knn_bank, "monitor: labelled training images in the kNN bank [5000]"},
        {"knn-k", OPT_INT, &c.knn_k, "monitor: neighbours [20]"},
        {"no-monitor", OPT_FLAG, &no_monitor, "no kNN monitor"},
        {"seed", OPT_U64, &seed, "random seed (init, shuffle, views) [1]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"limit", OPT_INT, &limit, "use only the first N training images (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "use only the first N test images (0: all)"},
        {"out", OPT_STR, &out, "the pretrained model, written after every epoch [pretrained.safetensors]"},
        {"json", OPT_FLAG, &json, "machine-readable output: one JSON object per line"},
        {"quiet", OPT_FLAG, &quiet, "print only the final result"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 0, &n_pos, &help, "pretrain")) {
        if (help) {
            cli_usage("pretrain", "[options]", opts);
            return 0;
        }
        return 2;
    }
    dc_error err;
    if (dc_ssl_method_parse(&c.method, method, &err)) return cli_fail("pretrain", &err), 2;
    int oi = -1, si = -1;
    for (int i = 0; dc_optim_names[i]; i++)
        if (!strcmp(optim, dc_optim_names[i])) oi = i;
    for (int i = 0; dc_sched_names[i]; i++)
        if (!strcmp(sched, dc_sched_names[i])) si = i;
    int ok = 1;
#define BAD(...) do { fprintf(stderr, "deepc pretrain: " __VA_ARGS__); fprintf(stderr, "\n"); ok = 0; } while (0)
    if (oi < 0) BAD("--optim '%s': expected sgd, adam or adamw", optim);
    else if (si < 0) BAD("--sched '%s': expected constant, step or cosine", sched);
    else if (epochs < 1 || epochs > 100000) BAD("--epochs %d: expected 1..100000", epochs);
    else if (batch < 2 || batch > 65536) BAD("--batch %d: expected 2..65536", batch);
    else if (!(lr > 0)) BAD("--lr %g: must be > 0", lr);
    else if (momentum < 0 || momentum >= 1 || wd < 0 || min_lr < 0 || clip < 0)
        BAD("--momentum in [0,1), --weight-decay, --min-lr and --clip >= 0");
    else if (warmup < 0 || warmup >= epochs) BAD("--warmup %d: expected 0..epochs-1", warmup);
    else if (!(crop_min > 0 && crop_min <= 1)) BAD("--crop-min %g: expected (0, 1]", crop_min);
    else if (!(jitter >= 0 && jitter <= 1 && gray >= 0 && gray <= 1 && blur >= 0 && blur <= 1))
        BAD("--jitter, --gray and --blur are probabilities in [0, 1]");
    else if (!(brightness >= 0 && brightness <= 10 && contrast >= 0 && contrast <= 10))
        BAD("--brightness and --contrast in [0, 10]");
    else if (val_split < 0 || val_split >= 1) BAD("--val-split %g: expected [0, 1)", val_split);
    else if (knn_bank < 1 || c.knn_k < 1 || c.knn_k > 256) BAD("--knn-bank >= 1 and --knn-k in 1..256");
    else if (threads < 0 || limit < 0 || test_limit < 0) BAD("--threads, --limit, --test-limit >= 0");
    if (!ok) return 2;
    c.aug.crop_min = crop_min;
    c.aug.hflip = !no_flip;
    c.aug.jitter_p = jitter;
    c.aug.brightness = brightness;
    c.aug.contrast = contrast;
    c.aug.gray_p = gray;
    c.aug.blur_p = blur;
    c.train.epochs = epochs;
    c.train.batch = batch;
    c.train.optim = (dc_optim_kind)oi;
    c.train.lr = lr;
    c.train.momentum = oi == 0 ? momentum : 0;
    c.train.weight_decay = wd;
    c.train.sched = (dc_sched_kind)si;
    c.train.min_lr = min_lr;
    c.train.warmup_epochs = warmup;
    c.train.clip_norm = clip;
    c.train.seed = seed;
    c.train.nthreads = threads;
    if (dc_check_output(out, &err)) {
        fprintf(stderr, "deepc pretrain: --out %s\n", err.msg);
        return 1;
    }
    dc_dataset train, test, val;
    memset(&val, 0, sizeof val);
    int rc0 = cli_data_open("pretrain", data, &dopt, threads, quiet || json, &train, &test);
    if (rc0) return rc0;
    if (limit > 0) dc_dataset_truncate(&train, limit);
    if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
    int rc = 0;
    dc_model *base = NULL;
    dc_ssl_model s;
    memset(&s, 0, sizeof s);
    pre_state p = {.json = json, .quiet = quiet, .out = out};
    if (val_split > 0 && dc_dataset_split(&train, &val, val_split, seed, &err)) {
        rc = cli_fail("pretrain", &err);
        goto out;
    }
    const size_t ml = strlen(model);
    if (ml > 12 && !strcmp(model + ml - 12, ".safetensors")) {
        if (dc_model_load(&base, model, &err)) {
            rc = cli_fail("pretrain", &err);
            goto out;
        }
        int mc, mh, mw;
        dc_model_input_shape(base, &mc, &mh, &mw);
        if (mc != train.c || mh != train.h || mw != train.w) {
            fprintf(stderr, "deepc pretrain: %s expects %dx%dx%d images but %s has %dx%dx%d\n", model, mc, mh, mw,
                    train.source, train.c, train.h, train.w);
            rc = 1;
            goto out;
        }
    } else {
        if (dc_model_create(&base, model, train.c, train.h, train.w, train.n_classes, &err)) {
            rc = cli_fail("pretrain", &err);
            goto out;
        }
        if (cli_is_fashion(data) && dc_model_num_classes(base) == 10)
            dc_model_set_class_names(base, dc_fashion_classes, 10, &err);
        dc_model_set_normalisation(base, &train);
        dc_rng rng = dc_rng_stream(seed, 0, 0);
        dc_model_init_params(base, &rng);
    }
    dc_rng prng = dc_rng_stream(seed, 0x50524f4a /* "PROJ" */, 0);
    if (dc_ssl_model_new(&s, base, &c, &prng, &err)) {
        rc = cli_fail("pretrain", &err);
        goto out;
    }
    // the monitor: a labelled bank from the training images, queries held out
    dc_dataset bank = train;
    if (bank.n > knn_bank) bank.n = knn_bank;
    const dc_dataset *query = val.n ? &val : &test;
    char when[64];
    learn_utc_now(when, sizeof when);
    dc_node_info fi;
    dc_model_node_info(s.online, s.feat_node, &fi);
    p.base = base;
    p.s = &s;
    p.prov = cJSON_CreateObject();
    cJSON_AddStringToObject(p.prov, "tool", "deepc");
    cJSON_AddStringToObject(p.prov, "verb", "pretrain");
    cJSON_AddStringToObject(p.prov, "method", method);
    cJSON_AddStringToObject(p.prov, "data", train.source);
    cJSON_AddNumberToObject(p.prov, "train_samples", train.n);
    cJSON_AddNumberToObject(p.prov, "epochs", epochs);
    cJSON_AddNumberToObject(p.prov, "batch", batch);
    if (c.method == DC_SSL_SIMCLR) cJSON_AddNumberToObject(p.prov, "temperature", c.temperature);
    if (c.method == DC_SSL_BYOL) cJSON_AddNumberToObject(p.prov, "tau", c.tau);
    cJSON_AddStringToObject(p.prov, "features", fi.name);
    cJSON_AddNumberToObject(p.prov, "feature_dim", s.feat_dim);
    cJSON_AddStringToObject(p.prov, "started", when);
    p.hist = cJSON_AddArrayToObject(p.prov, "history");
    if (!json && !quiet) {
        char table[16384];
        dc_model_summary(s.online, table, sizeof table);
        printf("%s", table);
        printf("pretraining %s with %s: %d images (labels unused), %d per step in two views; representation %s (%d)\n",
               model, method, train.n, batch, fi.name, s.feat_dim);
        if (!no_monitor && query->n && !train.unlabelled)
            printf("monitor: %d-NN on %d %s images against a bank of %d training images\n", c.knn_k, query->n,
                   val.n ? "val" : "test", bank.n);
        else if (!no_monitor && query->n)
            printf("monitor: the spread of the features of %d %s images (unlabelled: no kNN accuracy)\n", query->n,
                   val.n ? "val" : "test");
        fflush(stdout);
    }
    if (!no_monitor && !query->n) {
        if (!quiet) fprintf(stderr, "deepc pretrain: note: %s has no test split: no monitor (give --val-split F to "
                                    "hold out its images)\n", train.source);
        no_monitor = true;
    }
    progress_init(&p.bar, "steps", !json && !quiet);
    double t0 = dc_now_seconds();
    p.c0 = clock();
    if (dc_ssl_pretrain(&s, &train, no_monitor ? NULL : &bank, no_monitor ? NULL : query, &c, on_ssl, &p, &err)) {
        progress_clear(&p.bar);
        rc = cli_fail("pretrain", &err);
        goto out;
    }
    if (p.st) {
        rc = cli_fail("pretrain", &p.err);
        goto out;
    }
    double secs = dc_now_seconds() - t0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "done");
        cJSON_AddStringToObject(j, "method", method);
        cJSON_AddNumberToObject(j, "epochs", epochs);
        cli_json_add(j, "knn_accuracy", p.knn_acc, 0);
        cJSON_AddNumberToObject(j, "train_seconds", p.train_seconds);
        cJSON_AddNumberToObject(j, "seconds_per_epoch", p.train_seconds / epochs);
        cJSON_AddNumberToObject(j, "cpu_seconds_per_epoch", p.cpu_seconds / epochs);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddStringToObject(j, "out", out);
        if (!cli_json_print(j)) rc = 1;
    } else {
        printf("pretrained %d epochs in %.1f s (%.2f s per epoch of training)", epochs, secs, p.train_seconds / epochs);
        if (p.knn_acc >= 0) printf(", kNN accuracy %.2f%%", 100 * p.knn_acc);
        printf(", saved %s\n", out);
    }
out:
    cJSON_Delete(p.prov);
    dc_ssl_model_free(&s);
    dc_model_free(base);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_dataset_free(&val);
    return rc;
}
