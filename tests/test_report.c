// test_report.c — the HTML model report (src/report): base64 against the
// RFC 4648 test vectors, HTML escaping, the chart tick rule, and whole pages
// rendered for a small synthetic model and data set: every section present,
// nothing external referenced, strings from "files" (class names, group
// labels, JSON records) escaped, one PNG data: URI per image, the same bytes
// twice, the figures on the page equal to dc_metrics_compute's, and the
// errors (shape, label, groups, unwritable path) as values.
#define _POSIX_C_SOURCE 200809L // opendir, stat
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "harness.h"
#include "eval/metrics.h"
#include "report/report.h"

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_base64(void) {
    static const struct { const char *in, *out; } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char out[32];
        size_t n = dc_base64_encode(out, (const uint8_t *)v[i].in, strlen(v[i].in));
        CHECK(n == strlen(v[i].out) && !strcmp(out, v[i].out), "base64(\"%s\") = \"%s\", want \"%s\"", v[i].in, out,
              v[i].out);
    }
    // every byte value, through the buffer: length and alphabet
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    dc_sb b = {0};
    dc_sb_base64(&b, all, 256);
    CHECK(!b.oom && b.len == 344, "base64 of 256 bytes has %zu chars, want 344", b.len);
    CHECK(!strncmp(b.s, "AAECAwQFBgcICQoL", 16) && !strcmp(b.s + 340, "/w=="), "base64 of 0..255: %.16s...%s", b.s,
          b.s + 340);
    // a PNG's signature encodes to the prefix every embedded image has
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    char out[16];
    dc_base64_encode(out, sig, 8);
    CHECK(!strncmp(out, "iVBORw0KGgo", 11), "PNG signature in base64: %s", out);
    dc_sb_free(&b);
}

static void test_escape(void) {
    dc_sb b = {0};
    dc_sb_escape(&b, "a<b>&\"c\" 'd'\x01\tok");
    CHECK(!strcmp(b.s, "a&lt;b&gt;&amp;&quot;c&quot; &#39;d&#39;\xEF\xBF\xBD\tok"), "escaped: %s", b.s);
    dc_sb_free(&b);
    dc_sb_escape(&b, "T-shirt/top – ünïcode");
    CHECK(!strcmp(b.s, "T-shirt/top – ünïcode"), "plain text and UTF-8 pass through: %s", b.s);
    dc_sb_free(&b);
    // a long printf goes past the 256-byte fast path
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    dc_sb_printf(&b, "<%s|%d>", big, 42);
    CHECK(b.len == 1004 && b.s[0] == '<' && !strcmp(b.s + 999, "x|42>"), "long printf: %zu chars", b.len);
    dc_sb_free(&b);
}

static void test_ticks(void) {
    double a, s;
    int n = dc_nice_ticks(0, 1, 6, &a, &s);
    CHECK(n == 6 && a == 0 && fabs(s - 0.2) < 1e-12, "[0,1]: %d ticks from %g step %g", n, a, s);
    n = dc_nice_ticks(1.41, 2.26, 6, &a, &s);
    CHECK(n <= 6 && a <= 1.41 && a + (n - 1) * s >= 2.26 && fabs(s - 0.2) < 1e-12, "[1.41,2.26]: %d from %g step %g",
          n, a, s);
    n = dc_nice_ticks(0.009, 0.011, 6, &a, &s);
    CHECK(n <= 6 && a <= 0.009 + 1e-15 && a + (n - 1) * s >= 0.011 - 1e-15 && s == 0.0005, "[0.009,0.011]: %d from %g step %g", n,
          a, s);
    n = dc_nice_ticks(1, 37, 8, &a, &s);
    CHECK(n == 5 && a == 0 && s == 10, "[1,37] (step 5 would need 9 ticks): %d from %g step %g", n, a, s);
    for (int t = 0; t < 200; t++) { // any range: covered, within the tick budget
        const double lo = -50 + t * 0.731, hi = lo + 0.001 * (1 + t * t);
        n = dc_nice_ticks(lo, hi, 5, &a, &s);
        const double tol = 1e-12 * (fabs(lo) + fabs(hi));
        if (!(n >= 2 && n <= 5 && a <= lo + tol && a + (n - 1) * s >= hi - tol)) {
            CHECK(false, "[%g,%g]: %d ticks from %g step %g", lo, hi, n, a, s);
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// Whole pages

enum { N = 120, C = 3, S = 8 };

// Class k images are bright in band k of rows, except every 7th image,
// which shows the next class's band (label noise): a trained model gets
// most right and those wrong.
static void make_data(dc_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    ds->n = N;
    ds->c = 1;
    ds->h = ds->w = S;
    ds->n_classes = C;
    ds->pixels = malloc((size_t)N * S * S);
    ds->labels = malloc(sizeof(int32_t) * N);
    dc_rng r;
    dc_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        ds->labels[i] = i % C;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const int band = y * C / S, shown = i % 7 ? i % C : (i + 1) % C;
                ds->pixels[(size_t)i * S * S + y * S + x] =
                    (uint8_t)(band == shown ? 150 + dc_rng_below(&r, 100) : dc_rng_below(&r, 60));
            }
    }
    snprintf(ds->source, sizeof ds->source, "synthetic <bands> & noise");
}

static const char *hist_json =
    "[{\"epoch\":1,\"train_loss\":1.2,\"train_acc\":0.4,\"test_acc\":0.45,\"seconds\":0.1,\"lr\":0.01},"
    "{\"epoch\":2,\"train_loss\":0.9,\"train_acc\":0.6,\"test_acc\":-1,\"seconds\":0.1,\"lr\":0.005},"
    "{\"epoch\":3,\"train_loss\":0.7,\"train_acc\":0.7,\"test_acc\":0.66,\"seconds\":0.1,\"lr\":0.001}]";

static void test_pages(void) {
    dc_error err;
    dc_dataset ds;
    make_data(&ds);
    dc_model *m = NULL;
    CHECK(!dc_model_builtin(&m, "mlp", 1, S, S, C, &err), "mlp: %s", err.msg);
    if (!m) return;
    dc_rng r;
    dc_rng_seed(&r, 3);
    dc_model_init_params(m, &r);
    dc_model_set_normalisation(m, &ds);
    // a little training so that some predictions are right and some wrong
    dc_dataset tr = ds;
    dc_train_config tc = dc_train_config_default();
    tc.epochs = 2;
    tc.lr = 0.02f;
    tc.batch = 30;
    tc.nthreads = 1;
    CHECK(!dc_train(m, &tr, NULL, &tc, NULL, NULL, &err), "train: %s", err.msg);
    const char *names[C] = {"<script>alert(1)</script>", "Tom & \"Jerry\"", "plain"};
    CHECK(!dc_model_set_class_names(m, names, C, &err), "class names: %s", err.msg);
    CHECK(!dc_model_set_info(m, "history", hist_json, &err), "history: %s", err.msg);
    CHECK(!dc_model_set_info(m, "provenance", "{\"data\":\"<img src=x onerror=1>\",\"n\":3}", &err), "prov: %s",
          err.msg);
    dc_groups g;
    char csv[4096];
    size_t len = (size_t)snprintf(csv, sizeof csv, "index,group\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(csv + len, sizeof csv - len, "%d,%s\n", i, i % 4 == 0 ? "<north>" : "south");
    CHECK(!dc_groups_parse_csv(&g, csv, len, "groups.csv", N, &err), "groups: %s", err.msg);

    dc_report_config rc = dc_report_config_default();
    rc.model_path = "models/<m>.safetensors";
    rc.data_name = "synthetic";
    rc.examples = 6;
    rc.groups = &g;
    rc.nthreads = 1;
    rc.n_bins = 10;
    char *html = NULL, *html2 = NULL;
    size_t n1 = 0, n2 = 0;
    dc_status st = dc_report_render(&html, &n1, m, &ds, &rc, &err);
    CHECK(!st && html && n1 == strlen(html), "render: %s", st ? err.msg : "length");
    if (!html) goto out;
    CHECK(!strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "</html>\n"), "a whole document");
    const char *ids[] = {"summary", "model", "data", "training", "confusion", "metrics", "calibration", "examples",
                         "fairness"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "<section id=\"%s\">", ids[i]);
        CHECK(count_of(html, needle) == 1, "section %s once", ids[i]);
    }
    // nothing external: no scripts, no links, no URLs, no stylesheet imports
    const char *banned[] = {"<script", "http:", "https:", "<link", "@import", "url(", "<iframe", "<object"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        CHECK(!strstr(html, banned[i]), "the page contains '%s'", banned[i]);
    // every src= is an embedded PNG, two per example
    CHECK(count_of(html, "src=\"") == 12 && count_of(html, "src=\"data:image/png;base64,iVBORw0KGgo") == 12,
          "%d src attributes, %d PNG data URIs (want 12)", count_of(html, "src=\""),
          count_of(html, "src=\"data:image/png;base64,iVBORw0KGgo"));
    // escaped strings from "files"
    CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") && strstr(html, "Tom &amp; &quot;Jerry&quot;"),
          "class names escaped");
    CHECK(strstr(html, "&lt;north&gt;") && !strstr(html, "<north>"), "group labels escaped");
    CHECK(strstr(html, "models/&lt;m&gt;.safetensors") && strstr(html, "synthetic &lt;bands&gt; &amp; noise"),
          "paths escaped");
    CHECK(strstr(html, "&lt;img src=x onerror=1&gt;"), "JSON record values escaped");
    // charts: confusion cells, three training curves, reliability bins
    CHECK(count_of(html, "class=\"cm\"") == C * C, "%d confusion cells, want %d", count_of(html, "class=\"cm\""),
          C * C);
    CHECK(count_of(html, "<polyline") == 4, "%d curves (loss, train acc, held-out acc, lr)",
          count_of(html, "<polyline"));
    CHECK(strstr(html, "Reliability diagram (10 bins)") != NULL, "reliability diagram");
    // the held-out curve skips epoch 2's -1: two points on it
    CHECK(count_of(html, "<title>test, epoch") == 2, "held-out points: %d", count_of(html, "<title>test, epoch"));

    // the figures agree with the metrics API over the same predictions
    float *probs = malloc(sizeof(float) * N * C);
    double loss;
    CHECK(!dc_model_predict_dataset(m, &ds, 1000, 1, probs, &loss, &err), "predict: %s", err.msg);
    dc_metrics mt;
    CHECK(!dc_metrics_compute(&mt, probs, ds.labels, N, C, 5, 10, &err), "metrics: %s", err.msg);
    char needle[128];
    snprintf(needle, sizeof needle, "<b>%.2f%%</b><span>accuracy, n=%d", 100 * mt.accuracy, N);
    CHECK(strstr(html, needle) != NULL, "accuracy card '%s'", needle);
    snprintf(needle, sizeof needle, "<b>%.4f</b><span>ECE (10 bins)", mt.ece);
    CHECK(strstr(html, needle) != NULL, "ECE card '%s'", needle);
    snprintf(needle, sizeof needle, "<td>%.4f</td><td>%.4f</td><td>%.4f</td>", mt.macro_precision, mt.macro_recall,
             mt.macro_f1);
    CHECK(strstr(html, needle) != NULL, "macro row '%s'", needle);
    // at most half of the examples are mistakes, unless correct ones run out
    int wrong = 0;
    for (int i = 0; i < N; i++) wrong += dc_argmax_f32(probs + i * C, C) != ds.labels[i];
    const int max_right = 6 - (wrong < 3 ? wrong : 3);
    const int want_right = N - wrong < max_right ? N - wrong : max_right;
    const int want_wrong = 6 - want_right < wrong ? 6 - want_right : wrong;
    CHECK(wrong > 0 && wrong < N - 3, "the model should be partly right: %d of %d wrong", wrong, N);
    CHECK(count_of(html, "<div class=\"ex wrong\">") == want_wrong && count_of(html, "<div class=\"ex right\">") == want_right,
          "%d mistakes and %d correct shown (%d wrong in all)", count_of(html, "<div class=\"ex wrong\">"),
          count_of(html, "<div class=\"ex right\">"), wrong);
    dc_metrics_free(&mt);
    free(probs);

    // the same inputs give the same bytes
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(!st && n2 == n1 && !memcmp(html, html2, n1), "second render differs (%zu vs %zu bytes)", n1, n2);
    free(html2);
    html2 = NULL;

    // no groups, no examples: the sections stay and say so
    rc.groups = NULL;
    rc.examples = 0;
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(!st && html2 && !strstr(html2, "<img") && strstr(html2, "No groups given") &&
              strstr(html2, "No examples requested"),
          "page without groups and examples");
    free(html2);
    html2 = NULL;
    rc.groups = &g;
    rc.examples = 6;

    // errors are values and leave *html NULL
    dc_groups g2;
    CHECK(!dc_groups_parse_csv(&g2, "0,a\n1,b\n", 8, "two.csv", 2, &err), "two groups: %s", err.msg);
    rc.groups = &g2;
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(st == DC_ERR_ARG && !html2 && strstr(err.msg, "two.csv"), "groups of the wrong size: %d %s", st, err.msg);
    dc_groups_free(&g2);
    rc.groups = &g;
    rc.examples = -1;
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(st == DC_ERR_ARG && !html2, "negative examples: %d %s", st, err.msg);
    rc.examples = 6;
    ds.h = 4; // the data no longer fits the model
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(st == DC_ERR_SHAPE && !html2 && strstr(err.msg, "model expects"), "shape: %d %s", st, err.msg);
    ds.h = S;
    ds.labels[5] = C; // a label the model has no class for
    st = dc_report_render(&html2, &n2, m, &ds, &rc, &err);
    CHECK(st != DC_OK && !html2, "bad label: %d %s", st, err.msg);
    ds.labels[5] = 5 % C;

    // dc_report_write: atomically, or a clean failure
    char path[512];
    snprintf(path, sizeof path, "%s/r.html", dc_test_tmpdir());
    size_t bytes = 0;
    rc.examples = 2;
    st = dc_report_write(path, m, &ds, &rc, &bytes, &err);
    struct stat sb;
    CHECK(!st && stat(path, &sb) == 0 && (size_t)sb.st_size == bytes && bytes > 10000, "write: %s, %zu bytes",
          st ? err.msg : "ok", bytes);
    snprintf(path, sizeof path, "%s/no/such/dir/r.html", dc_test_tmpdir());
    st = dc_report_write(path, m, &ds, &rc, &bytes, &err);
    CHECK(st == DC_ERR_IO && strstr(err.msg, "no/such/dir"), "unwritable: %d %s", st, err.msg);
    DIR *d = opendir(dc_test_tmpdir());
    int left = 0;
    for (struct dirent *e; d && (e = readdir(d));) left += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    CHECK(left == 0, "%d temporary files left", left);
out:
    free(html);
    dc_groups_free(&g);
    dc_model_free(m);
    dc_dataset_free(&ds);
}

int main(void) {
    test_base64();
    test_escape();
    test_ticks();
    test_pages();
    return dc_test_finish();
}
