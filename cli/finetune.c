// finetune.c — `deepc finetune PARENT`: transfer learning from any deepc
// model. A fresh model is built from the parent's graph and tensors (no
// optimizer state, epoch 0), its head replaced for a new class count
// (--new-head K, or automatically when the data has another class count),
// nodes frozen by name or glob (--freeze; frozen BatchNorm stays in eval
// mode), the backbone given its own learning rate (--lr-backbone), and the
// training set cut to a seeded class-balanced subset (--labels-per-class).
// The written model records its parent (path and SHA-256) in its
// provenance.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "learn_common.h"
#include "transfer/transfer.h"

int cmd_finetune(int argc, char **argv) {
    const char *data = "fashion-mnist", *out = "finetuned.safetensors", *freeze = NULL, *lr_backbone = NULL;
    int epochs = 10, new_head = 0, per_class = 0, threads = 0, limit = 0, test_limit = 0;
    float val_split = 0;
    uint64_t seed = 1;
    bool json = false, quiet = false;
    learn_opts lo = {.o = dc_trainopts_default()};
    cli_data_opts dopt = {0};
    char data_help[256];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[64] = {
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        {"new-head", OPT_INT, &new_head, "replace the head with a new linear layer for K classes (default: only when the data's class count differs)"},
        {"freeze", OPT_STR, &freeze, "comma-separated node names (and their children), globs ('layer1.*') or backbone: held fixed, BatchNorm in eval mode"},
        {"lr-backbone", OPT_STR, &lr_backbone, "learning rate of every node but the head: 0.1x (times --lr) or a value [1x]"},
        {"labels-per-class", OPT_INT, &per_class, "train on a seeded class-balanced subset of N labelled samples per class (0: all)"},
        {"epochs", OPT_INT, &epochs, "epochs [10]"},
        {"seed", OPT_U64, &seed, "random seed (new head, subset, shuffle, augmentation) [1]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"val-split", OPT_FLOAT, &val_split, "hold out this fraction of the training set for validation (taken before the subset) [0]"},
        {"limit", OPT_INT, &limit, "use only the first N training samples (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "use only the first N test samples (0: all)"},
        {"out", OPT_STR, &out, "the fine-tuned model, written after every epoch [finetuned.safetensors]"},
        {"json", OPT_FLAG, &json, "machine-readable output: one JSON object per line"},
        {"quiet", OPT_FLAG, &quiet, "print only the final result"},
    };
    int n = 0;
    while (opts[n].name) n++;
    learn_add_train_rows(opts, &n, 64, &lo);
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, "finetune")) {
        if (help) {
            cli_usage("finetune", "PARENT.safetensors|MODEL [options]   (a built-in name or .arch file: from scratch)", opts);
            return 0;
        }
        return 2;
    }
    if (!learn_finish(&lo, "finetune")) return 2;
    if (n_pos != 1) {
        fprintf(stderr, "deepc finetune: expected the parent model file (see deepc finetune --help)\n");
        return 2;
    }
    const char *parent_path = pos[0];
    dc_error err;
    if (epochs < 1 || epochs > 100000) {
        fprintf(stderr, "deepc finetune: --epochs %d: expected 1..100000\n", epochs);
        return 2;
    }
    if (dc_trainopts_check(&lo.o, epochs, &err)) return cli_fail("finetune", &err), 2;
    if (new_head < 0 || new_head == 1 || per_class < 0 || threads < 0 || limit < 0 || test_limit < 0 ||
        val_split < 0 || val_split >= 1) {
        fprintf(stderr, "deepc finetune: --new-head K needs K >= 2; --labels-per-class, --threads, --limit, "
                        "--test-limit >= 0; --val-split in [0, 1)\n");
        return 2;
    }
    float backbone_mult = 1.0f;
    if (lr_backbone && dc_parse_lr_backbone(&backbone_mult, lr_backbone, lo.o.lr, &err))
        return cli_fail("finetune", &err), 2;
    if (dc_check_output(out, &err)) {
        fprintf(stderr, "deepc finetune: --out %s\n", err.msg);
        return 1;
    }
    // a model file is a parent; a built-in name or an architecture file is a
    // fresh model initialised from --seed (the from-scratch baseline)
    const size_t pl = strlen(parent_path);
    const bool scratch = !(pl > 12 && !strcmp(parent_path + pl - 12, ".safetensors"));
    char sha[65] = "";
    if (!scratch && dc_file_sha256(sha, parent_path, &err)) return cli_fail("finetune", &err);
    dc_model *parent = NULL, *m = NULL;
    if (!scratch && dc_model_load(&parent, parent_path, &err)) return cli_fail("finetune", &err);
    dc_dataset train, test, val, sub;
    memset(&val, 0, sizeof val);
    memset(&sub, 0, sizeof sub);
    float *node_lr = NULL;
    int rc = 0;
    int rc0 = cli_data_open("finetune", data, &dopt, threads, quiet || json, &train, &test);
    if (rc0) {
        dc_model_free(parent);
        return rc0;
    }
    if (train.unlabelled) {
        fprintf(stderr, "deepc finetune: %s has no label column: fine-tuning needs labels (deepc pretrain takes "
                        "unlabelled images)\n", train.source);
        rc = 1;
        goto out;
    }
    if (scratch) {
        if (dc_model_create(&parent, parent_path, train.c, train.h, train.w, train.n_classes, &err)) {
            rc = cli_fail("finetune", &err);
            goto out;
        }
        if (cli_is_fashion(data) && dc_model_num_classes(parent) == 10)
            dc_model_set_class_names(parent, dc_fashion_classes, 10, &err);
        dc_model_set_normalisation(parent, &train);
        dc_rng irng = dc_rng_stream(seed, 0, 0);
        dc_model_init_params(parent, &irng);
    }
    if (limit > 0) dc_dataset_truncate(&train, limit);
    if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
    int c, h, w;
    dc_model_input_shape(parent, &c, &h, &w);
    if (c != train.c || h != train.h || w != train.w) {
        fprintf(stderr, "deepc finetune: %s expects %dx%dx%d images but %s has %dx%dx%d\n", parent_path, c, h, w,
                train.source, train.c, train.h, train.w);
        rc = 1;
        goto out;
    }
    if (val_split > 0 && dc_dataset_split(&train, &val, val_split, seed, &err)) {
        rc = cli_fail("finetune", &err);
        goto out;
    }
    if (per_class > 0) {
        if (dc_dataset_per_class(&sub, &train, per_class, seed, &err)) {
            rc = cli_fail("finetune", &err);
            goto out;
        }
        dc_dataset_free(&train);
        train = sub;
        memset(&sub, 0, sizeof sub);
    }
    // the class count: --new-head, else the data's
    const int parent_k = dc_model_num_classes(parent);
    int k = new_head ? new_head : train.n_classes;
    if (new_head && new_head < train.n_classes) {
        fprintf(stderr, "deepc finetune: --new-head %d, but %s has %d classes\n", new_head, train.source,
                train.n_classes);
        rc = 2;
        goto out;
    }
    const bool replace = new_head > 0 || k != parent_k;
    dc_rng rng = dc_rng_stream(seed, 0x48454144 /* "HEAD" */, 0);
    if (dc_transfer_model(&m, parent, k, new_head > 0, &rng, &err)) {
        rc = cli_fail("finetune", &err);
        goto out;
    }
    if (replace && cli_is_fashion(data) && k == 10) dc_model_set_class_names(m, dc_fashion_classes, 10, &err);
    const int nn = dc_model_num_nodes(m);
    node_lr = malloc(sizeof(float) * (size_t)nn);
    if (!node_lr) {
        rc = cli_fail("finetune", &(dc_error){"out of memory"});
        goto out;
    }
    for (int i = 0; i < nn; i++) node_lr[i] = 1.0f;
    int head = nn - 1, feat = 0, n_frozen = 0;
    if ((replace || freeze || lr_backbone) && dc_model_head(m, &head, &feat, &err)) {
        rc = cli_fail("finetune", &err);
        goto out;
    }
    if (freeze && dc_freeze_nodes(node_lr, m, freeze, &n_frozen, &err)) {
        rc = cli_fail("finetune", &err);
        goto out;
    }
    for (int i = 1; i < nn; i++)
        if (i != head && node_lr[i] != 0.0f) node_lr[i] = backbone_mult;
    size_t trainable = 0;
    for (int i = 1; i < nn; i++) {
        dc_node_info ni;
        dc_model_node_info(m, i, &ni);
        if (node_lr[i] != 0.0f) trainable += ni.params;
    }
    if (trainable == 0) {
        fprintf(stderr, "deepc finetune: --freeze '%s' leaves no parameter to train\n", freeze ? freeze : "");
        rc = 2;
        goto out;
    }
    // records: the run's options and where the model came from
    dc_trainopts_extra x = {.model = parent_path, .data = data, .epochs = epochs, .threads = threads, .limit = limit,
                            .test_limit = test_limit, .seed = seed, .val_split = val_split};
    char *cfgjs = dc_trainopts_json(&lo.o, &x);
    cJSON *cj = cfgjs ? cJSON_Parse(cfgjs) : NULL;
    free(cfgjs);
    if (cj) {
        cJSON_AddStringToObject(cj, "verb", "finetune");
        if (freeze) cJSON_AddStringToObject(cj, "freeze", freeze);
        if (lr_backbone) cJSON_AddStringToObject(cj, "lr_backbone", lr_backbone);
        cJSON_AddNumberToObject(cj, "labels_per_class", per_class);
        cJSON_AddNumberToObject(cj, "new_head", new_head);
        char *s = cJSON_PrintUnformatted(cj);
        if (s) dc_model_set_info(m, "train_config", s, &err);
        free(s);
        cJSON_Delete(cj);
    }
    char when[64];
    learn_utc_now(when, sizeof when);
    cJSON *pj = cJSON_CreateObject(), *pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "tool", "deepc");
    cJSON_AddStringToObject(pj, "verb", "finetune");
    if (scratch) {
        cJSON_AddStringToObject(pp, "model", parent_path);
        cJSON_AddBoolToObject(pp, "pretrained", false);
    } else {
        cJSON_AddStringToObject(pp, "path", parent_path);
        cJSON_AddStringToObject(pp, "sha256", sha);
    }
    cJSON_AddNumberToObject(pp, "classes", parent_k);
    const char *pprov = dc_model_info(parent, "provenance");
    cJSON *ppj = pprov ? cJSON_Parse(pprov) : NULL;
    if (ppj) cJSON_AddItemToObject(pp, "provenance", ppj);
    cJSON_AddItemToObject(pj, "parent", pp);
    cJSON_AddStringToObject(pj, "data", train.source);
    cJSON_AddNumberToObject(pj, "train_samples", train.n);
    if (per_class) cJSON_AddNumberToObject(pj, "labels_per_class", per_class);
    cJSON_AddBoolToObject(pj, "new_head", replace);
    cJSON_AddNumberToObject(pj, "frozen_nodes", n_frozen);
    cJSON_AddStringToObject(pj, "started", when);
    char *prov = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    if (prov) dc_model_set_info(m, "provenance", prov, &err);
    free(prov);
    if (!json && !quiet) {
        char table[16384];
        dc_model_summary(m, table, sizeof table);
        printf("%s", table);
        if (scratch) printf("parent: none — %s initialised from seed %llu (training from scratch)\n", parent_path,
                            (unsigned long long)seed);
        else printf("parent: %s (sha256 %.16s..., %d classes)\n", parent_path, sha, parent_k);
        if (replace) {
            dc_node_info hi, fi;
            dc_model_node_info(m, head, &hi);
            dc_model_node_info(m, feat, &fi);
            printf("new head: %s, linear %d -> %d classes%s\n", hi.name, fi.c * fi.h * fi.w, k,
                   new_head ? "" : " (the data's class count differs from the parent's)");
        }
        if (n_frozen) printf("frozen: %d of %d nodes (%zu trainable parameters of %zu)\n", n_frozen, nn - 1, trainable,
                             dc_model_num_params(m));
        if (backbone_mult != 1.0f) printf("backbone learning rate: %g x %g = %g\n", backbone_mult, lo.o.lr,
                                          backbone_mult * lo.o.lr);
        printf("data: %s — %d train%s, %d %s, %d classes\n", train.source, train.n,
               per_class ? " (labels per class subset)" : "", val.n ? val.n : test.n,
               val.n ? "validation" : test.n ? "test" : "held out (none)", train.n_classes);
        fflush(stdout);
    }
    dc_train_config cfg = dc_train_config_default();
    dc_trainopts_apply(&cfg, &lo.o);
    cfg.epochs = epochs;
    cfg.seed = seed;
    cfg.nthreads = threads;
    cfg.checkpoint = out;
    cfg.node_lr = node_lr;
    cfg.heldout_name = val.n ? "val" : "test";
    learn_printer pr = {.json = json, .quiet = quiet, .split = cfg.heldout_name};
    progress_init(&pr.bar, "batches", !json && !quiet);
    double t0 = dc_now_seconds();
    if (dc_train(m, &train, val.n ? &val : test.n ? &test : NULL, &cfg, learn_on_event, &pr, &err)) {
        progress_clear(&pr.bar);
        rc = cli_fail("finetune", &err);
        goto out;
    }
    double secs = dc_now_seconds() - t0;
    // the final figure, as deepc train's: the test split (scored once, at
    // the end), else the validation split of a source without one
    const dc_dataset *fin = test.n ? &test : val.n ? &val : NULL;
    const char *fin_name = test.n ? "test" : "val";
    dc_eval_result r = {0};
    if (fin && dc_evaluate(m, fin, 1000, threads, &r, &err)) {
        rc = cli_fail("finetune", &err);
        goto out;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "done");
        if (fin) cJSON_AddStringToObject(j, "split", fin_name);
        else cJSON_AddNullToObject(j, "split");
        cJSON_AddNumberToObject(j, "n", fin ? r.n : 0);
        cli_json_add(j, "accuracy", fin ? r.accuracy : NAN, 0);
        cli_json_add(j, "loss", fin ? r.loss : NAN, 0);
        cJSON_AddNumberToObject(j, "epochs", epochs);
        cJSON_AddNumberToObject(j, "train_samples", train.n);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddStringToObject(j, "out", out);
        if (!cli_json_print(j)) rc = 1;
    } else if (fin) {
        printf("%s accuracy: %.2f%% (%lld/%d), loss %.4f — fine-tuned in %.1f s, saved %s\n", fin_name,
               100 * r.accuracy, (long long)llround(r.accuracy * r.n), r.n, r.loss, secs, out);
    } else {
        printf("fine-tuned in %.1f s, saved %s (no test or validation set to measure: give --val-split F)\n", secs,
               out);
    }
    dc_eval_result_free(&r);
out:
    free(node_lr);
    dc_model_free(m);
    dc_model_free(parent);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_dataset_free(&val);
    dc_dataset_free(&sub);
    return rc;
}
