// report.c — `deepc report MODEL --data SPEC [--groups FILE|builtin:NAME]
// --out report.html`: one self-contained HTML page about a trained model
// (model and data summary, training configuration and curves, confusion
// matrix, per-class metrics, calibration, explained examples, fairness
// audit). The page is built by dc_report_write; this verb loads the inputs,
// checks them in the order that fails fastest (options, model, output
// folder, data, groups) and says where the page went.
#define _POSIX_C_SOURCE 200809L // access, gmtime_r
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "privacy/membership.h"
#include "surrogate/surrogate.h"

#define VERB "report"

// The folder that will hold path must exist and be writable, and path must
// not be a folder: checked before minutes of inference rather than after.
static bool check_out(const char *path) {
    struct stat s;
    if (stat(path, &s) == 0 && S_ISDIR(s.st_mode)) {
        fprintf(stderr, "deepc %s: --out %s is a folder: expected a file name such as %s/report.html\n", VERB, path,
                path);
        return false;
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &s) != 0 || !S_ISDIR(s.st_mode)) {
        fprintf(stderr, "deepc %s: --out %s: folder %s does not exist (create it first)\n", VERB, path, dir);
        return false;
    }
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "deepc %s: --out %s: cannot write into folder %s: %s\n", VERB, path, dir, strerror(errno));
        return false;
    }
    return true;
}

int cmd_report(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test", *groups = NULL, *out = "report.html";
    const char *method = "ig", *title = NULL;
    int examples = 8, limit = 0, top_k = 5, bins = 15, batch = 1000, threads = 0;
    bool no_date = false, membership = false;
    const char *surrogate = NULL;
    int mia_samples = 5000, mia_refs = 4, mia_epochs = 0;
    dc_fairness_thresholds thr = dc_fairness_thresholds_default();
    float t_dp = (float)thr.dp_difference, t_eo = (float)thr.eo_difference, t_ratio = (float)thr.dp_ratio;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        CLI_NORM_OPTIONS(&nrm),
        {"out", OPT_STR, &out, "the HTML page to write (atomically) [report.html]"},
        {"groups", OPT_STR, &groups,
         "fairness audit over these groups: CSV of \"index,group\" lines, one per sample, or builtin:brightness "
         "or builtin:parity [none]"},
        {"examples", OPT_INT, &examples, "explained images in the grid, 0..64 [8]"},
        {"method", OPT_STR, &method, "their attribution: saliency, gradxinput, ig, gradcam, occlusion, lime, "
                                     "kernelshap [ig]"},
        {"split", OPT_STR, &split, "test or train [test]"},
        {"limit", OPT_INT, &limit, "use only the first N samples (0: all); a groups CSV must cover exactly these"},
        {"top-k", OPT_INT, &top_k, "k of the top-k accuracy [5]"},
        {"bins", OPT_INT, &bins, "reliability-diagram bins [15]"},
        {"threshold-dp", OPT_FLOAT, &t_dp, "flag a demographic-parity difference above this [0.1]"},
        {"threshold-eo", OPT_FLOAT, &t_eo, "flag an equalized-odds difference above this [0.1]"},
        {"min-ratio", OPT_FLOAT, &t_ratio, "flag a demographic-parity ratio below this [0.8]"},
        {"title", OPT_STR, &title, "page heading [deepc model report]"},
        {"surrogate", OPT_STR, &surrogate, "draw this surrogate (deepc surrogate --out FILE.json) and measure its fidelity"},
        {"membership", OPT_FLAG, &membership, "add a membership-inference audit (as deepc audit --membership)"},
        {"membership-samples", OPT_INT, &mia_samples, "its members and non-members, each [5000]"},
        {"membership-refs", OPT_INT, &mia_refs, "its reference models (0: the loss attack alone) [4]"},
        {"membership-ref-epochs", OPT_INT, &mia_epochs, "epochs per reference model (0: the model's) [0]"},
        {"no-date", OPT_FLAG, &no_date, "leave the generation time out (the same inputs then give the same bytes)"},
        {"batch", OPT_INT, &batch, "evaluation batch size [1000]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, VERB)) {
        if (help) {
            cli_usage(VERB, "MODEL.safetensors [--data SPEC] [--groups FILE|builtin:NAME] [--out report.html] "
                            "[options]", opts);
            return 0;
        }
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc %s: expected one model file (see deepc %s --help)\n", VERB, VERB);
        return 2;
    }
    dc_error err;
    dc_report_config rc = dc_report_config_default();
    if (dc_explain_method_parse(&rc.method, method, &err)) {
        fprintf(stderr, "deepc %s: --method: %s\n", VERB, err.msg);
        return 2;
    }
    if (!cli_split_ok(VERB, split)) return 2;
    const struct { const char *name; int v, lo, hi; } ranges[] = {
        {"examples", examples, 0, 64}, {"limit", limit, 0, 1 << 30}, {"top-k", top_k, 1, 1 << 20},
        {"bins", bins, 1, 1000},       {"batch", batch, 1, 1 << 16}, {"threads", threads, 0, 1024},
        {"membership-samples", mia_samples, 1, 1 << 30}, {"membership-refs", mia_refs, 0, 64},
        {"membership-ref-epochs", mia_epochs, 0, 100000},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (ranges[i].v < ranges[i].lo || ranges[i].v > ranges[i].hi) {
            fprintf(stderr, "deepc %s: --%s %d must be in [%d, %d]\n", VERB, ranges[i].name, ranges[i].v,
                    ranges[i].lo, ranges[i].hi);
            return 2;
        }
    if (!(t_dp >= 0 && t_dp <= 1 && t_eo >= 0 && t_eo <= 1 && t_ratio >= 0 && t_ratio <= 1)) {
        fprintf(stderr, "deepc %s: --threshold-dp, --threshold-eo and --min-ratio must be in [0, 1]\n", VERB);
        return 2;
    }
    if (!*out) {
        fprintf(stderr, "deepc %s: --out is empty: expected a file name such as report.html\n", VERB);
        return 2;
    }
    rc.thr.dp_difference = t_dp;
    rc.thr.eo_difference = t_eo;
    rc.thr.dp_ratio = t_ratio;
    rc.examples = examples;
    rc.top_k = top_k;
    rc.n_bins = bins;
    rc.batch = batch;
    rc.nthreads = threads;
    rc.title = title;
    rc.model_path = pos[0];
    rc.data_name = data;
    char when[64] = "";
    if (!no_date) {
        time_t now = time(NULL);
        struct tm tm;
        if (gmtime_r(&now, &tm) && strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm)) rc.generated = when;
    }

    dc_model *m;
    int lrc = cli_model_load(VERB, pos[0], &nrm, &m);
    if (lrc) return lrc;
    if (!check_out(out)) {
        dc_model_free(m);
        return 1;
    }
    dc_dataset train, test;
    if ((lrc = cli_data_open(VERB, data, &dopt, threads, false, &train, &test))) {
        dc_model_free(m);
        return lrc;
    }
    dc_dataset *ds = cli_pick_split(VERB, &train, &test, split, false);
    if (ds->unlabelled) {
        fprintf(stderr, "deepc %s: %s has no labels: the report measures predictions against labels\n", VERB, ds->source);
        dc_model_free(m);
        dc_dataset_free(&train);
        dc_dataset_free(&test);
        return 1;
    }
    if (limit > 0) dc_dataset_truncate(ds, limit);
    int rc_exit = 0;
    dc_surrogate sur;
    dc_membership_result mia;
    memset(&sur, 0, sizeof sur);
    if (surrogate) { // the file before inference: a bad one fails at once
        if (dc_surrogate_read(&sur, surrogate, &err)) {
            rc_exit = cli_fail(VERB, &err);
            goto out;
        }
        rc.surrogate = &sur;
    }
    if (membership) {
        dc_dataset mtr, mte, mex;
        char note[256];
        dc_train_config tc;
        dc_membership_config mc = dc_membership_config_default();
        mc.n = mia_samples;
        mc.n_ref = mia_refs;
        mc.ref_epochs = mia_epochs;
        mc.batch = batch;
        mc.nthreads = threads;
        if ((mia_refs > 0 && dc_membership_ref_config(&tc, m, &err)) ||
            dc_membership_open_data(&mtr, &mte, &mex, m, NULL, note, sizeof note, &err)) {
            rc_exit = cli_fail(VERB, &err);
            goto out;
        }
        if (note[0]) fprintf(stderr, "deepc %s: note: %s\n", VERB, note);
        const dc_status ms = dc_membership_audit(&mia, m, &mtr, &mte, mex.n ? &mex : NULL, mia_refs ? &tc : NULL,
                                                 &mc, &err);
        dc_dataset_free(&mtr);
        dc_dataset_free(&mte);
        dc_dataset_free(&mex);
        if (ms) {
            rc_exit = cli_fail(VERB, &err);
            goto out;
        }
        rc.membership = &mia;
    }
    dc_groups g;
    memset(&g, 0, sizeof g);
    if (groups) {
        // the groups before inference: a bad CSV fails at once
        if (dc_groups_open(&g, groups, ds, &err)) {
            rc_exit = cli_fail(VERB, &err);
            goto out;
        }
        rc.groups = &g;
    }
    size_t bytes = 0;
    if (dc_report_write(out, m, ds, &rc, &bytes, &err)) {
        rc_exit = cli_fail(VERB, &err);
        goto out;
    }
    printf("wrote %s (%.1f KiB): %s on %d samples of %s%s%s\n", out, bytes / 1024.0, pos[0], ds->n, split,
           groups ? ", fairness audit over " : "", groups ? g.origin : "");
out:
    dc_surrogate_free(&sur);
    if (groups) dc_groups_free(&g);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc_exit;
}
