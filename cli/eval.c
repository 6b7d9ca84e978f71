// eval.c — `deepc eval MODEL --data SPEC`: accuracy, loss and the confusion
// matrix on the test split (or the training split with --split train).
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cmd_eval(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test";
    int threads = 0, batch = 1000, limit = 0;
    bool json = false;
    dc_opt opts[] = {
        {"data", OPT_STR, &data, "fashion-mnist, mnist, or a folder of MNIST-format IDX files [fashion-mnist]"},
        {"split", OPT_STR, &split, "test or train [test]"},
        {"batch", OPT_INT, &batch, "evaluation batch size [1000]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"limit", OPT_INT, &limit, "use only the first N samples (0: all)"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, "eval")) {
        if (help) {
            cli_usage("eval", "MODEL.safetensors [options]", opts);
            return 0;
        }
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc eval: expected one model file (see deepc eval --help)\n");
        return 2;
    }
    if (strcmp(split, "test") && strcmp(split, "train")) {
        fprintf(stderr, "deepc eval: --split '%s': expected test or train\n", split);
        return 2;
    }
    if (batch < 1 || threads < 0 || limit < 0) {
        fprintf(stderr, "deepc eval: --batch must be >= 1, --threads and --limit >= 0\n");
        return 2;
    }
    dc_error err;
    dc_model *m;
    if (dc_model_load(&m, pos[0], &err)) return cli_fail("eval", &err);
    dc_dataset train, test;
    if (dc_data_open(&train, &test, data, &err)) {
        dc_model_free(m);
        return cli_fail("eval", &err);
    }
    dc_dataset *ds = !strcmp(split, "test") ? &test : &train;
    if (limit > 0) dc_dataset_truncate(ds, limit);
    dc_eval_result r;
    int rc = 0;
    if (dc_evaluate(m, ds, batch, threads, &r, &err)) {
        rc = cli_fail("eval", &err);
    } else {
        const int C = r.n_classes;
        if (json) {
            printf("{\"model\":\"%s\",\"data\":\"%s\",\"split\":\"%s\",\"n\":%d,\"accuracy\":%.6f,\"loss\":%.6f,"
                   "\"classes\":[", pos[0], ds->source, split, r.n, r.accuracy, r.loss);
            for (int k = 0; k < C; k++) printf("%s\"%s\"", k ? "," : "", dc_model_class_name(m, k));
            printf("],\"confusion\":[");
            for (int t = 0; t < C; t++) {
                printf("%s[", t ? "," : "");
                for (int p = 0; p < C; p++) printf("%s%lld", p ? "," : "", (long long)r.confusion[t * C + p]);
                printf("]");
            }
            printf("]}\n");
        } else {
            printf("%s on %s (%s, %d samples)\n", pos[0], ds->source, split, r.n);
            printf("accuracy: %.2f%%   loss: %.4f\n\n", 100 * r.accuracy, r.loss);
            printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
            for (int p = 0; p < C; p++) printf(" %6d", p);
            printf("\n");
            for (int t = 0; t < C; t++) {
                printf("%2d %-11.11s", t, dc_model_class_name(m, t));
                for (int p = 0; p < C; p++) printf(" %6lld", (long long)r.confusion[t * C + p]);
                printf("\n");
            }
        }
        dc_eval_result_free(&r);
    }
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}
