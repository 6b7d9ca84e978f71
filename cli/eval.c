// eval.c — `deepc eval MODEL --data SPEC`: accuracy, top-k accuracy, loss,
// the confusion matrix, per-class precision/recall/F1 with macro and weighted
// averages, calibration (ECE with its reliability bins) and the most confused
// class pairs, on the test split (or the training split with --split train).
// --json prints one object with all of it, and the model's training history.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define N_CONFUSED 5

static void add_avg(cJSON *obj, const char *key, double p, double r, double f, int64_t support) {
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    cJSON_AddNumberToObject(o, "precision", p);
    cJSON_AddNumberToObject(o, "recall", r);
    cJSON_AddNumberToObject(o, "f1", f);
    cJSON_AddNumberToObject(o, "support", (double)support);
}

// The JSON object, in the shared vocabulary (README, "JSON output"): the
// top level reports one split (split, n, accuracy, loss, written last); each
// reliability bin has its own count, confidence and accuracy.
static int print_json(const char *model_path, const dc_dataset *ds, const char *split, const dc_model *m,
                      const dc_metrics *mt, const dc_confusion_pair *pairs, int n_pairs) {
    const int C = mt->n_classes;
    cJSON *j = cJSON_CreateObject();
    if (!j) return 1;
    cJSON_AddStringToObject(j, "model", model_path);
    cJSON_AddStringToObject(j, "data", ds->source);
    cJSON_AddStringToObject(j, "split", split);
    cJSON *cl = cJSON_AddArrayToObject(j, "classes");
    for (int k = 0; k < C; k++) cJSON_AddItemToArray(cl, cJSON_CreateString(dc_model_class_name(m, k)));
    cJSON *cm = cJSON_AddArrayToObject(j, "confusion");
    for (int t = 0; t < C; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < C; p++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)mt->confusion[t * C + p]));
        cJSON_AddItemToArray(cm, row);
    }
    cJSON *pc = cJSON_AddArrayToObject(j, "per_class");
    for (int k = 0; k < C; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "class", k);
        cJSON_AddStringToObject(o, "name", dc_model_class_name(m, k));
        cJSON_AddNumberToObject(o, "precision", mt->precision[k]);
        cJSON_AddNumberToObject(o, "recall", mt->recall[k]);
        cJSON_AddNumberToObject(o, "f1", mt->f1[k]);
        cJSON_AddNumberToObject(o, "support", (double)mt->support[k]);
        cJSON_AddNumberToObject(o, "predicted", (double)mt->predicted[k]);
        cJSON_AddItemToArray(pc, o);
    }
    add_avg(j, "macro_avg", mt->macro_precision, mt->macro_recall, mt->macro_f1, mt->n);
    add_avg(j, "weighted_avg", mt->weighted_precision, mt->weighted_recall, mt->weighted_f1, mt->n);
    cJSON *cal = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddNumberToObject(cal, "bins", mt->n_bins);
    cJSON_AddNumberToObject(cal, "ece", mt->ece);
    cJSON_AddNumberToObject(cal, "mce", mt->mce);
    cJSON *rel = cJSON_AddArrayToObject(cal, "reliability");
    for (int b = 0; b < mt->n_bins; b++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "lo", (double)b / mt->n_bins);
        cJSON_AddNumberToObject(o, "hi", (double)(b + 1) / mt->n_bins);
        cJSON_AddNumberToObject(o, "count", (double)mt->bin_count[b]);
        cJSON_AddNumberToObject(o, "confidence", mt->bin_confidence[b]);
        cJSON_AddNumberToObject(o, "accuracy", mt->bin_accuracy[b]);
        cJSON_AddItemToArray(rel, o);
    }
    cJSON_AddNumberToObject(j, "ece", mt->ece);
    cJSON *mc = cJSON_AddArrayToObject(j, "most_confused");
    for (int i = 0; i < n_pairs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "true", pairs[i].true_class);
        cJSON_AddNumberToObject(o, "predicted", pairs[i].pred_class);
        cJSON_AddStringToObject(o, "true_name", dc_model_class_name(m, pairs[i].true_class));
        cJSON_AddStringToObject(o, "predicted_name", dc_model_class_name(m, pairs[i].pred_class));
        cJSON_AddNumberToObject(o, "count", (double)pairs[i].count);
        cJSON_AddItemToArray(mc, o);
    }
    const char *hist = dc_model_info(m, "history");
    cJSON *h = hist ? cJSON_Parse(hist) : NULL;
    if (h) cJSON_AddItemToObject(j, "history", h);
    // the figures of the split last, so that a line-oriented reader taking
    // the last "accuracy" or "n" key of the line gets these
    cJSON_AddNumberToObject(j, "top_k", mt->top_k);
    cJSON_AddNumberToObject(j, "top_k_accuracy", mt->top_k_accuracy);
    cJSON_AddNumberToObject(j, "loss", mt->loss);
    cJSON_AddNumberToObject(j, "n", mt->n);
    cJSON_AddNumberToObject(j, "accuracy", mt->accuracy);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

static void print_text(const char *model_path, const dc_dataset *ds, const char *split, const dc_model *m,
                       const dc_metrics *mt, const dc_confusion_pair *pairs, int n_pairs) {
    const int C = mt->n_classes;
    printf("%s on %s (%s, %d samples)\n", model_path, ds->source, split, mt->n);
    printf("accuracy: %.2f%%   top-%d: %.2f%%   loss: %.4f   ECE: %.4f\n\n", 100 * mt->accuracy, mt->top_k,
           100 * mt->top_k_accuracy, mt->loss, mt->ece);
    printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int p = 0; p < C; p++) printf(" %6d", p);
    printf("\n");
    for (int t = 0; t < C; t++) {
        printf("%2d %-11.11s", t, dc_model_class_name(m, t));
        for (int p = 0; p < C; p++) printf(" %6lld", (long long)mt->confusion[t * C + p]);
        printf("\n");
    }
    printf("\nper class         precision    recall        f1   support\n");
    for (int k = 0; k < C; k++)
        printf("%2d %-14.14s %9.4f %9.4f %9.4f %9lld\n", k, dc_model_class_name(m, k), mt->precision[k],
               mt->recall[k], mt->f1[k], (long long)mt->support[k]);
    printf("   %-14s %9.4f %9.4f %9.4f %9d\n", "macro avg", mt->macro_precision, mt->macro_recall, mt->macro_f1,
           mt->n);
    printf("   %-14s %9.4f %9.4f %9.4f %9d\n", "weighted avg", mt->weighted_precision, mt->weighted_recall,
           mt->weighted_f1, mt->n);
    if (mt->n_present < C)
        printf("   (macro over the %d classes present in the labels or predictions)\n", mt->n_present);
    printf("\ncalibration: ECE %.4f, MCE %.4f (%d equal-width confidence bins; empty bins not shown)\n", mt->ece,
           mt->mce, mt->n_bins);
    printf("  confidence        count  mean conf  accuracy       gap\n");
    for (int b = 0; b < mt->n_bins; b++) {
        if (!mt->bin_count[b]) continue;
        char range[32];
        snprintf(range, sizeof range, "%s%.3f, %.3f]", b ? "(" : "[", (double)b / mt->n_bins,
                 (double)(b + 1) / mt->n_bins);
        printf("  %-16s %6lld %10.4f %9.4f %+9.4f\n", range, (long long)mt->bin_count[b], mt->bin_confidence[b],
               mt->bin_accuracy[b], mt->bin_accuracy[b] - mt->bin_confidence[b]);
    }
    printf("\nmost confused (true -> predicted)\n");
    if (!n_pairs) printf("  none: every prediction is right\n");
    for (int i = 0; i < n_pairs; i++) {
        char pair[96];
        snprintf(pair, sizeof pair, "%s -> %s", dc_model_class_name(m, pairs[i].true_class),
                 dc_model_class_name(m, pairs[i].pred_class));
        const int64_t sup = mt->support[pairs[i].true_class];
        printf("  %-32s %6lld  (%.1f%% of %s)\n", pair, (long long)pairs[i].count,
               sup ? 100.0 * pairs[i].count / sup : 0.0, dc_model_class_name(m, pairs[i].true_class));
    }
}

int cmd_eval(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test", *tab_path = NULL, *tab_id = NULL;
    int threads = 0, batch = 1000, limit = 0, top_k = 5, bins = 15;
    bool json = false;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        CLI_NORM_OPTIONS(&nrm),
        {"split", OPT_STR, &split, "test or train [test]"},
        {"batch", OPT_INT, &batch, "evaluation batch size [1000]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"limit", OPT_INT, &limit, "use only the first N samples (0: all)"},
        {"tabular", OPT_STR, &tab_path, "multimodal models: CSV of the split's rows, one per sample (header of column names)"},
        {"tabular-id", OPT_STR, &tab_id, "the --tabular column that numbers each row's sample (else rows are in sample order)"},
        {"top-k", OPT_INT, &top_k, "also report top-K accuracy [5]"},
        {"bins", OPT_INT, &bins, "equal-width confidence bins for calibration (ECE) [15]"},
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
    if (!cli_split_ok("eval", split)) return 2;
    if (batch < 1 || threads < 0 || limit < 0) {
        fprintf(stderr, "deepc eval: --batch must be >= 1, --threads and --limit >= 0\n");
        return 2;
    }
    if (top_k < 1 || bins < 1 || bins > 1000) {
        fprintf(stderr, "deepc eval: --top-k must be >= 1 and --bins in 1..1000\n");
        return 2;
    }
    dc_error err;
    dc_model *m;
    int lrc = cli_model_load("eval", pos[0], &nrm, &m);
    if (lrc) return lrc;
    dc_dataset train, test;
    if ((lrc = cli_data_open("eval", data, &dopt, threads, json, &train, &test))) {
        dc_model_free(m);
        return lrc;
    }
    dc_dataset *ds = cli_pick_split("eval", &train, &test, split, json);
    if (ds->unlabelled) {
        fprintf(stderr, "deepc eval: %s has no labels: nothing to evaluate against (deepc predict gives the "
                "predictions)\n", ds->source);
        dc_model_free(m);
        dc_dataset_free(&train);
        dc_dataset_free(&test);
        return 1;
    }
    dc_tabular tab = {0};
    if (tab_path && dc_tabular_read_csv(&tab, tab_path, tab_id, ds->n, &err)) {
        dc_model_free(m);
        dc_dataset_free(&train);
        dc_dataset_free(&test);
        return cli_fail("eval", &err);
    }
    if (limit > 0) dc_dataset_truncate(ds, limit), dc_tabular_truncate(&tab, limit);
    const int C = dc_model_num_classes(m);
    int rc = 0;
    double loss = 0;
    dc_metrics mt;
    memset(&mt, 0, sizeof mt);
    float *probs = malloc(sizeof(float) * (size_t)(ds->n > 0 ? ds->n : 1) * C);
    if (!probs) {
        fprintf(stderr, "deepc eval: out of memory for %d x %d probabilities\n", ds->n, C);
        rc = 1;
    } else if (dc_model_predict_dataset_tabular(m, ds, tab_path ? &tab : NULL, batch, threads, probs, &loss, &err) ||
               dc_metrics_compute(&mt, probs, ds->labels, ds->n, C, top_k, bins, &err)) {
        rc = cli_fail("eval", &err);
    } else {
        // the cross-entropy from the logits (as dc_evaluate and training report
        // it) rather than from rounded float probabilities
        mt.loss = loss;
        dc_confusion_pair pairs[N_CONFUSED];
        const int n_pairs = dc_metrics_most_confused(&mt, pairs, N_CONFUSED);
        const char *sp = test.n == 0 ? "all" : split; // a source without splits is all one
        if (json) rc = print_json(pos[0], ds, sp, m, &mt, pairs, n_pairs);
        else print_text(pos[0], ds, sp, m, &mt, pairs, n_pairs);
        if (rc) fprintf(stderr, "deepc eval: out of memory writing JSON\n");
    }
    dc_metrics_free(&mt);
    free(probs);
    dc_tabular_free(&tab);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}
