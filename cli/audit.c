// audit.c — `deepc audit MODEL --groups FILE|builtin:NAME`: a fairness audit
// of the model's predictions across groups of test samples. Per group: size,
// accuracy, and for each class (one-vs-rest) the selection rate, TPR and FPR;
// per class and overall (worst class): demographic-parity difference and
// ratio and equalized-odds difference, as Fairlearn defines them; worst-group
// accuracy. Figures past the limits are marked FLAG. --json gives everything
// as one object (undefined rates as null). Exit status: 0, or 3 with
// --fail-on-flag when anything is flagged (for CI).
//
// Mitigation: groups for the TRAINING samples in the same format and
// `deepc train ... --reweight groups_train.csv` (Kamiran & Calders
// reweighing); audit before and after.
//
// `deepc audit MODEL --membership`: a membership-inference audit instead
// (src/privacy/membership.h): members drawn from the model's own training
// set, rebuilt from its training record (data, --limit, --val-split and
// its seed, checked against the recorded sample count), non-members from
// the test split; the loss-threshold attack and, with --ref-models R > 0,
// the reference-calibrated one; for a DP model the largest advantage its
// (epsilon, delta) permits beside the measured one.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "core/core.h"
#include "eval/metrics.h"
#include "privacy/membership.h"

// The double nearest the decimal the user typed (the option parser reads
// floats): 0.1f becomes 0.1, not 0.10000000149, in the comparisons and JSON.
static double as_decimal(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", x);
    return strtod(buf, NULL);
}

static cJSON *num_or_null(double x) { return isnan(x) ? cJSON_CreateNull() : cJSON_CreateNumber(x); }

// What an equalized-odds figure rests on: both rates, or one of them alone
// (the other could not be measured), or nothing (null).
static const char *eo_basis_name(unsigned b) {
    return b == (DC_FAIR_EO_TPR | DC_FAIR_EO_FPR) ? "tpr_and_fpr" : b == DC_FAIR_EO_FPR ? "fpr_only"
           : b == DC_FAIR_EO_TPR                 ? "tpr_only"
                                                 : NULL;
}

static void add_basis(cJSON *o, unsigned b) {
    const char *n = eo_basis_name(b);
    if (n) cJSON_AddStringToObject(o, "eo_basis", n);
    else cJSON_AddNullToObject(o, "eo_basis");
}

static void add_row(cJSON *obj, const char *key, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, num_or_null(v[i]));
}

static void add_flag_names(cJSON *obj, const char *key, unsigned flags) {
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    if (flags & DC_FAIR_FLAG_DP_DIFF) cJSON_AddItemToArray(a, cJSON_CreateString("demographic_parity_difference"));
    if (flags & DC_FAIR_FLAG_DP_RATIO) cJSON_AddItemToArray(a, cJSON_CreateString("demographic_parity_ratio"));
    if (flags & DC_FAIR_FLAG_EO_DIFF) cJSON_AddItemToArray(a, cJSON_CreateString("equalized_odds_difference"));
}

static void add_summary(cJSON *obj, const char *key, double v, int cls, const dc_model *m, double limit,
                        bool flag) {
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    cJSON_AddItemToObject(o, "value", num_or_null(v));
    if (cls >= 0) {
        cJSON_AddNumberToObject(o, "class", cls);
        cJSON_AddStringToObject(o, "name", dc_model_class_name(m, cls));
    } else {
        cJSON_AddNullToObject(o, "class");
    }
    cJSON_AddNumberToObject(o, "limit", limit);
    cJSON_AddBoolToObject(o, "flag", flag);
}

static int print_json(const char *model_path, const dc_dataset *ds, const char *split, const dc_model *m,
                      const dc_groups *g, const dc_fairness *f) {
    const int C = f->n_classes, G = f->n_groups;
    cJSON *j = cJSON_CreateObject();
    if (!j) return 1;
    cJSON_AddStringToObject(j, "model", model_path);
    cJSON_AddStringToObject(j, "data", ds->source);
    cJSON_AddStringToObject(j, "split", split);
    cJSON_AddStringToObject(j, "groups_source", g->origin);
    cJSON_AddNumberToObject(j, "n", f->n);
    cJSON_AddNumberToObject(j, "accuracy", f->accuracy);
    cJSON *thr = cJSON_AddObjectToObject(j, "thresholds");
    cJSON_AddNumberToObject(thr, "dp_difference", f->thr.dp_difference);
    cJSON_AddNumberToObject(thr, "eo_difference", f->thr.eo_difference);
    cJSON_AddNumberToObject(thr, "dp_ratio", f->thr.dp_ratio);
    cJSON *cl = cJSON_AddArrayToObject(j, "classes");
    for (int k = 0; k < C; k++) cJSON_AddItemToArray(cl, cJSON_CreateString(dc_model_class_name(m, k)));
    cJSON *ga = cJSON_AddArrayToObject(j, "groups");
    for (int gi = 0; gi < G; gi++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "group", g->names[gi]);
        cJSON_AddNumberToObject(o, "n", (double)f->group_n[gi]);
        cJSON_AddItemToObject(o, "accuracy", num_or_null(f->group_accuracy[gi]));
        add_row(o, "selection_rate", f->selection_rate + (size_t)gi * C, C);
        add_row(o, "tpr", f->tpr + (size_t)gi * C, C);
        add_row(o, "fpr", f->fpr + (size_t)gi * C, C);
        cJSON *pa = cJSON_AddArrayToObject(o, "positives");
        for (int k = 0; k < C; k++)
            cJSON_AddItemToArray(pa, cJSON_CreateNumber((double)f->positives[(size_t)gi * C + k]));
        cJSON_AddItemToArray(ga, o);
    }
    cJSON *pc = cJSON_AddArrayToObject(j, "per_class");
    for (int k = 0; k < C; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "class", k);
        cJSON_AddStringToObject(o, "name", dc_model_class_name(m, k));
        cJSON_AddItemToObject(o, "dp_difference", num_or_null(f->dp_difference_c[k]));
        cJSON_AddItemToObject(o, "dp_ratio", num_or_null(f->dp_ratio_c[k]));
        cJSON_AddItemToObject(o, "tpr_difference", num_or_null(f->tpr_difference_c[k]));
        cJSON_AddItemToObject(o, "fpr_difference", num_or_null(f->fpr_difference_c[k]));
        cJSON_AddItemToObject(o, "eo_difference", num_or_null(f->eo_difference_c[k]));
        add_basis(o, f->eo_basis_c[k]);
        add_flag_names(o, "flags", f->flags_c[k]);
        cJSON_AddItemToArray(pc, o);
    }
    add_summary(j, "demographic_parity_difference", f->dp_difference, f->dp_difference_class, m,
                f->thr.dp_difference, f->flags & DC_FAIR_FLAG_DP_DIFF);
    add_summary(j, "demographic_parity_ratio", f->dp_ratio, f->dp_ratio_class, m, f->thr.dp_ratio,
                f->flags & DC_FAIR_FLAG_DP_RATIO);
    add_summary(j, "equalized_odds_difference", f->eo_difference, f->eo_difference_class, m,
                f->thr.eo_difference, f->flags & DC_FAIR_FLAG_EO_DIFF);
    add_basis(cJSON_GetObjectItemCaseSensitive(j, "equalized_odds_difference"), f->eo_basis);
    cJSON *w = cJSON_AddObjectToObject(j, "worst_group_accuracy");
    cJSON_AddNumberToObject(w, "value", f->worst_group_accuracy);
    cJSON_AddStringToObject(w, "group", g->names[f->worst_group]);
    cJSON_AddNumberToObject(j, "accuracy_difference", f->accuracy_difference);
    add_flag_names(j, "flags", f->flags);
    cJSON_AddBoolToObject(j, "flagged", f->flags != 0);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

// One (G rows, C columns) table of rates; "-" where undefined.
static void print_table(const char *title, const double *v, const dc_groups *g, int C, int width) {
    printf("\n%s\n  %-*s", title, width, "group");
    for (int k = 0; k < C; k++) printf(" %6d", k);
    printf("\n");
    for (int gi = 0; gi < g->n_groups; gi++) {
        printf("  %-*.*s", width, width, g->names[gi]);
        for (int k = 0; k < C; k++) {
            const double x = v[(size_t)gi * C + k];
            if (isnan(x)) printf(" %6s", "-");
            else printf(" %6.3f", x);
        }
        printf("\n");
    }
}

static void print_value(double x, int w) {
    if (isnan(x)) printf(" %*s", w, "-");
    else printf(" %*.3f", w, x);
}

static void print_text(const char *model_path, const dc_dataset *ds, const char *split, const dc_model *m,
                       const dc_groups *g, const dc_fairness *f) {
    const int C = f->n_classes, G = f->n_groups;
    int width = 5; // group column: the longest label, within reason
    for (int gi = 0; gi < G; gi++) {
        int l = (int)strlen(g->names[gi]);
        if (l > width) width = l > 24 ? 24 : l;
    }
    printf("fairness audit of %s on %s (%s, %d samples)\n", model_path, ds->source, split, f->n);
    printf("groups: %d from %s; overall accuracy %.2f%%\n", G, g->origin, 100 * f->accuracy);
    printf("classes:");
    for (int k = 0; k < C; k++) printf(" %d %s%s", k, dc_model_class_name(m, k), k + 1 < C ? "," : "\n");

    printf("\nper group\n  %-*s %8s %9s\n", width, "group", "n", "accuracy");
    for (int gi = 0; gi < G; gi++)
        printf("  %-*.*s %8lld %8.2f%%%s\n", width, width, g->names[gi], (long long)f->group_n[gi],
               100 * f->group_accuracy[gi], gi == f->worst_group && G > 1 ? "   <- worst" : "");
    print_table("selection rate P(pred = class | group)", f->selection_rate, g, C, width);
    print_table("true positive rate P(pred = class | class, group)  (-: no sample of the class in the group)",
                f->tpr, g, C, width);
    print_table("false positive rate P(pred = class | other class, group)  (-: no sample of another class)",
                f->fpr, g, C, width);

    printf("\nper class (one-vs-rest; differences are max - min over groups, ratio is min / max; -: fewer than two\n"
           "groups have the rate; EO diff marked * rests on the FPR difference alone, ^ on the TPR one)\n");
    printf("  %-16s %8s %8s %8s %8s %8s\n", "class", "DP diff", "DP ratio", "TPR diff", "FPR diff", "EO diff");
    for (int k = 0; k < C; k++) {
        char name[24];
        snprintf(name, sizeof name, "%d %s", k, dc_model_class_name(m, k));
        printf("  %-16.16s", name);
        print_value(f->dp_difference_c[k], 8);
        print_value(f->dp_ratio_c[k], 8);
        print_value(f->tpr_difference_c[k], 8);
        print_value(f->fpr_difference_c[k], 8);
        print_value(f->eo_difference_c[k], 8);
        putchar(f->eo_basis_c[k] == DC_FAIR_EO_FPR ? '*' : f->eo_basis_c[k] == DC_FAIR_EO_TPR ? '^' : ' ');
        const unsigned fl = f->flags_c[k];
        if (fl)
            printf("  FLAG%s%s%s", fl & DC_FAIR_FLAG_DP_DIFF ? " dp-diff" : "",
                   fl & DC_FAIR_FLAG_DP_RATIO ? " dp-ratio" : "", fl & DC_FAIR_FLAG_EO_DIFF ? " eo-diff" : "");
        printf("\n");
    }

    printf("\nsummary (worst class)\n");
    struct {
        const char *what, *rule;
        double v, limit;
        int cls;
        unsigned flag;
    } rows[3] = {
        {"demographic parity difference", "<=", f->dp_difference, f->thr.dp_difference, f->dp_difference_class,
         DC_FAIR_FLAG_DP_DIFF},
        {"demographic parity ratio", ">=", f->dp_ratio, f->thr.dp_ratio, f->dp_ratio_class, DC_FAIR_FLAG_DP_RATIO},
        {"equalized odds difference", "<=", f->eo_difference, f->thr.eo_difference, f->eo_difference_class,
         DC_FAIR_FLAG_EO_DIFF},
    };
    int n_flags = 0;
    for (int r = 0; r < 3; r++) {
        char cls[48] = "";
        if (rows[r].cls >= 0) snprintf(cls, sizeof cls, "(%s)", dc_model_class_name(m, rows[r].cls));
        printf("  %-30s", rows[r].what);
        print_value(rows[r].v, 6);
        printf("  %-14.14s limit %s %.2f  %s%s\n", cls, rows[r].rule, rows[r].limit,
               f->flags & rows[r].flag ? "FLAG" : "ok",
               r == 2 && f->eo_basis == DC_FAIR_EO_FPR   ? "  (FPR difference alone: no TPR difference measurable)"
               : r == 2 && f->eo_basis == DC_FAIR_EO_TPR ? "  (TPR difference alone: no FPR difference measurable)"
                                                         : "");
        n_flags += (f->flags & rows[r].flag) != 0;
    }
    printf("  %-30s %5.2f%%  (%s); best - worst %.2f points\n", "worst-group accuracy",
           100 * f->worst_group_accuracy, g->names[f->worst_group], 100 * f->accuracy_difference);
    printf("%d of 3 checks flagged\n", n_flags);
}

// ---------------------------------------------------------------------------
// --membership

static cJSON *attack_json(const dc_mia_attack *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "auc", a->auc);
    cJSON_AddNumberToObject(o, "tpr_at_fpr_0.001", a->tpr_at_01);
    cJSON_AddNumberToObject(o, "tpr_at_fpr_0.01", a->tpr_at_1);
    cJSON_AddNumberToObject(o, "advantage", a->advantage);
    cJSON_AddNumberToObject(o, "advantage_tpr", a->adv_tpr);
    cJSON_AddNumberToObject(o, "advantage_fpr", a->adv_fpr);
    return o;
}

static int membership_json(const char *model_path, const dc_dataset *train, const dc_membership_result *r) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return 1;
    cJSON_AddStringToObject(j, "model", model_path);
    cJSON_AddStringToObject(j, "data", train->source);
    cJSON_AddNumberToObject(j, "train_samples", train->n);
    cJSON_AddNumberToObject(j, "n_members", r->n);
    cJSON_AddNumberToObject(j, "n_nonmembers", r->n);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "member_loss", r->member_loss);
    cJSON_AddNumberToObject(j, "nonmember_loss", r->nonmember_loss);
    cJSON_AddNumberToObject(j, "member_accuracy", r->member_accuracy);
    cJSON_AddNumberToObject(j, "nonmember_accuracy", r->nonmember_accuracy);
    cJSON_AddItemToObject(j, "loss_attack", attack_json(&r->loss));
    if (r->has_calibrated) {
        cJSON *c = attack_json(&r->calibrated);
        cJSON_AddNumberToObject(c, "reference_models", r->n_ref);
        cJSON_AddNumberToObject(c, "reference_size", r->ref_size);
        cJSON_AddNumberToObject(c, "reference_epochs", r->ref_epochs);
        cJSON_AddNumberToObject(c, "reference_accuracy", r->ref_accuracy);
        cJSON_AddNumberToObject(c, "sigma", r->sigma);
        cJSON_AddItemToObject(j, "calibrated_attack", c);
    } else {
        cJSON_AddNullToObject(j, "calibrated_attack");
    }
    const double best = r->has_calibrated && r->calibrated.advantage > r->loss.advantage ? r->calibrated.advantage
                                                                                           : r->loss.advantage;
    cJSON_AddNumberToObject(j, "advantage", best);
    cJSON_AddBoolToObject(j, "dp", r->dp);
    if (r->dp) {
        cJSON_AddItemToObject(j, "epsilon", num_or_null(isfinite(r->epsilon) ? r->epsilon : NAN));
        cJSON_AddNumberToObject(j, "delta", r->delta);
        cJSON *b = cJSON_AddObjectToObject(j, "dp_bound");
        cJSON_AddStringToObject(b, "rule", "TPR <= e^eps FPR + delta and 1 - FPR <= e^eps (1 - TPR) + delta");
        cJSON_AddNumberToObject(b, "advantage", r->bound_advantage);
        cJSON_AddNumberToObject(b, "tpr_at_fpr_0.001", r->bound_tpr_at_01);
        cJSON_AddNumberToObject(b, "tpr_at_fpr_0.01", r->bound_tpr_at_1);
        cJSON_AddBoolToObject(b, "within", best <= r->bound_advantage);
    } else {
        cJSON_AddNullToObject(j, "dp_bound");
    }
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

static void membership_text(const char *model_path, const dc_dataset *train, const dc_membership_result *r) {
    printf("membership-inference audit of %s\n", model_path);
    printf("  %d members from its %d training samples (%s), %d non-members from the test split, seed %llu\n", r->n,
           train->n, train->source, r->n, (unsigned long long)r->seed);
    printf("  the model: loss %.4f on members, %.4f on non-members; accuracy %.2f%% / %.2f%%\n", r->member_loss,
           r->nonmember_loss, 100 * r->member_accuracy, 100 * r->nonmember_accuracy);
    printf("\n  %-34s %7s %12s %11s %10s\n", "attack", "AUC", "TPR@0.1%FPR", "TPR@1%FPR", "advantage");
    printf("  %-34s %7.4f %12.4f %11.4f %10.4f\n", "loss threshold (Yeom et al. 2018)", r->loss.auc, r->loss.tpr_at_01,
           r->loss.tpr_at_1, r->loss.advantage);
    if (r->has_calibrated) {
        char name[64];
        snprintf(name, sizeof name, "calibrated, %d reference models", r->n_ref);
        printf("  %-34s %7.4f %12.4f %11.4f %10.4f\n", name, r->calibrated.auc, r->calibrated.tpr_at_01,
               r->calibrated.tpr_at_1, r->calibrated.advantage);
        printf("  (reference models: %d samples each, %d epochs, %.2f%% test accuracy on average)\n", r->ref_size,
               r->ref_epochs, 100 * r->ref_accuracy);
    }
    if (r->dp) {
        const double best = r->has_calibrated && r->calibrated.advantage > r->loss.advantage
                                ? r->calibrated.advantage
                                : r->loss.advantage;
        printf("\n  DP-SGD model: epsilon %.3f at delta %g\n", r->epsilon, r->delta);
        printf("  %-34s %7s %12.4f %11.4f %10.4f\n", "largest an attack may reach", "", r->bound_tpr_at_01,
               r->bound_tpr_at_1, r->bound_advantage);
        printf("  measured advantage %.4f %s the bound (e^eps - 1 + 2 delta)/(e^eps + 1) = %.4f\n", best,
               best <= r->bound_advantage ? "is within" : "EXCEEDS", r->bound_advantage);
    } else {
        printf("\n  no DP-SGD privacy record: nothing bounds what an attacker may learn\n");
    }
    printf("  (thresholds chosen on the audit set: an optimistic attacker; TPR resolution 1/%d; %.1f s)\n", r->n,
           r->seconds);
}

static void on_ref_event(const dc_train_event *ev, void *user) {
    dc_progress *bar = user;
    if (ev->kind != DC_EVENT_STEP) return;
    char label[48];
    snprintf(label, sizeof label, "reference model, epoch %d/%d", ev->epoch, ev->epochs);
    progress_update(bar, label, ev->step, ev->steps, ev->seconds, NULL);
}

static int membership_main(const char *model_path, const char *data_opt, int samples, int refs, int ref_size,
                           int ref_epochs, uint64_t seed, int batch, int threads, bool json) {
    dc_error err;
    dc_model *m;
    if (dc_model_load(&m, model_path, &err)) return cli_fail("audit", &err);
    dc_train_config tc;
    if (refs > 0 && dc_membership_ref_config(&tc, m, &err)) {
        dc_model_free(m);
        return cli_fail("audit", &err);
    }
    dc_dataset train, test, extra;
    char note[256];
    int rc = 0;
    if (dc_membership_open_data(&train, &test, &extra, m, data_opt, note, sizeof note, &err))
        rc = cli_fail("audit", &err);
    else if (note[0])
        fprintf(stderr, "deepc audit: note: %s\n", note);
    if (!rc) {
        dc_membership_config cfg = dc_membership_config_default();
        cfg.n = samples;
        cfg.n_ref = refs;
        cfg.ref_size = ref_size;
        cfg.ref_epochs = ref_epochs;
        cfg.seed = seed;
        cfg.batch = batch;
        cfg.nthreads = threads;
        dc_progress bar;
        progress_init(&bar, "batches", !json);
        cfg.cb = on_ref_event;
        cfg.user = &bar;
        dc_membership_result r;
        if (dc_membership_audit(&r, m, &train, &test, extra.n ? &extra : NULL, refs > 0 ? &tc : NULL, &cfg, &err)) {
            progress_clear(&bar);
            rc = cli_fail("audit", &err);
        } else {
            progress_clear(&bar);
            if (json) rc = membership_json(model_path, &train, &r);
            else membership_text(model_path, &train, &r);
        }
    }
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    dc_dataset_free(&extra);
    return rc;
}

int cmd_audit(int argc, char **argv) {
    const char *data = "fashion-mnist", *split = "test", *groups = NULL;
    int threads = 0, batch = 1000, limit = 0;
    bool json = false, fail_on_flag = false, membership = false;
    int samples = 5000, refs = 4, ref_size = 0, ref_epochs = 0;
    uint64_t seed = 1;
    dc_fairness_thresholds thr = dc_fairness_thresholds_default();
    float t_dp = (float)thr.dp_difference, t_eo = (float)thr.eo_difference, t_ratio = (float)thr.dp_ratio;
    cli_data_opts dopt = {0};
    cli_norm nrm = {0};
    char data_help[400];
    cli_data_help(data_help, sizeof data_help);
    dc_opt opts[] = {
        {"groups", OPT_STR, &groups,
         "CSV of \"index,group\" lines, one per sample, or builtin:brightness (bright/dark: image mean above "
         "the median) or builtin:parity (even/odd index)"},
        {"data", OPT_STR, &data, data_help},
        CLI_DATA_OPTIONS(&dopt),
        CLI_NORM_OPTIONS(&nrm),
        {"split", OPT_STR, &split, "test or train [test]"},
        {"limit", OPT_INT, &limit, "use only the first N samples (0: all); the CSV must cover exactly these"},
        {"batch", OPT_INT, &batch, "evaluation batch size [1000]"},
        {"threads", OPT_INT, &threads, "threads (0: all cores) [0]"},
        {"threshold-dp", OPT_FLOAT, &t_dp, "flag a demographic-parity difference above this [0.1]"},
        {"threshold-eo", OPT_FLOAT, &t_eo, "flag an equalized-odds difference above this [0.1]"},
        {"min-ratio", OPT_FLOAT, &t_ratio, "flag a demographic-parity ratio below this [0.8]"},
        {"fail-on-flag", OPT_FLAG, &fail_on_flag, "exit with status 3 when anything is flagged"},
        {"membership", OPT_FLAG, &membership,
         "membership-inference audit instead: loss-threshold and reference-calibrated attacks, the DP bound"},
        {"samples", OPT_INT, &samples, "--membership: members and non-members audited, each [5000]"},
        {"ref-models", OPT_INT, &refs, "--membership: reference models for the calibrated attack, 0: none [4]"},
        {"ref-size", OPT_INT, &ref_size, "--membership: training samples per reference model (0: the model's count, capped) [0]"},
        {"ref-epochs", OPT_INT, &ref_epochs, "--membership: epochs per reference model (0: the model's) [0]"},
        {"seed", OPT_U64, &seed, "--membership: seed of the audit sample and the reference models [1]"},
        {"json", OPT_FLAG, &json, "print one JSON object"},
        {NULL, 0, NULL, NULL, false},
    };
    const char *pos[1];
    int n_pos;
    bool help;
    if (!cli_parse(argc, argv, opts, pos, 1, &n_pos, &help, "audit")) {
        if (help) {
            cli_usage("audit", "MODEL.safetensors --groups FILE|builtin:NAME [options]  |  MODEL.safetensors --membership [options]", opts);
            return 0;
        }
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "deepc audit: expected one model file (see deepc audit --help)\n");
        return 2;
    }
    if (membership) {
        static const char *const fair_only[] = {"groups", "split", "limit", "threshold-dp", "threshold-eo",
                                                "min-ratio", "fail-on-flag", NULL};
        for (const char *const *k = fair_only; *k; k++)
            if (cli_find(opts, *k)->seen) {
                fprintf(stderr, "deepc audit: --%s is for the fairness audit, not --membership\n", *k);
                return 2;
            }
        if (samples < 1 || refs < 0 || refs > 64 || ref_size < 0 || ref_epochs < 0 || batch < 1 || threads < 0) {
            fprintf(stderr, "deepc audit: --samples >= 1, --ref-models 0..64, --ref-size, --ref-epochs and --threads "
                            ">= 0, --batch >= 1\n");
            return 2;
        }
        return membership_main(pos[0], cli_find(opts, "data")->seen ? data : NULL, samples, refs, ref_size,
                               ref_epochs, seed, batch, threads, json);
    }
    static const char *const mem_only[] = {"samples", "ref-models", "ref-size", "ref-epochs", "seed", NULL};
    for (const char *const *k = mem_only; *k; k++)
        if (cli_find(opts, *k)->seen) {
            fprintf(stderr, "deepc audit: --%s needs --membership\n", *k);
            return 2;
        }
    if (!groups) {
        fprintf(stderr, "deepc audit: --groups is required: a CSV of \"index,group\" lines or builtin:brightness (or --membership for a membership-inference audit)\n");
        return 2;
    }
    if (!cli_split_ok("audit", split)) return 2;
    if (batch < 1 || threads < 0 || limit < 0) {
        fprintf(stderr, "deepc audit: --batch must be >= 1, --threads and --limit >= 0\n");
        return 2;
    }
    if (t_dp < 0 || t_dp > 1 || t_eo < 0 || t_eo > 1 || t_ratio < 0 || t_ratio > 1) {
        fprintf(stderr, "deepc audit: --threshold-dp, --threshold-eo and --min-ratio must be in [0, 1]\n");
        return 2;
    }
    thr.dp_difference = as_decimal(t_dp);
    thr.eo_difference = as_decimal(t_eo);
    thr.dp_ratio = as_decimal(t_ratio);
    dc_error err;
    dc_model *m;
    int lrc = cli_model_load("audit", pos[0], &nrm, &m);
    if (lrc) return lrc;
    dc_dataset train, test;
    if ((lrc = cli_data_open("audit", data, &dopt, threads, json, &train, &test))) {
        dc_model_free(m);
        return lrc;
    }
    dc_dataset *ds = cli_pick_split("audit", &train, &test, split, json);
    if (ds->unlabelled) {
        fprintf(stderr, "deepc audit: %s has no labels: a fairness audit compares predictions with labels\n", ds->source);
        dc_model_free(m);
        dc_dataset_free(&train);
        dc_dataset_free(&test);
        return 1;
    }
    if (limit > 0) dc_dataset_truncate(ds, limit);
    const int C = dc_model_num_classes(m);
    int rc = 0;
    dc_groups g;
    dc_fairness f;
    memset(&g, 0, sizeof g);
    memset(&f, 0, sizeof f);
    float *probs = NULL;
    int32_t *pred = NULL;
    // the groups first: a bad CSV should fail before minutes of inference
    if (dc_groups_open(&g, groups, ds, &err)) {
        rc = cli_fail("audit", &err);
        goto out;
    }
    probs = malloc(sizeof(float) * (size_t)ds->n * C);
    pred = malloc(sizeof(int32_t) * (size_t)ds->n);
    if (!probs || !pred) {
        fprintf(stderr, "deepc audit: out of memory for %d samples\n", ds->n);
        rc = 1;
        goto out;
    }
    if (dc_model_predict_dataset(m, ds, batch, threads, probs, NULL, &err)) {
        rc = cli_fail("audit", &err);
        goto out;
    }
    dc_argmax_rows(pred, probs, ds->n, C); // lowest index on ties, as eval
    if (dc_fairness_compute(&f, pred, ds->labels, &g, C, &thr, &err)) {
        rc = cli_fail("audit", &err);
        goto out;
    }
    if (json) {
        if (print_json(pos[0], ds, split, m, &g, &f)) {
            fprintf(stderr, "deepc audit: out of memory writing JSON\n");
            rc = 1;
        }
    } else {
        print_text(pos[0], ds, split, m, &g, &f);
    }
    if (!rc && fail_on_flag && f.flags) rc = 3;
out:
    dc_fairness_free(&f);
    dc_groups_free(&g);
    free(probs);
    free(pred);
    dc_model_free(m);
    dc_dataset_free(&train);
    dc_dataset_free(&test);
    return rc;
}
