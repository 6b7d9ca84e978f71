// test_audit.c — the fairness audit on small cases worked out by hand (a
// group with no positives for a class, a group of one sample), the strict
// groups-CSV parser on good and bad inputs (each error names file:line),
// the built-in groupings, and reweighing weights.
//
// Tolerance: every figure is a ratio of small integer counts computed in
// double, checked to 1e-12.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "harness.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) <= 1e-12)

static dc_status parse(dc_groups *g, const char *text, int n, dc_error *err) {
    return dc_groups_parse_csv(g, text, strlen(text), "test.csv", n, err);
}

// Eight samples, three classes, three groups (the file lists them out of
// order: groups are numbered by label, a=0 b=1 c=2):
//   group a: samples 0-3, labels 0 0 1 2, predictions 0 1 1 2
//   group b: samples 4-6, labels 0 1 1,   predictions 0 0 1  (no sample of class 2)
//   group c: sample 7,    label 2,        prediction 0       (size one)
// Per group (selection P(pred=c|g); TPR tp/positives; FPR fp/negatives):
//   a: n 4, acc 3/4; sel [1/4 2/4 1/4]; TPR [1/2 1/1 1/1]; FPR [0/2 1/3 0/3]
//   b: n 3, acc 2/3; sel [2/3 1/3 0];   TPR [1/1 1/2 -];   FPR [1/2 0/1 0/3]
//   c: n 1, acc 0;   sel [1 0 0];       TPR [- - 0/1];     FPR [1/1 0/1 -]
// Per class (max - min over defined values; ratio min/max):
//   0: DP diff 1 - 1/4 = .75, ratio .25; TPR diff 1 - .5 = .5; FPR diff 1; EO 1
//   1: DP diff .5 - 0 = .5, ratio 0;     TPR diff .5;          FPR diff 1/3; EO .5
//   2: DP diff .25, ratio 0;             TPR diff 1 - 0 = 1;   FPR diff 0;   EO 1
// Overall: DP diff .75 (class 0), DP ratio 0 (class 1, the first at the min),
// EO 1 (class 0, the first at the max), accuracy 5/8, worst group c at 0,
// accuracy difference .75 - 0.
static void hand_case(void) {
    printf("three groups by hand\n");
    const char *csv = "index,group\n4,b\n5,b\n6,b\n0,a\n1,a\n2,a\n3,a\n7,c\n";
    const int32_t y[8] = {0, 0, 1, 2, 0, 1, 1, 2}, p[8] = {0, 1, 1, 2, 0, 0, 1, 0};
    dc_error err;
    dc_groups g;
    if (parse(&g, csv, 8, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    CHECK(g.n == 8 && g.n_groups == 3 && !strcmp(g.names[0], "a") && !strcmp(g.names[1], "b") &&
              !strcmp(g.names[2], "c"),
          "groups sorted by label");
    CHECK(g.group[0] == 0 && g.group[4] == 1 && g.group[7] == 2, "sample -> group");
    dc_fairness f;
    CHECK(dc_fairness_compute(&f, p, y, &g, 3, NULL, &err) == DC_OK, "%s", err.msg);
    const double N = NAN;
    const double sel[9] = {0.25, 0.5, 0.25, 2.0 / 3, 1.0 / 3, 0, 1, 0, 0};
    const double tpr[9] = {0.5, 1, 1, 1, 0.5, N, N, N, 0};
    const double fpr[9] = {0, 1.0 / 3, 0, 0.5, 0, 0, 1, 0, N};
    const int64_t pos[9] = {2, 1, 1, 1, 2, 0, 0, 0, 1};
    for (int k = 0; k < 9; k++) {
        CHECK(NEAR(f.selection_rate[k], sel[k]), "selection[%d][%d] %g want %g", k / 3, k % 3,
              f.selection_rate[k], sel[k]);
        CHECK(isnan(tpr[k]) ? isnan(f.tpr[k]) : NEAR(f.tpr[k], tpr[k]), "tpr[%d][%d] %g want %g", k / 3, k % 3,
              f.tpr[k], tpr[k]);
        CHECK(isnan(fpr[k]) ? isnan(f.fpr[k]) : NEAR(f.fpr[k], fpr[k]), "fpr[%d][%d] %g want %g", k / 3, k % 3,
              f.fpr[k], fpr[k]);
        CHECK(f.positives[k] == pos[k], "positives[%d]", k);
    }
    CHECK(f.group_n[0] == 4 && f.group_n[1] == 3 && f.group_n[2] == 1, "group sizes");
    CHECK(NEAR(f.group_accuracy[0], 0.75) && NEAR(f.group_accuracy[1], 2.0 / 3) && f.group_accuracy[2] == 0,
          "group accuracy");
    const double dp[3] = {0.75, 0.5, 0.25}, ratio[3] = {0.25, 0, 0}, td[3] = {0.5, 0.5, 1},
                 fd[3] = {1, 1.0 / 3, 0}, eo[3] = {1, 0.5, 1};
    for (int c = 0; c < 3; c++) {
        CHECK(NEAR(f.dp_difference_c[c], dp[c]), "dp diff[%d] %g want %g", c, f.dp_difference_c[c], dp[c]);
        CHECK(NEAR(f.dp_ratio_c[c], ratio[c]), "dp ratio[%d] %g want %g", c, f.dp_ratio_c[c], ratio[c]);
        CHECK(NEAR(f.tpr_difference_c[c], td[c]), "tpr diff[%d] %g want %g", c, f.tpr_difference_c[c], td[c]);
        CHECK(NEAR(f.fpr_difference_c[c], fd[c]), "fpr diff[%d] %g want %g", c, f.fpr_difference_c[c], fd[c]);
        CHECK(NEAR(f.eo_difference_c[c], eo[c]), "eo diff[%d] %g want %g", c, f.eo_difference_c[c], eo[c]);
    }
    CHECK(NEAR(f.dp_difference, 0.75) && f.dp_difference_class == 0, "overall dp diff %g (class %d)",
          f.dp_difference, f.dp_difference_class);
    CHECK(f.dp_ratio == 0 && f.dp_ratio_class == 1, "overall dp ratio %g (class %d)", f.dp_ratio,
          f.dp_ratio_class);
    CHECK(NEAR(f.eo_difference, 1) && f.eo_difference_class == 0, "overall eo %g (class %d)", f.eo_difference,
          f.eo_difference_class);
    CHECK(NEAR(f.accuracy, 5.0 / 8), "accuracy %g", f.accuracy);
    CHECK(f.worst_group == 2 && f.worst_group_accuracy == 0 && NEAR(f.accuracy_difference, 0.75),
          "worst group %d at %g, difference %g", f.worst_group, f.worst_group_accuracy, f.accuracy_difference);
    const unsigned all = DC_FAIR_FLAG_DP_DIFF | DC_FAIR_FLAG_DP_RATIO | DC_FAIR_FLAG_EO_DIFF;
    CHECK(f.flags == all, "overall flags %u", f.flags);
    CHECK(f.flags_c[0] == all && f.flags_c[1] == all && f.flags_c[2] == all, "class flags");
    dc_fairness_free(&f);

    // looser limits: class 2 (DP diff .25, ratio 0, EO 1) keeps only the ratio
    // and EO flags when DP difference may reach .3; nothing passes EO > 1
    dc_fairness_thresholds thr = {.dp_difference = 0.3, .eo_difference = 1.0, .dp_ratio = 0.0};
    CHECK(dc_fairness_compute(&f, p, y, &g, 3, &thr, &err) == DC_OK, "%s", err.msg);
    CHECK(f.flags_c[2] == 0, "class 2 within the loose limits: %u", f.flags_c[2]);
    CHECK(f.flags_c[0] == DC_FAIR_FLAG_DP_DIFF && f.flags == DC_FAIR_FLAG_DP_DIFF, "only DP diff of class 0: %u",
          f.flags_c[0]);
    dc_fairness_free(&f);
    // bad predictions are refused
    const int32_t pbad[8] = {0, 1, 1, 2, 0, 0, 1, 3};
    CHECK(dc_fairness_compute(&f, pbad, y, &g, 3, NULL, &err) == DC_ERR_ARG && strstr(err.msg, "sample 7"),
          "prediction out of range: %s", err.msg);
    dc_groups_free(&g);
}

// Two groups with identical outcomes: every difference 0, ratios 1, no flag.
// A class nobody has or predicts (class 2): TPR undefined in both groups, so
// its TPR difference is NaN (null) and its EO difference is the FPR one (0);
// its selection rates are all 0, ratio 1 by convention (parity).
// Binary one-vs-rest is symmetric: DP difference of class 0 == of class 1.
static void balanced_case(void) {
    printf("balanced groups, a class never seen\n");
    const char *csv = "0,x\n1,x\n2,x\n3,y\n4,y\n5,y"; // no final newline
    const int32_t y[6] = {0, 1, 1, 0, 1, 1}, p[6] = {0, 1, 0, 0, 1, 0};
    dc_error err;
    dc_groups g;
    if (parse(&g, csv, 6, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    dc_fairness f;
    CHECK(dc_fairness_compute(&f, p, y, &g, 3, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(f.dp_difference == 0 && f.dp_ratio == 1 && f.eo_difference == 0 && f.flags == 0,
          "no disparity: dp %g ratio %g eo %g flags %u", f.dp_difference, f.dp_ratio, f.eo_difference, f.flags);
    CHECK(isnan(f.tpr_difference_c[2]) && f.eo_difference_c[2] == 0 && f.dp_ratio_c[2] == 1 &&
              f.eo_basis_c[2] == DC_FAIR_EO_FPR && f.eo_basis_c[0] == (DC_FAIR_EO_TPR | DC_FAIR_EO_FPR),
          "unseen class: tpr diff %g eo %g (basis %u) ratio %g", f.tpr_difference_c[2], f.eo_difference_c[2],
          f.eo_basis_c[2], f.dp_ratio_c[2]);
    dc_fairness_free(&f);
    // binary: group x predicts 1 for 1/3, group y for 3/3
    const int32_t p2[6] = {0, 1, 0, 1, 1, 1};
    CHECK(dc_fairness_compute(&f, p2, y, &g, 2, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(NEAR(f.dp_difference_c[0], 2.0 / 3) && NEAR(f.dp_difference_c[1], 2.0 / 3), "binary symmetry");
    // class 1: sel x 1/3, y 1 -> ratio 1/3; class 0: sel x 2/3, y 0 -> ratio 0
    CHECK(NEAR(f.dp_ratio_c[1], 1.0 / 3) && f.dp_ratio_c[0] == 0, "binary ratios %g %g", f.dp_ratio_c[0],
          f.dp_ratio_c[1]);
    // class 1 TPR: x 1/2, y 2/2 -> .5; FPR: x 0/1, y 1/1 -> 1; EO 1
    CHECK(NEAR(f.tpr_difference_c[1], 0.5) && NEAR(f.fpr_difference_c[1], 1) && NEAR(f.eo_difference, 1),
          "binary EO");
    dc_fairness_free(&f);
    // group y has no sample of class 0: its TPR for class 0 is undefined,
    // so the class-0 TPR difference rests on group x alone: not measurable
    // (NaN, "-" and null), not 0 as Fairlearn's zero-filled rate would
    // make it; the EO difference is then the FPR difference alone
    const int32_t y3[6] = {0, 1, 1, 1, 1, 1}, p3[6] = {0, 1, 0, 0, 1, 1};
    CHECK(dc_fairness_compute(&f, p3, y3, &g, 2, NULL, &err) == DC_OK, "%s", err.msg);
    CHECK(isnan(f.tpr[1 * 2 + 0]) && isnan(f.tpr_difference_c[0]), "class 0 TPR difference not measurable: %g",
          f.tpr_difference_c[0]);
    CHECK(NEAR(f.fpr_difference_c[0], 1.0 / 6) && NEAR(f.eo_difference_c[0], 1.0 / 6) && // FPR 1/2 vs 1/3
              f.eo_basis_c[0] == DC_FAIR_EO_FPR,
          "class 0 EO = FPR difference alone: fpr %g eo %g basis %u", f.fpr_difference_c[0], f.eo_difference_c[0],
          f.eo_basis_c[0]);
    dc_fairness_free(&f);
    dc_groups_free(&g);
}

// Expects parsing `text` for n samples to fail with DC_ERR_FORMAT and a
// message containing each needle.
static void bad_csv(const char *what, const char *text, int n, const char *needle1, const char *needle2) {
    dc_error err;
    dc_groups g;
    dc_status st = parse(&g, text, n, &err);
    CHECK(st == DC_ERR_FORMAT, "%s: status %s", what, dc_status_name(st));
    if (st != DC_OK) {
        CHECK(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)), "%s: message \"%s\"", what,
              err.msg);
        CHECK(!strchr(err.msg, '\n'), "%s: one line", what);
        printf("  %-22s -> %s\n", what, err.msg);
    }
    CHECK(g.group == NULL && g.names == NULL, "%s: nothing left allocated", what);
    dc_groups_free(&g);
}

static void csv_parser(void) {
    printf("groups CSV parser\n");
    dc_error err;
    dc_groups g;
    // good: BOM, header, CRLF, spaces around fields, labels with spaces and commas
    const char *ok = "\xEF\xBB\xBFindex,group\r\n 2 , old people\r\n0,young,ish\r\n1, old people \r\n\r\n";
    CHECK(parse(&g, ok, 3, &err) == DC_OK, "%s", err.msg);
    CHECK(g.n_groups == 2 && !strcmp(g.names[0], "old people") && !strcmp(g.names[1], "young,ish") &&
              g.group[0] == 1 && g.group[1] == 0 && g.group[2] == 0,
          "labels trimmed, rest of the line after the first comma");
    dc_groups_free(&g);

    bad_csv("missing rows", "0,a\n1,b\n3,a\n", 5, "test.csv:3:", "no group for sample 2 (and 1 more)");
    bad_csv("unknown index", "0,a\n1,b\n5,a\n", 3, "test.csv:3:", "index 5 is unknown");
    bad_csv("huge index", "0,a\n99999999999999999999999,b\n", 3, "test.csv:2:", "is unknown");
    bad_csv("negative index", "0,a\n-1,b\n", 2, "test.csv:2:", "negative index -1");
    bad_csv("non-numeric index", "0,a\n1x,b\n", 2, "test.csv:2:", "index \"1x\" is not a number");
    bad_csv("bad header", "idx,grp\n0,a\n", 1, "test.csv:1:", "header line must read");
    bad_csv("duplicate index", "0,a\n1,b\n0,c\n", 2, "test.csv:3:", "duplicate index 0: already given on line 1");
    bad_csv("empty group", "0,a\n1,  \n", 2, "test.csv:2:", "empty group for index 1");
    bad_csv("empty index", "0,a\n,b\n", 2, "test.csv:2:", "empty index");
    bad_csv("no comma", "0,a\n1 b\n", 2, "test.csv:2:", "no comma");
    bad_csv("empty file", "", 2, "test.csv: empty file", NULL);
    bad_csv("whitespace-only file", "\n \n", 2, "test.csv: empty file", NULL);
    bad_csv("blank line inside", "0,a\n\n1,b\n", 2, "test.csv:2:", "empty line");
    bad_csv("header only", "index,group\n", 2, "test.csv:1:", "no group for sample 0 (and 1 more)");
    char longer[400];
    snprintf(longer, sizeof longer, "0,%0300d\n", 0);
    bad_csv("label too long", longer, 1, "test.csv:1:", "at most 255");
    const char nul[] = "0,a\n1,b\0c\n";
    CHECK(dc_groups_parse_csv(&g, nul, sizeof nul - 1, "test.csv", 2, &err) == DC_ERR_FORMAT &&
              strstr(err.msg, "test.csv:2:"),
          "NUL byte: %s", err.msg);

    // from a file; a missing file names its path
    char path[512];
    snprintf(path, sizeof path, "%s/groups.csv", dc_test_tmpdir());
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL, "cannot write %s", path);
    if (fp) {
        for (int i = 0; i < 1000; i++) fprintf(fp, "%d,g%d\n", i, i % 7);
        fclose(fp);
        CHECK(dc_groups_read_csv(&g, path, 1000, &err) == DC_OK, "%s", err.msg);
        CHECK(g.n_groups == 7 && g.group[13] == 6 && !strcmp(g.names[6], "g6"), "1000 rows, 7 groups");
        dc_groups_free(&g);
        CHECK(dc_groups_read_csv(&g, path, 999, &err) == DC_ERR_FORMAT && strstr(err.msg, "groups.csv:1000:") &&
                  strstr(err.msg, "index 999 is unknown"),
              "file for another split: %s", err.msg);
    }
    // many distinct labels (the hash table grows)
    size_t cap = 20000 * 16;
    char *many = malloc(cap), *q = many;
    for (int i = 0; i < 20000; i++) q += snprintf(q, cap - (size_t)(q - many), "%d,%d\n", 19999 - i, i % 5000);
    CHECK(dc_groups_parse_csv(&g, many, (size_t)(q - many), "many.csv", 20000, &err) == DC_OK, "%s", err.msg);
    CHECK(g.n_groups == 5000 && !strcmp(g.names[g.group[19999]], "0") && !strcmp(g.names[g.group[0]], "4999"),
          "5000 labels");
    dc_groups_free(&g);
    free(many);
    snprintf(path, sizeof path, "%s/nope.csv", dc_test_tmpdir());
    CHECK(dc_groups_read_csv(&g, path, 3, &err) == DC_ERR_IO && strstr(err.msg, "nope.csv"), "missing file: %s",
          err.msg);
}

static void builtin_groups(void) {
    printf("built-in groupings\n");
    // four 1x1x2 images with pixel sums 10, 200, 50, 50: sorted 10 50 50 200,
    // median 50; bright means sum > 50, so only sample 1 is bright
    uint8_t px[8] = {5, 5, 100, 100, 25, 25, 0, 50};
    int32_t labels[4] = {0, 1, 0, 1};
    dc_dataset ds = {.n = 4, .c = 1, .h = 1, .w = 2, .n_classes = 2, .pixels = px, .labels = labels};
    snprintf(ds.source, sizeof ds.source, "four images");
    dc_error err;
    dc_groups g;
    CHECK(dc_groups_open(&g, "builtin:brightness", &ds, &err) == DC_OK, "%s", err.msg);
    CHECK(g.n_groups == 2 && !strcmp(g.names[0], "bright") && !strcmp(g.names[1], "dark"), "names");
    CHECK(g.group[0] == 1 && g.group[1] == 0 && g.group[2] == 1 && g.group[3] == 1, "bright = above the median");
    CHECK(!strcmp(g.origin, "builtin:brightness"), "origin %s", g.origin);
    dc_groups_free(&g);
    // odd count: sums 10, 200, 50 -> median 50 -> only 200 is bright
    ds.n = 3;
    CHECK(dc_groups_builtin(&g, "brightness", &ds, &err) == DC_OK && g.group[1] == 0 && g.group[2] == 1,
          "odd count");
    dc_groups_free(&g);
    // all equal: nobody is above the median, one group only
    uint8_t flat[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    ds.pixels = flat;
    ds.n = 4;
    CHECK(dc_groups_builtin(&g, "brightness", &ds, &err) == DC_OK && g.n_groups == 1 && !strcmp(g.names[0], "dark"),
          "flat images: one group");
    dc_groups_free(&g);
    CHECK(dc_groups_open(&g, "builtin:parity", &ds, &err) == DC_OK && g.n_groups == 2 && g.group[0] == 0 &&
              g.group[3] == 1 && !strcmp(g.names[1], "odd"),
          "parity");
    dc_groups_free(&g);
    CHECK(dc_groups_open(&g, "builtin:zodiac", &ds, &err) == DC_ERR_ARG && strstr(err.msg, "zodiac") &&
              strstr(err.msg, "brightness"),
          "unknown built-in: %s", err.msg);
}

// Groups a = samples 0-2 with labels 0 0 1, b = samples 3-6 with labels 0 1 1 1.
// N 7; n_a 3, n_b 4; n_0 3, n_1 4; n_a0 2, n_a1 1, n_b0 1, n_b1 3.
// w = n_g n_y / (N n_gy): (a,0) 3*3/(7*2) = 9/14, (a,1) 3*4/(7*1) = 12/7,
// (b,0) 4*3/(7*1) = 12/7, (b,1) 4*4/(7*3) = 16/21. Sum 9/7 + 12/7 + 12/7 +
// 16/7 = 7 (mean 1); weighted class shares in a: (9/7)/(9/7 + 12/7) = 3/7 = P(y=0).
static void reweighing(void) {
    printf("reweighing weights\n");
    dc_error err;
    dc_groups g;
    if (parse(&g, "0,a\n1,a\n2,a\n3,b\n4,b\n5,b\n6,b\n", 7, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    const int32_t y[7] = {0, 0, 1, 0, 1, 1, 1};
    float w[7];
    CHECK(dc_reweigh_weights(w, &g, y, 2, &err) == DC_OK, "%s", err.msg);
    const float want[7] = {9.0f / 14, 9.0f / 14, 12.0f / 7, 12.0f / 7, 16.0f / 21, 16.0f / 21, 16.0f / 21};
    dc_check_close("reweighing weights", w, want, 7, 1e-6, 0);
    double sum = 0;
    for (int i = 0; i < 7; i++) sum += w[i];
    CHECK(fabs(sum - 7) < 1e-5, "weights sum to N: %g", sum);
    const int32_t ybad[7] = {0, 0, 1, 0, 1, 2, 1};
    CHECK(dc_reweigh_weights(w, &g, ybad, 2, &err) == DC_ERR_ARG && strstr(err.msg, "sample 5"), "label range: %s",
          err.msg);
    dc_groups_free(&g);
}

int main(void) {
    hand_case();
    balanced_case();
    csv_parser();
    builtin_groups();
    reweighing();
    return dc_test_finish();
}
