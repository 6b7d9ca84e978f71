// explain.c — `deepc explain MODEL [IMAGE] --method M --out FILE.png`:
// an attribution map for one input (an image file, or a data-set image
// chosen with --data/--index), written as a heatmap over the input (PNG) and
// as raw float32 values (.npy beside it: FILE.png -> FILE.npy), optionally
// with deletion/insertion faithfulness scores.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "core/core.h"

#define VERB "explain"

// Fills x (C,H,W normalised) from an image file or from image `index` of
// the data set's split; desc receives where it came from, *label its label
// (-1 for files).
static int load_input(dc_model *m, const char *image, const char *data, const cli_data_opts *dopt, int threads,
                      const char *split, int index, bool by_index, float *x, int *label, char *desc, size_t cap,
                      int *n_split) {
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    dc_error err;
    *label = -1;
    *n_split = 1;
    if (!by_index) {
        uint8_t *px;
        if (dc_image_load(&px, image, c, h, w, &err)) return cli_fail(VERB, &err);
        dc_model_normalise(m, x, px, (size_t)c * h * w);
        free(px);
        snprintf(desc, cap, "%s", image);
        return 0;
    }
    dc_dataset train, test;
    int rc = cli_data_open(VERB, data, dopt, threads, false, &train, &test);
    if (rc) return rc;
    dc_dataset *ds = cli_pick_split(VERB, &train, &test, split, false);
    *n_split = ds->n;
    if (index < 0 || index >= ds->n) {
        fprintf(stderr, "deepc %s: --index %d is out of range: the %s split of %s has %d images (0..%d)\n", VERB,
                index, split, data, ds->n, ds->n - 1);
        rc = 1;
    } else if (ds->c != c || ds->h != h || ds->w != w) {
        fprintf(stderr, "deepc %s: %s images are %dx%dx%d but the model expects %dx%dx%d\n", VERB, ds->source,
                ds->c, ds->h, ds->w, c, h, w);
        rc = 1;
    } else {
        dc_model_normalise(m, x, ds->pixels + (size_t)index * c * h * w, (size_t)c * h * w);
        *label = ds->unlabelled ? -1 : ds->labels[index];
        snprintf(desc, cap, "%s image %d of %s", split, index, data);
    }
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}

// --baseline FILE.npy: (H,W), (C,H,W) or (1,C,H,W); uint8 as 0..255 pixels,
// float as [0,1] pixel intensities; normalised like the model's inputs.
static int load_baseline(const dc_model *m, const char *path, float *b) {
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    dc_error err;
    dc_npy a;
    if (dc_npy_read(&a, path, &err)) return cli_fail(VERB, &err);
    bool ok = (a.rank == 2 && c == 1 && a.shape[0] == h && a.shape[1] == w) ||
              (a.rank == 3 && a.shape[0] == c && a.shape[1] == h && a.shape[2] == w) ||
              (a.rank == 4 && a.shape[0] == 1 && a.shape[1] == c && a.shape[2] == h && a.shape[3] == w);
    if (!ok) {
        fprintf(stderr, "deepc %s: %s: baseline of rank %d does not match the model input %dx%dx%d (expected (%d,%d,%d)%s)\n",
                VERB, path, a.rank, c, h, w, c, h, w, c == 1 ? " or (H,W)" : "");
        dc_npy_free(&a);
        return 1;
    }
    float *mean = malloc(sizeof(float) * (size_t)c), *std = malloc(sizeof(float) * (size_t)c);
    if (!mean || !std) {
        free(mean), free(std), dc_npy_free(&a);
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        return 1;
    }
    dc_model_get_normalisation_channels(m, mean, std);
    const float scale = !strcmp(a.dtype, "u1") ? 1.0f / 255.0f : 1.0f;
    for (size_t i = 0; i < a.n; i++) {
        if (!isfinite(a.data[i])) {
            fprintf(stderr, "deepc %s: %s: non-finite value at %zu\n", VERB, path, i);
            free(mean), free(std), dc_npy_free(&a);
            return 1;
        }
        const size_t k = i / ((size_t)h * w); // the channel
        b[i] = (a.data[i] * scale - mean[k]) / std[k];
    }
    free(mean), free(std);
    dc_npy_free(&a);
    return 0;
}

// Library messages start "explain: ..." for library callers; the CLI's own
// prefix already says so.
static int fail(const dc_error *err) {
    const char *msg = err->msg;
    if (!strncmp(msg, "explain: ", 9)) msg += 9;
    fprintf(stderr, "deepc %s: %s\n", VERB, msg);
    return 1;
}

int cmd_explain(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test", *method = "saliency", *baseline = "black";
    const char *out = NULL, *layer = NULL, *fill = "0", *segments = "grid:4", *output = NULL;
    const char *tab_path = NULL, *tab_id = NULL; // multimodal models
    int index = -1, target = -1, steps = 64, window = 4, stride = 2, samples = 1000, scale = 8;
    int threads = 0, batch = 256, fsteps = 28, top = 5;
    float kernel_width = 0.25f;
    uint64_t seed = 0;
    bool faith = false, json = false;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"method", OPT_STR, &method, "saliency, gradxinput, ig, gradcam, occlusion, lime, kernelshap [saliency]"},
        {"out", OPT_STR, &out, "heatmap PNG to write; the raw values go to the same name with .npy [METHOD.png]"},
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        {"split", OPT_STR, &split, "test or train, for --index [test]"},
        {"index", OPT_INT, &index, "explain this image of the data set instead of an image file"},
        {"tabular", OPT_STR, &tab_path, "multimodal models: CSV of rows (header of column names): the split's rows with --index, one row with an image file"},
        {"tabular-id", OPT_STR, &tab_id, "the --tabular column that numbers each row's sample (else rows are in sample order)"},
        {"target", OPT_INT, &target, "class to explain [the predicted class]"},
        {"baseline", OPT_STR, &baseline,
         "ig start / lime,kernelshap off value: black, blur, or FILE.npy ((H,W) or (C,H,W); uint8 0..255 or float 0..1 pixels) [black]"},
        {"steps", OPT_INT, &steps, "ig: points on the path, all in one batch [64]"},
        {"layer", OPT_STR, &layer, "gradcam: layer name [the last conv2d]"},
        {"window", OPT_INT, &window, "occlusion: patch side in pixels [4]"},
        {"stride", OPT_INT, &stride, "occlusion: patch step [2]"},
        {"fill", OPT_STR, &fill, "occlusion: patch value in normalised units, or black [0]"},
        {"segments", OPT_STR, &segments, "lime, kernelshap: superpixels grid:K (KxK cells) or slic:N [grid:4]"},
        {"samples", OPT_INT, &samples, "lime: perturbed samples; kernelshap: coalitions [1000]"},
        {"kernel-width", OPT_FLOAT, &kernel_width, "lime: kernel width on cosine distance [0.25]"},
        {"explains", OPT_STR, &output, "occlusion, lime, kernelshap explain the prob or the logit [prob]"},
        {"seed", OPT_U64, &seed, "seed of lime/kernelshap draws [0]"},
        {"faithfulness", OPT_FLAG, &faith, "also compute deletion and insertion scores (AUC of the target probability)"},
        {"faith-steps", OPT_INT, &fsteps, "faithfulness: pixel steps per curve [28]"},
        {"upscale", OPT_INT, &scale, "heatmap PNG upscaling factor [8]"},
        {"top-features", OPT_INT, &top, "lime, kernelshap: superpixels to list [5]"},
        {"batch", OPT_INT, &batch, "model inputs per forward/backward batch [256]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        CLI_NORM_OPTIONS(&nrm),
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[2];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 2, &n_pos, &help, VERB)) {
        if (help) {
            cli_usage(VERB, "MODEL.safetensors (IMAGE | --index N [--data SPEC]) [options]", opts);
            return 0;
        }
        return 2;
    }
    const bool by_index = cli_find(opts, "index")->seen;
    if (n_pos < 1 || (n_pos == 2) == by_index) {
        fprintf(stderr, "deepc %s: expected a model file and either an image file or --index N (see deepc %s --help)\n",
                VERB, VERB);
        return 2;
    }
    dc_error err;
    dc_explain_config cfg = dc_explain_config_default();
    if (dc_explain_method_parse(&cfg.method, method, &err)) {
        fprintf(stderr, "deepc %s: --method: %s\n", VERB, err.msg);
        return 2;
    }
    if (!cli_split_ok(VERB, split)) return 2;
    // value ranges the library does not see (--steps, --window, --samples, ...
    // are checked by dc_explain with messages naming them)
    const struct { const char *name; int v, lo, hi; } ranges[] = {
        {"upscale", scale, 1, 64}, {"threads", threads, 0, 1024}, {"batch", batch, 1, 1 << 16},
        {"faith-steps", fsteps, 1, 100000}, {"top-features", top, 0, 1 << 20},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (ranges[i].v < ranges[i].lo || ranges[i].v > ranges[i].hi) {
            fprintf(stderr, "deepc %s: --%s %d must be in [%d, %d]\n", VERB, ranges[i].name, ranges[i].v,
                    ranges[i].lo, ranges[i].hi);
            return 2;
        }
    if (!(kernel_width > 0)) {
        fprintf(stderr, "deepc %s: --kernel-width must be > 0\n", VERB);
        return 2;
    }
    if (output && strcmp(output, "prob") && strcmp(output, "logit")) {
        fprintf(stderr, "deepc %s: --explains '%s': expected prob or logit\n", VERB, output);
        return 2;
    }
    cfg.output = output && !strcmp(output, "logit") ? DC_EXPLAIN_OUT_LOGIT : DC_EXPLAIN_OUT_PROB;
    cfg.target = target;
    cfg.steps = steps;
    cfg.layer = layer;
    cfg.window = window;
    cfg.stride = stride;
    cfg.segments = segments;
    cfg.samples = samples;
    cfg.kernel_width = kernel_width;
    cfg.seed = seed;
    if (!strcmp(fill, "black")) {
        cfg.fill_black = true;
    } else {
        char *end;
        cfg.fill = strtof(fill, &end);
        if (end == fill || *end || !isfinite(cfg.fill)) {
            fprintf(stderr, "deepc %s: --fill '%s': expected a number (normalised units) or black\n", VERB, fill);
            return 2;
        }
    }
    // output names: X.png and X.npy
    char png_path[4096], npy_path[4104];
    if (!out) snprintf(png_path, sizeof png_path, "%s.png", method);
    else snprintf(png_path, sizeof png_path, "%s", out);
    size_t pl = strlen(png_path);
    if (pl > 4 && !strcmp(png_path + pl - 4, ".png")) snprintf(npy_path, sizeof npy_path, "%.*s.npy", (int)(pl - 4), png_path);
    else snprintf(npy_path, sizeof npy_path, "%s.npy", png_path);

    dc_model *m;
    int lrc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (lrc) return lrc;
    int c, h, w;
    dc_model_input_shape(m, &c, &h, &w);
    const size_t D = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * D), *base = malloc(sizeof(float) * D);
    int rc = 0, label = -1;
    char desc[4200];
    dc_explainer *ex = NULL;
    dc_tabular tab = {0};
    float *trow = NULL;
    dc_explanation e = {0};
    dc_faithfulness f = {0};
    if (!x || !base) {
        fprintf(stderr, "deepc %s: out of memory\n", VERB);
        rc = 1;
        goto done;
    }
    int n_split = 1;
    if ((rc = load_input(m, n_pos == 2 ? pos[1] : NULL, data, &dopt, threads, split, index, by_index, x, &label, desc,
                         sizeof desc, &n_split)))
        goto done;
    // multimodal models: the sample's row, standardised as in training
    const int F = dc_model_tabular_features(m);
    if (F && !tab_path) {
        fprintf(stderr, "deepc %s: %s has a tabular input of %d columns: give the sample's row (--tabular FILE: the "
                "split's rows with --index, one row with an image file)\n", VERB, pos[0], F);
        rc = 2;
        goto done;
    }
    if (!F && tab_path) {
        fprintf(stderr, "deepc %s: --tabular %s: %s has no tabular input\n", VERB, tab_path, pos[0]);
        rc = 2;
        goto done;
    }
    if (F) {
        if (dc_tabular_read_csv(&tab, tab_path, tab_id, n_split, &err)) {
            rc = fail(&err);
            goto done;
        }
        if (tab.f != F) {
            fprintf(stderr, "deepc %s: --tabular %s: %d columns, the model's tabular input takes %d\n", VERB, tab_path,
                    tab.f, F);
            rc = 2;
            goto done;
        }
        if (!(trow = malloc(sizeof(float) * (size_t)F))) {
            fprintf(stderr, "deepc %s: out of memory\n", VERB);
            rc = 1;
            goto done;
        }
        memcpy(trow, tab.x + (size_t)(by_index ? index : 0) * F, sizeof(float) * (size_t)F);
        dc_model_normalise_tabular(m, trow, 1);
        cfg.tabular = trow;
    }
    if (!strcmp(baseline, "black")) {
        cfg.baseline = DC_EXPLAIN_BASE_BLACK;
    } else if (!strcmp(baseline, "blur")) {
        cfg.baseline = DC_EXPLAIN_BASE_BLUR;
    } else {
        if ((rc = load_baseline(m, baseline, base))) goto done;
        cfg.baseline = DC_EXPLAIN_BASE_CUSTOM;
        cfg.baseline_x = base;
    }
    if (dc_explainer_new(&ex, m, batch, threads, &err)) {
        rc = fail(&err);
        goto done;
    }
    double t0 = dc_now_seconds();
    if (dc_explain(ex, x, &cfg, &e, &err)) {
        rc = fail(&err);
        goto done;
    }
    double secs = dc_now_seconds() - t0;
    if (faith) {
        // deletion/insertion use the same baseline as the method (black by default)
        if (dc_explain_baseline(ex, x, &cfg, base, &err) ||
            dc_explain_faithfulness(ex, x, &e, base, fsteps, &f, &err)) {
            rc = fail(&err);
            goto done;
        }
    }
    if (dc_explanation_write_png(&e, m, x, scale, png_path, &err) || dc_explanation_write_npy(&e, npy_path, &err)) {
        rc = fail(&err);
        goto done;
    }
    // features ordered by |value| for LIME/SHAP
    int *order = NULL;
    if (e.n_features > 0 && (order = malloc(sizeof(int) * (size_t)e.n_features))) {
        for (int j = 0; j < e.n_features; j++) order[j] = j;
        for (int a = 0; a < e.n_features && a < top; a++)
            for (int b = a + 1; b < e.n_features; b++)
                if (fabsf(e.feature_attr[order[b]]) > fabsf(e.feature_attr[order[a]])) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
    }
    const int ntop = e.n_features < top ? e.n_features : top;
    const bool grad_method = cfg.method <= DC_EXPLAIN_GRADCAM;
    const char *outname = grad_method ? "logit" : cfg.output == DC_EXPLAIN_OUT_LOGIT ? "logit" : "prob";
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "input", desc);
        cli_json_add(j, "label", label, 0);
        cJSON_AddStringToObject(j, "method", method);
        cJSON_AddNumberToObject(j, "target", e.target);
        cJSON_AddStringToObject(j, "target_name", dc_model_class_name(m, e.target));
        cJSON_AddNumberToObject(j, "class", e.predicted);
        cJSON_AddStringToObject(j, "name", dc_model_class_name(m, e.predicted));
        cJSON_AddNumberToObject(j, "probability", e.prob);
        cJSON_AddStringToObject(j, "explains", outname);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddNumberToObject(j, "evaluations", e.evaluations);
        cJSON_AddStringToObject(j, "png", png_path);
        cJSON_AddStringToObject(j, "npy", npy_path);
        cJSON *sh = cJSON_AddArrayToObject(j, "shape");
        if (e.method == DC_EXPLAIN_GRADXINPUT || e.method == DC_EXPLAIN_IG) cJSON_AddItemToArray(sh, cJSON_CreateNumber(e.c));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(e.h));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(e.w));
        if (e.method == DC_EXPLAIN_IG || e.method == DC_EXPLAIN_KERNELSHAP) {
            cli_json_add(j, "attr_sum", e.attr_sum, -INFINITY);
            cli_json_add(j, "f_input", e.f_input, -INFINITY);
            cli_json_add(j, "f_baseline", e.f_baseline, -INFINITY);
        }
        if (e.method == DC_EXPLAIN_GRADCAM) cJSON_AddStringToObject(j, "layer", e.layer);
        if (e.method == DC_EXPLAIN_LIME) {
            cli_json_add(j, "intercept", e.intercept, -INFINITY);
            cli_json_add(j, "r2", e.score, -INFINITY);
        }
        if (e.n_features) {
            cJSON_AddNumberToObject(j, "n_features", e.n_features);
            cJSON *tf = cJSON_AddArrayToObject(j, "top_features");
            for (int a = 0; order && a < ntop; a++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "segment", order[a]);
                cli_json_add(o, "value", e.feature_attr[order[a]], -INFINITY);
                cJSON_AddItemToArray(tf, o);
            }
        }
        if (e.tab_f) { // the tabular row's attributions, by column
            cJSON *ta = cJSON_AddArrayToObject(j, "tabular");
            for (int k = 0; k < e.tab_f; k++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "column", tab.columns[k]);
                cli_json_add(o, "value", e.tab_attr[k], -INFINITY);
                cJSON_AddItemToArray(ta, o);
            }
        }
        if (faith) {
            cJSON *fo = cJSON_AddObjectToObject(j, "faithfulness");
            cJSON_AddNumberToObject(fo, "steps", f.steps);
            cli_json_add(fo, "deletion_auc", f.deletion_auc, -INFINITY);
            cli_json_add(fo, "insertion_auc", f.insertion_auc, -INFINITY);
            cJSON_AddItemToObject(fo, "deletion", cJSON_CreateFloatArray(f.deletion, f.steps + 1));
            cJSON_AddItemToObject(fo, "insertion", cJSON_CreateFloatArray(f.insertion, f.steps + 1));
        }
        if (!cli_json_print(j)) rc = 1;
    } else {
        printf("%s: %s of class %d (%s) for %s", png_path, method, e.target, dc_model_class_name(m, e.target), desc);
        if (label >= 0) printf(" (label %d, %s)", label, dc_model_class_name(m, label));
        printf("\n  predicted %d (%s); p(target) = %.4f; the map explains the target %s\n", e.predicted,
               dc_model_class_name(m, e.predicted), e.prob, outname);
        if (e.method == DC_EXPLAIN_IG || e.method == DC_EXPLAIN_KERNELSHAP)
            printf("  completeness: attributions sum to %.6g, f(input) - f(baseline) = %.6g - %.6g = %.6g\n", e.attr_sum,
                   e.f_input, e.f_baseline, e.f_input - e.f_baseline);
        if (e.method == DC_EXPLAIN_GRADCAM) printf("  layer %s\n", e.layer);
        if (e.method == DC_EXPLAIN_LIME) printf("  fit: intercept %.6g, weighted R^2 %.4f\n", e.intercept, e.score);
        if (e.n_features) {
            printf("  top superpixels of %d (%s):", e.n_features, segments);
            for (int a = 0; order && a < ntop; a++) printf(" #%d %+.4g", order[a], e.feature_attr[order[a]]);
            printf("\n");
        }
        if (e.tab_f) {
            printf("  tabular columns:");
            for (int k = 0; k < e.tab_f; k++) printf(" %s %+.4g", tab.columns[k], e.tab_attr[k]);
            printf("\n");
        }
        if (faith)
            printf("  faithfulness (%d steps, %s baseline): deletion AUC %.4f (lower is better), insertion AUC %.4f (higher is better)\n",
                   f.steps, baseline, f.deletion_auc, f.insertion_auc);
        printf("  %d model evaluations in %.2f ms; wrote %s and %s\n", e.evaluations, secs * 1e3, png_path, npy_path);
    }
    free(order);
done:
    dc_tabular_free(&tab);
    free(trow);
    dc_faithfulness_free(&f);
    dc_explanation_free(&e);
    dc_explainer_free(ex);
    free(x);
    free(base);
    dc_model_free(m);
    return rc;
}
