// prune.c — `deepc prune MODEL (--structured | --unstructured) --sparsity S
// [--finetune E] --out M` (src/compress/prune.h): magnitude pruning, then
// fine-tuning with deepc train's optimizers; prints the per-layer table
// (channels, sparsity, parameters and MACs before -> after). Also the
// fine-tuning options cli/compress_cli.h declares (deepc train's).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "compress/prune.h"
#include "compress_cli.h"
#include "core/core.h"
#include "model/model.h"

#define VERB "prune"

void dc_finetune_defaults(dc_finetune_opts *f) {
    memset(f, 0, sizeof *f);
    f->data = "fashion-mnist";
    f->seed = 1;
    f->lo.o = dc_trainopts_default();
}

int dc_finetune_add_options(dc_opt *o, int n, int cap, dc_finetune_opts *f) {
    const dc_opt rows[] = {
        {"data", OPT_STR, &f->data, "data set to fine-tune on (deepc train's --data) [fashion-mnist]"},
        {"threads", OPT_INT, &f->threads, "threads (0: all cores) [0]"},
        {"limit", OPT_INT, &f->limit, "use only the first N training samples (0: all)"},
        {"test-limit", OPT_INT, &f->test_limit, "use only the first N test samples (0: all)"},
        {"seed", OPT_U64, &f->seed, "fine-tuning seed (shuffle, augmentation) [1]"},
        {"json", OPT_FLAG, &f->json, "one JSON object per epoch and one at the end"},
        {"quiet", OPT_FLAG, &f->quiet, "no per-epoch lines"},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0] && n < cap - 1; k++) o[n++] = rows[k];
    learn_add_train_rows(o, &n, cap, &f->lo); // and the terminator
    return n;
}

bool dc_finetune_config(dc_train_config *cfg, dc_finetune_opts *f, int epochs, const char *verb) {
    *cfg = dc_train_config_default();
    if (!learn_finish(&f->lo, verb)) return false;
    dc_error err;
    // without fine-tuning only the ranges matter (a warmup cannot pass no epochs)
    if (dc_trainopts_check(&f->lo.o, epochs > 0 ? epochs : 100000, &err)) {
        cli_fail(verb, &err);
        return false;
    }
    if (f->threads < 0 || f->limit < 0 || f->test_limit < 0) {
        fprintf(stderr, "deepc %s: --threads, --limit and --test-limit must be >= 0\n", verb);
        return false;
    }
    dc_trainopts_apply(cfg, &f->lo.o);
    cfg->seed = f->seed;
    cfg->nthreads = f->threads;
    cfg->heldout_name = "test";
    return true;
}

bool dc_finetune_data(dc_dataset *train, dc_dataset *test, const dc_finetune_opts *f, const char *verb) {
    cli_data_opts d = {0};
    if (cli_data_open(verb, f->data, &d, f->threads, f->json || f->quiet, train, test)) return false;
    if (f->limit > 0) dc_dataset_truncate(train, f->limit);
    if (f->test_limit > 0) dc_dataset_truncate(test, f->test_limit);
    return true;
}

void dc_finetune_on_event(const dc_train_event *ev, void *user) {
    const dc_finetune_opts *f = user;
    if (ev->kind != DC_EVENT_EPOCH || f->quiet) return;
    if (f->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "epoch");
        cJSON_AddNumberToObject(j, "epoch", ev->epoch);
        cJSON_AddNumberToObject(j, "train_loss", ev->train_loss);
        cJSON_AddNumberToObject(j, "train_accuracy", ev->train_acc);
        cli_json_add(j, "test_accuracy", ev->test_acc, 0);
        cJSON_AddNumberToObject(j, "seconds", ev->seconds);
        cli_json_print(j);
    } else {
        printf("fine-tune epoch %d  loss %.4f  train acc %6.2f%%", ev->epoch, ev->train_loss, 100 * ev->train_acc);
        if (ev->test_acc >= 0) printf("  test acc %6.2f%%", 100 * ev->test_acc);
        printf("  %.2f s\n", ev->seconds);
        fflush(stdout);
    }
}

int cmd_prune(int argc, char **argv) {
    const char *out = NULL;
    bool structured = false, unstructured = false, per_layer = false;
    float sparsity = -1, macs = 0;
    int norm = 1, steps = 1, finetune = 0, multiple = 1;
    bool distill = false;
    float alpha = -1, temp = -1; // -1: not given
    dc_finetune_opts ft;
    dc_finetune_defaults(&ft);
    cli_norm nrm = {0};
    dc_opt opts[64] = {
        {"structured", OPT_FLAG, &structured, "remove whole channels (L1/L2 filter norm; residual groups pruned together)"},
        {"unstructured", OPT_FLAG, &unstructured, "zero single weights by magnitude; the file stores them sparse"},
        {"sparsity", OPT_FLOAT, &sparsity, "share of weights (unstructured) or of each group's channels (structured) removed"},
        {"macs", OPT_FLOAT, &macs, "--structured: remove this share of the multiply-adds instead of --sparsity"},
        {"per-layer", OPT_FLAG, &per_layer, "--unstructured: the sparsity in every layer (else one global threshold)"},
        {"channel-norm", OPT_INT, &norm, "--structured: channel importance by the L1 (1) or L2 (2) norm of its filter [1]"},
        {"multiple", OPT_INT, &multiple, "--structured: keep a multiple of N channels in each group (8 or 16 suit the vector kernels) [1]"},
        {"steps", OPT_INT, &steps, "prune in this many rounds, s_r = s (1 - (1 - r/steps)^3) [1]"},
        {"finetune", OPT_INT, &finetune, "epochs of fine-tuning, spread over the rounds [0]"},
        {"distill", OPT_FLAG, &distill, "fine-tune with knowledge distillation: the unpruned model is the teacher"},
        {"distill-alpha", OPT_FLOAT, &alpha, "--distill: weight of the teacher's soft targets in the loss, 0..1 [0.5]"},
        {"distill-t", OPT_FLOAT, &temp, "--distill: softmax temperature of the soft targets [4]"},
        {"out", OPT_STR, &out, "the pruned model file to write (required)"},
        CLI_NORM_OPTIONS(&nrm),
    };
    int n = 0;
    while (opts[n].name) n++;
    dc_finetune_add_options(opts, n, 64, &ft);
    const char *pos[1];
    int n_pos = 0;
    bool help = false;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) cli_usage(VERB, "MODEL.safetensors (--structured | --unstructured) (--sparsity S | --macs S) [--finetune E] --out M.safetensors", opts);
        return help ? 0 : 2;
    }
    if (n_pos != 1 || !out) {
        fprintf(stderr, "deepc %s: needs one model file and --out (deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    if (structured == unstructured) {
        fprintf(stderr, "deepc %s: give one of --structured and --unstructured\n", VERB);
        return 2;
    }
    if ((sparsity < 0) == !(macs > 0) || (macs > 0 && !structured)) {
        fprintf(stderr, "deepc %s: give --sparsity S in [0, 1) (or, with --structured, --macs S instead)\n", VERB);
        return 2;
    }
    if (multiple != 1 && !structured) {
        fprintf(stderr, "deepc %s: --multiple is for --structured (it rounds the channels each group keeps)\n", VERB);
        return 2;
    }
    if (per_layer && structured) {
        fprintf(stderr, "deepc %s: --per-layer is for --unstructured (structured pruning is per channel group)\n", VERB);
        return 2;
    }
    if ((alpha != -1 || temp != -1) && !distill) {
        fprintf(stderr, "deepc %s: --distill-alpha and --distill-t are for --distill\n", VERB);
        return 2;
    }
    if (alpha != -1 && !(alpha >= 0 && alpha <= 1)) {
        fprintf(stderr, "deepc %s: --distill-alpha %g: expected a weight in [0, 1]\n", VERB, alpha);
        return 2;
    }
    if (temp != -1 && !(temp > 0 && temp <= 1000)) {
        fprintf(stderr, "deepc %s: --distill-t %g: expected a temperature in (0, 1000]\n", VERB, temp);
        return 2;
    }
    if (distill && finetune < 1) {
        fprintf(stderr, "deepc %s: --distill teaches the fine-tuning: give --finetune E as well\n", VERB);
        return 2;
    }
    dc_train_config tc;
    if (!dc_finetune_config(&tc, &ft, finetune, VERB)) return 2;
    if (alpha != -1) tc.distill_alpha = alpha;
    if (temp != -1) tc.distill_temp = temp;
    dc_model *m = NULL;
    int rc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (rc) return rc;
    dc_error err;
    dc_dataset train = {0}, test = {0};
    bool have_data = false;
    if (finetune > 0) {
        if (!dc_finetune_data(&train, &test, &ft, VERB)) {
            dc_model_free(m);
            return 1;
        }
        have_data = true;
    }
    if (dc_check_output(out, &err)) rc = cli_fail(VERB, &err);
    if (distill) {
        tc.teacher = m; // the dense model, read only: dc_prune builds the pruned one beside it
        if (!ft.json && !ft.quiet)
            printf("distillation: %s teaches the fine-tuning (alpha %g, T %g)\n", pos[0], tc.distill_alpha,
                   tc.distill_temp);
    }
    dc_prune_config pc = dc_prune_config_default();
    pc.structured = structured;
    pc.per_layer = per_layer;
    pc.norm = norm;
    pc.multiple = multiple;
    pc.sparsity = sparsity < 0 ? 0 : sparsity;
    pc.macs = macs;
    pc.steps = steps;
    pc.finetune = finetune;
    dc_model *p = NULL;
    if (!rc && dc_prune(&p, m, &pc, have_data ? &train : NULL, have_data && test.n ? &test : NULL, &tc,
                        dc_finetune_on_event, &ft, &err))
        rc = cli_fail(VERB, &err);
    if (!rc && dc_model_save(p, out, &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        const double m0 = (double)dc_model_nonzero_macs(m), m1 = (double)dc_model_nonzero_macs(p);
        const double p0 = (double)dc_model_num_params(m), p1 = (double)dc_model_num_params(p);
        if (ft.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", pos[0]);
            cJSON_AddStringToObject(j, "method", structured ? "structured" : "unstructured");
            cJSON_AddNumberToObject(j, "sparsity", dc_model_weight_sparsity(p));
            cJSON_AddNumberToObject(j, "params_before", p0);
            cJSON_AddNumberToObject(j, "params_after", p1);
            cJSON_AddNumberToObject(j, "macs_before", m0);
            cJSON_AddNumberToObject(j, "macs_after", m1);
            cJSON_AddNumberToObject(j, "finetune_epochs", finetune);
            cJSON_AddStringToObject(j, "out", out);
            if (!cli_json_print(j)) rc = 1;
        } else {
            char table[16384];
            dc_prune_table(table, sizeof table, m, p);
            printf("%s", table);
            printf("pruned %s -> %s (%s): MACs %.0f -> %.0f (%.1f%% removed), weight sparsity %.1f%%\n", pos[0], out,
                   structured ? "channels removed" : "sparse storage", m0, m1, m0 > 0 ? 100 * (1 - m1 / m0) : 0.0,
                   100 * dc_model_weight_sparsity(p));
        }
    }
    dc_model_free(p);
    dc_model_free(m);
    if (have_data) {
        dc_dataset_free(&train);
        dc_dataset_free(&test);
    }
    return rc;
}
