// surrogate.c — `deepc surrogate MODEL --data SPEC --kind tree|linear
// --features pool:4x4 --out tree.json`: a global surrogate of the model
// (a CART tree or a sparse multinomial logistic model over interpretable
// features), trained on the model's predictions over the training images;
// prints its fidelity (agreement with the model) on the test images, its own
// accuracy beside it and, for a tree, the fidelity/depth curve. The library
// side is src/surrogate/.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "core/core.h"
#include "surrogate/surrogate.h"

#define VERB "surrogate"

// The double nearest the decimal the user typed (options are read as floats).
static double as_decimal(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", x);
    return strtod(buf, NULL);
}

static int print_json(const dc_surrogate *s, const char *model, const char *out, double secs) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return 1;
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "kind", s->kind == DC_SURR_TREE ? "tree" : "linear");
    cJSON_AddStringToObject(j, "features", s->feat.spec);
    cJSON_AddNumberToObject(j, "n_features", s->feat.n_features);
    cJSON_AddNumberToObject(j, "n_train", s->n_train);
    cJSON_AddNumberToObject(j, "n_test", s->n_test);
    cJSON_AddNumberToObject(j, "fidelity", s->fidelity);
    cJSON_AddNumberToObject(j, "accuracy", s->accuracy);
    cJSON_AddNumberToObject(j, "train_fidelity", s->train_fidelity);
    cJSON_AddNumberToObject(j, "network_accuracy", s->network_accuracy);
    if (s->kind == DC_SURR_TREE) {
        cJSON_AddStringToObject(j, "criterion", s->tree_cfg.criterion == DC_TREE_ENTROPY ? "entropy" : "gini");
        cJSON_AddNumberToObject(j, "refine", s->tree_cfg.refine);
        cJSON_AddStringToObject(j, "splits", s->tree_cfg.split == DC_SPLIT_OBLIQUE ? "oblique" : "axis");
        if (s->tree_cfg.split == DC_SPLIT_OBLIQUE) {
            const dc_tree_split_stats ss = dc_tree_split_summary(&s->tree);
            cJSON_AddNumberToObject(j, "lambda", s->tree_cfg.lambda);
            cJSON_AddNumberToObject(j, "passes_run", s->tree.passes_run);
            cJSON_AddNumberToObject(j, "oblique_splits", ss.oblique);
            cJSON_AddNumberToObject(j, "axis_splits", ss.axis);
            cJSON_AddNumberToObject(j, "nonzero_mean", ss.nonzero_mean);
            cJSON_AddNumberToObject(j, "nonzero_max", ss.nonzero_max);
        }
        cJSON_AddNumberToObject(j, "depth", s->tree.depth);
        cJSON_AddNumberToObject(j, "leaves", s->tree.n_leaves);
        cJSON_AddNumberToObject(j, "nodes", s->tree.n_nodes);
        cJSON *a = cJSON_AddArrayToObject(j, "curve");
        for (int d = 0; a && d < s->curve_n; d++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "depth", d + 1);
            cJSON_AddNumberToObject(o, "leaves", s->curve_leaves[d]);
            cJSON_AddNumberToObject(o, "fidelity", s->curve_fidelity[d]);
            cJSON_AddNumberToObject(o, "train_fidelity", s->curve_train_fidelity[d]);
            cJSON_AddNumberToObject(o, "accuracy", s->curve_accuracy[d]);
            cJSON_AddItemToArray(a, o);
        }
    } else {
        cJSON_AddNumberToObject(j, "lambda", s->lin.lambda);
        cJSON_AddNumberToObject(j, "nonzero", s->lin.nonzero);
        cJSON_AddNumberToObject(j, "coefficients", (double)s->lin.n_classes * s->lin.n_features);
        cJSON_AddNumberToObject(j, "iterations", s->lin.iters);
    }
    if (out) cJSON_AddStringToObject(j, "out", out);
    else cJSON_AddNullToObject(j, "out");
    cJSON_AddNumberToObject(j, "seconds", secs);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt) return 1;
    printf("%s\n", txt);
    free(txt);
    return 0;
}

static void print_text(const dc_surrogate *s, const char *model, const char *out, double secs) {
    const char *what = s->kind == DC_SURR_TREE ? "decision tree" : "sparse logistic model";
    printf("surrogate %s of %s over %s (%d features), fitted to the model's predictions on %d training images\n",
           what, model, s->feat.spec, s->feat.n_features, s->n_train);
    if (s->kind == DC_SURR_TREE) {
        printf("  %s, depth %d, %d leaves, %d nodes%s\n", s->tree_cfg.criterion == DC_TREE_ENTROPY ? "entropy" : "Gini",
               s->tree.depth, s->tree.n_leaves, s->tree.n_nodes,
               s->tree_cfg.refine ? ", splits refined by tree alternating optimisation" : "");
        if (s->tree_cfg.split == DC_SPLIT_OBLIQUE) {
            const dc_tree_split_stats ss = dc_tree_split_summary(&s->tree);
            printf("  oblique splits (lambda %g): %d oblique, %d axis-aligned; %.2f nonzero weights per oblique split "
                   "(at most %d) of %d features; %d of at most %d TAO passes changed the tree\n",
                   s->tree_cfg.lambda, ss.oblique, ss.axis, ss.nonzero_mean, ss.nonzero_max, s->feat.n_features,
                   s->tree.passes_run, s->tree_cfg.refine);
        }
    } else
        printf("  lambda %g: %d of %d coefficients nonzero, %d iterations\n", s->lin.lambda, s->lin.nonzero,
               s->lin.n_classes * s->lin.n_features, s->lin.iters);
    printf("fidelity %.4f on %d test images (agreement with the model)\n", s->fidelity, s->n_test);
    printf("  surrogate accuracy %.4f (the model's: %.4f); fidelity on its training images %.4f\n", s->accuracy,
           s->network_accuracy, s->train_fidelity);
    if (s->kind == DC_SURR_TREE && s->curve_n > 0) {
        printf("\nfidelity by depth (the tree cut at each depth)\n  %5s %7s %9s %10s %9s\n", "depth", "leaves",
               "fidelity", "train fid.", "accuracy");
        for (int d = 0; d < s->curve_n; d++)
            printf("  %5d %7d %9.4f %10.4f %9.4f\n", d + 1, s->curve_leaves[d], s->curve_fidelity[d],
                   s->curve_train_fidelity[d], s->curve_accuracy[d]);
    }
    if (out) printf("wrote %s", out);
    printf("%s(%.1f s)\n", out ? " " : "", secs);
}

int cmd_surrogate(int argc, char **argv) {
    const char *data = "fashion-mnist", *kind = "tree", *features = "pool:4x4", *out = NULL, *criterion = "gini",
               *split = "axis";
    int max_depth = 6, min_leaf = 1, min_split = 2, max_iter = 500, refine = 0, limit = 0, test_limit = 0, batch = 1000,
        threads = 0;
    float ccp = 0.0f, lambda = 0.001f;
    bool json = false;
    dc_opt opts[] = {
        {"data", OPT_STR, &data, "fashion-mnist, mnist, or a folder of MNIST-format IDX files [fashion-mnist]"},
        {"kind", OPT_STR, &kind, "tree (CART, Gini) or linear (sparse multinomial logistic, L1) [tree]"},
        {"features", OPT_STR, &features,
         "pool:AxB (mean of AxB pixel blocks), grid:K (K x K cells) or slic:N (superpixels of the mean "
         "training image) [pool:4x4]"},
        {"criterion", OPT_STR, &criterion, "tree: split criterion, gini (CART) or entropy [gini]"},
        {"max-depth", OPT_INT, &max_depth, "tree: depth limit, 0 for none [6]"},
        {"min-leaf", OPT_INT, &min_leaf, "tree: training samples in every leaf [1]"},
        {"min-split", OPT_INT, &min_split, "tree: samples a node needs to be split [2]"},
        {"ccp-alpha", OPT_FLOAT, &ccp, "tree: minimal cost-complexity pruning strength (0: none) [0]"},
        {"splits", OPT_STR, &split,
         "tree: axis (x[f] <= t) or oblique (sparse hyperplanes w.x + b <= 0 by TAO, from the CART tree) [axis]"},
        {"refine", OPT_INT, &refine,
         "tree: passes of tree alternating optimisation (TAO) after CART, 0: none [axis 0, oblique 20; "
         "stops early when a pass changes nothing]"},
        {"lambda", OPT_FLOAT, &lambda,
         "linear: L1 penalty on the standardised features [0.001]; oblique tree: of each split's logistic fit [0.03]"},
        {"max-iter", OPT_INT, &max_iter, "linear: FISTA iterations [500]; oblique tree: per split and pass [300]"},
        {"limit", OPT_INT, &limit, "fit on only the first N training images (0: all)"},
        {"test-limit", OPT_INT, &test_limit, "score on only the first N test images (0: all)"},
        {"out", OPT_STR, &out, "write the surrogate as JSON here (atomically)"},
        {"batch", OPT_INT, &batch, "inference batch [1000]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) {
            cli_usage(VERB, "MODEL.safetensors [--kind tree|linear] [--features pool:4x4] [--out tree.json] [options]",
                      opts);
            return 0;
        }
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc %s: expected one model file (see deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    dc_surrogate_config cfg = dc_surrogate_config_default();
    if (!strcmp(kind, "tree")) cfg.kind = DC_SURR_TREE;
    else if (!strcmp(kind, "linear")) cfg.kind = DC_SURR_LINEAR;
    else {
        fprintf(stderr, "deepc %s: --kind '%s': expected tree or linear\n", VERB, kind);
        return 2;
    }
    const struct { const char *name; int v, lo, hi; } ranges[] = {
        {"max-depth", max_depth, 0, 1000},       {"min-leaf", min_leaf, 1, 1 << 30}, {"min-split", min_split, 2, 1 << 30},
        {"max-iter", max_iter, 1, 1000000},      {"limit", limit, 0, 1 << 30},       {"test-limit", test_limit, 0, 1 << 30},
        {"batch", batch, 1, 1 << 16},            {"threads", threads, 0, 1024},  {"refine", refine, 0, 1000},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (ranges[i].v < ranges[i].lo || ranges[i].v > ranges[i].hi) {
            fprintf(stderr, "deepc %s: --%s %d must be in [%d, %d]\n", VERB, ranges[i].name, ranges[i].v,
                    ranges[i].lo, ranges[i].hi);
            return 2;
        }
    if (!(ccp >= 0) || !(lambda >= 0)) {
        fprintf(stderr, "deepc %s: --ccp-alpha and --lambda must be >= 0\n", VERB);
        return 2;
    }
    if (cfg.kind == DC_SURR_LINEAR && (cli_find(opts, "max-depth")->seen || cli_find(opts, "min-leaf")->seen ||
                                       cli_find(opts, "min-split")->seen || cli_find(opts, "ccp-alpha")->seen ||
                                       cli_find(opts, "refine")->seen || cli_find(opts, "criterion")->seen)) {
        fprintf(stderr,
                "deepc %s: --criterion, --max-depth, --min-leaf, --min-split, --ccp-alpha and --refine are for "
                "--kind tree\n",
                VERB);
        return 2;
    }
    if (cfg.kind == DC_SURR_LINEAR && cli_find(opts, "splits")->seen) {
        fprintf(stderr, "deepc %s: --splits is for --kind tree\n", VERB);
        return 2;
    }
    if (!strcmp(split, "axis")) cfg.tree.split = DC_SPLIT_AXIS;
    else if (!strcmp(split, "oblique")) cfg.tree.split = DC_SPLIT_OBLIQUE;
    else {
        fprintf(stderr, "deepc %s: --splits '%s': expected axis or oblique\n", VERB, split);
        return 2;
    }
    if (cfg.kind == DC_SURR_TREE && cfg.tree.split == DC_SPLIT_AXIS &&
        (cli_find(opts, "lambda")->seen || cli_find(opts, "max-iter")->seen)) {
        fprintf(stderr, "deepc %s: --lambda and --max-iter are for --kind linear or --splits oblique\n", VERB);
        return 2;
    }
    if (!strcmp(criterion, "gini")) cfg.tree.criterion = DC_TREE_GINI;
    else if (!strcmp(criterion, "entropy")) cfg.tree.criterion = DC_TREE_ENTROPY;
    else {
        fprintf(stderr, "deepc %s: --criterion '%s': expected gini or entropy\n", VERB, criterion);
        return 2;
    }
    cfg.features = features;
    cfg.tree.max_depth = max_depth;
    cfg.tree.min_leaf = min_leaf;
    cfg.tree.min_split = min_split;
    cfg.tree.ccp_alpha = as_decimal(ccp);
    cfg.tree.refine = refine;
    cfg.linear.lambda = lambda;
    cfg.linear.max_iter = max_iter;
    if (cfg.tree.split == DC_SPLIT_OBLIQUE) {
        if (!cli_find(opts, "refine")->seen) cfg.tree.refine = 20;
        if (cli_find(opts, "lambda")->seen) cfg.tree.lambda = as_decimal(lambda);
        if (cli_find(opts, "max-iter")->seen) cfg.tree.max_iter = max_iter;
    }
    cfg.batch = batch;
    cfg.nthreads = threads;
    dc_error err;
    if (out && dc_check_output(out, &err)) {
        fprintf(stderr, "deepc %s: --out %s\n", VERB, err.msg);
        return 1;
    }
    dc_model *m;
    if (dc_model_load(&m, pos[0], &err)) return cli_fail(VERB, &err);
    dc_dataset train, test;
    if (dc_data_open(&train, &test, data, &err)) {
        dc_model_free(m);
        return cli_fail(VERB, &err);
    }
    if (limit > 0) dc_dataset_truncate(&train, limit);
    if (test_limit > 0) dc_dataset_truncate(&test, test_limit);
    int rc = 0;
    dc_surrogate s;
    const double t0 = dc_now_seconds();
    if (dc_surrogate_build(&s, m, &train, &test, &cfg, &err)) {
        rc = cli_fail(VERB, &err);
        goto done;
    }
    snprintf(s.model_path, sizeof s.model_path, "%s", pos[0]);
    const double secs = dc_now_seconds() - t0;
    if (out && dc_surrogate_write(&s, out, &err)) rc = cli_fail(VERB, &err);
    if (!rc) {
        if (json) rc = print_json(&s, pos[0], out, secs);
        else print_text(&s, pos[0], out, secs);
    }
    dc_surrogate_free(&s);
done:
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}
